"""clusterdyn: the command-line front end tying the model, calibration, scenarios and figures."""

__version__ = "0.1.0"
