"""Naive forecasting baselines a structural model has to beat, with their own intervals.

Every baseline is fitted to the same years and on the same transform (logs for production and
price) as the calibration it is compared with, and predicts a location-scale Student t
distribution of each future observation on that transform:

``random_walk_drift``
    Random walk with drift (Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*,
    3rd ed., section 5.2): ``y[t+h] = y[T] + h * drift``; the drift is the mean yearly change of
    the window, the predictive variance ``sigma^2 * (h + h^2 / span)`` adds the drift's own
    uncertainty. Unweighted: a random walk has no observation error to weight by.
``loglinear_trend``
    Ordinary least squares of the transformed series on the year over the last five observed
    years; the classical prediction interval of a regression line.
``logistic``
    ``K / (1 + exp(-r (t - t0)))`` (three parameters), fitted on the transform by weighted
    least squares with the calibration's error scales.
``gompertz``
    ``K * exp(-b * exp(-c (t - t1)))`` with ``t1`` the first year of the window (three
    parameters; in logs ``log K - b exp(-c (t - t1))``), weighted like the logistic.

The growth curves' prediction intervals add the parameters' uncertainty (delta method with the
Gauss-Newton covariance ``s^2 (J'J)^-1``) to the observation error ``s * sigma_t`` of each
future year, ``s^2 = SSR / (n - 3)`` on the weighted residuals, with ``n - 3`` degrees of
freedom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.optimize import least_squares

#: The baselines, in the order of every table.
BASELINES = ("random_walk_drift", "loglinear_trend", "logistic", "gompertz")
#: Observed years the log-linear trend is fitted to (the last ones of the window).
TREND_YEARS = 5
_CURVE_PARAMETERS = 3


@dataclass(frozen=True)
class StudentT:
    """Predictive distributions ``location + scale * T(df)`` on the transformed scale.

    Attributes
    ----------
    location, scale : numpy.ndarray
        One value per forecast year.
    df : float
        Degrees of freedom (shared by the years).
    """

    location: np.ndarray
    scale: np.ndarray
    df: float

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Central interval holding ``level`` of the probability, per year."""
        half = stats.t.ppf(0.5 + level / 2.0, self.df) * self.scale
        return self.location - half, self.location + half


@dataclass(frozen=True)
class BaselineFit:
    """A fitted baseline: how it predicts any year after its window.

    Attributes
    ----------
    method : str
        One of :data:`BASELINES`.
    parameters : dict of str to float
        Fitted parameters (on the transformed scale).
    residual_scale : float
        ``s``: the root mean squared (weighted) residual, per degree of freedom.
    df : int
        Residual degrees of freedom (of the Student t predictive distribution).
    """

    method: str
    parameters: dict[str, float]
    residual_scale: float
    df: int
    _predict: Callable[[np.ndarray, np.ndarray], StudentT]

    def predict(self, years: np.ndarray, sigma: np.ndarray) -> StudentT:
        """Predictive distribution of the observations in ``years``.

        Parameters
        ----------
        years : numpy.ndarray
            Years after the window.
        sigma : numpy.ndarray
            The calibration's error scale of each of those years (used by the weighted
            curves; the random walk and the trend carry their own).
        """
        return self._predict(np.asarray(years, float), np.asarray(sigma, float))


def _check_window(method: str, years: np.ndarray, y: np.ndarray, needed: int) -> None:
    if len(years) < needed:
        raise ValueError(f"{method}: {len(years)} observed years in the window, expected at "
                         f"least {needed}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{method}: the window holds a missing or non-finite value")


def fit_random_walk_drift(years: np.ndarray, y: np.ndarray) -> BaselineFit:
    """Random walk with drift on the transformed series ``y`` observed in ``years``.

    Gaps (a year left out) are one increment spanning several years: the increments are
    independent with mean ``drift * gap`` and variance ``sigma^2 * gap``.
    """
    years, y = np.asarray(years, float), np.asarray(y, float)
    _check_window("random_walk_drift", years, y, 3)
    gaps, steps = np.diff(years), np.diff(y)
    span = years[-1] - years[0]
    drift = (y[-1] - y[0]) / span
    df = len(steps) - 1
    sigma = float(np.sqrt(np.sum((steps - drift * gaps) ** 2 / gaps) / df))
    last_year, last = years[-1], y[-1]

    def predict(future: np.ndarray, _sigma: np.ndarray) -> StudentT:
        h = future - last_year
        return StudentT(last + drift * h, sigma * np.sqrt(h + h**2 / span), df)

    return BaselineFit("random_walk_drift", {"drift": float(drift)}, sigma, df, predict)


def fit_loglinear_trend(years: np.ndarray, y: np.ndarray,
                        last_years: int = TREND_YEARS) -> BaselineFit:
    """Least-squares line through the last ``last_years`` observations of ``y``."""
    years, y = np.asarray(years, float)[-last_years:], np.asarray(y, float)[-last_years:]
    _check_window("loglinear_trend", years, y, 3)
    mean_year = years.mean()
    sxx = float(np.sum((years - mean_year) ** 2))
    slope = float(np.sum((years - mean_year) * (y - y.mean())) / sxx)
    intercept = float(y.mean())  # the line's value at mean_year
    df = len(years) - 2
    s = float(np.sqrt(np.sum((y - intercept - slope * (years - mean_year)) ** 2) / df))
    n = len(years)

    def predict(future: np.ndarray, _sigma: np.ndarray) -> StudentT:
        spread = s * np.sqrt(1.0 + 1.0 / n + (future - mean_year) ** 2 / sxx)
        return StudentT(intercept + slope * (future - mean_year), spread, df)

    return BaselineFit("loglinear_trend", {"slope": slope, "level": intercept}, s, df, predict)


def _transformed(values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(values)
    return values


def logistic_curve(theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``K / (1 + exp(-r (t - t0)))`` with ``theta = (log K, r, t0)`` (natural scale)."""
    log_k, r, t0 = theta
    return np.exp(log_k - np.logaddexp(0.0, -r * (t - t0)))


def gompertz_curve(theta: np.ndarray, t: np.ndarray, t1: float) -> np.ndarray:
    """``K exp(-b exp(-c (t - t1)))`` with ``theta = (log K, b, c)`` (natural scale)."""
    log_k, b, c = theta
    return np.exp(log_k - b * np.exp(-c * (t - t1)))


def _fit_curve(method: str, curve: Callable[[np.ndarray, np.ndarray], np.ndarray],
               names: tuple[str, str, str], starts: list[np.ndarray],
               bounds: tuple[list[float], list[float]], years: np.ndarray, y: np.ndarray,
               scale: np.ndarray, transform: str) -> BaselineFit:
    """Weighted least squares of ``curve`` on the transform from every start; the best wins."""

    def residuals(theta: np.ndarray) -> np.ndarray:
        return (_transformed(curve(theta, years), transform) - y) / scale

    best = None
    for start in starts:
        fit = least_squares(residuals, np.clip(start, bounds[0], bounds[1]), bounds=bounds,
                            method="trf", x_scale="jac", xtol=1e-12, ftol=1e-12, max_nfev=2000)
        if np.isfinite(fit.cost) and (best is None or fit.cost < best.cost):
            best = fit
    if best is None:
        raise ValueError(f"{method}: no start gave a finite fit")
    theta = best.x
    df = len(years) - _CURVE_PARAMETERS
    s = float(np.sqrt(2.0 * best.cost / df))
    covariance = s**2 * np.linalg.pinv(best.jac.T @ best.jac)

    def predict(future: np.ndarray, sigma: np.ndarray) -> StudentT:
        location = _transformed(curve(theta, future), transform)
        gradient = np.empty((len(future), len(theta)))
        for j in range(len(theta)):  # central differences of the curve in its parameters
            step = 1e-6 * max(1.0, abs(theta[j]))
            up, down = theta.copy(), theta.copy()
            up[j] += step
            down[j] -= step
            gradient[:, j] = (_transformed(curve(up, future), transform)
                              - _transformed(curve(down, future), transform)) / (2 * step)
        parameter_variance = np.einsum("ij,jk,ik->i", gradient, covariance, gradient)
        return StudentT(location, np.sqrt((s * sigma) ** 2 + parameter_variance), df)

    return BaselineFit(method, dict(zip(names, map(float, theta), strict=True)), s, df, predict)


def _log_values(y: np.ndarray, transform: str) -> np.ndarray:
    """The series in logs, for the starting values (the curves are positive)."""
    return y if transform == "log" else np.log(np.maximum(y, 1e-12))


def fit_logistic(years: np.ndarray, y: np.ndarray, scale: np.ndarray,
                 transform: str) -> BaselineFit:
    """Logistic growth curve fitted to ``y`` (on ``transform``) with error scales ``scale``.

    The rate may be negative (a declining series such as a price); starts cover rates of
    +-0.1 to +-1 per year and midpoints from the window's middle to 20 years beyond it.
    """
    years, y, scale = (np.asarray(a, float) for a in (years, y, scale))
    _check_window("logistic", years, y, _CURVE_PARAMETERS + 1)
    log_y, weights = _log_values(y, transform), 1.0 / scale**2
    starts = []
    for r in (-1.0, -0.4, -0.1, 0.1, 0.4, 1.0):
        for t0 in (years.mean(), years[-1], years[-1] + 5, years[-1] + 20):
            # The best log K for this (r, t0): a weighted mean, in closed form.
            offset = np.logaddexp(0.0, -r * (years - t0))
            starts.append(np.array([np.average(log_y + offset, weights=weights), r, t0]))
    span = years[-1] - years[0]
    bounds = ([-np.inf, -5.0, years[0] - 10 * span], [np.inf, 5.0, years[-1] + 10 * span])
    return _fit_curve("logistic", logistic_curve, ("log_K", "r", "t0"), starts, bounds,
                      years, y, scale, transform)


def fit_gompertz(years: np.ndarray, y: np.ndarray, scale: np.ndarray,
                 transform: str) -> BaselineFit:
    """Gompertz growth curve fitted to ``y`` (on ``transform``) with error scales ``scale``.

    ``b`` may be negative (a series falling towards ``K``). Starts: for each rate ``c`` of a
    grid, ``log K`` and ``b`` by weighted linear least squares in logs.
    """
    years, y, scale = (np.asarray(a, float) for a in (years, y, scale))
    _check_window("gompertz", years, y, _CURVE_PARAMETERS + 1)
    t1 = float(years[0])
    log_y, root_w = _log_values(y, transform), 1.0 / scale
    starts = []
    for c in (0.02, 0.05, 0.1, 0.2, 0.4, 0.8):
        design = np.column_stack([np.ones_like(years), -np.exp(-c * (years - t1))])
        coef = np.linalg.lstsq(design * root_w[:, None], log_y * root_w, rcond=None)[0]
        starts.append(np.array([coef[0], coef[1], c]))

    def curve(theta: np.ndarray, t: np.ndarray) -> np.ndarray:
        return gompertz_curve(theta, t, t1)

    bounds = ([-np.inf, -np.inf, 1e-4], [np.inf, np.inf, 5.0])
    return _fit_curve("gompertz", curve, ("log_K", "b", "c"), starts, bounds, years, y, scale,
                      transform)


def fit_baselines(years: np.ndarray, y: np.ndarray, scale: np.ndarray,
                  transform: str) -> dict[str, BaselineFit]:
    """All four baselines fitted to one transformed series (see the module docstring).

    Parameters
    ----------
    years : numpy.ndarray
        The observed years of the window, increasing.
    y : numpy.ndarray
        The series on its transform (logs for ``transform = "log"``).
    scale : numpy.ndarray
        The calibration's error scale of each year (weights of the growth curves).
    transform : {"log", "none"}
        The calibration's transform of the series.
    """
    return {
        "random_walk_drift": fit_random_walk_drift(years, y),
        "loglinear_trend": fit_loglinear_trend(years, y),
        "logistic": fit_logistic(years, y, scale, transform),
        "gompertz": fit_gompertz(years, y, scale, transform),
    }
