"""``clusterdyn posterior``: sample a calibration's posterior by MCMC and write the draws."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from clusterdyn.argtypes import whole_number
from clusterdyn.calibration.shipped import BURN, DEFAULT_RESULTS, DRAWS, STEPS, posterior_path
from clusterdyn.errors import UsageError
from clusterdyn.io import output_file, write_set


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``posterior`` subcommand."""
    parser = sub.add_parser(
        "posterior",
        help="sample a calibration's posterior by MCMC (draws for the bands and figures)",
        description="Run emcee's ensemble sampler on the calibration in --results (uniform "
        "prior on the search bounds, likelihood from the weighted residuals) and write the "
        "thinned draws as CSV with a markdown report beside it (same name, .md). The figures "
        "and 'clusterdyn sensitivity bands --sampling mcmc' read <results>_posterior.csv.",
    )
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="calibration results file (default: "
                        "calibration/results/salmon_cluster.toml)")
    parser.add_argument("--steps", type=whole_number(2, what="a whole number of at least 2"),
                        default=STEPS, help=f"steps of every walker (default {STEPS:,})")
    parser.add_argument("--burn", type=whole_number(1, what="a positive whole number"),
                        default=None, help="first steps dropped (default: one sixth of "
                        f"--steps: {BURN:,} of the default {STEPS:,})")
    parser.add_argument("--draws", type=whole_number(1, what="a positive whole number"),
                        default=DRAWS, help=f"about how many draws to keep (default {DRAWS:,})")
    parser.add_argument("--seed", type=whole_number(0, what="a whole number of at least 0"),
                        default=0, help="seed of the sampler")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="draws file (.csv; default: <results>_posterior.csv)")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Sample the posterior of ``--results``, write the draws and the report, print the report.

    The results file is checked first (a missing file is the first thing to report, not an
    option that would only matter once it exists), then ``-o`` and ``--burn``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``posterior`` options.

    Returns
    -------
    int
        Exit status 0 (errors are raised and reported by :func:`clusterdyn.cli.main`).
    """
    from clusterdyn.calibration.command import warnings_as_lines
    from clusterdyn.calibration.posterior import default_burn, posterior_from_results
    from clusterdyn.calibration.results import read_results

    results = read_results(args.results)
    output = args.output or posterior_path(args.results)
    if output.suffix != ".csv":
        raise UsageError(f"-o {output}: expected a .csv file name")
    burn = default_burn(args.steps) if args.burn is None else args.burn
    if not burn < args.steps:
        raise UsageError(f"--burn {burn}: expected fewer than --steps ({args.steps})")
    report = output.with_suffix(".md")
    for path in (output, report):  # before sampling, which takes a minute
        output_file(path, [args.results])
    started = time.perf_counter()
    with warnings_as_lines("posterior"):
        sample = posterior_from_results(results, steps=args.steps, burn=burn, draws=args.draws,
                                        seed=args.seed, progress=not args.no_progress)
    elapsed = time.perf_counter() - started
    markdown = sample.report_markdown()
    write_set({output: sample.to_csv, report: lambda handle: handle.write(markdown)},
              [args.results])
    print(sample.report_markdown())
    print(f"sampled in {elapsed:.1f} s; wrote {output} and {report}")
    return 0
