"""Weighted residuals of model runs against the data, for many parameter sets at once."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from clusterdyn.calibration.priors import prior_residuals
from clusterdyn.calibration.spec import CalibrationSpec, Target
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.vectorized import VectorizedModel

#: Residual given to a run that produced NaN, infinity or a non-positive value under a log
#: transform: large enough to lose against any finite fit, finite so optimisers keep working.
FAILED_RUN_RESIDUAL = 1e3
_TINY = 1e-12
#: Fewer fitted observations per free parameter than this draws a :class:`SparseDataWarning`.
WARN_OBSERVATIONS_PER_PARAMETER = 2


class SparseDataWarning(UserWarning):
    """The fitted data barely outnumber the free parameters (see :func:`check_observations`)."""


def check_observations(n_observations: int, n_parameters: int, years: tuple[int, int],
                       n_priors: int = 0) -> None:
    """Refuse a fit the data cannot determine, and warn about one they barely determine.

    Rule: a fit needs more observations ``n`` than free parameters ``p`` (``n >= p + 1``):
    with ``n <= p`` the optimum can interpolate the data, the residual variance
    ``s^2 = SSR / (n - p)`` behind the intervals is undefined and every interval would be
    spurious. It draws a warning when ``n < 2 p``, i.e. fewer residual degrees of freedom
    ``n - p`` than parameters: the fit runs, but its intervals rest on a handful of degrees of
    freedom and overfitting is likely. A normal or lognormal prior adds one residual to the fit
    (:mod:`clusterdyn.calibration.priors`), so it counts as one observation for the warning, not
    for the
    refusal (``s^2`` comes from the data alone). (The shipped fits have 45 and 29 observations
    and 6 priors for 16 parameters: 3.2 and 2.2 per parameter, and pass.)

    Parameters
    ----------
    n_observations : int
        Weighted observations in the fitted years.
    n_parameters : int
        Free parameters of the spec.
    years : tuple of int
        First and last fitted year, named in the messages.
    n_priors : int
        Free parameters with a normal or lognormal prior (each adds one residual).

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If ``n_observations <= n_parameters``.

    Warns
    -----
    SparseDataWarning
        If ``n_observations + n_priors < 2 * n_parameters``.
    """
    first, last = years
    counted = (f"the data {first}-{last} hold {n_observations} "
               f"observation{'' if n_observations == 1 else 's'} for "
               f"{n_parameters} free parameter{'' if n_parameters == 1 else 's'}")
    if n_observations <= n_parameters:
        raise ModelInputError(f"{counted}: a fit needs at least {n_parameters + 1} "
                              f"(more observations than parameters); fit more years or free "
                              f"fewer parameters in the spec")
    if n_observations + n_priors < WARN_OBSERVATIONS_PER_PARAMETER * n_parameters:
        priors = f" and {n_priors} prior{'' if n_priors == 1 else 's'}" if n_priors else ""
        # stacklevel 3: the caller of Objective (calibrate, profile, posterior), not this file.
        warnings.warn(f"{counted}{priors}, fewer than {WARN_OBSERVATIONS_PER_PARAMETER} per "
                      "parameter: "
                      f"the fit is poorly determined and its intervals unreliable",
                      SparseDataWarning, stacklevel=3)


@dataclass(frozen=True)
class TargetData:
    """One target's observations on the fitted years, transformed, with their error scales."""

    target: Target
    years: np.ndarray
    observed: np.ndarray
    scale: np.ndarray

    def transform(self, values: np.ndarray) -> np.ndarray:
        if self.target.transform == "log":
            return np.log(np.maximum(values, _TINY))
        return values


def target_data(spec: CalibrationSpec, observations: pd.DataFrame, last_year: int
                ) -> list[TargetData]:
    """Observations of every weighted target from its first year to ``last_year``."""
    out = []
    for target in spec.targets:
        if target.weight == 0:
            continue
        series = observations[target.series]
        years = [
            y for y in series.index
            if target.first_year <= y <= last_year and y not in target.exclude_years
            and spec.first_year <= y and pd.notna(series[y])
        ]
        if not years:
            continue
        values = series.loc[years].to_numpy(dtype=float)
        scale = np.array([target.sigma_for(y) for y in years]) / np.sqrt(target.weight)
        data = TargetData(target, np.array(years), values, scale)
        out.append(TargetData(target, data.years, data.transform(values), scale))
    return out


class Objective:
    """Residuals and payoff of parameter sets, computed with the vectorised runner.

    Parameters are given in unit coordinates ``u`` in [0, 1]^p, mapped linearly onto the spec's
    bounds, which keeps the optimisers' steps comparable across parameters.
    """

    def __init__(self, spec: CalibrationSpec, runner: VectorizedModel,
                 observations: pd.DataFrame, last_year: int, dt: float | None = None) -> None:
        self.spec = spec
        self.runner = runner
        self.dt = dt
        self.targets = target_data(spec, observations, last_year)
        self.last_year = last_year
        self.variables = sorted({t.target.variable for t in self.targets})
        first = int(runner.model.initial_time)
        self._columns = [(self.variables.index(t.target.variable), t.years - first)
                         for t in self.targets]
        self.n_observations = sum(len(t.years) for t in self.targets)
        # Here rather than in calibrate(): every fit (calibration, profile, posterior) of the
        # Python API and the command line passes through this constructor.
        check_observations(self.n_observations, len(spec.parameters),
                           (spec.first_year, last_year),
                           sum(p is not None and p.penalises for p in spec.priors))
        self.evaluations = 0

    def to_params(self, u: np.ndarray) -> np.ndarray:
        """Unit coordinates (N, p) -> parameter values (N, p)."""
        return self.spec.lower + np.clip(u, 0.0, 1.0) * (self.spec.upper - self.spec.lower)

    def to_unit(self, theta: np.ndarray) -> np.ndarray:
        return (np.asarray(theta) - self.spec.lower) / (self.spec.upper - self.spec.lower)

    def residuals(self, u: np.ndarray) -> np.ndarray:
        """Weighted residuals, shape (N, n_observations), of the parameter sets ``u`` (N, p)."""
        u = np.atleast_2d(u)
        theta = self.to_params(u)
        params = {name: theta[:, j] for j, name in enumerate(self.spec.names)}
        result = self.runner.run(params, until=self.last_year, dt=self.dt,
                                 variables=self.variables, check_finite=False)
        self.evaluations += len(u)
        parts = []
        for data, (column, rows) in zip(self.targets, self._columns, strict=True):
            simulated = result.values[:, rows, column]
            bad = ~np.isfinite(simulated) | ((simulated <= 0) & (data.target.transform == "log"))
            r = (data.transform(simulated) - data.observed) / data.scale
            parts.append(np.where(bad, FAILED_RUN_RESIDUAL, r))
        residuals = np.concatenate(parts, axis=1)
        return np.where(np.isfinite(residuals), residuals, FAILED_RUN_RESIDUAL)

    def payoff(self, u: np.ndarray) -> np.ndarray:
        """Half the sum of squared weighted residuals of each parameter set, shape (N,).

        The data's part only; :meth:`penalised_payoff` adds the priors.
        """
        return 0.5 * np.sum(self.residuals(u) ** 2, axis=1)

    def prior_residuals(self, u: np.ndarray) -> np.ndarray:
        """Residuals of the spec's normal and lognormal priors, shape (N, k); k = 0 without
        priors (:mod:`clusterdyn.calibration.priors`)."""
        return prior_residuals(self.spec.priors, self.to_params(np.atleast_2d(u)))

    def prior_payoff(self, u: np.ndarray) -> np.ndarray:
        """Half the sum of squared prior residuals, shape (N,): the negative log prior."""
        return 0.5 * np.sum(self.prior_residuals(u) ** 2, axis=1)

    def penalised_residuals(self, u: np.ndarray) -> np.ndarray:
        """The data's weighted residuals followed by the prior residuals, (N, n + k)."""
        data = self.residuals(u)
        if not self.spec.penalised:
            return data
        return np.concatenate([data, self.prior_residuals(u)], axis=1)

    def penalised_payoff(self, u: np.ndarray) -> np.ndarray:
        """What a fit minimises: the data's payoff plus the priors' (equal to :meth:`payoff`
        without priors)."""
        if not self.spec.penalised:
            return self.payoff(u)
        return self.payoff(u) + self.prior_payoff(u)

    def for_differential_evolution(self, x: np.ndarray) -> np.ndarray:
        """Penalised payoff in scipy's vectorised layout: ``x`` has shape (p, S)."""
        return self.penalised_payoff(np.asarray(x).T)

    def jacobian(self, u: np.ndarray, step: float = 1e-5, penalised: bool = False
                 ) -> np.ndarray:
        """Central-difference Jacobian of the residuals at ``u`` (p,), in one batch of runs.

        Near a bound the difference is one-sided, so no run leaves [0, 1]. With
        ``penalised``, of :meth:`penalised_residuals` (the prior rows follow the data's).
        """
        p = len(u)
        up = np.clip(u + step * np.eye(p), 0.0, 1.0)
        down = np.clip(u - step * np.eye(p), 0.0, 1.0)
        both = np.vstack([up, down])
        r = self.penalised_residuals(both) if penalised else self.residuals(both)
        width = (up - down).diagonal()
        return ((r[:p] - r[p:]) / width[:, None]).T
