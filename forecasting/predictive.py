"""The calibrated model's forecast: point, and posterior predictive with observation error.

The predictive distribution of a future observation ``y_t`` of a target (on the calibration's
transform ``T``) is the one the calibration's likelihood implies:

``y_t = T(model_t(theta)) + s * sigma_t * e``,  ``theta`` ~ the MCMC posterior,  ``e`` ~ N(0, 1),

with ``sigma_t`` the spec's error scale of the year (``sigma / sqrt(weight)``) and
``s^2 = SSR / (n - p)`` the residual variance at the optimum, which also scales the
likelihood the posterior was sampled from (:mod:`clusterdyn.calibration.posterior`). Parameter
uncertainty alone (the draws without ``e``) is a band for the model's trajectory, not for the
data: its coverage of observations is meant to be low.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clusterdyn.calibration.results import CalibrationResult, ResultsFile
from clusterdyn.calibration.spec import CalibrationSpec, Target
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import Model
from clusterdyn.sdmodels.vectorized import compile_model

#: Observation-error draws added to every posterior draw (more predictive draws for the tails
#: of the 95% interval at the cost of one random number each).
NOISE_PER_DRAW = 4


@dataclass(frozen=True)
class FittedCalibration:
    """What a forecast needs of a calibration, from a results file or a fresh fit.

    Attributes
    ----------
    model : clusterdyn.sdmodels.Model
        The model with the ``.mdl``'s defaults (parameters the spec does not free keep them).
    spec : CalibrationSpec
    last_year : int
        Last fitted year: the forecast origin.
    objective : float
        Payoff at the estimates (``0.5 * SSR`` of the weighted residuals).
    n_observations : int
    estimates : pandas.DataFrame
        ``value``, ``lower_95``, ``upper_95`` per free parameter.
    source : str
        The results file, or how the calibration was made.
    """

    model: Model
    spec: CalibrationSpec
    last_year: int
    objective: float
    n_observations: int
    estimates: pd.DataFrame
    source: str

    @classmethod
    def from_results(cls, results: ResultsFile) -> FittedCalibration:
        """From a results file read by :func:`clusterdyn.calibration.results.read_results`."""
        return cls(results.model, results.spec, results.fit_last_year, results.objective,
                   int(results.data["calibration"]["n_observations"]), results.estimates,
                   str(results.path))

    @classmethod
    def from_result(cls, result: CalibrationResult) -> FittedCalibration:
        """From :func:`clusterdyn.calibration.calibrate`'s result."""
        estimates = result.intervals[["value", "lower_95", "upper_95"]].astype(float)
        return cls(result.model, result.spec, result.fit_last_year, result.objective,
                   result.n_observations, estimates,
                   f"calibrated to {result.spec.first_year}-{result.fit_last_year}, seed "
                   f"{result.seed}" + (" (quick)" if result.quick else ""))

    @property
    def residual_scale(self) -> float:
        """``s = sqrt(SSR / (n - p))``: the fit's residual scale in units of ``sigma``.

        From the stored objective, which with priors includes them: use
        :func:`data_residual_scale` then.
        """
        dof = max(self.n_observations - len(self.spec.parameters), 1)
        return float(np.sqrt(2.0 * self.objective / dof))


def data_residual_scale(fitted: FittedCalibration, observations: pd.DataFrame) -> float:
    """``s`` from the data residuals alone at the estimates (what the posterior's likelihood
    uses); equal to :attr:`FittedCalibration.residual_scale` when the spec has no priors."""
    if not fitted.spec.penalised:
        return fitted.residual_scale
    from clusterdyn.calibration.objective import Objective

    objective = Objective(fitted.spec, compile_model(fitted.model), observations,
                          fitted.last_year)
    values = fitted.estimates.loc[list(fitted.spec.names), "value"].to_numpy(dtype=float)
    payoff = float(objective.payoff(objective.to_unit(values)[None, :])[0])
    dof = max(objective.n_observations - len(fitted.spec.parameters), 1)
    return float(np.sqrt(2.0 * payoff / dof))


def observation_scale(target: Target, years: np.ndarray) -> np.ndarray:
    """The spec's error scale of ``target`` in each year: ``sigma_t / sqrt(weight)``.

    A target with weight 0 (reported, not fitted) keeps its ``sigma``.
    """
    weight = target.weight if target.weight > 0 else 1.0
    return np.array([target.sigma_for(int(y)) for y in years]) / np.sqrt(weight)


def transform(target: Target, values: np.ndarray) -> np.ndarray:
    """Values on the target's calibration transform."""
    values = np.asarray(values, float)
    return np.log(values) if target.transform == "log" else values


def untransform(target: Target, values: np.ndarray) -> np.ndarray:
    """Back from the transform to the variable's units."""
    values = np.asarray(values, float)
    return np.exp(values) if target.transform == "log" else values


@dataclass(frozen=True)
class ModelForecast:
    """The model's forecast of one target.

    Attributes
    ----------
    target : Target
    years : numpy.ndarray
    point : numpy.ndarray
        The run at the calibrated estimates, in the variable's units.
    sample : numpy.ndarray
        Posterior predictive draws on the transform, shape ``(n_years, n_draws)``.
    """

    target: Target
    years: np.ndarray
    point: np.ndarray
    sample: np.ndarray


def check_draws(draws: pd.DataFrame, spec: CalibrationSpec, where: str) -> np.ndarray:
    """The draws of the spec's free parameters as an array, checked.

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If a free parameter is missing, a value is not finite or lies outside the spec's
        bounds (draws of another calibration), or there are fewer than two draws.
    """
    missing = [name for name in spec.names if name not in draws.columns]
    if missing:
        raise ModelInputError(f"{where}: no column for the free parameter(s) {missing}")
    values = draws[list(spec.names)].to_numpy(dtype=float)
    if len(values) < 2:
        raise ModelInputError(f"{where}: {len(values)} draw(s), expected at least 2")
    if not np.isfinite(values).all():
        raise ModelInputError(f"{where}: holds a missing or non-finite value")
    outside = (values < spec.lower) | (values > spec.upper)
    if outside.any():
        name = spec.names[int(np.nonzero(outside.any(axis=0))[0][0])]
        raise ModelInputError(f"{where}: draws of {name!r} fall outside the spec's bounds: "
                              "they are not draws of this calibration")
    return values


def model_forecasts(fitted: FittedCalibration, draws: pd.DataFrame, years: np.ndarray, *,
                    seed: int, where: str = "posterior draws",
                    observations: pd.DataFrame | None = None) -> list[ModelForecast]:
    """Point forecast and posterior predictive sample of every target in ``years``.

    Parameters
    ----------
    fitted : FittedCalibration
    draws : pandas.DataFrame
        Posterior draws, one column per free parameter (other columns are ignored).
    years : numpy.ndarray
        Forecast years, after ``fitted.last_year``.
    seed : int
        Seed of the observation-error draws.
    where : str
        Where the draws come from, named in errors.
    observations : pandas.DataFrame, optional
        The fitted data (default: the spec's); with priors ``s`` is computed from them.

    Returns
    -------
    list of ModelForecast
        One per target of the spec, in the spec's order.
    """
    values = check_draws(draws, fitted.spec, where)
    names = list(fitted.spec.names)
    variables = list(dict.fromkeys(t.variable for t in fitted.spec.targets))
    runner = compile_model(fitted.model)
    until = int(years.max())
    sampled = runner.run({n: values[:, j] for j, n in enumerate(names)}, until=until,
                         variables=variables)
    point = runner.run({n: np.array([float(fitted.estimates.loc[n, "value"])]) for n in names},
                       until=until, variables=variables)
    rows = np.searchsorted(sampled.years, years)
    rng = np.random.default_rng(seed)
    s = data_residual_scale(fitted, fitted.spec.observations() if observations is None
                            else observations)
    out = []
    for target in fitted.spec.targets:
        trajectories = transform(target, sampled.get(target.variable)[:, rows]).T
        repeated = np.repeat(trajectories, NOISE_PER_DRAW, axis=1)
        noise = rng.standard_normal(repeated.shape)
        sample = repeated + s * observation_scale(target, years)[:, None] * noise
        out.append(ModelForecast(target, np.asarray(years), point.get(target.variable)[0, rows],
                                 sample))
    return out
