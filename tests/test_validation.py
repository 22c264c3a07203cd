"""The validation battery (``clusterdyn check``): each part passes on the shipped model and
catches a planted error with a clear message."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from clusterdyn.calibration import calibrated_parameters
from clusterdyn.errors import UsageError
from clusterdyn.sdmodels import PUBLIC_OUTPUTS, load_model
from clusterdyn.validation import command
from clusterdyn.validation.behaviour import check_behaviour
from clusterdyn.validation.equations import parse_equations
from clusterdyn.validation.integration import LIMITS, check_integration
from clusterdyn.validation.reality import CheckFileError, load_checks, run_checks, simulate
from clusterdyn.validation.stepper import compile_stepper
from clusterdyn.validation.stocks import check_stocks, sample_parameters
from clusterdyn.validation.units import UnitsSyntaxError, check_units, format_units, parse_units
from tests.precision import assert_same_at_precision


def _planted(model, tmp_path: Path, old: str, new: str, name: str = "planted") -> Path:
    """A copy of the shipped .mdl with ``old`` (which must occur once) replaced by ``new``."""
    text = model.mdl_path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / f"{name}.mdl"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _run_check(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="clusterdyn")
    command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["check", *argv])
    return args.func(args)


# --- units -------------------------------------------------------------------------------


def test_vensim_units_map_to_pint_with_dimension_and_scale():
    assert format_units(parse_units("t/(Year*firms)")) == "t/(Year*firms)"
    million, usd = parse_units("Million USD/Year"), parse_units("USD/Year")
    assert million.dimensionality == usd.dimensionality
    assert (million / usd).to_base_units().magnitude == pytest.approx(1e6)
    assert (parse_units("t") / parse_units("kg")).to_base_units().magnitude == 1000
    assert parse_units("dmnl").dimensionless and parse_units("1/Year") == 1 / parse_units("Year")
    with pytest.raises(UnitsSyntaxError, match="unknown unit 'fish'"):
        parse_units("fish/Year")


def test_shipped_model_passes_the_units_check(model):
    report = check_units(model.mdl_path)
    assert report.passed, "\n".join(str(i) for i in report.issues)
    assert report.checked == len(parse_equations(model.mdl_path)) == 222


@pytest.mark.parametrize(
    ("old", "new", "variable", "message"),
    [
        # Export value declared in USD/Year: the equation gives Million USD/Year.
        ("USD per million USD\n\t~\tMillion USD/Year", "USD per million USD\n\t~\tUSD/Year",
         "Export value", "1e+06 times the declared units"),
        ("Unit farming cost/Fish survival fraction\n",
         "Unit farming cost/Fish survival fraction+Production\n",
         "Unit production cost", "'+' adds t/Year to USD/kg"),
        ("Production capacity/Capacity lifetime\n", "Production capacity*Capacity lifetime\n",
         "Capacity depreciation", "differ from the declared units"),
        ("Capacity investment-Capacity depreciation-Capacity exit,",
         "Capacity investment-Capacity depreciation-Capacity exit-Production capacity,",
         "Production capacity", "'-' subtracts t/Year from t/Year^2"),
        ("Supply demand ratio^(-1/Price elasticity of demand)",
         "World supply^(-1/Price elasticity of demand)",
         "Effect of supply on world price", "raises t/Year to a variable power"),
        ("Profitability, Profitability perception time)",
         "Profitability, Normal investment fraction)",
         "Expected profitability", "smoothing time is in 1/Year, expected Year"),
        ("EXP(Rest of world growth after data*MAX(0, Time-Last data year))",
         "EXP(MAX(0, Time-Last data year))",
         "Rest of world production", "EXP of a quantity in Year"),
        ("MIN(Time, Last data year)", "MIN(Time, Initial world demand)",
         "Rest of world production data", "MIN mixes Year with t/Year"),
        ("\t~\tfirms [1,20]", "\t~\tfrims [1,20]", "Initial supplier base", "unknown unit 'frims'"),
    ],
)
def test_units_check_catches_a_planted_error(model, tmp_path, old, new, variable, message):
    report = check_units(_planted(model, tmp_path, old, new))
    assert not report.passed
    issue = next(i for i in report.issues if i.variable == variable)
    assert message in issue.problem or message in f"{issue.yields}", str(issue)
    if variable == "Export value":
        assert (issue.declared, issue.yields) == ("USD/Year", "Million USD/Year")


# --- reality checks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated():
    return calibrated_parameters()


def test_forcing_from_a_year_on_leaves_earlier_years_untouched(model):
    names = ["Price", "Production"]
    base = model.run(variables=names)
    run = simulate(model, {}, {"Price": 1.0}, 1995, 2003, names)
    assert run.loc[:1994].equals(base.loc[:1994])
    assert (run.loc[1995:, "Price"] == 1.0).all()
    assert (run.loc[1997:, "Production"] < base.loc[1997:, "Production"]).all()


BROKEN = """
[[check]]
name = "price zero raises investment"
description = "Deliberately false: with no price there is no investment."
forced = { "Price" = 0 }

[[check.expect]]
variable = "Capacity investment"
relation = ">"
value = 0
"""


def test_a_false_reality_check_fails_with_a_clear_message(model, tmp_path, capsys):
    path = tmp_path / "broken.checks.toml"
    path.write_text(BROKEN, encoding="utf-8")
    report = tmp_path / "report.md"
    assert _run_check(["--only", "reality", "--checks", str(path), "-o", str(report)]) == 1
    out = capsys.readouterr().out
    assert ("reality checks: FAIL - 0 of 1 checks hold (1 expectations); 'price zero raises "
            "investment' fails: 'Capacity investment' > 0, every year: fails in 26 of 26 years"
            ) in out  # fmt: skip
    assert "### FAIL: price zero raises investment" in report.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (BROKEN.replace("[[check.expect]]", "[[check.expects]]"),
         "check[0] ('price zero raises investment').expects: unknown key. Did you mean "
         "'expect'?"),
        (BROKEN.replace('"Price" = 0', '"Prise" = 0'),
         ".forced.'Prise': unknown variable 'Prise' of model 'salmon_cluster'. Did you mean "
         "'Price'"),
        (BROKEN.replace('relation = ">"', 'relation = "=>"'),
         ".expect[0].relation: expected one of ['<', '<=', '==', '>=', '>'], got '=>'"),
        (BROKEN.replace("forced", 'params = { "Capacity lifetime" = 50 }\nforced'),
         ".params.'Capacity lifetime': parameter 'Capacity lifetime' = 50 is outside its "
         "declared range [5, 20]"),
        (BROKEN.replace("forced", 'params = { "* stage 4 intensity" = 0 }\nforced'),
         ".params.'* stage 4 intensity': the pattern matches no parameter"),
        (BROKEN.replace("value = 0", "value = 0\nbaseline = true"),
         ".expect[0]: expected exactly one of 'value', 'baseline'"),
        (BROKEN.replace("value = 0", "value = 0\nyears = [2003, 1990]"),
         ".expect[0].years: expected an ordered span"),
        (BROKEN.replace("forced = { \"Price\" = 0 }", "from_year = 1990"),
         ".from_year: only meaningful with 'forced' variables"),
        ("[[check]\nname = 1", "not valid TOML"),
        ("", "check: expected at least one [[check]] table"),
    ],
)
def test_invalid_checks_file_names_file_and_key(model, tmp_path, body, message):
    path = tmp_path / "bad.checks.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CheckFileError) as info:
        load_checks(model, path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_check_command_reports_a_bad_checks_file_as_usage_error(tmp_path):
    path = tmp_path / "bad.checks.toml"
    path.write_text(BROKEN.replace("Capacity investment", "Capacity investmnet"), "utf-8")
    report = tmp_path / "report.md"
    with pytest.raises(UsageError, match="Did you mean 'Capacity investment'"):
        _run_check(["--checks", str(path), "-o", str(report)])
    assert not report.exists()


# --- integration error -------------------------------------------------------------------

DECAY = """{UTF-8}
Stock= INTEG (
\t-Stock*Decay rate,
\t\t1)
\t~\tdmnl
\t~\tA stock decaying exponentially: Stock(t) = exp(-t).
\t|

Decay rate=
\t1
\t~\t1/Year
\t~\tFractional outflow.
\t|

FINAL TIME  = 2
\t~\tYear
\t~\tEnd.
\t|

INITIAL TIME  = 0
\t~\tYear
\t~\tStart.
\t|

SAVEPER  = 1
\t~\tYear
\t~\tOutput interval.
\t|

TIME STEP  = 0.125
\t~\tYear
\t~\tStep.
\t|
"""


def test_stepper_is_first_order_with_euler_and_fourth_order_with_rk4(tmp_path):
    path = tmp_path / "decay.mdl"
    path.write_text(DECAY, encoding="utf-8")
    assert check_units(path).passed
    stepper = compile_stepper(path)

    def error(method: str, dt: float) -> float:
        run = stepper.run(until=2, dt=dt, method=method, variables=["Stock"])
        return abs(run.loc[2, "Stock"] - math.exp(-2))

    assert error("euler", 1 / 8) / error("euler", 1 / 16) == pytest.approx(2, rel=0.05)
    assert error("rk4", 1 / 8) / error("rk4", 1 / 16) == pytest.approx(16, rel=0.1)
    assert error("rk4", 1 / 8) < 1e-5


def test_integration_error_of_the_default_step_is_within_the_stated_limits(model, calibrated):
    report = check_integration(model, calibrated)
    assert [o.output for o in report.outputs] == list(PUBLIC_OUTPUTS)
    for o in report.outputs:
        assert o.differences["self"][0] <= 1e-9, o  # the stepper's Euler is PySD's Euler
        assert o.differences["halving"][0] < LIMITS["halving"] == 0.01, o
        assert o.differences["rk4"][0] < LIMITS["rk4"] == 0.03, o
        assert o.differences["rk4_convergence"][0] < LIMITS["rk4_convergence"], o
    assert report.passed


# --- stocks never negative ---------------------------------------------------------------


def test_parameter_sample_is_seeded_and_inside_the_box(model):
    a, b = sample_parameters(model, 16, seed=3), sample_parameters(model, 16, seed=3)
    assert a.equals(b) and len(a) == 17
    for name, p in model.parameters.items():
        assert a[name].between(p.lower, p.upper).all()
    assert not a.equals(sample_parameters(model, 16, seed=4))


def test_shipped_model_keeps_stocks_nonnegative(model, calibrated):
    report = check_stocks(model, samples=64, seed=0, base=calibrated)
    assert report.passed and report.runs == 65
    assert {s.stock for s in report.stocks} == set(model.stocks)


def test_an_unlimited_outflow_is_caught(model, tmp_path, capsys):
    # A constant exit, not limited by the capacity left: the stock goes below zero. (A
    # proportional outflow such as ``Production capacity*2`` decays exponentially and stays
    # positive, so it is not a planted error.)
    path = _planted(model, tmp_path,
                    "Production capacity*Normal exit fraction*Effect of profitability on exit\n",
                    "500\n", name="negative_stock")  # fmt: skip
    report = check_stocks(load_model(str(path)), samples=4, seed=0)
    capacity = next(s for s in report.stocks if s.stock == "Production capacity")
    assert not report.passed and not capacity.passed
    assert "stock 'Production capacity' goes negative in 5 of 5 runs" in capacity.message(5)
    code = _run_check(["--model", str(path), "--defaults", "mdl", "--only", "stocks",
                       "--samples", "4", "-o", str(tmp_path / "report.md")])  # fmt: skip
    assert code == 1
    # The summary line names the first failing stock (here the companies, which exit with
    # the capacity); the report lists every one.
    assert "stocks: FAIL - stock '" in capsys.readouterr().out
    assert "stock 'Production capacity' goes negative" in (tmp_path / "report.md").read_text()


# --- behaviour reproduction ----------------------------------------------------------------


def test_calibrated_model_reproduces_the_fao_behaviour(model, calibrated):
    report = check_behaviour(model, calibrated)
    assert [s.variable for s in report.series] == ["Production", "Price"]
    assert [s.n for s in report.series] == [26, 20]
    for s in report.series:
        assert s.e1 < 0.05 and s.e2 < 0.3 and abs(s.lag) <= 1 and s.uc >= 0.5, s
    assert report.passed


def test_behaviour_test_rejects_a_model_far_from_the_data(model, calibrated):
    slow = {**calibrated, "Normal investment fraction": 0.3}
    production = check_behaviour(model, slow).series[0]
    assert not production.passed
    assert any(f.startswith("E1 = ") for f in production.failures)


# --- the command ---------------------------------------------------------------------------


def test_check_command_passes_and_rewrites_the_committed_report(tmp_path, capsys,
                                                                   monkeypatch):
    """``clusterdyn check`` passes on the shipped model, says so section by section, and
    writes validation/report.md (linked from README.md) as committed, at its written precision
    (:mod:`tests.precision`). One run serves both (the battery takes about a minute)."""
    from pathlib import Path

    from clusterdyn.validation import reality

    # The shipped reality checks on the calibrated baseline: what the command's "reality
    # checks" section runs (run_checks of the shipped checks with the calibrated parameters),
    # recorded here rather than run a second time (a former test of its own, 30 s of CI).
    calls = []

    def recorded(model, checks, base_params=None):
        results = run_checks(model, checks, base_params)
        calls.append((model, checks, base_params, results))
        return results

    monkeypatch.setattr(reality, "run_checks", recorded)
    report = tmp_path / "out" / "report.md"
    assert _run_check(["-o", str(report)]) == 0
    ((model, checks, base, results),) = calls
    assert checks == load_checks(model)
    assert dict(base) == calibrated_parameters()
    assert len(checks) >= 7
    assert {"price zero stops investment", "all levers off keeps the cluster tiny",
            "maximal sanitary pressure lowers survival", "no suppliers raise unit cost"} <= {
        c.name for c in checks}  # fmt: skip
    failed = [(r.check.name, r.error, [x.detail for x in r.results if not x.passed])
              for r in results if not r.passed]  # fmt: skip
    assert not failed
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "units", "reality checks", "integration", "stocks", "behaviour", "wrote the report to "
        f"{report}"]  # fmt: skip
    assert all(": PASS - " in line for line in lines[:5])
    text = report.read_text(encoding="utf-8")
    assert "Result: all checks pass." in text
    for title in ("Units", "Reality checks", "Integration", "Stocks", "Behaviour"):
        assert f"## {title}: PASS" in text
    assert not list(report.parent.glob(".*.tmp"))
    committed = Path(__file__).parent.parent / "validation" / "report.md"
    assert_same_at_precision(report, committed)
