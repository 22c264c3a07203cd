"""Robustness of scenario rankings: the shaped model, the sampling, the arithmetic, the command."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pandas as pd
import pytest

from clusterdyn.policy import robustness
from clusterdyn.policy.robustness import (
    DRAW_COLUMN,
    drivers,
    input_groups,
    pairwise_probabilities,
    posterior,
    ranking_robustness,
    reversal_shares,
    sample_inputs,
    srrc,
)
from clusterdyn.policy.robustness_command import add_parser, run_command
from clusterdyn.policy.shapes import (
    SHAPE_RANGE,
    effect_tables,
    shape_parameter,
    shaped_model,
    shaped_text,
)
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import PUBLIC_OUTPUTS, load_model

FEW = ["historical", "no_policy", "export_promotion_first"]


@pytest.fixture(scope="module")
def shaped():
    return shaped_model()


def test_only_normalised_effect_tables_get_a_shape(shaped):
    text = load_model("salmon_cluster", defaults="mdl").mdl_path.read_text(encoding="utf-8")
    tables = {t.name: t for t in effect_tables(text)}
    shaped_names = [n for n, t in tables.items() if t.normalised]
    assert len(tables) == 14 and len(shaped_names) == 12
    # Data, and the feasibility multiplier whose zero at a full area is the biophysical ceiling.
    assert set(tables) - set(shaped_names) == {"Rest of world production data",
                                               "Effect of farming area on investment"}
    for name in shaped_names:
        p = shaped.parameters[shape_parameter(name)]
        assert (p.default, p.lower, p.upper) == (1.0, *SHAPE_RANGE)
    with pytest.raises(ModelInputError, match="already has"):
        shaped_text(text + "\nEffect of regulation on investment shape=\n\t2\n\t~\tdmnl\n")


def test_shaped_model_reproduces_the_shipped_one_at_shape_1(shaped):
    shipped = load_model("salmon_cluster")
    assert dict(shaped.baseline) == dict(shipped.baseline) and shaped.baseline
    assert shaped.mdl_path.parent != shipped.mdl_path.parent  # in the cache, not the source
    ours = shaped.run(dict(shipped.baseline), until=2003, variables=list(PUBLIC_OUTPUTS))
    theirs = shipped.run(until=2003, variables=list(PUBLIC_OUTPUTS))
    relative = np.abs(ours.to_numpy() / theirs.to_numpy() - 1)
    assert relative.max() <= 1e-9


def test_a_shape_scales_the_effect_deviation_from_1(shaped):
    from clusterdyn.ensembles.runner import register

    name = "Effect of regulation on investment"
    result = register(shaped).run({shape_parameter(name): np.array([0.5, 1.5])}, until=2003,
                                  variables=[name, name + " table"])
    effect, table = result.get(name), result.get(name + " table")
    assert np.allclose(effect, np.maximum(0, 1 + np.array([[0.5], [1.5]]) * (table - 1)),
                       rtol=0, atol=1e-12)  # a shape of 0 would give 1 everywhere
    # The regulatory framework is built by policy alone: the same table values in both runs,
    # so the effect's deviation from 1 triples from shape 0.5 to 1.5.
    assert np.allclose(table[0], table[1], rtol=1e-12)
    moved = np.abs(table[0] - 1) > 1e-3
    assert moved.sum() > 10
    ratio = (effect[1, moved] - 1) / (effect[0, moved] - 1)
    assert np.allclose(ratio, 3, rtol=1e-9)


def test_sampling_is_seeded_and_stays_in_range(shaped):
    draws = posterior()
    first = sample_inputs(shaped, 40, seed=3, draws=draws)
    assert first.equals(sample_inputs(shaped, 40, seed=3, draws=draws))
    assert not first.equals(sample_inputs(shaped, 40, seed=4, draws=draws))
    groups = input_groups(shaped, list(draws.columns))
    assert len(groups["shape"]) == 12 and len(groups["constant"]) == 45
    assert list(first.columns) == groups["constant"] + groups["shape"] + [DRAW_COLUMN]
    assert not set(first.columns) & set(draws.columns)
    for column in groups["constant"] + groups["shape"]:
        p = shaped.parameters[column]
        values = first[column].to_numpy()
        assert p.lower <= values.min() and values.max() <= p.upper
        # A Latin hypercube puts exactly half the samples below the middle of each range: the
        # arithmetic middle, or the geometric one for a log-uniform range.
        middle = (math.sqrt(p.lower * p.upper) if robustness.log_uniform(p.lower, p.upper)
                  else (p.lower + p.upper) / 2)
        assert (values < middle).sum() == 20, column
    rows = first[DRAW_COLUMN].to_numpy()
    assert rows.dtype.kind == "i" and 0 <= rows.min() and rows.max() < len(draws)
    assert robustness.log_uniform(1, 15) and not robustness.log_uniform(0, 100)
    assert not robustness.log_uniform(1000, 10000)  # a ratio of exactly 10 stays uniform


def test_win_probability_and_reversal_arithmetic():
    values = {"a": np.array([1.0, 2, 3, 4]), "b": np.array([0.0, 2, 5, 1]),
              "c": np.array([2.0, 1, 1, 1])}
    win = pairwise_probabilities(values).set_index(["scenario_a", "scenario_b"])
    assert win.loc[("a", "b"), "p_a_beats_b"] == 0.5  # rows 0 and 3
    assert win.loc[("a", "b"), "p_tie"] == 0.25  # row 1
    assert win.loc[("a", "c"), "p_a_beats_b"] == 0.75
    assert win.loc[("b", "c"), "p_a_beats_b"] == 0.5  # rows 1 and 2; row 3 is a tie
    assert win.loc[("b", "c"), "p_tie"] == 0.25
    rev = reversal_shares(values, {"a": 2.0, "b": 3.0, "c": 2.0}).set_index(
        ["scenario_a", "scenario_b"])
    assert rev.loc[("a", "b"), "nominal_winner"] == "b"
    assert rev.loc[("a", "b"), "p_reversal"] == 0.5  # a strictly beats b in rows 0 and 3
    assert rev.loc[("b", "c"), "nominal_winner"] == "b"
    assert rev.loc[("b", "c"), "p_reversal"] == 0.25  # c beats b in row 0 (row 3: a tie)
    assert rev.loc[("a", "c"), "nominal_winner"] == "tie"
    assert math.isnan(rev.loc[("a", "c"), "p_reversal"])


def test_the_importance_measures_rank_a_planted_driver_first():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.uniform(size=(600, 6)), columns=[f"x{i}" for i in range(6)])
    y = 4 * x["x3"] - 0.5 * x["x1"] + 0.2 * rng.normal(size=600) - 1.5
    beta, r2 = srrc(x, y.to_numpy())
    assert beta.abs().idxmax() == "x3" and beta["x3"] > 0 and beta["x1"] < 0 and r2 > 0.8
    table = drivers(x, y.to_numpy(), (y < 0).to_numpy())
    assert table["input"].iloc[0] == "x3" and table["ks"].iloc[0] > 0.5
    with pytest.raises(ModelInputError, match="rank regression"):
        srrc(x.iloc[:5], y.to_numpy()[:5])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"scenarios": ["historical", "no_such_scenario"]}, "unknown scenario 'no_such_scenario'"),
    ({"scenarios": ["historical", "production_triggered"]}, "not supported: its stages start"),
    ({"scenarios": ["historical"]}, "at least two"),
    ({"scenarios": ["historical", "historical"]}, "once"),
    ({"n": 9}, "at least 10"),
    ({"n": 20, "seed": -1}, "seed"),
])
def test_bad_input_is_one_clear_error(kwargs, message):
    with pytest.raises(ModelInputError, match=message):
        ranking_robustness(**kwargs)


def _command(tmp_path, name, *extra):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["robustness", *FEW, "--samples", "20", "--no-progress",
                              "-o", str(tmp_path / name), *extra])
    assert run_command(args) == 0
    return {p.name: p.read_bytes() for p in (tmp_path / name).iterdir()}


def test_the_command_is_byte_identical_for_the_same_seed(tmp_path, capsys):
    first, second = _command(tmp_path, "a"), _command(tmp_path, "b")
    assert sorted(first) == ["importance.csv", "reversals.csv", "samples_kpis.csv",
                             "summary.md", "win_probability.csv"]
    assert first == second
    assert _command(tmp_path, "c", "--seed", "1")["samples_kpis.csv"] != first["samples_kpis.csv"]
    assert "20 samples x 3 scenarios" in capsys.readouterr().out
    # A progress bar never changes the numbers.
    shown = ranking_robustness(FEW, n=20, seed=0, progress=True)
    assert shown.tables()["win_probability.csv"].encode() == first["win_probability.csv"]
    win = pd.read_csv(tmp_path / "a" / "win_probability.csv")
    assert len(win) == 3 * 4 and win["p_a_beats_b"].between(0, 1).all()


def test_failed_samples_are_counted_and_left_out(monkeypatch):
    kpis = robustness._kpis

    def failing(runner, params, economics):
        out = kpis(runner, params, economics)
        if np.ndim(params["Capacity lifetime"]):  # a sampled chunk, not the nominal point
            out["production"][[2, 5]] = np.nan
        return out

    monkeypatch.setattr(robustness, "_kpis", failing)
    result = ranking_robustness(FEW[:2], n=20, seed=0)
    assert (~result.valid).sum() == 2 and not result.valid[[2, 5]].any()
    assert (result.win_probability["n"] == 18).all()
    assert "Failed samples (a non-finite KPI in any scenario; left out of every table): 2 of " \
        "20." in result.summary()


def test_the_parser_defaults_and_limits():
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["robustness", "-o", "out"])
    assert (args.names, args.samples, args.seed, args.rate, args.until, args.no_progress) == \
        ([], 1500, 0, 0.06, 2003, False)
    for bad in (["--samples", "9"], ["--until", "2031"], ["--rate", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["robustness", "-o", "out", *bad])
