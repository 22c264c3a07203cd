"""Objective values of many policy schedules over the calibration's posterior draws.

Every schedule is run once per posterior draw through the compiled runner
(:mod:`clusterdyn.sdmodels.vectorized`), so a population of ``m`` schedules and ``R`` draws is one
call of
``m x R`` runs. The draws are a seeded subsample of the shipped MCMC draws
(``calibration/results/salmon_cluster_posterior.csv``), the same for every schedule (common
random numbers: differences between schedules are not blurred by different draws).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from clusterdyn.policy.schedule import cost_coefficients, schedule_parameters
from clusterdyn.scenarios.costs import PolicyCosts, load_costs
from clusterdyn.scenarios.economics import Economics, npv_of_exports
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import Model
from clusterdyn.sdmodels.vectorized import VectorizedModel

#: Objectives: name -> (description, unit).
OBJECTIVES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "npv_exports": ("NPV of export value", "million constant 2003 US$"),
    "npv_net": ("NPV of export value minus NPV of policy cost", "million constant 2003 US$"),
    "production": ("production in the last year", "t/Year"),
    "social_capital": ("social capital in the last year", "dmnl"),
})
#: Robust summaries over the posterior draws.
ROBUST = ("mean", "p10")


def check_choice(kind: str, value: object, valid: tuple[str, ...] | Mapping[str, object]
                 ) -> str:
    """``value`` if it is one of ``valid``, else a one-line ModelInputError listing them."""
    if value not in valid:
        raise ModelInputError(f"{kind} {value!r} is unknown: expected one of "
                              f"{', '.join(map(repr, valid))}")
    return str(value)


def posterior_draws(path: str, n: int, seed: int) -> pd.DataFrame:
    """``n`` distinct MCMC draws (seeded) from a posterior CSV, without the log posterior."""
    try:
        draws = pd.read_csv(path)
    except FileNotFoundError:
        raise ModelInputError(f"{path}: no posterior draws (write them with "
                              f"'clusterdyn posterior')") from None
    draws = draws.drop(columns=[c for c in draws.columns if c == "log_posterior"])
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(draws):
        raise ModelInputError(f"draws = {n!r}: expected a whole number from 1 to {len(draws)}")
    rows = np.sort(np.random.default_rng(seed).choice(len(draws), size=n, replace=False))
    return draws.iloc[rows].reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class Evaluator:
    """Evaluates schedules: objective per draw and discounted cost.

    Attributes
    ----------
    runner : VectorizedModel
        The compiled model (its baseline is the shipped calibration).
    draws : pandas.DataFrame
        Posterior draws, one row per draw (calibrated parameters); an empty frame means the
        calibrated point estimate only.
    economics : Economics
    starts : (float, float)
        Calendar start of the maturing and globalisation stages.
    objective : str
        A key of :data:`OBJECTIVES`.
    costs : PolicyCosts
    """

    runner: VectorizedModel
    draws: pd.DataFrame
    economics: Economics
    starts: tuple[float, float]
    objective: str = "npv_exports"
    costs: PolicyCosts = field(default_factory=load_costs)
    extra: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("objective", self.objective, OBJECTIVES)

    @property
    def model(self) -> Model:
        return self.runner.model

    @property
    def n_draws(self) -> int:
        return max(len(self.draws), 1)

    def cost_vector(self) -> np.ndarray:
        """Coefficients of the schedule's discounted cost (see :func:`cost_coefficients`)."""
        return cost_coefficients(self.costs, self.starts, self.economics)

    def cost(self, x: np.ndarray) -> np.ndarray:
        """NPV of the policy cost of schedules ``x`` (shape ``(m, 27)``)."""
        return np.atleast_2d(x) @ self.cost_vector()

    def values(self, x: np.ndarray) -> np.ndarray:
        """Objective of each schedule under each draw, shape ``(m, R)``."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        m, r = len(x), self.n_draws
        params: dict[str, float | np.ndarray] = dict(self.extra)
        for name, column in schedule_parameters(x, self.starts).items():
            params[name] = np.repeat(column, r)
        for name in self.draws.columns:
            params[name] = np.tile(self.draws[name].to_numpy(dtype=float), m)
        if len(self.draws) == 0 and m == 1:  # one run: give the runner arrays all the same
            params = {k: np.atleast_1d(v) for k, v in params.items()}
        until = self.economics.until
        result = self.runner.run(params, until=until,
                                 variables=["Export value", "Production", "Social capital"])
        if self.objective in ("npv_exports", "npv_net"):
            out = npv_of_exports(result.get("Export value"), result.years, self.economics)
            if self.objective == "npv_net":
                out = out - np.repeat(self.cost(x), r)
        elif self.objective == "production":
            out = result.get("Production")[:, -1]
        else:
            out = result.get("Social capital")[:, -1]
        return np.asarray(out, dtype=float).reshape(m, r)

    def robust(self, values: np.ndarray, how: str) -> np.ndarray:
        """Summary over draws of ``values`` (shape ``(m, R)``): mean or 10th percentile."""
        check_choice("robust summary", how, ROBUST)
        if how == "mean":
            return values.mean(axis=1)
        return np.quantile(values, 0.1, axis=1, method="linear")


__all__ = ["OBJECTIVES", "ROBUST", "Evaluator", "check_choice", "posterior_draws"]
