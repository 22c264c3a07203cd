"""The fault battery: bad inputs of every kind give one clear error naming the file and the
key, year or column; nothing is silently accepted, dropped or overwritten."""

from __future__ import annotations

import pytest

from clusterdyn.calibration.data_io import (
    DATA_DIR,
    OBSERVATIONS_FILE,
    UNITS_FILE,
    DataError,
    load_observations,
)
from clusterdyn.calibration.spec import SPEC_DIR, SpecError, load_spec

SPEC = (SPEC_DIR / "salmon_cluster.toml").read_text(encoding="utf-8")


def _spec(tmp_path, old: str, new: str):
    assert old in SPEC, old
    text = SPEC.replace(old, new).replace(
        'data = "data/salmon_cluster_observations.csv"',
        f'data = "{(DATA_DIR / OBSERVATIONS_FILE).as_posix()}"')
    path = tmp_path / "spec.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ('"1978-1984" = 0.6', '"1984-1978" = 0.6', "sigma_by_years.1984-1978", "runs backwards"),
    ('"1978-1984" = 0.6', '"1970-1984" = 0.6', "sigma_by_years.1970-1984", "outside"),
    ("exclude_years = [1981]", "exclude_years = [1881]", "targets[0].exclude_years",
     "from 1978 to 2003"),
    ("first_year = 1984\nreason", "first_year = 2010\nreason", "targets[1].first_year",
     "from 1978 to 2003"),
    ("first_year = 1978\nexclude", "first_year = 1900\nexclude", "targets[0].first_year",
     "from 1978 to 2003"),
    ("recombination = 0.7", "recombination = 5", "search.recombination", "probability"),
    ("tol = 1e-7", "tol = -1", "search.tol", ">= 0"),
])
def test_spec_values_out_of_range_are_refused(model, tmp_path, old, new, key, message):
    """Each of these was accepted before (the first silently dropped a sigma, the fourth
    silently dropped the price target)."""
    path = _spec(tmp_path, old, new)
    with pytest.raises(SpecError) as info:
        load_spec(model, path)
    text = str(info.value)
    assert str(path) in text and key in text and message in text


@pytest.mark.parametrize(("column", "year", "factor"), [
    ("chile_salmon_production_t", 1995, 20.0),   # Chile above the world total
    ("world_farmed_salmon_t", 2000, 1.5),
    ("chile_world_share", 1990, 2.0),
    ("chile_trout_production_t", 1999, 0.5),
])
def test_data_whose_columns_disagree_are_refused(tmp_path, column, year, factor):
    data = load_observations()
    data.loc[year, column] *= factor
    data.to_csv(tmp_path / OBSERVATIONS_FILE, float_format="%.10g")
    (tmp_path / UNITS_FILE).write_bytes((DATA_DIR / UNITS_FILE).read_bytes())
    with pytest.raises(DataError) as info:
        load_observations(tmp_path / OBSERVATIONS_FILE)
    text = str(info.value)
    assert str(tmp_path / OBSERVATIONS_FILE) in text and "must agree" in text
    assert info.value.year == year


def test_a_base_given_as_a_path_is_found_beside_the_file_not_in_the_working_dir(
        tmp_path, monkeypatch):
    from clusterdyn import scenarios
    here, elsewhere = tmp_path / "mine", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    parent = ('name = "parent"\nbase = "historical"\ndescription = "d"\nrationale = "r"\n'
              "[levers]\nexport_promotion = [{0}, {0}, {0}]\n")
    (here / "parent.toml").write_text(parent.format(1))
    (elsewhere / "parent.toml").write_text(parent.format(0))
    (here / "child.toml").write_text('name = "child"\nbase = "parent.toml"\n'
                                     'description = "d"\nrationale = "r"\n')
    monkeypatch.chdir(elsewhere)  # before the fix the child inherited this folder's parent
    assert scenarios.load(here / "child.toml").levers["export_promotion"] == (1.0, 1.0, 1.0)


def test_parameters_given_with_a_scenario_pass_the_scenario_checks(capsys):
    """``--set`` went around the stage-order check that a scenario file gets."""
    from clusterdyn.cli import main

    assert main(["run", "--scenario", "historical", "--set",
                 "Maturing stage start year=2000", "-o", "-"]) == 2
    err = capsys.readouterr().err
    assert "calendar stage starts must increase" in err and "Traceback" not in err


@pytest.mark.parametrize("target", ["calibration/salmon_cluster.toml",
                                    "scenarios/historical.toml",
                                    "calibration/data/salmon_cluster_observations.csv"])
def test_an_output_never_replaces_a_shipped_input(capsys, target):
    from pathlib import Path

    from clusterdyn.cli import main
    from clusterdyn.io import ROOT

    path = ROOT / target
    before = path.read_bytes()
    assert main(["run", "-o", str(path)]) == 2
    err = capsys.readouterr().err
    assert "shipped input file" in err and "Traceback" not in err
    assert path.read_bytes() == before
    assert not list(Path(path.parent).glob(f".{path.name}.*.tmp"))


def test_an_output_never_replaces_the_commands_own_input(tmp_path, capsys):
    from clusterdyn.cli import main
    from clusterdyn.scenarios.spec import SHIPPED_DIR

    mine = tmp_path / "mine.toml"
    mine.write_text((SHIPPED_DIR / "historical.toml").read_text().replace(
        'name = "historical"', 'name = "mine"'))
    before = mine.read_bytes()
    assert main(["run", "--scenario", str(mine), "-o", str(mine)]) == 2
    assert "also an input" in capsys.readouterr().err
    assert mine.read_bytes() == before


def test_a_condition_on_time_says_to_use_a_calendar_start(model):
    from pathlib import Path

    from clusterdyn import scenarios
    from clusterdyn.scenarios.spec import parse_condition

    with pytest.raises(scenarios.ScenarioError, match="write start = 1990"):
        parse_condition("Time >= 1990", Path("s.toml"), "stages.maturing.start", model)


def test_check_refuses_zero_samples(capsys):
    from clusterdyn.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["check", "--samples", "0", "-o", "-"])
    assert stop.value.code == 2 and "positive whole number" in capsys.readouterr().err


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("[0.05,1.5]", "[1.5,0.05]", "min > max"),
    (None, "1.9", "outside its declared range"),  # None: the default, whatever its value
])
def test_check_reports_inverted_ranges_and_defaults_outside_them(tmp_path, old, new, problem):
    from clusterdyn.sdmodels import load_model
    from clusterdyn.validation.units import check_declarations, check_units

    source = load_model(defaults="mdl").mdl_path.read_text(encoding="utf-8")
    start = source.index("Normal investment fraction=")
    end = source.index("~", source.index("~", start) + 1)  # value and units, not the comment
    declaration = source[start:end]
    old = old or declaration.splitlines()[1].strip()
    assert old in declaration, declaration
    path = tmp_path / "salmon_cluster.mdl"
    path.write_text(source[:start] + declaration.replace(old, new) + source[end:],
                    encoding="utf-8")
    model = load_model(str(path))
    report = check_declarations(check_units(path), model.parameters)
    assert not report.passed
    assert any(i.variable == "Normal investment fraction" and problem in i.problem
               for i in report.issues)


@pytest.mark.parametrize("content", [b'name = "x\xff"\n', b"[unclosed\n", b""])
@pytest.mark.parametrize("command", [["run", "--scenario"], ["calibrate", "--quick", "--spec"]])
def test_unreadable_or_broken_toml_inputs_are_one_line(tmp_path, capsys, content, command):
    from clusterdyn.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_bytes(content)
    out = tmp_path / "out.toml"
    assert main([*command, str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def _scenarios(out, *names: str, kill: bool = False):
    import os
    import subprocess
    import sys

    env = {**os.environ, "CLUSTERDYN_TEST_KILL_DURING_RENAMES": "1" if kill else "0"}
    return subprocess.run([sys.executable, "-m", "clusterdyn.cli", "scenarios", *names,
                           "-o", str(out)], capture_output=True, text=True, env=env,
                          timeout=600)


def test_a_set_of_outputs_killed_between_renames_is_completed_by_the_next_write(tmp_path):
    """kill -9 between the renames of ``clusterdyn scenarios`` left a new trajectories.csv
    beside an old kpis.csv; now the journal lets the next write complete the set."""
    import signal

    import pandas as pd

    from clusterdyn.io import JOURNAL_PREFIX, recover

    out = tmp_path / "set"
    assert _scenarios(out, "historical").returncode == 0
    killed = _scenarios(out, "historical", "no_policy", kill=True)
    assert killed.returncode == -signal.SIGKILL
    assert list(out.glob(f"{JOURNAL_PREFIX}*"))             # the interrupted set is known
    recover(out)                                            # what the next write does first
    assert not list(out.glob(f"{JOURNAL_PREFIX}*")) and not list(out.glob(".*.tmp"))
    kpis = pd.read_csv(out / "kpis.csv", index_col=0)
    trajectories = pd.read_csv(out / "trajectories.csv")
    assert list(kpis.index) == ["historical", "no_policy"]
    assert sorted(trajectories["scenario"].unique()) == ["historical", "no_policy"]
    assert "no_policy" in (out / "kpis.md").read_text()


def test_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    import os

    from clusterdyn.io import write_atomically

    dead = tmp_path / ".out.csv.999999999.abcd.tmp"       # no such process
    live = tmp_path / f".out.csv.{os.getppid()}.abcd.tmp"  # a running process's
    for path in (dead, live):
        path.write_text("partial")
    write_atomically(tmp_path / "out.csv", lambda handle: handle.write("x\n"))
    assert not dead.exists() and live.exists()
    assert (tmp_path / "out.csv").read_text() == "x\n"


def test_a_tampered_or_misshapen_figure_run_cache_entry_is_recomputed(tmp_path, model):
    """Editing a column of a cached run made a figure render from it, and ``figures --check``
    still matched; an entry of the wrong shape raised KeyError on every later run."""
    import json

    import pandas as pd

    from clusterdyn.figures.cache import ResultCache

    cache = ResultCache(tmp_path / "results")
    params = {"Normal investment fraction": 0.8}
    fresh = cache.model_run(model, params, 2003, ["Production"])
    (entry,) = (tmp_path / "results").glob("*.json")
    stored = json.loads(entry.read_text())
    stored["data"]["frame"]["data"][-1][0] *= 1.5          # tamper with one value
    entry.write_text(json.dumps(stored))
    again = cache.model_run(model, params, 2003, ["Production"])
    pd.testing.assert_frame_equal(again, fresh)
    assert cache.misses == 2 and cache.hits == 0
    entry.write_text(json.dumps({"sha256": "x", "data": {"frame": []}}))  # wrong shape
    pd.testing.assert_frame_equal(cache.model_run(model, params, 2003, ["Production"]), fresh)
    assert cache.model_run(model, params, 2003, ["Production"]).equals(fresh)
    assert cache.hits == 1


def test_an_unwritable_figure_run_cache_is_one_notice(tmp_path, model, capsys):
    from clusterdyn.figures.cache import ResultCache

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = ResultCache(blocker / "results")                # cannot be created
    for _ in range(2):
        cache.model_run(model, {}, 2003, ["Production"])
    err = capsys.readouterr().err
    assert err.count("notice: the run cache") == 1 and "Traceback" not in err


def test_a_dead_renders_staging_folder_is_removed(tmp_path):
    from clusterdyn.io import recover

    dead = tmp_path / ".figures-999999999-abcd"
    dead.mkdir()
    (dead / "lifecycle.png").write_bytes(b"partial")
    recover(tmp_path)
    assert not dead.exists()


def test_concurrent_runs_into_one_output_leave_one_whole_file(tmp_path):
    import subprocess
    import sys

    import pandas as pd

    out = tmp_path / "same.csv"
    runs = [subprocess.Popen([sys.executable, "-m", "clusterdyn.cli", "run", "--set",
                              f"Normal investment fraction={v}", "-o", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for v in (0.6, 0.9)]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    frame = pd.read_csv(out, index_col="year")
    assert list(frame.index) == list(range(1978, 2004)) and frame.notna().all().all()
    assert not list(tmp_path.glob(".*"))


def test_ctrl_c_during_a_calibration_is_one_line_and_writes_nothing(tmp_path, popen_interruptible):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "c.toml"
    process = popen_interruptible([sys.executable, "-m", "clusterdyn.cli", "calibrate",
                                   "--no-progress", "-o", str(out)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ})
    time.sleep(8)  # past start-up, inside the search (a full search takes 15-60 s)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip().endswith("interrupted") and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".*"))


def test_an_output_folder_where_nothing_can_be_created_is_refused_before_the_search(capsys,
                                                                                   monkeypatch):
    """``calibrate -o /proc/x.toml`` searched for a while and then failed (os.access says yes
    to root)."""
    from clusterdyn.calibration import fit
    from clusterdyn.cli import main

    def never(*args, **kwargs):
        raise AssertionError("the search started")

    monkeypatch.setattr(fit, "calibrate", never)
    assert main(["calibrate", "--quick", "-o", "/proc/x.toml"]) == 2
    assert "cannot be written" in capsys.readouterr().err
