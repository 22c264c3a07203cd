"""Budget-constrained maximisation over the unit box: scipy's differential evolution.

The search is generic (any vectorised objective of ``x`` in ``[0, 1]^n``) so that it can be
tested on problems with a known optimum; :mod:`clusterdyn.policy.optimize` applies it to schedules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, differential_evolution, minimize
from scipy.stats import qmc

from clusterdyn.sdmodels.errors import ModelInputError


@dataclass(frozen=True)
class SearchResult:
    """Best point found and how the search went.

    Attributes
    ----------
    x : numpy.ndarray
        The best feasible point.
    value : float
        Its objective (the maximised quantity).
    generations : int
    evaluations : int
        Objective evaluations (points), including the initial population.
    converged : bool
        True if the population's spread met the tolerance before ``maxiter``.
    """

    x: np.ndarray
    value: float
    generations: int
    evaluations: int
    converged: bool


def feasible_rows(rows: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """Rows scaled down (all entries by one factor) until their cost is within budget."""
    rows = np.clip(np.atleast_2d(np.asarray(rows, dtype=float)), 0.0, 1.0)
    spent = rows @ cost
    scale = np.where(spent > budget, budget / np.where(spent > 0, spent, 1.0), 1.0)
    return rows * scale[:, None] * (1 - 1e-12)


def maximise(
    objective: Callable[[np.ndarray], np.ndarray],
    cost: np.ndarray,
    budget: float,
    *,
    seed: int,
    start: np.ndarray | None = None,
    popsize: int = 4,
    maxiter: int = 100,
    tol: float = 1e-4,
    upper: np.ndarray | None = None,
    polish: bool = True,
    on_generation: Callable[[float], None] | None = None,
) -> SearchResult:
    """Maximise ``objective`` over ``x`` in ``[0, 1]^n`` subject to ``cost @ x <= budget``.

    Parameters
    ----------
    objective : callable
        Maps points ``(m, n)`` to values ``(m,)``; larger is better.
    cost : numpy.ndarray
        Non-negative cost coefficients, shape ``(n,)``.
    budget : float
        Largest allowed ``cost @ x`` (>= 0).
    seed : int
        Seeds the Latin hypercube start and the search.
    start : numpy.ndarray, optional
        Points ``(k, n)`` put into the initial population (scaled into the budget if they
        exceed it). The search is elitist, so the result is at least as good as each of them.
    popsize : int
        Population = ``popsize * n`` points (at least 5 and ``k + 1``).
    maxiter, tol
        As in :func:`scipy.optimize.differential_evolution`.
    upper : numpy.ndarray, optional
        Upper bounds below 1 (0 fixes an entry at 0); default all 1.
    polish : bool
        Refine the best point with a gradient method (SLSQP) afterwards (default).
    on_generation : callable, optional
        Called with the best value after each generation; returns None.
    """
    cost = np.asarray(cost, dtype=float)
    n = len(cost)
    if not np.isfinite(budget) or budget < 0:
        raise ModelInputError(f"budget = {budget!r}: expected a number >= 0")
    if (cost < 0).any():
        raise ModelInputError("cost coefficients must be >= 0")
    high = np.ones(n) if upper is None else np.clip(np.asarray(upper, dtype=float), 0, 1)
    size = max(popsize * n, 5)
    init = qmc.LatinHypercube(d=n, seed=np.random.default_rng(seed)).random(size) * high
    init = feasible_rows(init, cost, budget)
    if start is not None and len(start):
        start = feasible_rows(np.minimum(start, high), cost, budget)
        if len(start) >= size:
            raise ModelInputError(f"{len(start)} start points for a population of {size}")
        init[: len(start)] = start
    evaluations = 0

    def negative(x: np.ndarray) -> np.ndarray:
        nonlocal evaluations
        points = np.atleast_2d(x.T)
        if points.size == 0:  # every trial of the generation broke the budget
            return np.zeros(0)
        evaluations += len(points)
        return -np.asarray(objective(points), dtype=float)

    def report(intermediate_result: object) -> None:
        if on_generation is not None:
            on_generation(-float(intermediate_result.fun))  # type: ignore[attr-defined]

    constraint = LinearConstraint(cost[None, :], -np.inf, budget)
    result = differential_evolution(
        negative, Bounds(np.zeros(n), high), init=init, seed=seed, maxiter=maxiter,
        tol=tol, polish=False, vectorized=True, updating="deferred", constraints=constraint,
        callback=report,
    )
    x, value = np.clip(result.x, 0.0, high), -float(result.fun)
    if polish:
        x, value = _polish(negative, x, value, cost, budget, high)
    return SearchResult(x=x, value=value, generations=int(result.nit),
                        evaluations=evaluations, converged=bool(result.success))


def _polish(negative: Callable[[np.ndarray], np.ndarray], x: np.ndarray, value: float,
            cost: np.ndarray, budget: float, high: np.ndarray) -> tuple[np.ndarray, float]:
    """Local refinement from the search's best point: SLSQP with finite-difference
    gradients, the budget as a linear inequality. Differential evolution reaches a corner of
    the budget slowly; the gradient step finishes the walk. Kept only if feasible and better."""
    n = len(x)

    def fun(point: np.ndarray) -> float:
        return float(negative(np.clip(point, 0.0, high)[:, None])[0])

    found = minimize(
        fun, x, method="SLSQP", bounds=Bounds(np.zeros(n), high),
        constraints=[{"type": "ineq", "fun": lambda p: budget - cost @ p,
                      "jac": lambda p: -cost}],
        options={"maxiter": 100, "ftol": 1e-10, "eps": 1e-4},
    )
    candidate = np.clip(found.x, 0.0, high)
    if cost @ candidate > budget:
        candidate = feasible_rows(candidate, cost, budget)[0]
    candidate_value = -fun(candidate)
    if candidate_value > value:
        return candidate, candidate_value
    return x, value


def fractional_knapsack(value: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """The exact maximiser of ``value @ x`` on ``[0, 1]^n`` with ``cost @ x <= budget``
    (positive values and costs): fill in order of value per cost. For tests of
    :func:`maximise`."""
    x = np.zeros(len(value))
    left = budget
    for i in np.argsort(-(value / cost), kind="stable"):
        take = min(1.0, left / cost[i])
        x[i] = take
        left -= take * cost[i]
        if left <= 0:
            break
    return x


__all__ = ["SearchResult", "feasible_rows", "fractional_knapsack", "maximise"]
