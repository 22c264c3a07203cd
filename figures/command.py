"""``clusterdyn figures``: regenerate the figure set, or check a folder against its manifest.

Wire into ``clusterdyn/cli.py`` with ``figures_command.add_parser(sub)``. ``main`` runs the
subcommand on its own (``python -m clusterdyn.figures``), with the same one-line errors as
``clusterdyn.cli.main``. Plotting modules are imported only when the command runs, so
registering the subcommand keeps ``clusterdyn --help`` fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from clusterdyn.errors import UsageError
from clusterdyn.figures.catalog import CATALOG

#: Where ``clusterdyn figures`` writes by default (relative to the working directory).
DEFAULT_OUTPUT = Path("figures") / "output"
MANIFEST = "MANIFEST.json"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``figures`` subcommand."""
    names = "; ".join(f"{name}: {description}" for name, description in CATALOG.items())
    parser = sub.add_parser(
        "figures",
        help="regenerate the figure set (PNG, SVG, PDF) or check a folder's manifest",
        description="Regenerate every figure from the shipped model, calibrated parameters "
        f"and scenarios into DIR, as PNG (200 dpi), SVG and PDF, with DIR/{MANIFEST} "
        "(SHA-256 of every file and of the inputs). Output is byte-for-byte reproducible; "
        f"model runs are cached. Figures: {names}.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, metavar="DIR",
                      help=f"output folder (default: {DEFAULT_OUTPUT}/)")
    mode.add_argument("--check", type=Path, default=None, metavar="DIR",
                      help=f"verify the files in DIR against DIR/{MANIFEST}: exit 0 if all "
                      "match, 1 listing mismatching or missing files")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help="render (or check) only this figure; repeatable. Names: "
                        + ", ".join(CATALOG))
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="worker processes (default 1: render in this process; 2 helps "
                        "only on an idle multi-core machine)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run_command)


def _check(args: argparse.Namespace) -> int:
    from clusterdyn.figures.rendering import check

    report = check(args.check, args.only)
    for title, items in (("mismatching (SHA-256 differs from the manifest)", report.mismatched),
                         ("missing", report.missing)):
        if items:
            print(f"{title}: {len(items)}")
            print("\n".join(f"  {item}" for item in items))
    if report.unexpected:
        print("note: files not in the manifest: " + ", ".join(report.unexpected))
    for input_name, names in report.stale_inputs.items():
        print(f"note: input changed since rendering: {input_name} (figures: "
              f"{', '.join(names)}); re-render with `clusterdyn figures -o {args.check}`")
    for name, reason in report.skipped.items():
        print(f"note: figure {name} was not rendered: {reason}")
    if not report.ok:
        print(f"{args.check}: FAILED against {MANIFEST}")
        return 1
    print(f"{args.check}: all files match {MANIFEST}")
    return 0


def plural(count: int, noun: str) -> str:
    """``"1 figure"``, ``"3 figures"``: the count with the noun in the right number."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def run_command(args: argparse.Namespace) -> int:
    """Render the set (or ``--only`` figures) into ``-o DIR``, or ``--check DIR``."""
    from clusterdyn.figures.rendering import render
    from clusterdyn.scenarios import ScenarioError

    if args.check is not None:
        return _check(args)
    try:
        if args.jobs is not None and args.jobs < 1:
            raise UsageError(f"--jobs {args.jobs}: expected a number of processes >= 1")
        report = render(args.output, args.only, progress=not args.no_progress,
                        jobs=args.jobs)
    except ScenarioError as exc:  # one line through clusterdyn.cli.main, like UsageError
        raise UsageError(str(exc)) from None
    for name, reason in report.skipped.items():
        print(f"clusterdyn figures: warning: figure {name} not rendered: {reason}",
              file=sys.stderr)
    figures = len({f.rsplit(".", 1)[0] for f in report.files})
    print(f"wrote {plural(len(report.files), 'file')} ({plural(figures, 'figure')} x "
          f"PNG/SVG/PDF) and {MANIFEST} to {args.output}/ in {report.seconds:.1f} s "
          f"({plural(report.runs_simulated, 'model run')}, {report.runs_cached} from the "
          "cache)")
    return 1 if report.skipped else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``figures`` as a stand-alone command (``python -m clusterdyn.figures``)."""
    from clusterdyn.calibration.data_io import DataError
    from clusterdyn.calibration.spec import SpecError
    from clusterdyn.sdmodels import ModelInputError, SimulationError

    parser = argparse.ArgumentParser(prog="clusterdyn")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser(sub)
    args = parser.parse_args(["figures", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except (UsageError, ModelInputError, SimulationError, SpecError, DataError) as exc:
        print(f"clusterdyn {args.command}: error: {exc}", file=sys.stderr)
        return 2
