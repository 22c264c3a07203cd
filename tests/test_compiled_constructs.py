"""The compiled engine agrees with PySD on every Vensim construct it supports.

Each fixture in ``tests/fixtures/constructs`` exercises a family of constructs (input
functions, delays, smooths, TREND/FORECAST, INITIAL/ACTIVE INITIAL, SAMPLE IF TRUE, math
functions, lookups, logical operators, subscripts); ``compile_mdl(...).run()`` must equal
``pysd.read_vensim(...).run()`` to 1e-9 at every saved time, and the numba backend must equal
the numpy one. Constructs the engine
does not support must raise :class:`UnsupportedConstruct` naming the file, the element and the
construct.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pysd
import pytest

from clusterdyn.sdmodels.compiled import (
    CompiledModel,
    UnsupportedConstruct,
    _clock,
    compile_mdl,
)
from clusterdyn.sdmodels.errors import ModelInputError

FIXTURES = Path(__file__).parent / "fixtures" / "constructs"
SUPPORTED = [
    "input_functions", "delays", "smooths", "trend_forecast", "initials", "math_functions",
    "lookups", "logicals", "sample_if_true", "subscripts",
]
CONTROL = ["INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"]
RTOL = 1e-9


def _pysd_run(path: Path, tmp_path: Path, **kwargs: object) -> pd.DataFrame:
    """PySD's run of a copy of ``path`` (PySD writes its translation beside the .mdl)."""
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    with warnings.catch_warnings():
        # PySD warns when a lookup is read outside its table or a delay order is lowered:
        # the behaviour under test, not a fault.
        warnings.simplefilter("ignore")
        return pysd.read_vensim(str(copy)).run(**kwargs)


def _assert_same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    np.testing.assert_array_equal(np.asarray(ours.index, float),
                                  np.asarray(theirs.index, float))
    expected = theirs[list(ours.columns)].astype(float).to_numpy()
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("name", SUPPORTED)
def test_fixture_equals_pysd(name, tmp_path):
    path = FIXTURES / f"{name}.mdl"
    ours = compile_mdl(path).run()
    theirs = _pysd_run(path, tmp_path)
    # Columns: PySD's, without the control variables.
    assert sorted(ours.columns) == sorted(c for c in theirs.columns if c not in CONTROL)
    assert ours.index.name == "time"
    assert np.isfinite(ours.to_numpy()).all()
    _assert_same(ours, theirs)


@pytest.mark.parametrize("name", SUPPORTED)
def test_numba_backend_equals_numpy_backend(name):
    from clusterdyn.sdmodels._backends import simulator

    path = (FIXTURES / f"{name}.mdl").resolve()
    model = compile_mdl(path)
    expected = model.run()
    compiled = simulator(path, hashlib.sha256(path.read_bytes()).hexdigest(), "numba")
    times, saved, _ = _clock(model.initial_time, model.final_time, model.time_step,
                             model.saveper)
    sel = [compiled.variables.index(c) for c in expected.columns]
    buf = compiled.fill({}, 2, times, float(model.final_time), float(model.time_step), saved,
                        sel, 1)
    for run in range(2):
        np.testing.assert_array_equal(buf[:, :, run], expected.to_numpy())


def test_parameters_and_final_time_as_pysd(tmp_path):
    path = FIXTURES / "delays.mdl"
    params = {"Delay time": 4.5, "Initial output": -2.0}
    ours = compile_mdl(path).run(params, until=12)
    _assert_same(ours, _pysd_run(path, tmp_path, params=params, final_time=12))
    assert ours.index[-1] == 12


def test_saveper_and_time_step_select_the_saved_times(tmp_path):
    model = compile_mdl(FIXTURES / "input_functions.mdl")
    assert (model.time_step, model.saveper) == (0.0625, 0.5)
    ours = model.run()
    assert list(ours.index[:3]) == [0.0, 0.5, 1.0] and len(ours) == 41
    _assert_same(ours, _pysd_run(FIXTURES / "input_functions.mdl", tmp_path))


def test_a_delay_order_too_high_for_the_time_step_is_lowered_as_pysd(tmp_path):
    text = (FIXTURES / "delays.mdl").read_text().replace("TIME STEP  = 0.25",
                                                         "TIME STEP  = 1.25")
    path = tmp_path / "coarse.mdl"
    path.write_text(text)
    model = compile_mdl(path)
    # DELAY3 of 3 at a time step of 1.25 runs with order 2, its delay time fixed.
    assert "Delay time" not in model.constants
    (tmp_path / "pysd").mkdir()
    _assert_same(model.run(), _pysd_run(path, tmp_path / "pysd"))


def test_a_delay_too_short_for_its_order_at_run_time_is_refused():
    model = compile_mdl(FIXTURES / "delays.mdl")
    with pytest.raises(ModelInputError, match="delay of order 3 needs a delay time"):
        model.run({"Delay time": 0.5})


def test_constants_are_the_settable_numbers_of_the_mdl():
    model = compile_mdl(FIXTURES / "delays.mdl")
    # "Delay order" fixes the number of stages of DELAY N: not a parameter.
    assert dict(model.constants) == {"Delay time": 3.0, "Initial output": 7.0}
    with pytest.raises(TypeError):
        model.constants["Delay time"] = 1.0  # type: ignore[index]


def test_runs_do_not_change_the_model():
    model = compile_mdl(FIXTURES / "smooths.mdl")
    first = model.run()
    model.run({"Initial value": 50.0}, until=3)
    pd.testing.assert_frame_equal(model.run(), first)
    with pytest.raises(AttributeError):
        model.final_time = 3.0  # type: ignore[misc]
    assert isinstance(model, CompiledModel)


def test_selected_variables_in_the_order_asked():
    ours = compile_mdl(FIXTURES / "trend_forecast.mdl").run(
        variables=["Out forecast", "Input"])
    assert list(ours.columns) == ["Out forecast", "Input"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"params": {"Delay tme": 2.0}}, r"'Delay tme' is not a constant.*'Delay time'"),
        ({"params": {"Delay time": "2"}}, "expected a number"),
        ({"variables": ["Out delay 1"]}, r"no variable 'Out delay 1'.*'Out delay1'"),
        ({"until": -1}, "expected a time >= 0"),
    ],
)
def test_bad_input_is_refused_with_a_suggestion(kwargs, message):
    with pytest.raises(ModelInputError, match=message):
        compile_mdl(FIXTURES / "delays.mdl").run(**kwargs)


_TINY = """{{UTF-8}}
Rate=
	0.1
	~	1/Month
	~		|

Stock=
	INTEG(Inflow, 1)
	~	Widget
	~		|

Inflow=
	{inflow}
	~	Widget/Month
	~		|

{extra}
FINAL TIME  = 5
	~	Month
	~		|

INITIAL TIME  = 0
	~	Month
	~		|

SAVEPER  = 1
	~	Month
	~		|

TIME STEP  = 0.25
	~	Month
	~		|

\\\\\\---/// Sketch information - do not modify anything except names
V300  Do not put anything below this section - it will be ignored
"""


@pytest.mark.parametrize(
    ("inflow", "extra", "element", "construct"),
    [
        ("RANDOM UNIFORM(0, 1, 3)", "", "Inflow", "the function RANDOM UNIFORM"),
        ("GAME(Rate)", "", "Inflow", "GAME"),
        ("Rate * VECTOR RANK(Share[Dim], 1)", "Dim: one, two\n\t~\t\n\t~\t\t|\n\n"
         "Share[Dim]=\n\t1, 2\n\t~\t\n\t~\t\t|\n\n", "Inflow", "the function VECTOR RANK"),
        ("Rate * Table(Time)", "Table(\n\tGET XLS LOOKUPS('t.xlsx', 'S', 'A', 'B1'))\n\t~\t\n"
         "\t~\t\t|\n\n", "Table", "GET XLS/DIRECT LOOKUPS"),
    ],
)
def test_unsupported_constructs_name_the_element_and_the_construct(
        tmp_path, inflow, extra, element, construct):
    path = tmp_path / "tiny.mdl"
    path.write_text(_TINY.format(inflow=inflow, extra=extra))
    with pytest.raises(UnsupportedConstruct) as raised:
        compile_mdl(path)
    assert str(raised.value).startswith(f"tiny.mdl: element {element!r}: ")
    assert construct in raised.value.construct
    assert "is not supported by the compiled engine" in str(raised.value)
    assert isinstance(raised.value, NotImplementedError)


@pytest.mark.parametrize(
    ("name", "element", "construct"),
    [
        ("get_xls_data", "Prices", "GET XLS/DIRECT DATA"),
        ("macro", "Doubled", "the macro DOUBLE"),
    ],
)
def test_unsupported_fixtures(name, element, construct):
    with pytest.raises(UnsupportedConstruct, match=(
            f"^{name}.mdl: element '{element}': {construct} is not supported by the "
            "compiled engine$")):
        compile_mdl(FIXTURES / f"{name}.mdl")


def test_lookup_extrapolate_continues_the_end_segments():
    # PySD's Vensim translator does not implement LOOKUP EXTRAPOLATE: Vensim's rule, by hand.
    result = compile_mdl(FIXTURES / "lookup_extrapolate.mdl").run()
    x = result["Argument"].to_numpy() * 1.5
    below = 0.0 + (0.12345679 - 0.0) / (1.0 - 0.0) * (x - 0.0)  # PySD's 8-digit points
    above = 8.0 + (8.0 - 3.25) / (7.125 - 4.0) * (x - 7.125)
    expected = np.where(x < 0, below, np.where(x > 7.125, above, result["Held"]))
    np.testing.assert_allclose(result["Extrapolated"], expected, rtol=1e-12)
    assert (x < 0).any() and (x > 7.125).any()
    assert (result["Held"][x > 7.125] == 8.0).all()  # a plain call holds the last value


def test_the_error_survives_pickling():
    error = UnsupportedConstruct("Inflow", "GAME", "tiny.mdl")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.mdl, copy.element, copy.construct, str(copy)) == (
        "tiny.mdl", "Inflow", "GAME", str(error))


def test_missing_file_and_backend_are_input_errors(tmp_path):
    with pytest.raises(ModelInputError, match="no model file"):
        compile_mdl(tmp_path / "absent.mdl")
    with pytest.raises(ModelInputError, match="backend"):
        compile_mdl(FIXTURES / "delays.mdl", backend="numba")


def test_pysd_subscript_ranges_do_not_share_a_mapping_list():
    """PySD 3.14's SubscriptRange has a mutable default mapping that its builder appends to;
    the project's patch (clusterdyn.sdmodels._pysd_patches) gives each range its own list, so
    parsing one model cannot change how a later model in the same process is parsed."""
    from pysd.translators.vensim.vensim_element import SubscriptRange

    import clusterdyn.sdmodels._codegen  # noqa: F401 - applies the patch

    first, second = SubscriptRange("A", ["a1"]), SubscriptRange("B", ["b1"])
    first.mapping.append("C")
    assert second.mapping == [] and SubscriptRange("D", ["d1"]).mapping == []
    assert SubscriptRange("E", ["e1"], ["F"]).mapping == ["F"]
