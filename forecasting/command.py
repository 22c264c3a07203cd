"""``clusterdyn forecast``: forecast from an origin (or several), score against the data and
the naive baselines, write the tables and the figure."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError

if TYPE_CHECKING:
    from clusterdyn.forecasting.evaluate import ForecastResult

MAX_YEAR = 2030  # clusterdyn.sdmodels.model.MAX_YEAR (checked equal by the tests)
_year = whole_number(1979, MAX_YEAR, what=f"a year from 1979 to {MAX_YEAR}")
#: Files written into the output folder, in this order.
TABLES = ("forecast.csv", "skill.csv", "skill_by_horizon.csv", "skill_overall.csv",
          "observed.csv", "summary.txt")
FIGURE_STEM = "forecast_skill"


def _origins(text: str) -> list[int]:
    """``1990,1993,1995`` -> [1990, 1993, 1995] (each a year, none twice)."""
    years = [_year(part.strip()) for part in text.split(",") if part.strip()]
    if not years:
        raise argparse.ArgumentTypeError(f"expected years separated by commas, got {text!r}")
    if len(set(years)) != len(years):
        raise argparse.ArgumentTypeError(f"a year is given twice in {text!r}")
    return years


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``forecast`` subcommand."""
    from clusterdyn.forecasting.shipped import DEFAULT_ORIGINS, FORECAST_DRAWS, FORECAST_STEPS

    parser = sub.add_parser(
        "forecast",
        help="forecast from an origin year (or rolling origins) and score the model against "
        "naive baselines",
        description="Take the calibration fitted to the data up to --train-until (calibrating "
        "it unless --results is given) and its MCMC posterior, forecast every calibration "
        "target for the following years (posterior predictive with observation error), fit "
        "the naive baselines (random walk with drift, log-linear trend, logistic, Gompertz) "
        "to the same window and transform, and score every method on the years with data: "
        "MAPE, RMSE of log errors, CRPS, interval scores and coverage. With --origins, do "
        "this at every origin and aggregate by horizon. Writes DIR/forecast.csv, skill.csv, "
        "skill_by_horizon.csv, skill_overall.csv, summary.txt and forecast_skill.{png,svg,pdf}"
        " and prints the skill table.",
    )
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--train-until", type=_year, metavar="YEAR",
                      help="origin: the last year of data the calibration is fitted to")
    when.add_argument("--origins", type=_origins, metavar="YEARS",
                      help="rolling origins, e.g. "
                      f"{','.join(map(str, DEFAULT_ORIGINS))}: refit at each")
    parser.add_argument("--horizon", type=whole_number(1, what="a whole number of years >= 1"),
                        default=None, help="years to forecast (default: to the end of the "
                        "data); years without data are forecast, not scored")
    parser.add_argument("--results", type=Path, default=None, metavar="PATH",
                        help="calibration results file fitted up to --train-until (default: "
                        "calibrate now); its <stem>_posterior.csv is used if present")
    parser.add_argument("--posterior", type=Path, default=None, metavar="PATH",
                        help="MCMC draws of that calibration (default: beside --results, or "
                        "sampled now)")
    parser.add_argument("--seed", type=whole_number(0, what="a whole number of at least 0"),
                        default=0, help="seed of the calibration, the chain and the "
                        "observation-error draws (default 0)")
    parser.add_argument("--steps", type=whole_number(2, what="a whole number of at least 2"),
                        default=FORECAST_STEPS, help="steps of a chain sampled here (default "
                        f"{FORECAST_STEPS:,})")
    parser.add_argument("--draws", type=whole_number(2, what="a whole number of at least 2"),
                        default=FORECAST_DRAWS, help="about how many draws it keeps (default "
                        f"{FORECAST_DRAWS:,})")
    parser.add_argument("--quick", action="store_true",
                        help="calibrate with the spec's quick budget (previews)")
    parser.add_argument("--baseline-first-year", type=_year, default=None, metavar="YEAR",
                        help="fit the baselines from this year only (default: the "
                        "calibration's window)")
    parser.add_argument("--jobs", type=whole_number(1, what="a positive whole number"),
                        default=2, help="processes for --origins (default 2)")
    parser.add_argument("--no-figure", action="store_true",
                        help="write the tables only (the figure set draws forecast_skill from "
                        "the committed tables)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                        help="output folder")
    parser.set_defaults(func=run_command)


def _check_options(args: argparse.Namespace) -> None:
    if args.origins is not None:
        for option, value in (("--results", args.results), ("--posterior", args.posterior)):
            if value is not None:
                raise UsageError(f"{option}: one calibration fits one window; with --origins "
                                 "every origin is calibrated here")
    if args.posterior is not None and args.results is None:
        raise UsageError("--posterior: give the --results file the draws belong to")


def check_outputs(folder: Path, inputs: list[Path], figure: bool = True) -> None:
    """Check that every output file of the folder can be written (creating the folder).

    Raises
    ------
    UsageError
        If the folder is a file, cannot be written, or an output is an input.
    """
    from clusterdyn.figures.style import FORMATS
    from clusterdyn.io import output_file

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"-o {folder}: expected a folder, found a file")
    for name in (*TABLES, *(f"{FIGURE_STEM}.{fmt}" for fmt in FORMATS if figure)):
        output_file(folder / name, inputs)


def write_outputs(result: ForecastResult, folder: Path, inputs: list[Path],
                  figure: bool = True) -> list[Path]:
    """Write the tables (and unless ``figure`` is False the figure) of ``result`` into
    ``folder`` as one unit: a reader never finds tables of two runs side by side.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from clusterdyn.figures.forecast import FAN_VARIABLES, plot_forecast_skill
    from clusterdyn.figures.style import DATA_SOURCE, save_all_formats, style_context, unit_label
    from clusterdyn.io import move_set, recover, staging_folder

    check_outputs(folder, inputs, figure)
    recover(folder)
    staging = staging_folder(folder, "forecast")
    try:
        tables = {"forecast.csv": result.forecasts, "skill.csv": result.skill,
                  "skill_by_horizon.csv": result.by_horizon(),
                  "skill_overall.csv": result.overall(), "observed.csv": result.observed}
        for name, table in tables.items():
            table.to_csv(staging / name, index=False, float_format="%.10g",
                         lineterminator="\n")
        sources = "\n".join(f"origin {o}: {s}" for o, s in result.sources.items())
        (staging / "summary.txt").write_text(f"{result.summary()}\n\n{sources}\n",
                                             encoding="utf-8")
        figures = []
        if figure:
            units = {v: unit_label(result.units[v]) for v in FAN_VARIABLES}
            footer = [DATA_SOURCE, *(f"clusterdyn forecast, {line}"
                                     for line in sources.split("\n"))]
            with style_context():
                fig = plot_forecast_skill(result.forecasts, result.by_horizon(),
                                          result.observed, units, footer)
                figures = [p.name for p in save_all_formats(fig, staging, FIGURE_STEM)]
        names = [*TABLES, *figures]
        move_set(folder, [(f"{staging.name}/{n}", n) for n in names])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / n for n in names]


def run_command(args: argparse.Namespace) -> int:
    """Forecast, score, write the outputs and print the skill table."""
    _check_options(args)  # before importing the model: option errors answer at once
    inputs = [p for p in (args.results, args.posterior) if p is not None]
    # Before the computation: a bad output folder is reported at once, not minutes later.
    check_outputs(args.output, inputs, figure=not args.no_figure)
    from clusterdyn.calibration.command import warnings_as_lines
    from clusterdyn.forecasting.pipeline import forecast, rolling_origin

    started = time.perf_counter()
    options = {"horizon": args.horizon, "seed": args.seed, "quick": args.quick,
               "steps": args.steps, "draws": args.draws,
               "baseline_first_year": args.baseline_first_year,
               "progress": not args.no_progress}
    with warnings_as_lines("forecast"):
        if args.origins is not None:
            result = rolling_origin(args.origins, jobs=args.jobs, **options)
        else:
            result = forecast(args.train_until, results=args.results,
                              posterior=args.posterior, **options)
    elapsed = time.perf_counter() - started
    written = write_outputs(result, args.output, inputs, figure=not args.no_figure)
    print(result.summary())
    print()
    for origin, source in result.sources.items():
        print(f"origin {origin}: {source}")
    print(f"forecast in {elapsed:.1f} s; wrote {len(written)} files to {args.output}")
    return 0
