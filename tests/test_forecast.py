"""The forecast instrument: `clusterdyn forecast`, its files, its errors and its determinism
(forecasting.pipeline, forecasting.evaluate, forecasting.command)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from clusterdyn.calibration.objective import SparseDataWarning
from clusterdyn.calibration.shipped import RESULTS_DIR
from clusterdyn.forecasting import evaluate, pipeline, shipped
from clusterdyn.forecasting.command import TABLES
from clusterdyn.sdmodels.errors import ModelInputError

HOLDOUT = RESULTS_DIR / "salmon_cluster_until_1995.toml"
FULL = RESULTS_DIR / "salmon_cluster.toml"
CLI = [sys.executable, "-m", "clusterdyn.cli"]


#: The test whose forecast runs in the background while the module's other tests run.
REGENERATION = "test_the_committed_evaluation_regenerates"


@pytest.fixture(scope="module", autouse=True)
def origin_1990(request):
    """The forecast from origin 1990 (full calibration and chain, about 2 minutes on the
    2-core CI machine) that :func:`test_the_committed_evaluation_regenerates` checks, started
    in one worker process (one thread) as the module starts, when that test is to run: the
    module's other tests (one core) run meanwhile. The worker is the pipeline's own
    (``_forecast_in_worker``: the result and the warnings raised, which the test re-raises
    under its ``pytest.warns``). Yields the future, or None if the test is not selected."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    wanted = any(item.module is request.module and item.originalname == REGENERATION
                 for item in request.session.items)
    if not wanted:
        yield None
        return
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=pipeline._one_thread_per_process)
    future = pool.submit(pipeline._forecast_in_worker, 1990, {})
    try:
        yield future
    finally:
        if not future.done():  # the run stopped before the test took the result
            for process in list((pool._processes or {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def from_1995():
    """The shipped 1995 calibration and its shipped MCMC draws: no fit, no chain (2 s)."""
    return pipeline.forecast(1995, results=HOLDOUT, progress=False)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600)


def _in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``clusterdyn ARGS`` run by :func:`clusterdyn.cli.main` in this process: (exit code,
    stdout, stderr) as ``python -m clusterdyn.cli`` (``sys.exit(main())``) gives them, an
    argparse error's SystemExit included. A bad-input case then costs no interpreter start
    and import of its own (3-7 s each on the CI machine; the separate process itself is
    covered by tests/test_cli.py and the forecast run below)."""
    from clusterdyn.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the result ----------------------------------------------------------------------------
def test_every_method_forecasts_every_target_with_nested_intervals(from_1995):
    table = from_1995.forecasts
    assert list(table.columns) == evaluate.FORECAST_COLUMNS
    assert set(table["method"]) == set(evaluate.METHODS)
    assert set(table["variable"]) == {"Production", "Price", "World market share"}
    assert sorted(set(table["year"])) == list(range(1996, 2004))
    assert len(table) == 5 * 3 * 8
    for inner, outer in zip(evaluate.LEVEL_NAMES, evaluate.LEVEL_NAMES[1:], strict=False):
        assert (table[f"lower_{outer}"] <= table[f"lower_{inner}"]).all()
        assert (table[f"upper_{inner}"] <= table[f"upper_{outer}"]).all()
    assert (table["lower_95"] > 0).all()


def test_the_model_point_is_the_run_at_the_estimates(from_1995):
    from clusterdyn.sdmodels import load_model

    run = load_model(defaults="mdl").with_calibration(HOLDOUT).run()
    model = from_1995.forecasts.query("method == 'model' and variable == 'Production'")
    expected = run.loc[1996:2003, "Production"].to_numpy()
    assert model["point"].to_numpy() == pytest.approx(expected, rel=1e-5)


def test_skill_cells_recompute_from_the_forecasts(from_1995):
    skill = from_1995.skill
    assert list(skill.columns) == evaluate.SKILL_COLUMNS
    merged = skill.merge(from_1995.forecasts, on=["method", "origin", "year", "variable"],
                         suffixes=("", "_f"))
    assert len(merged) == len(skill) == 5 * 3 * 8
    # the tables hold 6 significant digits: a point of 1.01156 gives an error of 0.0115600 +-
    # 1e-5 however many digits the error itself is written with
    assert merged["ape"].to_numpy() == pytest.approx(
        np.abs(merged["point"] / merged["observed"] - 1).to_numpy(), rel=1e-4, abs=1e-5)
    log = merged["variable"] != "World market share"
    y = np.where(log, np.log(merged["observed"]), merged["observed"])
    lo = np.where(log, np.log(merged["lower_90"]), merged["lower_90"])
    hi = np.where(log, np.log(merged["upper_90"]), merged["upper_90"])
    assert merged["covered_90"].tolist() == ((lo <= y) & (y <= hi)).astype(int).tolist()
    assert (skill["horizon"] == skill["year"] - 1995).all()
    # rank 1 has the smallest CRPS of its cell
    best = skill.loc[skill.groupby(["variable", "horizon"])["crps"].idxmin()]
    assert (best["rank"] == 1).all()


def test_aggregates_are_the_means_of_the_cells(from_1995):
    overall = from_1995.overall().set_index(["method", "variable"])
    cells = from_1995.skill.query("method == 'gompertz' and variable == 'Production'")
    row = overall.loc[("gompertz", "Production")]
    assert row["n"] == 8
    assert row["mape"] == pytest.approx(cells["ape"].mean(), rel=1e-3)
    assert row["rmse_log"] == pytest.approx(np.sqrt((cells["log_error"] ** 2).mean()), rel=1e-3)
    assert row["coverage_90"] == pytest.approx(cells["covered_90"].mean())
    assert sorted(from_1995.by_horizon()["horizon"].unique()) == list(range(1, 9))


def test_the_posterior_predictive_is_wider_than_parameter_uncertainty(from_1995):
    # Observation error is added to the trajectories: even at horizon 1 the 90% interval of
    # production is at least as wide as 2 x 1.645 x s x sigma on the log scale.
    from clusterdyn.calibration.results import read_results
    from clusterdyn.forecasting.predictive import FittedCalibration

    fitted = FittedCalibration.from_results(read_results(HOLDOUT))
    first = from_1995.forecasts.query("method == 'model' and variable == 'Production' and "
                                      "year == 1996").iloc[0]
    width = np.log(first["upper_90"] / first["lower_90"])
    assert width >= 2 * 1.645 * fitted.residual_scale * 0.15 * 0.97


# -- determinism ---------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_other_noise(from_1995):
    again = pipeline.forecast(1995, results=HOLDOUT, progress=False)
    for table in ("forecasts", "skill"):
        assert getattr(again, table).to_csv() == getattr(from_1995, table).to_csv()
    other = pipeline.forecast(1995, results=HOLDOUT, progress=False, seed=1)
    assert other.forecasts["upper_95"].to_numpy() != pytest.approx(
        from_1995.forecasts["upper_95"].to_numpy(), rel=1e-9)
    baselines = from_1995.forecasts["method"] != "model"
    assert other.forecasts[baselines].equals(from_1995.forecasts[baselines])


def test_rolling_origin_does_not_depend_on_the_processes():
    options = {"quick": True, "steps": 60, "draws": 100, "seed": 2, "progress": False}
    with pytest.warns(SparseDataWarning, match="origin 1990: the data 1978-1990 hold 19"):
        serial = pipeline.rolling_origin([1990, 2001], jobs=1, **options)
    with pytest.warns(SparseDataWarning):
        parallel = pipeline.rolling_origin([2001, 1990], jobs=2, **options)
    assert serial.origins == parallel.origins == (1990, 2001)
    assert serial.skill.to_csv() == parallel.skill.to_csv()
    assert serial.forecasts.to_csv() == parallel.forecasts.to_csv()
    assert set(serial.skill.query("origin == 1990")["horizon"]) == set(range(1, 14))


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"train_until": 1978}, "train_until = 1978: outside the data; expected a year after 1978"),
    ({"train_until": 2010}, "train_until = 2010: outside the data"),
    ({"train_until": 2003}, "no data after it to forecast"),
    ({"train_until": 1995, "horizon": 0}, "horizon = 0: expected a whole number of years >= 1"),
    ({"train_until": 1995, "horizon": 40}, "after the model's last year 2030"),
    ({"train_until": 1995, "results": FULL}, "fitted to the data 1978-2003, not up to 1995"),
    ({"train_until": 1995, "results": HOLDOUT, "posterior": RESULTS_DIR / "missing.csv"},
     "missing.csv: no such posterior draws file"),
    ({"train_until": 1995, "results": HOLDOUT,
      "posterior": RESULTS_DIR / "salmon_cluster_posterior.csv"},
     "salmon_cluster_posterior.csv: not sampled from this calibration"),
    ({"train_until": 1995, "baseline_first_year": 1993}, "baseline_first_year = 1993"),
    ({"train_until": 1995, "seed": -1}, "seed = -1"),
])
def test_bad_input_gives_one_clear_error(kwargs, message):
    with pytest.raises(ModelInputError, match=message):
        pipeline.forecast(progress=False, **kwargs)


def test_draws_of_another_calibration_are_refused(tmp_path):
    draws = pd.read_csv(RESULTS_DIR / "salmon_cluster_until_1995_posterior.csv")
    draws["Initial world demand"] = 1e9  # outside the spec's bounds
    path = tmp_path / "draws.csv"
    draws.to_csv(path, index=False)
    with pytest.raises(ModelInputError, match="draws of 'Initial world demand' fall outside"):
        pipeline.forecast(1995, results=HOLDOUT, posterior=path, progress=False)


def test_a_forecast_beyond_the_data_is_written_unscored():
    result = pipeline.forecast(2002, results=None, quick=True, steps=40, draws=50,
                               horizon=4, progress=False)
    assert sorted(set(result.forecasts["year"])) == [2003, 2004, 2005, 2006]
    assert set(result.skill["year"]) == {2003}


def test_cli_forecast_writes_tables_and_figure(tmp_path):
    out = tmp_path / "forecast"
    done = _cli("forecast", "--train-until", "1995", "--results", str(HOLDOUT), "-o", str(out))
    assert done.returncode == 0, done.stderr
    for name in ("random_walk_drift", "loglinear_trend", "logistic", "gompertz", "cov90"):
        assert name in done.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*TABLES, "forecast_skill.pdf", "forecast_skill.png", "forecast_skill.svg"])
    table = pd.read_csv(out / "forecast.csv")
    assert list(table.columns) == evaluate.FORECAST_COLUMNS


@pytest.mark.parametrize(("args", "message"), [
    (["--train-until", "1995", "--horizon", "0"], "--horizon: expected a whole number of years"),
    (["--origins", "1990,1990"], "a year is given twice"),
    (["--origins", "1990", "--results", str(HOLDOUT)], "--results: one calibration fits one"),
    (["--train-until", "1995", "--posterior", "x.csv"], "--posterior: give the --results"),
    (["--train-until", "1995", "--results", str(FULL)], "fitted to the data 1978-2003"),
    (["--train-until", "1977"], "expected a year from 1979"),
    ([], "one of the arguments --train-until --origins is required"),
])
def test_cli_bad_input_is_one_line(tmp_path, capsys, args, message):
    code, _, err = _in_process(capsys, "forecast", *args, "-o", str(tmp_path / "out"))
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "forecast.csv").exists()


def test_cli_refuses_a_file_as_output_folder_before_computing(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = _in_process(capsys, "forecast", "--train-until", "1995", "-o", str(target))
    assert code == 2 and "expected a folder, found a file" in err


# -- the committed evaluation --------------------------------------------------------------
def test_committed_tables_are_consistent():
    skill = pd.read_csv(shipped.SKILL_FILE)
    by_horizon = pd.read_csv(shipped.HORIZON_FILE)
    assert sorted(skill["origin"].unique()) == list(pipeline.DEFAULT_ORIGINS)
    again = evaluate.aggregate(skill, ["variable", "horizon"])
    pd.testing.assert_frame_equal(again, by_horizon, check_dtype=False, rtol=1e-9)
    assert set(skill["method"]) == set(evaluate.METHODS)


def test_forecast_and_calibration_constants_agree():
    from clusterdyn.forecasting import command
    from clusterdyn.sdmodels.model import MAX_YEAR

    assert command.MAX_YEAR == MAX_YEAR


def test_run_takes_any_results_file(tmp_path):
    from clusterdyn.cli import main
    from clusterdyn.sdmodels import load_model

    out = tmp_path / "run.csv"
    assert main(["run", "--results", str(HOLDOUT), "-o", str(out)]) == 0
    frame = pd.read_csv(out, index_col=0)
    expected = load_model(defaults="mdl").with_calibration(HOLDOUT).run()
    assert frame["Production"].to_numpy() == pytest.approx(
        expected["Production"].to_numpy(), rel=1e-9)
    shipped_run = load_model().run()
    assert abs(frame.loc[2003, "Production"] / shipped_run.loc[2003, "Production"] - 1) > 0.05


def test_run_refuses_a_results_file_of_another_model(tmp_path, capsys):
    other = tmp_path / "other.toml"
    other.write_text(HOLDOUT.read_text().replace('model = "salmon_cluster"',
                                                 'model = "another_model"', 1))
    code, _, err = _in_process(capsys, "run", "--results", str(other), "-o",
                               str(tmp_path / "x.csv"))
    assert code == 2
    assert "fitted to model 'another_model', not 'salmon_cluster'" in err



def test_the_committed_evaluation_regenerates(origin_1990):
    """Origin 1990 (the quickest) computed again matches the committed rows.

    The baselines have no randomness: equal to one unit of the last written digit. The model's
    calibration moves in its last digits from one processor to another and its chain follows
    (measured under an emulated other processor: point forecasts 1.6%, mean CRPS 9.5%, 90%
    coverage 2 of 13 years, ranks unchanged); limits at about 2.5 times that.
    """
    from clusterdyn.forecasting.evaluate import aggregate
    from tests.precision import differences

    committed = pd.read_csv(shipped.SKILL_FILE).query("origin == 1990").reset_index(drop=True)
    result, raised = origin_1990.result()  # pipeline.forecast(1990, progress=False)
    with pytest.warns(SparseDataWarning):
        for category, message in raised:
            warnings.warn(message, category, stacklevel=1)
    again = result.skill.reset_index(drop=True)
    assert list(again.columns) == list(committed.columns)
    baselines = committed["method"] != "model"
    columns = [c for c in committed.columns if c != "rank"]  # ranks include the model's

    def text(frame: pd.DataFrame) -> str:
        return frame.loc[baselines, columns].to_csv(index=False, float_format="%.10g")

    assert differences(text(again), text(committed)) == []
    model = ~baselines
    assert again.loc[model, "point"].to_numpy() == pytest.approx(
        committed.loc[model, "point"].to_numpy(), rel=0.04)
    now, then = aggregate(again, ["variable"]), aggregate(committed, ["variable"])
    assert now["crps"].to_numpy() == pytest.approx(then["crps"].to_numpy(), rel=0.25)
    assert (np.abs(now["coverage_90"] - then["coverage_90"]) <= 5 / 13).all()
    assert (np.abs(now["rank"] - then["rank"]) <= 1).all()


def test_the_committed_forecast_beyond_2003_regenerates():
    """The figure set's 2004-2012 forecast (full calibration, shipped draws, seeded noise) is
    what the pipeline computes now: the same years and methods, no data to score, points to
    1e-4 (the draws and the noise are fixed; only the runs' last bits may move)."""
    from clusterdyn.calibration.shipped import DEFAULT_RESULTS

    committed = pd.read_csv(shipped.BEYOND_DIR / "forecast.csv")
    again = pipeline.forecast(2003, results=DEFAULT_RESULTS, horizon=shipped.BEYOND_HORIZON,
                              progress=False)
    assert again.skill.empty
    frame = again.forecasts.reset_index(drop=True)
    assert list(frame.columns) == list(committed.columns)
    assert frame[["method", "year", "variable"]].equals(committed[["method", "year", "variable"]])
    assert sorted(frame["year"].unique()) == list(range(2004, 2013))
    numbers = [c for c in committed.columns if c.startswith(("point", "lower", "upper"))]
    np.testing.assert_allclose(frame[numbers].to_numpy(float), committed[numbers].to_numpy(float),
                               rtol=1e-4)
