"""``clusterdyn check``: run the validation battery and write a markdown report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import write_atomically

if TYPE_CHECKING:  # the parser is built for every `clusterdyn --help`: no pint or PySD then
    from clusterdyn.validation.report import Section

#: Section names accepted by ``--only`` -> titles in the report.
SECTIONS = {"units": "units", "reality": "reality checks", "integration": "integration",
            "stocks": "stocks", "behaviour": "behaviour"}  # fmt: skip


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``check`` subcommand."""
    parser = sub.add_parser(
        "check",
        help="validate the model: units, reality checks, integration error, stocks, fit",
        description="Run the model validation battery (validation/README.md): dimensional "
        "consistency of every equation, the reality checks of <model>.checks.toml, the Euler "
        "integration error (halved step and RK4), stocks never negative over a seeded sample "
        "of the parameter box, and behaviour reproduction against the FAO data. Writes a "
        "markdown report; exit status 1 when a check fails.",
    )
    parser.add_argument("--model", default="salmon_cluster", help="model name or .mdl path")
    parser.add_argument("--checks", type=Path, default=None, metavar="FILE",
                        help="reality checks TOML (default: <model>.checks.toml beside the .mdl)")
    parser.add_argument("--defaults", choices=("calibrated", "mdl"), default="calibrated",
                        help="baseline parameters: the shipped calibration (default) or the "
                        ".mdl's")
    parser.add_argument("--samples", type=whole_number(1, what="a positive whole number"),
                        default=500, metavar="N",
                        help="random parameter sets for the stocks check (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of that sample (default 0)")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)}); default: all")
    parser.add_argument("-o", "--output", required=True,
                        help="report file (markdown), or - for standard output")
    parser.set_defaults(func=run_command)


def _timed(title: str, build: Callable[[], Section]) -> tuple[Section, float]:
    from clusterdyn.sdmodels import ModelInputError, SimulationError
    from clusterdyn.validation.report import failed_section

    started = time.perf_counter()
    try:
        section = build()
    except (NotImplementedError, SimulationError, ModelInputError) as exc:
        section = failed_section(title, str(exc))
    return section, time.perf_counter() - started


def run_command(args: argparse.Namespace) -> int:
    """Run every section, print one line per section, write the report.

    Returns
    -------
    int
        0 when every check passes, 1 otherwise.
    """
    from clusterdyn.sdmodels import load_model
    from clusterdyn.validation import behaviour, integration, reality, report, stocks, units

    wanted = {SECTIONS[name] for name in (getattr(args, "only", None) or SECTIONS)}
    units_only = wanted == {"units"}  # needs no parameters, so no calibration either
    model = load_model(args.model, defaults="mdl" if units_only else args.defaults)
    base = dict(model.baseline)
    label = ("none needed" if units_only else "the .mdl's defaults"
             if model.defaults_source == "mdl" else model.defaults_source)
    checks_path = args.checks or reality.default_checks_path(model)
    checks = ()
    if "reality checks" in wanted:  # a bad file is a usage error, reported before any run
        try:
            checks = reality.load_checks(model, checks_path)
        except reality.CheckFileError as exc:
            raise UsageError(str(exc)) from None
    builders: dict[str, Callable[[], Section]] = {
        "units": lambda: report.units_section(
            units.check_declarations(units.check_units(model.mdl_path), model.parameters)),
        "reality checks": lambda: report.reality_section(
            reality.run_checks(model, checks, base), str(checks_path)),
        "integration": lambda: report.integration_section(
            integration.check_integration(model, base)),
        "stocks": lambda: report.stocks_section(
            stocks.check_stocks(model, args.samples, args.seed, base)),
        "behaviour": lambda: report.behaviour_section(
            behaviour.check_behaviour(model, base), label),
    }  # fmt: skip
    stream = sys.stderr if args.output == "-" else sys.stdout  # keep stdout for the report
    sections = []
    for title, build in builders.items():
        if title not in wanted:
            continue
        section, seconds = _timed(title, build)
        sections.append(section)
        print(f"{section.line} [{seconds:.1f} s]", file=stream, flush=True)
    # No date or run time in the report: the same model and inputs give the same bytes.
    header = (f"# Validation report: {model.name}\n\nModel `{model.mdl_path.name}` (SHA-256 "
              f"`{model.sha256[:16]}`), baseline parameters: {label}; written by "
              "`clusterdyn check`.")  # fmt: skip
    if len(wanted) < len(SECTIONS):
        header += (" Only the section " + sections[0].title + " was run." if len(sections) == 1
                   else f" Only the sections {', '.join(s.title for s in sections)} were run.")
    text = report.render_markdown(sections, header)
    write_atomically(args.output, lambda handle: handle.write(text))
    failed = [s.title for s in sections if not s.passed]
    where = "standard output" if args.output == "-" else args.output
    print(f"wrote the report to {where}: "
          + (f"FAILED {', '.join(failed)}" if failed else "all sections pass"), file=stream)
    return 1 if failed else 0
