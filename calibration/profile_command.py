"""``clusterdyn profile``: profile likelihood of a calibrated parameter, with the forecast."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from calibration.shipped import DEFAULT_RESULTS
from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import write_atomically


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``profile`` subcommand."""
    parser = sub.add_parser(
        "profile",
        help="profile likelihood of a calibrated parameter and the forecast along it",
        description="Hold PARAMETER at each value of a grid over its search bounds, "
        "re-optimise the other free parameters, and report the rise of the objective, the "
        "profile-likelihood interval and, for a calibration that left years out, the "
        "out-of-sample production error at every grid value (a prediction profile).",
    )
    parser.add_argument("parameter", help="a free parameter of the calibration spec")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="calibration results file to start from (default: "
                        "calibration/results/salmon_cluster.toml)")
    parser.add_argument("--points", type=whole_number(3, 201, what="a whole number from 3 to 201"),
                        default=21, help="grid values over the search bounds (default 21)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="markdown report (.md), or - for standard output")
    parser.set_defaults(func=run_command)


def report_markdown(result) -> str:  # type: ignore[no-untyped-def]
    """The profile as a markdown report (rounded, no timestamps: reruns give the same bytes)."""
    low, high = result.interval
    years = sorted(result.points[0].production_error)
    lines = [
        f"# Profile likelihood: {result.parameter}", "",
        f"Calibration data {result.fit_years[0]}-{result.fit_years[1]}, "
        f"{result.n_observations} observations, {result.n_parameters} free parameters. "
        f"Estimate {result.estimate:.4g} {result.units}, objective {result.objective:.6g}.", "",
        f"Each row holds the parameter at one value and re-optimises the others (bounded least "
        f"squares, continued from the neighbouring row). delta is the rise of the objective "
        f"above its minimum; values with delta <= {result.threshold:.3g} (the "
        f"{result.level:.0%} likelihood-ratio bound, F(1, n - p) with the residual variance "
        f"estimated as for the Hessian intervals) are accepted by the data.", "",
        f"**{result.level:.0%} profile interval: [{low:.4g}, {high:.4g}] {result.units}.**", "",
    ]
    if years:
        lines += ["Out-of-sample production error (model / FAO - 1) at each value:", ""]
    header = "| value | delta | accepted |" + "".join(f" {y} |" for y in years)
    lines += [header, "|" + "---|" * (3 + len(years))]
    for p in result.points:
        lines.append(f"| {p.value:.4g} | {p.delta:.3f} | {'yes' if p.accepted else 'no'} |"
                     + "".join(f" {p.production_error[y]:+.0%} |" for y in years))
    if years:
        spread = result.forecast_range()
        lines += ["", "Range of the error among accepted values:", "",
                  "| year | lowest | highest |", "|---|---|---|"]
        lines += [f"| {y} | {lo:+.0%} | {hi:+.0%} |" for y, (lo, hi) in spread.items()]
        passing = [p.value for p in result.points
                   if p.accepted and all(abs(e) <= 0.35 for e in p.production_error.values())]
        lines += ["", "Accepted values whose forecast is within ±35% in every year: "
                  + (", ".join(f"{v:.4g}" for v in passing) if passing else "none") + "."]
    return "\n".join(lines) + "\n"


def run_command(args: argparse.Namespace) -> int:
    from calibration.profile import profile_from_results

    if str(args.output) != "-" and args.output.suffix != ".md":
        raise UsageError(f"-o {args.output}: expected a .md file name or -")
    started = time.perf_counter()
    result = profile_from_results(args.results, args.parameter, points=args.points,
                                  progress=not args.no_progress)
    elapsed = time.perf_counter() - started
    write_atomically(args.output, lambda handle: handle.write(report_markdown(result)))
    if str(args.output) != "-":
        print(result.summary())
        print(f"\nprofiled in {elapsed:.1f} s; wrote {args.output}")
    return 0
