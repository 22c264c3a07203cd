"""Scenarios of a user's own model: stage-switched levers declared in TOML, not hard-coded.

The salmon scenarios (:mod:`clusterdyn.scenarios.spec`) set the salmon model's nine levers in
its three lifecycle stages. A scenario file with a ``model`` key is a scenario of another
model instead::

    name = "advertising_burst"           # the file's stem
    description = "Heavy advertising at the launch, little afterwards."
    model = "bass_diffusion.mdl"         # relative to this file
    calibration = "bass.toml"            # optional: start from these calibrated values
    horizon = 20                         # optional: last time (default FINAL TIME)
    outputs = ["Adopters"]               # optional: variables written (default: the stocks)

    [stages]                             # start of each stage, in order (model time units);
    launch = 0                           # the first starts at INITIAL TIME
    established = 4

    [levers]                             # one value per stage, in the order of [stages]
    advertising = [0.06, 0.01]

    [parameters]                         # optional: constants set for the whole run
    "Word of mouth effectiveness" = 0.4

A lever maps a name to a model constant (one with a declared range, see
:mod:`clusterdyn.sdmodels.parameters`). The map is read from ``<model stem>.levers.toml``
beside the ``.mdl`` (``[levers.NAME] constant = "...", description = "..."``) and from the
scenario's own ``[lever_definitions.NAME]`` tables (same keys); a lever declared in both is an
error. From the start of stage k the lever's constant takes its k-th value: the run is PySD's,
continued from the state at each stage start (stocks carry over; values computed once at the
start, such as initial values, do not change). A stage start must fall on a time step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from clusterdyn.scenarios.spec import ScenarioError
from clusterdyn.sdmodels.errors import ModelInputError, SimulationError, suggest
from clusterdyn.sdmodels.files import FileProblem, read_toml
from clusterdyn.sdmodels.model import Model, _pysd_deprecations_silenced, load_model

#: Keys of a user-model scenario file.
KEYS = ("name", "description", "model", "calibration", "horizon", "outputs", "stages", "levers",
        "parameters", "lever_definitions")
#: Keys of one lever declaration.
LEVER_KEYS = ("constant", "description")
#: Suffix of the levers file beside a ``.mdl``.
LEVERS_SUFFIX = ".levers.toml"


@dataclass(frozen=True)
class Lever:
    """A named policy lever: the model constant it sets, and what it means."""

    name: str
    constant: str
    description: str
    source: Path


@dataclass(frozen=True)
class UserScenario:
    """A validated scenario of a user's model.

    Attributes
    ----------
    stages : tuple of (str, float)
        Stage names and start times, in order; the first starts at INITIAL TIME.
    levers : Mapping[str, tuple of float]
        One value per stage for every lever set.
    definitions : Mapping[str, Lever]
        The declared levers (from the levers file and the scenario).
    parameters : Mapping[str, float]
        Constants set for the whole run.
    outputs : tuple of str
        Variables of the trajectories.
    """

    name: str
    description: str
    path: Path
    model: Model
    horizon: int
    stages: tuple[tuple[str, float], ...]
    levers: Mapping[str, tuple[float, ...]]
    definitions: Mapping[str, Lever]
    parameters: Mapping[str, float]
    outputs: tuple[str, ...]

    def stage_parameters(self, k: int) -> dict[str, float]:
        """Every value set in stage ``k`` (0-based): the model's defaults, the scenario's
        parameters and the levers' k-th values."""
        out = {**self.model.baseline, **self.parameters}
        for lever, values in self.levers.items():
            out[self.definitions[lever].constant] = values[k]
        return out


@dataclass(frozen=True, eq=False)
class UserScenarioRun:
    """Trajectories of a user-model scenario (index ``year``: whole model times)."""

    scenario: UserScenario
    trajectories: pd.DataFrame

    def kpis(self) -> dict[str, float]:
        """Every output at the horizon (``"<variable> at <time>"``) and its mean over the
        whole times of the run (``"<variable> mean <first>-<last>"``: how early it grew)."""
        first, last = self.trajectories.index[0], self.trajectories.index[-1]
        out = {}
        for name in self.trajectories.columns:
            out[f"{name} at {last}"] = float(self.trajectories.loc[last, name])
            out[f"{name} mean {first}-{last}"] = float(self.trajectories[name].mean())
        return out


def _fail(path: Path, key: str | None, message: str) -> ScenarioError:
    return ScenarioError(f"{path}: " + (f"key {key!r}: " if key else "") + message)


def _toml(path: Path) -> dict[str, Any]:
    try:
        return read_toml(path)
    except FileProblem as exc:
        raise _fail(path, None, str(exc)) from None


def is_user_scenario(name_or_path: str | Path) -> bool:
    """Whether a scenario given on the command line is a user-model one (a ``.toml`` file with
    a ``model`` key); shipped names and unreadable files are left to the salmon loader."""
    path = Path(name_or_path)
    if path.suffix != ".toml" or not path.is_file():
        return False
    try:
        return "model" in read_toml(path)
    except FileProblem:
        return False


def _lever_table(path: Path, where: str, table: object, model: Model) -> dict[str, Lever]:
    if not isinstance(table, dict):
        raise _fail(path, where, "expected a table of levers ([<table>.NAME] constant = ...)")
    levers = {}
    for name, entry in table.items():
        key = f"{where}.{name}"
        if not isinstance(entry, dict):
            raise _fail(path, key, "expected a table with 'constant' (a model constant) and "
                        "'description'")
        unknown = [k for k in entry if k not in LEVER_KEYS]
        if unknown:
            raise _fail(path, f"{key}.{unknown[0]}", f"unknown key; expected {list(LEVER_KEYS)}")
        constant = entry.get("constant")
        if not isinstance(constant, str) or constant not in model.parameters:
            raise _fail(path, f"{key}.constant", f"expected a constant of model "
                        f"{model.name!r} with a declared range, got {constant!r}."
                        + suggest(str(constant), model.parameters))
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise _fail(path, f"{key}.description", f"expected a string, got {description!r}")
        levers[name] = Lever(name, constant, description, path)
    return levers


def load_levers(model: Model, inline: object = None, scenario: Path | None = None
                ) -> dict[str, Lever]:
    """The levers of ``model``: its ``<stem>.levers.toml`` and a scenario's own declarations.

    Parameters
    ----------
    model : Model
    inline : dict, optional
        A scenario's ``[lever_definitions]`` table.
    scenario : Path, optional
        The scenario file (named in the messages).

    Raises
    ------
    ScenarioError
        For a malformed declaration, a constant that is not a parameter of the model, two
        levers on one constant, or a lever declared in both places.
    """
    file = model.mdl_path.with_name(model.mdl_path.stem + LEVERS_SUFFIX)
    levers: dict[str, Lever] = {}
    if file.is_file():
        raw = _toml(file)
        if set(raw) - {"levers"}:
            key = sorted(set(raw) - {"levers"})[0]
            raise _fail(file, key, "unknown key; a levers file holds only [levers.NAME] tables")
        levers = _lever_table(file, "levers", raw.get("levers", {}), model)
    if inline is not None and scenario is not None:
        for name, lever in _lever_table(scenario, "lever_definitions", inline, model).items():
            if name in levers:
                raise _fail(scenario, f"lever_definitions.{name}", f"lever {name!r} is already "
                            f"declared in {file}: declare it in one place")
            levers[name] = lever
    constants: dict[str, str] = {}
    for lever in levers.values():
        if lever.constant in constants:
            raise _fail(lever.source, f"levers.{lever.name}", f"constant {lever.constant!r} is "
                        f"already the lever {constants[lever.constant]!r}")
        constants[lever.constant] = lever.name
    return levers


def _model(path: Path, raw: dict[str, Any]) -> Model:
    named = raw["model"]
    if not isinstance(named, str) or not named.endswith(".mdl"):
        raise _fail(path, "model", f"expected a path to a .mdl file (relative to this file), "
                    f"got {named!r}")
    mdl = (path.parent / named).resolve()
    if not mdl.is_file():
        raise _fail(path, "model", f"no model file {named!r} (looked for {mdl}, relative to the "
                    "scenario's folder)")
    try:
        model = load_model(str(mdl), defaults="mdl")
        if "calibration" in raw:
            results = raw["calibration"]
            if not isinstance(results, str):
                raise _fail(path, "calibration", f"expected a results file path, got {results!r}")
            found = (path.parent / results).resolve()
            if not found.is_file():
                raise _fail(path, "calibration", f"no calibration results file {results!r} "
                            f"(looked for {found})")
            model = model.with_calibration(found)
    except ModelInputError as exc:
        raise _fail(path, None, str(exc)) from None
    return model


def _stages(path: Path, raw: object, model: Model, horizon: int) -> tuple[tuple[str, float], ...]:
    if not isinstance(raw, dict) or not raw:
        raise _fail(path, "stages", "expected a table of stage start times, e.g. [stages] "
                    f"launch = {model.initial_time:g}")
    stages = []
    for name, start in raw.items():
        key = f"stages.{name}"
        if isinstance(start, bool) or not isinstance(start, int | float) or not math.isfinite(
                start):
            raise _fail(path, key, f"expected a start time (a number), got {start!r}")
        steps = (start - model.initial_time) / model.time_step
        if abs(steps - round(steps)) > 1e-9:
            raise _fail(path, key, f"start {start:g} does not fall on a time step (INITIAL TIME "
                        f"{model.initial_time:g} + k * TIME STEP {model.time_step:g})")
        stages.append((name, float(start)))
    if stages[0][1] != model.initial_time:
        raise _fail(path, f"stages.{stages[0][0]}", f"the first stage starts with the run: "
                    f"expected {model.initial_time:g}, got {stages[0][1]:g}")
    for (before, a), (name, b) in zip(stages, stages[1:], strict=False):
        if not a < b <= horizon:
            raise _fail(path, f"stages.{name}", f"start {b:g} must come after {before!r} "
                        f"({a:g}) and no later than the horizon {horizon}")
    return tuple(stages)


def _horizon(path: Path, raw: dict[str, Any], model: Model) -> int:
    value = raw.get("horizon", model.final_time)
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(
            value).is_integer() or not model.initial_time < value:
        raise _fail(path, "horizon", f"expected a whole time after INITIAL TIME "
                    f"{model.initial_time:g}, got {value!r}")
    try:
        model._check_time(int(value), None)
    except ModelInputError as exc:
        raise _fail(path, "horizon", str(exc)) from None
    return int(value)


def _outputs(path: Path, raw: dict[str, Any], model: Model) -> tuple[str, ...]:
    if "outputs" not in raw:
        return model.stocks
    names = raw["outputs"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise _fail(path, "outputs", f"expected a list of variable names, got {names!r}")
    try:
        return tuple(model._check_variables(names))
    except ModelInputError as exc:
        raise _fail(path, "outputs", str(exc)) from None


def load_user_scenario(path: str | Path) -> UserScenario:
    """Read and validate a user-model scenario file (see the module's docstring).

    Raises
    ------
    ScenarioError
        Naming the file and the key, and what was expected.
    """
    path = Path(path)
    raw = _toml(path)
    for key in raw:
        if key not in KEYS:
            raise _fail(path, key, "unknown key." + suggest(key, KEYS) + f" Valid: {list(KEYS)}")
    for key in ("name", "description"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(path, key, "required: a non-empty string")
    if raw["name"] != path.stem:
        raise _fail(path, "name", f"{raw['name']!r} must equal the file name {path.stem!r}")
    model = _model(path, raw)
    horizon = _horizon(path, raw, model)
    stages = _stages(path, raw.get("stages"), model, horizon)
    definitions = load_levers(model, raw.get("lever_definitions"), path)
    levers: dict[str, tuple[float, ...]] = {}
    table = raw.get("levers", {})
    if not isinstance(table, dict):
        raise _fail(path, "levers", "expected a table [levers] of lever = [one value per stage]")
    for name, values in table.items():
        key = f"levers.{name}"
        if name not in definitions:
            where = (f"{model.mdl_path.stem}{LEVERS_SUFFIX} beside the model or "
                     "[lever_definitions] here")
            raise _fail(path, key, f"unknown lever {name!r}: declare it in {where}."
                        + suggest(name, definitions))
        if not isinstance(values, list) or len(values) != len(stages):
            raise _fail(path, key, f"expected a list of {len(stages)} values (one per stage: "
                        f"{', '.join(s for s, _ in stages)}), got {values!r}")
        constant = definitions[name].constant
        try:
            levers[name] = tuple(model.parameters[constant].validate(v) for v in values)
        except ModelInputError as exc:
            raise _fail(path, key, f"lever {name!r} sets {exc}") from None
    parameters = raw.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _fail(path, "parameters", "expected a table [parameters] of constant = value")
    lever_constants = {definitions[name].constant: name for name in levers}
    for name in parameters:
        if name in lever_constants:
            raise _fail(path, f"parameters.{name}", f"set by the lever "
                        f"{lever_constants[name]!r}: give it in [levers]")
    try:
        checked = model.validate_params(parameters)
    except ModelInputError as exc:
        raise _fail(path, "parameters", str(exc)) from None
    return UserScenario(raw["name"], raw["description"], path, model, horizon, stages,
                        MappingProxyType(levers), MappingProxyType(definitions),
                        MappingProxyType(checked), _outputs(path, raw, model))


def run_user_scenario(scenario: UserScenario | str | Path) -> UserScenarioRun:
    """Simulate a user-model scenario with PySD, stage by stage.

    Returns
    -------
    UserScenarioRun
        Values of the scenario's outputs at every whole time from INITIAL TIME to the horizon.

    Raises
    ------
    ScenarioError
        For an invalid file (when given by path).
    clusterdyn.sdmodels.SimulationError
        If the run produced non-finite values.
    """
    if not isinstance(scenario, UserScenario):
        scenario = load_user_scenario(scenario)
    model = scenario.model
    columns = list(scenario.outputs)
    ends = [start for _, start in scenario.stages[1:]] + [float(scenario.horizon)]
    pysd_model = model._fresh()
    parts = []
    for k, ((_, start), end) in enumerate(zip(scenario.stages, ends, strict=True)):
        last = k == len(ends) - 1
        whole = np.arange(math.ceil(start), math.floor(end) + 1, dtype=float)
        kept = whole[(whole < end) | last]
        stamps = np.union1d(kept, [start, end])
        with _pysd_deprecations_silenced(), np.errstate(all="ignore"):
            out = pysd_model.run(params=scenario.stage_parameters(k), return_columns=columns,
                                 return_timestamps=stamps, final_time=end,
                                 time_step=model.time_step, progress=False,
                                 initial_condition="original" if k == 0 else "current")
        parts.append(out.loc[[t for t in out.index if any(np.isclose(t, kept))], columns])
    frame = pd.concat(parts)
    frame.index = pd.Index(np.rint(frame.index.to_numpy(dtype=float)).astype(int), name="year")
    frame.columns.name = None
    values = frame.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        rows, cols = np.nonzero(~np.isfinite(values))
        raise SimulationError(f"scenario {scenario.name!r} of model {model.name!r} produced "
                              f"non-finite values from time {frame.index[rows.min()]} in "
                              + ", ".join(sorted({columns[c] for c in cols})))
    return UserScenarioRun(scenario, frame.astype(float))


__all__ = ["Lever", "UserScenario", "UserScenarioRun", "is_user_scenario", "load_levers",
           "load_user_scenario", "run_user_scenario"]
