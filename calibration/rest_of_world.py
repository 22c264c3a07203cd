"""The rest of the world's farmed-salmon production, 1978-2012: the model's exogenous supply.

``calibration/data/rest_of_world_salmon_1978_2012.csv`` is a verbatim copy of FAO FishStat
aquaculture production (tonnes live weight) of the 12 other salmon-farming countries (Norway,
UK, Canada, Faroe Islands, Ireland, Iceland, Australia, USA, France, Finland, New Zealand,
Japan), by species and environment, in the long format of the other FAO files
(``year,variable,value,unit,source,note``); see ``data/SOURCES.md``. :func:`rest_of_world_supply`
sums its *salmon* rows by year (the file also holds Norway's rainbow and sea trout, left out
as the Chilean series leaves out Chile's trout); for 1978-2003 the sums equal the column
``rest_of_world_salmon_t`` of the calibration data (tested). Chile's own production after
2003 is deliberately not shipped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clusterdyn.calibration.data_io import DATA_DIR, DataError, _number, _read, _resolve

REST_OF_WORLD_FILE = "rest_of_world_salmon_1978_2012.csv"
COLUMNS = ["year", "variable", "value", "unit", "source", "note"]
UNIT = "tonnes live weight"
#: Country codes of the rows (ISO 3166 alpha-3, FAO's ``fro`` for the Faroe Islands).
COUNTRIES = ("aus", "can", "fin", "fra", "fro", "gbr", "irl", "isl", "jpn", "nor", "nzl", "usa")
#: Row names holding this text are trout, not salmon, and are left out of the supply.
TROUT = "trout"
FIRST_YEAR, LAST_YEAR = 1978, 2012


def load_rest_of_world_rows(path: str | Path | None = None) -> pd.DataFrame:
    """The long file, validated: one row per year and ``<country>_prod_<species>_<env>_t``.

    Raises
    ------
    DataError
        Naming the file, line and column: a missing file, another header, a year outside
        1978-2012, an unknown country, another unit, an empty source, a negative or
        non-numeric value, or a duplicate row.
    """
    path = _resolve(path, REST_OF_WORLD_FILE)
    raw = _read(path, COLUMNS)
    seen: set[tuple[int, str, str]] = set()
    years, values = [], []
    for i, row in enumerate(raw.itertuples(index=False), start=2):
        if not row.year.isdigit() or not FIRST_YEAR <= int(row.year) <= LAST_YEAR:
            raise DataError(path, f"year {row.year!r}: expected a year from {FIRST_YEAR} to "
                            f"{LAST_YEAR}", line=i, column="year")
        year = int(row.year)
        country, _, rest = row.variable.partition("_prod_")
        if country not in COUNTRIES or not rest.endswith("_t"):
            raise DataError(path, f"unknown series {row.variable!r}: expected "
                            "<country>_prod_<species>_<environment>_t with a country in "
                            f"{list(COUNTRIES)}", year=year, line=i, column="variable")
        if row.unit != UNIT:
            raise DataError(path, f"unit {row.unit!r}, expected {UNIT!r}", year=year, line=i,
                            column="unit")
        if not row.source:
            raise DataError(path, "empty source", year=year, line=i, column="source")
        # One series may hold two rows of a year, one per FAO fishing area (Canada's Atlantic
        # salmon: Atlantic Northwest and Pacific Northeast, named in the note); a row repeated
        # with the same note is a copying error.
        if (year, row.variable, row.note) in seen:
            raise DataError(path, f"duplicate row for {row.variable!r} ({row.note})",
                            year=year, line=i, column="variable")
        seen.add((year, row.variable, row.note))
        years.append(year)
        values.append(_number(path, row.value, "value", year=year, line=i))
    return raw.assign(year=pd.array(years, dtype="int64"), value=pd.array(values, "float64"))


def rest_of_world_supply(path: str | Path | None = None) -> pd.Series:
    """Farmed salmon of the 12 other countries by year, 1978-2012 (t/Year, trout left out).

    Raises
    ------
    DataError
        As :func:`load_rest_of_world_rows`, or if a year of 1978-2012 has no salmon row.
    """
    rows = load_rest_of_world_rows(path)
    salmon = rows[~rows["variable"].str.contains(TROUT)]
    supply = salmon.groupby("year")["value"].sum()
    missing = sorted(set(range(FIRST_YEAR, LAST_YEAR + 1)) - set(supply.index))
    if missing:
        raise DataError(_resolve(path, REST_OF_WORLD_FILE),
                        f"no salmon row for the year(s) {missing}")
    supply.index = supply.index.astype(int)
    return supply.rename("rest_of_world_salmon_t")


__all__ = ["DATA_DIR", "REST_OF_WORLD_FILE", "load_rest_of_world_rows", "rest_of_world_supply"]
