"""Stage-switched policy scenarios for the salmon cluster model.

>>> import scenarios
>>> scenarios.available()                       # shipped scenario names
>>> result = scenarios.run("production_triggered")
>>> result.stage_starts                         # when each stage actually started
>>> scenarios.compare(["historical", "no_policy", "static_policy"])   # KPI table
>>> mine = scenarios.from_dict({"name": "mine", "description": "...", "rationale": "...",
...                             "base": "historical", "levers": {"export_promotion": [1, .5, .5]}})

Names are resolved on first use, so that ``from scenarios import command`` (the command
line's parser) does not import the model.
"""

from __future__ import annotations

import importlib
from typing import Any

from scenarios.catalog import available

#: Public names and the modules that define them.
_EXPORTS: dict[str, str] = {
    "PolicyCosts": "scenarios.costs",
    "load_costs": "scenarios.costs",
    "ScenarioRun": "scenarios.engine",
    "baseline_parameters": "scenarios.engine",
    "run": "scenarios.engine",
    "scenario_parameters": "scenarios.engine",
    "compare": "scenarios.kpis",
    "kpi_table": "scenarios.kpis",
    "LEVERS": "scenarios.spec",
    "STAGES": "scenarios.spec",
    "Condition": "scenarios.spec",
    "Scenario": "scenarios.spec",
    "ScenarioError": "scenarios.spec",
    "from_dict": "scenarios.spec",
    "load": "scenarios.spec",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'scenarios' has no attribute {name!r}")


__all__ = [  # noqa: PLE0604 - the lazy names are listed in _EXPORTS
    "LEVERS", "STAGES", "Condition", "PolicyCosts", "Scenario", "ScenarioError", "ScenarioRun",
    "available", "baseline_parameters", "compare", "from_dict", "kpi_table", "load",
    "load_costs", "run", "scenario_parameters",
]
