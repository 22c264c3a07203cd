"""A new user's first hour: results that do not depend on the progress bar, one baseline for
the API and the command line, no tracebacks, bounded time steps, a light start-up."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from clusterdyn.calibration import calibrated_parameters
from clusterdyn.calibration import fit as fit_module
from clusterdyn.cli import MAX_YEAR as CLI_MAX_YEAR
from clusterdyn.cli import MIN_DT as CLI_MIN_DT
from clusterdyn.cli import main
from clusterdyn.sdmodels import ModelInputError, load_model
from clusterdyn.sdmodels.model import MAX_YEAR, MIN_DT

CLI = [sys.executable, "-m", "clusterdyn.cli"]


class _BarThatAlwaysRedraws:
    """A stand-in for tqdm whose ``update`` returns True, as tqdm's does when it redraws."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.updates = 0

    def update(self, n: int = 1) -> bool:
        self.updates += n
        return True

    def close(self) -> None:
        pass

    def __iter__(self):  # the refinement loop iterates over tqdm(starts)
        return iter(self._items)

    def __call__(self, *args: object, **kwargs: object) -> _BarThatAlwaysRedraws:
        return self


def _bar_factory(*args: object, **kwargs: object) -> _BarThatAlwaysRedraws:
    bar = _BarThatAlwaysRedraws()
    bar._items = list(args[0]) if args else []
    return bar


def test_the_search_callback_returns_none_whatever_the_bar_returns():
    bar = _BarThatAlwaysRedraws()
    callback = fit_module._advance(bar)
    assert callback(None, convergence=0.5) is None  # scipy stops on a True
    assert bar.updates == 1


def test_a_redrawing_progress_bar_does_not_stop_the_calibration_early(monkeypatch, model):
    """Before the fix, a bar that redrew stopped differential evolution after its first
    generation (tqdm.update returned True and scipy read that as "stop")."""
    quiet = fit_module.calibrate(model, seed=3, quick=True, progress=False)
    monkeypatch.setattr(fit_module, "tqdm", _bar_factory)
    shown = fit_module.calibrate(model, seed=3, quick=True, progress=True)
    assert shown.evaluations == quiet.evaluations
    assert shown.objective == quiet.objective


def test_the_api_and_the_command_line_share_one_baseline(tmp_path):
    """``load_model().run()`` is the calibrated run that ``clusterdyn run`` writes."""
    model = load_model()
    assert model.defaults_source == "calibration/results/salmon_cluster.toml"
    assert dict(model.baseline) == calibrated_parameters()
    out = tmp_path / "baseline.csv"
    assert main(["run", "-o", str(out)]) == 0
    cli = pd.read_csv(out, index_col="year")
    pd.testing.assert_frame_equal(cli, model.run(), check_exact=False, rtol=1e-9)


def test_the_mdl_defaults_are_one_explicit_choice_away(model):
    calibrated, mdl = load_model(), load_model(defaults="mdl")
    assert mdl.defaults_source == "mdl" and not mdl.baseline
    assert mdl.defaults == {n: p.default for n, p in mdl.parameters.items()}
    # the .mdl holds the shipped calibration, so the two runs agree; another results file is
    # still one explicit choice away
    pd.testing.assert_frame_equal(calibrated.run(), mdl.run())
    pd.testing.assert_frame_equal(calibrated.with_mdl_defaults().run(), mdl.run())
    other = calibrated.with_calibration("calibration/results/salmon_cluster_until_1995.toml")
    assert other.run().loc[2003, "Production"] != mdl.run().loc[2003, "Production"]
    # a parameter given to run() wins over the calibrated default
    setting = {"Maximum demand growth rate": 0.05}
    pd.testing.assert_frame_equal(
        calibrated.run(params=setting),
        mdl.run(params={**calibrated_parameters(), **setting}))
    with pytest.raises(ModelInputError, match="defaults = 'fitted'"):
        load_model(defaults="fitted")


def test_calibration_starts_from_the_mdl_whatever_the_models_defaults(model):
    assert fit_module.calibrate(load_model(), seed=1, quick=True, progress=False).objective \
        == fit_module.calibrate(model, seed=1, quick=True, progress=False).objective


def test_params_lists_the_default_and_the_mdl_value(capsys):
    assert main(["params"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["name", "default", "mdl", "default from", "range", "units"]
    row = next(line.split("\t") for line in lines if line.startswith("Reference unit cost\t"))
    assert float(row[1]) == pytest.approx(calibrated_parameters()["Reference unit cost"],
                                          rel=1e-5)
    # the .mdl's value is the shipped calibration's estimate (tests/test_supply_limits.py)
    assert row[3] == "calibrated" and float(row[1]) == float(row[2])


def test_constants_the_command_line_keeps_for_a_light_start_equal_the_models():
    assert (CLI_MAX_YEAR, CLI_MIN_DT) == (MAX_YEAR, MIN_DT)


def _cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300,
                          **kwargs)


def test_a_closed_pipe_ends_quietly():
    done = subprocess.run(f"{' '.join(CLI)} run -o - | head -2", shell=True,
                          capture_output=True, text=True, timeout=300)
    assert done.stdout.count("\n") == 2
    assert "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr


@pytest.mark.parametrize("argv", [["run", "-o"], ["run", "--scenario", "historical", "-o"]])
def test_an_output_that_is_a_folder_is_one_line_and_writes_nothing(tmp_path, capsys, argv):
    before = sorted(tmp_path.parent.iterdir())
    assert main([*argv, str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and str(tmp_path) in err and err.count("\n") == 1
    assert sorted(tmp_path.parent.iterdir()) == before and not list(tmp_path.iterdir())


@pytest.mark.parametrize("dt", ["1e-300", "0.0001", "0", "-1", "2"])
def test_the_time_step_is_bounded_on_the_command_line(capsys, dt):
    with pytest.raises(SystemExit) as stop:
        main(["run", "--dt", dt, "-o", "-"])
    assert stop.value.code == 2
    assert "1/1024" in capsys.readouterr().err


def test_the_time_step_is_bounded_in_the_api(model):
    with pytest.raises(ModelInputError, match="1/1024"):
        model.run(dt=1 / 2048)


def test_output_files_respect_the_umask_and_keep_an_existing_mode(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "baseline.csv"
        assert main(["run", "-o", str(out)]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
        out.chmod(0o640)
        assert main(["run", "-o", str(out)]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == "clusterdyn 0.1.0"


def test_help_and_argument_errors_import_no_numerical_library():
    """Start-up: the parser is built without importing PySD, pandas, numpy or matplotlib
    (they took 1.2-1.8 s before each help text and error message). The time itself is
    measured by ``python -m benchmarks.startup``."""
    probe = ("import sys; from clusterdyn.cli import build_parser; build_parser(); "
             "heavy = [m for m in ('pysd', 'pandas', 'numpy', 'matplotlib', 'scipy', 'numba', "
             "'pint', 'dask') if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_ctrl_c_during_figures_ends_in_one_line_and_leaves_no_partial_file(tmp_path,
                                                                           popen_interruptible):
    env = {**os.environ, "CLUSTERDYN_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "figs"
    process = popen_interruptible([*CLI, "figures", "--no-progress", "-o", str(out)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env)
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline:  # rendering has started
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert err.strip().endswith("interrupted") and "Traceback" not in err
    left = [p.name for p in Path(out).iterdir()] if out.exists() else []
    assert not [n for n in left if n.startswith(".") or n.endswith(".tmp")], left


@pytest.fixture(scope="module")
def shipped_quick_fit(model):
    """The quick calibration of the shipped spec and data, seed 0 (used by two tests: one
    deterministic search instead of two)."""
    return fit_module.calibrate(model, seed=0, quick=True, progress=False)


def _spec_with_data(tmp_path: Path, data: str) -> Path:
    from clusterdyn.calibration.spec import SPEC_DIR

    text = (SPEC_DIR / "salmon_cluster.toml").read_text(encoding="utf-8")
    spec = tmp_path / "spec.toml"
    spec.write_text(text.replace('data = "data/salmon_cluster_observations.csv"',
                                 f'data = "{data}"'), encoding="utf-8")
    return spec


def test_a_specs_data_key_is_honoured_relative_to_the_spec(tmp_path, model, shipped_quick_fit):
    """Before the fix the shipped data were always used, whatever ``data`` said."""
    import shutil

    from clusterdyn.calibration.data_io import DATA_DIR, UNITS_FILE, load_observations
    from clusterdyn.calibration.spec import load_spec

    tripled = load_observations()
    tripled["chile_salmon_production_t"] *= 3  # and the columns that must agree with it
    tripled["world_farmed_salmon_t"] = (tripled["chile_salmon_production_t"]
                                        + tripled["rest_of_world_salmon_t"])
    tripled["chile_salmonid_production_t"] = (tripled["chile_salmon_production_t"]
                                              + tripled["chile_trout_production_t"])
    tripled["chile_world_share"] = (tripled["chile_salmon_production_t"]
                                    / tripled["world_farmed_salmon_t"])
    tripled.to_csv(tmp_path / "my_data.csv", float_format="%.10g")
    shutil.copy(DATA_DIR / UNITS_FILE, tmp_path / UNITS_FILE)
    spec = load_spec(model, _spec_with_data(tmp_path, "my_data.csv"))
    assert spec.data_path == (tmp_path / "my_data.csv").resolve()
    pd.testing.assert_frame_equal(spec.observations(), tripled, check_exact=False, rtol=1e-9)
    mine = fit_module.calibrate(model, spec, seed=0, quick=True, progress=False)
    assert mine.objective != shipped_quick_fit.objective


def test_a_missing_data_file_is_one_error_before_any_fitting(tmp_path, capsys):
    spec = _spec_with_data(tmp_path, "missing.csv")
    out = tmp_path / "c.toml"
    assert main(["calibrate", "--quick", "--spec", str(spec), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "calibration.data" in err and "missing.csv" in err and "Traceback" not in err
    assert err.count("\n") == 1 and not out.exists()


def test_a_scenario_built_in_code_is_validated_and_runs_like_its_file(model):
    from clusterdyn import scenarios
    keys = {"name": "export_promotion_first", "description": "d", "rationale": "r",
            "base": "historical", "levers": {"export_promotion": [1, 0.5, 0.5]}}
    in_code = scenarios.from_dict(keys)
    from_file = scenarios.load("export_promotion_first")
    assert in_code.path is None and in_code.levers == from_file.levers
    assert in_code.starts == from_file.starts
    pd.testing.assert_frame_equal(scenarios.run(in_code).trajectories,
                                  scenarios.run(from_file).trajectories)
    with pytest.raises(scenarios.ScenarioError, match="levers.export_promotion"):
        scenarios.from_dict({**keys, "levers": {"export_promotion": [1, 0.5]}})
    with pytest.raises(scenarios.ScenarioError, match="unknown top-level key"):
        scenarios.from_dict({**keys, "lever": {}})


def test_result_parts_are_dataframes_through_to_frame(shipped_quick_fit):
    result = shipped_quick_fit
    estimates = result.to_frame()
    assert list(estimates.index) == result.spec.names
    assert {"value", "lower_95", "upper_95", "identified"} <= set(estimates.columns)
    production = result.fit["Production"].to_frame()
    assert production.loc["r2", "value"] == result.fit["Production"].r2
    assert set(result.fit_frame().index) == set(result.fit)
