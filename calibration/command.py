"""``clusterdyn calibrate``: run the calibration and write its results and report."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from calibration.data_io import load_observations
from calibration.results import report_markdown, write_toml
from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import write_atomically


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``calibrate`` subcommand."""
    parser = sub.add_parser(
        "calibrate",
        help="calibrate the model to the shipped FAO data",
        description="Seeded global search (differential evolution) and least-squares "
        "refinement; writes the parameters with 95%% intervals, fit statistics and "
        "provenance as TOML, and a markdown fit report beside it (same name, .md).",
    )
    parser.add_argument("--model", default="salmon_cluster", help="model name or .mdl path")
    parser.add_argument("--spec", default=None, help="calibration spec TOML (default: "
                        "calibration/<model>.toml)")
    parser.add_argument("--until", type=int, default=None, metavar="YEAR",
                        help="fit only the data up to YEAR; report later years out of sample")
    parser.add_argument("--seed", type=whole_number(0, what="a whole number of at least 0"),
                        default=0, help="seed of the global search")
    parser.add_argument("--quick", action="store_true", help="small search budget (tests)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="results file (.toml); the report goes to the same path with .md")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    from calibration.fit import calibrate
    from calibration.spec import load_spec
    from sdmodels import load_model

    if args.output.suffix != ".toml":
        raise UsageError(f"-o {args.output}: expected a .toml file name")
    model = load_model(args.model)
    spec = load_spec(model, args.spec)
    if args.until is not None and not spec.first_year < args.until <= spec.last_year:
        raise UsageError(f"--until {args.until}: expected a year after {spec.first_year} and "
                         f"no later than {spec.last_year}")
    started = time.perf_counter()
    result = calibrate(model, spec, until=args.until, seed=args.seed, quick=args.quick,
                       progress=not args.no_progress)
    elapsed = time.perf_counter() - started
    observations = load_observations()
    run = result.simulate()
    data = result.to_dict(observations, run)
    write_atomically(args.output, lambda handle: write_toml(data, handle))
    report = args.output.with_suffix(".md")
    write_atomically(report, lambda handle: handle.write(report_markdown(data, run,
                                                                         observations)))
    print(result.summary())
    print(f"\n{result.evaluations} model runs in {elapsed:.1f} s; wrote {args.output} and {report}")
    return 0
