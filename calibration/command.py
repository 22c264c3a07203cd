"""``clusterdyn calibrate``: run the calibration and write its results and report."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import output_file, write_set
from clusterdyn.sdmodels.engine_names import ENGINES


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``calibrate`` subcommand."""
    parser = sub.add_parser(
        "calibrate",
        help="calibrate a model to data (default: the salmon model, the shipped FAO data)",
        # A description is not %-formatted by argparse (unlike an argument's help): a
        # literal "95%" here, "95%%" only in help strings.
        description="Seeded global search (differential evolution) and least-squares "
        "refinement; writes the parameters with 95% intervals, fit statistics and "
        "provenance as TOML, and a markdown fit report beside it (same name, .md).",
    )
    parser.add_argument("--model", default=None, help="model name or .mdl path (default: the "
                        "spec's [calibration] model, else salmon_cluster)")
    parser.add_argument("--spec", default=None, help="calibration spec TOML (default: "
                        "calibration/<model>.toml); its model and data paths are relative to "
                        "its folder")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="simulation engine: compiled (fast; an error if it cannot run the "
                        "model), pysd (slow, any model PySD runs) or auto (default: compiled, "
                        "else pysd with a notice)")
    parser.add_argument("--until", type=int, default=None, metavar="YEAR",
                        help="fit only the data up to YEAR; report later years out of sample")
    parser.add_argument("--seed", type=whole_number(0, what="a whole number of at least 0"),
                        default=0, help="seed of the global search")
    parser.add_argument("--quick", action="store_true", help="small search budget (tests)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="results file (.toml); the report goes to the same path with .md")
    parser.set_defaults(func=run_command)


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """``n`` and ``noun`` in the right number: ``"1 scenario"``, ``"2 scenarios"``.

    Parameters
    ----------
    n : int
        How many.
    noun : str
        Singular form.
    plural_form : str, optional
        Irregular plural (default: ``noun + "s"``).

    Returns
    -------
    str
        ``n`` with thousands separators, a space and the noun.
    """
    return f"{n:,} {noun if n == 1 else plural_form or noun + 's'}"


@contextlib.contextmanager
def warnings_as_lines(command: str) -> Iterator[None]:
    """Show the data-sufficiency warning of a fit as one line on stderr while it runs.

    ``warnings.warn`` would print two lines (file, line number and source) that mean nothing
    to a user of the command line; and under a filter that turns warnings into errors (as in
    the tests) the run would stop, where the command line promises that it continues.

    Parameters
    ----------
    command : str
        Subcommand named in the line (``clusterdyn COMMAND: warning: ...``).
    """
    from clusterdyn.calibration.objective import SparseDataWarning

    original = warnings.showwarning
    shown: set[str] = set()

    def show(message: Warning | str, category: type[Warning], *args: object,
             **kwargs: object) -> None:
        if issubclass(category, SparseDataWarning):
            if str(message) not in shown:  # a profile refits many times: say it once
                shown.add(str(message))
                print(f"clusterdyn {command}: warning: {message}", file=sys.stderr, flush=True)
        else:  # any other warning is a programming matter: shown as Python shows it
            original(message, category, *args, **kwargs)  # type: ignore[arg-type]

    # catch_warnings restores the filters and showwarning on exit.
    with warnings.catch_warnings():
        warnings.simplefilter("always", SparseDataWarning)
        warnings.showwarning = show
        yield


def run_command(args: argparse.Namespace) -> int:
    """Calibrate, write the results TOML and the markdown report, print the summary.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``calibrate`` options.

    Returns
    -------
    int
        Exit status 0 (errors are raised and reported by :func:`clusterdyn.cli.main`).

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If the fitted years hold no more observations than free parameters (checked by
        :func:`clusterdyn.calibration.objective.check_observations`, which also warns, as one line
        on
        stderr, when they hold fewer than two per parameter).
    """
    # Imported here, not at the top: the parser is built for every `clusterdyn --help`, which
    # must not wait for pandas, PySD and scipy.
    from clusterdyn.calibration.fit import calibrate
    from clusterdyn.calibration.results import report_markdown, write_toml
    from clusterdyn.calibration.spec import load_spec, spec_model
    from clusterdyn.sdmodels import load_model

    if args.output.suffix != ".toml":
        raise UsageError(f"-o {args.output}: expected a .toml file name")
    if args.model is None and args.spec is not None:
        model = spec_model(args.spec)  # the spec says which model it fits
    else:
        model = load_model(args.model or "salmon_cluster")
    spec = load_spec(model, args.spec)
    if args.until is not None and not spec.first_year < args.until <= spec.last_year:
        raise UsageError(f"--until {args.until}: expected a year after {spec.first_year} and "
                         f"no later than {spec.last_year}")
    # Both outputs are checked before the search, which takes a while: never an unwritable
    # output after it, never an output over the spec, its data or the model.
    inputs = [spec.path, spec.data_path, model.mdl_path]
    for path in (args.output, args.output.with_suffix(".md")):
        output_file(path, inputs)
    started = time.perf_counter()
    with warnings_as_lines("calibrate"):
        result = calibrate(model, spec, until=args.until, seed=args.seed, quick=args.quick,
                           progress=not args.no_progress, engine=args.engine)
    elapsed = time.perf_counter() - started
    observations = spec.observations()
    run = result.simulate()
    data = result.to_dict(observations, run)
    report = args.output.with_suffix(".md")
    markdown = report_markdown(data, run, observations)
    write_set({args.output: lambda handle: write_toml(data, handle),
               report: lambda handle: handle.write(markdown)}, inputs)
    print(result.summary())
    print(f"\n{plural(result.evaluations, 'model run')} in {elapsed:.1f} s; wrote {args.output} "
          f"and {report}")
    return 0
