"""Behaviour reproduction: does the model reproduce the pattern of the FAO data?

Barlas (1996), "Formal aspects of model validity and validation in system dynamics", *System
Dynamics Review* 12(3): behaviour-pattern tests of the mean (E1), the amplitude (E2) and the
phase (lag of the largest cross-correlation), with Theil's decomposition of the mean squared
error (Sterman 1984), for production and price against the shipped FAO FishStat series.
Series are compared in levels, over every year with an observation (production 1978-2003,
unit value 1984-2003).

Pass/fail thresholds (:data:`THRESHOLDS`):

- ``E1 = |mean S - mean A| / |mean A| < 0.05`` (Barlas 1996);
- ``E2 = |sd S - sd A| / sd A < 0.30`` (Barlas 1996);
- ``|phase lag| <= 1`` year, searching lags up to 3 years: the simulated turning points are
  at most a year off those of the data;
- Theil ``UC >= 0.5``: most of the squared error is unsystematic (Sterman 1984), i.e. bias
  (UM) and unequal variation (US) together account for less than half of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from clusterdyn.calibration.data_io import load_observations
from clusterdyn.calibration.statistics import (
    barlas_amplitude_error,
    barlas_mean_error,
    barlas_phase_lag,
    theil,
)
from clusterdyn.sdmodels import Model

#: Model variable -> observations column (calibration/data/salmon_cluster_observations.csv).
SERIES: dict[str, str] = {
    "Production": "chile_salmon_production_t",
    "Price": "chile_salmon_unit_value_usd_per_kg",
}
#: Pass/fail thresholds: E1 <, E2 <, |lag| <=, UC >=.
THRESHOLDS: dict[str, float] = {"e1": 0.05, "e2": 0.30, "lag": 1, "uc": 0.5}
MAX_LAG = 3


@dataclass(frozen=True)
class SeriesFit:
    """Behaviour statistics of one model variable against its data series."""

    variable: str
    column: str
    first_year: int
    last_year: int
    n: int
    u: float
    um: float
    us: float
    uc: float
    e1: float
    e2: float
    lag: int
    correlation: float

    @property
    def failures(self) -> tuple[str, ...]:
        """The thresholds this series misses (empty when it passes)."""
        out = []
        if not self.e1 < THRESHOLDS["e1"]:
            out.append(f"E1 = {self.e1:.3f} >= {THRESHOLDS['e1']:g}")
        if not self.e2 < THRESHOLDS["e2"]:
            out.append(f"E2 = {self.e2:.3f} >= {THRESHOLDS['e2']:g}")
        if not abs(self.lag) <= THRESHOLDS["lag"]:
            out.append(f"phase lag {self.lag:+d} years exceeds {THRESHOLDS['lag']:g}")
        if not self.uc >= THRESHOLDS["uc"]:
            out.append(f"Theil UC = {self.uc:.2f} < {THRESHOLDS['uc']:g}")
        return tuple(out)

    @property
    def passed(self) -> bool:
        """True when every threshold is met."""
        return not self.failures


@dataclass(frozen=True)
class BehaviourReport:
    """Result of :func:`check_behaviour`."""

    series: tuple[SeriesFit, ...]

    @property
    def passed(self) -> bool:
        """True when every series passes."""
        return all(s.passed for s in self.series)


def check_behaviour(model: Model, params: Mapping[str, float] | None = None,
                    observations: pd.DataFrame | None = None) -> BehaviourReport:
    """Compare the run with ``params`` (e.g. the calibration) against the FAO data.

    Parameters
    ----------
    model : Model
    params : mapping, optional
        Parameter values (default: the ``.mdl``'s).
    observations : pandas.DataFrame, optional
        As returned by :func:`clusterdyn.calibration.data_io.load_observations` (the default).
    """
    data = load_observations() if observations is None else observations
    run = model.run(params=params, variables=list(SERIES))
    fits = []
    for variable, column in SERIES.items():
        observed = data[column].dropna()
        observed = observed[observed.index.isin(run.index)]
        simulated = run.loc[observed.index, variable]
        stats = theil(simulated, observed)
        lag = barlas_phase_lag(simulated, observed, MAX_LAG)
        fits.append(SeriesFit(
            variable, column, int(observed.index[0]), int(observed.index[-1]), len(observed),
            stats.u, stats.um, stats.us, stats.uc, barlas_mean_error(simulated, observed),
            barlas_amplitude_error(simulated, observed), lag.lag, lag.correlation,
        ))  # fmt: skip
    return BehaviourReport(tuple(fits))
