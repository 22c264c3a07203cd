"""Running a scenario: calendar stages as parameters, state-triggered stages by driving the run.

A stage whose start is a condition (``"Production >= 1350"``) begins at the first time step at
which the condition holds. The run before a stage starts does not depend on when it will start
(causality), so the start is found exactly by re-running: simulate with the stage switched off
(start year at the parameter's upper bound, 2030, and its intensities equal to the previous
stage's, so it cannot act even at 2030), read the watched variable at every time step, set the
stage start constant to the first step where the condition holds, and go on to the next stage.
A later stage's condition is only looked for from the start of the stage before it (stages
follow each other); a maturing condition is only looked for before a calendar globalisation
start (afterwards the maturing stage can no longer be in force).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from clusterdyn.scenarios.costs import PolicyCosts, cost_series, load_costs
from clusterdyn.scenarios.spec import (
    LEVERS,
    STAGES,
    START_PARAMETERS,
    Condition,
    Scenario,
    ScenarioError,
    check_order,
    default_model,
    intensity_parameter,
    load,
)
from clusterdyn.sdmodels import PUBLIC_OUTPUTS
from clusterdyn.sdmodels.model import Model, _pysd_deprecations_silenced

if TYPE_CHECKING:  # only annotated: the compiled runner is passed in by the caller
    from clusterdyn.sdmodels.vectorized import VectorizedModel

#: Variables of the yearly trajectories: the public outputs and the stage in force.
TRAJECTORY_VARIABLES: tuple[str, ...] = (*PUBLIC_OUTPUTS, "Lifecycle stage")
NOT_REACHED = "not reached"


@dataclass(frozen=True, eq=False)
class ScenarioRun:
    """The outcome of :func:`run`.

    Attributes
    ----------
    scenario : Scenario
    trajectories : pandas.DataFrame
        Yearly values (index ``year``) of :data:`TRAJECTORY_VARIABLES`.
    stage_starts : Mapping[str, float | None]
        The time each stage actually started (a multiple of the time step for a condition),
        ``None`` if it did not start within the run.
    cost : pandas.Series
        Policy cost of each calendar year of the run (million USD).
    parameters : Mapping[str, float]
        Every parameter given to the model for the final run (``clusterdyn run --set``
        with these reproduces it exactly).
    until : int
        Last year of the run.
    dt : float
        Time step of the run (years).
    """

    scenario: Scenario
    trajectories: pd.DataFrame
    stage_starts: Mapping[str, float | None]
    cost: pd.Series
    parameters: Mapping[str, float]
    until: int
    dt: float

    def start_labels(self) -> dict[str, str]:
        """Stage starts as text: the exact time (``1986``, ``1986.578125``) or ``not reached``."""
        return {s: NOT_REACHED if v is None else format(v, ".12g")
                for s, v in self.stage_starts.items()}


def baseline_parameters() -> dict[str, float]:
    """The parameters every scenario starts from: the salmon model's defaults, i.e. the
    shipped calibration (:attr:`clusterdyn.sdmodels.Model.baseline`).

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If no calibration results file is shipped.
    """
    return dict(default_model().baseline)


def step_values(model: Model, params: Mapping[str, float], variable: str, until: int,
                dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``variable`` at every time step from the initial time to ``until``.

    Returns
    -------
    (times, values) : tuple of numpy arrays
        ``times`` as PySD reached them (``initial + k * dt``).
    """
    checked = {**model.baseline, **model.validate_params(params)}
    steps = int(round((until - model.initial_time) / dt))
    stamps = model.initial_time + np.arange(steps + 1) * dt
    pysd_model = model._fresh()
    with _pysd_deprecations_silenced():
        out = pysd_model.run(params=checked, return_columns=[variable],
                             return_timestamps=stamps, final_time=float(until), time_step=dt,
                             progress=False)
    return out.index.to_numpy(dtype=float), out[variable].to_numpy(dtype=float)


def _arrange(params: Mapping[str, float], starts: Mapping[str, float],
             never: float) -> dict[str, float]:
    """Parameters with each later stage starting at ``starts[stage]``; ``inf`` = never.

    A stage that never starts gets the start year ``never`` (the parameter's upper bound) and
    the lever mix of the stage before it, so that it cannot act even at that last instant.
    """
    out = dict(params)
    for k, stage in enumerate(STAGES[1:], start=2):
        if math.isfinite(starts[stage]):
            out[START_PARAMETERS[stage]] = starts[stage]
        else:
            out[START_PARAMETERS[stage]] = never
            for lever in LEVERS:
                out[intensity_parameter(lever, k)] = out[intensity_parameter(lever, k - 1)]
    return out


def _resolve(scenario: Scenario, params: dict[str, float], model: Model, until: int,
             dt: float) -> tuple[dict[str, float], dict[str, float]]:
    """Set the start of every triggered stage; return (parameters, effective start times).

    Effective start times are ``inf`` for a stage that never starts within the run.
    """
    never = model.parameters[START_PARAMETERS["globalisation"]].upper
    effective: dict[str, float] = {STAGES[0]: model.initial_time}
    for stage in STAGES[1:]:
        triggered = isinstance(scenario.starts[stage], Condition)
        effective[stage] = math.inf if triggered else params[START_PARAMETERS[stage]]
    for stage in scenario.triggered:
        condition = scenario.starts[stage]
        assert isinstance(condition, Condition)
        index = STAGES.index(stage)
        lower = effective[STAGES[index - 1]]
        calendar_later = [effective[s] for s in STAGES[index + 1:]
                          if not isinstance(scenario.starts[s], Condition)]
        upper = min(calendar_later, default=math.inf)
        if lower <= until:
            times, values = step_values(model, _arrange(params, effective, never),
                                        condition.variable, until, dt)
            hits = np.flatnonzero(condition.holds(values) & (times >= lower) & (times < upper))
            if hits.size:
                effective[stage] = float(times[hits[0]])
    return _arrange(params, effective, never), effective


def _overrides(scenario: Scenario, params: Mapping[str, object] | None,
               model: Model) -> dict[str, float]:
    extra = model.validate_params(params)
    for stage in scenario.triggered:
        if START_PARAMETERS[stage] in extra:
            raise ScenarioError(
                f"{START_PARAMETERS[stage]!r} cannot be set for scenario {scenario.name!r}: "
                f"its {stage} stage starts when {scenario.starts[stage]}"
            )
    # The same checks as a scenario file's: stage starts set here must still follow each other.
    starts = {**scenario.starts, **{stage: extra[name] for stage, name in START_PARAMETERS.items()
                                     if name in extra}}
    check_order(Path(f"{scenario.name} (with the parameters given)"), starts)
    return extra


def scenario_parameters(
    scenario: Scenario | str | Path,
    params: Mapping[str, object] | None = None,
    until: int | None = None,
    dt: float | None = None,
    base_params: Mapping[str, float] | None = None,
    model: Model | None = None,
) -> tuple[dict[str, float], int]:
    """Model parameters that reproduce a scenario, with triggered stage starts resolved.

    For ``clusterdyn run --scenario NAME``: ``model.run(params=p, until=u, dt=dt)`` with the
    returned ``(p, u)`` gives the scenario's trajectories exactly (same ``dt``).

    Parameters
    ----------
    scenario : Scenario, str or pathlib.Path
        A scenario, a shipped name or a path.
    params : mapping, optional
        Extra parameter values applied after the scenario's (e.g. ``--set``).
    until : int, optional
        Last year (default: the scenario's horizon).
    dt : float, optional
        Time step (default: the model's); stage triggers are found at this resolution.
    base_params : mapping, optional
        Parameters the scenario starts from (default: the model's own defaults,
        :attr:`clusterdyn.sdmodels.Model.baseline`: the shipped calibration unless the model was
        loaded
        with ``defaults="mdl"``).
    model : Model, optional
        Default: the salmon cluster model.

    Returns
    -------
    (params, until) : tuple of dict and int
    """
    params_, until_, _, _ = _prepare(scenario, params, until, dt, base_params, model)
    return params_, until_


def _prepare(scenario: Scenario | str | Path, params: Mapping[str, object] | None,
             until: int | None, dt: float | None, base_params: Mapping[str, float] | None,
             model: Model | None) -> tuple[dict[str, float], int, dict[str, float], float]:
    model = model or default_model()
    scenario = scenario if isinstance(scenario, Scenario) else load(scenario, model)
    until_, dt_ = model._check_time(scenario.horizon if until is None else until, dt)
    base = dict(model.baseline if base_params is None else base_params)
    full = {**model.validate_params(base), **scenario.calendar_parameters(),
            **_overrides(scenario, params, model)}
    full, effective = _resolve(scenario, full, model, until_, dt_)
    return full, until_, effective, dt_


def run(
    scenario: Scenario | str | Path,
    params: Mapping[str, object] | None = None,
    until: int | None = None,
    dt: float | None = None,
    base_params: Mapping[str, float] | None = None,
    model: Model | None = None,
    costs: PolicyCosts | None = None,
) -> ScenarioRun:
    """Simulate a scenario from the calibrated parameters.

    Parameters
    ----------
    scenario : Scenario, str or pathlib.Path
        A scenario, a shipped name or a path to a scenario file.
    params : mapping, optional
        Extra parameter values, applied after the scenario's (they may not set the start of a
        state-triggered stage).
    until, dt, base_params, model
        See :func:`scenario_parameters`.
    costs : PolicyCosts, optional
        Lever costs (default: the shipped ``scenarios/costs.toml``).

    Returns
    -------
    ScenarioRun

    Raises
    ------
    ScenarioError, sdmodels.ModelInputError, sdmodels.SimulationError
    """
    model = model or default_model()
    scenario = scenario if isinstance(scenario, Scenario) else load(scenario, model)
    costs = costs or load_costs()
    full, until_, effective, dt_ = _prepare(scenario, params, until, dt, base_params, model)
    frame = model.run(params=full, until=until_, dt=dt_, variables=list(TRAJECTORY_VARIABLES))
    starts = {s: (t if t <= until_ else None) for s, t in effective.items()}
    cost = cost_series(full, effective, int(model.initial_time), until_, costs)
    return ScenarioRun(scenario, frame, starts, cost, full, until_, dt_)


def run_compiled(
    scenario: Scenario | str | Path,
    runner: VectorizedModel,
    draws: pd.DataFrame | None = None,
    params: Mapping[str, object] | None = None,
    until: int | None = None,
    costs: PolicyCosts | None = None,
) -> tuple[ScenarioRun, np.ndarray | None]:
    """:func:`run` through the compiled runner, and the same scenario under posterior draws.

    The central run is the one :func:`run` gives (same parameters, same time step: the
    compiled runner reproduces PySD's Euler steps), computed in milliseconds; each row of
    ``draws`` replaces the calibrated parameters it holds and is run in the same call.
    Stages triggered by a condition are resolved once on the central run (by PySD, as
    :func:`run` does) and keep those start years under every draw.

    Parameters
    ----------
    scenario : Scenario, str or pathlib.Path
    runner : VectorizedModel
        The compiled salmon model (:func:`clusterdyn.ensembles.runner.register`).
    draws : pandas.DataFrame, optional
        One row per draw, columns named as model parameters. A parameter the scenario or
        ``params`` sets keeps that value in every draw.
    params, until, costs
        As in :func:`run`.

    Returns
    -------
    (ScenarioRun, values) : tuple
        ``values`` has shape ``(len(draws), years, len(TRAJECTORY_VARIABLES))`` (None without
        draws).
    """
    model = runner.model
    scenario = scenario if isinstance(scenario, Scenario) else load(scenario, model)
    costs = costs or load_costs()
    full, until_, effective, dt_ = _prepare(scenario, params, until, None, None, model)
    rows: dict[str, object] = dict(full)
    n_draws = 0 if draws is None else len(draws)
    if n_draws:
        fixed = set(scenario.parameters) | set(params or ())
        for name in draws.columns:
            if name not in fixed:
                rows[name] = np.concatenate([[full[name]], draws[name].to_numpy(dtype=float)])
    out = runner.run(rows, until=until_, dt=dt_, variables=list(TRAJECTORY_VARIABLES))
    frame = pd.DataFrame(out.values[0], index=pd.Index(out.years, name="year"),
                         columns=list(TRAJECTORY_VARIABLES))
    starts = {s: (t if t <= until_ else None) for s, t in effective.items()}
    cost = cost_series(full, effective, int(model.initial_time), until_, costs)
    band = out.values[1:] if n_draws else None
    return ScenarioRun(scenario, frame, starts, cost, full, until_, dt_), band
