"""Calibration of the cluster model to the shipped salmon data.

>>> from clusterdyn.calibration import calibrate
>>> result = calibrate(seed=0)
>>> print(result.summary())
"""

from clusterdyn.calibration.shipped import calibrated_parameters

__all__ = ["calibrate", "calibrated_parameters", "load_spec"]


def __getattr__(name: str):  # lazy: importing the data loaders must not compile the model
    if name == "calibrate":
        from clusterdyn.calibration.fit import calibrate

        return calibrate
    if name == "load_spec":
        from clusterdyn.calibration.spec import load_spec

        return load_spec
    raise AttributeError(name)
