"""Stage-switched policy scenarios for the salmon cluster model.

>>> import scenarios
>>> scenarios.available()                       # shipped scenario names
>>> result = scenarios.run("production_triggered")
>>> result.stage_starts                         # when each stage actually started
>>> scenarios.compare(["historical", "no_policy", "static_policy"])   # KPI table
>>> mine = scenarios.from_dict({"name": "mine", "description": "...", "rationale": "...",
...                             "base": "historical", "levers": {"export_promotion": [1, .5, .5]}})

Names are resolved on first use, so that ``from clusterdyn.scenarios import command`` (the command
line's parser) does not import the model.
"""

from __future__ import annotations

import importlib
from typing import Any

from clusterdyn.scenarios.catalog import available

#: Public names and the modules that define them.
_EXPORTS: dict[str, str] = {
    "PolicyCosts": "clusterdyn.scenarios.costs",
    "load_costs": "clusterdyn.scenarios.costs",
    "ScenarioRun": "clusterdyn.scenarios.engine",
    "baseline_parameters": "clusterdyn.scenarios.engine",
    "run": "clusterdyn.scenarios.engine",
    "scenario_parameters": "clusterdyn.scenarios.engine",
    "compare": "clusterdyn.scenarios.kpis",
    "kpi_table": "clusterdyn.scenarios.kpis",
    "LEVERS": "clusterdyn.scenarios.spec",
    "STAGES": "clusterdyn.scenarios.spec",
    "Condition": "clusterdyn.scenarios.spec",
    "Scenario": "clusterdyn.scenarios.spec",
    "ScenarioError": "clusterdyn.scenarios.spec",
    "from_dict": "clusterdyn.scenarios.spec",
    "load": "clusterdyn.scenarios.spec",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'clusterdyn.scenarios' has no attribute {name!r}")


__all__ = [  # noqa: PLE0604 - the lazy names are listed in _EXPORTS
    "LEVERS", "STAGES", "Condition", "PolicyCosts", "Scenario", "ScenarioError", "ScenarioRun",
    "available", "baseline_parameters", "compare", "from_dict", "kpi_table", "load",
    "load_costs", "run", "scenario_parameters",
]
