"""Stocks never negative (nor NaN) anywhere in the declared parameter box.

A seeded uniform sample of every declared parameter over its range, plus the baseline
parameters, is run at once with the vectorised runner (:mod:`clusterdyn.sdmodels.vectorized`); every
stock must stay finite and non-negative in every year of every run. A stock that can go
negative reveals an outflow that is not limited by the stock (first-order control, Sterman
2000 ch. 13). Only the yearly values are tested (the runner records whole years).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clusterdyn.sdmodels import Model
from clusterdyn.sdmodels.vectorized import compile_model


def sample_parameters(model: Model, samples: int, seed: int = 0,
                      base: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Row 0: the baseline parameters; rows 1..samples: uniform over every declared range.

    Parameters
    ----------
    model : Model
    samples : int
        Number of random parameter sets (>= 0).
    seed : int
        Seed of :func:`numpy.random.default_rng` (same seed, same sample).
    base : mapping, optional
        Baseline parameter values (others at the ``.mdl`` defaults).

    Returns
    -------
    pandas.DataFrame
        One row per run, one column per parameter (in the model's order).
    """
    rng = np.random.default_rng(seed)
    base = dict(base or {})
    columns = {}
    for name, p in model.parameters.items():
        draws = rng.uniform(p.lower, p.upper, samples)
        columns[name] = np.concatenate([[base.get(name, p.default)], draws])
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class StockResult:
    """The lowest value of one stock over all runs and years, and where it occurs."""

    stock: str
    units: str
    minimum: float
    run: int
    year: int
    negative_runs: int
    nonfinite_runs: int
    first_bad_year: int | None = None

    @property
    def passed(self) -> bool:
        """True when the stock is finite and >= 0 in every run and year."""
        return self.negative_runs == 0 and self.nonfinite_runs == 0

    def message(self, runs: int) -> str:
        """One line saying what went wrong (or that nothing did)."""
        if self.passed:
            return (f"{self.stock!r} >= 0 in all {runs} runs (lowest {self.minimum:.4g} "
                    f"{self.units}, run {self.run}, {self.year})")  # fmt: skip
        parts = []
        if self.negative_runs:
            parts.append(f"goes negative in {self.negative_runs} of {runs} runs (lowest "
                         f"{self.minimum:.4g} {self.units} in {self.year}, run {self.run})")
        if self.nonfinite_runs:
            parts.append(f"is NaN or infinite in {self.nonfinite_runs} of {runs} runs")
        return f"stock {self.stock!r} " + " and ".join(parts) + f", from {self.first_bad_year}"


@dataclass(frozen=True)
class StocksReport:
    """Result of :func:`check_stocks`."""

    runs: int
    seed: int
    until: int
    stocks: tuple[StockResult, ...]

    @property
    def passed(self) -> bool:
        """True when every stock passes."""
        return all(s.passed for s in self.stocks)


def check_stocks(model: Model, samples: int = 500, seed: int = 0,
                 base: Mapping[str, float] | None = None,
                 until: int | None = None) -> StocksReport:
    """Run the baseline and ``samples`` random parameter sets; test every stock.

    Returns
    -------
    StocksReport
        Run 0 is the baseline; run ``i`` is row ``i`` of
        ``sample_parameters(model, samples, seed, base)``.
    """
    table = sample_parameters(model, samples, seed, base)
    until = int(until or model.final_time)
    result = compile_model(model).run(table, until=until, variables=list(model.stocks),
                                      check_finite=False)  # fmt: skip
    out = []
    for stock in model.stocks:
        values = result.get(stock)
        finite = np.isfinite(values)
        safe = np.where(finite, values, np.inf)
        run, step = np.unravel_index(int(np.argmin(safe)), safe.shape)
        bad_years = np.flatnonzero(((safe < 0) | ~finite).any(axis=0))
        out.append(StockResult(
            stock, model.variables[stock].units, float(safe[run, step]), int(run),
            int(result.years[step]), int(((safe < 0).any(axis=1)).sum()),
            int((~finite).any(axis=1).sum()),
            int(result.years[bad_years[0]]) if bad_years.size else None,
        ))  # fmt: skip
    # Stocks that fail earliest first: the first to go negative is usually the cause.
    out.sort(key=lambda s: (s.first_bad_year is None, s.first_bad_year or 0))
    return StocksReport(len(table), seed, until, tuple(out))
