"""Calibration: seeded global search, local least-squares refinement, intervals, statistics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import differential_evolution, least_squares
from tqdm.auto import tqdm

from clusterdyn.calibration.objective import Objective
from clusterdyn.calibration.results import (
    CalibrationResult,
    ParameterEstimate,
    _sig,
    series_statistics,
)
from clusterdyn.calibration.runners import make_runner, stderr_notice
from clusterdyn.calibration.spec import CalibrationSpec, load_spec
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import Model, load_model

#: An estimate within this share of its search range from a bound is reported "at bound".
AT_BOUND = 1e-3


def refine(objective: Objective, start: np.ndarray, budget: int, fixed: int | None = None
           ) -> tuple[np.ndarray, float]:
    """Bounded least-squares refinement ('trf') from ``start`` in unit coordinates.

    Parameters
    ----------
    objective : Objective
    start : numpy.ndarray
        Unit coordinates (p,).
    budget : int
        Maximum number of residual evaluations.
    fixed : int, optional
        Index of a parameter held at its value in ``start`` (a profile-likelihood step).

    Returns
    -------
    tuple of (numpy.ndarray, float)
        The refined unit coordinates (p,) and the payoff there.
    """
    free = np.arange(len(start)) != (-1 if fixed is None else fixed)

    def full(v: np.ndarray) -> np.ndarray:
        u = start.copy()
        u[free] = v
        return u

    def jacobian(v: np.ndarray) -> np.ndarray:
        jac = objective.jacobian(full(v), penalised=True)
        # Without a fixed parameter pass the Jacobian as computed: a copy with another memory
        # layout changes the last bits of the QR steps, and the shipped results with them.
        return jac if fixed is None else jac[:, free]

    fit = least_squares(
        lambda v: objective.penalised_residuals(full(v))[0],
        start[free],
        jac=jacobian,
        bounds=(np.zeros(free.sum()), np.ones(free.sum())),
        method="trf",
        x_scale="jac",
        xtol=1e-8,
        ftol=1e-8,
        max_nfev=budget,
    )
    return full(fit.x), float(fit.cost)


def _advance(bar: tqdm) -> Callable[..., None]:
    """A differential-evolution callback that moves ``bar`` on and returns None.

    scipy stops the search when a callback returns True, and ``tqdm.update`` returns True
    whenever it redraws: passing it through would let the redraw timing (terminal, speed,
    whether a bar is shown at all) decide how long the optimiser runs.
    """

    def callback(*_args: object, **_kwargs: object) -> None:
        bar.update(1)

    return callback


def _starts(population: np.ndarray, energies: np.ndarray, count: int) -> list[np.ndarray]:
    """The ``count`` best members of the final population that differ from each other."""
    chosen: list[np.ndarray] = []
    for i in np.argsort(energies, kind="stable"):
        if all(np.max(np.abs(population[i] - c)) > 0.05 for c in chosen):
            chosen.append(population[i])
        if len(chosen) == count:
            break
    return chosen


def _prior_jacobian(objective: Objective, u: np.ndarray, step: float = 1e-7) -> np.ndarray:
    """Central-difference Jacobian of the prior residuals in unit coordinates (k, p)."""
    p = len(u)
    up = np.clip(u + step * np.eye(p), 0.0, 1.0)
    down = np.clip(u - step * np.eye(p), 0.0, 1.0)
    width = (up - down).diagonal()
    return ((objective.prior_residuals(up) - objective.prior_residuals(down))
            / width[:, None]).T


def estimate_intervals(objective: Objective, u: np.ndarray, level: float = 0.95
                       ) -> tuple[list[ParameterEstimate], np.ndarray]:
    """Asymptotic intervals from the Jacobian at the optimum (Gauss-Newton Hessian).

    ``cov = s^2 (J'J)^-1`` with ``J`` the Jacobian of the weighted residuals in parameter
    units and ``s^2 = SSR / (n - p)`` (so the intervals reflect the actual misfit, not the
    nominal sigmas); with priors (:mod:`clusterdyn.calibration.priors`) ``cov = (J'J / s^2 +
    J_prior' J_prior)^-1``, ``s^2`` from the data residuals alone. Intervals use Student's t
    with n - p degrees of freedom and are clipped to the search bounds. A parameter is
    flagged *not identified* when its interval is wider than its whole search range.
    """
    spec = objective.spec
    width = spec.upper - spec.lower
    jac_u = objective.jacobian(u)
    residuals = objective.residuals(u)[0]
    n, p = jac_u.shape
    dof = max(n - p, 1)
    s2 = float(residuals @ residuals) / dof
    # Work in unit coordinates, where the columns of J have comparable scales. Eigenvalues
    # are floored at 1e-10 of the largest: a direction the data do not inform then gets a
    # huge (not the zero of a pseudo-inverse) variance, and the parameters loading on it get
    # intervals wider than their search range, flagged below.
    if spec.penalised:
        # The priors' information is not scaled by the data's residual variance:
        # cov = (J'J / s^2 + J_prior' J_prior)^-1.
        jac_prior = _prior_jacobian(objective, u)
        information = jac_u.T @ jac_u / s2 + jac_prior.T @ jac_prior
        eigenvalues, vectors = np.linalg.eigh(information)
        floored = np.maximum(eigenvalues, eigenvalues.max() * 1e-10)
        cov_u = (vectors / floored) @ vectors.T
    else:  # the computation the shipped results were made with, bit for bit
        information = jac_u.T @ jac_u
        eigenvalues, vectors = np.linalg.eigh(information)
        floored = np.maximum(eigenvalues, eigenvalues.max() * 1e-10)
        cov_u = s2 * (vectors / floored) @ vectors.T
    cov = cov_u * np.outer(width, width)
    stderr = np.sqrt(np.diag(cov))
    correlation = cov / np.outer(stderr, stderr)
    np.fill_diagonal(correlation, 1.0)
    t = stats.t.ppf(0.5 + level / 2, dof)
    theta = objective.to_params(u[None, :])[0]
    estimates = []
    for j, par in enumerate(spec.parameters):
        low = max(theta[j] - t * stderr[j], par.lower)
        high = min(theta[j] + t * stderr[j], par.upper)
        identified = bool(np.isfinite(stderr[j]) and 2 * t * stderr[j] < width[j])
        at_bound = bool(min(u[j], 1 - u[j]) < AT_BOUND)
        estimates.append(ParameterEstimate(par.name, float(theta[j]), float(low), float(high),
                                           float(stderr[j]), par.units, identified, at_bound))
    return estimates, correlation


def calibrate(
    model: Model | None = None,
    spec: CalibrationSpec | None = None,
    *,
    until: int | None = None,
    seed: int = 0,
    quick: bool = False,
    progress: bool = True,
    observations: pd.DataFrame | None = None,
    backend: str = "numba",
    engine: str = "auto",
    notice: Callable[[str], None] | None = stderr_notice,
) -> CalibrationResult:
    """Calibrate the model to the spec's data (default: the salmon model and its FAO data).

    Parameters
    ----------
    model : clusterdyn.sdmodels.Model, optional
        Default: ``load_model("salmon_cluster")``. Parameters the spec does not free keep the
        ``.mdl``'s values (:meth:`clusterdyn.sdmodels.Model.with_mdl_defaults`), whatever the
        model's
        defaults.
    spec : CalibrationSpec, optional
        Default: ``calibration/<model>.toml``.
    until : int, optional
        Fit only the data up to this year; later years are reported as out-of-sample.
    seed : int
        Seed of the global search (same seed, same inputs -> same result).
    quick : bool
        Use the spec's ``[search.quick]`` budget.
    progress : bool
        Show a progress bar.
    observations : DataFrame, optional
        Data indexed by year with the spec's series as columns (default: the spec's ``data``
        file, :meth:`CalibrationSpec.observations`; tests pass synthetic data here).
    backend : {"numba", "numpy"}
        Backend of the vectorised runner (:func:`clusterdyn.sdmodels.vectorized.compile_model`);
        both
        compute the same model, to rounding (see ``benchmarks/calibration.py`` for times).
    engine : {"auto", "compiled", "pysd"}
        ``"compiled"``: the vectorised runner, or an error if it cannot run the model;
        ``"pysd"``: one PySD run per parameter set (slow, for models the compiler refuses);
        ``"auto"``: compiled, else PySD with a one-line notice
        (:func:`clusterdyn.calibration.runners.make_runner`).
    notice : callable, optional
        Receives the notice of an ``auto`` fallback (default: printed on stderr).

    Returns
    -------
    CalibrationResult

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If the fitted years hold no more observations than free parameters.
    clusterdyn.calibration.runners.EngineError
        ``engine="compiled"`` for a model the compiled engine refuses.

    Warns
    -----
    clusterdyn.calibration.objective.SparseDataWarning
        Below two observations per free parameter.
    """
    # Parameters the spec does not free keep the .mdl's values, never an earlier fit's.
    model = (model or load_model("salmon_cluster")).with_mdl_defaults()
    spec = spec or load_spec(model)
    last = spec.last_year if until is None else int(until)
    if not spec.first_year < last <= spec.last_year:
        raise ModelInputError(f"until = {until}: expected a year after {spec.first_year} "
                              f"and no later than {spec.last_year}")
    observations = spec.observations() if observations is None else observations
    runner = make_runner(model, engine, backend, notice, "clusterdyn calibrate")
    objective = Objective(spec, runner, observations, last)
    settings = spec.quick if quick else spec.search
    p = len(spec.parameters)
    bar = tqdm(total=settings.maxiter, desc="calibrating (global search)", unit="gen",
               disable=not progress, leave=False)
    search = differential_evolution(
        objective.for_differential_evolution,
        bounds=[(0.0, 1.0)] * p,
        popsize=settings.popsize,
        maxiter=settings.maxiter,
        tol=settings.tol,
        mutation=settings.mutation,
        recombination=settings.recombination,
        rng=np.random.default_rng(seed),
        init="latinhypercube",
        updating="deferred",
        vectorized=True,
        polish=False,
        callback=_advance(bar),
    )
    bar.close()
    best_u, best_cost = search.x, float(search.fun)
    starts = _starts(search.population, search.population_energies, settings.starts)
    for start in tqdm(starts, desc="calibrating (local refinement)", disable=not progress,
                      leave=False):
        u, cost = refine(objective, start, 15 if quick else 60)
        if cost < best_cost:
            best_u, best_cost = u, cost
    estimates, correlation = estimate_intervals(objective, best_u)
    # The estimates are shipped at SIGNIFICANT_DIGITS and every later run uses those values:
    # the objective, the fit statistics and the quality checks describe them, not the optimum's
    # last digits (a 4-digit rounding moved the largest production error by 0.3 points).
    shipped = np.clip([_sig(e.value) for e in estimates], spec.lower, spec.upper)
    estimates = [replace(e, value=float(v)) for e, v in zip(estimates, shipped, strict=True)]
    best_cost = float(objective.penalised_payoff(objective.to_unit(shipped)[None, :])[0])
    params = {e.name: e.value for e in estimates}
    full = runner.run({k: np.array([v]) for k, v in params.items()},
                      variables=sorted({t.variable for t in spec.targets}))
    fit, holdout = series_statistics(spec, observations, full.to_frame(0), last)
    return CalibrationResult(
        model=model, spec=spec, seed=seed, quick=quick, fit_last_year=last,
        objective=best_cost, n_observations=objective.n_observations,
        estimates=tuple(estimates), correlation=correlation, fit=fit, holdout=holdout,
        evaluations=objective.evaluations,
    )
