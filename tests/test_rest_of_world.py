"""The rest of the world's farmed salmon 1978-2012 (calibration.rest_of_world)."""

from __future__ import annotations

import pytest

from clusterdyn.calibration.data_io import DATA_DIR, DataError, load_observations
from clusterdyn.calibration.rest_of_world import REST_OF_WORLD_FILE, rest_of_world_supply

SHIPPED = DATA_DIR / REST_OF_WORLD_FILE


def test_the_salmon_sums_equal_the_calibration_data_to_2003():
    supply = rest_of_world_supply()
    assert list(supply.index) == list(range(1978, 2013))
    observed = load_observations()["rest_of_world_salmon_t"]
    assert supply.loc[1978:2003].tolist() == observed.loc[1978:2003].tolist()
    # after 2003: the new years, growing from 0.93 to 1.70 million t
    assert supply.loc[2004] == pytest.approx(927505.0)
    assert supply.loc[2012] == pytest.approx(1697080.4)


def test_trout_is_left_out():
    text = SHIPPED.read_text(encoding="utf-8")
    trout = sum(float(line.split(",")[2]) for line in text.splitlines()[1:]
                if line.startswith("2012,") and "trout" in line.split(",")[1])
    assert trout > 0  # Norway's trout rows exist, and are not in the supply
    assert rest_of_world_supply().loc[2012] < sum(
        float(line.split(",")[2]) for line in text.splitlines()[1:] if line.startswith("2012,"))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("1987,aus_prod", "2013,aus_prod", 1), "year '2013': expected a year"),
    (lambda t: t.replace("1987,aus_prod", "1987,xyz_prod", 1), "unknown series 'xyz_prod"),
    (lambda t: t.replace(",tonnes live weight,", ",kg,", 1), "unit 'kg'"),
    (lambda t: t.replace("1987,aus_prod_atlantic_salmon_freshwater_t,9,",
                         "1987,aus_prod_atlantic_salmon_freshwater_t,-9,", 1), "negative value"),
    (lambda t: t + t.splitlines()[1] + "\n", "duplicate row"),
])
def test_a_damaged_file_is_one_clear_error(tmp_path, edit, message):
    damaged = tmp_path / REST_OF_WORLD_FILE
    damaged.write_text(edit(SHIPPED.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        rest_of_world_supply(damaged)
    assert str(damaged) in str(caught.value) and "line" in str(caught.value)
