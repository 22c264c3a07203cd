"""Forecast from an origin year, or from several (rolling origin): fit, sample, forecast, score.

:func:`forecast` takes the calibration fitted to the data up to ``train_until`` (a results file,
or a fresh calibration), its posterior draws (the MCMC file beside the results, or a fresh
chain), and returns a :class:`clusterdyn.forecasting.evaluate.ForecastResult`.
:func:`rolling_origin`
repeats this at several origins, in parallel processes, and combines the results: how
forecasting practice evaluates a method (Tashman 2000, Int. J. Forecasting 16:437-450).
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from clusterdyn.calibration.results import ResultsFile
from clusterdyn.calibration.spec import CalibrationSpec
from clusterdyn.forecasting.evaluate import ForecastResult, combine, forecast_origin
from clusterdyn.forecasting.predictive import FittedCalibration, data_residual_scale
from clusterdyn.forecasting.shipped import DEFAULT_ORIGINS, FORECAST_DRAWS, FORECAST_STEPS
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import MAX_YEAR, Model


def _last_observed(spec: CalibrationSpec, observations: pd.DataFrame) -> int:
    years = [int(observations[t.series].dropna().index.max()) for t in spec.targets]
    return max(years)


def forecast_years(origin: int, horizon: int | None, last_observed: int) -> np.ndarray:
    """The years after ``origin``: ``horizon`` of them, or up to the last observed year.

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If ``horizon`` is not a positive whole number, reaches past the model's last year, or
        (without a horizon) no data follow the origin.
    """
    if horizon is None:
        if origin >= last_observed:
            raise ModelInputError(f"train_until = {origin}: no data after it to forecast (the "
                                  f"data end in {last_observed}); give a horizon to forecast "
                                  "beyond the data")
        horizon = last_observed - origin
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ModelInputError(f"horizon = {horizon!r}: expected a whole number of years >= 1")
    if origin + horizon > MAX_YEAR:
        raise ModelInputError(f"horizon = {horizon}: the forecast would end in "
                              f"{origin + horizon}, after the model's last year {MAX_YEAR}")
    return np.arange(origin + 1, origin + horizon + 1)


def _check_origin(origin: object, spec: CalibrationSpec, last_observed: int) -> int:
    if isinstance(origin, bool) or not isinstance(origin, int | np.integer):
        raise ModelInputError(f"train_until = {origin!r}: expected a year")
    if not spec.first_year < origin <= min(spec.last_year, last_observed):
        raise ModelInputError(
            f"train_until = {origin}: outside the data; expected a year after "
            f"{spec.first_year} and no later than {min(spec.last_year, last_observed)}")
    return int(origin)


def read_draws(path: str | Path) -> pd.DataFrame:
    """MCMC draws written by ``clusterdyn posterior`` (one column per parameter).

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If the file is missing or is not a CSV table.
    """
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise ModelInputError(f"{path}: no such posterior draws file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ModelInputError(f"{path}: not a draws table ({exc})") from None


#: Draws whose log posterior :func:`check_draws_belong` recomputes, and the median absolute
#: difference it accepts.
CHECKED_DRAWS = 20
DRAWS_TOLERANCE = 0.25


def check_draws_belong(draws: pd.DataFrame, fitted: FittedCalibration,
                       observations: pd.DataFrame, path: str | Path) -> None:
    """Refuse draws that were not sampled from ``fitted``'s posterior.

    ``clusterdyn posterior`` writes each draw's log posterior; for the first
    :data:`CHECKED_DRAWS` draws it is computed again with this calibration's data, window and
    residual variance. Draws of another calibration (another window, model, spec or data)
    give other values. Tolerance: a median absolute difference of :data:`DRAWS_TOLERANCE`.
    The file holds each parameter to 6 digits, which moves a log posterior by up to 0.1-0.3
    along this model's ridges (median 0.03 measured on both shipped posteriors); draws of the
    full calibration checked against the 1995 one differ by a median 8.1.

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If the file has no ``log_posterior`` column or a recomputed value differs.
    """
    from clusterdyn.calibration.objective import Objective
    from clusterdyn.forecasting.predictive import check_draws
    from clusterdyn.sdmodels.vectorized import compile_model

    values = check_draws(draws, fitted.spec, str(path))
    if "log_posterior" not in draws.columns:
        raise ModelInputError(f"{path}: no log_posterior column: expected draws written by "
                              "'clusterdyn posterior'")
    objective = Objective(fitted.spec, compile_model(fitted.model), observations,
                          fitted.last_year)
    chosen = objective.to_unit(values[:CHECKED_DRAWS])
    s2 = data_residual_scale(fitted, observations) ** 2
    recomputed = -objective.payoff(chosen) / s2 - objective.prior_payoff(chosen)
    written = draws["log_posterior"].to_numpy(dtype=float)[:CHECKED_DRAWS]
    difference = np.abs(recomputed - written)
    if not np.median(difference) <= DRAWS_TOLERANCE:  # also refuses NaN
        worst = int(np.argmax(difference))
        raise ModelInputError(
            f"{path}: not sampled from this calibration ({fitted.source}): draw {worst + 1} "
            f"has log posterior {written[worst]:.6g} in the file and {recomputed[worst]:.6g} "
            "here; sample it with 'clusterdyn posterior --results ...'")


def _fitted_from_results(read: ResultsFile, results: str | Path, origin: int
                         ) -> FittedCalibration:
    """The calibration of a results file (already read), checked: fitted up to ``origin``
    and made with the current model, spec and data."""
    if read.fit_last_year != origin:
        raise ModelInputError(
            f"{results}: fitted to the data {read.spec.first_year}-{read.fit_last_year}, not "
            f"up to {origin}: calibrate with --until {origin}, or forecast from "
            f"{read.fit_last_year}")
    stale = read.stale()
    if stale:
        raise ModelInputError(f"{results}: the model, spec or data changed since this "
                              f"calibration ({', '.join(stale)} differ): calibrate again")
    return FittedCalibration.from_results(read)


def forecast(train_until: int, *, results: str | Path | None = None,
             posterior: str | Path | None = None, horizon: int | None = None, seed: int = 0,
             quick: bool = False, steps: int = FORECAST_STEPS, draws: int = FORECAST_DRAWS,
             progress: bool = True, model: Model | None = None,
             spec: CalibrationSpec | None = None, observations: pd.DataFrame | None = None,
             baseline_first_year: int | None = None) -> ForecastResult:
    """Forecast the calibration targets after ``train_until`` and score them.

    Parameters
    ----------
    train_until : int
        The origin: the last year of data the calibration was fitted to.
    results : str or pathlib.Path, optional
        A results file fitted up to ``train_until`` (``clusterdyn calibrate --until``).
        Default: calibrate now (with ``seed`` and ``quick``).
    posterior : str or pathlib.Path, optional
        MCMC draws of that calibration. Default: ``<results>_posterior.csv`` if it exists,
        otherwise a chain of ``steps`` steps sampled now (seeded).
    horizon : int, optional
        Years to forecast (default: up to the last year of data); years without data are
        forecast but not scored.
    seed : int
        Seed of the calibration, the chain and the observation-error draws.
    quick : bool
        Calibrate with the spec's quick budget (tests and previews).
    steps, draws : int
        Length of a chain sampled here and about how many draws it keeps.
    progress : bool
        Show progress bars.
    model, spec, observations
        Default: the shipped model, spec and data (tests pass synthetic data).
    baseline_first_year : int, optional
        Fit the baselines from this year (default: the calibration's first year).

    Returns
    -------
    ForecastResult

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        For an origin outside the data, a horizon below 1, a results file fitted to another
        window or out of date, or draws that do not belong to the calibration.
    """
    from clusterdyn.calibration.shipped import posterior_path
    from clusterdyn.calibration.spec import load_spec
    from clusterdyn.sdmodels.model import load_model

    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ModelInputError(f"seed = {seed!r}: expected a whole number >= 0")
    read = None
    if results is not None:  # read once: its model and spec are the forecast's
        from clusterdyn.calibration.results import read_results

        read = read_results(results)
        model, spec = read.model, read.spec
    model = (model or load_model("salmon_cluster")).with_mdl_defaults()
    spec = spec or load_spec(model)
    observations = spec.observations() if observations is None else observations
    last_observed = _last_observed(spec, observations)
    origin = _check_origin(train_until, spec, last_observed)
    years = forecast_years(origin, horizon, last_observed)
    if baseline_first_year is not None and not (
            spec.first_year <= baseline_first_year < origin - 4):
        raise ModelInputError(f"baseline_first_year = {baseline_first_year}: expected a year "
                              f"from {spec.first_year} to {origin - 5} (five years or more "
                              "before the origin)")
    if read is not None:
        fitted = _fitted_from_results(read, results, origin)
    else:
        from clusterdyn.calibration.fit import calibrate

        fitted = FittedCalibration.from_result(calibrate(
            model, spec, until=origin, seed=seed, quick=quick, progress=progress,
            observations=observations))
    if posterior is None and results is not None and posterior_path(results).is_file():
        posterior = posterior_path(results)
    if posterior is not None:
        sample, source = read_draws(posterior), f"posterior draws {posterior}"
        check_draws_belong(sample, fitted, observations, posterior)
    else:
        from clusterdyn.calibration.posterior import sample_posterior

        chain = sample_posterior(fitted.model, fitted.spec, fitted.estimates, fitted.objective,
                                 until=origin, steps=steps, draws=draws, seed=seed,
                                 progress=progress, observations=observations,
                                 start_from="laplace")
        sample = chain.draws
        source = (f"MCMC {chain.walkers} walkers x {chain.steps:,} steps from the Laplace "
                  f"spread (first {chain.burn:,} dropped), {len(sample):,} draws, seed {seed}")
    return forecast_origin(fitted, sample, observations, years, seed=seed, draws_source=source,
                           baseline_first_year=baseline_first_year)


def _check_origins(origins: Sequence[int]) -> tuple[int, ...]:
    checked = tuple(origins)
    if not checked:
        raise ModelInputError("origins: expected at least one year")
    if len(set(checked)) != len(checked):
        raise ModelInputError(f"origins {list(checked)}: a year is given twice")
    return tuple(sorted(checked))


def _one_thread_per_process() -> None:
    """Pool initialiser: each process runs the model in one thread (the processes already
    use every core; threads on top only contend). Results do not depend on it."""
    from clusterdyn.sdmodels.vectorized import THREADS_VARIABLE

    os.environ[THREADS_VARIABLE] = "1"


def _forecast_in_worker(origin: int, options: dict[str, object]
                        ) -> tuple[ForecastResult, list[tuple[type[Warning], str]]]:
    """One origin's forecast, with the warnings it raised (re-raised by the parent process,
    where the command line's warning display and the caller's filters apply)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = forecast(origin, progress=False, **options)  # type: ignore[arg-type]
    return result, [(w.category, str(w.message)) for w in caught]


def rolling_origin(origins: Sequence[int] = DEFAULT_ORIGINS, *, horizon: int | None = None,
                   seed: int = 0, quick: bool = False, steps: int = FORECAST_STEPS,
                   draws: int = FORECAST_DRAWS, jobs: int = 2, progress: bool = True,
                   baseline_first_year: int | None = None) -> ForecastResult:
    """Calibrate, sample and forecast at every origin; one combined result.

    Each origin is an independent :func:`forecast` with the same seed and settings (shipped
    model, spec and data), run in up to ``jobs`` processes; the result does not depend on
    ``jobs`` or on the order in which the origins finish.

    Parameters
    ----------
    origins : sequence of int
        Last fitted years.
    horizon, seed, quick, steps, draws, baseline_first_year
        As :func:`forecast`.
    jobs : int
        Processes working at once (each origin is one task).
    progress : bool
        Show a bar that advances as origins finish.

    Returns
    -------
    ForecastResult
    """
    ordered = _check_origins(origins)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ModelInputError(f"jobs = {jobs!r}: expected a whole number >= 1")
    options = {"horizon": horizon, "seed": seed, "quick": quick, "steps": steps,
               "draws": draws, "baseline_first_year": baseline_first_year}
    bar = tqdm(total=len(ordered), desc="rolling origins", unit="origin",
               disable=not progress, leave=False)
    done: dict[int, tuple[ForecastResult, list[tuple[type[Warning], str]]]] = {}
    try:
        if jobs == 1 or len(ordered) == 1:
            for origin in ordered:
                done[origin] = _forecast_in_worker(origin, options)
                bar.update(1)
        else:
            # spawn, not fork: a forked child of a process with numba's threads can deadlock.
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(min(jobs, len(ordered)), mp_context=context,
                                     initializer=_one_thread_per_process) as pool:
                # the latest origins (the longest fits) first, for an even split
                futures = {pool.submit(_forecast_in_worker, o, options): o
                           for o in reversed(ordered)}
                for future in as_completed(futures):
                    done[futures[future]] = future.result()
                    bar.update(1)
    finally:
        bar.close()
    for origin in ordered:  # in origin order, whatever order the processes finished in
        # once each: the calibration and the chain both check the same data
        for category, message in dict.fromkeys(done[origin][1]):
            warnings.warn(f"origin {origin}: {message}", category, stacklevel=2)
    return combine([done[origin][0] for origin in ordered])
