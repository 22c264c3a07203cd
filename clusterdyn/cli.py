"""``clusterdyn`` command line: ``clusterdyn --help`` lists the subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from clusterdyn import __version__
from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError
from clusterdyn.sdmodels.engine_names import ENGINES

# Every import of the model, the calibration or the plotting libraries is made by the command
# that needs it, so that `clusterdyn --help` and argument errors answer at once.
MAX_YEAR = 2030  # clusterdyn.sdmodels.model.MAX_YEAR, checked equal by the tests
#: Smallest time step accepted (years): 1/1,024 of a year, 53,000 steps to 2030. Halving the
#: default 1/128 already changes the outputs by less than 0.8% (validation/report.md); a
#: smaller step only makes a run take longer (at 1e-300 it would never end).
MIN_DT = 1 / 1024
#: Errors that are the user's input, reported as one line with exit status 2: (module, class).
#: Looked up in sys.modules when an exception arrives, so no module is imported for them.
USER_ERRORS = (
    ("clusterdyn.errors", "UsageError"),
    ("clusterdyn.sdmodels.errors", "ModelInputError"),
    ("clusterdyn.sdmodels.errors", "SimulationError"),
    ("clusterdyn.sdmodels.compiled", "UnsupportedConstruct"),
    ("clusterdyn.calibration.spec", "SpecError"),
    ("clusterdyn.calibration.data_io", "DataError"),
    ("clusterdyn.scenarios.spec", "ScenarioError"),
)

#: Scenarios of the committed robustness analysis: every shipped one with calendar stages.
ROBUSTNESS_SCENARIOS = ("historical", "no_policy", "static_policy", "early_supplier_development",
                        "export_promotion_first", "globalisation_without_biotech",
                        "no_environmental_management")
#: Scenarios of the committed loop-dominance results
#: (clusterdyn.scenarios.loop_dominance.RESULTS_SCENARIOS,
#: checked equal by the tests).
LOOP_SCENARIOS = ("historical", "no_environmental_management")

_year = whole_number(1979, MAX_YEAR, what=f"a year from 1979 to {MAX_YEAR}")


def _dt(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of years, got {text!r}") from None
    if not MIN_DT <= value <= 1:
        raise argparse.ArgumentTypeError(
            f"expected a time step from 1/1024 ({MIN_DT:g}) to 1 year, got {text!r}")
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




def _time(text: str) -> str:
    """``--until``: a finite number, kept as written (a year for the salmon model, checked by
    :func:`_salmon_until`; a time in its own units for another model)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a time, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite time, got {text!r}")
    return text


def _is_shipped_model(model: str) -> bool:
    """Whether ``--model`` names a model shipped in ``sdmodels/`` (by name or by path)."""
    import clusterdyn.sdmodels

    if not model.endswith(".mdl"):
        return True
    shipped = Path(clusterdyn.sdmodels.__file__).resolve().parent
    path = Path(model)
    return path.is_file() and path.resolve().parent == shipped


def _salmon_until(args: argparse.Namespace) -> int | None:
    """``--until`` as a year of the shipped model: a parser error (exit 2) otherwise."""
    if args.until is None:
        return None
    try:
        return _year(args.until)
    except argparse.ArgumentTypeError as exc:
        args.run_parser.error(f"argument --until: {exc}")
    raise AssertionError("unreachable")  # parser.error exits


def _check_other_model_options(args: argparse.Namespace) -> None:
    """Options of the shipped model's calibrated yearly run, refused for any other .mdl."""
    refused = [("--scenario", args.scenario is not None), ("--results", args.results is not None),
               ("--defaults calibrated", args.defaults == "calibrated"),
               ("--dt", args.dt is not None)]
    for option, given in refused:
        if given:
            raise UsageError(
                f"{option} applies to the shipped salmon model only; {args.model} runs on its "
                "own .mdl values, at its own time step (drop " + option.split()[0] + ")")


def _run_other_model(args: argparse.Namespace) -> int:
    """``clusterdyn run --model PATH.mdl``: any Vensim model, on the engine chosen."""
    from clusterdyn.io import output_file, write_atomically
    from clusterdyn.sdmodels.engines import run_mdl

    _check_other_model_options(args)
    inputs = [args.model]
    if args.output != "-":
        output_file(args.output, inputs)  # before the run: fail at once on a bad output
    try:
        frame = run_mdl(args.model, params=parse_assignments(args.set), until=args.until,
                        engine=args.engine or "auto", variables=args.variables or None)
    except NotImplementedError as exc:  # the compiled engine's UnsupportedConstruct
        if type(exc).__name__ != "UnsupportedConstruct":
            raise
        where = "" if Path(args.model).name in str(exc) else f"{args.model}: "
        raise UsageError(f"{where}{exc} (run it with --engine auto or --engine pysd)") from None
    write_atomically(args.output, lambda handle: frame.to_csv(handle, float_format="%.10g"),
                     inputs)
    if args.output != "-":
        print(f"wrote {len(frame)} times x {frame.shape[1]} variables to {args.output}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    if not _is_shipped_model(args.model):
        return _run_other_model(args)
    from clusterdyn.io import output_file, write_atomically
    from clusterdyn.scenarios import command as scenario_command
    from clusterdyn.sdmodels import load_model

    if args.engine not in (None, "pysd"):
        raise UsageError(f"--engine {args.engine}: the shipped model {Path(args.model).stem} "
                         "runs with PySD (its calibrated yearly run); --engine applies to "
                         "other .mdl files")
    until = _salmon_until(args)
    defaults = args.defaults or "calibrated"
    inputs = [args.scenario if args.scenario and args.scenario.endswith(".toml") else None,
              args.model if args.model.endswith(".mdl") else None, args.results]
    if args.output != "-":
        output_file(args.output, inputs)  # before the run: fail at once on a bad output
    if args.results is None:
        model = load_model(args.model, defaults=defaults)
    else:
        model = load_model(args.model, defaults="mdl").with_calibration(args.results)
    variables = "all" if args.all_variables else (args.variables or None)
    if args.scenario:
        params, until = scenario_command.scenario_parameters(
            args.scenario, params=parse_assignments(args.set), until=until, dt=args.dt,
            model=model)
    else:
        params = parse_assignments(args.set)
    frame = model.run(params=params, until=until, dt=args.dt, variables=variables)
    write_atomically(args.output, lambda handle: frame.to_csv(handle, float_format="%.10g"),
                     inputs)
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
             "calibration/results/profile_demand_growth_until_1995.md", "-o",
             "calibration/results/profile_demand_growth_until_1995.csv"],
            ["profile", "Maximum demand growth rate", "--no-progress", "--results",
             "calibration/results/salmon_cluster.toml", "-o",
             "calibration/results/profile_demand_growth.csv"],
            ["posterior", "--no-progress", "--results", "calibration/results/salmon_cluster.toml"],
            ["posterior", "--no-progress", "--results",
             "calibration/results/salmon_cluster_until_1995.toml"],
            ["forecast", "--origins", "1990,1993,1995,1998,2000", "--no-progress",
             "--no-figure", "-o", "forecasting/results"],
            ["forecast", "--train-until", "1995", "--results",
             "calibration/results/salmon_cluster_until_1995.toml", "--baseline-first-year",
             "1985", "--no-progress", "--no-figure", "-o",
             "forecasting/results/baselines_from_1985"],
            ["forecast", "--train-until", "2003", "--horizon", "9", "--results",
             "calibration/results/salmon_cluster.toml", "--no-progress", "--no-figure", "-o",
             "forecasting/results/beyond_2003"],
            ["optimize", "--no-progress", "-o", "policy/results/optimize"],
            # The shipped calendar scenarios and the two optima just written.
            *[["loops", "--scenario", name, "--until", "2030", "-o",
               f"scenarios/results/loops/{name}"] for name in LOOP_SCENARIOS],
            ["robustness", *ROBUSTNESS_SCENARIOS, "policy/results/optimize/optimal_switched.toml",
             "policy/results/optimize/optimal_static.toml", "--no-progress",
             "--no-sample-table", "-o", "policy/results/robustness"],
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
    from clusterdyn.sdmodels import load_model

    model = load_model(args.model)
    calibrated = model.baseline
    rows = [
        f"{p.name}\t{model.defaults[p.name]:g}\t{p.default:g}\t"
        f"{'calibrated' if p.name in calibrated else 'mdl'}\t[{p.lower:g}, {p.upper:g}]\t{p.units}"
        for p in model.parameters.values()
    ]
    print("name\tdefault\tmdl\tdefault from\trange\tunits")
    print("\n".join(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from clusterdyn.calibration import command as calibration_command
    from clusterdyn.calibration import posterior_command, profile_command
    from clusterdyn.ensembles import command as ensembles_command
    from clusterdyn.explore import command as explore_command
    from clusterdyn.figures import command as figures_command
    from clusterdyn.forecasting import command as forecast_command
    from clusterdyn.policy import command as policy_command
    from clusterdyn.policy import robustness_command
    from clusterdyn.scenarios import cin as cin_command
    from clusterdyn.scenarios import command as scenario_command
    from clusterdyn.scenarios import loops_command
    from clusterdyn.validation import command as validation_command

    parser = argparse.ArgumentParser(
        prog="clusterdyn",
        description="System-dynamics model of the Chilean salmon cluster's lifecycle "
        "(1978-2003): run, calibrate, compare policy scenarios, draw figures.",
    )
    parser.add_argument("--version", action="version", version=f"clusterdyn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run", help="simulate the model (or any Vensim .mdl) and write its outputs as CSV",
        description="Simulate the salmon model and write one row per year; or, with --model "
        "PATH.mdl, simulate any Vensim model on its own .mdl values and write one row per "
        "SAVEPER time (first column Time, in the model's units), columns named as Vensim "
        "names them (a subscripted variable as Name[a,b]).")
    run.add_argument("--model", default="salmon_cluster", help="model name or .mdl path")
    run.add_argument("--engine", choices=ENGINES, default=None,
                     help="for a .mdl path: the compiled engine, PySD, or auto (default: the "
                     "compiled engine, or PySD with a one-line notice when the compiled "
                     "engine cannot run the model)")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--defaults", choices=("calibrated", "mdl"), default=None,
                        help="parameter defaults of the salmon model: the shipped calibration "
                        "(default) or the .mdl's")
    source.add_argument("--results", metavar="PATH", default=None,
                        help="take the parameters of this calibration results file (written "
                        "by 'clusterdyn calibrate'); the others keep the .mdl's values")
    run.add_argument("--scenario", metavar="NAME", default=None,
                     help="run a policy scenario (shipped name or .toml file); --set applies on "
                     "top of it")
    run.add_argument("--until", type=_time, default=None,
                     help=f"last time: a year up to {MAX_YEAR} for the salmon model (default: "
                     "2003); for another .mdl, a time in its own units (default: its FINAL "
                     "TIME)")
    run.add_argument("--dt", type=_dt, default=None,
                     help="time step in years, 1/n with n from 1 to 1024 (default 1/128)")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="set a parameter, e.g. --set \"Capacity lifetime=12\" (repeatable)")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--all-variables", action="store_true", help="write every model variable")
    group.add_argument("--variables", nargs="+", metavar="NAME", help="variables to write")
    run.add_argument("-o", "--output", required=True, help="output CSV file, or - for stdout")
    run.set_defaults(func=cmd_run, run_parser=run)

    calibration_command.add_parser(sub)
    profile_command.add_parser(sub)
    posterior_command.add_parser(sub)
    forecast_command.add_parser(sub)
    scenario_command.add_parser(sub)
    policy_command.add_parser(sub)
    robustness_command.add_parser(sub)
    cin_command.add_parser(sub)
    loops_command.add_parser(sub)
    figures_command.add_parser(sub)
    validation_command.add_parser(sub)
    ensembles_command.add_parser(sub)
    explore_command.add_parser(sub)

    reproduce = sub.add_parser(
        "reproduce", help="main job: calibrated baseline, all scenarios and all figures",
        description="Run the calibrated baseline (OUT/baseline.csv), every shipped scenario "
        "(OUT/scenarios/) and regenerate every figure (default figures/output/).")
    reproduce.add_argument("-o", "--output", default="out", help="folder for CSV/markdown "
                           "results (default: out)")
    reproduce.add_argument("--figures", default="figures/output", help="figure folder "
                           "(default: figures/output)")
    reproduce.add_argument("--recalibrate", action="store_true",
                           help="rerun both shipped calibrations, the demand-growth profiles, "
                           "both MCMC posteriors, the rolling-origin forecast evaluation and "
                           "the policy optimisation and robustness analyses first (about 25 "
                           "minutes)")
    reproduce.set_defaults(func=cmd_reproduce)

    params = sub.add_parser(
        "params", help="list the model's parameters with ranges and units",
        description="List every settable parameter of the model: the default a run uses (the "
        "shipped calibration where the parameter is calibrated, the .mdl's value otherwise), "
        "the .mdl's own value, where the default comes from, the declared range and units.")
    params.add_argument("--model", default="salmon_cluster", help="model name or .mdl path")
    params.set_defaults(func=cmd_params)
    return parser


def _is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is bad user input (one of :data:`USER_ERRORS`)."""
    classes = [getattr(sys.modules[module], name) for module, name in USER_ERRORS
               if module in sys.modules]
    return isinstance(exc, tuple(classes))


def _silence_stdout() -> None:
    """After a broken pipe, point standard output at /dev/null so that the interpreter's
    final flush does not raise a second BrokenPipeError on the way out."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clusterdyn`` console script.

    Returns the exit status: 0 success, 1 a failed check or an I/O fault, 2 bad input (one
    line naming the file, key or value), 130 interrupted (Ctrl-C), 141 the reader of standard
    output went away (``clusterdyn run -o - | head``).
    """
    command = "clusterdyn"
    try:
        args = build_parser().parse_args(argv)
        command = f"clusterdyn {args.command}"
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except Exception as exc:
        if _is_user_error(exc):
            print(f"{command}: error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, OSError):
            where = f" {exc.filename!r}" if exc.filename else ""
            print(f"{command}: error:{where} {exc.strerror or exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
