"""Discounting, deflation and the discounted KPIs (scenarios.economics, scenarios.kpis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clusterdyn.scenarios.economics import (
    INFLATION_AFTER_DATA,
    Economics,
    deflator,
    npv_of_costs,
    npv_of_exports,
    price_index,
    stage_year_weights,
)
from clusterdyn.sdmodels.errors import ModelInputError


def test_deflator_is_one_in_2003_and_follows_the_cpi():
    assert deflator(np.array([2003]))[0] == 1.0
    # CPI-U annual averages: 65.2 in 1978, 184.0 in 2003 (BLS CUUR0000SA0).
    assert deflator(np.array([1978]))[0] == pytest.approx(184.0 / 65.2, rel=1e-12)
    # After 2012 the index grows at the stated assumption.
    assert price_index(np.array([2014]))[0] == pytest.approx(
        229.594 * (1 + INFLATION_AFTER_DATA) ** 2, rel=1e-12)


def test_discount_factors_by_hand():
    factors = Economics(rate=0.1, until=2003).discount_factors()
    assert len(factors) == 26
    assert factors[0] == 1.0
    assert factors[2] == pytest.approx(1 / 1.21, rel=1e-12)


def test_npv_of_exports_by_hand():
    years = np.arange(1978, 2031)
    values = np.zeros(len(years))
    values[years == 2003] = 100.0  # 100 million current US$ in 2003 = 100 constant 2003 US$
    values[years == 1978] = 10.0   # 10 million 1978 US$ = 10 x 184/65.2 of 2003
    economics = Economics(rate=0.05, until=2003)
    expected = 100.0 / 1.05 ** 25 + 10.0 * 184.0 / 65.2
    assert npv_of_exports(values, years, economics) == pytest.approx(expected, rel=1e-12)
    # Years after `until` are not counted, whatever they hold.
    values[-1] = 1e9
    assert npv_of_exports(values, years, economics) == pytest.approx(expected, rel=1e-12)


def test_npv_needs_the_whole_window():
    with pytest.raises(ModelInputError, match="the NPV needs 1978-2010"):
        npv_of_exports(np.ones(26), np.arange(1978, 2004), Economics(until=2010))
    with pytest.raises(ModelInputError, match="no value for 2010"):
        npv_of_costs(pd.Series(1.0, index=range(1978, 2004)), Economics(until=2010))


@pytest.mark.parametrize("rate", [-0.01, 0.6, math.nan, True, "0.06"])
def test_bad_rate_is_one_clear_error(rate):
    with pytest.raises(ModelInputError, match="discount rate"):
        Economics(rate=rate)


@pytest.mark.parametrize("until", [2002, 2031, 2010.5])
def test_bad_until_is_one_clear_error(until):
    with pytest.raises(ModelInputError, match="until"):
        Economics(until=until)


def test_stage_year_weights_count_partial_years():
    undiscounted = stage_year_weights((1986.0, 1996.0), Economics(rate=0.0))
    assert undiscounted.tolist() == [8.0, 10.0, 8.0]
    half = stage_year_weights((1986.5, 1996.0), Economics(rate=0.0))
    assert half.tolist() == [8.5, 9.5, 8.0]
    # A maturing start after globalisation never applies.
    assert stage_year_weights((2000.0, 1996.0), Economics(rate=0.0)).tolist() == [18.0, 0.0, 8.0]
    discounted = stage_year_weights((1986.0, 1996.0), Economics(rate=0.06))
    factors = 1.06 ** -np.arange(26.0)
    assert discounted == pytest.approx([factors[:8].sum(), factors[8:18].sum(),
                                        factors[18:].sum()], rel=1e-12)


def test_the_linear_cost_equals_the_scenario_engines_cost_series():
    """The optimiser's cost coefficients give the NPV of scenarios.costs.cost_series,
    including a stage starting mid-year."""
    from clusterdyn.policy.schedule import cost_coefficients, parameter_names, scenario_vector
    from clusterdyn.scenarios.costs import cost_series, load_costs
    from clusterdyn.scenarios.spec import load

    costs, economics = load_costs(), Economics(rate=0.06)
    scenario = load("historical")
    x = scenario_vector(scenario)
    params = dict(zip(parameter_names(), x, strict=True))
    for starts in ((1986.0, 1996.0), (1986.5, 1999.25)):
        series = cost_series(params, dict(zip(("maturing", "globalisation"), starts,
                                              strict=True)), 1978, 2003, costs)
        assert cost_coefficients(costs, starts, economics) @ x == pytest.approx(
            npv_of_costs(series, economics), rel=1e-12)


def test_kpi_table_has_npvs_and_a_benefit_cost_ratio():
    from clusterdyn import scenarios
    table = scenarios.compare(["historical", "no_policy"])
    hist, ref = table.loc["historical"], table.loc["no_policy"]
    assert np.isnan(ref["benefit_cost_ratio"])
    assert hist["benefit_cost_ratio"] == pytest.approx(
        (hist["npv_exports_musd"] - ref["npv_exports_musd"])
        / (hist["npv_policy_cost_musd"] - ref["npv_policy_cost_musd"]), rel=1e-12)
    # Discounting at 6% makes the NPV of cost smaller than the undiscounted sum.
    assert 0 < hist["npv_policy_cost_musd"] < hist["cum_policy_cost_1978_2003_musd"]
    # A lower rate raises both NPVs.
    low = scenarios.compare(["historical", "no_policy"], economics=Economics(rate=0.03))
    assert low.loc["historical", "npv_exports_musd"] > hist["npv_exports_musd"]
    assert low.loc["historical", "npv_policy_cost_musd"] > hist["npv_policy_cost_musd"]
