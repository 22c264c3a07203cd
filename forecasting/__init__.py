"""Forecast evaluation: the calibrated model's posterior predictive forecast against naive
baselines, scored from one origin or rolling origins (``clusterdyn forecast``).

>>> from clusterdyn.forecasting import forecast
>>> result = forecast(1995, results="calibration/results/salmon_cluster_until_1995.toml")
>>> print(result.summary())  # doctest: +SKIP

Submodules are imported on first use (the scoring library compiles its kernels on import).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "forecast": "clusterdyn.forecasting.pipeline",
    "rolling_origin": "clusterdyn.forecasting.pipeline",
    "DEFAULT_ORIGINS": "clusterdyn.forecasting.pipeline",
    "ForecastResult": "clusterdyn.forecasting.evaluate",
    "METHODS": "clusterdyn.forecasting.evaluate",
    "fit_baselines": "clusterdyn.forecasting.baselines",
    "BASELINES": "clusterdyn.forecasting.baselines",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'clusterdyn.forecasting' has no attribute {name!r}")
