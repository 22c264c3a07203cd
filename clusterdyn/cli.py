"""``clusterdyn`` command line: ``clusterdyn --help`` lists the subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from calibration import calibrated_parameters, posterior_command, profile_command
from calibration import command as calibration_command
from calibration.data_io import DataError
from calibration.spec import SpecError
from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import write_atomically
from ensembles import command as ensembles_command
from figures import command as figures_command
from scenarios import ScenarioError
from scenarios import command as scenario_command
from sdmodels import MAX_YEAR, ModelInputError, load_model
from sdmodels.model import Model, SimulationError
from validation import command as validation_command

_year = whole_number(1979, MAX_YEAR, what=f"a year from 1979 to {MAX_YEAR}")


def _dt(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of years, got {text!r}") from None
    return value


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """Turn ``["Name=VALUE", ...]`` into a dict (values stay strings; the model checks them)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(
                f"--set {item!r}: expected \"Name=VALUE\", e.g. \"Capacity lifetime=12\""
            )
        if name.strip() in out:
            raise UsageError(f"--set: parameter {name.strip()!r} is given twice")
        out[name.strip()] = value.strip()
    return out


def default_parameters(model: Model, which: str) -> dict[str, float]:
    """The shipped calibrated parameters (``which="calibrated"``), or none (the .mdl's)."""
    if which == "mdl":
        return {}
    try:
        return calibrated_parameters(model.name)
    except FileNotFoundError:
        raise UsageError(
            f"no shipped calibration for model {model.name!r}: use --defaults mdl, or run "
            f"`clusterdyn calibrate -o calibration/results/{model.name}.toml`"
        ) from None


def cmd_run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    variables = "all" if args.all_variables else (args.variables or None)
    if args.scenario:
        params, until = scenario_command.scenario_parameters(
            args.scenario, params=parse_assignments(args.set), until=args.until, dt=args.dt,
            base_params=default_parameters(model, args.defaults), model=model)
    else:
        params = {**default_parameters(model, args.defaults), **parse_assignments(args.set)}
        until = args.until
    frame = model.run(params=params, until=until, dt=args.dt, variables=variables)
    write_atomically(args.output, lambda handle: frame.to_csv(handle, float_format="%.10g"))
    if args.output != "-":
        print(f"wrote {len(frame)} years x {frame.shape[1]} variables to {args.output}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    """The main job: calibrated model -> scenarios -> every figure (and optionally recalibrate)."""
    out = args.output
    steps: list[list[str]] = []
    if args.recalibrate:
        steps += [
            ["calibrate", "--no-progress", "-o", "calibration/results/salmon_cluster.toml"],
            ["calibrate", "--no-progress", "--until", "1995", "-o",
             "calibration/results/salmon_cluster_until_1995.toml"],
            ["profile", "Maximum demand growth rate", "--no-progress", "--results",
             "calibration/results/salmon_cluster_until_1995.toml", "-o",
             "calibration/results/profile_demand_growth_until_1995.md"],
            ["posterior", "--no-progress", "--results", "calibration/results/salmon_cluster.toml"],
            ["posterior", "--no-progress", "--results",
             "calibration/results/salmon_cluster_until_1995.toml"],
        ]
    steps += [
        ["run", "-o", f"{out}/baseline.csv"],
        ["scenarios", "-o", f"{out}/scenarios"],
        ["figures", "-o", str(args.figures)],
    ]
    for step in steps:
        print(f"== clusterdyn {' '.join(step)}", flush=True)
        code = main(step)
        if code != 0:
            return code
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    rows = [
        f"{p.name}\t{p.default:g}\t[{p.lower:g}, {p.upper:g}]\t{p.units}"
        for p in model.parameters.values()
    ]
    print("name\tdefault\trange\tunits")
    print("\n".join(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clusterdyn",
        description="System-dynamics model of the Chilean salmon cluster's lifecycle "
        "(1978-2003): run, calibrate, compare policy scenarios, draw figures.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="simulate the model and write yearly outputs as CSV",
                         description="Simulate the model and write one row per year.")
    run.add_argument("--model", default="salmon_cluster", help="model name or .mdl path")
    run.add_argument("--defaults", choices=("calibrated", "mdl"), default="calibrated",
                     help="parameter defaults: the shipped calibration (default) or the .mdl's")
    run.add_argument("--scenario", metavar="NAME", default=None,
                     help="run a policy scenario (shipped name or .toml file); --set applies on "
                     "top of it")
    run.add_argument("--until", type=_year, default=None,
                     help=f"last year, up to {MAX_YEAR} (default: 2003)")
    run.add_argument("--dt", type=_dt, default=None, help="time step in years, 1/n (default 1/128)")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="set a parameter, e.g. --set \"Capacity lifetime=12\" (repeatable)")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--all-variables", action="store_true", help="write every model variable")
    group.add_argument("--variables", nargs="+", metavar="NAME", help="variables to write")
    run.add_argument("-o", "--output", required=True, help="output CSV file, or - for stdout")
    run.set_defaults(func=cmd_run)

    calibration_command.add_parser(sub)
    profile_command.add_parser(sub)
    posterior_command.add_parser(sub)
    scenario_command.add_parser(sub)
    figures_command.add_parser(sub)
    validation_command.add_parser(sub)
    ensembles_command.add_parser(sub)

    reproduce = sub.add_parser(
        "reproduce", help="main job: calibrated baseline, all scenarios and all figures",
        description="Run the calibrated baseline (OUT/baseline.csv), every shipped scenario "
        "(OUT/scenarios/) and regenerate every figure (default figures/output/).")
    reproduce.add_argument("-o", "--output", default="out", help="folder for CSV/markdown "
                           "results (default: out)")
    reproduce.add_argument("--figures", default="figures/output", help="figure folder "
                           "(default: figures/output)")
    reproduce.add_argument("--recalibrate", action="store_true",
                           help="rerun both shipped calibrations, the demand-growth profile and "
                           "both MCMC posteriors first (about 3 minutes)")
    reproduce.set_defaults(func=cmd_reproduce)

    params = sub.add_parser("params", help="list the model's parameters with ranges and units")
    params.add_argument("--model", default="salmon_cluster", help="model name or .mdl path")
    params.set_defaults(func=cmd_params)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clusterdyn`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, ModelInputError, SimulationError, SpecError, DataError,
            ScenarioError) as exc:
        print(f"clusterdyn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
