"""The model side of ``clusterdyn explore`` (no browser): runs, bands, scenario files, exports,
the command's errors. The page itself is tested in ``test_explore_browser.py``."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterdyn.cli import main
from clusterdyn.explore import exports, files
from clusterdyn.explore.workbench import (
    BAND_PERCENTILES,
    INTERVAL_KPIS,
    Settings,
    Workbench,
    starts_text,
)
from clusterdyn.scenarios import engine
from clusterdyn.scenarios.catalog import available
from clusterdyn.scenarios.spec import LEVERS, ScenarioError, from_dict, load
from clusterdyn.sdmodels import PUBLIC_OUTPUTS
from clusterdyn.sdmodels.errors import ModelInputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> Workbench:
    return Workbench(draws=40, seed=0)


@pytest.fixture(scope="module")
def no_policy() -> engine.ScenarioRun:
    return engine.run("no_policy")


@pytest.mark.parametrize("name", ["historical", "production_triggered"])
def test_compiled_runs_equal_the_command_lines_runs(bench, no_policy, name):
    """The page's numbers are the CLI's: trajectories, stage starts, costs and KPIs."""
    slow = engine.run(name)
    fast, band = engine.run_compiled(name, bench.runner)
    assert band is None
    np.testing.assert_allclose(fast.trajectories.to_numpy(), slow.trajectories.to_numpy(),
                               rtol=1e-12, atol=0)
    assert dict(fast.stage_starts) == dict(slow.stage_starts)
    assert fast.cost.equals(slow.cost)
    evaluation = bench.evaluate_scenario(load(name), band=False)
    from clusterdyn.scenarios.kpis import kpi_table
    expected = kpi_table({name: slow}, no_policy).iloc[0]
    np.testing.assert_allclose(evaluation.kpis.to_numpy(dtype=float),
                               expected.to_numpy(dtype=float), rtol=1e-12, equal_nan=True)


def test_the_band_comes_from_the_draws_and_the_seed(bench):
    evaluation = bench.historical
    assert evaluation.n_draws == 40
    low, high = (evaluation.band[p] for p in BAND_PERCENTILES)
    assert list(low.columns) == list(PUBLIC_OUTPUTS)
    assert (low.to_numpy() <= high.to_numpy()).all()
    assert (high["Production"] > low["Production"]).loc[1990:].all()
    assert tuple(evaluation.intervals) == INTERVAL_KPIS
    for kpi, (lo, hi) in evaluation.intervals.items():
        assert lo <= hi, kpi
    again = Workbench(draws=40, seed=0).historical
    assert again.band[5.0].equals(low)
    other = Workbench(draws=40, seed=1).historical
    assert not other.band[5.0].equals(low)


def test_without_the_band_only_the_central_run(bench):
    evaluation = bench.evaluate(bench.historical_settings, band=False)
    assert evaluation.band is None and evaluation.n_draws == 0 and not evaluation.intervals
    assert evaluation.trajectories.equals(bench.historical.trajectories)


def test_evaluations_are_cached_and_do_not_change(bench):
    settings_ = bench.historical_settings.with_lever("biotechnology", 2, 0.25)
    first = bench.evaluate(settings_)
    assert bench.evaluate(settings_) is first
    assert bench.historical_settings.lever("biotechnology") == (0.0, 0.0, 1.0)


def test_a_lever_moves_production(bench):
    off = bench.evaluate(bench.historical_settings.with_lever("technology_transfer", 0, 0.0))
    assert off.kpis["production_2003_t"] < 0.1 * bench.historical.kpis["production_2003_t"]


@pytest.mark.parametrize("name", available())
def test_settings_hold_every_shipped_scenario(bench, name):
    scenario = load(name)
    settings_ = Settings.from_scenario(scenario)
    again = from_dict(settings_.to_dict(name), bench.model)
    assert dict(again.levers) == dict(scenario.levers)
    assert dict(again.starts) == dict(scenario.starts)
    assert dict(again.parameters) == dict(scenario.parameters)


def test_a_triggered_start_is_shown_with_the_year_it_held(bench):
    settings_ = bench.historical_settings.with_start("maturing", "Production >= 1000")
    evaluation = bench.evaluate(settings_, band=False)
    start = evaluation.stage_starts["maturing"]
    assert 1978 < start < 1996
    assert starts_text(evaluation)["maturing"] == f"when Production >= 1000: {start:.4g}"


@pytest.mark.parametrize(("change", "message"), [
    (("globalisation", 1984.0), "calendar stage starts must increase"),
    (("maturing", "Produktion >= 5"), "'Produktion' is not a model variable"),
    (("maturing", "Production => 5"), "cannot parse condition"),
])
def test_invalid_settings_get_the_loaders_one_line(bench, change, message):
    with pytest.raises(ScenarioError, match=message) as caught:
        bench.evaluate(bench.historical_settings.with_start(*change))
    assert "\n" not in str(caught.value)


def test_workbench_arguments_are_checked():
    with pytest.raises(ModelInputError, match="until = 2040"):
        Workbench(until=2040)
    with pytest.raises(ModelInputError, match="draws = -1"):
        Workbench(draws=-1)


intensity = st.integers(0, 20).map(lambda k: k / 20)


@settings(max_examples=25, deadline=None)
@given(levers=st.lists(st.tuples(intensity, intensity, intensity), min_size=9, max_size=9),
       maturing=st.integers(1980, 1995), gap=st.integers(1, 10))
def test_saved_files_load_back_to_the_same_settings(bench, levers, maturing, gap):
    settings_ = Settings(tuple(levers), (float(maturing), float(maturing + gap)))
    text = files.save_text(settings_, "my_mix", "A mix.", "", bench.model)
    scenario = files.load_upload("my_mix.toml", text.encode(), bench.model)
    assert Settings.from_scenario(scenario) == settings_
    assert text.count("\n") == 3 + 1 + 3 * 3 + 2 + len(LEVERS)


def test_saved_file_is_runnable_by_the_command_line(bench, tmp_path):
    settings_ = bench.historical_settings.with_lever("export_promotion", 0, 1.0).with_start(
        "maturing", "Production >= 2000")
    path = tmp_path / "early.toml"
    path.write_text(files.save_text(settings_, "early", "Export promotion from 1978.",
                                    "Testing.", bench.model))
    assert 'start = "Production >= 2000"' in path.read_text()
    out = tmp_path / "early.csv"
    assert main(["run", "--scenario", str(path), "-o", str(out)]) == 0
    import pandas as pd
    cli = pd.read_csv(out, index_col=0)["Production"].to_numpy()
    shown = bench.evaluate(settings_).trajectories["Production"].to_numpy()
    np.testing.assert_allclose(shown, cli, rtol=1e-9)


@pytest.mark.parametrize(("name", "message"), [
    ("My Mix", "expected lower-case letters"), ("", "expected lower-case letters"),
    ("historical", "is a shipped scenario's"), ("costs", "is a shipped scenario's"),
    ("1mix", "expected lower-case letters"),
])
def test_bad_names_are_refused(name, message):
    with pytest.raises(ScenarioError, match=message):
        files.check_name(name)


@pytest.mark.parametrize(("filename", "content", "message"), [
    ("mix.toml", b'name = "mix"\n[levers\n', "mix.toml: not valid TOML"),
    ("mix.toml", b"\xff\xfe", "mix.toml: not UTF-8"),
    ("mix (1).toml", b'name = "mix"\ndescription = "d"\nrationale = "r"\nbase = "historical"\n',
     "mix (1).toml: key 'name': 'mix' must equal the file name 'mix (1)'"),
    ("mix.toml", b'name = "mix"\ndescription = "d"\nrationale = "r"\nbase = "historical"\n'
     b"[levers]\nregulation = [1, 2, 0]\n", "key 'levers.regulation': intensities must lie"),
    ("mix.toml", b'name = "mix"\ndescription = "d"\nrationale = "r"\nbase = "nope"\n',
     "key 'base': unknown base scenario 'nope'"),
    ("mix.txt", b"", "mix.txt: expected a scenario file ending in .toml"),
    ("mix.toml", b"#" * 70_000, "mix.toml: 70,000 bytes"),
])
def test_bad_uploads_get_one_line_naming_the_file(bench, filename, content, message):
    with pytest.raises(ScenarioError) as caught:
        files.load_upload(filename, content, bench.model)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value) and "clusterdyn-explore-" not in str(caught.value)


def test_exports(bench):
    current = bench.evaluate(bench.historical_settings.with_lever("regulation", 0, 0.5))
    overlay = bench.evaluate_scenario(load("no_policy"))
    shown = {"current_settings": current, "no_policy": overlay}
    csv = exports.trajectories_csv(shown).splitlines()
    assert csv[0] == "scenario,year,variable,value,p5,p95"
    assert len(csv) == 1 + 2 * 26 * len(PUBLIC_OUTPUTS)
    assert csv[-1].endswith(",,")  # no band for the overlay
    kpis = exports.kpis_csv(shown).splitlines()
    assert kpis[0].startswith("scenario,production_2003_t") and "production_2003_t_p5" in kpis[0]
    png = exports.plot_bytes(bench, current, {"no_policy": overlay}, "png")
    assert png.startswith(b"\x89PNG")
    assert exports.plot_bytes(bench, current, {"no_policy": overlay}, "png") == png
    assert exports.plot_bytes(bench, current, {}, "svg").startswith(b"<?xml")
    with pytest.raises(ValueError, match="plot format 'pdf'"):
        exports.plot_bytes(bench, current, {}, "pdf")


@pytest.mark.parametrize(("argv", "message"), [
    (["--scenario", "a", "b", "c", "d", "e"], "at most 4 scenarios"),
    (["--scenario", "no_polcy"], "unknown scenario 'no_polcy'"),
    (["--start", "nowhere.toml"], "no scenario file 'nowhere.toml'"),
    (["--port", "70000"], "expected a port from 0 to 65535"),
    (["--draws", "-3"], "expected a whole number from 0 to 2000"),
    (["--until", "2050"], "expected a year from 2003 to 2030"),
])
def test_command_errors_are_one_line(capsys, argv, message):
    try:
        status = main(["explore", *argv])
    except SystemExit as exc:  # argparse's own checks
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_without_the_extra_the_command_says_how_to_install(monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "panel", None)  # import panel -> ImportError
    assert main(["explore"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install -e '.[explore]'" in err


def test_only_the_page_imports_the_browser_framework():
    """Workbench, files and exports run without Panel/Bokeh (the CLI and tests use them)."""
    for module in ("workbench", "files", "exports"):
        tree = ast.parse((ROOT / "explore" / f"{module}.py").read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.split(".")[0] in ("panel", "bokeh")], module


def test_kpi_intervals_are_finite(bench):
    assert all(math.isfinite(x) for pair in bench.historical.intervals.values() for x in pair)


def test_the_sliders_wait_less_than_panels_default():
    """The redraw budget relies on Panel's per-class wait (a private class variable): fail
    loudly if a Panel upgrade renames it."""
    pytest.importorskip("panel")
    from panel.reactive import Syncable

    from clusterdyn.explore.app import LeverSlider
    assert Syncable._debounce == 50
    assert LeverSlider._debounce == 10


def test_a_busy_port_is_one_error_line():
    """As a user meets it (a subprocess: tornado leaves the refused socket to the collector)."""
    pytest.importorskip("panel")
    import socket
    import subprocess
    import sys
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "clusterdyn.cli", "explore", "--port",
                               str(port)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "Address already in use" in done.stderr
    assert done.stdout == ""


def test_stage_spans_are_what_the_plots_shade(bench):
    assert bench.historical.stage_spans() == [("initial_learning", 1978.0, 1986.0),
                                              ("maturing", 1986.0, 1996.0),
                                              ("globalisation", 1996.0, 2003.0)]
    late = bench.evaluate(bench.historical_settings.with_start("globalisation", 2010.0),
                          band=False)
    assert late.stage_spans()[-1] == ("maturing", 1986.0, 2003.0)
