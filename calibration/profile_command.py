"""``clusterdyn profile``: profile likelihood of a calibrated parameter, with the forecast."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

from clusterdyn.argtypes import whole_number
from clusterdyn.calibration.shipped import DEFAULT_RESULTS
from clusterdyn.errors import UsageError
from clusterdyn.io import output_file, write_atomically, write_set

if TYPE_CHECKING:  # the command's parser must not import the numerical stack
    from clusterdyn.calibration.profile import ProfileResult


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``profile`` subcommand."""
    parser = sub.add_parser(
        "profile",
        help="profile likelihood of a calibrated parameter and the forecast along it",
        description="Hold PARAMETER at each value of a grid over its search bounds, "
        "re-optimise the other free parameters, and report the rise of the objective, the "
        "profile-likelihood interval and, for a calibration that left years out, the "
        "out-of-sample production error at every grid value (a prediction profile). "
        "Write it as a markdown report (.md) and/or as a CSV table (.csv: value, objective, "
        "delta, accepted, threshold and every refitted parameter at each grid value, 4 "
        "significant digits; what the identification figure reads).",
    )
    parser.add_argument("parameter", help="a free parameter of the calibration spec")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="calibration results file to start from (default: "
                        "calibration/results/salmon_cluster.toml)")
    parser.add_argument("--points", type=whole_number(3, 201, what="a whole number from 3 to 201"),
                        default=21, help="grid values over the search bounds (default 21)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-o", "--output", required=True, type=Path, action="append",
                        help="markdown report (.md), CSV table (.csv), or - for the report "
                        "on standard output; repeat to write several from one profile")
    parser.set_defaults(func=run_command)


def report_markdown(result: ProfileResult) -> str:
    """The profile as a markdown report (rounded, no timestamps: reruns give the same bytes)."""
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
        f"**{result.level:.0%} profile interval: {result.interval_text()}.**", "",
    ]
    if years:
        lines += ["Out-of-sample production error (model / FAO - 1) at each value:", ""]
    header = "| value | delta | accepted |" + "".join(f" {y} |" for y in years)
    lines += [header, "|" + "---|" * (3 + len(years))]
    for p in result.points:
        lines.append(f"| {p.value:.4g} | {p.delta:.3f} | {'yes' if p.accepted else 'no'} |"
                     + "".join(f" {p.production_error[y]:+.0%} |" for y in years))
    if years:
        lines += _forecast_lines(result)
    return "\n".join(lines) + "\n"


def _forecast_lines(result: ProfileResult) -> list[str]:
    """The spread of the out-of-sample error among accepted values (markdown lines)."""
    spread = result.forecast_range()
    lines = ["", "Range of the error among accepted values:", ""]
    if spread:
        lines += ["| year | lowest | highest |", "|---|---|---|"]
        lines += [f"| {y} | {lo:+.0%} | {hi:+.0%} |" for y, (lo, hi) in spread.items()]
    else:
        lines += ["none: no grid value is accepted."]
    passing = [p.value for p in result.points
               if p.accepted and all(abs(e) <= 0.35 for e in p.production_error.values())]
    return lines + ["", "Accepted values whose forecast is within ±35% in every year: "
                    + (", ".join(f"{v:.4g}" for v in passing) if passing else "none") + "."]


def _write_markdown(result: ProfileResult, handle: IO[str]) -> None:
    handle.write(report_markdown(result))


def _write_csv(result: ProfileResult, handle: IO[str]) -> None:
    result.write_csv(handle)


#: Output formats by file suffix (``-`` writes the markdown report to standard output).
WRITERS: dict[str, Callable[..., None]] = {".md": _write_markdown, ".csv": _write_csv}


def _check_outputs(outputs: list[Path], inputs: list[Path]) -> None:
    """Refuse unknown suffixes, repeated and unwritable outputs, and outputs that are inputs,
    before any computing."""
    for output in outputs:
        if str(output) == "-":
            continue
        if output.suffix not in WRITERS:
            raise UsageError(f"-o {output}: expected a .md or .csv file name, or -")
        output_file(output, inputs)
    if len({str(o) for o in outputs}) < len(outputs):
        raise UsageError("-o: the same output is named twice")


def _writer(result: ProfileResult, output: Path) -> Callable[[IO[str]], None]:
    write = WRITERS[".md" if str(output) == "-" else output.suffix]
    return lambda handle: write(result, handle)


def run_command(args: argparse.Namespace) -> int:
    from clusterdyn.calibration.command import warnings_as_lines
    from clusterdyn.calibration.profile import profile_from_results

    _check_outputs(args.output, [args.results])
    started = time.perf_counter()
    with warnings_as_lines("profile"):  # one line per warning, as calibrate and posterior
        result = profile_from_results(args.results, args.parameter, points=args.points,
                                      progress=not args.no_progress)
    elapsed = time.perf_counter() - started
    files_by_folder: dict[Path, dict[Path, Callable[[IO[str]], None]]] = {}
    for output in args.output:
        if str(output) == "-":
            write_atomically(output, _writer(result, output))
        else:  # the files of one folder as one unit (clusterdyn.io.write_set)
            files_by_folder.setdefault(output.parent, {})[output] = _writer(result, output)
    for files in files_by_folder.values():
        write_set(files, [args.results])
    files = [str(o) for o in args.output if str(o) != "-"]
    if len(files) == len(args.output):  # standard output carries no report: summarise there
        print(result.summary())
        print(f"\nprofiled in {elapsed:.1f} s; wrote {', '.join(files)}")
    elif files:
        print(f"profiled in {elapsed:.1f} s; wrote {', '.join(files)}", file=sys.stderr)
    return 0
