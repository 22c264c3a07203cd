"""Calibration of the cluster model to the shipped salmon data.

>>> from calibration import calibrate
>>> result = calibrate(seed=0)
>>> print(result.summary())
"""

from calibration.shipped import calibrated_parameters

__all__ = ["calibrate", "calibrated_parameters", "load_spec"]


def __getattr__(name: str):  # lazy: importing the data loaders must not compile the model
    if name == "calibrate":
        from calibration.fit import calibrate

        return calibrate
    if name == "load_spec":
        from calibration.spec import load_spec

        return load_spec
    raise AttributeError(name)
