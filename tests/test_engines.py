"""Any Vensim model through ``run_mdl`` and ``clusterdyn run --model PATH.mdl --engine ...``."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterdyn.cli import ENGINES as CLI_ENGINES
from clusterdyn.cli import main
from clusterdyn.sdmodels.engines import ENGINES, run_mdl
from clusterdyn.sdmodels.errors import ModelInputError, SimulationError
from tests.conformance import suite

TEACUP = suite.MODELS / "samples" / "teacup" / "teacup.mdl"
TEACUP_CANONICAL = suite.MODELS / "samples" / "teacup" / "output.csv"
SUBSCRIPTED = suite.MODELS / "tests" / "subscript_2d_arrays" / "test_subscript_2d_arrays.mdl"
EXPECTED = suite.load_expected()


def _refused() -> tuple[Path, str]:
    """A conformance model the compiled engine refuses, and its measured refusal."""
    refusals = EXPECTED["compiled_refuses"]
    if not refusals:
        pytest.skip("the compiled engine refuses no conformance model")
    # Prefer a small model PySD runs within 5% of Vensim, without warnings.
    ok = [key for key in sorted(refusals) if key not in EXPECTED["pysd_fails"]
          and key not in EXPECTED["pysd_warnings"] and not suite.DATA_FILES.get(key)]
    case = {c.id: c for c in suite.cases()}[(ok or sorted(refusals))[0]]
    return case.mdl, str(refusals[case.id])


def _csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), index_col=0)


def _one_error_line(err: str) -> str:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("clusterdyn run: error: "), err
    return err


def test_the_engines_of_the_cli_are_those_of_run_mdl():
    assert CLI_ENGINES == ENGINES == ("auto", "compiled", "pysd")


def test_bad_engine_name(capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["run", "--model", str(TEACUP), "--engine", "turbo", "-o", "-"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--engine" in err and "invalid choice: 'turbo'" in err
    with pytest.raises(ModelInputError, match="engine 'turbo': expected one of 'auto'"):
        run_mdl(TEACUP, engine="turbo")


def test_teacup_with_the_compiled_engine_prints_the_canonical_trajectory(capsys):
    assert main(["run", "--model", str(TEACUP), "--engine", "compiled", "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    frame = _csv(captured.out)
    canonical = pd.read_csv(TEACUP_CANONICAL, index_col=0)
    assert frame.index.name == "Time" and list(frame.columns) == list(canonical.columns)
    np.testing.assert_allclose(frame.index, canonical.index, rtol=0, atol=1e-12)
    # Vensim writes 6 significant digits.
    np.testing.assert_allclose(frame.to_numpy(), canonical.to_numpy(), rtol=1e-5, atol=0)


@pytest.mark.parametrize("engine", ["pysd", "auto"])
def test_every_engine_gives_the_compiled_engines_teacup(engine, capsys):
    assert main(["run", "--model", str(TEACUP), "--engine", "compiled", "-o", "-"]) == 0
    compiled = _csv(capsys.readouterr().out)
    assert main(["run", "--model", str(TEACUP), "--engine", engine, "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # auto runs teacup on the compiled engine: no notice
    pd.testing.assert_frame_equal(_csv(captured.out), compiled, rtol=1e-9)


def test_unsupported_construct_with_the_compiled_engine_is_one_line(tmp_path, capsys):
    mdl, refusal = _refused()
    out = tmp_path / "out.csv"
    assert main(["run", "--model", str(mdl), "--engine", "compiled", "-o", str(out)]) == 2
    captured = capsys.readouterr()
    err = _one_error_line(captured.err)
    assert captured.out == "" and not out.exists()
    element = refusal.split("element ", 1)[1].split(":", 1)[0]  # 'NAME', quoted
    construct = refusal.split(": ", 2)[-1].replace(" is not supported by the compiled engine",
                                                   "")
    assert f"element {element}" in err and construct in err and "--engine pysd" in err


def test_auto_falls_back_to_pysd_with_one_notice_naming_the_construct(capsys):
    mdl, refusal = _refused()
    assert main(["run", "--model", str(mdl), "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(f"clusterdyn: the compiled engine cannot run {mdl.name} (")
    assert captured.err.rstrip().endswith("; ran it with PySD")
    element = refusal.split("element ", 1)[1].split(":", 1)[0]
    assert f"element {element}" in captured.err
    auto = _csv(captured.out)
    assert main(["run", "--model", str(mdl), "--engine", "pysd", "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    pd.testing.assert_frame_equal(auto, _csv(captured.out))


def test_the_notice_is_display_only():
    mdl, _ = _refused()
    notices: list[str] = []
    auto = run_mdl(mdl, notice=notices.append)
    assert len(notices) == 1 and "\n" not in notices[0]
    pd.testing.assert_frame_equal(auto, run_mdl(mdl, engine="pysd", notice=notices.append))
    assert len(notices) == 1  # PySD asked for by name: no notice


def test_output_to_a_pipe_that_closes_early():
    proc = subprocess.run(
        f"{sys.executable} -m clusterdyn.cli run --model '{TEACUP}' --engine compiled -o - "
        "| head -n 2", shell=True, capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        "Time,Characteristic Time,Heat Loss to Room,Room Temperature,Teacup Temperature",
        "0,10,11,70,180"]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_writes_a_file_and_says_so(tmp_path, capsys):
    out = tmp_path / "teacup.csv"
    assert main(["run", "--model", str(TEACUP), "--engine", "pysd", "--until", "10", "--set",
                 "Room Temperature=60", "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote 81 times x 4 variables to {out}\n"
    frame = pd.read_csv(out, index_col="Time")
    assert frame.index[-1] == 10 and (frame["Room Temperature"] == 60).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_params_until_and_variables(engine):
    frame = run_mdl(TEACUP, params={"Room Temperature": "60", "Characteristic Time": 5},
                    until=4.5, engine=engine, variables=["Teacup Temperature"],
                    notice=lambda _: None)
    assert list(frame.columns) == ["Teacup Temperature"]
    assert frame.index[0] == 0 and frame.index[-1] == 4.5 and len(frame) == 37
    # Euler: T' = -(T - 60)/5 from 180, step 0.125.
    expected = 60 + 120 * (1 - 0.125 / 5) ** np.arange(37)
    np.testing.assert_allclose(frame["Teacup Temperature"], expected, rtol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"params": {"Room Temprature": 60}}, "unknown parameter 'Room Temprature' for model "
                                          "teacup.mdl. Did you mean 'Room Temperature'"),
    ({"params": {"Heat Loss to Room": 1}}, "not a settable parameter"),
    ({"params": {"Room Temperature": "warm"}}, "expected a number, got 'warm'"),
    ({"params": {"Room Temperature": float("nan")}}, "expected a finite number"),
    ({"params": {"FINAL TIME": 5}}, "simulation control variable"),
    ({"until": -1}, "expected a time of model teacup.mdl after its INITIAL TIME 0"),
    ({"until": "soon"}, "until: expected a time"),
    ({"variables": ["Teacup Temprature"]}, "Did you mean 'Teacup Temperature'"),
])
def test_bad_input_is_a_model_input_error(engine, kwargs, message):
    with pytest.raises(ModelInputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        run_mdl(TEACUP, engine=engine, notice=lambda _: None, **kwargs)


@pytest.mark.parametrize(("argv", "message"), [
    (["--scenario", "historical"], "--scenario applies to the shipped salmon model only"),
    (["--results", "calibration/results/salmon_cluster.toml"], "--results applies to the "),
    (["--defaults", "calibrated"], "--defaults calibrated applies to the shipped salmon"),
    (["--dt", "0.5"], "--dt applies to the shipped salmon model only"),
    (["--set", "Room Temprature=1"], "Did you mean 'Room Temperature'"),
])
def test_salmon_only_options_and_bad_input_on_another_model(argv, message, capsys, tmp_path):
    out = tmp_path / "out.csv"
    assert main(["run", "--model", str(TEACUP), *argv, "-o", str(out)]) == 2
    err = _one_error_line(capsys.readouterr().err)
    assert message in err and not out.exists()


def test_defaults_mdl_is_accepted_on_another_model(capsys):
    assert main(["run", "--model", str(TEACUP), "--defaults", "mdl", "--until", "1", "-o",
                 "-"]) == 0
    assert len(_csv(capsys.readouterr().out)) == 9


def test_the_shipped_model_keeps_its_yearly_calibrated_run(capsys):
    assert main(["run", "--until", "1980", "-o", "-"]) == 0
    default = capsys.readouterr().out
    shipped = Path(suite.__file__).resolve().parents[2] / "sdmodels" / "salmon_cluster.mdl"
    assert main(["run", "--model", str(shipped), "--until", "1980", "-o", "-"]) == 0
    assert capsys.readouterr().out == default
    assert default.splitlines()[0].startswith("year,Production,")
    assert main(["run", "--engine", "compiled", "-o", "-"]) == 2
    assert "--engine applies to other .mdl files" in _one_error_line(capsys.readouterr().err)


def test_subscripted_columns_are_named_like_vensims(capsys):
    frame = run_mdl(SUBSCRIPTED, engine="pysd")
    assert "Stock A[Entry 1,Column 1]" in frame.columns
    assert not {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"} & set(frame.columns)
    canonical = suite.read_canonical(SUBSCRIPTED.parent / "output.tab")
    assert suite.compare_with_canonical(frame, canonical) == ""
    only = run_mdl(SUBSCRIPTED, engine="auto", variables=["Stock A"], notice=lambda _: None)
    assert list(only.columns) == [c for c in frame.columns if c.startswith("Stock A[")]


def test_pysd_translates_into_the_cache_and_reads_data_beside_the_mdl(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(suite.MODELS / "tests" / "get_xls_cellrange", folder)
    before = sorted(p.name for p in folder.iterdir())
    mdl = folder / "test_get_xls_cellrange.mdl"
    frame = run_mdl(mdl, engine="pysd")
    canonical = suite.read_canonical(folder / "output.tab")
    assert suite.compare_with_canonical(frame, canonical) == ""
    assert sorted(p.name for p in folder.iterdir()) == before  # no translation beside it


@pytest.mark.parametrize("engine", ENGINES)
def test_a_broken_mdl_is_one_line_whatever_the_engine(engine, tmp_path, capsys):
    broken = tmp_path / "broken.mdl"
    broken.write_text(TEACUP.read_text(encoding="utf-8").replace(
        "(Teacup Temperature - Room Temperature) / Characteristic Time",
        "(Teacup Temperature - Room Temperature / Characteristic Time"), encoding="utf-8")
    assert main(["run", "--model", str(broken), "--engine", engine, "-o", "-"]) == 2
    captured = capsys.readouterr()
    err = _one_error_line(captured.err)
    assert str(broken) in err and "Heat Loss to Room" in err and captured.out == ""


@pytest.mark.parametrize("engine", ENGINES)
def test_division_by_zero_is_a_simulation_error(engine, tmp_path):
    zero = tmp_path / "zero.mdl"
    text = TEACUP.read_text(encoding="utf-8")
    zero.write_text(text.replace("Characteristic Time=\n\t10", "Characteristic Time=\n\t0"),
                    encoding="utf-8")
    with pytest.raises(SimulationError, match=str(zero)):
        run_mdl(zero, engine=engine, notice=lambda _: None)
