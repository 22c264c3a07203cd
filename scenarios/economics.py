"""Discounted economics of a policy schedule: constant dollars, discount factors, NPVs.

Conventions (stated once, used by the KPIs, the optimiser and the robustness analysis):

- **Money** is in million **constant 2003 US dollars** (``PRICE_BASE_YEAR``). The model's
  ``Export value`` is nominal (FAO reports current dollars); it is deflated with the US CPI-U
  (``scenarios/data/us_cpi_u_1978_2012.csv``, BLS series CUUR0000SA0), extended after 2012 at
  ``INFLATION_AFTER_DATA``. Policy costs (``scenarios/costs.toml``) are sized on IDB
  programmes approved in 2002-2005 and are read as constant 2003 dollars.
- **Discounting**: a year's flow (the yearly rate at 1 January held for the year, as the
  cumulative KPIs count it) is discounted to ``DISCOUNT_BASE_YEAR`` (1978, when the first
  programmes start) by ``(1 + rate) ** -(year - 1978)``.
- **Rate**: ``DEFAULT_DISCOUNT_RATE`` = 6% a year, Chile's social discount rate for public
  projects (MIDEPLAN 2008 estimate, in use since; a 2012 University of Chile thesis, Repositorio
  UChile handle 2250/113517, argues for 7.8-9.2%). Sensitivity range ``DISCOUNT_RATE_RANGE``
  3-10% (3-3.5% is the European/UK Green Book range, 10% the IDB's older hurdle rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from clusterdyn.sdmodels.errors import ModelInputError

DATA_DIR = Path(__file__).parent / "data"
DEFLATOR_FILE = DATA_DIR / "us_cpi_u_1978_2012.csv"

#: Chile's social discount rate (1/Year); see the module docstring for the source.
DEFAULT_DISCOUNT_RATE = 0.06
#: Range of the discount rate shown in sensitivity tables (1/Year).
DISCOUNT_RATE_RANGE = (0.03, 0.10)
#: Year NPVs are discounted to (the start of the policy window).
DISCOUNT_BASE_YEAR = 1978
#: Dollars of this year are the constant dollars of every NPV.
PRICE_BASE_YEAR = 2003
#: Inflation assumed after the last CPI year (1/Year; assumption, range 0.01-0.03).
INFLATION_AFTER_DATA = 0.02


@dataclass(frozen=True)
class Economics:
    """How money is counted: discount rate and the last year counted.

    Attributes
    ----------
    rate : float
        Real discount rate (1/Year), in [0, 0.5].
    until : int
        Last calendar year counted (inclusive), 2003-2030.
    """

    rate: float = DEFAULT_DISCOUNT_RATE
    until: int = 2003

    def __post_init__(self) -> None:
        rate = self.rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not (
                math.isfinite(rate) and 0 <= rate <= 0.5):
            raise ModelInputError(f"discount rate = {rate!r}: expected a number in [0, 0.5] "
                                  f"(a fraction per year, e.g. 0.06)")
        until = self.until
        if isinstance(until, bool) or not isinstance(until, int) or not 2003 <= until <= 2030:
            raise ModelInputError(f"until = {until!r}: expected a year in 2003-2030")

    @property
    def years(self) -> np.ndarray:
        """The calendar years counted: 1978, ..., ``until``."""
        return np.arange(DISCOUNT_BASE_YEAR, self.until + 1)

    def discount_factors(self) -> np.ndarray:
        """``(1 + rate) ** -(year - 1978)`` for each counted year."""
        return (1.0 + self.rate) ** -(self.years - DISCOUNT_BASE_YEAR).astype(float)

    def export_weights(self) -> np.ndarray:
        """Weights turning nominal yearly export values into their NPV (constant 2003 US$):
        discount factor x price index(2003) / price index(year)."""
        return self.discount_factors() * deflator(self.years)

    def describe(self) -> str:
        """One line for table captions."""
        return (f"NPV at {DISCOUNT_BASE_YEAR}, {self.rate:.0%} real discount rate, "
                f"{DISCOUNT_BASE_YEAR}-{self.until}, million constant {PRICE_BASE_YEAR} US$")


@lru_cache(maxsize=1)
def _cpi() -> pd.Series:
    frame = pd.read_csv(DEFLATOR_FILE)
    series = frame.set_index("year")["cpi_u_1982_84_100"].astype(float)
    if list(series.index) != list(range(1978, 2013)) or not (series > 0).all():
        raise ModelInputError(f"{DEFLATOR_FILE}: expected one positive index per year "
                              f"1978-2012")
    return series


def price_index(years: np.ndarray) -> np.ndarray:
    """CPI-U (1982-84 = 100) of each year; after 2012 grown at ``INFLATION_AFTER_DATA``."""
    cpi = _cpi()
    years = np.asarray(years, dtype=int)
    if (years < cpi.index[0]).any():
        raise ModelInputError(f"price index: no CPI before {cpi.index[0]}")
    last = int(cpi.index[-1])
    known = cpi.reindex(np.minimum(years, last)).to_numpy()
    return known * (1.0 + INFLATION_AFTER_DATA) ** np.maximum(years - last, 0)


def deflator(years: np.ndarray) -> np.ndarray:
    """Factor turning current dollars of each year into constant ``PRICE_BASE_YEAR`` dollars."""
    return price_index(np.array([PRICE_BASE_YEAR]))[0] / price_index(years)


def stage_year_weights(starts: tuple[float, float], economics: Economics) -> np.ndarray:
    """Discounted years each stage is in force: ``W[k] = sum_y d_y * overlap_k(y)``.

    A year ``y`` covers ``[y, y + 1)``; a stage starting mid-year counts for the part of the
    year it is in force (as :func:`clusterdyn.scenarios.costs.cost_series`). The discounted cost of
    a
    schedule is then ``sum_k W[k] * sum_lever intensity[lever, k] * cost[lever]``, linear in
    the intensities.

    Parameters
    ----------
    starts : (float, float)
        Start of the maturing and globalisation stages (``inf`` if never).
    """
    mat, glob = starts
    mat = min(mat, glob)
    bounds = [(-math.inf, mat), (mat, glob), (glob, math.inf)]
    years = economics.years
    factors = economics.discount_factors()
    return np.array([
        float(np.sum(factors * np.clip(np.minimum(years + 1, hi) - np.maximum(years, lo), 0, 1)))
        for lo, hi in bounds
    ])


def npv_of_exports(export_value: np.ndarray, years: np.ndarray, economics: Economics
                   ) -> np.ndarray:
    """NPV (million constant 2003 US$) of yearly nominal export values.

    Parameters
    ----------
    export_value : numpy.ndarray
        ``Export value`` (million current US$/Year), shape ``(..., len(years))``.
    years : numpy.ndarray
        The calendar year of each column; must cover 1978..``economics.until``.
    """
    years = np.asarray(years)
    wanted = economics.years
    index = np.searchsorted(years, wanted)
    if index.max(initial=0) >= len(years) or not np.array_equal(years[index], wanted):
        raise ModelInputError(f"exports: the run covers {years[0]}-{years[-1]}, the NPV needs "
                              f"{wanted[0]}-{wanted[-1]}")
    return np.asarray(export_value)[..., index] @ economics.export_weights()


def npv_of_costs(cost: pd.Series, economics: Economics) -> float:
    """NPV (million constant 2003 US$) of a yearly policy-cost series (index: year)."""
    wanted = economics.years
    missing = [y for y in (wanted[0], wanted[-1]) if y not in cost.index]
    if missing:
        raise ModelInputError(f"policy cost: no value for {missing[0]}; the NPV needs "
                              f"{wanted[0]}-{wanted[-1]}")
    return float(cost.loc[wanted].to_numpy() @ economics.discount_factors())


__all__ = [
    "DEFAULT_DISCOUNT_RATE", "DISCOUNT_BASE_YEAR", "DISCOUNT_RATE_RANGE", "Economics",
    "INFLATION_AFTER_DATA", "PRICE_BASE_YEAR", "deflator", "npv_of_costs", "npv_of_exports",
    "price_index", "stage_year_weights",
]
