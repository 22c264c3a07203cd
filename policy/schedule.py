"""Policy schedules as vectors: 9 levers x 3 stages of intensities, their discounted cost,
and their scenario files.

A *switched* schedule is a vector of 27 intensities in [0, 1], lever-major
(``x[3 * lever + stage]``, levers in the order of :data:`clusterdyn.scenarios.spec.LEVERS`); a
*static*
schedule has one intensity per lever for all stages (9 numbers, expanded by
:func:`expand_static`). With calendar stage starts the discounted policy cost is linear in the
intensities (:func:`cost_coefficients`), so a budget is a linear constraint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from clusterdyn.scenarios.costs import PolicyCosts
from clusterdyn.scenarios.economics import Economics, stage_year_weights
from clusterdyn.scenarios.spec import (
    LEVERS,
    STAGES,
    START_PARAMETERS,
    Scenario,
    intensity_parameter,
)

LEVER_KEYS: tuple[str, ...] = tuple(LEVERS)
N_LEVERS = len(LEVER_KEYS)
N_STAGES = len(STAGES)
N_SWITCHED = N_LEVERS * N_STAGES
#: Historical stage starts (Table 3.1): maturing 1986, globalisation 1996.
HISTORICAL_STARTS = (1986.0, 1996.0)


def parameter_names() -> list[str]:
    """Model constants of the 27 entries of a switched schedule, in vector order."""
    return [intensity_parameter(lever, k) for lever in LEVER_KEYS for k in (1, 2, 3)]


def expand_static(x: np.ndarray) -> np.ndarray:
    """Static schedules ``(..., 9)`` as switched ones ``(..., 27)``: each lever repeated."""
    return np.repeat(np.asarray(x, dtype=float), N_STAGES, axis=-1)


def scenario_vector(scenario: Scenario) -> np.ndarray:
    """The 27 intensities of a scenario, in vector order."""
    return np.array([scenario.levers[lever][k] for lever in LEVER_KEYS for k in range(3)],
                    dtype=float)


def calendar_starts(scenario: Scenario) -> tuple[float, float] | None:
    """The scenario's (maturing, globalisation) start years, or None if either is a condition."""
    starts = tuple(scenario.starts[s] for s in START_PARAMETERS)
    if all(isinstance(s, int | float) for s in starts):
        return float(starts[0]), float(starts[1])
    return None


def cost_coefficients(costs: PolicyCosts, starts: tuple[float, float],
                      economics: Economics) -> np.ndarray:
    """``c`` such that ``c @ x`` is the NPV of a switched schedule's policy cost.

    ``c[3 * lever + k] = annual cost of the lever at intensity 1 x discounted years in stage k``
    (million constant 2003 US$).
    """
    weights = stage_year_weights(starts, economics)
    return np.array([costs.per_lever[lever] * weights[k] for lever in LEVER_KEYS
                     for k in range(N_STAGES)])


def schedule_parameters(x: np.ndarray, starts: tuple[float, float]) -> dict[str, np.ndarray]:
    """Model parameters of schedules ``x`` (shape ``(m, 27)``): one array of ``m`` values per
    intensity constant, plus the two stage start years."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    params: dict[str, np.ndarray] = {
        name: x[:, j] for j, name in enumerate(parameter_names())
    }
    for (_, name), start in zip(START_PARAMETERS.items(), starts, strict=True):
        params[name] = np.full(len(x), float(start))
    return params


def _rounded(values: Sequence[float], digits: int) -> list[float | int]:
    out: list[float | int] = []
    for v in values:
        r = round(float(v), digits)
        out.append(int(r) if r in (0.0, 1.0) else r)
    return out


def scenario_document(x: np.ndarray, name: str, description: str, rationale: str,
                      starts: tuple[float, float], horizon: int,
                      digits: int = 3) -> dict[str, object]:
    """A scenario file's content (for ``tomli_w``) holding schedule ``x``.

    Intensities are rounded to ``digits`` decimals: the file states a policy, not a bit
    pattern, and the rounding (at most 5e-4 per intensity) is reported by the optimiser.
    """
    x = np.asarray(x, dtype=float).reshape(N_LEVERS, N_STAGES)
    stages: dict[str, object] = {STAGES[0]: {"start": 1978}}
    for stage, start in zip(STAGES[1:], starts, strict=True):
        stages[stage] = {"start": int(start) if float(start).is_integer() else float(start)}
    return {
        "name": name,
        "description": description,
        "rationale": rationale,
        "horizon": int(horizon),
        "stages": stages,
        "levers": {lever: _rounded(x[i], digits) for i, lever in enumerate(LEVER_KEYS)},
    }


def rounded_vector(document: Mapping[str, object]) -> np.ndarray:
    """The 27 intensities as written in a :func:`scenario_document`."""
    levers = document["levers"]
    assert isinstance(levers, Mapping)
    return np.array([float(v) for lever in LEVER_KEYS for v in levers[lever]])


__all__ = [
    "HISTORICAL_STARTS", "LEVER_KEYS", "N_SWITCHED", "calendar_starts", "cost_coefficients",
    "expand_static", "parameter_names", "rounded_vector", "scenario_document",
    "scenario_vector", "schedule_parameters",
]
