"""Validating loaders for the calibration data in ``calibration/data`` (see its SOURCES.md).

Each loader checks its file against a module-level schema and raises :class:`DataError`
(never a raw pandas error) naming the file and, where relevant, the year or line and column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).parent / "data"
OBSERVATIONS_FILE = "salmon_cluster_observations.csv"
UNITS_FILE = "units.csv"
POINT_FILE = "point_observations.csv"
TARGETS_FILE = "table_3_1_targets.csv"
FIRST_YEAR, LAST_YEAR = 1978, 2003


@dataclass(frozen=True)
class SeriesSpec:
    """Schema of one observations column: its unit (as declared in ``units.csv``), the first
    year with data (earlier cells may be empty, later may not) and the largest valid value."""

    unit: str
    first_observed: int = FIRST_YEAR
    upper: float = math.inf


OBSERVATION_SCHEMA: dict[str, SeriesSpec] = {
    "chile_salmon_production_t": SeriesSpec("t"),
    "chile_trout_production_t": SeriesSpec("t"),
    "chile_salmonid_production_t": SeriesSpec("t"),
    "chile_salmon_unit_value_usd_per_kg": SeriesSpec("USD/kg", first_observed=1984),
    "world_farmed_salmon_t": SeriesSpec("t"),
    "rest_of_world_salmon_t": SeriesSpec("t"),
    "chile_world_share": SeriesSpec("dmnl", upper=1.0),
    "chile_salmon_value_kusd": SeriesSpec("kUSD", first_observed=1984),
}

POINT_UNITS: dict[str, str] = {
    "chl_export_price_q1_usd_per_kg": "US$/kg",
    "chl_exports_salmon_trout_to_usa_value_musd": "million US$",
    "chl_exports_salmon_trout_value_musd": "million US$",
    "chl_exports_salmon_trout_volume_t": "tonnes (net export weight)",
    "chl_salmon_farms_operating_n": "farms",
    "chl_salmonid_production_approx_t": "tonnes",
    "chl_salmonid_production_total_approx_t": "tonnes",
}
POINT_COLUMNS = ["year", "variable", "value", "unit", "source", "note"]

TARGET_UNITS: dict[str, str] = {
    "production": "t", "price": "USD/kg", "exports_value": "MUSD", "world_share": "dmnl"
}
STAGES: dict[str, tuple[int, int]] = {
    "initial_learning": (1978, 1985), "maturing": (1986, 1995), "globalisation": (1996, 2003)
}
TARGET_COLUMNS = ["quantity", "stage", "first_year", "last_year", "low", "high", "unit", "note"]


class DataError(ValueError):
    """A calibration data file is missing or malformed.

    Parameters
    ----------
    path : str or Path
        The offending file (always named in the message).
    problem : str
        What is wrong.
    year, line, column : int, int, str, optional
        Year and/or 1-based line of the offending row; the offending column.
    """

    def __init__(self, path: str | Path, problem: str, *, year: int | None = None,
                 line: int | None = None, column: str | None = None) -> None:
        self.path, self.year, self.line, self.column = Path(path), year, line, column
        where = ", ".join(f"{k} {v!r}" if k == "column" else f"{k} {v}" for k, v in
                          (("year", year), ("line", line), ("column", column)) if v is not None)
        super().__init__(f"{path}" + (f" ({where})" if where else "") + f": {problem}")


def _resolve(path: str | Path | None, default: str) -> Path:
    resolved = DATA_DIR / default if path is None else Path(path)
    if not resolved.is_file():
        raise DataError(resolved, "file not found")
    return resolved


def _read(path: Path, expected: list[str]) -> pd.DataFrame:
    """Read ``path`` as strings and check its header against ``expected``."""
    try:
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise DataError(path, f"cannot be parsed as CSV: {err}") from err
    header = [str(h).strip() for h in raw.iloc[0]]
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise DataError(path, f"duplicate column(s) {duplicated}")
    unknown = [h for h in header if h not in expected]
    if unknown:
        raise DataError(path, f"unknown column(s) {unknown}; expected columns: {expected}",
                        column=unknown[0])
    missing = [h for h in expected if h not in header]
    if missing:
        raise DataError(path, f"missing required column(s) {missing}", column=missing[0])
    frame = raw.iloc[1:].fillna("").map(lambda s: str(s).strip())
    frame.columns = header
    return frame[expected].reset_index(drop=True)


def _number(path: Path, text: str, column: str, *, year: int | None = None,
            line: int | None = None, allow_missing: bool = False,
            upper: float = math.inf) -> float:
    """Parse one cell as a finite float in ``[0, upper]`` (NaN if empty and allowed)."""
    if text == "":
        if allow_missing:
            return math.nan
        raise DataError(path, "missing value (NaN) where the schema requires data",
                        year=year, line=line, column=column)
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, f"non-numeric value {text!r}", year=year, line=line,
                        column=column) from None
    if not math.isfinite(value):
        raise DataError(path, f"non-finite value {text!r}", year=year, line=line, column=column)
    if value < 0:
        raise DataError(path, f"negative value {value:g}", year=year, line=line, column=column)
    if value > upper:
        raise DataError(path, f"value {value:g} outside [0, {upper:g}] (a share is a fraction)",
                        year=year, line=line, column=column)
    return value


def _year(path: Path, text: str, column: str, line: int) -> int:
    if not text.isdigit():
        raise DataError(path, f"non-integer year {text!r}", line=line, column=column)
    if not FIRST_YEAR <= int(text) <= LAST_YEAR:
        raise DataError(path, f"year {text} outside {FIRST_YEAR}-{LAST_YEAR}", line=line,
                        column=column)
    return int(text)


def _check_unit(path: Path, units: dict[str, str], kind: str, name: str, unit: str, *,
                line: int, year: int | None = None) -> None:
    """Check that ``name`` is a known ``kind`` (variable, quantity) with unit ``unit``."""
    if name not in units:
        raise DataError(path, f"unknown {kind} {name!r}; expected one of {sorted(units)}",
                        year=year, line=line, column=kind)
    if unit != units[name]:
        raise DataError(path, f"unit mismatch for {name!r}: {unit!r}, schema expects "
                        f"{units[name]!r}", year=year, line=line, column="unit")


def _check_units(units_path: Path, data_path: Path) -> None:
    """Check ``units.csv`` declares exactly the schema's unit for every column."""
    if not units_path.is_file():
        raise DataError(units_path, f"units file for {data_path.name} not found")
    expected = {column: spec.unit for column, spec in OBSERVATION_SCHEMA.items()}
    table = _read(units_path, ["column", "unit"])
    names = table["column"].tolist()
    for i, (column, unit) in enumerate(table.itertuples(index=False), start=2):
        _check_unit(units_path, expected, "column", column, unit, line=i)
        if column in names[: i - 2]:
            raise DataError(units_path, f"unit of {column!r} declared twice", line=i)
    missing = [c for c in expected if c not in names]
    if missing:
        raise DataError(units_path, f"no unit declared for column(s) {missing}")


def load_observations(path: str | Path | None = None) -> pd.DataFrame:
    """Load and validate the wide yearly observations file.

    Parameters
    ----------
    path : str or Path, optional
        CSV file; defaults to the shipped ``salmon_cluster_observations.csv``. Units are read
        from ``units.csv`` in the same folder.

    Returns
    -------
    pandas.DataFrame
        One row per year 1978-2003, indexed by ``year`` (int), float columns in the order of
        :data:`OBSERVATION_SCHEMA`; NaN only before a series' first observed year.

    Raises
    ------
    DataError
        If the file or its units file is missing or breaks the schema.
    """
    path = _resolve(path, OBSERVATIONS_FILE)
    raw = _read(path, ["year", *OBSERVATION_SCHEMA])
    _check_units(path.with_name(UNITS_FILE), path)
    years = [_year(path, text, "year", i) for i, text in enumerate(raw["year"], start=2)]
    for i, year in enumerate(years, start=2):
        if year in years[: i - 2]:
            raise DataError(path, "duplicate year", year=year, line=i, column="year")
    gaps = sorted(set(range(FIRST_YEAR, LAST_YEAR + 1)) - set(years))
    if gaps:
        raise DataError(path, f"years not contiguous over {FIRST_YEAR}-{LAST_YEAR}; "
                        f"missing {gaps}", column="year")
    data = {
        column: [_number(path, text, column, year=year, upper=spec.upper,
                         allow_missing=year < spec.first_observed)
                 for year, text in zip(years, raw[column], strict=True)]
        for column, spec in OBSERVATION_SCHEMA.items()
    }
    frame = pd.DataFrame(data, index=pd.Index(years, name="year", dtype="int64"), dtype="float64")
    _check_consistent(path, frame.sort_index())
    return frame.sort_index()


#: Identities between the columns of the observations (FAO's totals are sums of its parts;
#: the share is Chile over the world). Relative tolerance 1e-4: the shipped file meets them
#: to 3e-6 (the share is written with 6 digits).
CONSISTENCY_TOLERANCE = 1e-4


def _check_consistent(path: Path, frame: pd.DataFrame) -> None:
    """Cross-column checks, so that a typo in one column cannot pass as data."""
    chile, world = frame["chile_salmon_production_t"], frame["world_farmed_salmon_t"]
    identities = [
        ("chile_salmon_production_t + rest_of_world_salmon_t", "world_farmed_salmon_t",
         chile + frame["rest_of_world_salmon_t"], world),
        ("chile_salmon_production_t + chile_trout_production_t",
         "chile_salmonid_production_t",
         chile + frame["chile_trout_production_t"], frame["chile_salmonid_production_t"]),
        ("chile_salmon_production_t / world_farmed_salmon_t", "chile_world_share",
         chile / world, frame["chile_world_share"]),
    ]
    for left, right, computed, given in identities:
        bad = (computed - given).abs() > CONSISTENCY_TOLERANCE * given.abs().clip(lower=1e-9)
        bad &= given.notna() & computed.notna()
        if bad.any():
            year = int(bad.idxmax())
            raise DataError(path, f"{left} = {computed[year]:.6g} but {right} = "
                            f"{given[year]:.6g}: the columns must agree (relative "
                            f"{CONSISTENCY_TOLERANCE:g})", year=year, column=right)


def load_point_observations(path: str | Path | None = None) -> pd.DataFrame:
    """Load and validate the long file of point figures from trade sources.

    Parameters
    ----------
    path : str or Path, optional
        CSV file; defaults to the shipped ``point_observations.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns ``year`` (int), ``variable``, ``value`` (float), ``unit``, ``source``, ``note``.

    Raises
    ------
    DataError
        If the file is missing or breaks the schema (:data:`POINT_UNITS`).
    """
    path = _resolve(path, POINT_FILE)
    raw = _read(path, POINT_COLUMNS)
    seen: set[tuple[int, str]] = set()
    years, values = [], []
    for i, row in enumerate(raw.itertuples(index=False), start=2):
        year = _year(path, row.year, "year", i)
        _check_unit(path, POINT_UNITS, "variable", row.variable, row.unit, line=i, year=year)
        if not row.source:
            raise DataError(path, "empty source", year=year, line=i, column="source")
        if (year, row.variable) in seen:
            raise DataError(path, f"duplicate row for {row.variable!r}", year=year, line=i,
                            column="variable")
        seen.add((year, row.variable))
        years.append(year)
        values.append(_number(path, row.value, "value", year=year, line=i))
    return raw.assign(year=pd.array(years, dtype="int64"), value=pd.array(values, "float64"))


def load_table_targets(path: str | Path | None = None) -> pd.DataFrame:
    """Load and validate the seed's Table 3.1 interval targets.

    Each row says that ``quantity`` lies in ``[low, high]`` in every year from ``first_year``
    to ``last_year`` (one year for an endpoint row); see ``SOURCES.md``.

    Parameters
    ----------
    path : str or Path, optional
        CSV file; defaults to the shipped ``table_3_1_targets.csv``.

    Returns
    -------
    pandas.DataFrame
        Columns as in the file; years int, ``low`` and ``high`` float.

    Raises
    ------
    DataError
        If the file is missing or breaks the schema (:data:`TARGET_UNITS`, :data:`STAGES`).
    """
    path = _resolve(path, TARGETS_FILE)
    raw = _read(path, TARGET_COLUMNS)
    seen: set[tuple[str, int, int]] = set()
    parsed: dict[str, list[float]] = {"first_year": [], "last_year": [], "low": [], "high": []}
    for i, row in enumerate(raw.itertuples(index=False), start=2):
        _check_unit(path, TARGET_UNITS, "quantity", row.quantity, row.unit, line=i)
        if row.stage not in STAGES:
            raise DataError(path, f"unknown stage {row.stage!r}; expected one of "
                            f"{list(STAGES)}", line=i, column="stage")
        first, last = (_year(path, row.first_year, "first_year", i),
                       _year(path, row.last_year, "last_year", i))
        start, end = STAGES[row.stage]
        if not start <= first <= last <= end:
            raise DataError(path, f"years {first}-{last} not an ordered span inside stage "
                            f"{row.stage!r} ({start}-{end})", line=i, column="first_year")
        upper = 1.0 if TARGET_UNITS[row.quantity] == "dmnl" else math.inf
        low = _number(path, row.low, "low", line=i, upper=upper)
        high = _number(path, row.high, "high", line=i, upper=upper)
        if low > high:
            raise DataError(path, f"low {low:g} > high {high:g}", line=i, column="low")
        if (row.quantity, first, last) in seen:
            raise DataError(path, f"duplicate target for {row.quantity!r} {first}-{last}",
                            line=i, column="quantity")
        seen.add((row.quantity, first, last))
        for key, value in zip(parsed, (first, last, low, high), strict=True):
            parsed[key].append(value)
    return raw.assign(**{k: pd.array(v, "int64" if "year" in k else "float64")
                         for k, v in parsed.items()})
