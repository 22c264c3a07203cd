"""The calibration spec: free parameters, targets and search settings, read from TOML.

Loading validates every key against the model and the data and raises :class:`SpecError`
naming the file and the key (``parameters[2].upper``) and what was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterdyn.calibration.data_io import OBSERVATION_SCHEMA, load_observations
from clusterdyn.calibration.priors import Prior, parse_prior
from clusterdyn.calibration.variable_data import load_variable_observations
from clusterdyn.sdmodels.errors import ModelInputError, suggest
from clusterdyn.sdmodels.files import FileProblem, read_toml
from clusterdyn.sdmodels.model import Model, load_model

SPEC_DIR = Path(__file__).parent
TRANSFORMS = ("log", "none")
#: The model whose data follow the FAO schema (:data:`OBSERVATION_SCHEMA`, ``units.csv``);
#: every other model's data name model variables (:mod:`clusterdyn.calibration.variable_data`).
FAO_MODEL = "salmon_cluster"
#: Kinds of model variable an observation column may name.
OBSERVABLE_KINDS = ("stock", "auxiliary", "delay")


class SpecError(ValueError):
    """A calibration spec is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class FreeParameter:
    """A parameter the calibration estimates, with its search bounds and optional prior."""

    name: str
    lower: float
    upper: float
    units: str
    reason: str
    prior: Prior | None = None


@dataclass(frozen=True)
class Target:
    """A data series compared with a model variable."""

    series: str
    variable: str
    transform: str
    sigma: float
    weight: float
    first_year: int
    exclude_years: tuple[int, ...]
    sigma_by_year: dict[int, float] = field(hash=False)
    reason: str

    def sigma_for(self, year: int) -> float:
        """Error scale of ``year`` (a year-range override, or the series' sigma)."""
        return self.sigma_by_year.get(year, self.sigma)


@dataclass(frozen=True)
class SearchSettings:
    """Global search (differential evolution) and local refinement settings."""

    popsize: int
    maxiter: int
    tol: float
    mutation: tuple[float, float]
    recombination: float
    starts: int


@dataclass(frozen=True)
class CalibrationSpec:
    """A parsed, validated calibration spec."""

    path: Path
    model: str
    data: str
    first_year: int
    last_year: int
    parameters: tuple[FreeParameter, ...]
    targets: tuple[Target, ...]
    search: SearchSettings
    quick: SearchSettings
    #: "fao" (the salmon data's schema) or "variables" (columns named after model variables).
    schema: str = "fao"
    #: The variables an observation column may name (schema "variables").
    observable: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def data_path(self) -> Path:
        """The observations file: the ``data`` key, relative to the spec's own folder."""
        return (self.path.parent / self.data).resolve()

    def observations(self) -> pd.DataFrame:
        """The spec's observations, read and validated by
        :func:`clusterdyn.calibration.data_io.load_observations`.

        Raises
        ------
        clusterdyn.calibration.data_io.DataError
            If the file (or the ``units.csv`` beside it) is missing or breaks the schema.
        """
        if self.schema == "variables":
            return load_variable_observations(self.data_path, self.observable, self.model,
                                              (self.first_year, self.last_year))
        return load_observations(self.data_path)

    @property
    def priors(self) -> tuple[Prior | None, ...]:
        """The prior of every free parameter (None: uniform on its search bounds)."""
        return tuple(p.prior for p in self.parameters)

    @property
    def penalised(self) -> bool:
        """Whether any prior adds a residual to the fit (normal or lognormal)."""
        return any(p is not None and p.penalises for p in self.priors)

    @property
    def lower(self) -> np.ndarray:
        return np.array([p.lower for p in self.parameters])

    @property
    def upper(self) -> np.ndarray:
        return np.array([p.upper for p in self.parameters])


def _error(path: Path, key: str, message: str) -> SpecError:
    return SpecError(f"{path}: {key}: {message}")


def _get(table: dict[str, Any], key: str, where: str, path: Path, kind: type | tuple,
         default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise _error(path, f"{where}{key}", "missing")
        return default
    value = table[key]
    if kind in (float, (int, float)) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = kind.__name__ if isinstance(kind, type) else "a number"
        raise _error(path, f"{where}{key}", f"expected {expected}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _error(path, f"{where}{key}", f"expected a finite number, got {value!r}")
    return value


def _check_keys(table: dict[str, Any], allowed: set[str], where: str, path: Path) -> None:
    for key in table:
        if key not in allowed:
            raise _error(path, f"{where}{key}",
                         f"unknown key; expected one of {sorted(allowed)}." + suggest(key, allowed))


def _search(table: dict[str, Any], base: SearchSettings | None, where: str, path: Path
            ) -> SearchSettings:
    keys = {"popsize", "maxiter", "tol", "mutation", "recombination", "starts"}
    _check_keys({k: v for k, v in table.items() if k != "quick"}, keys, where, path)

    def pick(key: str, kind: type | tuple) -> Any:
        default = getattr(base, key) if base is not None else ...
        return _get(table, key, where, path, kind, default)

    settings = SearchSettings(
        popsize=pick("popsize", int), maxiter=pick("maxiter", int), tol=pick("tol", float),
        mutation=tuple(pick("mutation", (list, tuple))),  # type: ignore[arg-type]
        recombination=pick("recombination", float), starts=pick("starts", int),
    )
    for key in ("popsize", "maxiter", "starts"):
        if getattr(settings, key) < 1:
            raise _error(path, f"{where}{key}", "expected a positive whole number")
    if len(settings.mutation) != 2 or not 0 <= settings.mutation[0] <= settings.mutation[1] <= 2:
        raise _error(path, f"{where}mutation", "expected [low, high] with 0 <= low <= high <= 2")
    if not 0 <= settings.recombination <= 1:  # a crossover probability (scipy's definition)
        raise _error(path, f"{where}recombination",
                     f"expected a probability from 0 to 1, got {settings.recombination:g}")
    if settings.tol < 0:
        raise _error(path, f"{where}tol", f"expected a tolerance >= 0, got {settings.tol:g}")
    return settings


def _years(text: str, key: str, path: Path, window: tuple[int, int]) -> list[int]:
    """The years of ``"YYYY"`` or ``"YYYY-YYYY"``, all inside ``window`` (first, last)."""
    first, _, last = str(text).partition("-")
    try:
        a, b = int(first), int(last or first)
    except ValueError:
        raise _error(path, key, f"expected a year or a range 'YYYY-YYYY', got {text!r}") from None
    if a > b:
        raise _error(path, key, f"the range {text!r} runs backwards: expected 'EARLIER-LATER'")
    if a < window[0] or b > window[1]:
        raise _error(path, key, f"{text!r} is outside the spec's years {window[0]}-{window[1]}")
    return list(range(a, b + 1))


def load_spec(model: Model, path: str | Path | None = None) -> CalibrationSpec:
    """Read and validate a calibration spec.

    Parameters
    ----------
    model : clusterdyn.sdmodels.Model
        The model whose parameters and variables the spec must name.
    path : path, optional
        The TOML file (default: ``calibration/<model>.toml``).

    Raises
    ------
    SpecError
        Naming the file and the key for any invalid entry.
    """
    path = Path(path) if path is not None else SPEC_DIR / f"{model.name}.toml"
    raw = _read_spec(path)
    _check_keys(raw, {"calibration", "search", "parameters", "targets"}, "", path)
    head = _get(raw, "calibration", "", path, dict)
    _check_keys(head, {"model", "data", "first_year", "last_year"}, "calibration.", path)
    named = _get(head, "model", "calibration.", path, str)
    if named.endswith(".mdl"):
        wanted = model_reference(path, named)
        if Path(wanted) != model.mdl_path.resolve():
            raise _error(path, "calibration.model", f"spec is for {named!r} ({wanted}, relative "
                         f"to the spec's folder), not {model.mdl_path}")
    elif named != model.name:
        raise _error(path, "calibration.model", f"spec is for {named!r}, not {model.name!r}")
    schema = "fao" if model.name == FAO_MODEL else "variables"
    first = _get(head, "first_year", "calibration.", path, int)
    last = _get(head, "last_year", "calibration.", path, int)
    if not model.initial_time <= first < last <= model.final_time:
        raise _error(path, "calibration.last_year",
                     f"expected {model.initial_time:g} <= first_year < last_year <= "
                     f"{model.final_time:g}")
    search_raw = _get(raw, "search", "", path, dict)
    search = _search(search_raw, None, "search.", path)
    quick = _search(_get(search_raw, "quick", "search.", path, dict, {}), search,
                    "search.quick.", path)

    parameters = []
    for i, item in enumerate(_get(raw, "parameters", "", path, list)):
        where = f"parameters[{i}]."
        _check_keys(item, {"name", "lower", "upper", "units", "reason", "prior"}, where, path)
        name = _get(item, "name", where, path, str)
        if name not in model.parameters:
            raise _error(path, f"{where}name", f"unknown parameter {name!r}."
                         + suggest(name, model.parameters))
        declared = model.parameters[name]
        lower = _get(item, "lower", where, path, (int, float))
        upper = _get(item, "upper", where, path, (int, float))
        if not declared.lower <= lower < upper <= declared.upper:
            raise _error(path, f"{where}upper", f"bounds [{lower:g}, {upper:g}] of {name!r} must "
                         f"satisfy lower < upper inside its declared range "
                         f"[{declared.lower:g}, {declared.upper:g}]")
        units = _get(item, "units", where, path, str)
        if units != declared.units:
            raise _error(path, f"{where}units", f"{name!r} is in {declared.units!r} in the model, "
                         f"not {units!r}")
        prior = None
        if "prior" in item:
            prior = parse_prior(item["prior"], f"{where}prior.", (float(lower), float(upper)),
                                lambda key, message: _error(path, key, message))
        parameters.append(FreeParameter(name, float(lower), float(upper), units,
                                        _get(item, "reason", where, path, str), prior))
    if len({p.name for p in parameters}) != len(parameters):
        raise _error(path, "parameters", "a parameter is listed twice")

    data = _get(head, "data", "calibration.", path, str)
    observable = tuple(n for n, v in model.variables.items() if v.kind in OBSERVABLE_KINDS)
    user_data = None
    if schema == "variables":  # the data name the series: read (and validate) them first
        _check_data_file(path, data)
        user_data = load_variable_observations((path.parent / data).resolve(), observable,
                                               model.name, (first, last))
    series_names = list(OBSERVATION_SCHEMA) if user_data is None else list(user_data.columns)
    targets = []
    allowed = {"series", "variable", "transform", "sigma", "weight", "first_year",
               "exclude_years", "sigma_by_years", "reason"}
    for i, item in enumerate(_get(raw, "targets", "", path, list)):
        where = f"targets[{i}]."
        _check_keys(item, allowed, where, path)
        series = _get(item, "series", where, path, str)
        if series not in series_names:
            what = "" if user_data is None else f" (the columns of {data!r})"
            raise _error(path, f"{where}series", f"unknown data series {series!r}{what}."
                         + suggest(series, series_names))
        variable = _get(item, "variable", where, path, str, series)
        if variable not in model.variables:
            raise _error(path, f"{where}variable", f"unknown model variable {variable!r}."
                         + suggest(variable, model.variables))
        transform = _get(item, "transform", where, path, str)
        if transform not in TRANSFORMS:
            raise _error(path, f"{where}transform", f"expected one of {TRANSFORMS}, got "
                         f"{transform!r}")
        sigma = _get(item, "sigma", where, path, (int, float))
        weight = _get(item, "weight", where, path, (int, float), 1.0)
        if sigma <= 0 or weight < 0:
            raise _error(path, f"{where}sigma", "expected sigma > 0 and weight >= 0")
        by_year: dict[int, float] = {}
        for span, value in _get(item, "sigma_by_years", where, path, dict, {}).items():
            key = f"{where}sigma_by_years.{span}"
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise _error(path, key, f"expected a positive number, got {value!r}")
            by_year.update(dict.fromkeys(_years(span, key, path, (first, last)), float(value)))
        exclude = _get(item, "exclude_years", where, path, list, [])
        if not all(isinstance(y, int) and not isinstance(y, bool) and first <= y <= last
                   for y in exclude):
            raise _error(path, f"{where}exclude_years",
                         f"expected a list of years from {first} to {last}, got {exclude!r}")
        target_first = _get(item, "first_year", where, path, int, first)
        if not first <= target_first <= last:
            raise _error(path, f"{where}first_year", f"expected a year from {first} to {last} "
                         f"(the spec's years), got {target_first}")
        targets.append(Target(series, variable, transform, float(sigma), float(weight),
                              target_first, tuple(exclude), by_year,
                              _get(item, "reason", where, path, str)))
    if not any(t.weight > 0 for t in targets):
        raise _error(path, "targets", "at least one target needs a weight > 0")
    spec = CalibrationSpec(path, model.name, data, first, last, tuple(parameters),
                           tuple(targets), search, quick, schema, observable)
    _check_data_file(path, data)
    observations = spec.observations() if user_data is None else user_data  # validated now
    for i, target in enumerate(spec.targets):
        years = target_years(spec, target, observations)
        if target.weight > 0 and not years:
            raise _error(path, f"targets[{i}]", f"{target.series!r} has no observation in "
                         f"{target.first_year}-{spec.last_year} once exclude_years are left out")
        if user_data is not None and target.transform == "log":
            values = observations.loc[years, target.series]
            if (values <= 0).any():
                year = int(values.index[int((values <= 0).to_numpy().argmax())])
                raise _error(path, f"targets[{i}].transform", f"'log' needs positive "
                             f"observations, but {target.series!r} is {values[year]:g} at time "
                             f"{year} in {data!r}: use transform = \"none\"")
    return spec


def _check_data_file(path: Path, data: str) -> None:
    found = (path.parent / data).resolve()
    if not found.is_file():
        raise _error(path, "calibration.data", f"no data file {data!r} (looked for {found}, "
                     "relative to the spec's folder)")


def _read_spec(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SpecError(f"{path}: no such calibration spec")
    try:
        return read_toml(path)
    except FileProblem as exc:
        raise SpecError(f"{path}: {exc}") from None


def model_reference(path: Path, named: str) -> str:
    """The model a spec at ``path`` names: a shipped name as it is, a ``.mdl`` path resolved
    against the spec's folder (an absolute path stays as it is)."""
    if named.endswith(".mdl"):
        return str((path.parent / named).resolve())
    return named


def spec_model(path: str | Path) -> Model:
    """The model named by the spec's ``[calibration] model``, with its ``.mdl`` defaults.

    Parameters
    ----------
    path : str or Path
        The spec file.

    Returns
    -------
    clusterdyn.sdmodels.Model

    Raises
    ------
    SpecError
        If the spec cannot be read, names no model, or the model cannot be loaded (naming the
        file, the key and the model).
    """
    path = Path(path)
    raw = _read_spec(path)
    head = _get(raw, "calibration", "", path, dict)
    named = _get(head, "model", "calibration.", path, str)
    reference = model_reference(path, named)
    if named.endswith(".mdl") and not Path(reference).is_file():
        raise _error(path, "calibration.model", f"no model file {named!r} (looked for "
                     f"{reference}, relative to the spec's folder)")
    try:
        return load_model(reference, defaults="mdl")
    except ModelInputError as exc:
        raise _error(path, "calibration.model", str(exc)) from None


def target_years(spec: CalibrationSpec, target: Target, observations: pd.DataFrame,
                 last_year: int | None = None) -> list[int]:
    """The years a target compares: observed, from its first year to ``last_year`` (default:
    the spec's), not excluded."""
    last = spec.last_year if last_year is None else last_year
    series = observations[target.series]
    return [int(y) for y in series.index if target.first_year <= y <= last
            and y not in target.exclude_years and pd.notna(series[y])]
