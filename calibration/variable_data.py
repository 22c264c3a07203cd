"""Observations of a user's own model: a CSV whose columns are named after model variables.

Schema (every model but the shipped ``salmon_cluster``, whose FAO file has its own schema in
:mod:`clusterdyn.calibration.data_io`):

- the first column is ``time`` (or ``year``): whole numbers in the model's time unit, each once,
  inside the calibration's ``first_year``-``last_year`` (which lie inside the model's run): the
  runners report the model at whole time units from INITIAL TIME, so an observation must fall
  on one;
- every other column is named exactly as a variable of the model (a stock or an auxiliary;
  Vensim name, spaces allowed) and holds numbers in that variable's units; an empty cell is a
  missing observation, but a column needs at least one value.

Every problem raises :class:`~clusterdyn.calibration.data_io.DataError` naming the file and,
where relevant, the line, the time and the column.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path

import pandas as pd

from clusterdyn.calibration.data_io import DataError
from clusterdyn.sdmodels.errors import suggest

#: Accepted names of the time column (the first column).
TIME_COLUMNS = ("time", "year")


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise DataError(path, f"cannot be parsed as CSV: {err}") from None
    return raw.fillna("").map(lambda s: str(s).strip())


def _time(path: Path, text: str, line: int, window: tuple[int, int]) -> int:
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, f"non-numeric time {text!r}", line=line, column="time") from None
    if not math.isfinite(value) or not value.is_integer():
        raise DataError(path, f"time {text!r} is not a whole number: the model is reported at "
                        "whole time units from its INITIAL TIME, so observations must fall on "
                        "them", line=line, column="time")
    first, last = window
    if not first <= value <= last:
        raise DataError(path, f"time {text} outside the calibration's years {first}-{last} "
                        "(calibration.first_year and last_year of the spec)", line=line,
                        column="time")
    return int(value)


def _value(path: Path, text: str, time: int, line: int, column: str) -> float:
    if text == "":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, f"non-numeric value {text!r}", year=time, line=line,
                        column=column) from None
    if not math.isfinite(value):
        raise DataError(path, f"non-finite value {text!r}", year=time, line=line, column=column)
    return value


def load_variable_observations(path: str | Path, variables: Collection[str], model_name: str,
                               window: tuple[int, int]) -> pd.DataFrame:
    """Load and validate observations named after model variables.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    variables : collection of str
        The model's variables (stocks and auxiliaries) a column may name.
    model_name : str
        Named in the messages.
    window : tuple of int
        First and last time an observation may have (the spec's ``first_year``, ``last_year``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``year`` (int: the time, in the model's unit), one float column per file
        column, sorted by time; NaN where a cell is empty.

    Raises
    ------
    DataError
        If the file is missing or breaks the schema (see the module's docstring).
    """
    path = Path(path)
    raw = _read(path)
    header = list(raw.iloc[0])
    if header[0].lower() not in TIME_COLUMNS:
        raise DataError(path, f"the first column must be 'time' (the model's time unit), got "
                        f"{header[0]!r}", line=1, column=header[0])
    columns = header[1:]
    if not columns:
        raise DataError(path, "no observation columns: expected 'time' followed by columns "
                        f"named after variables of model {model_name!r}", line=1)
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise DataError(path, f"duplicate column(s) {duplicated}", line=1)
    for column in columns:
        if column not in variables:
            raise DataError(path, f"unknown variable {column!r}: expected columns named after "
                            f"variables of model {model_name!r}." + suggest(column, variables),
                            line=1, column=column)
    rows = raw.iloc[1:]
    if rows.empty:
        raise DataError(path, "no observations (only a header)")
    times: list[int] = []
    data: dict[str, list[float]] = {c: [] for c in columns}
    for line, cells in enumerate(rows.itertuples(index=False), start=2):
        time = _time(path, cells[0], line, window)
        if time in times:
            raise DataError(path, "duplicate time", year=time, line=line, column="time")
        times.append(time)
        for column, text in zip(columns, cells[1:], strict=True):
            data[column].append(_value(path, text, time, line, column))
    frame = pd.DataFrame(data, index=pd.Index(times, name="year", dtype="int64"),
                         dtype="float64").sort_index()
    empty = [c for c in columns if frame[c].isna().all()]
    if empty:
        raise DataError(path, f"column(s) {empty} hold no value", column=empty[0])
    return frame


__all__ = ["TIME_COLUMNS", "load_variable_observations"]
