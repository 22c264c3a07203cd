"""Output defects of the command line (issue 12, defect 6): each test failed before its fix."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest

from clusterdyn.calibration.data_io import load_observations
from clusterdyn.calibration.results import CalibrationResult, ParameterEstimate
from clusterdyn.calibration.shipped import DEFAULT_RESULTS
from clusterdyn.calibration.spec import load_spec
from clusterdyn.calibration.statistics import FitStatistics, TheilStatistics
from clusterdyn.cli import build_parser, main
from clusterdyn.sdmodels import ModelInputError
from clusterdyn.sdmodels.vectorized import compile_model


def _stats(n: int, r2: float, mape: float, rmse: float, u: float, dw: float) -> FitStatistics:
    return FitStatistics(n, "log", r2, mape, rmse, TheilStatistics(rmse * rmse, rmse, u, u, u, u),
                         dw, 0.0)


def _cells(line: str) -> list[str]:
    """A summary table row cut at runs of two or more spaces (cells hold single spaces)."""
    return re.split(r" {2,}", line.strip())


def test_summary_columns_stay_separated_for_values_of_any_size(model):
    """R2 0.821155 next to a MAPE of 15,587% used to print as ``0.82115587.3%``; huge, tiny,
    negative and non-finite values, long names and long units keep every column apart."""
    spec = load_spec(model)
    estimates = (
        ParameterEstimate("A parameter with a name far longer than forty characters", 1.2345e300,
                          -1e-300, 1e300, 1.0, "USD/(kg*Year)", False, True),
        ParameterEstimate("x", 0.5, 0.25, 0.75, 0.1, "dmnl", True, False),
    )
    fit = {"Production": _stats(12345, 0.821155, 155.873, 1e300, 0.5, float("nan")),
           "A variable named at length": _stats(3, -1.5e12, 1e9, 1e-300, 1e-9, 4.0)}
    result = CalibrationResult(
        model=model, spec=spec, seed=0, quick=True, fit_last_year=1980, objective=1e308,
        n_observations=1, estimates=estimates, correlation=np.eye(2), fit=fit,
        holdout={"Price": _stats(8, 0.9, 0.05, 0.1, 0.2, 1.9)}, evaluations=10)
    lines = result.summary().splitlines()
    assert "0.82115587" not in result.summary()
    assert "1 observation," in lines[0] and "2 parameters" in lines[0]
    params = lines[lines.index("") + 1:][:3]
    assert _cells(params[0]) == ["parameter", "value", "95% interval", "units", "flags"]
    assert _cells(params[1]) == [estimates[0].name, "1.2345e+300", "[-1e-300, 1e+300]",
                                 "USD/(kg*Year)", "NOT IDENTIFIED, at bound"]
    assert _cells(params[2]) == ["x", "0.5", "[0.25, 0.75]", "dmnl"]
    header = [i for i, line in enumerate(lines) if line.startswith("variable")]
    assert len(header) == 2
    assert _cells(lines[header[0] + 1]) == ["Production", "12345", "0.821", "15587.3%",
                                            "1e+300", "0.500", "0.50", "0.50", "0.50", "nan"]
    assert _cells(lines[header[0] + 2]) == ["A variable named at length", "3", "-1.5e+12",
                                            "1e+11%", "1e-300", "0.000", "0.00", "0.00",
                                            "0.00", "4.00"]
    # Right-aligned numeric columns: every row of a table ends at the same column.
    for start in header:
        table = lines[start:start + (3 if start == header[0] else 2)]
        assert len({len(line) for line in table}) == 1, table



# --- a. too few observations for the free parameters ----------------------------------------

def test_calibrate_refuses_fewer_observations_than_parameters(tmp_path, capsys):
    """``--until 1980`` leaves 3 observations (production 1978-80) for 16 parameters: one
    error line naming both numbers, exit 2, no file; before, the fit ran without a word."""
    out = tmp_path / "x.toml"
    assert main(["calibrate", "--quick", "--until", "1980", "--no-progress", "-o", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clusterdyn calibrate: error:"), lines
    assert "3 observations for 16 free parameters" in lines[0]
    assert captured.out == "" and not out.exists() and not out.with_suffix(".md").exists()


def test_python_api_refuses_too_few_observations_too(model):
    from clusterdyn.calibration.fit import calibrate

    with pytest.raises(ModelInputError, match="3 observations for 16 free parameters"):
        calibrate(model, until=1980, quick=True, progress=False)


def test_observation_rule_refuses_up_to_p_and_warns_below_2p():
    from clusterdyn.calibration.objective import SparseDataWarning, check_observations

    for n in (0, 1, 11):
        with pytest.raises(ModelInputError, match=f"{n} observations? for 11 free"):
            check_observations(n, 11, (1978, 1980))
    for n in (12, 21):
        with pytest.warns(SparseDataWarning, match=f"{n} observations for 11 free parameters"):
            check_observations(n, 11, (1978, 1990))
    check_observations(22, 11, (1978, 1992))  # 2 per parameter: silent (warnings are errors)
    check_observations(29, 11, (1978, 1995))  # Model 1's hold-out fit
    # a prior is one more residual: the shipped hold-out fit (29 observations, 6 priors, 16
    # parameters) passes, the same fit without its priors warns; the refusal counts data only
    check_observations(29, 16, (1978, 1995), n_priors=6)
    with pytest.warns(SparseDataWarning, match="29 observations for 16 free parameters and 2 "
                                               "priors"):
        check_observations(29, 16, (1978, 1995), n_priors=2)
    with pytest.raises(ModelInputError):
        check_observations(16, 16, (1978, 1990), n_priors=16)


def test_the_objective_of_the_python_api_warns_about_sparse_data(model):
    from clusterdyn.calibration.objective import Objective, SparseDataWarning

    spec = load_spec(model)
    with pytest.warns(SparseDataWarning,
                      match="19 observations for 16 free parameters and 6 priors"):
        Objective(spec, compile_model(model), load_observations(), 1990)


def test_calibrate_warns_in_one_line_and_continues_with_sparse_data(tmp_path, capsys):
    """1978-1990: 19 observations and 6 priors for 16 parameters, fewer than 2 each: one
    warning line on stderr, and the results are written all the same."""
    out = tmp_path / "q.toml"
    assert main(["calibrate", "--quick", "--until", "1990", "--no-progress", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "clusterdyn calibrate: warning: the data 1978-1990 hold 19 observations for 16 free "
        "parameters and 6 priors, fewer than 2 per parameter: the fit is poorly determined and "
        "its intervals unreliable"]
    assert out.exists() and "19 observations" in captured.out


# --- c. posterior: the results file first, burn-in a share of the steps -----------------------

def test_posterior_reports_a_missing_results_file_before_the_burn_in(tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    assert main(["posterior", "--results", str(missing), "--steps", "100"]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such calibration results file" in err
    assert "--burn" not in err and len(err.strip().splitlines()) == 1


def test_posterior_burn_in_defaults_to_a_sixth_of_the_steps(tmp_path, capsys):
    """``--steps 60`` alone used to fail on the 2,000-step default burn-in; it now drops 10."""
    from clusterdyn.calibration.posterior import default_burn

    assert [default_burn(s) for s in (12_000, 100, 60, 6, 2)] == [2_000, 16, 10, 1, 1]
    out = tmp_path / "draws.csv"
    assert main(["posterior", "--results", str(DEFAULT_RESULTS), "--steps", "60", "--draws",
                 "100", "--no-progress", "-o", str(out)]) == 0
    assert "(first 10 dropped)" in out.with_suffix(".md").read_text(encoding="utf-8")
    capsys.readouterr()
    # An explicit --burn is still validated against --steps, after the file.
    assert main(["posterior", "--results", str(DEFAULT_RESULTS), "--steps", "60", "--burn",
                 "60", "-o", str(out)]) == 2
    assert "--burn 60: expected fewer than --steps (60)" in capsys.readouterr().err


# --- d. no argparse %-escapes in the help -----------------------------------------------------

def _helps(parser: argparse.ArgumentParser, name: str) -> dict[str, str]:
    """``--help`` text of ``parser`` and of every subcommand under it, by command line."""
    texts = {name: parser.format_help()}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                texts.update(_helps(sub, f"{name} {sub_name}"))
    return texts


def test_no_help_shows_a_percent_escape():
    """``calibrate --help`` printed "95%%": a description is not %-formatted by argparse, so
    its escapes show. Rendering also fails on a stray % in an argument's help."""
    texts = _helps(build_parser(), "clusterdyn")
    assert {"clusterdyn calibrate", "clusterdyn posterior", "clusterdyn sensitivity bands",
            "clusterdyn check", "clusterdyn scenarios"} <= set(texts)
    for command, text in texts.items():
        assert "%%" not in text and "%(" not in text, command
    assert "95% intervals" in texts["clusterdyn calibrate"]


# --- e. singular and plural --------------------------------------------------------------------

def test_plural_helper():
    from clusterdyn.calibration.command import plural

    assert [plural(n, "run") for n in (0, 1, 2, 1523)] == ["0 runs", "1 run", "2 runs",
                                                           "1,523 runs"]
    assert plural(1, "analysis", "analyses") == "1 analysis"
    assert plural(3, "analysis", "analyses") == "3 analyses"


def test_one_scenario_is_one_scenario(tmp_path, capsys):
    assert main(["scenarios", "no_policy", "-o", str(tmp_path)]) == 0
    assert "wrote 1 scenario to" in capsys.readouterr().out


def test_one_validation_section_is_one_section(capsys):
    assert main(["check", "--only", "units", "-o", "-"]) == 0
    assert "Only the section units was run." in capsys.readouterr().out
