"""Scenario files: reading, validation and ``base`` inheritance (the ``Scenario`` object).

A scenario is a TOML file in ``scenarios/`` (or anywhere, given by path): a lever x stage table
of policy intensities, the start of each lifecycle stage (a year, or a condition on the model
state such as ``"Production >= 1350"``), an optional run horizon and optional parameter
overrides. ``base = "<name>"`` inherits everything from another scenario and overrides parts of
it. Every error names the file and the key and lists the valid choices.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from clusterdyn.scenarios.catalog import RESERVED, SHIPPED_DIR, available
from clusterdyn.sdmodels import MAX_YEAR, ModelInputError, load_model
from clusterdyn.sdmodels.errors import suggest
from clusterdyn.sdmodels.files import FileProblem, read_toml
from clusterdyn.sdmodels.model import Model

#: Folder of the shipped scenario files (``costs.toml`` there is not a scenario).
#: Scenario lever keys and the model's lever names (``<Lever> stage k intensity``).
LEVERS: Mapping[str, str] = MappingProxyType({
    "regulation": "Regulation",
    "technology_transfer": "Technology transfer",
    "precompetitive_research": "Precompetitive research",
    "physical_infrastructure": "Physical infrastructure",
    "export_promotion": "Export promotion",
    "supplier_development": "Supplier development",
    "environmental_management": "Environmental management",
    "technology_missions": "Technology missions",
    "biotechnology": "Biotechnology",
})
#: Lifecycle stages of Table 3.1, in order.
STAGES: tuple[str, ...] = ("initial_learning", "maturing", "globalisation")
#: Display names of the stages (figures and reports), numbered as in Table 3.1.
STAGE_LABELS: Mapping[str, str] = MappingProxyType({
    "initial_learning": "1 Initial learning",
    "maturing": "2 Maturing",
    "globalisation": "3 Globalisation",
})
#: Model constants holding the start year of the later stages.
START_PARAMETERS: Mapping[str, str] = MappingProxyType({
    "maturing": "Maturing stage start year",
    "globalisation": "Globalisation stage start year",
})
#: Comparison operators allowed in a stage condition.
OPERATORS: tuple[str, ...] = (">=", ">", "<=", "<")
#: Horizon bounds: KPIs are taken in 2003, forecasts go to MAX_YEAR.
KPI_YEAR = 2003
TOP_LEVEL_KEYS = ("name", "description", "rationale", "base", "horizon", "stages", "levers",
                  "parameters")

_CONDITION = re.compile(r"^\s*(?P<var>[^<>=!]+?)\s*(?P<op>>=|<=|>|<)\s*(?P<num>[^<>=]+?)\s*$")


class ScenarioError(ValueError):
    """A scenario file or name is invalid; the message names the file, the key and the fix."""


def intensity_parameter(lever: str, stage: int) -> str:
    """Model constant of ``lever`` (a key of :data:`LEVERS`) in stage 1, 2 or 3."""
    return f"{LEVERS[lever]} stage {stage} intensity"


#: Model constants a scenario sets through ``[levers]`` and ``[stages]``, not ``[parameters]``.
POLICY_PARAMETERS = frozenset(
    [intensity_parameter(lever, k) for lever in LEVERS for k in (1, 2, 3)]
    + list(START_PARAMETERS.values())
)


@dataclass(frozen=True)
class Condition:
    """A stage trigger: one model variable compared with a number, e.g. ``Production >= 1350``.

    Attributes
    ----------
    variable : str
        A model stock or auxiliary (Vensim name).
    operator : str
        One of ``>=``, ``>``, ``<=``, ``<``.
    threshold : float
        The number the variable is compared with (in the variable's units).
    """

    variable: str
    operator: str
    threshold: float

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Element-wise truth of the condition for an array of the variable's values."""
        compare = {">=": np.greater_equal, ">": np.greater, "<=": np.less_equal,
                   "<": np.less}[self.operator]
        return compare(np.asarray(values, dtype=float), self.threshold)

    def __str__(self) -> str:
        return f"{self.variable} {self.operator} {self.threshold:g}"


#: A stage start: a calendar year or a condition on the model state.
Start = float | Condition


@dataclass(frozen=True)
class Scenario:
    """A validated policy scenario, with its ``base`` already applied.

    Attributes
    ----------
    name : str
        The file stem.
    description, rationale : str
        What the scenario changes, and why (tied to Pietrobelli 2010).
    path : pathlib.Path or None
        The scenario file; None for a scenario built in code (:func:`from_dict`).
    base : str or None
        Name of the scenario it overrides.
    horizon : int
        Last simulated year (2003 to 2030).
    starts : Mapping[str, float | Condition]
        Start of each stage of :data:`STAGES` (``initial_learning`` always starts in 1978).
    levers : Mapping[str, tuple[float, float, float]]
        Intensity of each lever of :data:`LEVERS` in stages 1, 2 and 3.
    parameters : Mapping[str, float]
        Other model parameters set by the scenario (validated against their ranges).
    """

    name: str
    description: str = field(repr=False)
    rationale: str = field(repr=False)
    path: Path | None
    base: str | None
    horizon: int
    starts: Mapping[str, Start]
    levers: Mapping[str, tuple[float, float, float]]
    parameters: Mapping[str, float]

    def __hash__(self) -> int:  # the mappings are read-only views; hash the identity
        return hash((self.name, self.path, self.horizon))

    @property
    def triggered(self) -> tuple[str, ...]:
        """Stages whose start is a condition on the model state."""
        return tuple(s for s in STAGES if isinstance(self.starts[s], Condition))

    def calendar_parameters(self) -> dict[str, float]:
        """The scenario as model parameters: intensities, calendar starts and overrides.

        Stages started by a condition are left out (see :func:`clusterdyn.scenarios.run`).
        """
        params = dict(self.parameters)
        for lever, values in self.levers.items():
            for k, value in enumerate(values, start=1):
                params[intensity_parameter(lever, k)] = value
        for stage, constant in START_PARAMETERS.items():
            if not isinstance(self.starts[stage], Condition):
                params[constant] = float(self.starts[stage])  # type: ignore[arg-type]
        return params


@functools.cache
def default_model() -> Model:
    """The salmon cluster model (loaded once per process)."""
    return load_model("salmon_cluster")


def _show(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _fail(path: Path, key: str | None, message: str) -> ScenarioError:
    where = f"{_show(path)}: " + (f"key {key!r}: " if key else "")
    return ScenarioError(where + message)


def _choices(name: str, valid: list[str] | tuple[str, ...]) -> str:
    return suggest(name, valid) + " Valid: " + ", ".join(repr(v) for v in valid) + "."


def scenario_path(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """Locate a scenario: a ``.toml`` path, or a name (beside ``relative_to``, then shipped).

    A relative path is taken relative to ``relative_to`` when given (a ``base`` is resolved
    beside the file that names it), otherwise to the working directory.
    """
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(text)
        if relative_to is not None and not path.is_absolute():
            # a base named by path is beside the file that names it, wherever the user is
            path = relative_to / path
        if not path.is_file():
            raise ScenarioError(f"no scenario file {str(path)!r}")
        return path
    folders = [relative_to] if relative_to is not None else []
    for folder in [*folders, SHIPPED_DIR]:
        path = folder / f"{text}.toml"
        if text not in RESERVED and path.is_file():
            return path
    raise ScenarioError(f"unknown scenario {text!r}." + _choices(text, available())
                        + " Or give a path to a .toml file.")


def _number(path: Path, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, key, f"expected a finite number, got {value!r}")
    return float(value)


def parse_condition(text: str, path: Path, key: str, model: Model) -> Condition:
    """Parse ``"<variable> <op> <number>"``; raise :class:`ScenarioError` naming file and key."""
    match = _CONDITION.match(text)
    number = None
    if match:
        try:
            number = float(match["num"])
        except ValueError:
            number = None
    if match is None or number is None or not math.isfinite(number):
        raise _fail(path, key, f"cannot parse condition {text!r}: expected '<model variable> "
                    f"<op> <number>' with <op> one of {', '.join(OPERATORS)}, "
                    "e.g. 'Production >= 1350'")
    variable = match["var"]
    if variable.strip().lower() == "time":
        raise _fail(path, key, f"condition {text!r}: a stage that starts at a time is a calendar "
                    f"start: write start = {number:g} instead of a condition on Time")
    watchable = [n for n, v in model.variables.items() if v.kind in ("stock", "auxiliary",
                                                                    "delay")]
    if variable not in watchable:
        kind = model.variables[variable].kind if variable in model.variables else None
        what = f"is a {kind}, not a stock or auxiliary" if kind else "is not a model variable"
        raise _fail(path, key, f"condition {text!r}: {variable!r} {what}."
                    + suggest(variable, watchable)
                    + " Any stock or auxiliary of the model may be watched (e.g. 'Production', "
                    "'Export value'); list them with `clusterdyn run --all-variables`.")
    return Condition(variable, match["op"], number)


def _parse_start(path: Path, stage: str, value: object, model: Model) -> Start:
    key = f"stages.{stage}.start"
    if isinstance(value, str):
        if stage == STAGES[0]:
            raise _fail(path, key, "the initial learning stage starts with the run "
                        f"({model.initial_time:g}); it cannot wait for a condition")
        return parse_condition(value, path, key, model)
    year = _number(path, key, value)
    if stage == STAGES[0]:
        if year != model.initial_time:
            raise _fail(path, key, f"the initial learning stage starts with the run: expected "
                        f"{model.initial_time:g}, got {year:g}")
        return year
    bounds = model.parameters[START_PARAMETERS[stage]]
    if not bounds.lower <= year <= bounds.upper:
        raise _fail(path, key, f"year {year:g} is outside [{bounds.lower:g}, {bounds.upper:g}]")
    return year


def _parse_layer(path: Path, raw: dict[str, Any], model: Model) -> dict[str, Any]:
    """Validate one file's own content; return its parts (levers, starts, parameters...)."""
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise _fail(path, key, "unknown top-level key." + _choices(key, TOP_LEVEL_KEYS))
    for key in ("name", "description", "rationale"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise _fail(path, key, "required: a non-empty string")
    if raw["name"] != path.stem:
        raise _fail(path, "name", f"{raw['name']!r} must equal the file name {path.stem!r}")
    layer: dict[str, Any] = {"levers": {}, "starts": {}, "parameters": {}, "horizon": None}
    if "base" in raw and not isinstance(raw["base"], str):
        raise _fail(path, "base", f"expected a scenario name, got {raw['base']!r}")
    if "horizon" in raw:
        h = raw["horizon"]
        if isinstance(h, bool) or not isinstance(h, int) or not KPI_YEAR <= h <= MAX_YEAR:
            raise _fail(path, "horizon", f"expected a whole year from {KPI_YEAR} to {MAX_YEAR} "
                        f"(KPIs are taken in {KPI_YEAR}), got {h!r}")
        layer["horizon"] = h
    for table in ("stages", "levers", "parameters"):
        if table in raw and not isinstance(raw[table], dict):
            raise _fail(path, table, f"expected a table [{table}]")
    for stage, entry in raw.get("stages", {}).items():
        if stage not in STAGES:
            raise _fail(path, f"stages.{stage}", "unknown stage." + _choices(stage, STAGES))
        if not isinstance(entry, dict) or set(entry) != {"start"}:
            raise _fail(path, f"stages.{stage}", "expected a table with the single key 'start' "
                        "(a year, or a condition such as \"Production >= 1350\")")
        layer["starts"][stage] = _parse_start(path, stage, entry["start"], model)
    for lever, values in raw.get("levers", {}).items():
        key = f"levers.{lever}"
        if lever not in LEVERS:
            raise _fail(path, key, "unknown lever." + _choices(lever, tuple(LEVERS)))
        if not isinstance(values, list) or len(values) != len(STAGES):
            raise _fail(path, key, f"expected a list of {len(STAGES)} intensities (one per "
                        f"stage: {', '.join(STAGES)}), got {values!r}")
        numbers = tuple(_number(path, key, v) for v in values)
        if not all(0 <= v <= 1 for v in numbers):
            raise _fail(path, key, f"intensities must lie in [0, 1], got {values!r}")
        layer["levers"][lever] = numbers
    for name, value in raw.get("parameters", {}).items():
        key = f"parameters.{name}"
        if name in POLICY_PARAMETERS:
            where = "[stages]" if name in START_PARAMETERS.values() else "[levers]"
            raise _fail(path, key, f"a policy constant: set it in {where}")
        try:
            layer["parameters"][name] = model.validate_params({name: value})[name]
        except ModelInputError as exc:
            raise _fail(path, key, str(exc)) from None
    return layer


def _read(path: Path) -> dict[str, Any]:
    try:
        return read_toml(path)
    except FileProblem as exc:
        raise _fail(path, None, str(exc)) from None


def _check_complete(path: Path, levers: dict, starts: dict) -> None:
    missing = [lever for lever in LEVERS if lever not in levers]
    if missing:
        raise _fail(path, "levers", f"missing {', '.join(missing)}: a scenario without `base` "
                    f"gives all nine levers ({', '.join(LEVERS)})")
    missing = [s for s in STAGES[1:] if s not in starts]
    if missing:
        raise _fail(path, "stages", f"missing {', '.join(missing)}: a scenario without `base` "
                    f"gives the start of {', '.join(STAGES[1:])}")


def check_order(path: Path, starts: Mapping[str, Start]) -> None:
    """Refuse calendar stage starts that do not increase (naming ``path`` and the stage)."""
    calendar = [(s, starts[s]) for s in STAGES if not isinstance(starts[s], Condition)]
    for (first, a), (second, b) in zip(calendar, calendar[1:], strict=False):
        if not a < b:  # type: ignore[operator]
            raise _fail(path, f"stages.{second}.start", f"calendar stage starts must increase: "
                        f"{first} starts in {a:g} and {second} in {b:g}")


def load(name_or_path: str | Path, model: Model | None = None) -> Scenario:
    """Load and validate a scenario by shipped name or by path, with its ``base`` applied.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A name from :func:`available` or a path to a ``.toml`` file. A ``base`` is looked up
        beside the file first, then among the shipped scenarios.
    model : Model, optional
        The model whose parameters validate ``[parameters]`` (default: the salmon model).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        For any invalid content; the message names the file and the key.
    """
    model = model or default_model()
    return _load(scenario_path(name_or_path), model, ())


def from_dict(data: Mapping[str, Any], model: Model | None = None) -> Scenario:
    """Build a scenario in code, validated exactly as a scenario file is.

    Parameters
    ----------
    data : mapping
        The keys of a scenario file: ``name``, ``description``, ``rationale``, and ``base``
        (a shipped scenario name), ``horizon``, ``stages``, ``levers``, ``parameters`` as
        needed. For example ``{"name": "early_export", "description": "...", "rationale":
        "...", "base": "historical", "levers": {"export_promotion": [1, 0.5, 0.5]}}``.
    model : Model, optional
        The model whose parameters validate ``parameters`` (default: the salmon model).

    Returns
    -------
    Scenario
        With ``path`` None. Save it as a file with the same keys to run it from the command
        line.

    Raises
    ------
    ScenarioError
        For any invalid content; the message names the scenario and the key.
    """
    if not isinstance(data, Mapping):
        raise ScenarioError(f"a scenario is a mapping of its keys, got {type(data).__name__}")
    raw = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    name = raw.get("name")
    label = Path(name if isinstance(name, str) and name.strip() else "scenario")
    scenario = _load(label, model or default_model(), (), raw=raw)
    return replace(scenario, path=None)


def _load(path: Path, model: Model, chain: tuple[Path, ...],
          raw: dict[str, Any] | None = None) -> Scenario:
    if path.resolve() in chain:
        names = " -> ".join(p.stem for p in (*chain, path.resolve()))
        raise _fail(path, "base", f"circular base: {names}")
    raw = _read(path) if raw is None else raw
    layer = _parse_layer(path, raw, model)
    base_name = raw.get("base")
    if base_name is None:
        _check_complete(path, layer["levers"], layer["starts"])
        levers, parameters = layer["levers"], layer["parameters"]
        starts = {STAGES[0]: model.initial_time, **layer["starts"]}
        horizon = layer["horizon"] or KPI_YEAR
    else:
        try:
            base_path = scenario_path(base_name, relative_to=path.parent)
        except ScenarioError:
            raise _fail(path, "base", f"unknown base scenario {base_name!r}."
                        + _choices(base_name, available())) from None
        parent = _load(base_path, model, (*chain, path.resolve()))
        levers = {**parent.levers, **layer["levers"]}
        starts = {**parent.starts, **layer["starts"]}
        parameters = {**parent.parameters, **layer["parameters"]}
        horizon = layer["horizon"] or parent.horizon
    check_order(path, starts)
    return Scenario(
        name=raw["name"], description=raw["description"].strip(),
        rationale=raw["rationale"].strip(), path=path, base=base_name, horizon=horizon,
        starts=MappingProxyType({s: starts[s] for s in STAGES}),
        levers=MappingProxyType({k: levers[k] for k in LEVERS}),
        parameters=MappingProxyType(dict(parameters)),
    )
