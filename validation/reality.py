"""Reality checks as data: conditions imposed on the model and what they must imply.

In the spirit of Vensim's Reality Check (Peterson and Eberlein 1994), each check in a
``<model>.checks.toml`` file imposes a condition (parameters set, variables forced to a value
for the whole run or from a given year on) and lists expectations about the resulting run:
a variable compared with a number, with another variable of the same run or with the same
variable in the baseline run, in every year, in some year or in one year. The file format is
documented in the shipped ``sdmodels/salmon_cluster.checks.toml``; :func:`load_checks`
validates a file against it, naming the file and the key of any problem.
"""

from __future__ import annotations

import fnmatch
import math
import operator
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clusterdyn.sdmodels import Model, ModelInputError, SimulationError
from clusterdyn.sdmodels.errors import suggest
from clusterdyn.sdmodels.files import FileProblem, read_toml
from clusterdyn.sdmodels.model import _pysd_deprecations_silenced

RELATIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "<": operator.lt, "<=": operator.le, "==": operator.eq, ">=": operator.ge, ">": operator.gt,
}  # fmt: skip
_CONTROL = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER", "Time"}
_CHECK_KEYS = {"name", "description", "params", "forced", "from_year", "until", "expect"}
_EXPECT_KEYS = {"variable", "relation", "value", "baseline", "reference", "scale", "years",
                "quantifier", "tolerance"}  # fmt: skip


class CheckFileError(ValueError):
    """A reality-checks file is missing or invalid; the message names the file and the key."""

    def __init__(self, path: str | Path, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")


@dataclass(frozen=True)
class Expectation:
    """What a check's run must show: ``variable relation scale * right-hand side``.

    The right-hand side is a number (``value``), another variable of the same run
    (``reference``) or the same variable in the baseline run (``baseline``). ``years`` is
    the span tested; ``quantifier`` says whether every year or some year must satisfy it.
    """

    variable: str
    relation: str
    value: float | None
    reference: str | None
    baseline: bool
    scale: float
    years: tuple[int, int] | None
    quantifier: str
    tolerance: float

    def describe(self) -> str:
        """The expectation in words, e.g. ``"Production < 10000 in 2003"``."""
        rhs = (f"{self.value:g}" if self.value is not None
               else "its baseline value" if self.baseline else repr(self.reference))  # fmt: skip
        if self.scale != 1:
            rhs = f"{self.scale:g} x {rhs}"
        tol = f" (within {self.tolerance:g})" if self.tolerance else ""
        if self.years is None:
            span = "every year" if self.quantifier == "all" else "some year"
        elif self.years[0] == self.years[1]:
            span = f"in {self.years[0]}"
        else:
            span = (f"{'every' if self.quantifier == 'all' else 'some'} year "
                    f"{self.years[0]}-{self.years[1]}")  # fmt: skip
        return f"{self.variable!r} {self.relation} {rhs}{tol}, {span}"


@dataclass(frozen=True)
class RealityCheck:
    """One check: a condition and its expectations.

    ``params`` holds every parameter set (glob patterns expanded); ``patterns`` the
    ``params`` table as written in the file.
    """

    name: str
    description: str
    params: Mapping[str, float]
    patterns: Mapping[str, float]
    forced: Mapping[str, float]
    from_year: int | None
    until: int
    expect: tuple[Expectation, ...]


def _fail(path: Path, key: str, problem: str) -> CheckFileError:
    return CheckFileError(path, key, problem)


def _number(path: Path, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, key, f"expected a finite number, got {value!r}")
    return float(value)


def _year(path: Path, key: str, value: object, model: Model) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(path, key, f"expected a whole year, got {value!r}")
    if not model.initial_time <= value <= 2030:
        raise _fail(path, key, f"year {value} is outside {model.initial_time:g}-2030")
    return value


def _table(path: Path, key: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, key, f"expected a table, got {type(value).__name__}")
    return value


def _unknown_keys(path: Path, key: str, table: dict, allowed: set[str]) -> None:
    for name in table:
        if name not in allowed:
            raise _fail(path, f"{key}.{name}", "unknown key." + suggest(name, allowed)
                        + f" Allowed: {', '.join(sorted(allowed))}")


def _variable(path: Path, key: str, name: object, model: Model) -> str:
    if not isinstance(name, str) or name not in model.variables or name in _CONTROL:
        raise _fail(path, key, f"unknown variable {name!r} of model {model.name!r}."
                    + suggest(str(name), model.variables))
    return name


def _expectation(path: Path, key: str, raw: object, model: Model, until: int) -> Expectation:
    table = _table(path, key, raw)
    _unknown_keys(path, key, table, _EXPECT_KEYS)
    for required in ("variable", "relation"):
        if required not in table:
            raise _fail(path, f"{key}.{required}", "missing required key")
    variable = _variable(path, f"{key}.variable", table["variable"], model)
    relation = table["relation"]
    if relation not in RELATIONS:
        raise _fail(path, f"{key}.relation", f"expected one of {list(RELATIONS)}, got "
                    f"{relation!r}")
    sides = [k for k in ("value", "baseline", "reference") if k in table]
    if len(sides) != 1:
        raise _fail(path, key, "expected exactly one of 'value', 'baseline' (true) or "
                    f"'reference' (a variable name), got {sides or 'none'}")
    if "baseline" in table and table["baseline"] is not True:
        raise _fail(path, f"{key}.baseline", f"expected true, got {table['baseline']!r}")
    value = _number(path, f"{key}.value", table["value"]) if "value" in table else None
    reference = (_variable(path, f"{key}.reference", table["reference"], model)
                 if "reference" in table else None)  # fmt: skip
    scale = _number(path, f"{key}.scale", table.get("scale", 1.0))
    tolerance = _number(path, f"{key}.tolerance", table.get("tolerance", 0.0))
    if tolerance < 0 or (tolerance and relation != "=="):
        raise _fail(path, f"{key}.tolerance", "expected a number >= 0, and only with '=='")
    quantifier = table.get("quantifier", "all")
    if quantifier not in ("all", "any"):
        raise _fail(path, f"{key}.quantifier", f"expected 'all' or 'any', got {quantifier!r}")
    years_raw = table.get("years", "all")
    if years_raw == "all":
        years = None
    elif isinstance(years_raw, list) and len(years_raw) == 2:
        years = (_year(path, f"{key}.years", years_raw[0], model),
                 _year(path, f"{key}.years", years_raw[1], model))  # fmt: skip
    else:
        year = _year(path, f"{key}.years", years_raw, model)
        years = (year, year)
    if years is not None and not years[0] <= years[1] <= until:
        raise _fail(path, f"{key}.years", f"expected an ordered span ending by {until}, got "
                    f"{years_raw!r}")
    return Expectation(variable, relation, value, reference, "baseline" in table, scale, years,
                       quantifier, tolerance)


def _check(path: Path, index: int, raw: object, model: Model, names: set[str]) -> RealityCheck:
    key = f"check[{index}]"
    table = _table(path, key, raw)
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, f"{key}.name", f"expected a non-empty string, got {name!r}")
    if name in names:
        raise _fail(path, f"{key}.name", f"duplicate check name {name!r}")
    key = f"check[{index}] ({name!r})"
    _unknown_keys(path, key, table, _CHECK_KEYS)
    description = table.get("description", "")
    if not isinstance(description, str):
        raise _fail(path, f"{key}.description", "expected a string")
    params: dict[str, float] = {}
    patterns: dict[str, float] = {}
    for pattern, value in _table(path, f"{key}.params", table.get("params", {})).items():
        number = patterns[pattern] = _number(path, f"{key}.params.{pattern!r}", value)
        matched = fnmatch.filter(model.parameters, pattern) if "*" in pattern else [pattern]
        if not matched:
            raise _fail(path, f"{key}.params.{pattern!r}", "the pattern matches no parameter")
        try:
            params.update(model.validate_params(dict.fromkeys(matched, number)))
        except ModelInputError as exc:
            raise _fail(path, f"{key}.params.{pattern!r}", str(exc)) from None
    forced = {
        _variable(path, f"{key}.forced.{v!r}", v, model): _number(path, f"{key}.forced.{v!r}", x)
        for v, x in _table(path, f"{key}.forced", table.get("forced", {})).items()
    }
    from_year = table.get("from_year")
    if from_year is not None:
        from_year = _year(path, f"{key}.from_year", from_year, model)
        if not forced:
            raise _fail(path, f"{key}.from_year", "only meaningful with 'forced' variables")
    until = _year(path, f"{key}.until", table.get("until", int(model.final_time)), model)
    if until <= model.initial_time or (from_year is not None and from_year > until):
        raise _fail(path, f"{key}.until", f"expected a year after {model.initial_time:g} and "
                    "not before 'from_year'")
    expect = table.get("expect")
    if not isinstance(expect, list) or not expect:
        raise _fail(path, f"{key}.expect", "expected at least one [[check.expect]] table")
    return RealityCheck(name, description, params, patterns, forced, from_year, until, tuple(
        _expectation(path, f"{key}.expect[{i}]", e, model, until) for i, e in enumerate(expect)
    ))


def default_checks_path(model: Model) -> Path:
    """``<model>.checks.toml`` next to the model's ``.mdl``."""
    return model.mdl_path.with_name(f"{model.mdl_path.stem}.checks.toml")


def load_checks(model: Model, path: str | Path | None = None) -> tuple[RealityCheck, ...]:
    """Read and validate a reality-checks file for ``model``.

    Raises
    ------
    CheckFileError
        If the file is missing, is not TOML or breaks the format (naming file and key).
    """
    path = Path(path) if path is not None else default_checks_path(model)
    try:
        data = read_toml(path)
    except FileProblem as exc:
        raise CheckFileError(path, "", str(exc)) from None
    _unknown_keys(path, "(top level)", data, {"check"})
    checks = data.get("check")
    if not isinstance(checks, list) or not checks:
        raise CheckFileError(path, "check", "expected at least one [[check]] table")
    names: set[str] = set()
    out = []
    for i, raw in enumerate(checks):
        out.append(_check(path, i, raw, model, names))
        names.add(out[-1].name)
    return tuple(out)


def simulate(model: Model, params: Mapping[str, float], forced: Mapping[str, float],
             from_year: int | None, until: int, variables: list[str]) -> pd.DataFrame:
    """Run ``model``, with ``forced`` values from ``from_year`` on (whole run if None).

    Forcing from a year on replaces the variable in PySD's translated model by a function of
    time that calls the variable's own equation before ``from_year`` and returns the forced
    value from then on (PySD accepts callables as parameters), so the run is identical to the
    baseline before that year.
    """
    if from_year is None:
        return model.run(params=params, forced=forced, until=until, variables=variables)
    checked = model.validate_params(params)
    pysd_model = model._fresh()
    clock = pysd_model.time
    py_names = dict(zip(pysd_model.doc["Real Name"], pysd_model.doc["Py Name"], strict=True))
    replaced: dict[str, object] = {}
    for name, value in forced.items():
        original = getattr(pysd_model.components, py_names[name])

        def component(original: Callable[[], float] = original, value: float = value) -> float:
            return value if clock() >= from_year else original()

        replaced[name] = component
    years = np.arange(int(model.initial_time), until + 1)
    with _pysd_deprecations_silenced(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Replacing ", UserWarning)
        out = pysd_model.run(params={**checked, **replaced}, return_columns=variables,
                             return_timestamps=years.astype(float), final_time=float(until),
                             progress=False)  # fmt: skip
    out = out[variables].astype(float)
    out.index = pd.Index(years, name="year")
    if not np.isfinite(out.to_numpy()).all():
        raise SimulationError(f"model {model.name!r} produced non-finite values")
    return out


@dataclass(frozen=True)
class ExpectationResult:
    """Outcome of one expectation: whether it holds and what the run showed."""

    expectation: Expectation
    passed: bool
    detail: str


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one reality check (``error`` is set when its run failed)."""

    check: RealityCheck
    results: tuple[ExpectationResult, ...]
    error: str | None = None

    @property
    def passed(self) -> bool:
        """True when the run succeeded and every expectation holds."""
        return self.error is None and all(r.passed for r in self.results)


def evaluate(expectation: Expectation, run: pd.DataFrame,
             baseline: pd.DataFrame) -> ExpectationResult:
    """Test one expectation on a run (``baseline``: the run without the check's condition)."""
    e = expectation
    first, last = e.years if e.years is not None else (run.index[0], run.index[-1])
    span = slice(first, last)
    lhs = run.loc[span, e.variable].to_numpy()
    if e.value is not None:
        rhs = np.full_like(lhs, e.value)
    elif e.baseline:
        rhs = baseline.loc[span, e.variable].to_numpy()
    else:
        rhs = run.loc[span, e.reference].to_numpy()
    rhs = rhs * e.scale
    ok = np.abs(lhs - rhs) <= e.tolerance if e.relation == "==" else RELATIONS[e.relation](lhs, rhs)
    years = run.loc[span].index.to_numpy()
    passed = bool(ok.all() if e.quantifier == "all" else ok.any())
    shown = int(np.argmin(ok)) if not ok.all() else int(np.argmax(np.abs(lhs - rhs)))
    where = f"{years[shown]}: {lhs[shown]:.6g}"
    if e.value is None:
        where += f" vs {rhs[shown]:.6g}"
    if passed:
        detail = f"holds in {int(ok.sum())} of {len(ok)} years (e.g. {where})"
    elif e.quantifier == "all":
        detail = f"fails in {int((~ok).sum())} of {len(ok)} years (first {where})"
    else:
        detail = f"fails in all {len(ok)} years (e.g. {where})"
    return ExpectationResult(e, passed, detail)


def run_checks(model: Model, checks: tuple[RealityCheck, ...],
               base_params: Mapping[str, float] | None = None) -> tuple[CheckResult, ...]:
    """Run every check and test its expectations.

    Parameters
    ----------
    model : Model
    checks : tuple of RealityCheck
        From :func:`load_checks`.
    base_params : mapping, optional
        Parameters of the baseline (e.g. the shipped calibration); a check's own parameters
        apply on top of them.

    Returns
    -------
    tuple of CheckResult
        A run that fails (non-finite values, bad input) fails its check with the error.
    """
    base = dict(base_params or {})
    needed = sorted({n for c in checks for e in c.expect
                     for n in (e.variable, e.reference) if n is not None})  # fmt: skip
    baselines: dict[int, pd.DataFrame] = {}
    results = []
    for check in checks:
        try:
            if check.until not in baselines:
                baselines[check.until] = model.run(params=base, until=check.until,
                                                   variables=needed)  # fmt: skip
            run = simulate(model, {**base, **check.params}, check.forced, check.from_year,
                           check.until, needed)  # fmt: skip
        except (ModelInputError, SimulationError) as exc:
            results.append(CheckResult(check, (), f"the run failed: {exc}"))
            continue
        baseline = baselines[check.until]
        results.append(CheckResult(check, tuple(evaluate(e, run, baseline)
                                                for e in check.expect)))  # fmt: skip
    return tuple(results)
