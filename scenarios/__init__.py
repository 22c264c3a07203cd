"""Stage-switched policy scenarios for the salmon cluster model.

>>> import scenarios
>>> scenarios.available()                       # shipped scenario names
>>> result = scenarios.run("production_triggered")
>>> result.stage_starts                         # when each stage actually started
>>> scenarios.compare(["historical", "no_policy", "static_policy"])   # KPI table
"""

from scenarios.costs import PolicyCosts, load_costs
from scenarios.engine import (
    ScenarioRun,
    baseline_parameters,
    run,
    scenario_parameters,
)
from scenarios.kpis import compare, kpi_table
from scenarios.spec import (
    LEVERS,
    STAGES,
    Condition,
    Scenario,
    ScenarioError,
    available,
    from_dict,
    load,
)

__all__ = [
    "LEVERS",
    "STAGES",
    "Condition",
    "PolicyCosts",
    "Scenario",
    "ScenarioError",
    "ScenarioRun",
    "available",
    "baseline_parameters",
    "compare",
    "from_dict",
    "kpi_table",
    "load",
    "load_costs",
    "run",
    "scenario_parameters",
]
