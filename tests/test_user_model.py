"""A user's own model and data: calibration, scenarios and the engine choice.

The worked example is the Bass (1969) diffusion model in
``calibration/examples/bass_diffusion/``, whose synthetic data (``make_data.py``) come from
known parameters that the calibration must recover.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterdyn.calibration.data_io import DataError
from clusterdyn.calibration.spec import SpecError, load_spec, spec_model
from clusterdyn.cli import main
from clusterdyn.scenarios.spec import ScenarioError

EXAMPLE = Path(__file__).resolve().parents[1] / "calibration" / "examples" / "bass_diffusion"
SPEC = EXAMPLE / "bass_diffusion.toml"
MDL = EXAMPLE / "bass_diffusion.mdl"
#: Largest relative error of a recovered parameter (5% noise on 24 observations; assumption
#: of the test, about twice the 95% half-widths the fit reports).
RECOVERY_TOLERANCE = 0.10


def _true_values() -> dict[str, float]:
    import importlib.util

    loaded = importlib.util.spec_from_file_location("bass_make_data", EXAMPLE / "make_data.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module.TRUE_VALUES, module


def _one_line_error(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def bass_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bass") / "bass.toml"
    assert main(["calibrate", "--spec", str(SPEC), "-o", str(out), "--no-progress",
                 "--engine", "compiled"]) == 0
    with out.open("rb") as handle:
        return tomllib.load(handle), out


def _copy_example(folder: Path) -> Path:
    """A copy of the example (model, data, spec) in ``folder``; returns the spec."""
    for name in ("bass_diffusion.mdl", "observations.csv", "bass_diffusion.toml",
                 "bass_diffusion.levers.toml", "advertising_burst.toml",
                 "steady_advertising.toml"):
        shutil.copy(EXAMPLE / name, folder / name)
    return folder / "bass_diffusion.toml"


# -- the worked example -------------------------------------------------------------------


def test_make_data_reproduces_the_shipped_observations():
    _, module = _true_values()
    shipped = pd.read_csv(EXAMPLE / "observations.csv", index_col="time")
    made = module.make_observations()
    np.testing.assert_allclose(made.to_numpy(), shipped.to_numpy(), rtol=1e-5)
    assert list(made.columns) == list(shipped.columns)


def test_calibration_recovers_the_true_parameters(bass_results):
    data, out = bass_results
    truth, _ = _true_values()
    assert data["calibration"]["model"] == "bass_diffusion"
    for name, true in truth.items():
        estimate = data["parameters"][name]
        assert estimate["lower_95"] <= true <= estimate["upper_95"], (name, estimate)
        assert abs(estimate["value"] / true - 1) < RECOVERY_TOLERANCE, (name, estimate)
        assert estimate["identified"] and not estimate["at_bound"]
    assert data["fit"]["Adopters"]["r2"] > 0.99
    assert all(v < 0.15 for v in data["checks"].values())  # 5% noise: no error near 15%
    assert "| time | Adoption rate | observed |" in out.with_suffix(".md").read_text()


def test_results_of_a_user_model_are_read_back(bass_results):
    from clusterdyn.calibration.results import read_results

    _, out = bass_results
    read = read_results(out)
    assert read.model.mdl_path.resolve() == MDL.resolve()
    assert read.spec.path.resolve() == SPEC.resolve()
    assert read.stale() == []


def test_a_user_models_calibration_sets_its_run_defaults(bass_results):
    from clusterdyn.sdmodels import load_model

    data, out = bass_results
    model = load_model(str(MDL)).with_calibration(out)
    assert model.defaults["Market size"] == data["parameters"]["Market size"]["value"]


# -- the spec's paths ---------------------------------------------------------------------


def test_spec_paths_are_relative_to_the_spec_not_the_working_directory(tmp_path, monkeypatch):
    spec = _copy_example(tmp_path)
    monkeypatch.chdir(EXAMPLE.parent)  # elsewhere
    model = spec_model(spec)
    assert model.mdl_path.resolve() == (tmp_path / "bass_diffusion.mdl").resolve()
    loaded = load_spec(model, spec)
    assert loaded.data_path == (tmp_path / "observations.csv").resolve()
    assert loaded.schema == "variables"


def test_the_specs_data_file_is_the_one_fitted(tmp_path):
    from clusterdyn.calibration.fit import calibrate

    spec = _copy_example(tmp_path)
    data = pd.read_csv(tmp_path / "observations.csv", index_col="time")
    (data * 1.5).to_csv(tmp_path / "bigger_market.csv", float_format="%.6g")
    text = spec.read_text().replace('data = "observations.csv"', 'data = "bigger_market.csv"')
    other = tmp_path / "bigger.toml"
    other.write_text(text)
    model = spec_model(other)
    fits = [calibrate(model, load_spec(model, path), progress=False).params["Market size"]
            for path in (spec, other)]
    assert fits[1] == pytest.approx(1.5 * fits[0], rel=0.01)


def test_a_missing_data_file_is_one_line_naming_it(tmp_path, capsys):
    spec = _copy_example(tmp_path)
    spec.write_text(spec.read_text().replace('"observations.csv"', '"no_such_data.csv"'))
    _one_line_error(capsys, ["calibrate", "--spec", str(spec), "-o", str(tmp_path / "r.toml")],
                    "calibration.data", "no_such_data.csv")
    assert not (tmp_path / "r.toml").exists()


def test_a_missing_model_file_is_one_line_naming_it(tmp_path, capsys):
    spec = _copy_example(tmp_path)
    spec.write_text(spec.read_text().replace('"bass_diffusion.mdl"', '"nowhere.mdl"'))
    _one_line_error(capsys, ["calibrate", "--spec", str(spec), "-o", str(tmp_path / "r.toml")],
                    "calibration.model", "nowhere.mdl")


def test_a_spec_for_another_model_is_refused(tmp_path):
    from clusterdyn.sdmodels import load_model

    spec = _copy_example(tmp_path)
    with pytest.raises(SpecError, match="calibration.model"):
        load_spec(load_model("salmon_cluster", defaults="mdl"), spec)


# -- the user's data ----------------------------------------------------------------------

GOOD_ROWS = ["1,4459.18,3796.28", "2,5745.64,8256.05", "3,7729.49,16511.5",
             "4,10275.4,25331.4", "5,11199,37403.1"]


@pytest.mark.parametrize(("header", "rows", "needles"), [
    ("year_of_sale,Adoption rate,Adopters", GOOD_ROWS, ["first column must be 'time'"]),
    ("time,Adoption rate,Adopterz", GOOD_ROWS, ["unknown variable 'Adopterz'", "'Adopters'"]),
    ("time,Adoption rate,Market size", GOOD_ROWS, ["unknown variable 'Market size'"]),
    ("time,Adoption rate,Adopters", [*GOOD_ROWS[:2], "3,many,16511.5"],
     ["non-numeric value 'many'", "line 4", "'Adoption rate'"]),
    ("time,Adoption rate,Adopters", [*GOOD_ROWS, "25,100,99000"],
     ["time 25 outside the calibration's years 0-12"]),
    ("time,Adoption rate,Adopters", [*GOOD_ROWS, "5.5,100,99000"], ["not a whole number"]),
    ("time,Adoption rate,Adopters", [*GOOD_ROWS, "5,100,99000"], ["duplicate time"]),
    ("time,Adoption rate,Adopters,Adopters", [r + ",1" for r in GOOD_ROWS],
     ["duplicate column"]),
    ("time,Adoption rate,Adopters", [r.rsplit(",", 1)[0] + "," for r in GOOD_ROWS],
     ["hold no value"]),
    ("time", ["1", "2"], ["no observation columns"]),
])
def test_bad_user_data_are_one_clear_error(tmp_path, header, rows, needles):
    spec = _copy_example(tmp_path)
    (tmp_path / "observations.csv").write_text("\n".join([header, *rows]) + "\n")
    with pytest.raises(DataError) as caught:
        load_spec(spec_model(spec), spec)
    message = str(caught.value)
    assert "observations.csv" in message and "\n" not in message
    for needle in needles:
        assert needle in message


def test_a_series_the_data_do_not_hold_is_a_spec_error(tmp_path):
    spec = _copy_example(tmp_path)
    spec.write_text(spec.read_text().replace('series = "Adopters"', 'series = "Adoptors"'))
    with pytest.raises(SpecError, match=r"targets\[1\]\.series.*'Adoptors'.*'Adopters'"):
        load_spec(spec_model(spec), spec)


def test_a_log_target_needs_positive_data(tmp_path):
    spec = _copy_example(tmp_path)
    (tmp_path / "observations.csv").write_text(
        "time,Adoption rate,Adopters\n" + "\n".join(GOOD_ROWS) + "\n6,0,40000\n")
    with pytest.raises(SpecError, match=r"targets\[0\]\.transform.*positive.*time 6"):
        load_spec(spec_model(spec), spec)


# -- engines ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """A copy of the example whose adoption from advertising adds 0 x GET TIME VALUE (so the
    same model), a function the compiled engine does not support (PySD does)."""
    folder = tmp_path_factory.mktemp("refused")
    spec = _copy_example(folder)
    mdl = folder / "bass_diffusion.mdl"
    old = "Advertising effectiveness*Potential adopters\n"
    text = mdl.read_text()
    assert text.count(old) == 1
    mdl.write_text(text.replace(old, "Advertising effectiveness*Potential adopters"
                                     " + 0 * GET TIME VALUE(0, 0, 0)\n"))
    return spec


def test_the_pysd_engine_fits_the_same_model(tmp_path, capsys, bass_results):
    out = tmp_path / "bass_pysd.toml"
    assert main(["calibrate", "--spec", str(SPEC), "-o", str(out), "--no-progress", "--quick",
                 "--engine", "pysd"]) == 0
    assert "model runs" in capsys.readouterr().out
    with out.open("rb") as handle:
        pysd_fit = tomllib.load(handle)["parameters"]
    truth, _ = _true_values()
    for name, true in truth.items():  # a tiny budget, but the refinement gets there
        assert abs(pysd_fit[name]["value"] / true - 1) < RECOVERY_TOLERANCE


def test_pysd_and_compiled_runners_agree():
    from clusterdyn.calibration.runners import PysdRunner, make_runner
    from clusterdyn.sdmodels import load_model

    model = load_model(str(MDL))
    params = {"Advertising effectiveness": np.array([0.01, 0.05]), "Market size": 2e5}
    compiled = make_runner(model, "compiled").run(params, variables=["Adopters"])
    pysd = PysdRunner(model).run(params, variables=["Adopters"])
    np.testing.assert_allclose(pysd.values, compiled.values, rtol=1e-9)


def test_compiled_engine_on_a_model_it_refuses_is_one_line(refused, tmp_path, capsys):
    _one_line_error(capsys, ["calibrate", "--spec", str(refused), "-o", str(tmp_path / "r.toml"),
                             "--engine", "compiled"],
                    "--engine compiled", "GET TIME VALUE", "--engine pysd")


def test_auto_engine_falls_back_to_pysd_with_a_notice(refused, tmp_path, capsys):
    out = tmp_path / "r.toml"
    assert main(["calibrate", "--spec", str(refused), "-o", str(out), "--no-progress",
                 "--quick", "--seed", "1"]) == 0
    notices = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(notices) == 1 and "notice" in notices[0] and "using PySD" in notices[0]
    assert out.is_file()


def test_sensitivity_engine_compiled_on_a_refused_model_is_one_line(refused, tmp_path, capsys):
    mdl = refused.with_name("bass_diffusion.mdl")
    _one_line_error(capsys, ["sensitivity", "morris", "--model", str(mdl), "--engine",
                             "compiled", "-o", str(tmp_path / "m")], "--engine compiled")


def test_sensitivity_pysd_engine_refuses_process_workers(tmp_path, capsys):
    _one_line_error(capsys, ["sensitivity", "morris", "--model", str(MDL), "--engine", "pysd",
                             "--workers", "2", "-o", str(tmp_path / "m")],
                    "PySD engine runs in this process")


def test_sensitivity_engine_registry_is_restored():
    import argparse

    from clusterdyn.calibration.runners import PysdRunner
    from clusterdyn.ensembles import command
    from clusterdyn.ensembles import runner as ensemble_runner
    from clusterdyn.sdmodels import load_model

    model = load_model(str(MDL))
    key = (ensemble_runner.model_reference(model), model.sha256)
    args = argparse.Namespace(engine="pysd", scheduler=None, workers=None, threads=False)
    with command._engine(args, model):
        assert isinstance(ensemble_runner.register(model), PysdRunner)
    assert key not in ensemble_runner._COMPILED or not isinstance(
        ensemble_runner._COMPILED[key], PysdRunner)


# -- scenarios ----------------------------------------------------------------------------


def test_bass_scenarios_run_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "scen"
    assert main(["scenarios", str(EXAMPLE / "advertising_burst.toml"),
                 str(EXAMPLE / "steady_advertising.toml"), "-o", str(out)]) == 0
    assert "advertising_burst: launch 0, established 4" in capsys.readouterr().out
    long = pd.read_csv(out / "trajectories.csv")
    adopters = long[long["variable"] == "Adopters"].pivot(index="year", columns="scenario",
                                                          values="value")
    assert list(adopters.index) == list(range(21))
    # More advertising at the launch: more adopters early, the same market in the end.
    assert adopters.loc[4, "advertising_burst"] > 1.5 * adopters.loc[4, "steady_advertising"]
    assert adopters.loc[20].min() > 99_000
    kpis = pd.read_csv(out / "kpis.csv", index_col="scenario")
    assert kpis.loc["advertising_burst", "Adopters mean 0-20"] > kpis.loc[
        "steady_advertising", "Adopters mean 0-20"]
    assert "| advertising_burst |" in (out / "kpis.md").read_text()


def test_a_constant_lever_equals_a_plain_run():
    from clusterdyn.scenarios.user_model import run_user_scenario
    from clusterdyn.sdmodels import load_model

    run = run_user_scenario(EXAMPLE / "steady_advertising.toml")
    plain = load_model(str(MDL)).run({"Advertising effectiveness": 0.03,
                                      "Word of mouth effectiveness": 0.4,
                                      "Market size": 100_000}, variables=["Adopters",
                                                                          "Adoption rate"])
    pd.testing.assert_frame_equal(run.trajectories, plain, rtol=1e-12)


def test_the_lever_switches_at_the_stage_start():
    from clusterdyn.scenarios.user_model import run_user_scenario
    from clusterdyn.sdmodels import load_model

    burst = run_user_scenario(EXAMPLE / "advertising_burst.toml").trajectories
    model = load_model(str(MDL))
    common = {"Word of mouth effectiveness": 0.4, "Market size": 100_000}
    launch = model.run({**common, "Advertising effectiveness": 0.06}, until=4,
                       variables=["Adopters"])
    pd.testing.assert_series_equal(burst.loc[:3, "Adopters"], launch.loc[:3, "Adopters"])
    # At time 4 the stock is the launch stage's, the rate already the established stage's.
    assert burst.loc[4, "Adopters"] == pytest.approx(launch.loc[4, "Adopters"], rel=1e-12)
    potential = 100_000 - burst.loc[4, "Adopters"]
    expected = (0.01 + 0.4 * burst.loc[4, "Adopters"] / 100_000) * potential
    assert burst.loc[4, "Adoption rate"] == pytest.approx(expected, rel=1e-9)


def _scenario(folder: Path, text: str) -> Path:
    _copy_example(folder)
    path = folder / "mine.toml"
    path.write_text('name = "mine"\ndescription = "test"\nmodel = "bass_diffusion.mdl"\n' + text)
    return path


@pytest.mark.parametrize(("text", "needles"), [
    ("[stages]\na = 0\nb = 4\n[levers]\ntv = [0.1, 0.2]\n",
     ["levers.tv", "unknown lever 'tv'", "bass_diffusion.levers.toml"]),
    ("[stages]\na = 0\nb = 4\n[levers]\nadvertising = [0.5, 0.01]\n",
     ["levers.advertising", "outside its declared range"]),
    ("[stages]\na = 0\nb = 4.03\n[levers]\nadvertising = [0.05, 0.01]\n",
     ["stages.b", "does not fall on a time step"]),
    ("[stages]\na = 1\n[levers]\nadvertising = [0.05]\n", ["stages.a", "starts with the run"]),
    ("[stages]\na = 0\nb = 4\n[levers]\nadvertising = [0.05]\n",
     ["levers.advertising", "expected a list of 2 values"]),
    ("[stages]\na = 0\n[parameters]\n\"Advertising effectiveness\" = 0.05\n[levers]\n"
     "advertising = [0.05]\n", ["set by the lever 'advertising'"]),
    ("[stages]\na = 0\n[lever_definitions.advertising]\nconstant = \"Market size\"\n",
     ["lever_definitions.advertising", "already declared"]),
    ("[stages]\na = 0\n[lever_definitions.tv]\nconstant = \"Adopters\"\n",
     ["lever_definitions.tv.constant", "declared range"]),
    ("horizon = 2.5\n[stages]\na = 0\n", ["horizon", "whole time"]),
])
def test_bad_user_scenarios_are_one_clear_error(tmp_path, text, needles):
    from clusterdyn.scenarios.user_model import load_user_scenario

    with pytest.raises(ScenarioError) as caught:
        load_user_scenario(_scenario(tmp_path, text))
    message = str(caught.value)
    assert "mine.toml" in message and "\n" not in message
    for needle in needles:
        assert needle in message, message


def test_levers_may_be_declared_in_the_scenario_itself(tmp_path):
    from clusterdyn.scenarios.user_model import run_user_scenario
    from clusterdyn.sdmodels import load_model

    path = _scenario(tmp_path, "outputs = [\"Adoption rate\"]\n"
                     "[stages]\nlaunch = 0\nlater = 10\n[levers]\nmarket = "
                     "[50000, 200000]\n[lever_definitions.market]\nconstant = \"Market size\"\n"
                     "description = \"a market that grows\"\n[parameters]\n"
                     "\"Advertising effectiveness\" = 0.03\n"
                     "\"Word of mouth effectiveness\" = 0.4\n")
    (tmp_path / "bass_diffusion.levers.toml").unlink()
    rate = run_user_scenario(path).trajectories["Adoption rate"]
    plain = load_model(str(tmp_path / "bass_diffusion.mdl")).run(
        {"Advertising effectiveness": 0.03, "Word of mouth effectiveness": 0.4,
         "Market size": 50_000}, variables=["Adoption rate"])["Adoption rate"]
    pd.testing.assert_series_equal(rate.loc[:9], plain.loc[:9])
    # At time 10 word of mouth acts on the share A/m of a larger market (the stock of
    # potential adopters, set at the start, does not grow): fewer adoptions at once.
    assert rate[10] < 0.5 * plain[10]


def test_user_and_salmon_scenarios_cannot_be_mixed(capsys, tmp_path):
    _one_line_error(capsys, ["scenarios", str(EXAMPLE / "advertising_burst.toml"), "historical",
                             "-o", str(tmp_path / "s")], "run them separately")
    _one_line_error(capsys, ["scenarios", str(EXAMPLE / "advertising_burst.toml"), "--until",
                             "2010", "-o", str(tmp_path / "s")], "--until and --rate")
