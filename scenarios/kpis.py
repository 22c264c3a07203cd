"""Key performance indicators of scenario runs, and the comparison table.

All KPIs are read in 2003 or summed over 1978-2003 (the years of Table 3.1), whatever a
scenario's horizon:

- cumulative export value = sum of the yearly ``Export value`` (million USD/Year) at
  1978, 1979, ..., 2003, i.e. a 26-year total with each year's rate held for one year;
- cumulative policy cost = sum of the calendar-year policy costs 1978-2003 (26 years);
- export value gained per policy dollar = (cumulative exports - those of ``no_policy``) /
  (cumulative cost - that of ``no_policy``): NaN ("n/a") for ``no_policy`` itself and for any
  scenario that costs exactly what ``no_policy`` costs.

The discounted KPIs count 1978 to the economics' last year (2003 unless ``until`` is given) in
million constant 2003 US$, discounted to 1978 (:mod:`clusterdyn.scenarios.economics`: CPI-U
deflator, 6%
real rate by default):

- NPV of exports = sum of the yearly export value, deflated and discounted;
- NPV of policy cost = sum of the calendar-year policy costs, discounted;
- benefit-cost ratio = (NPV of exports - that of ``no_policy``) / (NPV of cost - that of
  ``no_policy``): NaN for ``no_policy`` itself. Exports are gross revenue, not value added, so
  the ratio overstates the net return to the country (the model has no value-added account).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from clusterdyn.scenarios.economics import Economics, npv_of_costs, npv_of_exports
from clusterdyn.scenarios.engine import NOT_REACHED, ScenarioRun, run
from clusterdyn.scenarios.spec import KPI_YEAR, STAGES, Scenario, ScenarioError, available, load

FIRST_YEAR = 1978
REFERENCE = "no_policy"

#: KPI columns: name -> (markdown header, number format).
COLUMNS: Mapping[str, tuple[str, str]] = {
    "production_2003_t": ("production 2003 (t)", "{:,.0f}"),
    "price_2003_usd_per_kg": ("price 2003 (US$/kg)", "{:.2f}"),
    "cum_export_value_1978_2003_musd": ("cum. exports 1978-2003 (US$ M)", "{:,.0f}"),
    "world_market_share_2003": ("world share 2003", "{:.1%}"),
    "supplier_base_2003_firms": ("suppliers 2003 (firms)", "{:,.0f}"),
    "social_capital_2003": ("social capital 2003", "{:.3f}"),
    "cum_policy_cost_1978_2003_musd": ("cum. policy cost (US$ M)", "{:,.0f}"),
    "export_gain_per_policy_dollar": ("exports gained per policy US$", "{:.1f}"),
    "npv_exports_musd": ("NPV exports (US$ M 2003)", "{:,.0f}"),
    "npv_policy_cost_musd": ("NPV policy cost (US$ M 2003)", "{:,.0f}"),
    "benefit_cost_ratio": ("benefit-cost ratio", "{:.1f}"),
    "maturing_start": ("maturing starts", "{:g}"),
    "globalisation_start": ("globalisation starts", "{:g}"),
}


def _row(result: ScenarioRun, economics: Economics) -> dict[str, float]:
    frame = result.trajectories
    last = max(KPI_YEAR, economics.until)
    if frame.index[-1] < last:
        raise ScenarioError(f"scenario {result.scenario.name!r} ends in {frame.index[-1]}: "
                            f"KPIs need a run to {last}")
    window = slice(FIRST_YEAR, KPI_YEAR)
    at = frame.loc[KPI_YEAR]
    row = {
        "production_2003_t": at["Production"],
        "price_2003_usd_per_kg": at["Price"],
        "cum_export_value_1978_2003_musd": frame.loc[window, "Export value"].sum(),
        "world_market_share_2003": at["World market share"],
        "supplier_base_2003_firms": at["Supplier base"],
        "social_capital_2003": at["Social capital"],
        "cum_policy_cost_1978_2003_musd": result.cost.loc[window].sum(),
        "npv_exports_musd": npv_of_exports(frame["Export value"].to_numpy(),
                                           frame.index.to_numpy(), economics),
        "npv_policy_cost_musd": npv_of_costs(result.cost, economics),
    }
    for stage in STAGES[1:]:
        start = result.stage_starts[stage]
        row[f"{stage}_start"] = math.nan if start is None or start > KPI_YEAR else start
    return {k: float(v) for k, v in row.items()}


def kpi_table(runs: Mapping[str, ScenarioRun], reference: ScenarioRun,
              economics: Economics | None = None) -> pd.DataFrame:
    """KPIs of each run (one row per scenario, index ``scenario``).

    Parameters
    ----------
    runs : mapping of str to ScenarioRun
        Runs by scenario name, in the order of the rows.
    reference : ScenarioRun
        The ``no_policy`` run the export gain per policy dollar is measured against.
    economics : Economics, optional
        Discount rate and last year of the NPVs (default: 6%, to 2003).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; ``maturing_start``/``globalisation_start`` are NaN when the
        stage did not start by 2003, ``export_gain_per_policy_dollar`` is NaN for
        ``no_policy`` (and for any scenario costing the same as it).
    """
    economics = economics or Economics()
    ref = _row(reference, economics)
    rows = {}
    for name, result in runs.items():
        row = _row(result, economics)
        extra_cost = row["cum_policy_cost_1978_2003_musd"] - ref["cum_policy_cost_1978_2003_musd"]
        gain = row["cum_export_value_1978_2003_musd"] - ref["cum_export_value_1978_2003_musd"]
        row["export_gain_per_policy_dollar"] = (
            math.nan if name == REFERENCE or extra_cost == 0 else gain / extra_cost
        )
        extra_npv = row["npv_policy_cost_musd"] - ref["npv_policy_cost_musd"]
        row["benefit_cost_ratio"] = (
            math.nan if name == REFERENCE or extra_npv == 0
            else (row["npv_exports_musd"] - ref["npv_exports_musd"]) / extra_npv
        )
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")[list(COLUMNS)]
    table.index.name = "scenario"
    return table


def run_all(names: Iterable[str | Path] | None = None,
            params: Mapping[str, object] | None = None,
            until: int | None = None) -> tuple[dict[str, ScenarioRun], ScenarioRun]:
    """Load every scenario first (so a bad file stops before any run), then run them.

    ``until`` (optional) runs every scenario at least to that year (for NPVs to 2030).

    Returns
    -------
    (runs, reference) : dict of ScenarioRun by name, and the ``no_policy`` run
    """
    loaded: dict[str, Scenario] = {}
    for name in (available() if names is None else list(names)):
        scenario = load(name)
        if scenario.name in loaded:
            raise ScenarioError(f"scenario {scenario.name!r} is given twice")
        loaded[scenario.name] = scenario
    reference_scenario = loaded.get(REFERENCE) or load(REFERENCE)
    def horizon(scenario: Scenario) -> int | None:
        return None if until is None else max(until, scenario.horizon)

    runs = {name: run(scenario, params=params, until=horizon(scenario))
            for name, scenario in loaded.items()}
    reference = runs.get(REFERENCE) or run(reference_scenario, params=params,
                                           until=horizon(reference_scenario))
    return runs, reference


def compare(names: Iterable[str | Path] | None = None,
            params: Mapping[str, object] | None = None,
            economics: Economics | None = None) -> pd.DataFrame:
    """Run scenarios and return their KPI table (see :func:`kpi_table`).

    Parameters
    ----------
    names : iterable of str or pathlib.Path, optional
        Scenario names or files (default: every shipped scenario, :func:`available`).
    params : mapping, optional
        Extra parameter values applied to every run, the ``no_policy`` reference included.
    economics : Economics, optional
        Discount rate and last year of the NPVs (default: 6%, to 2003).
    """
    economics = economics or Economics()
    runs, reference = run_all(names, params, economics.until)
    return kpi_table(runs, reference, economics)


def _cell(column: str, value: float) -> str:
    if isinstance(value, float) and np.isnan(value):
        return NOT_REACHED if column.endswith("_start") else "n/a"
    return COLUMNS[column][1].format(value)


def kpi_markdown(table: pd.DataFrame, economics: Economics | None = None) -> str:
    """The KPI table as a markdown table, with the definitions below it."""
    lines = ["| scenario | " + " | ".join(h for h, _ in COLUMNS.values()) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    for name, row in table.iterrows():
        lines.append(f"| {name} | " + " | ".join(_cell(c, row[c]) for c in COLUMNS) + " |")
    lines += ["", __doc__.split("\n\n", 1)[1].strip(),
              "", f"NPVs here: {(economics or Economics()).describe()}."]
    return "\n".join(lines) + "\n"


def kpi_csv_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The KPI table for CSV, as text: 10 significant digits, stage starts exact (12 digits),
    ``not reached`` for a stage that did not start by 2003 and ``n/a`` for an undefined gain."""
    out = pd.DataFrame(index=table.index)
    for column in table.columns:
        digits = ".12g" if column.endswith("_start") else ".10g"
        out[column] = [_cell(column, v) if np.isnan(v) else format(v, digits)
                       for v in table[column]]
    return out
