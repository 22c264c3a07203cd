"""The ``clusterdyn`` command line: outputs, help, and one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from clusterdyn.cli import main
from clusterdyn.sdmodels import PUBLIC_OUTPUTS


def test_run_writes_all_public_outputs_for_1978_2003(tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert main(["run", "-o", str(out)]) == 0
    frame = pd.read_csv(out, index_col="year")
    assert list(frame.index) == list(range(1978, 2004))
    assert list(frame.columns) == list(PUBLIC_OUTPUTS)
    assert "wrote 26 years" in capsys.readouterr().out


def test_run_to_stdout_with_settings(capsys, model):
    code = main(["run", "--defaults", "mdl", "--until", "2010", "--dt", "0.03125", "--set",
                 "Capacity lifetime=12", "--variables", "Production", "Price", "-o", "-"])
    assert code == 0
    text = capsys.readouterr().out
    frame = pd.read_csv(pd.io.common.StringIO(text), index_col="year")
    assert frame.index[-1] == 2010 and list(frame.columns) == ["Production", "Price"]
    expected = model.run(params={"Capacity lifetime": 12}, until=2010, dt=0.03125,
                         variables=["Production", "Price"])
    # the CSV keeps 10 significant digits
    pd.testing.assert_frame_equal(frame, expected, check_exact=False, rtol=1e-9)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "Capacity lifetim=12"], "Did you mean 'Capacity lifetime'"),
        (["--set", "Capacity lifetime=twelve"], "expected a number, got 'twelve'"),
        (["--set", "Capacity lifetime=500"], "outside its declared range [5, 20]"),
        (["--set", "Capacity lifetime"], 'expected "Name=VALUE"'),
        (["--set", "Capacity lifetime=12", "--set", "Capacity lifetime=13"], "given twice"),
        (["--dt", "0.3"], "expected 1/n of a year"),
        (["--variables", "Prise"], "Did you mean 'Price'"),
    ],
)
def test_bad_input_gives_one_clear_line_and_keeps_existing_output(tmp_path, capsys, argv,
                                                                   message):
    out = tmp_path / "out.csv"
    out.write_text("previous result\n")
    assert main(["run", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert out.read_text() == "previous result\n"


@pytest.mark.parametrize("until", ["1970", "1978", "2031", "soon"])
def test_bad_until_is_rejected_by_the_parser(capsys, until):
    with pytest.raises(SystemExit) as info:
        main(["run", "--until", until, "-o", "-"])
    assert info.value.code == 2
    assert "--until" in capsys.readouterr().err


def test_params_lists_parameters_with_ranges(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    assert "Normal investment fraction\t" in out and "[0.05, 1.5]" in out


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["params", "--help"]])
def test_help_for_the_program_and_each_subcommand(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert "usage: clusterdyn" in capsys.readouterr().out


def test_console_script_runs_as_a_separate_process(tmp_path):
    out = tmp_path / "run.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "clusterdyn.cli", "run", "--set", "Capacity lifetime=x", "-o",
         str(out)], capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "Capacity lifetime" in proc.stderr
    assert not out.exists()


def test_reproduce_runs_the_main_job(reproduced):
    """`clusterdyn reproduce`: calibrated baseline, every scenario, every figure (the session's
    one run, whose figures tests/test_figures.py also checks)."""
    code, out, figs = reproduced
    assert code == 0
    assert (out / "baseline.csv").is_file()
    assert {"trajectories.csv", "kpis.csv", "kpis.md"} <= {p.name for p in (out / "scenarios")
                                                         .iterdir()}
    assert main(["figures", "--check", str(figs)]) == 0
