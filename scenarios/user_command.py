"""``clusterdyn scenarios FILE.toml ...`` for scenarios of a user's own model.

Writes the same three files as the salmon scenarios: ``trajectories.csv`` (long format:
``scenario,year,variable,value``, with ``year`` the model's time), ``kpis.csv`` and
``kpis.md`` (every output at the horizon); see :mod:`clusterdyn.scenarios.user_model`.
"""

from __future__ import annotations

import argparse

import pandas as pd

from clusterdyn.errors import UsageError
from clusterdyn.io import write_set
from clusterdyn.scenarios.user_model import (
    UserScenarioRun,
    is_user_scenario,
    load_user_scenario,
    run_user_scenario,
)

__all__ = ["is_user_scenario", "run_user_scenarios"]


def _long(runs: dict[str, UserScenarioRun]) -> pd.DataFrame:
    parts = []
    for name, result in runs.items():
        long = result.trajectories.reset_index().melt(id_vars="year", var_name="variable",
                                                      value_name="value")
        long.insert(0, "scenario", name)
        parts.append(long)
    return pd.concat(parts, ignore_index=True)


def _markdown(table: pd.DataFrame, model: str) -> str:
    header = "| scenario | " + " | ".join(table.columns) + " |"
    rows = [f"| {name} | " + " | ".join(f"{v:.6g}" for v in row) + " |"
            for name, row in table.iterrows()]
    return "\n".join([f"# Scenarios of {model}", "", header,
                      "|---|" + "---|" * len(table.columns), *rows]) + "\n"


def run_user_scenarios(args: argparse.Namespace, names: list[str]) -> int:
    """Validate and run user-model scenarios, then write the three files atomically.

    Raises
    ------
    UsageError
        If salmon scenarios are mixed in, the scenarios are of different models, or a
        salmon-only option (``--until``, ``--rate``) is given.
    ScenarioError
        For an invalid scenario file (before any run).
    """
    from clusterdyn.calibration.command import plural

    others = [name for name in args.names if name not in names]
    if others:
        raise UsageError(f"{names[0]} is a scenario of a user's model (it has a 'model' key) "
                         f"and {others[0]!r} is not: run them separately")
    if args.until is not None or args.rate is not None:
        raise UsageError("--until and --rate apply to the salmon scenarios; a user-model "
                         "scenario runs to its 'horizon' key and reports its outputs there")
    scenarios = [load_user_scenario(name) for name in names]  # every file checked first
    models = {s.model.mdl_path.resolve() for s in scenarios}
    if len(models) > 1:
        raise UsageError(f"the scenarios are of {len(models)} different models: run them "
                         "separately")
    duplicated = sorted({s.name for s in scenarios if [t.name for t in scenarios].count(s.name)
                         > 1})
    if duplicated:
        raise UsageError(f"scenario name(s) {duplicated} given twice")
    runs = {s.name: run_user_scenario(s) for s in scenarios}
    table = pd.DataFrame({name: run.kpis() for name, run in runs.items()}).T.rename_axis(
        "scenario")
    texts = {
        "trajectories.csv": _long(runs).to_csv(index=False, float_format="%.10g"),
        "kpis.csv": table.to_csv(float_format="%.10g"),
        "kpis.md": _markdown(table, scenarios[0].model.name),
    }
    write_set({args.output / name: (lambda handle, text=text: handle.write(text))
               for name, text in texts.items()})
    for name, run in runs.items():
        stages = ", ".join(f"{stage} {start:g}" for stage, start in run.scenario.stages)
        print(f"{name}: {stages}")
    print(f"wrote {plural(len(runs), 'scenario')} to {args.output}/ (trajectories.csv, kpis.csv, "
          "kpis.md)")
    return 0
