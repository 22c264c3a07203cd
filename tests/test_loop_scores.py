"""Loops that Matter scores (sdmodels.loop_scores): arithmetic, textbook models, salmon model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from clusterdyn.sdmodels import load_model
from clusterdyn.sdmodels.loop_graph import build_graph, expand_loop, find_loops
from clusterdyn.sdmodels.loop_scores import (
    auxiliary_link_scores,
    flow_link_scores,
    link_scores,
    loop_scores,
    relative_loop_scores,
    trajectory,
)
from clusterdyn.sdmodels.loops import load_loops
from clusterdyn.sdmodels.model import Model, _pysd_deprecations_silenced

FIXTURES = Path(__file__).parent / "fixtures" / "ltm"
CONTROL = {"Time", "INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"}


def pysd_steps(model: Model, times: np.ndarray) -> dict[str, np.ndarray]:
    """Every variable at every step as PySD itself computes it."""
    names = [n for n in model.variables if n not in CONTROL]
    with _pysd_deprecations_silenced():
        out = model._fresh().run(params=dict(model.baseline), return_columns=names,
                                 return_timestamps=times, final_time=float(times[-1]),
                                 time_step=model.time_step, progress=False)
    np.testing.assert_array_equal(out.index.to_numpy(dtype=float), times)
    return {n: out[n].to_numpy(dtype=float) for n in names}


def assert_same_as_pysd(model: Model, backend: str) -> None:
    run = trajectory(model, backend=backend)
    for name, values in pysd_steps(model, run.index.to_numpy()).items():
        np.testing.assert_allclose(run[name].to_numpy(), values, rtol=1e-9, atol=0, err_msg=name)


# Link-score arithmetic on the worked examples of the papers.

def test_auxiliary_link_scores_of_a_linear_equation():
    # Schoenberg et al. (2020), table 1: z = 2x + y, x 5 -> 7, y 4 -> 5, z 14 -> 19.
    scores = auxiliary_link_scores(lambda v: 2 * v["x"] + v["y"],
                                   {"x": np.array([5.0, 7.0]), "y": np.array([4.0, 5.0])})
    assert scores["x"] == pytest.approx([4 / 5]) and scores["y"] == pytest.approx([1 / 5])


def test_auxiliary_link_scores_separate_magnitude_and_polarity():
    # Table 2: z = (w + x) / y falls (3 -> 2.8) while w and x push it up: Δ_w z = 12/3 - 3 = 1,
    # Δ_x z = 11/3 - 3 = 2/3, Δ_y z = 9/5 - 3 = -1.2, each over Δz = -0.2.
    series = {"w": np.array([7.0, 10.0]), "x": np.array([2.0, 4.0]), "y": np.array([3.0, 5.0])}
    scores = auxiliary_link_scores(lambda v: (v["w"] + v["x"]) / v["y"], series)
    assert scores["w"] == pytest.approx([5.0])
    assert scores["x"] == pytest.approx([10 / 3])
    assert scores["y"] == pytest.approx([-6.0])


def test_auxiliary_link_scores_are_zero_when_the_input_or_the_output_does_not_move():
    series = {"x": np.array([1.0, 2.0, 3.0, 3.0]), "y": np.array([1.0, 2.0, 3.0, 5.0])}
    scores = auxiliary_link_scores(lambda v: v["x"] - v["y"], series)
    # Steps 1 and 2: z = x - y does not change; step 3: x does not change.
    assert scores["x"].tolist() == [0.0, 0.0, 0.0]
    assert scores["y"].tolist() == [0.0, 0.0, pytest.approx(-1.0)]


def test_flow_link_scores_use_changes_and_do_not_depend_on_aggregation():
    # Schoenberg et al. (2023), tables 1-2: in 5 -> 10, out 4 -> 5, net 1 -> 5.
    inflow, outflow = np.array([5.0, 10.0]), np.array([4.0, 5.0])
    net = inflow - outflow
    change = flow_link_scores({"in": (inflow, 1), "out": (outflow, -1)}, net)
    assert change["in"] == pytest.approx([1.25]) and change["out"] == pytest.approx([-0.25])
    # The same stock with one net flow "net = in - out": in -> net -> S (the latter scores 1).
    aggregated = auxiliary_link_scores(lambda v: v["in"] - v["out"],
                                       {"in": inflow, "out": outflow})
    single = flow_link_scores({"net": (net, 1)}, net)["net"]
    assert aggregated["in"] * single == pytest.approx(change["in"])
    assert aggregated["out"] * single == pytest.approx(change["out"])
    # The 2020 paper's eq. 2 (flow values over the net flow) is not aggregation-invariant.
    value = flow_link_scores({"in": (inflow, 1), "out": (outflow, -1)}, net, formula="value")
    assert value["in"] == pytest.approx([2.0]) and value["out"] == pytest.approx([-1.0])


def test_flow_link_scores_are_zero_when_the_net_flow_does_not_change():
    flows = {"in": (np.array([1.0, 2.0]), 1), "out": (np.array([1.0, 2.0]), -1)}
    assert flow_link_scores(flows, np.zeros(2))["in"].tolist() == [0.0]


# Textbook models: one loop, then two loops trading dominance.

@pytest.fixture(scope="module")
def textbook():
    return {name: load_model(str(FIXTURES / f"{name}.mdl"))
            for name in ("exponential_growth", "goal_seek", "s_shaped_growth")}


@pytest.mark.parametrize(("name", "chain", "sign"), [
    ("exponential_growth", ("Population", "births"), 1.0),
    ("goal_seek", ("Stock", "adjustment"), -1.0),
])
def test_an_isolated_loop_scores_one_with_its_polarity(textbook, name, chain, sign):
    links = link_scores(textbook[name], backend="numpy")
    assert find_loops(links.graph) == {"L1": chain}
    relative = relative_loop_scores(links)
    assert len(relative) == 20 * 16  # every step of 1/16 year after the initial time
    assert (relative["L1"] == sign).all()
    # An isolated loop's score is +-1 whatever its gain (2020 paper, "loop score").
    np.testing.assert_allclose(loop_scores(links)["L1"], sign, rtol=1e-12)


def test_s_shaped_growth_shifts_from_the_reinforcing_to_the_balancing_loop(textbook):
    model = textbook["s_shaped_growth"]
    assert_same_as_pysd(model, backend="numpy")
    links = link_scores(model, backend="numpy")
    loops = find_loops(links.graph)
    assert sorted(loops.values(), key=len) == [
        ("Population", "net growth"), ("Population", "Crowding", "net growth")]
    relative = relative_loop_scores(links, {"R": loops["L1"], "B": loops["L2"]})
    assert (relative["R"] > 0).all() and (relative["B"] < 0).all()
    np.testing.assert_allclose(relative.abs().sum(axis=1), 1.0, rtol=1e-12)
    # For g = r*P*(1 - C), C = P/K, the link scores give R:|B| = (1 - C):C at P(t - dt).
    population = trajectory(model, backend="numpy")["Population"].to_numpy()
    np.testing.assert_allclose(relative["R"], 1 - population[:-1] / 1000, rtol=1e-9)
    # Reinforcing dominant before the inflection (P = K/2), balancing after. Analytically the
    # inflection is at t* = ln((K - P0)/P0)/r = ln(99); the Euler run reaches it about
    # r*t*/2 = 2.3 steps later, and the score at t reads P(t - dt): one step more. Tolerance:
    # 4 steps of 1/64 year.
    t_star = math.log((1000 - 10) / 10) / 1.0
    reinforcing = (relative["R"] > 0.5).to_numpy()
    shift = int(np.argmin(reinforcing))
    assert reinforcing[:shift].all() and not reinforcing[shift:].any()
    assert (relative["B"].iloc[shift:] < -0.5).all()
    assert abs(relative.index[shift] - t_star) <= 4 * model.time_step
    # One flow per stock: the 2020 flow formula gives the same scores.
    by_value = relative_loop_scores(link_scores(model, flow_formula="value", backend="numpy"),
                                    {"R": loops["L1"], "B": loops["L2"]})
    np.testing.assert_allclose(by_value, relative, rtol=1e-12)


# The salmon cluster model: calibrated run, the named loops of salmon_cluster.loops.toml.

@pytest.fixture(scope="module")
def salmon():
    model = load_model()
    return model, link_scores(model)


def test_salmon_trajectory_is_pysds(salmon):
    assert_same_as_pysd(salmon[0], backend="numba")


def test_salmon_graph_splits_stocks_into_their_flows(salmon):
    graph = build_graph(salmon[0].mdl_path)
    assert graph.nodes["Production capacity"].flows == (
        ("Capacity investment", 1), ("Capacity depreciation", -1), ("Capacity exit", -1))
    # A SMOOTH's input reaches it through its (unnamed) net flow.
    r2 = next(loop for loop in load_loops(graph.mdl_path) if loop.id == "R2")
    chain = expand_loop(graph, r2.variables)
    assert len(chain) == len(r2.variables) + 1
    at = chain.index("Profitability")
    assert chain[at:at + 3] == (
        "Profitability", "Expected profitability flow", "Expected profitability")
    # Links the list skips are filled in when the path is unique, refused when it is not.
    b1 = next(loop for loop in load_loops(graph.mdl_path) if loop.id == "B1").variables
    skipped = {"Supply demand ratio", "Effect of supply on world price",
               "Effect of profitability on investment"}
    assert expand_loop(graph, [v for v in b1 if v not in skipped]) == expand_loop(graph, b1)
    with pytest.raises(ValueError, match="ambiguous"):
        expand_loop(graph, ("Expected profitability", "Profitability"))


def test_salmon_named_loops_get_finite_scores_that_share_one(salmon):
    model, links = salmon
    loops = load_loops(model.mdl_path)
    scores = loop_scores(links, loops)
    relative = relative_loop_scores(links, loops)
    assert list(relative.columns) == [loop.id for loop in loops]
    assert relative.index[0] == 1978 + 1 / 128 and relative.index[-1] == 2003
    assert np.isfinite(scores.to_numpy()).all() and np.isfinite(relative.to_numpy()).all()
    totals = relative.abs().sum(axis=1).to_numpy()
    active = (scores != 0).any(axis=1).to_numpy()
    assert active.mean() > 0.99
    np.testing.assert_allclose(totals[active], 1.0, rtol=1e-12)
    assert (totals[~active] == 0).all()
    # Each loop's sign is its documented polarity wherever it is active.
    for loop in loops:
        column = scores[loop.id].to_numpy()
        expected = 1 if loop.polarity == "R" else -1
        assert (np.sign(column[column != 0]) == expected).mean() > 0.95, loop.id
