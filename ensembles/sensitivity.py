"""Global sensitivity of the 2003 KPIs: Sobol' (Saltelli sampling) and Morris, with SALib.

The factors are the calibration's free parameters and the 27 lever intensities
(``<Lever> stage k intensity``); the SALib ``problem`` is built from the model's typed
parameter declarations (:attr:`clusterdyn.sdmodels.Model.parameters`): names and declared ranges,
or,
with ``ranges="search"``, the calibration's search ranges for the free parameters. Every other
parameter keeps its calibrated value (or the ``.mdl``'s).

The KPIs (:data:`KPIS`) are read from runs to 2003, as in :mod:`clusterdyn.scenarios.kpis`:
production,
export value, world market share and social capital in 2003, and the cumulative export value
1978-2003. Production and exports span many orders of magnitude over the factor box, so
variance-based indices of their raw values are dominated by a few explosive runs;
``log_kpis=True`` analyses ``log10(max(KPI, floor))`` for those KPIs instead.

>>> from clusterdyn.sdmodels import load_model
>>> result = sobol_indices(load_model(), n=256, seed=0)
>>> result.indices.sort_values("ST", ascending=False).head()
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from clusterdyn.ensembles.runner import DEFAULT_CHUNK, check_seed, plan_ensemble, run_ensemble
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import Model
from clusterdyn.sdmodels.vectorized import EnsembleResult

LEVER_PATTERN = re.compile(r"^(?P<lever>.+) stage (?P<stage>[123]) intensity$")
KPI_YEAR = 2003
#: Largest change of an index between N and 2N base samples still called converged.
CONVERGENCE_TOLERANCE = 0.05
RANGES = ("declared", "search")


@dataclass(frozen=True)
class KPI:
    """A scalar output of a run.

    Attributes
    ----------
    name : str
    variable : str
        The model variable it is read from.
    how : str
        ``"final"`` (the value in 2003) or ``"sum"`` (sum of the yearly values 1978-2003).
    floor : float or None
        With ``log_kpis``, the KPI is analysed as ``log10(max(value, floor))``; None keeps it.
    """

    name: str
    variable: str
    how: str
    floor: float | None


KPIS: tuple[KPI, ...] = (
    KPI("Production 2003", "Production", "final", 1.0),
    KPI("Export value 2003", "Export value", "final", 1e-3),
    KPI("Cumulative export value 1978-2003", "Export value", "sum", 1e-3),
    KPI("World market share 2003", "World market share", "final", None),
    KPI("Social capital 2003", "Social capital", "final", None),
)


def kpi_values(result: EnsembleResult, log_kpis: bool = False) -> dict[str, np.ndarray]:
    """The :data:`KPIS` of every run of ``result`` (runs to 2003), by KPI name.

    With ``log_kpis``, the KPIs that have a floor are ``log10(max(value, floor))`` and named
    ``"log10(<name>)"``.
    """
    out = {}
    for kpi in KPIS:
        series = result.get(kpi.variable)
        value = series[:, -1] if kpi.how == "final" else series.sum(axis=1)
        name = kpi.name
        if log_kpis and kpi.floor is not None:
            value = np.log10(np.maximum(value, kpi.floor))
            name = f"log10({kpi.name})"
        out[name] = np.asarray(value, dtype=float)
    return out


def factor_names(model: Model) -> list[str]:
    """The calibration's free parameters, then the lever intensities (in the model's order)."""
    from clusterdyn.calibration.spec import load_spec

    free = load_spec(model).names
    levers = [n for n in model.parameters if LEVER_PATTERN.match(n) and n not in free]
    return free + levers


def group_of(name: str) -> str:
    """``"lever"`` for a lever intensity, ``"calibrated"`` otherwise."""
    return "lever" if LEVER_PATTERN.match(name) else "calibrated"


def build_problem(model: Model, names: Iterable[str] | None = None, ranges: str = "declared"
                  ) -> dict[str, Any]:
    """The SALib problem of ``names`` from the model's parameter declarations.

    Parameters
    ----------
    model : Model
    names : iterable of str, optional
        Factors (default: :func:`factor_names`).
    ranges : {"declared", "search"}
        Bounds: the declared ranges, or the calibration's search ranges where it has one.

    Returns
    -------
    dict
        ``num_vars``, ``names``, ``bounds``, and ``units`` (ignored by SALib).
    """
    if ranges not in RANGES:
        raise ModelInputError(f"ranges = {ranges!r}: expected one of {RANGES}")
    names = list(names) if names is not None else factor_names(model)
    search: dict[str, tuple[float, float]] = {}
    if ranges == "search":
        from clusterdyn.calibration.spec import load_spec

        search = {p.name: (p.lower, p.upper) for p in load_spec(model).parameters}
    bounds = []
    for name in names:
        if name not in model.parameters:
            model.validate_params({name: 0.0})  # raises the model's message
        declared = model.parameters[name]
        bounds.append(list(search.get(name, (declared.lower, declared.upper))))
    return {"num_vars": len(names), "names": names, "bounds": bounds,
            "units": [model.parameters[n].units for n in names]}


def _simulate(model: Model, problem: dict[str, Any], x: np.ndarray, base: Mapping[str, float],
              log_kpis: bool, run_options: Mapping[str, Any]) -> dict[str, np.ndarray]:
    samples = pd.DataFrame(x, columns=problem["names"])
    variables = list(dict.fromkeys(k.variable for k in KPIS))
    plan = plan_ensemble(model, samples, base=base, until=KPI_YEAR, variables=variables)
    return kpi_values(run_ensemble(plan, **run_options), log_kpis)


def _calibrated(model: Model) -> dict[str, float]:
    from clusterdyn.calibration.shipped import calibrated_parameters

    try:
        return calibrated_parameters(model.name)
    except FileNotFoundError:
        return {}


@dataclass(frozen=True)
class SobolResult:
    """Sobol' indices of the KPIs.

    Attributes
    ----------
    indices : pandas.DataFrame
        One row per KPI and factor: ``kpi, parameter, group, S1, S1_conf, ST, ST_conf`` at
        ``n_base`` base samples (``*_conf``: half-width of the bootstrap 95% interval).
    convergence : pandas.DataFrame
        Per KPI, the largest absolute change of S1 and ST from ``n_base // 2`` to ``n_base``
        base samples, and whether both are within :data:`CONVERGENCE_TOLERANCE`.
    n_base, runs : int
        Base samples and model runs (``n_base * (factors + 2)``).
    problem : dict
        The SALib problem.
    """

    indices: pd.DataFrame
    convergence: pd.DataFrame
    n_base: int
    runs: int
    problem: dict[str, Any]


def _sobol_table(problem: dict[str, Any], y: np.ndarray, resamples: int, seed: int
                 ) -> dict[str, np.ndarray]:
    if np.ptp(y) == 0:  # a constant KPI has no variance to apportion
        nan = np.full(problem["num_vars"], np.nan)
        return {"S1": nan, "S1_conf": nan, "ST": nan, "ST_conf": nan}
    # A Generator, not the int: SALib 1.6 tests ``if seed:``, so seed 0 would not seed.
    result = sobol_analyze.analyze(problem, y, calc_second_order=False,
                                   num_resamples=resamples, conf_level=0.95,
                                   seed=np.random.default_rng(seed))
    return {k: np.asarray(result[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}


def sobol_indices(model: Model, n: int, *, seed: int, ranges: str = "declared",
                  log_kpis: bool = False, resamples: int = 100,
                  chunk_size: int = DEFAULT_CHUNK, client: Any = None,
                  progress: bool = False) -> SobolResult:
    """First-order and total Sobol' indices of the KPIs, with a convergence check.

    The Saltelli sample of ``2 n`` base points is simulated once; since its first
    ``n * (D + 2)`` rows are the sample of ``n`` base points (same scrambled Sobol' sequence),
    the indices at ``n`` come from those rows and the reported ones from all ``2 n``.

    Parameters
    ----------
    model : Model
    n : int
        Base samples of the first estimate, a power of 2 (at least 2).
    seed : int
        Seed of the scrambled Sobol' sequence and of the bootstrap.
    ranges : {"declared", "search"}
        See :func:`build_problem`.
    log_kpis : bool
        Analyse log10 of production and exports (see the module notes).
    resamples : int
        Bootstrap resamples of the confidence intervals.
    chunk_size, client, progress
        As in :func:`clusterdyn.ensembles.runner.run_ensemble`.

    Returns
    -------
    SobolResult
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2 or n & (n - 1):
        raise ModelInputError(f"n = {n!r}: expected a power of 2 of at least 2 (Sobol' "
                              "sequences balance only at powers of 2)")
    seed = check_seed(seed)
    problem = build_problem(model, ranges=ranges)
    x = sobol_sample.sample(problem, 2 * n, calc_second_order=False, seed=seed)
    run_options = {"chunk_size": chunk_size, "client": client, "progress": progress}
    values = _simulate(model, problem, x, _calibrated(model), log_kpis, run_options)
    half = n * (problem["num_vars"] + 2)
    rows, checks = [], []
    for kpi, y in values.items():
        final = _sobol_table(problem, y, resamples, seed)
        first = _sobol_table(problem, y[:half], resamples, seed)
        rows.append(pd.DataFrame({"kpi": kpi, "parameter": problem["names"],
                                  "group": [group_of(p) for p in problem["names"]], **final}))
        change = {k: float(np.nanmax(np.abs(final[k] - first[k]), initial=0.0))
                  for k in ("S1", "ST")}
        checks.append({"kpi": kpi, "n_first": n, "n_final": 2 * n,
                       "max_change_S1": change["S1"], "max_change_ST": change["ST"],
                       "max_ST_conf": float(np.nanmax(final["ST_conf"], initial=0.0)),
                       "converged": max(change.values()) <= CONVERGENCE_TOLERANCE})
    return SobolResult(pd.concat(rows, ignore_index=True), pd.DataFrame(checks), 2 * n, len(x),
                       problem)


@dataclass(frozen=True)
class MorrisResult:
    """Morris elementary-effect statistics of the KPIs.

    Attributes
    ----------
    indices : pandas.DataFrame
        One row per KPI and factor: ``kpi, parameter, group, mu, mu_star, mu_star_conf,
        sigma`` (effects per unit of the factor's range, i.e. of the factor scaled to [0, 1]).
    trajectories, levels, runs : int
    problem : dict
    """

    indices: pd.DataFrame
    trajectories: int
    levels: int
    runs: int
    problem: dict[str, Any]


def morris_indices(model: Model, r: int, *, seed: int, levels: int = 4,
                   ranges: str = "declared", log_kpis: bool = False, resamples: int = 100,
                   chunk_size: int = DEFAULT_CHUNK, client: Any = None,
                   progress: bool = False) -> MorrisResult:
    """Morris screening of the KPIs: ``r`` trajectories of ``factors + 1`` runs each.

    Parameters
    ----------
    model : Model
    r : int
        Trajectories (at least 2).
    seed : int
        Seed of the trajectories and of the bootstrap of ``mu_star_conf``.
    levels : int
        Grid levels per factor (even, at least 2).
    ranges, log_kpis, resamples, chunk_size, client, progress
        As in :func:`sobol_indices`.

    Returns
    -------
    MorrisResult
    """
    if isinstance(r, bool) or not isinstance(r, int) or r < 2:
        raise ModelInputError(f"r = {r!r}: expected at least 2 trajectories")
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2 or levels % 2:
        raise ModelInputError(f"levels = {levels!r}: expected an even number of at least 2")
    seed = check_seed(seed)
    problem = build_problem(model, ranges=ranges)
    x = morris_sample.sample(problem, r, num_levels=levels, seed=seed)
    run_options = {"chunk_size": chunk_size, "client": client, "progress": progress}
    values = _simulate(model, problem, x, _calibrated(model), log_kpis, run_options)
    rows = []
    for kpi, y in values.items():
        result = morris_analyze.analyze(problem, x, y, num_resamples=resamples,
                                        conf_level=0.95, num_levels=levels,
                                        seed=np.random.default_rng(seed))
        rows.append(pd.DataFrame({
            "kpi": kpi, "parameter": problem["names"],
            "group": [group_of(p) for p in problem["names"]],
            **{k: np.asarray(result[k], dtype=float)
               for k in ("mu", "mu_star", "mu_star_conf", "sigma")},
        }))
    return MorrisResult(pd.concat(rows, ignore_index=True), r, levels, len(x), problem)


def problem_frame(problem: Mapping[str, Any]) -> pd.DataFrame:
    """The factors of a problem as a table: parameter, group, lower, upper, units."""
    return pd.DataFrame({
        "parameter": problem["names"],
        "group": [group_of(p) for p in problem["names"]],
        "lower": [b[0] for b in problem["bounds"]],
        "upper": [b[1] for b in problem["bounds"]],
        "units": problem["units"],
    })


__all__ = [
    "CONVERGENCE_TOLERANCE",
    "KPIS",
    "MorrisResult",
    "SobolResult",
    "build_problem",
    "factor_names",
    "kpi_values",
    "morris_indices",
    "problem_frame",
    "sobol_indices",
]
