"""Stage-switched policy scenarios: files, state triggers, KPIs, costs and the CLI.

Runs are shared through module-scoped fixtures (one PySD run takes about 1 s).
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import pandas as pd
import pytest

from clusterdyn import scenarios
from clusterdyn.calibration import calibrated_parameters
from clusterdyn.errors import UsageError
from clusterdyn.scenarios import command
from clusterdyn.scenarios.costs import cost_series, load_costs
from clusterdyn.scenarios.kpis import kpi_table
from clusterdyn.scenarios.spec import LEVERS, intensity_parameter
from clusterdyn.sdmodels import PUBLIC_OUTPUTS, ModelInputError, SimulationError
from clusterdyn.sdmodels.model import _pysd_deprecations_silenced

SHIPPED = [
    "historical", "no_policy", "early_supplier_development", "export_promotion_first",
    "globalisation_without_biotech", "no_environmental_management", "production_triggered",
    "static_policy",
]


@pytest.fixture(scope="module")
def runs():
    return {name: scenarios.run(name) for name in scenarios.available()}


@pytest.fixture(scope="module")
def table(runs):
    return kpi_table(runs, runs["no_policy"])


def _steps(model, params, variable="Production", until=2003):
    """Values of a variable at every time step, straight from PySD (independent of the code)."""
    dt = model.time_step
    stamps = model.initial_time + np.arange(int(round((until - model.initial_time) / dt)) + 1) * dt
    with _pysd_deprecations_silenced():
        out = model._fresh().run(params=params, return_columns=[variable],
                                 return_timestamps=stamps, final_time=float(until),
                                 time_step=dt, progress=False)
    return out.index.to_numpy(), out[variable].to_numpy()


def _write(tmp_path, name, body):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndescription = "test"\nrationale = "test"\n{body}')
    return path


def test_available_lists_the_shipped_scenarios_with_a_rationale():
    assert scenarios.available() == SHIPPED
    for name in SHIPPED:
        scenario = scenarios.load(name)
        assert scenario.name == name and scenario.description
        assert "Pietrobelli" in scenario.rationale or "Table 3.1" in scenario.rationale


def test_historical_is_the_mdl_schedule_and_equals_the_calibrated_baseline(model, runs):
    historical = scenarios.load("historical")
    for lever, values in historical.levers.items():
        for k, value in enumerate(values, start=1):
            assert model.parameters[intensity_parameter(lever, k)].default == value
    assert historical.starts["maturing"] == model.parameters["Maturing stage start year"].default
    baseline = model.run(params=calibrated_parameters())
    pd.testing.assert_frame_equal(runs["historical"].trajectories[list(PUBLIC_OUTPUTS)],
                                  baseline, check_exact=True)


def test_no_policy_gives_less_production_and_exports_than_history(table):
    assert table.loc["no_policy", "production_2003_t"] < table.loc["historical",
                                                                   "production_2003_t"]
    assert (table.loc["no_policy", "cum_export_value_1978_2003_musd"]
            < table.loc["historical", "cum_export_value_1978_2003_musd"])
    assert table.loc["no_policy", "cum_policy_cost_1978_2003_musd"] == 0


def test_every_shipped_scenario_runs_with_finite_kpis(table):
    assert list(table.index) == SHIPPED
    finite = table.drop(index="no_policy", columns=[])
    starts = [c for c in table.columns if c.endswith("_start")]
    values = finite.drop(columns=starts).to_numpy(dtype=float)
    assert np.isfinite(values).all()
    # a stage start is a year, or NaN when its condition never holds ("not reached")
    for name, row in finite[starts].iterrows():
        for column, value in row.items():
            assert math.isnan(value) or 1978 <= value <= 2030, (name, column, value)
    no_policy = table.loc["no_policy"]
    ratios = ["export_gain_per_policy_dollar", "benefit_cost_ratio"]
    assert no_policy[ratios].isna().all()  # documented n/a: measured against itself
    assert np.isfinite(no_policy.drop(ratios).to_numpy(float)).all()


def test_kpis_follow_their_definitions(runs, table):
    historical = runs["historical"]
    exports = historical.trajectories.loc[1978:2003, "Export value"].sum()
    assert table.loc["historical", "cum_export_value_1978_2003_musd"] == pytest.approx(exports)
    costs = load_costs()
    rate = [sum(historical.scenario.levers[lever][k] * costs.per_lever[lever]
                for lever in LEVERS) for k in range(3)]
    expected_cost = 8 * rate[0] + 10 * rate[1] + 8 * rate[2]  # 1978-85, 1986-95, 1996-2003
    assert table.loc["historical", "cum_policy_cost_1978_2003_musd"] == pytest.approx(
        expected_cost)
    gain = (exports - table.loc["no_policy", "cum_export_value_1978_2003_musd"]) / expected_cost
    assert table.loc["historical", "export_gain_per_policy_dollar"] == pytest.approx(gain)
    assert table.loc["historical", "production_2003_t"] == \
        historical.trajectories.loc[2003, "Production"]


def test_cost_of_a_year_counts_the_part_of_the_year_in_each_stage():
    costs = load_costs()
    params = {intensity_parameter(lever, k): float(k == 2) for lever in LEVERS
              for k in (1, 2, 3)}
    series = cost_series(params, {"maturing": 1986.25, "globalisation": math.inf}, 1985, 1987,
                         costs)
    full = sum(costs.per_lever.values())
    assert series.tolist() == pytest.approx([0, 0.75 * full, full])


def test_production_triggered_starts_each_stage_at_the_first_step_the_condition_holds(
        model, runs):
    result = runs["production_triggered"]
    # Stage 1 policies forever: later stages start "never" with the stage-1 mix.
    stage1 = {**calibrated_parameters(), "Maturing stage start year": 2030,
              "Globalisation stage start year": 2030}
    for lever, values in result.scenario.levers.items():
        for k in (1, 2, 3):
            stage1[intensity_parameter(lever, k)] = values[0]
    times, production = _steps(model, stage1)
    maturing = times[np.argmax(production >= 1350)]
    assert result.stage_starts["maturing"] == maturing
    # In the scenario's own run the condition holds at the start and not one step before.
    times, production = _steps(model, result.parameters)
    for stage, threshold in (("maturing", 1350), ("globalisation", 150000)):
        start = result.stage_starts[stage]
        if start is None:  # never reached: the condition holds at no step of the run
            assert (production < threshold).all(), stage
            continue
        i = int(np.flatnonzero(times == start)[0])
        assert production[i] >= threshold > production[i - 1]
        assert (production[:i] < threshold).all()
    params, until = scenarios.scenario_parameters("production_triggered")
    assert until == 2003 and params == dict(result.parameters)
    pd.testing.assert_frame_equal(model.run(params=params),
                                  result.trajectories[list(PUBLIC_OUTPUTS)], check_exact=True)


def test_constructed_trigger_starts_in_the_year_the_history_reaches_the_threshold(
        model, runs, tmp_path):
    # Production of the historical run in 1993 (before its 1996 globalisation start): a
    # globalisation stage waiting for that level must start in 1993 exactly.
    threshold = float(runs["historical"].trajectories.loc[1993, "Production"])
    times, production = _steps(model, runs["historical"].parameters)
    expected = times[np.argmax(production >= threshold)]
    assert expected == 1993.0
    path = _write(tmp_path, "trigger", f'base = "historical"\n[stages.globalisation]\n'
                  f'start = "Production >= {threshold!r}"\n')
    result = scenarios.run(path)
    assert result.stage_starts == {"initial_learning": 1978.0, "maturing": 1986.0,
                                   "globalisation": 1993.0}
    expected_run = model.run(params={**calibrated_parameters(),
                                     "Globalisation stage start year": 1993},
                             variables=list(result.trajectories.columns))
    pd.testing.assert_frame_equal(result.trajectories, expected_run, check_exact=True)


def test_a_condition_never_reached_leaves_the_stage_off(model, runs, tmp_path):
    path = _write(tmp_path, "never", 'base = "historical"\n[stages.globalisation]\n'
                  'start = "Production >= 1e12"\n')
    result = scenarios.run(path)
    assert result.stage_starts["globalisation"] is None
    assert result.start_labels()["globalisation"] == "not reached"
    assert result.trajectories["Lifecycle stage"].max() == 2
    stage2 = {**calibrated_parameters(), "Globalisation stage start year": 2030}
    pd.testing.assert_frame_equal(result.trajectories[list(PUBLIC_OUTPUTS)],
                                  model.run(params=stage2), check_exact=True)
    stage2_cost = runs["historical"].cost.loc[1990]
    assert (result.cost.loc[1996:] == stage2_cost).all()


def test_a_later_condition_waits_for_the_stage_before_it(tmp_path):
    path = _write(tmp_path, "chain", 'base = "historical"\n[stages.maturing]\n'
                  'start = "Production >= 1e12"\n[stages.globalisation]\n'
                  'start = "Production >= 0"\n')
    result = scenarios.run(path)
    assert result.start_labels() == {"initial_learning": "1978", "maturing": "not reached",
                                     "globalisation": "not reached"}
    assert (result.trajectories["Lifecycle stage"] == 1).all()


def test_extra_parameters_may_not_set_a_triggered_start():
    with pytest.raises(scenarios.ScenarioError, match="starts when Production >= 1350"):
        scenarios.run("production_triggered", params={"Maturing stage start year": 1990})


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        ('base = "historical"\n[levers]\nsupplier_developement = [0, 1, 1]\n',
         "levers.supplier_developement", "Did you mean 'supplier_development'"),
        ('base = "historical"\n[levers]\nbiotechnology = [0, 0, 1.5]\n',
         "levers.biotechnology", "must lie in [0, 1]"),
        ('base = "historical"\n[levers]\nbiotechnology = [0, 1]\n',
         "levers.biotechnology", "expected a list of 3 intensities"),
        ('base = "historical"\n[levers]\nbiotechnology = [0, "high", 1]\n',
         "levers.biotechnology", "expected a finite number"),
        ('base = "historical"\n[stages.globalization]\nstart = 1996\n',
         "stages.globalization", "Did you mean 'globalisation'"),
        ('base = "historical"\n[stages.maturing]\nstart = 1997\n',
         "stages.globalisation.start", "calendar stage starts must increase"),
        ('base = "historical"\n[stages.maturing]\nstart = 1970\n',
         "stages.maturing.start", "outside [1978, 2030]"),
        ('base = "historical"\n[stages.maturing]\nstart = "Production ~ 1350"\n',
         "stages.maturing.start", "cannot parse condition"),
        ('base = "historical"\n[stages.maturing]\nstart = "Production >= lots"\n',
         "stages.maturing.start", "cannot parse condition"),
        ('base = "historical"\n[stages.maturing]\nstart = "Prodution >= 1350"\n',
         "stages.maturing.start", "Did you mean 'Production'"),
        ('base = "historical"\n[stages.initial_learning]\nstart = "Production >= 1"\n',
         "stages.initial_learning.start", "cannot wait for a condition"),
        ('base = "historical"\nhorizn = 2010\n', "horizn", "Did you mean 'horizon'"),
        ('base = "historical"\nhorizon = 2040\n', "horizon", "from 2003 to 2030"),
        ('base = "historic"\n', "base", "Did you mean 'historical'"),
        ('base = "historical"\n[parameters]\n"Capacity lifetim" = 12\n',
         "parameters.Capacity lifetim", "Did you mean 'Capacity lifetime'"),
        ('base = "historical"\n[parameters]\n"Capacity lifetime" = 50\n',
         "parameters.Capacity lifetime", "outside its declared range"),
        ('base = "historical"\n[parameters]\n"Biotechnology stage 3 intensity" = 0\n',
         "parameters.Biotechnology stage 3 intensity", "set it in [levers]"),
        ('[levers]\nregulation = [1, 1, 1]\n', "levers", "missing technology_transfer"),
        ('base = "historical"\n[levers\n', None, "not valid TOML"),
    ],
)
def test_invalid_scenario_names_the_file_and_the_key(tmp_path, body, key, message):
    path = _write(tmp_path, "bad", body)
    with pytest.raises(scenarios.ScenarioError) as info:
        scenarios.load(path)
    text = str(info.value)
    assert "bad.toml" in text and message in text
    if key is not None:
        assert f"key {key!r}" in text
    if "Did you mean" in message:  # short lists in full; parameters/variables by command
        assert "Valid: " in text or "ist them with `clusterdyn" in text


def test_name_mismatch_and_circular_base_are_rejected(tmp_path):
    path = tmp_path / "one.toml"
    path.write_text('name = "two"\ndescription = "d"\nrationale = "r"\n')
    with pytest.raises(scenarios.ScenarioError, match="must equal the file name 'one'"):
        scenarios.load(path)
    _write(tmp_path, "a", 'base = "b"\n')
    _write(tmp_path, "b", 'base = "a"\n')
    with pytest.raises(scenarios.ScenarioError, match="circular base: a -> b -> a"):
        scenarios.load(tmp_path / "a.toml")


def test_unknown_scenario_name_lists_the_available_ones():
    with pytest.raises(scenarios.ScenarioError) as info:
        scenarios.load("historic")
    assert "unknown scenario 'historic'" in str(info.value)
    assert all(repr(name) in str(info.value) for name in SHIPPED)


def test_cost_table_is_validated(tmp_path):
    path = tmp_path / "costs.toml"
    path.write_text('basis = "b"\n[levers.regulation]\ncost = -1\nbasis = "x"\n')
    with pytest.raises(scenarios.ScenarioError, match="key 'levers.regulation.cost'"):
        load_costs(path)
    costs = load_costs()
    assert set(costs.per_lever) == set(LEVERS) and all(costs.basis.values())


def _cli(argv):
    """``clusterdyn`` with the scenarios subcommand (the real one once it is wired in)."""
    from clusterdyn import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "scenarios" in sub.choices:
        return cli.main(argv)
    parser = argparse.ArgumentParser(prog="clusterdyn")
    command.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ModelInputError, SimulationError, scenarios.ScenarioError) as exc:
        print(f"clusterdyn {args.command}: error: {exc}", file=sys.stderr)
        return 2


def test_cli_writes_trajectories_and_kpis(tmp_path, capsys, runs):
    out = tmp_path / "out"
    assert _cli(["scenarios", "historical", "static_policy", "-o", str(out)]) == 0
    long = pd.read_csv(out / "trajectories.csv")
    assert list(long.columns) == ["scenario", "year", "variable", "value"]
    assert set(long["scenario"]) == {"historical", "static_policy"}
    assert set(long["variable"]) == {*PUBLIC_OUTPUTS, "Lifecycle stage", "Policy cost"}
    production = long.query("scenario == 'historical' and variable == 'Production'")
    np.testing.assert_allclose(production["value"],
                               runs["historical"].trajectories["Production"], rtol=1e-9)
    kpis = pd.read_csv(out / "kpis.csv", index_col="scenario")
    assert list(kpis.index) == ["historical", "static_policy"]
    markdown = (out / "kpis.md").read_text()
    assert "| historical |" in markdown and "sum of the yearly ``Export value``" in markdown
    assert "wrote 2 scenarios" in capsys.readouterr().out


def test_cli_bad_scenario_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kpis.csv").write_text("previous\n")
    bad = _write(tmp_path, "bad", 'base = "historical"\n[levers]\nbiotech = [0, 0, 1]\n')
    assert _cli(["scenarios", "historical", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "levers.biotech" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["kpis.csv"]
    assert (out / "kpis.csv").read_text() == "previous\n"
    assert _cli(["scenarios", "nonesuch", "-o", str(out)]) == 2
    assert "unknown scenario 'nonesuch'" in capsys.readouterr().err
