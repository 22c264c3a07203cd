"""Policy optimisation: the search on problems with known optima, and on the model."""

from __future__ import annotations

import numpy as np
import pytest

from clusterdyn.policy.search import feasible_rows, fractional_knapsack, maximise
from clusterdyn.sdmodels.errors import ModelInputError


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_search_finds_the_known_optimum_of_a_knapsack(seed):
    """Linear value, linear cost: the exact optimum is the fractional knapsack solution."""
    rng = np.random.default_rng(seed)
    value, cost = rng.uniform(1, 5, 10), rng.uniform(1, 3, 10)
    budget = 0.4 * cost.sum()
    found = maximise(lambda x: x @ value, cost, budget, seed=seed, maxiter=30)
    exact = fractional_knapsack(value, cost, budget)
    assert found.x @ cost <= budget * (1 + 1e-9)
    assert found.value == pytest.approx(exact @ value, rel=1e-6)


def test_search_on_a_concave_problem_with_a_closed_form_optimum():
    """max sum(w log(1 + x)) s.t. sum(x) <= B: water filling, x_i = max(0, w_i / mu - 1)."""
    w = np.array([1.0, 2.0, 3.0, 4.0])
    budget = 1.5
    # Solve for mu by bisection on sum(max(0, w/mu - 1)) = B with x <= 1.
    low, high = 1e-6, 10.0
    for _ in range(200):
        mu = (low + high) / 2
        x = np.clip(w / mu - 1, 0, 1)
        low, high = (low, mu) if x.sum() < budget else (mu, high)
    exact = np.clip(w / mu - 1, 0, 1)
    found = maximise(lambda p: np.log1p(p) @ w, np.ones(4), budget, seed=0, maxiter=40)
    assert found.x == pytest.approx(exact, abs=2e-3)


def test_upper_bounds_fix_entries_and_start_points_are_kept():
    value, cost = np.array([5.0, 1.0, 1.0]), np.ones(3)
    found = maximise(lambda x: x @ value, cost, 1.0, seed=0, maxiter=10,
                     upper=np.array([0.0, 1.0, 1.0]))
    assert found.x[0] == 0.0
    assert found.value == pytest.approx(1.0, rel=1e-6)
    # An excellent start point survives (the search is elitist).
    start = np.array([[1.0, 0.0, 0.0]])
    kept = maximise(lambda x: x @ value, cost, 1.0, seed=0, maxiter=2, start=start,
                    polish=False)
    assert kept.value >= 5.0 * (1 - 1e-9)


def test_feasible_rows_scale_into_the_budget():
    rows = feasible_rows(np.array([[1.0, 1.0], [0.1, 0.1]]), np.array([1.0, 1.0]), 1.0)
    assert rows[0] == pytest.approx([0.5, 0.5])
    assert rows[1] == pytest.approx([0.1, 0.1])


def test_bad_budget_is_one_clear_error():
    with pytest.raises(ModelInputError, match="budget"):
        maximise(lambda x: x.sum(axis=1), np.ones(2), -1.0, seed=0)


@pytest.fixture(scope="module")
def small_result():
    """A short optimisation on the model: 3 draws, a few generations, two frontier points."""
    from clusterdyn.policy.optimize import optimize

    return optimize(draws=3, maxiter=4, frontier=(0.5,), frontier_maxiter=2, replicates=1)


def test_optimum_beats_every_shipped_scenario_within_the_budget(small_result):
    shipped = small_result.shipped
    within = shipped[shipped["cost"] <= small_result.settings.budget + 1e-9]
    assert {"historical", "no_policy", "static_policy"} <= set(within.index)
    assert small_result.switched.cost <= small_result.settings.budget + 1e-9
    assert small_result.switched.value >= within["value"].max()
    assert small_result.static.cost <= small_result.settings.budget + 1e-9
    # The written schedule is what was evaluated: three decimals.
    assert np.array_equal(small_result.switched.x, np.round(small_result.switched.x, 3))


def test_optimum_beats_a_more_expensive_scenario_at_its_own_cost():
    """At export_promotion_first's cost, the optimum is at least as good as it."""
    from clusterdyn.policy.optimize import optimize

    result = optimize(budget=268.61, draws=2, maxiter=3, frontier=(), replicates=0)
    assert "export_promotion_first" in result.shipped.index
    row = result.shipped.loc["export_promotion_first"]
    assert row["cost"] <= 268.61
    assert result.switched.value >= row["value"]


def test_result_tables_and_value_of_switching(small_result):
    r = small_result
    assert set(r.frontier["kind"]) == {"switched", "static"}
    assert len(r.frontier) == 4
    assert r.replicates.shape == (1, 27)
    difference = r.per_draw["optimal_switched"] - r.per_draw["optimal_static"]
    assert r.switching["mean"] == pytest.approx(difference.mean(), rel=1e-12)
    schedules = r.schedules()
    assert len(schedules) == 54
    assert (schedules["replicate_low"] <= schedules["intensity"]).all()
    # A static optimum has the same intensity in every stage.
    static = schedules[schedules["kind"] == "static"].pivot(index="lever", columns="stage",
                                                              values="intensity")
    assert (static.nunique(axis=1) == 1).all()
    assert "value of stage switching" in r.summary()


def test_written_schedule_is_a_scenario_that_reproduces_its_value(small_result, tmp_path):
    """The TOML the optimiser writes loads with the scenario loader, and running it through
    the scenario engine gives the same NPV as the optimiser's evaluator (calibrated point)."""
    import pandas as pd

    from clusterdyn import scenarios
    from clusterdyn.policy.command import result_files
    from clusterdyn.policy.evaluate import Evaluator
    from clusterdyn.policy.optimize import make_evaluator
    from clusterdyn.scenarios.economics import Economics, npv_of_exports

    texts = result_files(small_result)
    path = tmp_path / "optimal_switched.toml"
    path.write_text(texts["optimal_switched.toml"])
    run = scenarios.run(path)
    npv = npv_of_exports(run.trajectories["Export value"].to_numpy(),
                         run.trajectories.index.to_numpy(), Economics())
    base = make_evaluator(draws=1)
    point = Evaluator(base.runner, pd.DataFrame(), base.economics, base.starts)
    assert npv == pytest.approx(point.values(small_result.switched.x)[0, 0], rel=1e-9)


def test_same_seed_same_bytes():
    from clusterdyn.policy.command import result_files
    from clusterdyn.policy.optimize import optimize

    def files() -> dict[str, str]:
        return result_files(optimize(draws=2, maxiter=2, frontier=(), replicates=0))

    assert files() == files()


@pytest.mark.parametrize("kwargs, message", [
    ({"budget": -1.0}, "budget"),
    ({"objective": "npv_export"}, "objective 'npv_export' is unknown"),
    ({"robust": "median"}, "robust summary"),
    ({"levers": ["biotech"]}, "Did you mean 'biotechnology'"),
    ({"levers": ["regulation", "regulation"]}, "given twice"),
    ({"maxiter": 0}, "maxiter"),
])
def test_bad_input_is_one_clear_error(kwargs, message):
    from clusterdyn.policy.optimize import optimize

    with pytest.raises(ModelInputError, match=message):
        optimize(**kwargs)


def test_cli_bad_input_is_one_line_exit_2(capsys):
    # In this process, as `python -m clusterdyn.cli` (`sys.exit(main())`) runs it, argparse's
    # SystemExit included: three interpreter starts and imports less (the separate process
    # is covered by tests/test_cli.py).
    from clusterdyn.cli import main

    for args in (["--budget", "-5"], ["--objective", "x"], ["--levers", "biotech"]):
        capsys.readouterr()
        try:
            code = main(["optimize", *args, "-o", "unused"])
        except SystemExit as stop:
            code = stop.code
        err = capsys.readouterr().err
        assert code == 2
        assert "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("clusterdyn optimize: error:")


def test_parser_objectives_match_the_evaluator():
    from clusterdyn.policy.command import OBJECTIVE_NAMES
    from clusterdyn.policy.evaluate import OBJECTIVES

    assert tuple(OBJECTIVES) == OBJECTIVE_NAMES
