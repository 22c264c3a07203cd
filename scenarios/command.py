"""``clusterdyn scenarios``: run policy scenarios and write trajectories and KPI tables.

Also :func:`scenario_parameters` for ``clusterdyn run --scenario NAME``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clusterdyn.argtypes import discount_rate, whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import write_set
from clusterdyn.scenarios.catalog import available

if TYPE_CHECKING:  # the parser is built for every `clusterdyn --help`: pandas is imported late
    import pandas as pd

    from clusterdyn.scenarios.engine import ScenarioRun

__all__ = ["add_parser", "run_command", "scenario_parameters", "trajectories_long"]


def scenario_parameters(*args: Any, **kwargs: Any) -> tuple[dict[str, float], int]:
    """:func:`clusterdyn.scenarios.engine.scenario_parameters` (imported when called)."""
    from clusterdyn.scenarios.engine import scenario_parameters as parameters

    return parameters(*args, **kwargs)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``scenarios`` subcommand."""
    parser = sub.add_parser(
        "scenarios",
        help="run stage-switched policy scenarios and compare their KPIs",
        description="Run policy scenarios (shipped names or .toml files; default: all "
        f"shipped: {', '.join(available())}) from the calibrated parameters and write "
        "DIR/trajectories.csv (long format: scenario,year,variable,value), DIR/kpis.csv and "
        "DIR/kpis.md. Every scenario is validated before any run, and nothing is written if "
        "one fails.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="scenario names or paths to scenario .toml files; a file with a "
                        "'model' key is a scenario of that model, with the levers it declares")
    parser.add_argument("--until", type=whole_number(2003, 2030, "a year from 2003 to 2030"),
                        default=None, metavar="YEAR",
                        help="last year of the discounted KPIs (NPVs); runs go at least that far "
                        "(default 2003; salmon scenarios only)")
    parser.add_argument("--rate", type=discount_rate, default=None, metavar="R",
                        help="real discount rate per year for the NPVs, e.g. 0.06 (default; "
                        "Chile's social discount rate), range used in the docs 0.03-0.10 "
                        "(salmon scenarios only)")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="output folder (created if needed)")
    parser.set_defaults(func=run_command)


def trajectories_long(runs: dict[str, ScenarioRun]) -> pd.DataFrame:
    """Yearly trajectories and policy cost of every run in long format.

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario, year, variable, value``; ``variable`` includes ``Policy cost``
        (million USD in the calendar year).
    """
    import pandas as pd

    parts = []
    for name, result in runs.items():
        frame = result.trajectories.join(result.cost)
        long = frame.reset_index().melt(id_vars="year", var_name="variable", value_name="value")
        long.insert(0, "scenario", name)
        parts.append(long)
    return pd.concat(parts, ignore_index=True)


def run_command(args: argparse.Namespace) -> int:
    """Validate all scenarios, run them, then write the three files atomically."""
    from clusterdyn.calibration.command import plural
    from clusterdyn.scenarios.economics import Economics
    from clusterdyn.scenarios.kpis import kpi_csv_frame, kpi_markdown, kpi_table, run_all

    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output}: expected a folder, found a file")
    from clusterdyn.scenarios.user_command import is_user_scenario, run_user_scenarios

    user = [name for name in args.names if is_user_scenario(name)]
    if user:
        return run_user_scenarios(args, user)
    until = 2003 if args.until is None else args.until
    economics = Economics(rate=0.06 if args.rate is None else args.rate, until=until)
    runs, reference = run_all(args.names or None, until=until)
    table = kpi_table(runs, reference, economics)
    texts = {
        "trajectories.csv": trajectories_long(runs).to_csv(index=False, float_format="%.10g"),
        "kpis.csv": kpi_csv_frame(table).to_csv(),
        "kpis.md": kpi_markdown(table, economics),
    }
    write_set({args.output / name: (lambda handle, text=text: handle.write(text))
               for name, text in texts.items()})
    for name, result in runs.items():
        starts = ", ".join(f"{s} {v}" for s, v in result.start_labels().items())
        print(f"{name}: {starts}")
    print(f"wrote {plural(len(runs), 'scenario')} to {args.output}/ (trajectories.csv, kpis.csv, "
          "kpis.md)")
    return 0
