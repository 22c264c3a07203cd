"""Scores of point and probabilistic forecasts against what happened.

Point scores: absolute percentage error (MAPE once averaged) and the error in logs (RMSE of log
errors once squared, averaged and rooted). Probabilistic scores, both proper (Gneiting &
Raftery 2007, J. Am. Stat. Assoc. 102:359-378), from the maintained ``scoringrules`` library
(Zanetta & Allen) with its numpy backend, so results never depend on whether numba is loaded:

* the continuous ranked probability score (CRPS) of a predictive sample, or of a Student t
  predictive in closed form;
* the interval score of a central ``1 - alpha`` interval: its width plus ``2 / alpha`` times
  how far the observation falls outside it.

Both are in the units of the variable they score; :mod:`clusterdyn.forecasting.evaluate` scores each
variable on its calibration transform (logs for production and price), so a CRPS of 0.1 is an
error of about 10% whatever the size of the industry.
"""

from __future__ import annotations

import numpy as np
import scoringrules as sr

#: Central prediction intervals reported for every forecast, as coverage probabilities.
LEVELS = (0.5, 0.8, 0.9, 0.95)
_BACKEND = "numpy"


def absolute_percentage_error(observed: np.ndarray, point: np.ndarray) -> np.ndarray:
    """``|point / observed - 1|`` (a fraction; 0.1 is 10%).

    Parameters
    ----------
    observed, point : numpy.ndarray
        Positive observations and point forecasts of the same shape.
    """
    return np.abs(np.asarray(point, float) / np.asarray(observed, float) - 1.0)


def log_error(observed: np.ndarray, point: np.ndarray) -> np.ndarray:
    """``log(point) - log(observed)``: the error in logs (positive: forecast too high)."""
    return np.log(np.asarray(point, float)) - np.log(np.asarray(observed, float))


def crps_sample(observed: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """CRPS of predictive samples (the last axis) against the observations.

    The "fair" CRPS (Ferro 2014, Q. J. R. Meteorol. Soc. 140:1917-1923), ``mean|X - y| -
    sum|X_i - X_j| / (2 m (m - 1))``, unbiased for the distribution the draws come from (the
    empirical distribution's own CRPS divides by ``2 m^2`` and favours small samples),
    computed by ``scoringrules.crps_ensemble``'s probability-weighted-moment estimator, which
    gives the same value from the sorted draws in ``O(m log m)`` rather than ``O(m^2)``.
    Needs at least two draws.

    Parameters
    ----------
    observed : numpy.ndarray
        Shape ``(...)``.
    sample : numpy.ndarray
        Shape ``(..., m)``: ``m`` draws from the predictive distribution of each observation.
    """
    return np.asarray(sr.crps_ensemble(np.asarray(observed, float), np.asarray(sample, float),
                                       estimator="pwm", backend=_BACKEND), dtype=float)


def crps_student_t(observed: np.ndarray, df: np.ndarray, location: np.ndarray,
                   scale: np.ndarray) -> np.ndarray:
    """CRPS of a location-scale Student t predictive distribution, in closed form.

    Parameters
    ----------
    observed, df, location, scale : numpy.ndarray
        Broadcastable arrays; ``df > 1`` (the CRPS needs a finite mean), ``scale > 0``.
    """
    return np.asarray(sr.crps_t(np.asarray(observed, float), np.asarray(df, float),
                                np.asarray(location, float), np.asarray(scale, float),
                                backend=_BACKEND), dtype=float)


def interval_score(observed: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                   level: float) -> np.ndarray:
    """Interval score of central prediction intervals with coverage ``level`` (e.g. 0.9).

    ``(upper - lower) + (2 / alpha) * (lower - y)`` below the interval, ``+ (2 / alpha) *
    (y - upper)`` above it, ``alpha = 1 - level``: lower is better, and only an interval of the
    right width that holds the observation scores its width alone.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level = {level!r}: expected a coverage probability in (0, 1)")
    return np.asarray(sr.interval_score(np.asarray(observed, float), np.asarray(lower, float),
                                        np.asarray(upper, float), 1.0 - level,
                                        backend=_BACKEND), dtype=float)


def covered(observed: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Whether each observation lies in its interval, bounds included (bool array)."""
    observed = np.asarray(observed, float)
    return (np.asarray(lower, float) <= observed) & (observed <= np.asarray(upper, float))
