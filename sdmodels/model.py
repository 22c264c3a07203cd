"""The model object: a ``.mdl`` plus settings; ``run()`` returns a new DataFrame each time."""

from __future__ import annotations

import linecache
import math
import re
import tomllib
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pysd

from clusterdyn.sdmodels.errors import ModelInputError, SimulationError, suggest
from clusterdyn.sdmodels.parameters import Parameter
from clusterdyn.sdmodels.translation import (
    element_line,
    load_translation,
    model_hash,
    translated_path,
    translation_is_intact,
)

MODELS_DIR = Path(__file__).parent
#: Where a shipped model's calibration lives (``<name>.toml``, written by ``clusterdyn
#: calibrate``). The model layer reads it as data; it never imports the calibration code.
CALIBRATIONS_DIR = MODELS_DIR.parent / "calibration" / "results"
#: The choices of :func:`load_model`'s ``defaults``.
DEFAULTS = ("calibrated", "mdl")

#: Output names the rest of the project and its users rely on.
PUBLIC_OUTPUTS: tuple[str, ...] = (
    "Production",
    "Production capacity",
    "Price",
    "Export value",
    "World market share",
    "Technological capability",
    "Supplier base",
    "Social capital",
)

#: Latest year a run may reach (forecasts continue the last stage's policies).
MAX_YEAR = 2030
#: Smallest time step a run accepts (years): 53,000 steps to 2030. Halving the default 1/128
#: already moves the outputs by less than 0.8% (validation/report.md); smaller steps only make
#: a run slower, and a step such as 1e-300 would never end.
MIN_DT = 1 / 1024

_CONTROL = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER", "Time"}


@contextmanager
def _pysd_deprecations_silenced() -> Iterator[None]:
    """Silence deprecation notices that PySD's own calls into pandas raise.

    PySD 3.14 calls pandas APIs that pandas 3 deprecates (``inplace=``); those notices are
    about PySD's code, not ours. Only deprecation categories are silenced; every other
    warning still reaches the caller (and fails the tests).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        yield


@dataclass(frozen=True)
class VariableInfo:
    """Documentation of one model variable, as written in the ``.mdl``."""

    name: str
    units: str
    kind: str
    doc: str


@dataclass(frozen=True, eq=False)
class Model:
    """A Vensim model translated by PySD, with typed parameters and isolated runs.

    Use :func:`clusterdyn.sdmodels.load_model` to create one. The object is immutable: every call to
    :meth:`run` simulates a fresh copy of the translated model, so no parameter set or time
    setting leaks from one run to the next.

    Attributes
    ----------
    name : str
        Model name (the ``.mdl`` file stem).
    mdl_path : pathlib.Path
        The Vensim source.
    parameters : Mapping[str, Parameter]
        Declared parameters (constants with a range in the ``.mdl``), by Vensim name.
    variables : Mapping[str, VariableInfo]
        Every model variable, by Vensim name.
    initial_time, final_time, time_step : float
        The ``.mdl``'s control settings (final time is the default ``until``).
    baseline : Mapping[str, float]
        Parameter values that replace the ``.mdl``'s in every run unless a run sets them:
        the shipped calibration by default (see :func:`load_model`), empty for the ``.mdl``'s
        own values.
    defaults_source : str
        Where the defaults come from: ``"mdl"`` or the calibration file's path relative to
        the project (e.g. ``"calibration/results/salmon_cluster.toml"``).
    """

    name: str
    mdl_path: Path
    parameters: Mapping[str, Parameter] = field(repr=False)
    variables: Mapping[str, VariableInfo] = field(repr=False)
    initial_time: float
    final_time: float
    time_step: float
    _py_file: Path = field(repr=False)
    baseline: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}),
                                          repr=False)
    defaults_source: str = "mdl"

    def with_mdl_defaults(self) -> Model:
        """The same model with the ``.mdl``'s own values as defaults (a new object).

        Calibration starts from these, so that a fit never depends on an earlier fit.
        """
        return replace(self, baseline=MappingProxyType({}), defaults_source="mdl")

    def with_calibration(self, path: str | Path) -> Model:
        """The same model with the estimates of a calibration results file as defaults.

        Parameters the file does not hold keep the ``.mdl``'s values (a calibration starts
        from them), so the run reproduces the fit written in ``path`` whatever this model's
        current defaults.

        Parameters
        ----------
        path : str or pathlib.Path
            A results file written by ``clusterdyn calibrate`` for this model.

        Returns
        -------
        Model
            A new object; this one is unchanged.

        Raises
        ------
        ModelInputError
            If the file cannot be read, was fitted to another model, or holds a value that is
            not a parameter of this model or lies outside its declared range.
        """
        path = Path(path)
        fitted_model = _results_model_name(path)
        if fitted_model is not None and fitted_model != self.name:
            raise ModelInputError(f"calibration file {path}: fitted to model {fitted_model!r}, "
                                  f"not {self.name!r}")
        values = _validated_values(path, self.name, self.parameters)
        return replace(self, baseline=MappingProxyType(values), defaults_source=str(path))

    @property
    def defaults(self) -> dict[str, float]:
        """The value every parameter takes in a run that does not set it."""
        return {name: self.baseline.get(name, p.default) for name, p in self.parameters.items()}

    @property
    def stocks(self) -> tuple[str, ...]:
        """Names of the model's stocks (INTEG variables)."""
        return tuple(n for n, v in self.variables.items() if v.kind == "stock")

    @property
    def sha256(self) -> str:
        """SHA-256 of the ``.mdl`` (for provenance)."""
        return model_hash(self.mdl_path)

    def _fresh(self) -> pysd.py_backend.model.Model:
        with _pysd_deprecations_silenced():
            return load_translation(self._translation())

    def _translation(self) -> Path:
        """The cached translation, verified before each run (hashing it takes microseconds).

        A damaged entry is translated again from the ``.mdl``, unless the ``.mdl`` changed
        since loading: the new equations would not match this object's parameters.
        """
        if translation_is_intact(self._py_file):
            return self._py_file
        if f"-{self.sha256[:16]}-" not in self._py_file.parent.name:
            raise ModelInputError(
                f"model file {self.mdl_path} changed since it was loaded and its cached "
                "translation is damaged: load the model again"
            )
        return translated_path(self.mdl_path)

    def validate_params(self, params: Mapping[str, object] | None) -> dict[str, float]:
        """Check parameter names and values; return them as floats.

        Raises
        ------
        ModelInputError
            For an unknown name (with the nearest valid names), a structural constant, a
            non-numeric or non-finite value, or a value outside the declared range.
        """
        checked: dict[str, float] = {}
        for key, value in (params or {}).items():
            if key not in self.parameters:
                if key in self.variables:
                    raise ModelInputError(
                        f"{key!r} is not a settable parameter of model {self.name!r}: it is a "
                        f"{self.variables[key].kind} (only constants with a declared range "
                        "can be set)."
                    )
                raise ModelInputError(
                    f"unknown parameter {key!r} for model {self.name!r}."
                    + suggest(key, self.parameters)
                    + " List them with `clusterdyn params`."
                )
            checked[key] = self.parameters[key].validate(value)
        return checked

    def _check_forced(self, forced: Mapping[str, float] | None) -> dict[str, float]:
        checked: dict[str, float] = {}
        for key, value in (forced or {}).items():
            if key not in self.variables or key in _CONTROL:
                raise ModelInputError(
                    f"cannot force unknown variable {key!r}." + suggest(key, self.variables)
                )
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ModelInputError(
                    f"forced variable {key!r}: expected a number, got {value!r}"
                ) from None
            if not math.isfinite(number):
                raise ModelInputError(f"forced variable {key!r}: expected a finite number")
            checked[key] = number
        return checked

    def _check_variables(self, variables: str | Iterable[str] | None) -> list[str]:
        if variables is None:
            return list(PUBLIC_OUTPUTS)
        if isinstance(variables, str):
            if variables == "all":
                return [n for n in self.variables if n not in _CONTROL]
            variables = [variables]
        names = list(variables)
        for n in names:
            if n in _CONTROL:
                raise ModelInputError(
                    f"{n!r} is a simulation control variable, not an output: the result's "
                    "index already holds the year"
                )
            if n not in self.variables:
                raise ModelInputError(
                    f"unknown variable {n!r} in model {self.name!r}." + suggest(n, self.variables)
                )
        return names

    def _check_time(self, until: object, dt: object) -> tuple[int, float]:
        if until is None:
            until_year = int(self.final_time)
        else:
            try:
                number = float(until)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ModelInputError(f"until: expected a year, got {until!r}") from None
            if not number.is_integer() or not self.initial_time < number <= MAX_YEAR:
                raise ModelInputError(
                    f"until = {until!r}: expected a whole year after {self.initial_time:g} "
                    f"and no later than {MAX_YEAR}"
                )
            until_year = int(number)
        if dt is None:
            step = self.time_step
        else:
            try:
                step = float(dt)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ModelInputError(f"dt: expected a number of years, got {dt!r}") from None
            steps_per_year = 1.0 / step if step > 0 else math.inf
            if not (0 < step <= 1 and abs(steps_per_year - round(steps_per_year)) < 1e-9):
                raise ModelInputError(
                    f"dt = {dt!r}: expected 1/n of a year (e.g. 0.0625, 0.03125), so that every "
                    "year falls on a time step"
                )
            if step < MIN_DT:
                raise ModelInputError(
                    f"dt = {dt!r}: expected at least 1/1024 of a year ({MIN_DT:g}); smaller "
                    "steps change nothing but the run time"
                )
        return until_year, step

    def run(
        self,
        params: Mapping[str, object] | None = None,
        until: int | None = None,
        dt: float | None = None,
        variables: str | Iterable[str] | None = None,
        forced: Mapping[str, float] | None = None,
    ) -> pd.DataFrame:
        """Simulate the model and return yearly values.

        Parameters
        ----------
        params : mapping, optional
            Parameter values by Vensim name (see :attr:`parameters`); others keep their
            defaults (:attr:`defaults`: the shipped calibration, or the ``.mdl``'s).
        until : int, optional
            Last year (default: the ``.mdl``'s FINAL TIME, 2003; at most 2030). After 2003 the
            last stage's policies continue and rest-of-world production grows at its
            1998-2003 trend.
        dt : float, optional
            Euler time step in years, 1/n of a year (default: the ``.mdl``'s TIME STEP).
        variables : "all", str or iterable of str, optional
            Variables to return (default: :data:`PUBLIC_OUTPUTS`).
        forced : mapping, optional
            Variables of any kind (stocks, auxiliaries) replaced by a constant for the whole
            run, for extreme-condition tests such as ``{"Price": 0}``. A forced stock no
            longer integrates its flows.

        Returns
        -------
        pandas.DataFrame
            One row per year (index ``year``, int), one column per variable.

        Raises
        ------
        ModelInputError
            For bad parameters, times or variable names.
        SimulationError
            If the run produced NaN or infinite values, or an equation failed (a division by
            zero, a function PySD does not implement): the message names the element.
        """
        given = self.validate_params(params)
        checked = {**self.baseline, **given}
        checked_forced = self._check_forced(forced)
        columns = self._check_variables(variables)
        until_year, step = self._check_time(until, dt)
        years = np.arange(int(self.initial_time), until_year + 1)
        model = self._fresh()
        # numpy's division by zero gives inf or NaN, reported below with the variables' names;
        # Python's raises, and _equation_error names the element instead.
        with _pysd_deprecations_silenced(), np.errstate(all="ignore"):
            # PySD warns when a variable is replaced by a constant: that is what forcing asks.
            warnings.filterwarnings("ignore", "Replacing ", UserWarning)
            try:
                out = model.run(
                    params={**checked, **checked_forced},
                    return_columns=columns,
                    return_timestamps=years.astype(float),
                    final_time=float(until_year),
                    time_step=step,
                    progress=False,
                )
            except Exception as exc:  # noqa: BLE001 - the model's own errors, re-raised if not
                error = self._equation_error(exc, model, given)
                if error is None:
                    raise
                raise error from None
        out = out[columns]
        out.index = pd.Index(years, name="year")
        out.columns.name = None
        values = out.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            bad_rows, bad_cols = np.nonzero(~np.isfinite(values))
            names = sorted({columns[c] for c in bad_cols})
            raise SimulationError(
                f"model {self.name!r} produced non-finite values from {years[bad_rows.min()]} in "
                f"{', '.join(names)} (parameters: {given or 'defaults'})"
            )
        return out.astype(float)

    def _equation_error(self, exc: Exception, model: pysd.py_backend.model.Model,
                        given: Mapping[str, float]) -> SimulationError | None:
        """A :class:`SimulationError` naming the element whose equation raised ``exc``.

        The element is the innermost function of the translated model on the traceback (a
        division by zero, a recursion through a circular definition, a function PySD does not
        implement). An error raised outside the model's equations is PySD's own, or ours:
        None, and the caller re-raises it, unless it is arithmetic.
        """
        element = _failing_equation(exc, model)
        if element is None and not isinstance(exc, ArithmeticError):
            return None
        when = _current_time(model)
        what = {ZeroDivisionError: "division by zero", OverflowError: "overflow"}.get(
            type(exc), f"{type(exc).__name__}: {_first_line(exc)}")
        where = f" in the equation of {element!r}" if element else ""
        at = f" at time {when:g}" if when is not None else ""
        return SimulationError(
            f"model {self.name!r} ({self.mdl_path}): {what}{where}{at} (parameters: "
            f"{dict(given) or 'defaults'})"
        )


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (PySD's may span several)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _failing_equation(exc: BaseException, model: pysd.py_backend.model.Model) -> str | None:
    """Vensim name of the element whose equation raised ``exc`` (None if not the model's).

    The innermost frame in the translated file is either an element's function or a
    ``lambda`` of a stateful object (a stock's initial value or flows), named after the
    assignment ``_integ_<element> = Integ(...)`` that precedes it.
    """
    frame = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == model.py_model_file:
            frame = tb
        tb = tb.tb_next
    if frame is None:
        return None
    names = dict(zip(model.doc["Py Name"], model.doc["Real Name"], strict=True))
    py_name = frame.tb_frame.f_code.co_name
    if py_name == "<lambda>":
        py_name = _assigned_name(model.py_model_file, frame.tb_lineno)
    for candidate in (py_name, re.sub(r"^_[a-z]+_", "", py_name)):
        if candidate in names:
            return names[candidate]
    return py_name


def _assigned_name(path: str, lineno: int) -> str:
    """Name of the last top-level assignment at or before ``lineno`` of ``path``."""
    for number in range(lineno, 0, -1):
        match = re.match(r"(\w+) = ", linecache.getline(path, number))
        if match:
            return match.group(1)
    return "<lambda>"


def _current_time(model: pysd.py_backend.model.Model) -> float | None:
    try:
        return float(model.time())
    except (TypeError, ValueError, AttributeError):
        return None


def _kind(row: pd.Series) -> str:
    if row["Type"] == "Stateful":
        return "stock" if row["Subtype"] == "Integ" else "delay"
    return {"Constant": "constant", "Auxiliary": "auxiliary", "Lookup": "lookup"}.get(
        row["Type"], str(row["Type"]).lower()
    )


def calibration_file(name: str) -> Path:
    """The shipped calibration results of model ``name`` (which may not exist)."""
    return CALIBRATIONS_DIR / f"{name}.toml"


def read_calibrated_values(path: Path) -> dict[str, float]:
    """Parameter values of a calibration results file (``[parameters."Name"] value = ...``).

    Raises
    ------
    ModelInputError
        If the file cannot be read or has no ``[parameters]`` table of numbers.
    """
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        values = {name: float(entry["value"]) for name, entry in data["parameters"].items()}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ModelInputError(f"calibration file {path}: cannot be read ({exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ModelInputError(
            f"calibration file {path}: expected a [parameters.\"NAME\"] table with a numeric "
            "'value' for every parameter"
        ) from None
    return values


def _baseline(path: Path, model_name: str, defaults: str,
              parameters: Mapping[str, Parameter]) -> tuple[dict[str, float], str]:
    if defaults not in DEFAULTS:
        raise ModelInputError(
            f"defaults = {defaults!r}: expected one of {', '.join(map(repr, DEFAULTS))}"
        )
    if defaults == "mdl" or path.resolve().parent != MODELS_DIR.resolve():
        # A user's own .mdl has no shipped calibration: its own values are its defaults.
        return {}, "mdl"
    found = calibration_file(model_name)
    if not found.is_file():
        raise ModelInputError(
            f"no shipped calibration for model {model_name!r} ({found} is missing): load it "
            f"with defaults=\"mdl\" (--defaults mdl), or run `clusterdyn calibrate -o "
            f"calibration/results/{model_name}.toml`"
        )
    return (_validated_values(found, model_name, parameters),
            f"calibration/results/{found.name}")


def _validated_values(path: Path, model_name: str,
                      parameters: Mapping[str, Parameter]) -> dict[str, float]:
    """The values of a results file, each a parameter of the model within its range."""
    values = read_calibrated_values(path)
    for key, value in values.items():
        if key not in parameters:
            raise ModelInputError(
                f"calibration file {path}: {key!r} is not a parameter of model {model_name!r}"
            )
        try:
            parameters[key].validate(value)
        except ModelInputError as exc:
            raise ModelInputError(f"calibration file {path}: {exc}") from None
    return values


def _results_model_name(path: Path) -> str | None:
    """The model a results file names in ``[calibration] model`` (None if it names none)."""
    try:
        with path.open("rb") as handle:
            head = tomllib.load(handle).get("calibration", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ModelInputError(f"calibration file {path}: cannot be read ({exc})") from None
    name = head.get("model") if isinstance(head, dict) else None
    return name if isinstance(name, str) else None


def _load_translated(path: Path) -> tuple[Path, pysd.py_backend.model.Model]:
    """The verified translation of ``path`` and PySD's model of it (not initialised).

    A cached translation that verifies but does not load (a PySD or Python upgrade, a module
    it imports that changed) is translated again, once; a second failure is the model's.
    """
    py_file = translated_path(path)
    with _pysd_deprecations_silenced():
        try:
            return py_file, load_translation(py_file)
        except Exception:  # noqa: BLE001 - whatever the cause, translating again is the cure
            py_file = translated_path(path, rebuild=True)
        try:
            return py_file, load_translation(py_file)
        except Exception as exc:  # noqa: BLE001 - reported as one line naming the file
            detail = _first_line(exc)
            raise ModelInputError(
                f"model file {path}: PySD cannot load its translation ({type(exc).__name__}"
                f"{': ' + detail if detail else ''})"
            ) from None


def _constant_value(path: Path, template: pysd.py_backend.model.Model, name: str,
                    py_name: str) -> float:
    """The ``.mdl``'s value of a constant; one line naming the element if PySD cannot give it.

    A constant defined twice, for instance, translates into a function that raises
    ``NameError``.
    """
    try:
        return float(getattr(template.components, py_name)())
    except Exception as exc:  # noqa: BLE001 - reported as one line naming the element
        line = element_line(path, name)
        where = f", line {line}" if line else ""
        raise ModelInputError(
            f"model file {path}{where}: element {name!r}: its value cannot be computed "
            f"({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _control_settings(path: Path, template: pysd.py_backend.model.Model) -> dict[str, float]:
    """INITIAL TIME, FINAL TIME and TIME STEP: numbers the ``.mdl`` must define.

    Read from PySD's clock, which has them before the model is initialised (the components'
    functions of the same names reach the clock only through an initialised model).
    """
    settings = {}
    for key, vensim in (("initial_time", "INITIAL TIME"), ("final_time", "FINAL TIME"),
                        ("time_step", "TIME STEP")):
        try:
            value = float(getattr(template.time, key)())
        except Exception:  # noqa: BLE001 - missing, or an equation PySD cannot evaluate
            value = math.nan
        if not math.isfinite(value):
            raise ModelInputError(f"model file {path}: {vensim} must be defined as a number")
        settings[key] = value
    return settings


def load_model(name: str = "salmon_cluster", defaults: str = "calibrated") -> Model:
    """Load a model shipped in ``sdmodels/`` (or a path to any ``.mdl``).

    Parameters
    ----------
    name : str
        Model name (``"salmon_cluster"``) or a path to a Vensim ``.mdl`` file.
    defaults : {"calibrated", "mdl"}
        The parameter values of a run that does not set them. ``"calibrated"`` (default):
        the shipped calibration ``calibration/results/<name>.toml`` of a shipped model (the
        same baseline as ``clusterdyn run``; an error if it is missing); a ``.mdl`` given by
        path has no shipped calibration and keeps its own values. ``"mdl"``: the values
        written in the ``.mdl``. :attr:`Model.defaults_source` says which was used.

    Returns
    -------
    Model

    Raises
    ------
    ModelInputError
        For an unknown model name, a ``.mdl`` that cannot be read or translated (one line
        naming the file and, where known, the line and the element), or a missing shipped
        calibration.
    """
    path = Path(name)
    if path.suffix != ".mdl":
        path = MODELS_DIR / f"{name}.mdl"
    if not path.is_file():
        shipped = sorted(p.stem for p in MODELS_DIR.glob("*.mdl"))
        raise ModelInputError(f"no model {name!r}: expected one of {shipped} or a path to a .mdl")
    py_file, template = _load_translated(path)
    doc = template.doc
    variables: dict[str, VariableInfo] = {}
    parameters: dict[str, Parameter] = {}
    for _, row in doc.iterrows():
        name_ = row["Real Name"]
        kind = _kind(row)
        variables[name_] = VariableInfo(name_, str(row["Units"]), kind, str(row["Comment"]))
        lower, upper = row["Limits"][:2]
        if kind == "constant" and name_ not in _CONTROL and not (
            math.isnan(lower) or math.isnan(upper)
        ):
            default = _constant_value(path, template, name_, row["Py Name"])
            parameters[name_] = Parameter(
                name_, default, float(lower), float(upper), str(row["Units"]), str(row["Comment"])
            )
    baseline, source = _baseline(path, path.stem, defaults, parameters)
    return Model(
        name=path.stem,
        mdl_path=path,
        parameters=MappingProxyType(parameters),
        variables=MappingProxyType(variables),
        **_control_settings(path, template),
        _py_file=py_file,
        baseline=MappingProxyType(baseline),
        defaults_source=source,
    )
