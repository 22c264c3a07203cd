"""Ensembles: Monte Carlo bands, Sobol' and Morris indices, Dask scale-out, the CLI.

Sizes are kept small (tens to hundreds of runs) so the file runs in well under a minute; the
properties tested do not depend on the size.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterdyn.ensembles.bands import (
    BAND_COLUMNS,
    BANDS,
    band_table,
    bands_samples,
    latin_hypercube,
    monte_carlo_bands,
    sampling_ranges,
)
from clusterdyn.ensembles.command import main
from clusterdyn.ensembles.distributed import (
    ClusterError,
    dask_client,
    dataset_bands,
    read_samples,
    read_variable,
    stream_to_parquet,
)
from clusterdyn.ensembles.runner import plan_ensemble, run_ensemble
from clusterdyn.ensembles.sensitivity import (
    KPIS,
    build_problem,
    factor_names,
    morris_indices,
    sobol_indices,
)
from clusterdyn.sdmodels import PUBLIC_OUTPUTS, ModelInputError
from clusterdyn.sdmodels.vectorized import compile_model

N_BANDS = 256

#: Free parameters of the shipped calibration (the calibrated factors of the ensembles).
N_CALIBRATED = len(tomllib.loads(
    Path("calibration/results/salmon_cluster.toml").read_text(encoding="utf-8"))["parameters"])


@pytest.fixture(scope="module")
def ranges(model):
    return sampling_ranges(model)


@pytest.fixture(scope="module")
def bands(model):
    return monte_carlo_bands(model, N_BANDS, seed=7, chunk_size=100)


@pytest.fixture(scope="module")
def calibrated_run(model, ranges):
    return model.run({r.name: r.value for r in ranges})


def test_sampling_ranges_are_the_calibrated_intervals_clipped_to_declared(model, ranges):
    by_name = {r.name: r for r in ranges}
    assert len(ranges) == N_CALIBRATED
    for r in ranges:
        declared = model.parameters[r.name]
        assert declared.lower <= r.low < r.high <= declared.upper
    # identified: the 95% interval; not identified: the whole search range (also its interval)
    shipped = tomllib.loads(Path("calibration/results/salmon_cluster.toml").read_text())
    interval = shipped["parameters"]["Reference unit cost"]
    assert (by_name["Reference unit cost"].low, by_name["Reference unit cost"].high) == (
        interval["lower_95"], interval["upper_95"])
    assert by_name["Technology transfer effectiveness"].basis == "search range"
    assert (by_name["Initial market access"].low, by_name["Initial market access"].high) == (
        0.05, 0.5)


def test_sampling_ranges_clip_an_interval_that_leaves_the_declared_range(model, tmp_path):
    path = tmp_path / "results.toml"
    path.write_text('[parameters."Capacity lifetime"]\nvalue = 19.0\nlower_95 = 15.0\n'
                    'upper_95 = 30.0\n[parameters."Normal investment fraction"]\nvalue = 0.5\n'
                    'lower_95 = 0.5\nupper_95 = 0.5\n')
    lifetime, fraction = sampling_ranges(model, path)
    assert (lifetime.low, lifetime.high) == (15.0, model.parameters["Capacity lifetime"].upper)
    assert fraction.low == fraction.high == 0.5
    samples, base, _ = bands_samples(model, 5, seed=0, results=path)
    assert list(samples.columns) == ["Capacity lifetime"] and base == {
        "Normal investment fraction": 0.5}


def test_latin_hypercube_is_seeded_stratified_and_inside_the_ranges(ranges):
    n = 50
    first = latin_hypercube(ranges, n, seed=3)
    pd.testing.assert_frame_equal(first, latin_hypercube(ranges, n, seed=3))
    assert not first.equals(latin_hypercube(ranges, n, seed=4))
    for r in ranges:
        unit = (first[r.name] - r.low) / (r.high - r.low)
        assert unit.between(0, 1).all()
        # one sample in each of the n equal strata of every parameter
        assert sorted(np.floor(unit * n).astype(int).clip(0, n - 1)) == list(range(n))
    with pytest.raises(ModelInputError, match="positive number of runs"):
        latin_hypercube(ranges, 0, seed=0)
    with pytest.raises(ModelInputError, match="seed = None"):
        latin_hypercube(ranges, 5, seed=None)


def test_bands_are_tidy_and_nested(bands):
    assert tuple(bands.columns) == BAND_COLUMNS
    assert len(bands) == len(PUBLIC_OUTPUTS) * 26 * len(BANDS)
    assert list(dict.fromkeys(bands["variable"])) == list(PUBLIC_OUTPUTS)
    wide = bands.pivot_table(index=["variable", "year"], columns="band", values=["low", "high"])
    for inner, outer in zip(BANDS, BANDS[1:], strict=False):
        assert (wide["low", outer] <= wide["low", inner]).all()
        assert (wide["high", inner] <= wide["high", outer]).all()
    median = bands[bands["band"] == 50]
    assert ((median["low"] <= median["median"]) & (median["median"] <= median["high"])).all()


def test_bands_are_vensim_percentiles_of_the_runs(model, bands):
    samples, base, _ = bands_samples(model, N_BANDS, seed=7)
    production = compile_model(model).run({**base, **samples}).get("Production")
    rows = bands[bands["variable"] == "Production"].set_index(["year", "band"])
    for band, (low, high) in {50: (25, 75), 95: (2.5, 97.5)}.items():
        expected = np.percentile(production, [low, high], axis=0)
        np.testing.assert_array_equal(rows.xs(band, level="band")[["low", "high"]].T, expected)
    np.testing.assert_array_equal(rows.xs(100, level="band")["low"], production.min(axis=0))
    np.testing.assert_array_equal(rows.xs(100, level="band")["high"], production.max(axis=0))


def test_calibrated_run_lies_inside_the_bands(bands, calibrated_run):
    # Price and Technological capability are left out: four calibrated parameters sit at an end
    # of their sampled range (Initial market access and Technology transfer effectiveness at the
    # top), so in early years the calibrated run is the envelope of the ensemble itself.
    wide = bands[bands["band"] == 100].set_index(["variable", "year"])
    for name in ("Production", "Production capacity", "Export value", "World market share",
                 "Supplier base", "Social capital"):
        low, high = wide.loc[name, "low"], wide.loc[name, "high"]
        value = calibrated_run[name]
        assert ((low <= value * (1 + 1e-12)) & (value <= high * (1 + 1e-12))).all(), name
    # the ensemble is centred near the calibrated run in 1978 (before dynamics spread it)
    median = bands[(bands["band"] == 50) & (bands["year"] == 1978)].set_index("variable")
    np.testing.assert_allclose(median.loc["Production", "median"],
                               calibrated_run.loc[1978, "Production"], rtol=0.6)


def test_chunking_and_one_row_chunks_do_not_change_results(model):
    # (two-row chunks: the Dask test; one-row chunks are padded past the scalar path)
    samples, base, _ = bands_samples(model, 3, seed=1)
    plan = plan_ensemble(model, samples, base=base)
    np.testing.assert_array_equal(run_ensemble(plan, chunk_size=1).values,
                                  run_ensemble(plan).values)


def test_dask_local_cluster_gives_the_local_result_and_streams_it(model, tmp_path):
    samples, base, _ = bands_samples(model, 200, seed=2)
    plan = plan_ensemble(model, samples, base=base)
    local = run_ensemble(plan)
    with dask_client(workers=2, processes=False) as client:
        remote = run_ensemble(plan, chunk_size=50, client=client)
        folder = stream_to_parquet(plan, tmp_path / "runs", chunk_size=50, client=client,
                                   metadata={"seed": 2})
    assert client.status == "closed"
    np.testing.assert_array_equal(remote.values, local.values)
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet",
        "part-00003.parquet", "samples.parquet"]
    np.testing.assert_array_equal(read_variable(folder, "Price"), local.get("Price"))
    pd.testing.assert_frame_equal(read_samples(folder).reset_index(drop=True), samples)
    expected = band_table(local.years, {v: local.get(v) for v in local.variables})
    pd.testing.assert_frame_equal(dataset_bands(folder), expected)


@pytest.mark.parametrize(("address", "message"), [
    ("tcp://127.0.0.1:9", "cannot reach the Dask scheduler"),
    ("localhost", "invalid Dask scheduler address 'localhost'"),
])
def test_bad_scheduler_is_one_clear_error(address, message):
    with pytest.raises(ClusterError, match=message):
        with dask_client(address, timeout=1):
            pass


def test_sobol_problem_comes_from_the_parameter_declarations(model):
    names = factor_names(model)
    assert len(names) == N_CALIBRATED + 27
    problem = build_problem(model)
    for name, bounds in zip(problem["names"], problem["bounds"], strict=True):
        assert bounds == [model.parameters[name].lower, model.parameters[name].upper]
    levers = [b for n, b in zip(names, problem["bounds"], strict=True) if "intensity" in n]
    assert len(levers) == 27 and all(b == [0.0, 1.0] for b in levers)
    search = dict(zip(names, build_problem(model, ranges="search")["bounds"], strict=True))
    assert search["Reference unit cost"] == [1.5, 6.0]


def test_sobol_small_n_gives_finite_indices_with_confidence_and_a_convergence_check(model):
    result = sobol_indices(model, 8, seed=0)
    factors = N_CALIBRATED + 27
    assert result.runs == 16 * (factors + 2) and result.n_base == 16
    table = result.indices
    assert len(table) == len(KPIS) * factors
    values = table[["S1", "S1_conf", "ST", "ST_conf"]].to_numpy()
    assert np.isfinite(values).all() and (table[["S1_conf", "ST_conf"]] >= 0).all().all()
    assert list(result.convergence["n_first"]) == [8] * len(KPIS)
    assert np.isfinite(result.convergence[["max_change_S1", "max_change_ST"]]).all().all()
    again = sobol_indices(model, 8, seed=0)
    pd.testing.assert_frame_equal(again.indices, table)
    with pytest.raises(ModelInputError, match="power of 2"):
        sobol_indices(model, 12, seed=0)


def test_morris_runs_and_gives_nonnegative_mu_star(model):
    result = morris_indices(model, 4, seed=0, log_kpis=True)
    assert result.runs == 4 * (N_CALIBRATED + 27 + 1)
    table = result.indices
    assert set(table["kpi"]) >= {"log10(Production 2003)", "Social capital 2003"}
    assert np.isfinite(table[["mu", "mu_star", "sigma"]].to_numpy()).all()
    assert (table["mu_star"] >= 0).all()


def test_bands_cli_same_seed_same_bytes_locally_and_on_dask(tmp_path, capsys):
    argv = ["sensitivity", "bands", "-n", "64", "--seed", "5", "--no-progress"]
    assert main([*argv, "-o", str(tmp_path / "a")]) == 0
    assert main([*argv, "-o", str(tmp_path / "b"), "--workers", "2", "--threads",
                 "--chunk-size", "20", "--save-runs"]) == 0
    assert "64 runs; wrote bands.csv" in capsys.readouterr().out
    for name in ("bands.csv", "ranges.csv", "bands.png", "bands.svg", "bands.pdf"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "b" / "runs" / "manifest.json").is_file()
    svg = (tmp_path / "a" / "bands.svg").read_text()
    assert "<dc:date>" not in svg and "<dc:creator>" not in svg
    pdf = (tmp_path / "a" / "bands.pdf").read_bytes()
    assert b"/CreationDate" not in pdf and b"/Producer" not in pdf
    assert b"Software" not in (tmp_path / "a" / "bands.png").read_bytes()
    frame = pd.read_csv(tmp_path / "a" / "bands.csv")
    assert tuple(frame.columns) == BAND_COLUMNS


def test_sobol_and_morris_cli_write_tables_and_figures(tmp_path):
    out = tmp_path / "gsa"
    assert main(["sensitivity", "sobol", "-n", "4", "--seed", "1", "--no-progress",
                 "-o", str(out)]) == 0
    assert main(["sensitivity", "morris", "-r", "2", "--seed", "1", "--no-progress",
                 "-o", str(out)]) == 0
    for name in ("sobol_indices.csv", "sobol_convergence.csv", "sobol_problem.csv", "sobol.png",
                 "sobol.svg", "sobol.pdf", "morris_indices.csv", "morris_problem.csv",
                 "morris.png", "morris.svg", "morris.pdf"):
        assert (out / name).is_file(), name
    assert len(pd.read_csv(out / "sobol_convergence.csv")) == len(KPIS)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sensitivity", "bands", "-n", "0", "-o", "x"], "argument -n/--runs: expected a "
         "positive whole number, got '0'"),
        (["sensitivity", "bands", "-n", "ten", "-o", "x"], "got 'ten'"),
        (["sensitivity", "frobnicate"], "invalid choice: 'frobnicate'"),
        (["sensitivity"], "the following arguments are required: ANALYSIS"),
        (["sensitivity", "sobol", "-n", "100", "-o", "x"], "expected a power of 2"),
        (["sensitivity", "morris", "--levels", "3", "-o", "x"], "expected an even number"),
        (["sensitivity", "bands", "--seed", "-1", "-o", "x"], "expected a whole number of at "
         "least 0, got '-1'"),
        (["sensitivity", "bands", "-o", "x", "--workers", "2", "--scheduler", "tcp://h:1"],
         "not allowed with argument"),
    ],
)
def test_cli_bad_arguments_are_clear_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threads"], "--threads applies to --workers K"),
        (["--results", "missing.toml"], "no calibration results missing.toml"),
    ],
)
def test_cli_bad_options_give_one_line_and_keep_existing_output(tmp_path, capsys, extra,
                                                                message):
    out = tmp_path / "out"
    out.mkdir()
    (out / "bands.csv").write_text("previous\n")
    code = main(["sensitivity", "bands", "-n", "8", "--no-progress", "-o", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert (out / "bands.csv").read_text() == "previous\n"
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert main(["sensitivity", "bands", "-n", "8", "-o", str(blocked)]) == 2
    assert "expected a folder" in capsys.readouterr().err


def test_posterior_samples_keep_the_calibrated_correlation(model, ranges):
    """Joint normal draws with the calibrated covariance: seeded, inside the search bounds, and
    with the correlation of the results file. Tolerance 0.05 on a correlation: its sampling
    error with 20,000 draws is about 0.01; truncation at the search bounds shifts it a little."""
    import tomllib

    from clusterdyn.calibration.shipped import RESULTS_DIR

    samples, _, _ = bands_samples(model, 20_000, seed=5, sampling="posterior")
    again, _, _ = bands_samples(model, 20_000, seed=5, sampling="posterior")
    pd.testing.assert_frame_equal(samples, again)
    from clusterdyn.calibration.spec import load_spec

    search = {p.name: (p.lower, p.upper) for p in load_spec(model).parameters}
    for name in samples.columns:
        assert samples[name].between(*search[name]).all(), name
    with (RESULTS_DIR / f"{model.name}.toml").open("rb") as handle:
        corr = tomllib.load(handle)["correlation"]
    order, matrix = corr["order"], np.array(corr["matrix"])
    with (RESULTS_DIR / f"{model.name}.toml").open("rb") as handle:
        estimates = tomllib.load(handle)["parameters"]

    def untruncated(name: str) -> bool:
        # the search bounds truncate the normal: compare correlations only where they cut
        # less than the outer 1% (2.5 standard errors on either side)
        low, high = search[name]
        value, stderr = estimates[name]["value"], estimates[name]["stderr"]
        return low <= value - 2.5 * stderr and value + 2.5 * stderr <= high

    joint = [r.name for r in ranges
             if r.basis == "95% interval" and r.high > r.low and untruncated(r.name)]
    assert len(joint) >= 3
    for i, a in enumerate(joint):
        for b in joint[i + 1:]:
            expected = matrix[order.index(a), order.index(b)]
            actual = np.corrcoef(samples[a], samples[b])[0, 1]
            # 0.08: the rejection of draws outside the search bounds (the normal investment
            # fraction sits at its bound, correlated 0.93 with the unit cost) reshapes the
            # joint a little even for pairs that are themselves far from their bounds
            assert abs(actual - expected) <= 0.08, (a, b, actual, expected)
    # narrower than independent sampling within the same intervals
    lhs, _, _ = bands_samples(model, 20_000, seed=5)
    assert (samples[joint].std() < lhs[joint].std()).all()


def test_posterior_sampling_needs_the_covariance(model, tmp_path):
    from clusterdyn.calibration.shipped import RESULTS_DIR

    text = (RESULTS_DIR / f"{model.name}.toml").read_text()
    path = tmp_path / "no_corr.toml"
    path.write_text(text[: text.index("[correlation]")])
    with pytest.raises(ModelInputError, match="no_corr.toml: posterior sampling needs"):
        bands_samples(model, 10, seed=0, results=path, sampling="posterior")
    with pytest.raises(ModelInputError, match="sampling = 'gibbs': expected one of lhs"):
        bands_samples(model, 10, seed=0, sampling="gibbs")
