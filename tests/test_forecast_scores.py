"""The forecast scores against hand-computed cases, and the naive baselines against the curves
that generated synthetic data (forecasting.scores, forecasting.baselines)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from clusterdyn.forecasting import baselines, scores


# -- scores ------------------------------------------------------------------------------------
def test_point_errors_by_hand():
    assert scores.absolute_percentage_error(np.array([100.0, 200.0]),
                                            np.array([110.0, 150.0])) == pytest.approx([0.1, 0.25])
    assert scores.log_error(np.array([100.0]), np.array([100.0 * np.e])) == pytest.approx([1.0])


def test_sample_crps_by_hand():
    # mean|X - 0.3| = (0.3 + 0.7 + 1.7) / 3 = 0.9; sum over i != j of |X_i - X_j| = 8, and the
    # fair estimator divides it by 2 m (m - 1) = 12: 0.9 - 8 / 12 = 0.2333...
    assert scores.crps_sample(np.array([0.3]), np.array([[0.0, 1.0, 2.0]])) == pytest.approx(
        [0.9 - 8 / 12])
    # a forecast that always says the observed value scores 0
    assert scores.crps_sample(np.array([1.0]), np.array([[1.0, 1.0]])) == pytest.approx([0.0])


def test_student_t_crps_equals_its_integral():
    # CRPS(F, y) = integral of (F(x) - 1{x >= y})^2 dx, computed numerically
    for df, loc, scale, y in [(4, 0.0, 1.0, 0.3), (12, 2.0, 0.5, 3.1), (3, -1.0, 2.0, -6.0)]:
        dist = stats.t(df, loc, scale)
        below = integrate.quad(lambda x, d=dist: d.cdf(x) ** 2, -np.inf, y, limit=200)[0]
        above = integrate.quad(lambda x, d=dist: (1 - d.cdf(x)) ** 2, y, np.inf,
                               limit=200)[0]
        assert scores.crps_student_t(y, df, loc, scale) == pytest.approx(below + above,
                                                                         rel=1e-6)


def test_sample_crps_approaches_the_closed_form():
    rng = np.random.default_rng(0)
    draws = 5.0 + 0.4 * rng.standard_t(6, size=(1, 200_000))
    exact = scores.crps_student_t(5.3, 6, 5.0, 0.4)
    assert scores.crps_sample(np.array([5.3]), draws)[0] == pytest.approx(exact, rel=5e-3)


def test_interval_score_by_hand():
    # 90% interval [2, 4]: width 2; 2 / alpha = 20 per unit outside
    observed = np.array([3.0, 1.5, 4.25, 2.0])
    got = scores.interval_score(observed, np.full(4, 2.0), np.full(4, 4.0), 0.9)
    assert got == pytest.approx([2.0, 2.0 + 20 * 0.5, 2.0 + 20 * 0.25, 2.0])
    with pytest.raises(ValueError, match="level = 1.0"):
        scores.interval_score(observed, observed, observed, 1.0)


def test_coverage_includes_the_bounds():
    got = scores.covered(np.array([1.0, 2.0, 3.0, 0.999]), np.ones(4), np.full(4, 3.0))
    assert got.tolist() == [True, True, True, False]


# -- baselines ---------------------------------------------------------------------------------
YEARS = np.arange(1978, 1996, dtype=float)


def _noisy(values: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    return values + sigma * np.random.default_rng(seed).standard_normal(values.shape)


def test_gompertz_recovers_its_generating_curve():
    truth = np.array([np.log(300_000.0), 8.0, 0.15])
    log_y = np.log(baselines.gompertz_curve(truth, YEARS, YEARS[0]))
    fit = baselines.fit_gompertz(YEARS, _noisy(log_y, 0.01, 1), np.full(len(YEARS), 0.15), "log")
    got = np.array([fit.parameters[k] for k in ("log_K", "b", "c")])
    assert got == pytest.approx(truth, rel=0.05)
    future = np.arange(1996, 2004, dtype=float)
    predicted = fit.predict(future, np.full(8, 0.15))
    expected = np.log(baselines.gompertz_curve(truth, future, YEARS[0]))
    assert np.abs(predicted.location - expected).max() < 0.05


def test_logistic_recovers_its_generating_curve_even_when_declining():
    for truth in (np.array([np.log(200_000.0), 0.6, 1992.0]),
                  np.array([np.log(10.0), -0.3, 1988.0])):  # a falling series, as a price
        log_y = np.log(baselines.logistic_curve(truth, YEARS))
        fit = baselines.fit_logistic(YEARS, _noisy(log_y, 0.01, 2), np.full(len(YEARS), 0.1),
                                     "log")
        got = np.array([fit.parameters[k] for k in ("log_K", "r", "t0")])
        assert got == pytest.approx(truth, rel=0.05, abs=0.05)


def test_curves_fit_a_series_on_its_natural_scale():
    truth = np.array([np.log(0.3), 0.5, 1990.0])
    share = baselines.logistic_curve(truth, YEARS)
    fit = baselines.fit_logistic(YEARS, _noisy(share, 0.002, 3), np.full(len(YEARS), 0.03),
                                 "none")
    assert fit.parameters["r"] == pytest.approx(0.5, rel=0.1)


def test_random_walk_recovers_drift_and_spread():
    rng = np.random.default_rng(4)
    years = np.arange(0, 400, dtype=float)
    y = np.cumsum(0.3 + 0.1 * rng.standard_normal(len(years)))
    fit = baselines.fit_random_walk_drift(years, y)
    # drift: standard error 0.1 / sqrt(399) = 0.005
    assert fit.parameters["drift"] == pytest.approx(0.3, abs=0.015)
    assert fit.residual_scale == pytest.approx(0.1, rel=0.1)
    predicted = fit.predict(np.array([400.0, 403.0]), np.ones(2))
    assert predicted.location == pytest.approx(y[-1] + fit.parameters["drift"] * np.array([1, 4]))
    # sigma * sqrt(h + h^2 / span): the spread grows with the horizon
    assert predicted.scale[1] == pytest.approx(fit.residual_scale * np.sqrt(4 + 16 / 399))


def test_random_walk_handles_a_gap():
    years = np.array([0.0, 1.0, 3.0, 4.0])  # year 2 left out (as FAO's 1981)
    fit = baselines.fit_random_walk_drift(years, np.array([0.0, 1.0, 3.0, 4.0]))
    assert fit.parameters["drift"] == pytest.approx(1.0)
    assert fit.residual_scale == pytest.approx(0.0, abs=1e-12)


def test_loglinear_trend_uses_the_last_five_years_only():
    years = np.arange(1980, 1996, dtype=float)
    y = np.where(years < 1991, 0.0, 2.0 + 0.25 * (years - 1991))  # a line from 1991 on
    fit = baselines.fit_loglinear_trend(years, y)
    assert fit.parameters["slope"] == pytest.approx(0.25)
    assert fit.predict(np.array([1997.0]), np.ones(1)).location == pytest.approx([3.5])


def test_baseline_intervals_cover_at_their_level():
    # Replications of a Gompertz series with known noise: the delta-method 90% intervals of
    # the next three years must cover 80-97% of the new observations (seeded).
    truth = np.array([np.log(300_000.0), 8.0, 0.15])
    future = np.arange(1996, 1999, dtype=float)
    hits = []
    for seed in range(150):
        log_y = np.log(baselines.gompertz_curve(truth, np.concatenate([YEARS, future]),
                                                YEARS[0]))
        noisy = _noisy(log_y, 0.1, 100 + seed)
        fit = baselines.fit_gompertz(YEARS, noisy[:len(YEARS)], np.full(len(YEARS), 0.1), "log")
        lower, upper = fit.predict(future, np.full(3, 0.1)).interval(0.9)
        hits.extend(scores.covered(noisy[len(YEARS):], lower, upper))
    assert 0.80 <= np.mean(hits) <= 0.97, np.mean(hits)


def test_a_window_too_short_is_refused():
    with pytest.raises(ValueError, match="gompertz: 3 observed years in the window, expected at "
                                         "least 4"):
        baselines.fit_gompertz(YEARS[:3], np.ones(3), np.ones(3), "log")
