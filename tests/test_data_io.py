"""Tests for the shipped calibration data and its validating loaders (calibration.data_io)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from clusterdyn.calibration import data_io
from clusterdyn.calibration.data_io import (
    DATA_DIR,
    OBSERVATION_SCHEMA,
    DataError,
    load_observations,
    load_point_observations,
    load_table_targets,
)

OBS = "salmon_cluster_observations.csv"
UNITS = "units.csv"
POINTS = "point_observations.csv"
TARGETS = "table_3_1_targets.csv"
YEARS = list(range(1978, 2004))


# --------------------------------------------------------------------------- shipped data


@pytest.fixture(scope="module")
def obs():
    return load_observations()


def test_data_dir_is_package_folder():
    assert DATA_DIR == Path(data_io.__file__).parent / "data"
    for name in (OBS, UNITS, POINTS, TARGETS, "SOURCES.md"):
        assert (DATA_DIR / name).is_file(), name


def test_shipped_observations_load(obs):
    assert list(obs.index) == YEARS
    assert obs.index.name == "year"
    assert obs.index.dtype == np.int64
    assert list(obs.columns) == list(OBSERVATION_SCHEMA)
    assert all(dtype == np.float64 for dtype in obs.dtypes)


def test_missing_values_only_where_schema_allows(obs):
    for column, spec in OBSERVATION_SCHEMA.items():
        missing = obs.index[obs[column].isna()].tolist()
        assert all(year < spec.first_observed for year in missing), column
    # FAO value data start in 1984: the two value-based series are empty before, full after.
    for column in ("chile_salmon_unit_value_usd_per_kg", "chile_salmon_value_kusd"):
        assert obs.loc[:1983, column].isna().all()
        assert obs.loc[1984:, column].notna().all()


def test_fao_production_regression_guard(obs):
    # FAO FishStat figures for Chile (Atlantic + coho + chinook + masu, t live weight).
    assert obs.loc[1995, "chile_salmon_production_t"] == 98658
    assert obs.loc[2003, "chile_salmon_production_t"] == 373624


def test_salmonid_is_salmon_plus_trout(obs):
    # Integer tonnes summed from the same FAO rows: exact.
    total = obs["chile_salmon_production_t"] + obs["chile_trout_production_t"]
    assert (total == obs["chile_salmonid_production_t"]).all()


def test_rest_of_world_plus_chile_is_world(obs):
    # All three are sums of FAO integer tonnes; 1 t allows for the rounding of published cells.
    total = obs["rest_of_world_salmon_t"] + obs["chile_salmon_production_t"]
    assert np.allclose(total, obs["world_farmed_salmon_t"], rtol=0, atol=1.0)


def test_share_is_chile_over_world(obs):
    # The share is written to 6 significant digits: |error| <= 5e-7 for shares below 1.
    ratio = obs["chile_salmon_production_t"] / obs["world_farmed_salmon_t"]
    assert np.allclose(obs["chile_world_share"], ratio, rtol=0, atol=1e-6)
    assert obs["chile_world_share"].between(0, 1).all()


def test_value_over_production_matches_unit_value(obs):
    # kUSD / t = USD / kg. The unit value is published rounded to 0.001 US$/kg and the FAO
    # value cells to 0.01 kUSD, so the two agree to ~0.01%; 0.5% is a deliberately loose bound
    # that still catches a wrong species mix or a unit slip (factor 1000).
    later = obs.loc[1984:]
    implied = later["chile_salmon_value_kusd"] / later["chile_salmon_production_t"]
    unit_value = later["chile_salmon_unit_value_usd_per_kg"]
    assert np.allclose(implied, unit_value, rtol=0.005, atol=0)


def test_shipped_point_observations_load():
    points = load_point_observations()
    assert list(points.columns) == ["year", "variable", "value", "unit", "source", "note"]
    assert points["year"].dtype == np.int64 and points["value"].dtype == np.float64
    assert (points["source"].str.len() > 0).all()
    row = points[(points.variable == "chl_salmon_farms_operating_n")].iloc[0]
    assert (row.year, row.value) == (1985, 36.0)


def test_shipped_targets_load():
    targets = load_table_targets()
    assert targets["first_year"].dtype == np.int64 and targets["low"].dtype == np.float64
    assert (targets["low"] <= targets["high"]).all()
    production = targets[targets.quantity == "production"].set_index("first_year")["low"]
    assert production.to_dict() == {1978: 50, 1985: 900, 1986: 1350, 1995: 143000,
                                    1996: 150000, 2003: 400000}
    price = targets[targets.quantity == "price"].set_index("stage")[["low", "high"]]
    assert price.loc["globalisation"].tolist() == [2.8, 4.5]


# --------------------------------------------------------------------------- bad inputs


@pytest.fixture
def data_copy(tmp_path):
    for name in (OBS, UNITS, POINTS, TARGETS):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    return tmp_path


def _rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _write(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def _set_cell(path, key, column, text, key_column="year"):
    """Set the cell in ``column`` of the first row whose ``key_column`` equals ``key``."""
    rows = _rows(path)
    header = rows[0]
    for row in rows[1:]:
        if row[header.index(key_column)] == str(key):
            row[header.index(column)] = text
            break
    else:
        raise AssertionError(f"{key} not found in {path}")
    _write(path, rows)


def _raises(loader, path, *fragments):
    with pytest.raises(DataError) as info:
        loader(path)
    message = str(info.value)
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return info.value


def test_unknown_column(data_copy):
    path = data_copy / OBS
    rows = _rows(path)
    rows[0][rows[0].index("world_farmed_salmon_t")] = "world_salmon_kt"
    _write(path, rows)
    err = _raises(load_observations, path, "world_salmon_kt", "world_farmed_salmon_t")
    assert "expected" in str(err)


def test_missing_required_column(data_copy):
    path = data_copy / OBS
    rows = [row[:-1] for row in _rows(path)]  # drop chile_salmon_value_kusd
    _write(path, rows)
    _raises(load_observations, path, "chile_salmon_value_kusd")


def test_nan_in_production(data_copy):
    path = data_copy / OBS
    _set_cell(path, 1990, "chile_salmon_production_t", "")
    _raises(load_observations, path, "1990", "chile_salmon_production_t")


def test_nan_in_value_after_1984(data_copy):
    path = data_copy / OBS
    _set_cell(path, 1984, "chile_salmon_value_kusd", "")
    _raises(load_observations, path, "1984", "chile_salmon_value_kusd")


def test_negative_value(data_copy):
    path = data_copy / OBS
    _set_cell(path, 1995, "world_farmed_salmon_t", "-5")
    err = _raises(load_observations, path, "1995", "world_farmed_salmon_t", "negative")
    assert (err.year, err.column) == (1995, "world_farmed_salmon_t")


def test_duplicate_year(data_copy):
    path = data_copy / OBS
    _set_cell(path, 1991, "year", "1990")
    _raises(load_observations, path, "1990", "duplicate year")


def test_years_not_contiguous(data_copy):
    path = data_copy / OBS
    rows = [row for row in _rows(path) if row[0] != "1993"]
    _write(path, rows)
    _raises(load_observations, path, "1993", "'year'")


def test_year_outside_range(data_copy):
    path = data_copy / OBS
    _set_cell(path, 2003, "year", "2004")
    _raises(load_observations, path, "2004", "'year'")


def test_non_numeric_cell(data_copy):
    path = data_copy / OBS
    _set_cell(path, 2000, "chile_trout_production_t", "12,3 t")
    _raises(load_observations, path, "2000", "chile_trout_production_t", "'12,3 t'")


def test_share_above_one(data_copy):
    path = data_copy / OBS
    _set_cell(path, 2001, "chile_world_share", "1.2")
    _raises(load_observations, path, "2001", "chile_world_share")


def test_unit_mismatch(data_copy):
    units = data_copy / UNITS
    _set_cell(units, "chile_salmon_production_t", "unit", "kt", key_column="column")
    with pytest.raises(DataError) as info:
        load_observations(data_copy / OBS)
    message = str(info.value)
    assert UNITS in message and "chile_salmon_production_t" in message
    assert "'kt'" in message and "'t'" in message


def test_units_file_missing(data_copy):
    (data_copy / UNITS).unlink()
    with pytest.raises(DataError, match=UNITS):
        load_observations(data_copy / OBS)


def test_missing_file(tmp_path):
    _raises(load_observations, tmp_path / "no_such_observations.csv", "not found")


def test_unparsable_csv_is_data_error(data_copy):
    path = data_copy / OBS
    with path.open("a", encoding="utf-8") as handle:
        handle.write("2004,1,2,3,4,5,6,7,8,9,10,11\n")  # too many fields: pandas ParserError
    _raises(load_observations, path, "cannot be parsed")


@pytest.mark.parametrize(
    ("key", "column", "text", "fragments"),
    [
        ("chl_salmon_farms_operating_n", "unit", "salmon farms", ["unit", "'farms'"]),
        ("chl_salmon_farms_operating_n", "value", "", ["1985", "'value'"]),
        ("chl_salmon_farms_operating_n", "value", "thirty-six", ["1985", "'thirty-six'"]),
        ("chl_salmon_farms_operating_n", "value", "-36", ["1985", "negative"]),
        ("chl_salmon_farms_operating_n", "variable", "farms_n", ["'farms_n'", "'variable'"]),
        ("chl_salmon_farms_operating_n", "source", "", ["1985", "'source'"]),
    ],
)
def test_bad_point_observations(data_copy, key, column, text, fragments):
    path = data_copy / POINTS
    _set_cell(path, key, column, text, key_column="variable")
    _raises(load_point_observations, path, *fragments)


@pytest.mark.parametrize(
    ("key", "column", "text", "fragments"),
    [
        ("price", "unit", "US$/kg", ["'unit'", "'US$/kg'"]),
        ("price", "stage", "maturing", ["'first_year'", "maturing"]),  # 1978-85 not in stage
        ("price", "low", "11", ["'low'", "> high"]),
        ("world_share", "high", "25", ["'high'", "[0, 1]"]),
        ("production", "quantity", "output", ["'quantity'", "'output'"]),
        ("production", "first_year", "78", ["'first_year'", "78"]),
    ],
)
def test_bad_targets(data_copy, key, column, text, fragments):
    path = data_copy / TARGETS
    _set_cell(path, key, column, text, key_column="quantity")
    _raises(load_table_targets, path, *fragments)


def test_duplicate_point_observation(data_copy):
    path = data_copy / POINTS
    rows = _rows(path)
    _write(path, [*rows, rows[1]])
    _raises(load_point_observations, path, "duplicate", str(rows[1][0]))
