"""Behaviour, structure and robustness of the salmon cluster model (issue 2)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterdyn.calibration.data_io import load_observations
from clusterdyn.calibration.rest_of_world import rest_of_world_supply
from clusterdyn.sdmodels import PUBLIC_OUTPUTS, ModelInputError
from clusterdyn.sdmodels.layout import parse_equations

STAGE_YEARS = {1: range(1978, 1986), 2: range(1986, 1996), 3: range(1996, 2004)}
SHARES = (
    "World market share",
    "Fish survival fraction",
    "Capacity utilisation",
    "Technological capability",
    "Social capital",
    "Market access",
    "Industry concentration",
)


def test_public_outputs_cover_years_1978_2003(model):
    df = model.run()
    assert list(df.columns) == list(PUBLIC_OUTPUTS)
    assert list(df.index) == list(range(1978, 2004))
    assert df.index.name == "year"


def test_model_size_is_documented(model):
    """Both READMEs state the model's size; a structural change must update them."""
    stated = r"(\d+) stocks, (\d+) variables(?: in all \(|,\s+)(\d+) parameters"
    actual = (len(model.stocks), len(model.variables) - 1, len(model.parameters))  # not Time
    for readme in ("README.md", "sdmodels/README.md"):
        text = (Path(__file__).parent.parent / readme).read_text(encoding="utf-8")
        found = re.search(stated, text)
        assert found, readme
        assert tuple(int(g) for g in found.groups()) == actual, readme
    assert {"Production capacity", "Price", "Supplier base", "Social capital"} <= set(model.stocks)


def test_lifecycle_behaviour_has_the_order_of_table_3_1():
    """The calibrated model shows the three stages of Table 3.1 (the .mdl's defaults are the
    shipped calibration's estimates, so the two runs are the same; tested in
    tests/test_supply_limits.py).

    Table 3.1 gives production of 50-900 t (stage 1), 1,350-143,000 t (stage 2) and
    150,000-400,000 t (stage 3), and prices of US$9-10, 4-5 and 2.8-4.5 per kg. "Of the order"
    is tested as: stage-end production within a factor 3 of the table's figure, and each
    stage's mean price within a factor 1.5 of the table's range.
    """
    from clusterdyn.sdmodels import load_model

    calibrated = load_model("salmon_cluster").run(variables=["Production", "Price"])
    prod = calibrated["Production"]
    price = calibrated["Price"]
    for year, figure in ((1985, 900), (1995, 143_000), (2003, 400_000)):
        assert figure / 3 <= prod[year] <= figure * 3, (year, prod[year])
    for stage, (low, high) in {1: (9, 10), 2: (4, 5), 3: (2.8, 4.5)}.items():
        mean_price = price[list(STAGE_YEARS[stage])].mean()
        assert low / 1.5 <= mean_price <= high * 1.5, (stage, mean_price)
    growth = np.log(prod).diff()
    stage_growth = {s: growth[list(STAGE_YEARS[s])[1:]].mean() for s in STAGE_YEARS}
    # take-off: stage 2 grows fastest; stage 3 still grows, with a falling price
    assert stage_growth[2] > stage_growth[1] and stage_growth[2] > stage_growth[3] > 0
    assert price[2003] < price[1996] < price[1986]


def test_golden_trajectory(model):
    """The default run equals the stored golden trajectory.

    Tolerance: relative 1e-6. The same equations and Euler steps give the same arithmetic;
    only libm differences between platforms (exp, power: ~1e-16 relative) can enter, and
    1,664 feedback steps amplify them by far less than 1e-6. Any change to an equation, a
    parameter or the time step moves the outputs by orders of magnitude more. Regenerate with
    ``python -m tests.golden`` after an intended model change (and say why in the commit).
    """
    from tests.golden import GOLDEN_FILE

    expected = pd.read_csv(GOLDEN_FILE, index_col="year")
    actual = model.run()
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=1e-6, atol=0)


def test_all_levers_zero_keeps_the_cluster_small(model):
    """Without any of the nine policies the cluster stays below 10,000 t in 2003.

    Bound: 10,000 t is under 3% of the 373,624 t Chile actually produced in 2003 (FAO) and
    less than Ireland's farmed salmon output that year: a minor producer, not a cluster.
    """
    zero = {p: 0.0 for p in model.parameters if re.search(r" stage \d intensity$", p)}
    assert len(zero) == 27
    run = model.run(params=zero)
    assert run["Production"][2003] < 10_000
    assert run["Production"][2003] < model.run()["Production"][2003] / 10


def test_price_forced_to_zero_stops_investment(model):
    run = model.run(forced={"Price": 0}, variables=["Capacity investment", "Production capacity"])
    assert (run["Capacity investment"] == 0).all()
    assert run["Production capacity"].is_monotonic_decreasing


def test_very_high_demand_gives_no_negative_stock_or_nan(model):
    extreme = {
        "Maximum demand growth rate": model.parameters["Maximum demand growth rate"].upper,
        "Saturation world demand": model.parameters["Saturation world demand"].upper,
        "Initial world demand": model.parameters["Initial world demand"].upper,
    }
    run = model.run(params=extreme, variables="all", until=2030)
    assert np.isfinite(run.to_numpy()).all()
    assert (run[list(model.stocks)] >= 0).all().all()
    # more demand keeps the price at its ceiling longer, so the cluster grows larger
    assert run["Production"][2003] > model.run()["Production"][2003]


def _parameter_box(model):
    return st.fixed_dictionaries(
        {name: st.floats(p.lower, p.upper, allow_nan=False) for name, p in model.parameters.items()}
    )


def test_stocks_nonnegative_and_shares_bounded_over_the_parameter_box(model):
    """Property over the whole declared box: stocks >= 0 and finite, shares in [0, 1].

    Runs on the compiled runner, which equals PySD's run to 1e-9 over the same box
    (tests/test_vectorized.py): 25 PySD runs took 50 s of CI time, these take milliseconds."""
    from clusterdyn.sdmodels.vectorized import compile_model

    runner = compile_model(model)

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(_parameter_box(model))
    def check(params):
        run = runner.run({k: np.array([v]) for k, v in params.items()},
                         variables=list(model.stocks) + list(SHARES)).to_frame(0)
        values = run.to_numpy()
        assert np.isfinite(values).all()
        assert (run[list(model.stocks)] >= 0).all().all()
        shares = run[list(SHARES)]
        assert ((shares >= 0) & (shares <= 1)).all().all(), shares.describe()

    check()


def test_halving_the_time_step_changes_outputs_by_less_than_one_percent():
    """On the shipped (calibrated) run, the run that reports and figures use."""
    from clusterdyn.sdmodels import load_model

    calibrated = load_model("salmon_cluster")
    base = calibrated.run()
    half = calibrated.run(dt=calibrated.time_step / 2)
    worst = ((half - base).abs() / base.abs()).max().max()
    assert worst < 0.01, worst


def test_a_run_never_changes_the_model(model):
    from clusterdyn.sdmodels import load_model

    changed = model.run(params={"Normal investment fraction": 0.9}, until=2010, dt=1 / 32)
    after = model.run()
    fresh = load_model("salmon_cluster", defaults="mdl").run()
    assert not changed.loc[:2003].equals(after)
    pd.testing.assert_frame_equal(after, fresh, check_exact=True)


def test_forecast_to_2030_continues_last_stage_and_extends_rest_of_world(model):
    run = model.run(until=2030, variables=["Rest of world production", "Regulation intensity",
                                           "Biotechnology scheduled intensity", "Production"])
    assert list(run.index) == list(range(1978, 2031))
    growth = model.parameters["Rest of world growth after data"].default
    ratio = run["Rest of world production"][2030] / run["Rest of world production"][2012]
    assert ratio == pytest.approx(math.exp(growth * 18), rel=1e-9)
    stage3 = model.parameters["Biotechnology stage 3 intensity"].default
    assert (run["Biotechnology scheduled intensity"].loc[2004:] == stage3).all()
    assert np.isfinite(run["Production"]).all()


def test_rest_of_world_lookup_equals_shipped_data(model):
    equations = {e.name: e for e in parse_equations(model.mdl_path.read_text(encoding="utf-8"))}
    table = equations["Rest of world production data"].expression
    points = dict(re.findall(r"\((\d{4}),(\d+(?:\.\d+)?)\)", table))
    shipped = rest_of_world_supply()
    assert list(shipped.index) == list(range(1978, 2013))
    assert {int(y): float(v) for y, v in points.items()} == pytest.approx(shipped.to_dict(),
                                                                         abs=1e-6)
    # the calibration data's column is the same series over 1978-2003
    observed = load_observations()["rest_of_world_salmon_t"]
    assert {int(y): float(points[str(y)]) for y in observed.index} == observed.to_dict()


def test_rest_of_world_growth_after_2012_is_the_documented_2003_2012_trend(model):
    """The assumption beyond the data is the log-linear trend its comment says (3 digits)."""
    shipped = rest_of_world_supply().loc[2003:2012]
    slope = np.polyfit(shipped.index.to_numpy(float), np.log(shipped.to_numpy()), 1)[0]
    assert model.parameters["Rest of world growth after data"].default == pytest.approx(
        slope, abs=5e-5)


def test_every_variable_is_documented_with_units(model):
    for name, info in model.variables.items():
        if name == "Time":
            continue
        assert info.units.strip() and info.units != "None", name
        assert len(info.doc.strip()) > 15, name


def test_every_parameter_default_lies_in_its_range(model):
    for p in model.parameters.values():
        assert p.lower <= p.default <= p.upper, p


def test_effects_are_normalised_table_functions(model):
    """Every 'Effect of ...' table passes through (1, 1): f(x/x_ref) with f(1) = 1."""
    equations = parse_equations(model.mdl_path.read_text(encoding="utf-8"))
    tables = [e for e in equations if "WITH LOOKUP" in e.expression.upper()]
    effects = [e for e in tables if e.name.startswith("Effect of")]
    assert len(effects) >= 10
    for eq in effects:
        if eq.name in FEASIBILITY_MULTIPLIERS:
            continue
        points = re.findall(r"\(([-\d.e+]+),([-\d.e+]+)\)", eq.expression)
        assert ("1", "1") in points, eq.name
        assert "/" in eq.expression.split("([")[0], f"{eq.name}: input is not normalised"


#: Tables of a fraction occupied (Forrester's land-fraction-occupied kind): no reference point,
#: 1 when nothing is occupied and 0 when everything is.
FEASIBILITY_MULTIPLIERS = {"Effect of farming area on investment"}


def test_programmes_ramp_up_over_the_build_up_time(model):
    """A lever's effective intensity is a first-order smooth of its schedule: biotechnology,
    scheduled from 0 to 1 in 1996, reaches 1 - exp(-t / T) of it t years later (1e-2 for the
    Euler step)."""
    build_up = model.parameters["Programme build up time"].default
    run = model.run(variables=["Biotechnology intensity", "Biotechnology scheduled intensity"])
    assert run.loc[1995, "Biotechnology intensity"] == 0
    for years in (1, 2, 5):
        expected = 1 - math.exp(-years / build_up)
        assert run.loc[1996 + years, "Biotechnology intensity"] == pytest.approx(expected, abs=1e-2)


def test_regulation_is_a_lasting_stock(model):
    """When the stage-1 regulation priority falls from 1 to 0.5 in 1986, the framework keeps
    growing (it used to decay with the priority)."""
    run = model.run(variables=["Regulatory framework"])["Regulatory framework"]
    assert run.loc[1986] < run.loc[1990]


def test_suppliers_can_start_from_zero(model):
    """No one-firm floor and no entry proportional to the base: with the base held at zero,
    suppliers still enter as soon as the cluster produces (in proportion to its output)."""
    run = model.run(forced={"Supplier base": 0}, variables=["Supplier entry", "Production"])
    assert (run["Supplier entry"] > 0).all()
    assert run.loc[2003, "Supplier entry"] > run.loc[1990, "Supplier entry"]


def test_feasibility_multipliers_fall_from_one_to_zero(model):
    equations = {e.name: e for e in parse_equations(model.mdl_path.read_text(encoding="utf-8"))}
    for name in FEASIBILITY_MULTIPLIERS:
        points = [(float(x), float(y)) for x, y in re.findall(
            r"\(([-\d.e+]+),([-\d.e+]+)\)", equations[name].expression.split("],", 1)[1])]
        assert points[0] == (0, 1) and points[-1] == (1, 0), name
        assert all(b[1] <= a[1] for a, b in zip(points, points[1:], strict=False)), name


def test_each_sector_has_its_own_view(model, tmp_path):
    """PySD's own sketch parser finds one view per sector that together hold every variable."""
    import shutil
    import warnings

    import pysd

    copy = tmp_path / model.mdl_path.name
    shutil.copy(model.mdl_path, copy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = pysd.read_vensim(str(copy), split_views=True, initialize=False)
    views = set(split.modules)
    assert views == {"production", "farming_area", "technology", "environment", "markets",
                     "suppliers", "social_capital", "policy", "firms"}
    placed = {v for members in split.modules.values() for v in members}
    py_names = set(model_doc_py_names(model))
    assert py_names <= placed


def model_doc_py_names(model):
    import pysd

    return [
        n for n in pysd.load(str(model._py_file)).doc["Py Name"]
        if n not in {"initial_time", "final_time", "time_step", "saveper", "time"}
    ]


def test_translation_is_cached_outside_the_package(model):
    from clusterdyn.sdmodels.translation import translated_path

    py_file = translated_path(model.mdl_path)
    assert model.mdl_path.parent not in py_file.parents
    assert model.sha256[:16] in py_file.parent.name
    mtime = py_file.stat().st_mtime_ns
    assert translated_path(model.mdl_path).stat().st_mtime_ns == mtime
    assert not list(model.mdl_path.parent.glob("*.py.translated"))
    assert not (model.mdl_path.parent / "salmon_cluster.py").exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"Normal investment fraktion": 0.5}, "Did you mean 'Normal investment fraction'"),
        ({"Normal investment fraction": "lots"}, "expected a number, got 'lots'"),
        ({"Normal investment fraction": 99}, "outside its declared range [0.05, 1.5]"),
        ({"Normal investment fraction": float("nan")}, "expected a finite number"),
        ({"Kilograms per tonne": 2}, "not a settable parameter"),
    ],
)
def test_bad_parameters_raise_clear_errors(model, params, message):
    with pytest.raises(ModelInputError) as info:
        model.run(params=params)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"until": 1970}, "expected a whole year after 1978"),
        ({"until": 2031}, "no later than 2030"),
        ({"until": 1990.5}, "expected a whole year"),
        ({"dt": 0.3}, "expected 1/n of a year"),
        ({"dt": -1}, "expected 1/n of a year"),
        ({"variables": ["Prodution"]}, "Did you mean 'Production'"),
        ({"forced": {"Prise": 0}}, "Did you mean 'Price'"),
    ],
)
def test_bad_run_settings_raise_clear_errors(model, kwargs, message):
    with pytest.raises(ModelInputError) as info:
        model.run(**kwargs)
    assert message in str(info.value)


def test_unknown_model_name_lists_the_shipped_models():
    from clusterdyn.sdmodels import load_model

    with pytest.raises(ModelInputError, match="salmon_cluster"):
        load_model("salmon")
