"""Run any Vensim ``.mdl`` with the compiled engine, PySD, or the first of them that can.

>>> from clusterdyn.sdmodels.engines import run_mdl
>>> frame = run_mdl("teacup.mdl", params={"Room Temperature": 60})  # doctest: +SKIP

:func:`run_mdl` returns the model's own trajectory: one row per SAVEPER time, in the model's
time unit, from INITIAL TIME to FINAL TIME (or ``until``); the index is ``Time``, as in the
output files Vensim writes, and the columns are named as Vensim and PySD name them, a
subscripted variable as one column per element, ``Name[a,b]``. Control variables (INITIAL
TIME, FINAL TIME, TIME STEP, SAVEPER) are not columns.

The engines:

``"compiled"``
    :mod:`clusterdyn.sdmodels.compiled`: the model compiled to array code. A construct it does
    not implement raises :class:`~clusterdyn.sdmodels.compiled.UnsupportedConstruct`, whose
    message names the element and the construct.
``"pysd"``
    PySD, on the model's translation in the project's cache
    (:mod:`clusterdyn.sdmodels.translation`; never next to the ``.mdl``). External data files
    (``GET XLS DATA`` and the like) are read from the ``.mdl``'s own folder.
``"auto"`` (default)
    The compiled engine, or PySD if the compiled engine cannot run the model; ``notice`` then
    receives one line naming the construct. The line is only displayed: the values are those
    of whichever engine ran, and both give the same trajectories (the conformance suite,
    ``tests/test_conformance.py``, checks it to a relative 1e-9 on every model the compiled
    engine accepts).
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clusterdyn.sdmodels.engine_names import ENGINES
from clusterdyn.sdmodels.errors import ModelInputError, SimulationError, suggest

#: Vensim's simulation control variables: settings of a run, not output columns.
CONTROL = ("INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER")
#: Name of the time index (and of the first column of a CSV), as in Vensim's output files.
TIME = "Time"


def print_to_stderr(message: str) -> None:
    """Print one line on standard error (the default ``notice`` of :func:`run_mdl`)."""
    print(message, file=sys.stderr, flush=True)


def _number(name: str, value: object) -> float:
    """``value`` (a number, or a string holding one) as a finite float.

    Raises
    ------
    ModelInputError
        Naming the parameter, for a non-numeric or non-finite value.
    """
    number: float | None = None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    elif isinstance(value, int | float | np.number) and not isinstance(value, bool):
        number = float(value)
    if number is None:
        raise ModelInputError(f"parameter {name!r}: expected a number, got {value!r}")
    if not math.isfinite(number):
        raise ModelInputError(f"parameter {name!r}: expected a finite number, got {value!r}")
    return number


def run_mdl(
    mdl_path: str | Path,
    params: Mapping[str, object] | None = None,
    until: float | str | None = None,
    engine: str = "auto",
    variables: Iterable[str] | None = None,
    notice: Callable[[str], None] = print_to_stderr,
    data_files: str | Path | Iterable[str | Path] | None = None,
) -> pd.DataFrame:
    """Simulate a Vensim model on its ``.mdl`` defaults, with ``params`` set.

    Parameters
    ----------
    mdl_path : str or pathlib.Path
        Any Vensim ``.mdl`` file. A model without a shipped calibration runs on the values
        written in it.
    params : mapping, optional
        Constants to set, by Vensim name, to numbers (or strings holding one, as given on
        the command line). A subscripted constant takes the value in every element.
    until : float, optional
        Last time of the run, in the model's time unit (default: its FINAL TIME).
    engine : {"auto", "compiled", "pysd"}
        Which engine runs the model (see the module's description).
    variables : iterable of str, optional
        Variables to return (a whole variable, ``"Stock A"``, or one element, ``"Stock A[a1,
        b2]"``); default every variable the engine reports, the control variables excepted.
    notice : callable, optional
        Receives the one-line notice of ``engine="auto"`` falling back to PySD (default:
        printed on standard error).
    data_files : path or paths, optional
        Vensim data files (``.tab``/``.csv``) for the model's data variables, as in
        ``pysd.load(data_files=...)``. Only PySD reads them: with ``"auto"`` such a run goes
        to PySD (with a notice), with ``"compiled"`` it is an error.

    Returns
    -------
    pandas.DataFrame
        One row per SAVEPER time (index ``Time``), one column per variable or element.

    Raises
    ------
    ModelInputError
        For an unknown engine, a ``.mdl`` that cannot be read or translated, an unknown
        parameter or variable (with the nearest names), a bad value or a bad ``until``.
    clusterdyn.sdmodels.compiled.UnsupportedConstruct
        With ``engine="compiled"``, if the model uses a construct the compiled engine does
        not implement (the message names the element and the construct).
    SimulationError
        If the run fails in an equation or produces infinite values (the message names the
        model, the variables or element, and the time).
    """
    if engine not in ENGINES:
        raise ModelInputError(
            f"engine {engine!r}: expected one of {', '.join(map(repr, ENGINES))}")
    path = Path(mdl_path)
    if path.suffix.lower() != ".mdl":
        raise ModelInputError(f"model file {path}: expected a Vensim .mdl file")
    if not path.is_file():
        raise ModelInputError(f"model file {path}: no such file")
    requested = None if variables is None else list(variables)
    if engine == "pysd":
        return _run_pysd(path, params, until, requested, data_files)
    if data_files is not None:
        if engine == "compiled":
            raise ModelInputError(
                "the compiled engine does not read data files: run with engine 'pysd'")
        compiled, reason = None, "it does not read data files"
    else:
        compiled, reason = _compile(path, engine)
    if compiled is not None:
        try:
            return _run_compiled(path, compiled, params, until, requested,
                                 fallback=engine == "auto")
        except _EngineFailed as exc:
            reason = str(exc)
    # The notice comes once PySD has run the model: a model that PySD cannot run either
    # gets one line, PySD's error, not two.
    frame = _run_pysd(path, params, until, requested, data_files)
    notice(f"clusterdyn: the compiled engine cannot run {path.name} ({reason}); ran it with "
           "PySD")
    return frame


# --- The compiled engine -------------------------------------------------------------------


def _compile(path: Path, engine: str) -> tuple[Any, str]:
    """The compiled model, or (None, why not) if ``engine`` is ``"auto"``.

    With ``engine="compiled"``, :class:`UnsupportedConstruct` propagates, and so does the
    one-line :class:`ModelInputError` of PySD's translation for a ``.mdl`` that neither
    engine can read.
    """
    from clusterdyn.sdmodels.compiled import UnsupportedConstruct, compile_mdl

    try:
        with warnings.catch_warnings():
            # PySD's parser, which the compiled engine uses, warns about sketch details.
            warnings.simplefilter("ignore", UserWarning)
            return compile_mdl(path), ""
    except UnsupportedConstruct as exc:
        if engine == "compiled":
            raise
        element, construct = getattr(exc, "element", None), getattr(exc, "construct", None)
        if element and construct:
            return None, f"element {element!r}: {construct}"
        return None, _one_line(exc)
    except ModelInputError:
        if engine == "compiled":
            raise
        return None, "it cannot read the file"
    except Exception as exc:  # noqa: BLE001 - a .mdl the parser rejects, or the engine's fault
        if engine == "compiled":
            _translation_error(path)  # a bad .mdl: PySD's translator names file, line, element
            raise
        return None, f"{type(exc).__name__}: {_one_line(exc)}"


def _translation_error(path: Path) -> None:
    """Raise PySD's one-line :class:`ModelInputError` if it cannot translate ``path``."""
    from clusterdyn.sdmodels.translation import translated_path

    translated_path(path)


class _EngineFailed(Exception):
    """The compiled engine failed on a run whose inputs were checked: PySD takes over."""


def _run_compiled(path: Path, compiled: Any, params: Mapping[str, object] | None,
                  until: float | str | None, variables: list[str] | None,
                  fallback: bool) -> pd.DataFrame:
    """Check the inputs (errors are the user's), then run; with ``fallback``, a failure of
    the run itself (a limit of the engine found only when running, or infinite values, whose
    equation PySD names) raises :class:`_EngineFailed`."""
    names = list(compiled.variables)
    checked = _check_params(path, params, compiled.constants, names)
    stop = _check_until(path, until, float(compiled.initial_time))
    columns = None if variables is None else _columns(path, variables, names)
    try:
        with np.errstate(all="ignore"):
            frame = compiled.run(params=checked or None, until=stop, variables=columns)
        return _finish(path, frame, "compiled engine", variables is None)
    except Exception as exc:  # noqa: BLE001 - with fallback, PySD runs the model instead
        if fallback:
            raise _EngineFailed(
                f"its run failed: {type(exc).__name__}: {_one_line(exc)}") from exc
        if isinstance(exc, ArithmeticError):
            what = {ZeroDivisionError: "division by zero", OverflowError: "overflow"}.get(
                type(exc), f"{type(exc).__name__}: {_one_line(exc)}")
            raise SimulationError(
                f"model {path}: {what} during the run (compiled engine; --engine pysd names "
                "the equation)") from None
        raise


def _columns(path: Path, variables: list[str], columns: list[str]) -> list[str]:
    """The output columns of ``variables``: a name is a column, or all a variable's elements.

    Raises
    ------
    ModelInputError
        For a name that is neither (with the nearest variable names).
    """
    out: list[str] = []
    for name in variables:
        found = [c for c in columns if c == name or c.startswith(f"{name}[")]
        if not found:
            _unknown_variable(path, name, {_variable(c) for c in columns})
        out += [c for c in found if c not in out]
    return out


# --- PySD ----------------------------------------------------------------------------------


@contextmanager
def _quiet_pysd() -> Iterator[None]:
    """PySD's deprecation notices about its own calls into pandas and numpy are silenced;
    every other warning reaches the caller."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        yield


def _load_pysd(path: Path, data_files: object) -> Any:
    """A fresh, uninitialised PySD model of ``path`` from the translation cache.

    External data files are looked up in the ``.mdl``'s folder (the translation lives in the
    cache, where they are not).
    """
    import pysd

    from clusterdyn.sdmodels.model import _load_translated
    from clusterdyn.sdmodels.translation import _no_bytecode

    py_file, model = _load_translated(path)
    if data_files is not None:
        files = [str(data_files)] if isinstance(data_files, str | Path) else [
            str(f) for f in data_files]  # type: ignore[attr-defined]
        with _quiet_pysd(), _no_bytecode():
            model = pysd.load(str(py_file), data_files=files, initialize=False)
    root = path.resolve().parent
    for external in model._external_elements:
        external.root = root
    return model


def _pysd_names(model: Any) -> tuple[dict[str, float], list[str]]:
    """The constants (names only: values are PySD's) and every variable of a PySD model."""
    constants: dict[str, float] = {}
    names: list[str] = []
    for _, row in model.doc.iterrows():
        name = str(row["Real Name"])
        if _is_control(name):
            continue
        names.append(name)
        if row["Type"] == "Constant":
            constants[name] = math.nan
    return constants, names


def _run_pysd(path: Path, params: Mapping[str, object] | None, until: float | str | None,
              variables: list[str] | None, data_files: object) -> pd.DataFrame:
    from clusterdyn.sdmodels.model import _current_time, _failing_equation, _first_line

    model = _load_pysd(path, data_files)
    constants, names = _pysd_names(model)
    checked = _check_params(path, params, constants, names)
    stop = _check_until(path, until, _pysd_initial_time(model))
    if variables is not None:
        for name in variables:
            if _variable(name) not in names:
                _unknown_variable(path, name, names)
    with _quiet_pysd(), np.errstate(all="ignore"):
        try:
            frame = model.run(params=checked, return_columns=variables, final_time=stop,
                              progress=False)
        except Exception as exc:  # noqa: BLE001 - the model's own errors, re-raised if not
            element = _failing_equation(exc, model)
            if element is None and not isinstance(exc, ArithmeticError):
                raise
            when = _current_time(model)
            what = {ZeroDivisionError: "division by zero", OverflowError: "overflow"}.get(
                type(exc), f"{type(exc).__name__}: {_first_line(exc)}")
            where = f" in the equation of {element!r}" if element else ""
            at = f" at time {when:g}" if when is not None else ""
            raise SimulationError(f"model {path}: {what}{where}{at} (PySD)") from None
    return _finish(path, frame, "PySD", variables is None)


def _pysd_initial_time(model: Any) -> float | None:
    try:
        return float(model.time.initial_time())
    except Exception:  # noqa: BLE001 - an equation PySD cannot evaluate before the run
        return None


# --- Checks and the common output ----------------------------------------------------------


def _check_params(path: Path, params: Mapping[str, object] | None,
                  constants: Mapping[str, object], names: Iterable[str]) -> dict[str, float]:
    """``params`` as floats, every name a constant of the model.

    Vensim's ranges are those of its sliders: a run may set any finite number.

    Raises
    ------
    ModelInputError
        For an unknown name (with the nearest constants), a variable that is not a constant,
        a control variable, or a value that is not a finite number.
    """
    checked: dict[str, float] = {}
    known = set(names)
    for key, value in (params or {}).items():
        if _is_control(key):
            raise ModelInputError(
                f"{key!r} is a simulation control variable of {path.name}, not a parameter"
                + (": set the last time with until (--until)" if key == "FINAL TIME" else ""))
        if key not in constants:
            if key in known:
                raise ModelInputError(
                    f"{key!r} is not a settable parameter of model {path.name}: only its "
                    "constants can be set")
            raise ModelInputError(f"unknown parameter {key!r} for model {path.name}."
                                  + suggest(key, constants))
        checked[key] = _number(key, value)
    return checked


def _check_until(path: Path, until: float | str | None,
                 initial_time: float | None) -> float | None:
    if until is None:
        return None
    try:
        number = float(until)
    except (TypeError, ValueError):
        raise ModelInputError(
            f"until: expected a time in the units of model {path.name}, got {until!r}") from None
    if not math.isfinite(number) or (initial_time is not None and number <= initial_time):
        after = f" after its INITIAL TIME {initial_time:g}" if initial_time is not None else ""
        raise ModelInputError(f"until = {until!r}: expected a time of model {path.name}{after}")
    return number


def _unknown_variable(path: Path, name: str, names: Iterable[str]) -> None:
    if _is_control(name):
        raise ModelInputError(
            f"{name!r} is a simulation control variable, not an output: the index holds the "
            "time")
    raise ModelInputError(f"unknown variable {name!r} in model {path.name}."
                          + suggest(_variable(name), names))


def _finish(path: Path, frame: pd.DataFrame, engine: str, sort: bool) -> pd.DataFrame:
    """The common output: time index ``Time``, no control columns, floats; with ``sort``,
    the columns in Vensim's order (by variable name, ignoring case; a variable's elements
    in their order), else in the order asked for.

    NaN is Vensim's "no value" (``:NA:``, a gap in a data series, an element the model leaves
    undefined) and is kept; an infinite value is an overflow or a division by zero, an error
    as in Vensim.
    """
    frame = frame.drop(columns=[c for c in frame.columns if _is_control(str(c))])
    if sort:
        order = sorted(range(frame.shape[1]),
                       key=lambda i: (_variable(str(frame.columns[i])).lower(), i))
        frame = frame.iloc[:, order]
    frame = frame.astype(float)
    frame.index = pd.Index(np.asarray(frame.index, dtype=float), name=TIME)
    frame.columns = pd.Index([str(c) for c in frame.columns])
    values = frame.to_numpy()
    if np.isinf(values).any():
        rows, cols = np.nonzero(np.isinf(values))
        names = sorted({_variable(str(frame.columns[c])) for c in cols})
        shown = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
        raise SimulationError(
            f"model {path}: infinite values (an overflow or a division by zero) from time "
            f"{frame.index[rows.min()]:g} in {shown} ({engine})")
    return frame


def _is_control(name: str) -> bool:
    """Whether ``name`` is Time or a control variable (Vensim: case, spaces and underscores
    are not significant: ``FINAL_TIME`` is FINAL TIME)."""
    return " ".join(name.replace("_", " ").split()).upper() in (*CONTROL, TIME.upper())


def _variable(column: str) -> str:
    """The variable of a column: ``"Stock A"`` for ``"Stock A[a1,b2]"``."""
    return column.split("[", 1)[0].strip()


def _one_line(exc: BaseException) -> str:
    text = re.sub(r"\s+", " ", str(exc)).strip()
    return text or type(exc).__name__
