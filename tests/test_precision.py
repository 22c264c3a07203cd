"""The comparison at written precision used by the regeneration tests still catches a real
change: any text, any number beyond one unit of its last digit."""

from __future__ import annotations

import pytest

from tests.precision import differences, last_digit_unit

SHIPPED = 'value = 0.8318\nlower_95 = 0.6223\nname = "R2 1978-2003"\nsha = "65ccb4f7"\n'


@pytest.mark.parametrize("flipped", [
    SHIPPED.replace("0.8318", "0.8319"),      # a last digit flipped at a rounding boundary
    SHIPPED.replace("0.6223", "0.6222"),
    SHIPPED.replace("0.6223", "0.622"),       # the same value written shorter
])
def test_a_flipped_last_digit_is_accepted(flipped):
    assert differences(flipped, SHIPPED) == []


@pytest.mark.parametrize("changed", [
    SHIPPED.replace("0.8318", "0.8418"),      # a real change of a result (1.2%)
    SHIPPED.replace("0.8318", "0.8338"),      # two units of the last digit
    SHIPPED.replace("lower_95", "lower_90"),  # wording
    SHIPPED.replace("65ccb4f7", "65ccb4f8"),  # a hash (digits inside a word are text)
    SHIPPED.replace("1978-2003", "1978-2002"),
    SHIPPED + "extra = 1\n",
])
def test_a_real_change_is_caught(changed):
    assert differences(changed, SHIPPED)


@pytest.mark.parametrize(("token", "unit"), [("0.0150", 1e-4), ("12", 1.0), ("1.97e+06", 1e4),
                                             ("-3.5E-3", 1e-4), ("7.4156", 1e-4)])
def test_the_unit_of_the_last_digit(token, unit):
    assert last_digit_unit(token) == pytest.approx(unit)
