"""Loop dominance of scenario runs (`clusterdyn loops`) and its committed results.

The method itself (link, loop and relative loop scores) is tested on hand-computed cases and
textbook models in tests/test_loop_scores.py; here: the summaries (per year, per stage,
shifts), the command's files and errors, and that the committed results in
scenarios/results/loops/ are what the code computes. Tolerance for the committed results:
0.01 on relative scores written with 4 decimals (scores are ratios of small changes; their
last digits differ between processors, yearly and stage means far less).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterdyn.cli import LOOP_SCENARIOS, main
from clusterdyn.scenarios.loop_dominance import (
    PROJECTION,
    RESULTS_DIR,
    RESULTS_SCENARIOS,
    RESULTS_UNTIL,
    _spells,
    loop_dominance,
)
from clusterdyn.scenarios.loops_command import FILES, short_chain

TOLERANCE = 0.01


@pytest.fixture(scope="module")
def historical():
    return loop_dominance("historical", until=RESULTS_UNTIL)


def test_every_cycle_scored_once_and_named_loops_matched(historical):
    loops = historical.loops
    assert len(loops) == 241  # every elementary cycle of the salmon model's causal graph
    chains = [tuple(c.split(" -> ")) for c in loops["chain"]]
    rotations = {min(c[k:] + c[:k] for k in range(len(c))) for c in chains}
    assert len(rotations) == len(chains)  # no cycle twice (named and found)
    named = loops[loops["name"] != ""]
    assert len(named) == 17 and set(named["polarity"]) == {"R", "B"}
    # The polarity measured by the method agrees with the declared one where the loop acts.
    acting = named[named["measured"] != "-"]
    assert (acting["polarity"] == acting["measured"]).mean() >= 0.9


def test_relative_scores_are_shares_of_all_loop_activity(historical):
    steps = historical.steps.to_numpy()
    total = np.abs(steps).sum(axis=1)
    active = total > 0
    assert active.mean() > 0.99
    np.testing.assert_allclose(total[active], 1.0, atol=1e-9)
    yearly = historical.by_year()
    activity = (yearly["reinforcing"] - yearly["balancing"]).to_numpy()
    assert np.all(activity <= 1 + 1e-9) and activity.mean() > 0.99
    # A loop whose polarity flips within a year cancels in its mean, not in the totals.
    means = np.abs(yearly.drop(columns=["reinforcing", "balancing"])).sum(axis=1).to_numpy()
    assert np.all(means <= activity + 1e-9)


def test_stage_table(historical):
    stage = historical.by_stage()
    assert list(stage["period"].unique()) == ["initial_learning", "maturing", "globalisation",
                                             PROJECTION]
    periods = stage.drop_duplicates("period").set_index("period")
    assert periods.loc["maturing", ["start", "end"]].tolist() == [1986.0, 1996.0]
    assert periods.loc[PROJECTION, ["start", "end"]].tolist() == [2004.0, 2031.0]
    for _, part in stage.groupby("period"):
        assert part["rank"].tolist() == list(range(1, len(part) + 1))
        assert np.all(np.diff(part["score"].abs().to_numpy()) <= 1e-12)
        assert part["dominant"].sum() == pytest.approx(1.0, abs=0.02)


def test_no_projection_period_when_the_run_ends_in_2003():
    stage = loop_dominance("historical", until=2003).by_stage()
    assert PROJECTION not in set(stage["period"])
    assert stage["end"].max() == 2004.0


def test_spells_ignore_flickers_shorter_than_the_window():
    times = np.arange(40, dtype=float)
    labels = np.array([0] * 10 + [1] * 2 + [0] * 8 + [2] * 20)
    assert _spells(times, labels, window=5) == [(20.0, 0, 2)]
    assert _spells(times, labels, window=1) == [(10.0, 0, 1), (12.0, 1, 0), (20.0, 0, 2)]
    assert _spells(times, np.zeros(40, dtype=int), window=5) == []


def test_shifts_are_real_changes_of_the_leader(historical):
    shifts = historical.shifts()
    loop_shifts = shifts[shifts["kind"] == "loop"]
    assert len(loop_shifts) >= 3
    assert (loop_shifts["before"] != loop_shifts["after"]).all()
    # Each shift starts from the loop the previous one ended with.
    assert (loop_shifts["before"].iloc[1:].to_numpy()
            == loop_shifts["after"].iloc[:-1].to_numpy()).all()


def test_short_chain():
    assert short_chain("a -> b") == "a -> b"
    long = " -> ".join(f"v{k}" for k in range(10))
    assert short_chain(long) == "v0 -> v1 -> v2 -> ... (4 more) -> v7 -> v8 -> v9"


def test_command_writes_the_set(tmp_path, capsys):
    out = tmp_path / "loops"
    assert main(["loops", "--until", "2003", "--top", "3", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    stage = pd.read_csv(out / "by_stage.csv")
    assert set(stage["period"]) == {"initial_learning", "maturing", "globalisation"}
    summary = (out / "summary.md").read_text()
    assert summary.count("| 3 |") == 3 and "## Shifts in dominance" in summary
    assert "241 loops scored" in capsys.readouterr().out


def test_command_unknown_scenario_is_one_line(tmp_path, capsys):
    assert main(["loops", "--scenario", "no_such_scenario", "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no_such_scenario" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv", [["--until", "2002"], ["--until", "2031"], ["--top", "0"]])
def test_command_bad_option_is_a_usage_error(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as stop:
        main(["loops", *argv, "-o", str(tmp_path / "x")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert argv[1] in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_command_refuses_a_file_as_folder(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep")
    assert main(["loops", "--until", "2003", "-o", str(target)]) == 2
    assert "expected a folder" in capsys.readouterr().err
    assert target.read_text() == "keep"


def test_committed_scenarios_are_the_reproduce_ones():
    assert tuple(LOOP_SCENARIOS) == tuple(RESULTS_SCENARIOS)


@pytest.mark.parametrize("name", RESULTS_SCENARIOS)
def test_committed_results_are_what_the_code_computes(name, historical):
    result = historical if name == "historical" else loop_dominance(name, until=RESULTS_UNTIL)
    committed = pd.read_csv(RESULTS_DIR / name / "by_stage.csv", keep_default_na=False)
    fresh = result.by_stage()
    merged = committed.merge(fresh, on=["period", "loop"], suffixes=("", "_fresh"))
    assert len(merged) == len(fresh) == len(committed)
    assert np.abs(merged["score"] - merged["score_fresh"]).max() <= TOLERANCE
    assert np.abs(merged["dominant"] - merged["dominant_fresh"]).max() <= TOLERANCE
    yearly = pd.read_csv(RESULTS_DIR / name / "by_year.csv")
    fresh_yearly = result.by_year()
    for row in yearly.sample(200, random_state=0).itertuples(index=False):
        assert fresh_yearly.at[row.year, row.loop] == pytest.approx(row.score, abs=TOLERANCE)
    loops = pd.read_csv(RESULTS_DIR / name / "loops.csv", index_col="loop",
                        keep_default_na=False)
    assert loops["chain"].tolist() == result.loops["chain"].tolist()
