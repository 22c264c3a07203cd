"""Tests for calibration.statistics (hand-computed cases, properties, input validation)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from clusterdyn.calibration.statistics import (
    FitStatistics,
    PhaseLag,
    TheilStatistics,
    barlas_amplitude_error,
    barlas_mean_error,
    barlas_phase_lag,
    durbin_watson,
    fit_statistics,
    mape,
    mean_squared_error,
    r_squared,
    rmse,
    theil,
)

TOL = 1e-12


def close(expected: float, tol: float = TOL):
    return pytest.approx(expected, abs=tol, rel=0)


# --------------------------------------------------------------------------- hand case
# obs A = [1, 2, 3, 4], sim S = [2, 2, 4, 4]
#   errors S - A = [1, 0, 1, 0]           -> MSE = 2/4 = 0.5, RMSE = sqrt(0.5)
#   mean S = 3, mean A = 2.5              -> bias = 0.5, UM = 0.25 / 0.5 = 0.5
#   S' = [-1, -1, 1, 1]                   -> σS² = 1, σS = 1
#   A' = [-1.5, -0.5, 0.5, 1.5]           -> σA² = (2.25+0.25+0.25+2.25)/4 = 1.25, σA = √5/2
#   cov = (1.5 + 0.5 + 0.5 + 1.5)/4 = 1   -> r = 1/(1·√5/2) = 2/√5, r² = 4/5
#   US = (1 - √5/2)² / 0.5 = 2(1 - √5 + 5/4) = 4.5 - 2√5   (≈ 0.0279)
#   UC = 2(1 - 2/√5)(√5/2) / 0.5 = 4(√5/2 - 1) = 2√5 - 4   (≈ 0.4721)
#   UM + US + UC = 0.5 + 4.5 - 2√5 + 2√5 - 4 = 1
#   mean S² = (4+4+16+16)/4 = 10, mean A² = (1+4+9+16)/4 = 7.5 -> U = √0.5 / (√10 + √7.5)
#   MAPE = (1/1 + 0/2 + 1/3 + 0/4)/4 = 1/3
#   DW(S - A): diffs [-1, 1, -1] -> 3 / 2 = 1.5
#   E1 = |3 - 2.5| / 2.5 = 0.2;  E2 = |1 - √5/2| / (√5/2) = 1 - 2/√5
OBS = [1.0, 2.0, 3.0, 4.0]
SIM = [2.0, 2.0, 4.0, 4.0]
SQRT5 = math.sqrt(5.0)


def test_hand_case_basic_statistics():
    assert mean_squared_error(SIM, OBS) == close(0.5)
    assert rmse(SIM, OBS) == close(math.sqrt(0.5))
    assert r_squared(SIM, OBS) == close(0.8)
    assert mape(SIM, OBS) == close(1.0 / 3.0)
    assert durbin_watson(np.subtract(SIM, OBS)) == close(1.5)
    assert barlas_mean_error(SIM, OBS) == close(0.2)
    assert barlas_amplitude_error(SIM, OBS) == close(1.0 - 2.0 / SQRT5)


def test_hand_case_theil():
    t = theil(SIM, OBS)
    assert isinstance(t, TheilStatistics)
    assert t.mse == close(0.5)
    assert t.rmse == close(math.sqrt(0.5))
    assert t.u == close(math.sqrt(0.5) / (math.sqrt(10.0) + math.sqrt(7.5)))
    assert t.um == close(0.5)
    assert t.us == close(4.5 - 2.0 * SQRT5)
    assert t.uc == close(2.0 * SQRT5 - 4.0)
    assert t.um + t.us + t.uc == close(1.0)


def test_r_squared_is_squared_correlation_not_one_minus_sse_over_sst():
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    sim = 10.0 + 3.0 * obs  # perfectly correlated but badly biased and scaled
    assert r_squared(sim, obs) == close(1.0)
    assert r_squared(-obs, obs) == close(1.0)  # r = -1


def test_r_squared_constant_series_is_nan():
    assert math.isnan(r_squared([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(r_squared([1.0, 2.0, 3.0], [0.1, 0.1, 0.1]))


# --------------------------------------------------------------------------- Theil
def test_pure_bias_gives_um_one():
    obs = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    t = theil(obs + 2.5, obs)
    assert t.um == close(1.0)
    assert t.us == close(0.0)
    assert t.uc == close(0.0)
    assert t.mse == close(6.25)


def test_pure_scaling_about_mean_gives_us_one():
    obs = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    for k in (0.5, 1.7, 3.0):
        sim = obs.mean() + k * (obs - obs.mean())
        t = theil(sim, obs)
        assert t.us == close(1.0)
        assert t.um == close(0.0)
        assert t.uc == close(0.0)


def test_negated_deviations_give_uc_dominant():
    obs = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    sim = obs.mean() - (obs - obs.mean())  # same mean and SD, r = -1
    t = theil(sim, obs)
    assert t.uc == close(1.0)
    assert t.um == close(0.0)
    assert t.us == close(0.0)


def test_identical_series_zero_convention():
    obs = [1.0, 5.0, 2.0, 8.0]
    assert theil(obs, obs) == TheilStatistics(mse=0.0, rmse=0.0, u=0.0, um=0.0, us=0.0, uc=0.0)
    assert theil([0.0, 0.0], [0.0, 0.0]).u == 0.0


def test_theil_mse_matches_mean_squared_error():
    rng = np.random.default_rng(7)
    obs = rng.normal(100.0, 20.0, size=50)
    sim = obs * 1.1 + rng.normal(0.0, 5.0, size=50)
    t = theil(sim, obs)
    assert t.mse == pytest.approx(mean_squared_error(sim, obs), rel=1e-12)
    assert t.rmse == pytest.approx(rmse(sim, obs), rel=1e-12)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def series_pair(draw, elements=finite, max_size=40):
    n = draw(st.integers(min_value=2, max_value=max_size))
    sim = np.array(draw(st.lists(elements, min_size=n, max_size=n)))
    obs = np.array(draw(st.lists(elements, min_size=n, max_size=n)))
    return sim, obs


@given(series_pair())
def test_theil_fractions_sum_to_one(pair):
    sim, obs = pair
    assume(np.ptp(sim) > 0 and np.ptp(obs) > 0)  # non-constant series
    assume(not np.array_equal(sim, obs))  # identical series: documented zero convention
    t = theil(sim, obs)
    assert t.um + t.us + t.uc == close(1.0)
    for frac in (t.um, t.us, t.uc, t.u):
        assert 0.0 <= frac <= 1.0 + TOL


@given(series_pair(elements=st.integers(min_value=-50, max_value=50), max_size=30))
def test_theil_matches_textbook_formulas(pair):
    sim, obs = (x.astype(float) for x in pair)
    assume(np.ptp(sim) > 0 and np.ptp(obs) > 0 and not np.array_equal(sim, obs))
    mse = np.mean((sim - obs) ** 2)
    sd_s, sd_a = np.std(sim), np.std(obs)
    r = np.corrcoef(sim, obs)[0, 1]
    t = theil(sim, obs)
    assert t.mse == pytest.approx(mse, rel=1e-12)
    assert t.um == close((sim.mean() - obs.mean()) ** 2 / mse, 1e-9)
    assert t.us == close((sd_s - sd_a) ** 2 / mse, 1e-9)
    assert t.uc == close(2.0 * (1.0 - r) * sd_s * sd_a / mse, 1e-9)
    u = np.sqrt(mse) / (np.sqrt(np.mean(sim**2)) + np.sqrt(np.mean(obs**2)))
    assert t.u == pytest.approx(u, rel=1e-12)


@given(series_pair())
def test_theil_symmetric_in_arguments(pair):
    sim, obs = pair
    assume(not np.array_equal(sim, obs))
    t1, t2 = theil(sim, obs), theil(obs, sim)
    for f in ("u", "um", "us", "uc"):
        assert getattr(t1, f) == close(getattr(t2, f), 1e-10)


# --------------------------------------------------------------------------- Durbin-Watson
def test_durbin_watson_alternating_residuals():
    # e = [1, -1, 1, -1]: diffs [-2, 2, -2] -> 12; sum e² = 4 -> DW = 3 (= 4(n-1)/n)
    assert durbin_watson([1.0, -1.0, 1.0, -1.0]) == close(3.0)
    # n = 100 alternating: 99 diffs of ±2 -> 396; sum e² = 100 -> 3.96
    assert durbin_watson(np.tile([1.0, -1.0], 50)) == close(3.96)


def test_durbin_watson_constant_and_zero_residuals():
    assert durbin_watson([2.0, 2.0, 2.0, 2.0]) == 0.0
    assert math.isnan(durbin_watson([0.0, 0.0, 0.0]))


# --------------------------------------------------------------------------- phase lag
@pytest.mark.parametrize("shift", [0, 3, 5, 7])
def test_phase_lag_recovers_sine_shift(shift):
    t = np.arange(400)
    obs = np.sin(2.0 * np.pi * t / 40.0)
    sim = np.sin(2.0 * np.pi * (t - shift) / 40.0)  # simulation delayed by `shift`
    res = barlas_phase_lag(sim, obs, max_lag=15)
    assert isinstance(res, PhaseLag)
    assert res.lag == shift
    assert res.correlation > 0.95
    assert barlas_phase_lag(obs, sim, max_lag=15).lag == -shift


def test_phase_lag_identical_series_correlation_one():
    x = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    res = barlas_phase_lag(x, x, max_lag=2)
    assert res.lag == 0
    assert res.correlation == close(1.0)


# --------------------------------------------------------------------------- bundle
def test_fit_statistics_none_matches_individual_functions():
    fs = fit_statistics(SIM, OBS)
    assert isinstance(fs, FitStatistics)
    assert fs.n == 4 and fs.transform == "none"
    assert fs.r2 == close(0.8)
    assert fs.mape == close(1.0 / 3.0)
    assert fs.rmse == close(math.sqrt(0.5))
    assert fs.theil == theil(SIM, OBS)
    assert fs.durbin_watson == close(1.5)
    assert fs.mean_error == close(0.5)


def test_fit_statistics_log_transform_except_mape():
    obs = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    sim = np.array([1.5, 2.0, 5.0, 7.0, 20.0])
    fs = fit_statistics(sim, obs, transform="log")
    ls, la = np.log(sim), np.log(obs)
    assert fs.transform == "log"
    assert fs.mape == close(mape(sim, obs))  # original scale
    assert fs.r2 == close(r_squared(ls, la))
    assert fs.rmse == close(rmse(ls, la))
    assert fs.theil == theil(ls, la)
    assert fs.durbin_watson == close(durbin_watson(ls - la))
    assert fs.mean_error == close(float(np.mean(ls - la)))


def test_fit_statistics_degenerate_entries_are_nan():
    fs = fit_statistics([0.0, 1.0, 2.0], [0.0, 1.0, 2.0])  # identical, obs has a zero
    assert math.isnan(fs.mape)
    assert math.isnan(fs.durbin_watson)
    assert fs.r2 == close(1.0)
    assert fs.theil.u == fs.theil.um == fs.theil.us == fs.theil.uc == 0.0


def test_as_dict_is_flat_and_frozen():
    fs = fit_statistics(SIM, OBS)
    d = fs.as_dict()
    assert set(d) == {
        "n", "transform", "r2", "mape", "rmse", "durbin_watson", "mean_error",
        "theil_mse", "theil_rmse", "theil_u", "theil_um", "theil_us", "theil_uc",
    }  # fmt: skip
    assert all(isinstance(v, int | float | str) for v in d.values())
    assert d["theil_um"] == fs.theil.um
    with pytest.raises(dataclasses.FrozenInstanceError):
        fs.r2 = 0.0  # type: ignore[misc]


# --------------------------------------------------------------------------- bad input
PAIR_FUNCS = [
    r_squared, mape, mean_squared_error, rmse, theil,
    barlas_mean_error, barlas_amplitude_error, fit_statistics,
    lambda s, o: barlas_phase_lag(s, o, max_lag=0),
]  # fmt: skip


@pytest.mark.parametrize("func", PAIR_FUNCS)
@pytest.mark.parametrize(
    ("sim", "obs", "pattern"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0], "same length.*simulated of length 3.*observed of length 2"),
        ([1.0, np.nan, 3.0], [1.0, 2.0, 3.0], "simulated must contain only finite.*index 1"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, np.inf], "observed must contain only finite.*index 2"),
        ([], [1.0, 2.0], "simulated is empty"),
        ([1.0, 2.0], [], "observed is empty"),
        ([[1.0, 2.0]], [1.0, 2.0], "simulated must be a 1-D array"),
        ([1.0, 2.0], ["a", "b"], "observed must contain real numbers"),
    ],
)
def test_bad_inputs_raise_naming_argument(func, sim, obs, pattern):
    with pytest.raises(ValueError, match=pattern):
        func(sim, obs)


def test_mape_zero_observation_raises():
    with pytest.raises(ValueError, match=r"observed must be non-zero.*index \[1\]"):
        mape([1.0, 2.0, 3.0], [1.0, 0.0, 3.0])


def test_durbin_watson_bad_inputs():
    with pytest.raises(ValueError, match="residuals must have at least 2"):
        durbin_watson([1.0])
    with pytest.raises(ValueError, match="residuals must contain only finite"):
        durbin_watson([1.0, np.nan])
    with pytest.raises(ValueError, match="residuals is empty"):
        durbin_watson([])


def test_barlas_undefined_cases_raise():
    with pytest.raises(ValueError, match="observed must have a non-zero mean"):
        barlas_mean_error([1.0, 2.0], [-1.0, 1.0])
    with pytest.raises(ValueError, match="observed must not be constant"):
        barlas_amplitude_error([1.0, 2.0], [3.0, 3.0])
    with pytest.raises(ValueError, match="simulated must not be constant"):
        barlas_phase_lag([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], max_lag=1)
    for bad in (-1, 3, 1.5, True):
        with pytest.raises(ValueError, match="max_lag must"):
            barlas_phase_lag([1.0, 2.0, 4.0], [1.0, 2.0, 3.0], max_lag=bad)


def test_fit_statistics_bad_transform_and_log_domain():
    with pytest.raises(ValueError, match="transform must be one of"):
        fit_statistics(SIM, OBS, transform="sqrt")
    with pytest.raises(ValueError, match="observed must be strictly positive"):
        fit_statistics([1.0, 2.0], [0.0, 1.0], transform="log")
    with pytest.raises(ValueError, match="simulated must be strictly positive"):
        fit_statistics([-1.0, 2.0], [1.0, 1.0], transform="log")
    with pytest.raises(ValueError, match="at least 2 values"):
        fit_statistics([1.0], [1.0])
