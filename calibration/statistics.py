"""Goodness-of-fit statistics for judging system-dynamics model calibrations.

Implements the summary statistics recommended by Sterman (1984), "Appropriate summary
statistics for evaluating the historical fit of system dynamics models", *Dynamica* 10(2),
and Sterman (2000), *Business Dynamics*, ch. 21 (R², MAPE, RMSE and the Theil inequality
decomposition), plus the behaviour-pattern tests of Barlas (1989, 1996): mean error E1,
amplitude error E2 and phase lag from the cross-correlation function.

All functions take 1-D array-likes of equal length, ``simulated`` (S) and ``observed`` (A),
and raise :class:`ValueError` naming the offending argument on empty, non-1-D, non-finite or
length-mismatched input. Standard deviations are population values (``ddof=0``) throughout,
so that ``UM + US + UC == 1``. Ratios of sums of squares are formed from series rescaled by
their largest absolute value, guarding them against under/overflow of the squares.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Integral

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FitStatistics", "PhaseLag", "TheilStatistics", "barlas_amplitude_error",
    "barlas_mean_error", "barlas_phase_lag", "durbin_watson", "fit_statistics", "mape",
    "mean_squared_error", "r_squared", "rmse", "theil",
]  # fmt: skip

FloatArray = NDArray[np.float64]
TRANSFORMS = ("none", "log")


def _as_series(values: ArrayLike, name: str) -> FloatArray:
    """Convert ``values`` to a finite, non-empty 1-D float array or raise ValueError."""
    arr = np.asarray(values)
    try:
        if arr.dtype.kind == "c":  # astype would silently drop the imaginary part
            raise TypeError(f"complex dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must contain real numbers convertible to float") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array; got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; expected at least one value")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise ValueError(
            f"{name} must contain only finite values; found {bad.size} NaN/inf value(s) "
            f"at index {shown}"
        )
    return arr


def _pair(simulated: ArrayLike, observed: ArrayLike) -> tuple[FloatArray, FloatArray]:
    s = _as_series(simulated, "simulated")
    a = _as_series(observed, "observed")
    if s.size != a.size:
        raise ValueError(
            "simulated and observed must have the same length; "
            f"got simulated of length {s.size} and observed of length {a.size}"
        )
    return s, a


def _deviations(x: FloatArray) -> FloatArray:
    """Mean-removed series; exactly zero for a constant series (no rounding residue)."""
    return x - x.mean() if np.ptp(x) > 0 else np.zeros_like(x)


def _rms(x: FloatArray) -> float:
    """Root mean square computed on the peak-scaled series (no under/overflow)."""
    peak = float(np.max(np.abs(x)))
    return 0.0 if peak == 0.0 else peak * math.sqrt(float(np.mean((x / peak) ** 2)))


def _unit(x: FloatArray) -> FloatArray:
    """``x`` scaled to unit Euclidean norm (``x`` must not be all zeros)."""
    y = x / np.max(np.abs(x))
    return y / math.sqrt(float(np.dot(y, y)))


def r_squared(simulated: ArrayLike, observed: ArrayLike) -> float:
    """Coefficient of determination as the squared Pearson correlation of S and A.

    Sterman (1984, 2000) reports R² for SD fits as ``r²``, the fraction of the variance in
    the data "explained" by the model *allowing a linear rescaling*: it measures whether the
    model tracks the shape of the data, and is blind to bias and scale errors (those appear
    in the Theil UM and US terms). This differs from the regression-style ``1 - SSE/SST``,
    which can be negative for a biased simulation and mixes shape with bias.

    Returns
    -------
    float
        ``r**2`` in [0, 1], or NaN if either series is constant (correlation undefined).
    """
    s, a = _pair(simulated, observed)
    ds, da = _deviations(s), _deviations(a)
    if not ds.any() or not da.any():
        return math.nan
    r = min(1.0, max(-1.0, float(np.dot(_unit(ds), _unit(da)))))
    return r * r


def mape(simulated: ArrayLike, observed: ArrayLike) -> float:
    """Mean absolute percent error, ``mean(|S - A| / |A|)``, as a fraction (0.1 = 10 %).

    Raises
    ------
    ValueError
        If any observed value is zero (the percent error is undefined there).
    """
    s, a = _pair(simulated, observed)
    zeros = np.flatnonzero(a == 0)
    if zeros.size:
        raise ValueError(f"observed must be non-zero for MAPE; found zero(s) at index {zeros}")
    return float(np.mean(np.abs(s - a) / np.abs(a)))


def mean_squared_error(simulated: ArrayLike, observed: ArrayLike) -> float:
    """Mean squared error, ``mean((S - A)**2)``."""
    s, a = _pair(simulated, observed)
    return float(np.mean((s - a) ** 2))


def rmse(simulated: ArrayLike, observed: ArrayLike) -> float:
    """Root mean squared error, ``sqrt(mean((S - A)**2))``, in the units of the data."""
    s, a = _pair(simulated, observed)
    return _rms(s - a)


@dataclass(frozen=True)
class TheilStatistics:
    """Theil inequality statistics (Sterman 1984).

    Attributes
    ----------
    mse, rmse : float
        Mean squared error and its root.
    u : float
        Theil inequality coefficient ``RMSE / (sqrt(mean(S²)) + sqrt(mean(A²)))`` in [0, 1].
    um, us, uc : float
        Fractions of MSE due to bias ``(mean S - mean A)²``, unequal variation
        ``(σS - σA)²`` and unequal covariation ``2 (1 - r) σS σA``.
    """

    mse: float
    rmse: float
    u: float
    um: float
    us: float
    uc: float


def theil(simulated: ArrayLike, observed: ArrayLike) -> TheilStatistics:
    """Theil inequality coefficient and the decomposition of MSE into UM, US and UC.

    Uses population standard deviations (``ddof=0``), for which
    ``MSE = (mean S - mean A)² + (σS - σA)² + 2 (1 - r) σS σA`` exactly, so
    ``um + us + uc == 1`` up to rounding. UC is evaluated through the equivalent form
    ``2 (1 - r) σS σA = σ²(S - A) - (σS - σA)²``, and ``σS - σA`` as
    ``mean((S - A)' (S' + A')) / (σS + σA)`` (primes: deviations from the mean); both avoid
    catastrophic cancellation when the series are nearly identical.

    Returns
    -------
    TheilStatistics
        If the series are identical (MSE == 0) the decomposition is 0/0; by convention
        ``mse = rmse = u = um = us = uc = 0`` (a perfect fit has no error to apportion).
    """
    s, a = _pair(simulated, observed)
    e = s - a  # ``mse`` below is the sum of its components; equals mean(e**2) to rounding
    peak = float(np.max(np.abs(e)))
    if peak == 0.0:
        return TheilStatistics(mse=0.0, rmse=0.0, u=0.0, um=0.0, us=0.0, uc=0.0)
    ep = e / peak  # errors in units of the largest error: max |ep| == 1
    bias = float(np.mean(ep))
    dev = _deviations(ep)
    var = float(np.mean(dev**2))
    ds, da = _deviations(s), _deviations(a)
    sd_sum = _rms(ds) + _rms(da)
    dsigma = float(np.mean(dev * (ds + da))) / sd_sum if sd_sum > 0 else 0.0
    us_num = min(dsigma * dsigma, var)  # Cauchy-Schwarz: (σS - σA)² <= σ²(S - A)
    mse_scaled = bias * bias + var
    rmse_value = peak * math.sqrt(mse_scaled)
    return TheilStatistics(
        mse=peak * peak * mse_scaled,
        rmse=rmse_value,
        u=rmse_value / (_rms(s) + _rms(a)),
        um=bias * bias / mse_scaled,
        us=us_num / mse_scaled,
        uc=(var - us_num) / mse_scaled,
    )


def durbin_watson(residuals: ArrayLike) -> float:
    """Durbin-Watson statistic ``sum(diff(e)**2) / sum(e**2)`` of a residual series.

    Near 2 for serially uncorrelated residuals, towards 0 for positive and towards 4 for
    negative autocorrelation. A constant non-zero residual gives 0; all-zero residuals
    give NaN (0/0). Raises ValueError for fewer than 2 values or non-finite values.
    """
    e = _as_series(residuals, "residuals")
    if e.size < 2:
        raise ValueError(f"residuals must have at least 2 values; got {e.size}")
    peak = float(np.max(np.abs(e)))
    if peak == 0.0:
        return math.nan
    ep = e / peak
    return float(np.sum(np.diff(ep) ** 2) / np.sum(ep**2))


def barlas_mean_error(simulated: ArrayLike, observed: ArrayLike) -> float:
    """Barlas E1 = ``|mean S - mean A| / |mean A|``; raises ValueError if ``mean A == 0``."""
    s, a = _pair(simulated, observed)
    mean_a = float(np.mean(a))
    if mean_a == 0.0:
        raise ValueError("observed must have a non-zero mean for Barlas E1; got mean 0")
    return abs(float(np.mean(s)) - mean_a) / abs(mean_a)


def barlas_amplitude_error(simulated: ArrayLike, observed: ArrayLike) -> float:
    """Barlas E2 = ``|σS - σA| / σA`` (population SDs); raises ValueError if A is constant."""
    s, a = _pair(simulated, observed)
    sd_a = _rms(_deviations(a))
    if sd_a == 0.0:
        raise ValueError("observed must not be constant for Barlas E2; got zero variance")
    return abs(_rms(_deviations(s)) - sd_a) / sd_a


@dataclass(frozen=True)
class PhaseLag:
    """Result of :func:`barlas_phase_lag`: best ``lag`` (samples) and its ``correlation``."""

    lag: int
    correlation: float


def barlas_phase_lag(simulated: ArrayLike, observed: ArrayLike, max_lag: int) -> PhaseLag:
    """Lag maximising the cross-correlation of the mean-removed series (Barlas 1989).

    Uses the standard (Box-Jenkins) estimator
    ``c(k) = sum_t S'(t + k) A'(t) / (n σS σA)`` for ``-max_lag <= k <= max_lag``, with
    deviations from the full-series means and no detrending. A positive lag means the
    simulation lags (is delayed relative to) the data, ``S(t) ≈ A(t - lag)``. The signed
    correlation is maximised; ties go to the smallest absolute lag.

    Parameters
    ----------
    simulated, observed : array_like
        1-D series of equal length ``n``; neither may be constant.
    max_lag : int
        Largest lag searched, ``0 <= max_lag < n``.
    """
    s, a = _pair(simulated, observed)
    n = s.size
    if isinstance(max_lag, bool) or not isinstance(max_lag, Integral):
        raise ValueError(f"max_lag must be an integer; got {type(max_lag).__name__}")
    if not 0 <= max_lag < n:
        raise ValueError(f"max_lag must satisfy 0 <= max_lag < {n} (series length); got {max_lag}")
    ds, da = _deviations(s), _deviations(a)
    for name, dev in (("simulated", ds), ("observed", da)):
        if not dev.any():
            raise ValueError(f"{name} must not be constant for the cross-correlation")
    su, au = _unit(ds), _unit(da)
    lags = sorted(range(-int(max_lag), int(max_lag) + 1), key=abs)
    ccf = [
        float(np.dot(su[k:], au[: n - k])) if k >= 0 else float(np.dot(su[:k], au[-k:]))
        for k in lags
    ]
    best = int(np.argmax(ccf))
    return PhaseLag(lag=lags[best], correlation=ccf[best])


@dataclass(frozen=True)
class FitStatistics:
    """Summary of a calibration fit as returned by :func:`fit_statistics`.

    Attributes
    ----------
    n : int
        Number of points.
    transform : str
        ``"none"`` or ``"log"``: scale of every statistic except ``mape`` (original scale).
    r2, mape, rmse, theil, durbin_watson
        As :func:`r_squared`, :func:`mape`, :func:`rmse`, :func:`theil`, and
        :func:`durbin_watson` of the residuals ``S - A``.
    mean_error : float
        Mean residual ``mean(S - A)`` (signed bias).
    """

    n: int
    transform: str
    r2: float
    mape: float
    rmse: float
    theil: TheilStatistics
    durbin_watson: float
    mean_error: float

    def to_frame(self) -> pd.DataFrame:
        """The statistics as a one-column table (index: statistic, column ``value``)."""
        return pd.DataFrame({"value": pd.Series(self.as_dict(), dtype=object)}).rename_axis(
            "statistic")

    def as_dict(self) -> dict[str, int | float | str]:
        """Flat ``{name: value}`` mapping (Theil fields prefixed ``theil_``) for tables."""
        out: dict[str, int | float | str] = {k: v for k, v in asdict(self).items() if k != "theil"}
        out.update({f"theil_{k}": v for k, v in asdict(self.theil).items()})
        return out


def fit_statistics(
    simulated: ArrayLike, observed: ArrayLike, transform: str = "none"
) -> FitStatistics:
    """Compute the standard battery of fit statistics for one simulated/observed pair.

    Parameters
    ----------
    simulated, observed : array_like
        1-D series of equal length (at least 2 points).
    transform : {"none", "log"}
        ``"log"`` applies the natural log to both series before computing R², RMSE, Theil,
        Durbin-Watson and mean error (appropriate for exponentially growing series such as
        cluster production); both must then be strictly positive. MAPE is always computed on
        the original scale, where it is already a relative measure.

    Returns
    -------
    FitStatistics
        Undefined entries are NaN rather than errors so one degenerate statistic does not
        hide the others: ``mape`` if any observed value is 0, ``r2`` if a (transformed)
        series is constant, ``durbin_watson`` if all residuals are 0. Identical series give
        the Theil zero convention of :func:`theil`.
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}; got {transform!r}")
    s, a = _pair(simulated, observed)
    if s.size < 2:
        raise ValueError(f"simulated and observed must have at least 2 values; got {s.size}")
    mape_value = math.nan if np.any(a == 0) else mape(s, a)
    if transform == "log":
        for name, x in (("simulated", s), ("observed", a)):
            if np.any(x <= 0):
                raise ValueError(
                    f"{name} must be strictly positive for transform='log'; "
                    f"found {int(np.sum(x <= 0))} non-positive value(s)"
                )
        s, a = np.log(s), np.log(a)
    residuals = s - a
    stats = theil(s, a)
    return FitStatistics(
        n=int(s.size),
        transform=transform,
        r2=r_squared(s, a),
        mape=mape_value,
        rmse=stats.rmse,
        theil=stats,
        durbin_watson=durbin_watson(residuals),
        mean_error=float(np.mean(residuals)),
    )
