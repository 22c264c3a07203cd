"""The best stage-switched and the best static policy schedule under a budget, robustly over
the posterior, the value of switching, and the cost-NPV frontier.

``optimize()`` searches the 27 intensities (9 levers x 3 stages, calendar stage starts) with
:func:`clusterdyn.policy.search.maximise`, the objective being the mean or the 10th percentile over
``draws`` posterior draws of the chosen KPI; then the 9 intensities of a static mix (one per
lever for all stages) under the same budget. The initial population holds every shipped
calendar scenario that fits the budget, so the optimum is at least as good as each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from clusterdyn.policy.evaluate import OBJECTIVES, ROBUST, Evaluator, check_choice, posterior_draws
from clusterdyn.policy.schedule import (
    HISTORICAL_STARTS,
    LEVER_KEYS,
    N_LEVERS,
    N_STAGES,
    N_SWITCHED,
    calendar_starts,
    expand_static,
    rounded_vector,
    scenario_document,
    scenario_vector,
)
from clusterdyn.policy.search import maximise
from clusterdyn.scenarios.economics import Economics
from clusterdyn.scenarios.spec import STAGES, available, load
from clusterdyn.sdmodels.errors import ModelInputError, suggest

#: Budgets of the frontier, as fractions of the main budget.
FRONTIER_FRACTIONS = (0.25, 0.5, 0.75, 1.25, 1.5)


@dataclass(frozen=True)
class Settings:
    """What ``clusterdyn optimize`` was asked (everything that determines the result)."""

    budget: float
    objective: str = "npv_exports"
    robust: str = "mean"
    draws: int = 24
    seed: int = 0
    until: int = 2003
    rate: float = 0.06
    maxiter: int = 60
    popsize: int = 3
    frontier_maxiter: int = 15
    replicates: int = 2
    levers: tuple[str, ...] = LEVER_KEYS


@dataclass(frozen=True)
class Optimum:
    """One optimised schedule: the 27 intensities as written to its scenario file."""

    kind: str
    x: np.ndarray
    cost: float
    value: float
    per_draw: np.ndarray = field(repr=False)
    generations: int = 0
    evaluations: int = 0


@dataclass(frozen=True)
class OptimizationResult:
    """Result of :func:`optimize`.

    Attributes
    ----------
    settings : Settings
    switched, static : Optimum
        The best stage-switched schedule and the best static mix.
    shipped : pandas.DataFrame
        Each shipped calendar scenario: cost, robust value (index ``scenario``).
    frontier : pandas.DataFrame
        ``kind, budget, cost, value, social_capital`` of the optima at each budget.
    switching : pandas.Series
        Value of switching (switched minus static, per draw): mean, p05, p50, p95, and the
        share of draws where switching wins.
    replicates : numpy.ndarray
        Switched optima found again with other draws and search seeds (seed + 1, ...), shape
        ``(replicates, 27)``: how firmly the data and the search pin each intensity down.
    per_draw : pandas.DataFrame
        Objective of the optima and of each shipped calendar scenario under each draw.
    """

    settings: Settings
    switched: Optimum
    static: Optimum
    shipped: pd.DataFrame = field(repr=False)
    frontier: pd.DataFrame = field(repr=False)
    switching: pd.Series = field(repr=False)
    replicates: np.ndarray = field(repr=False)
    per_draw: pd.DataFrame = field(repr=False)

    def summary(self) -> str:
        """A plain-text report."""
        s = self.settings
        unit = OBJECTIVES[s.objective][1]
        lines = [
            f"objective: {s.robust} over {s.draws} posterior draws of "
            f"{OBJECTIVES[s.objective][0]} ({unit}), 1978-{s.until}, rate {s.rate:.0%}",
            f"budget: NPV of policy cost <= {s.budget:,.1f} million constant 2003 US$",
            "",
            f"{'schedule':<34}{'cost':>10}{'value':>14}",
        ]
        for name, row in self.shipped.iterrows():
            lines.append(f"{name:<34}{row['cost']:>10,.1f}{row['value']:>14,.1f}")
        for opt in (self.switched, self.static):
            lines.append(f"{'optimum, ' + opt.kind:<34}{opt.cost:>10,.1f}{opt.value:>14,.1f}")
        w = self.switching
        lines += ["", f"value of stage switching (switched - static): mean {w['mean']:,.1f}, "
                      f"90% interval [{w['p05']:,.1f}, {w['p95']:,.1f}] {unit}; switching wins "
                      f"in {w['share_positive']:.0%} of draws"]
        return "\n".join(lines) + "\n"

    def schedules(self) -> pd.DataFrame:
        """Long table ``kind, lever, stage, intensity, replicate_low, replicate_high``: the two
        optima, and for the switched one the range over the replicate searches."""
        rows = []
        for opt in (self.switched, self.static):
            grid = opt.x.reshape(N_LEVERS, N_STAGES)
            for i, lever in enumerate(LEVER_KEYS):
                for k, stage in enumerate(STAGES):
                    values = [grid[i, k]]
                    if opt.kind == "switched" and len(self.replicates):
                        values += list(self.replicates.reshape(-1, N_LEVERS, N_STAGES)[:, i, k])
                    rows.append({"kind": opt.kind, "lever": lever, "stage": stage,
                                 "intensity": grid[i, k], "replicate_low": min(values),
                                 "replicate_high": max(values)})
        return pd.DataFrame(rows)


def _shipped_starts_rows(evaluator: Evaluator, how: str
                         ) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """Cost, robust value and per-draw values of every shipped calendar scenario (those with
    the optimiser's stage starts and no parameter overrides)."""
    rows, vectors, per_draw = {}, [], {}
    social = replace(evaluator, objective="social_capital")
    for name in available():
        scenario = load(name)
        if calendar_starts(scenario) != evaluator.starts or scenario.parameters:
            continue
        x = scenario_vector(scenario)
        values = evaluator.values(x)
        rows[name] = {"cost": float(evaluator.cost(x)[0]),
                      "value": float(evaluator.robust(values, how)[0]),
                      "social_capital": float(social.values(x).mean())}
        vectors.append(x)
        per_draw[name] = values[0]
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "scenario"
    return frame, np.array(vectors), per_draw


def _optimum(kind: str, evaluator: Evaluator, how: str, x: np.ndarray, generations: int,
             evaluations: int) -> Optimum:
    """The schedule as its scenario file states it (3 decimals; rounded down instead if the
    rounding would break the budget), evaluated again."""
    exact = np.asarray(x, dtype=float)
    x = np.round(exact, 3)
    if evaluator.cost(x)[0] > evaluator.cost(exact)[0]:
        x = np.floor(exact * 1000) / 1000
    per_draw = evaluator.values(x)
    return Optimum(kind, x, float(evaluator.cost(x)[0]),
                   float(evaluator.robust(per_draw, how)[0]), per_draw[0],
                   generations, evaluations)


def check_levers(levers: Sequence[str] | None) -> np.ndarray:
    """Upper bound of each lever (1 if it may be used, 0 if not), from a list of lever keys.

    Raises
    ------
    ModelInputError
        For an unknown lever (with the nearest names) or a lever given twice.
    """
    if levers is None:
        return np.ones(N_LEVERS)
    allowed = np.zeros(N_LEVERS)
    for lever in levers:
        if lever not in LEVER_KEYS:
            raise ModelInputError(f"lever {lever!r} is unknown." + suggest(lever, LEVER_KEYS)
                                  + f" Valid: {', '.join(LEVER_KEYS)}")
        if allowed[LEVER_KEYS.index(lever)]:
            raise ModelInputError(f"lever {lever!r} is given twice")
        allowed[LEVER_KEYS.index(lever)] = 1.0
    return allowed


def _search(evaluator: Evaluator, how: str, budget: float, static: bool, seed: int,
            start: np.ndarray, maxiter: int, popsize: int,
            on_generation: Callable[[float], None] | None,
            allowed: np.ndarray | None = None) -> Optimum:
    cost = evaluator.cost_vector()
    allowed = np.ones(N_LEVERS) if allowed is None else allowed
    upper = allowed if static else np.repeat(allowed, N_STAGES)

    def objective(points: np.ndarray) -> np.ndarray:
        full = expand_static(points) if static else points
        return evaluator.robust(evaluator.values(full), how)

    if static:
        cost = cost.reshape(N_LEVERS, N_STAGES).sum(axis=1)
    found = maximise(objective, cost, budget, seed=seed, start=start, popsize=popsize,
                     maxiter=maxiter, upper=upper, on_generation=on_generation)
    x = expand_static(found.x) if static else found.x
    return _optimum("static" if static else "switched", evaluator, how, x, found.generations,
                    found.evaluations)


def historical_budget(evaluator: Evaluator) -> float:
    """NPV of the policy cost of the ``historical`` scenario (the default budget)."""
    return float(evaluator.cost(scenario_vector(load("historical")))[0])


def make_evaluator(objective: str = "npv_exports", draws: int = 24, seed: int = 0,
                   until: int = 2003, rate: float = 0.06) -> Evaluator:
    """An :class:`Evaluator` over ``draws`` seeded posterior draws of the shipped calibration."""
    from clusterdyn.calibration.shipped import DEFAULT_RESULTS, posterior_path
    from clusterdyn.ensembles.runner import register
    from clusterdyn.sdmodels.model import load_model

    check_choice("objective", objective, OBJECTIVES)
    economics = Economics(rate=rate, until=until)
    runner = register(load_model("salmon_cluster"))
    sample = posterior_draws(str(posterior_path(DEFAULT_RESULTS)), draws, seed)
    return Evaluator(runner, sample, economics, HISTORICAL_STARTS, objective)


def optimize(budget: float | None = None, objective: str = "npv_exports", robust: str = "mean",
             *, draws: int = 24, seed: int = 0, until: int = 2003, rate: float = 0.06,
             maxiter: int = 60, popsize: int = 3, frontier: Sequence[float] = FRONTIER_FRACTIONS,
             frontier_maxiter: int = 15, replicates: int = 2,
             levers: Sequence[str] | None = None,
             on_generation: Callable[[str, float], None] | None = None) -> OptimizationResult:
    """Optimise the switched and the static schedule; see the module docstring.

    Parameters
    ----------
    budget : float, optional
        Largest NPV of policy cost (million constant 2003 US$); default: that of
        ``historical``.
    objective : str
        A key of :data:`clusterdyn.policy.evaluate.OBJECTIVES`.
    robust : {"mean", "p10"}
        Summary over the posterior draws that is maximised.
    draws, seed, until, rate
        Posterior draws used (seeded subsample), seed of the draws and of the search, last
        year counted and real discount rate.
    maxiter, popsize, frontier, frontier_maxiter
        Search effort; budgets of the frontier as fractions of ``budget``.
    replicates : int
        Switched searches repeated with other draws and seeds (0 for none).
    levers : sequence of str, optional
        Only these levers may be used (keys of :data:`clusterdyn.scenarios.spec.LEVERS`); the
        others stay
        at 0. Default: all nine.
    on_generation : callable, optional
        ``on_generation(stage, best)`` after each generation (progress); returns None.

    Raises
    ------
    ModelInputError
        For a negative budget, an unknown objective, robust summary or lever, or bad effort
        settings.
    """
    check_choice("robust summary", robust, ROBUST)
    allowed = check_levers(levers)
    for name, value, low in (("maxiter", maxiter, 1), ("popsize", popsize, 1),
                             ("frontier_maxiter", frontier_maxiter, 1),
                             ("replicates", replicates, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ModelInputError(f"{name} = {value!r}: expected a whole number >= {low}")
    evaluator = make_evaluator(objective, draws, seed, until, rate)
    if budget is None:
        budget = historical_budget(evaluator)
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not (
            np.isfinite(budget) and budget >= 0):
        raise ModelInputError(f"budget = {budget!r}: expected a number >= 0 (million constant "
                              f"2003 US$)")
    settings = Settings(float(budget), objective, robust, draws, seed, until, rate, maxiter,
                        popsize, frontier_maxiter, replicates,
                        tuple(k for k, a in zip(LEVER_KEYS, allowed, strict=True) if a))
    shipped, vectors, shipped_draws = _shipped_starts_rows(evaluator, robust)

    def progress(stage: str) -> Callable[[float], None] | None:
        if on_generation is None:
            return None
        return lambda best: on_generation(stage, best)

    switched = _search(evaluator, robust, settings.budget, False, seed, vectors, maxiter,
                       popsize, progress("switched"), allowed)
    static_start = vectors.reshape(len(vectors), N_LEVERS, N_STAGES).mean(axis=2)
    static = _search(evaluator, robust, settings.budget, True, seed, static_start, maxiter,
                     popsize + 2, progress("static"), allowed)
    social = replace(evaluator, objective="social_capital")

    def social_capital(x: np.ndarray) -> float:
        return float(social.values(x).mean())

    rows = []
    for optimum in (switched, static):
        rows.append({"kind": optimum.kind, "budget": settings.budget, "cost": optimum.cost,
                     "value": optimum.value, "social_capital": social_capital(optimum.x)})
    for fraction in frontier:
        b = settings.budget * float(fraction)
        for opt in (switched, static):
            start = np.vstack([opt.x, vectors]) if opt.kind == "switched" else np.vstack(
                [opt.x.reshape(N_LEVERS, N_STAGES)[:, 0], static_start])
            found = _search(evaluator, robust, b, opt.kind == "static", seed, start,
                            frontier_maxiter, popsize,
                            progress(f"frontier {opt.kind} {fraction:g}"), allowed)
            rows.append({"kind": opt.kind, "budget": b, "cost": found.cost,
                         "value": found.value, "social_capital": social_capital(found.x)})
    frontier_frame = pd.DataFrame(rows).sort_values(["kind", "budget"], kind="stable")
    again = []
    for k in range(1, replicates + 1):
        other = make_evaluator(objective, draws, seed + k, until, rate)
        again.append(_search(other, robust, settings.budget, False, seed + k, vectors, maxiter,
                             popsize, progress(f"replicate {k}"), allowed).x)
    difference = switched.per_draw - static.per_draw
    switching = pd.Series({
        "mean": float(difference.mean()),
        "p05": float(np.quantile(difference, 0.05)),
        "p50": float(np.quantile(difference, 0.5)),
        "p95": float(np.quantile(difference, 0.95)),
        "share_positive": float((difference > 0).mean()),
    })
    per_draw = pd.DataFrame({"optimal_switched": switched.per_draw,
                             "optimal_static": static.per_draw, **shipped_draws})
    per_draw.index.name = "draw"
    return OptimizationResult(settings, switched, static, shipped,
                              frontier_frame.reset_index(drop=True), switching,
                              np.array(again).reshape(replicates, N_SWITCHED), per_draw)


def optimum_document(optimum: Optimum, settings: Settings) -> dict[str, object]:
    """The scenario file content of an optimum."""
    name = f"optimal_{optimum.kind}"
    what = ("a stage-switched schedule (each lever's intensity chosen per stage)"
            if optimum.kind == "switched" else "a static mix (one intensity per lever)")
    description = (
        f"Written by `clusterdyn optimize`: {what} maximising the {settings.robust} over "
        f"{settings.draws} posterior draws (seed {settings.seed}) of "
        f"{OBJECTIVES[settings.objective][0]}, 1978-{settings.until}, discounted at "
        f"{settings.rate:.0%}, with the NPV of policy cost at most {settings.budget:,.1f} "
        f"million constant 2003 US$ (this schedule: {optimum.cost:,.1f}).")
    rationale = ("The seed asks which policies suit each stage of a cluster's life; this is "
                 "the model's answer under its calibration and its assumptions (policy costs, "
                 "effect tables), not a measurement. Stages start as in Table 3.1.")
    document = scenario_document(optimum.x, name, description, rationale, HISTORICAL_STARTS,
                                 settings.until)
    assert np.array_equal(rounded_vector(document), optimum.x)
    return document


__all__ = ["FRONTIER_FRACTIONS", "OptimizationResult", "Optimum", "Settings",
           "historical_budget", "make_evaluator", "optimize", "optimum_document"]
