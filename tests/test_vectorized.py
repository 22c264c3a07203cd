"""The vectorised runner agrees with PySD and validates its input like ``Model.run``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterdyn.sdmodels import (
    PUBLIC_OUTPUTS,
    ModelInputError,
    SimulationError,
    _codegen,
    load_model,
)
from clusterdyn.sdmodels._backends import _Grid, _Table, simulator
from clusterdyn.sdmodels._jit import _grid_interp, _interp
from clusterdyn.sdmodels.translation import cache_root
from clusterdyn.sdmodels.vectorized import EnsembleResult, compile_model

#: Agreement required with PySD, relative to the PySD value.
RTOL = 1e-9
#: Floor of the denominator: below 1e-5 in magnitude the comparison becomes absolute
#: (|a - b| <= 1e-14). Such values arise from cancellation, e.g. "Price adjustment" =
#: (Indicated Chilean price - Price) / time near equilibrium, with prices of 1-15 USD/kg whose
#: last bit is ~2e-15: a difference of a few ulps of the prices (exp and power are vectorised
#: by numpy with a last-bit difference from the scalar libm that PySD calls) is no disagreement
#: about the model. 1e-14 is about five such ulps. Measured worst ratio: ~1e-12.
TINY = 1e-5
N_PYSD_RUNS = 30


def _worst(actual: np.ndarray, expected: np.ndarray) -> tuple[float, tuple[int, ...]]:
    """Largest |a - b| / max(|b|, TINY), and where it occurs."""
    ratio = np.abs(actual - expected) / np.maximum(np.abs(expected), TINY)
    where = np.unravel_index(np.argmax(ratio), ratio.shape)
    return float(ratio[where]), tuple(int(i) for i in where)


def _box(model, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(p.lower, p.upper, n) for name, p in model.parameters.items()}


@pytest.fixture(scope="module")
def fast(model):
    return compile_model(model)


@pytest.fixture(scope="module")
def box_runs(model) -> tuple[dict[str, np.ndarray], list]:
    """30 parameter sets drawn uniformly in the declared box and their PySD runs (shared by
    both backends: the PySD runs are the cost of the test)."""
    params = _box(model, N_PYSD_RUNS, seed=20261127)
    return params, [model.run({k: float(v[i]) for k, v in params.items()}, variables="all")
                    for i in range(N_PYSD_RUNS)]


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_every_variable_matches_pysd_over_the_parameter_box(model, backend, box_runs):
    """30 parameter sets drawn uniformly in the declared box: every variable, every year."""
    params, expected = box_runs
    result = compile_model(model, backend).run(params, variables="all")
    assert result.variables == tuple(expected[0].columns)
    assert list(result.years) == list(expected[0].index)
    worst, (run, year, var) = _worst(result.values, np.stack([e.to_numpy() for e in expected]))
    assert worst <= RTOL, (worst, run, result.years[year], result.variables[var])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_one_run_equals_model_run_with_defaults(model, backend, default_run):
    result = compile_model(model, backend).run(variables="all")
    assert result.n_runs == 1
    frame = result.to_frame(0)
    pd.testing.assert_index_equal(frame.index, default_run.index)
    pd.testing.assert_index_equal(frame.columns, default_run.columns)
    worst, where = _worst(frame.to_numpy(), default_run.to_numpy())
    assert worst <= RTOL, (worst, where)


def test_until_2030_matches_model_run(model, fast):
    result = fast.run(until=2030)
    expected = model.run(until=2030)
    assert list(result.years) == list(range(1978, 2031))
    worst, where = _worst(result.to_frame(0).to_numpy(), expected.to_numpy())
    assert worst <= RTOL, (worst, where)


def test_other_time_step_matches_model_run(model, fast):
    params = {"Normal investment fraction": 0.5, "Price adjustment time": 2.0}
    result = fast.run(params, dt=1 / 32, until=2010)
    worst, where = _worst(result.to_frame(0).to_numpy(), model.run(params, 2010, 1 / 32).to_numpy())
    assert worst <= RTOL, (worst, where)


def test_scalars_broadcast_over_the_runs(model, fast):
    lifetimes = np.array([6.0, 10.0, 18.0])
    result = fast.run(
        {"Normal investment fraction": 0.4, "Capacity lifetime": lifetimes},
        variables=["Production", "Normal investment fraction", "Capacity lifetime"],
    )
    assert result.n_runs == 3
    np.testing.assert_array_equal(result.get("Normal investment fraction"), 0.4)
    np.testing.assert_array_equal(
        result.get("Capacity lifetime"), np.repeat(lifetimes[:, None], len(result.years), 1)
    )
    expected = model.run({"Normal investment fraction": 0.4, "Capacity lifetime": 18.0})
    worst, where = _worst(result.get("Production")[2], expected["Production"].to_numpy())
    assert worst <= RTOL, (worst, where)
    # All scalars: one run.
    assert fast.run({"Normal investment fraction": 0.4}).n_runs == 1


def test_dataframe_rows_are_runs(model, fast):
    params = pd.DataFrame(
        {"Normal investment fraction": [0.2, 0.3, 0.6, 1.0], "Reference unit cost": 2.5}
    )
    from_frame = fast.run(params)
    from_mapping = fast.run({k: params[k].to_numpy() for k in params.columns})
    assert from_frame.n_runs == 4
    assert from_frame.values.tobytes() == from_mapping.values.tobytes()


def test_output_shapes_and_read_only_values(fast):
    result = fast.run({"Reference world price": np.linspace(6, 14, 7)})
    assert isinstance(result, EnsembleResult)
    assert result.variables == PUBLIC_OUTPUTS
    assert result.values.shape == (7, 26, len(PUBLIC_OUTPUTS))
    assert result.values.dtype == np.float64
    assert result.years.dtype.kind == "i" and result.years[0] == 1978 and result.years[-1] == 2003
    assert result.get("Price").shape == (7, 26)
    frame = result.to_frame(-1)
    assert frame.shape == (26, len(PUBLIC_OUTPUTS)) and frame.index.name == "year"
    assert not result.values.flags.writeable
    with pytest.raises(ModelInputError, match="Did you mean 'Price'"):
        result.get("Prize")
    with pytest.raises(IndexError):
        result.to_frame(7)
    assert fast.run(variables="Price").values.shape == (1, 26, 1)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_runs_are_deterministic(model, backend):
    fast = compile_model(model, backend)
    params = _box(model, 600, seed=7)  # above the size where lookups leave np.interp
    first = fast.run(params, variables="all", workers=1)
    assert fast.run(params, variables="all", workers=1).values.tobytes() == first.values.tobytes()
    threaded = fast.run(params, variables="all", workers=2)
    assert threaded.values.tobytes() == first.values.tobytes()


def test_numba_rows_do_not_depend_on_their_batch(model, fast):
    """Each set is computed on its own: alone, or in any batch, the bytes are the same."""
    params = _box(model, 40, seed=11)
    batch = fast.run(params, variables="all", check_finite=False)
    for row in (0, 17, 39):
        alone = fast.run({k: v[row : row + 1] for k, v in params.items()}, variables="all",
                         check_finite=False)
        assert alone.values[0].tobytes() == batch.values[row].tobytes()


def test_unknown_backend_is_rejected(model):
    with pytest.raises(ModelInputError, match="backend = 'cuda': expected one of 'numba', 'numpy'"):
        compile_model(model, "cuda")


def test_generated_code_is_cached_with_the_translations(model, monkeypatch):
    for backend in ("numba", "numpy"):
        compile_model(model, backend)
        pattern = f"{model.name}-{model.sha256[:16]}-*-{backend}*.py"
        assert list((cache_root() / "vectorized").glob(pattern)), pattern
    simulator.cache_clear()

    def fail(path):
        raise AssertionError(f"regenerated {path}")

    monkeypatch.setattr(_codegen, "generate", fail)
    monkeypatch.setattr(_codegen, "lower", fail)
    for backend in ("numba", "numpy"):
        shape = compile_model(model, backend).run().values.shape
        assert shape == (1, 26, len(PUBLIC_OUTPUTS))


def test_unknown_or_structural_parameter_names_are_rejected(fast):
    with pytest.raises(ModelInputError, match="unknown parameter 'Normal investment fractoin'"):
        fast.run({"Normal investment fractoin": np.array([0.3, 0.4])})
    with pytest.raises(ModelInputError, match="Did you mean 'Normal investment fraction'"):
        fast.run({"Normal investment fractoin": 0.3})
    with pytest.raises(ModelInputError, match="'Kilograms per tonne' is not a settable"):
        fast.run({"Kilograms per tonne": np.array([1000.0])})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            np.r_[np.full(7, 0.3), 2.0, 0.3],
            r"'Normal investment fraction' = 2 \(row 7\) is outside",
        ),
        (
            np.r_[0.3, np.nan],
            r"'Normal investment fraction': expected a finite number, got nan \(row 1\)",
        ),
        (np.array([True, False]), "expected numbers, got booleans"),
        (np.array(["0.3", "x"]), "expected numbers"),
        (np.ones((2, 2)), r"1-D array .* shape \(2, 2\)"),
        (np.array([]), r"shape \(0,\)"),
        (5.0, r"'Normal investment fraction' = 5 is outside its declared range \[0.05, 1.5\]"),
    ],
)
def test_bad_parameter_values_name_the_parameter(fast, value, message):
    with pytest.raises(ModelInputError, match=message):
        fast.run({"Normal investment fraction": value})


def test_arrays_of_different_lengths_are_rejected(fast):
    with pytest.raises(ModelInputError, match="'Capacity lifetime': 3 values, but other"):
        fast.run(
            {"Normal investment fraction": np.ones(2) / 2, "Capacity lifetime": np.ones(3) * 9}
        )


def test_time_and_variable_arguments_are_checked_as_in_model_run(fast):
    with pytest.raises(ModelInputError, match="until = 2040"):
        fast.run(until=2040)
    with pytest.raises(ModelInputError, match="dt = 0.3"):
        fast.run(dt=0.3)
    with pytest.raises(ModelInputError, match="unknown variable 'Prodution'"):
        fast.run(variables=["Prodution"])
    with pytest.raises(ModelInputError, match="workers = 0"):
        fast.run(workers=0)


def test_grid_lookups_equal_np_interp(model):
    """The exact segment search gives np.interp's values bit for bit, also outside the table."""
    tables = [t for t in _codegen.generate(model.mdl_path).tables if t[2] is not None]
    assert len(tables) >= 10
    rng = np.random.default_rng(3)
    for xs, ys, grid in tables:
        x = np.concatenate(
            [
                rng.uniform(-1, xs[-1] + 1, 5000),
                xs,
                np.nextafter(xs, -np.inf),
                np.nextafter(xs, np.inf),
                [np.inf, -np.inf, np.nan],
            ]
        )
        with np.errstate(invalid="ignore"):  # NaN has no grid cell; it gives NaN
            actual = _Table(xs, ys, grid)(_Grid(*grid)(x))
        np.testing.assert_array_equal(actual, np.interp(x, xs, ys))
        for value in x[-20:]:  # scalars: np.interp's steps in Python
            assert np.array_equal(_Table(xs, ys, grid)(value), np.interp(value, xs, ys), True)


def test_compiled_lookups_equal_np_interp(model):
    """The numba kernel's lookups (grid cells and bisection) give np.interp's values exactly."""
    from clusterdyn.sdmodels._jit import _grid_arrays

    rng = np.random.default_rng(4)
    for xs, ys, grid in _codegen.generate(model.mdl_path).tables:
        x = np.concatenate([rng.uniform(xs[0] - 1, xs[-1] + 1, 2000), xs,
                            np.nextafter(xs, -np.inf), np.nextafter(xs, np.inf),
                            [np.inf, -np.inf, np.nan]])
        expected = np.interp(x, xs, ys)
        table_x, table_y = np.array(xs), np.array(ys)
        bisected = np.array([_interp(v, table_x, table_y) for v in x])
        np.testing.assert_array_equal(bisected, expected)
        if grid is not None:
            arrays = [np.array(a) for a in _grid_arrays(xs, ys, *grid)]
            on_grid = np.array([_grid_interp(v, grid[1], grid[0], *arrays) for v in x])
            np.testing.assert_array_equal(on_grid, expected)


_TINY_MODEL = """\
{{UTF-8}}
Stock= INTEG (
	Inflow,
		1)
	~	widgets
	~		|

Inflow=
	{inflow}
	~	widgets/Year
	~		|

Rate=
	0.1
	~	1/Year [-1,1]
	~		|

FINAL TIME  = 5
	~	Year
	~		|

INITIAL TIME  = 0
	~	Year
	~		|

SAVEPER  = 1
	~	Year
	~		|

TIME STEP  = 0.25
	~	Year
	~		|

\\\\\\---/// Sketch information - do not modify anything except names
V300  Do not put anything below this section - it will be ignored
"""


def _tiny(tmp_path, inflow: str):
    path = tmp_path / "tiny.mdl"
    path.write_text(_TINY_MODEL.format(inflow=inflow))
    return path


@pytest.mark.parametrize(
    ("inflow", "construct"),
    [
        ("RANDOM UNIFORM(0, 1, 3)", "the function RANDOM UNIFORM"),
        ("GAME(Rate)", "GAME"),
        ("GET TIME VALUE(0, 0, 0)", "the function GET TIME VALUE"),
        ("VECTOR RANK(Rate, 1)", "the function VECTOR RANK"),
    ],
)
def test_unsupported_constructs_fail_loudly(tmp_path, inflow, construct):
    with pytest.raises(NotImplementedError, match=f"element 'Inflow': .*{construct}"):
        _codegen.generate(_tiny(tmp_path, inflow))
    with pytest.raises(NotImplementedError, match=f"element 'Inflow': .*{construct}"):
        compile_model(load_model(str(_tiny(tmp_path, inflow))))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_non_finite_values_raise_unless_asked_to_keep_them(tmp_path, backend):
    tiny = compile_model(load_model(str(_tiny(tmp_path, "Rate / (Time - 2)"))), backend)
    with pytest.raises(SimulationError, match=r"2 run\(s\) \(rows 0, 1\) from 2 in Inflow"):
        tiny.run({"Rate": np.array([0.1, 0.2])}, variables=["Inflow", "Stock"])
    kept = tiny.run({"Rate": np.array([0.1, 0.2])}, variables=["Inflow"], check_finite=False)
    assert np.isinf(kept.get("Inflow")[:, 2]).all()


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_ln_and_exp_match_pysd(tmp_path, backend):
    """LN and EXP (experience-curve exponents such as LN(progress ratio)/LN(2)) equal PySD's
    numpy results to 1e-12 relative; LN of a negative number gives NaN as in numpy."""
    model = load_model(str(_tiny(tmp_path, "EXP(Rate) * LN(1 + Stock) ^ (LN(0.8) / LN(2))")))
    rates = np.array([-0.5, 0.0, 0.3])
    fast = compile_model(model, backend).run({"Rate": rates}, variables=["Inflow", "Stock"])
    for i, rate in enumerate(rates):
        expected = model.run(params={"Rate": float(rate)}, variables=["Inflow", "Stock"])
        np.testing.assert_allclose(fast.get("Inflow")[i], expected["Inflow"], rtol=1e-12)
        np.testing.assert_allclose(fast.get("Stock")[i], expected["Stock"], rtol=1e-12)
    negative = compile_model(load_model(str(_tiny(tmp_path, "LN(Rate)"))), backend)
    kept = negative.run({"Rate": np.array([-1.0])}, variables=["Inflow"], check_finite=False)
    assert np.isnan(kept.get("Inflow")).all()
