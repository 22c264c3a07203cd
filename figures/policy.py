"""Figures of the policy scenarios: schedules, trajectories compared, KPIs.

Each figure has a ``compute_*`` function (inputs -> DataFrame, numbers rounded by
:func:`clusterdyn.figures.inputs.rounded`) and a ``plot_*`` function (DataFrame ->
:class:`matplotlib.figure.Figure`). Scenarios keep the order of
:func:`clusterdyn.scenarios.available` and the same colour and line style in every figure.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from clusterdyn import scenarios
from clusterdyn.figures.inputs import FigureInputs, rounded
from clusterdyn.figures.style import (
    LOG_OUTPUTS,
    MUTED,
    STAGE_LABELS,
    add_footer,
    display_values,
    log_scale,
    new_figure,
    scenario_style,
    shade_stages,
)
from clusterdyn.scenarios.kpis import REFERENCE as KPI_REFERENCE
from clusterdyn.scenarios.spec import Condition
from clusterdyn.sdmodels import PUBLIC_OUTPUTS

SCHEDULE_COLUMNS = ["scenario", "lever", "stage", "intensity", "start"]
COMPARISON_COLUMNS = ["scenario", "year", "variable", "value"]
#: KPI panels: column of :func:`clusterdyn.scenarios.kpi_table` -> (title, axis label, factor).
KPI_PANELS: dict[str, tuple[str, str, float]] = {
    "production_2003_t": ("Production 2003", "thousand t/year", 1e-3),
    "cum_export_value_1978_2003_musd": ("Cumulative export value 1978-2003",
                                        "US$ billion (nominal)", 1e-3),
    "world_market_share_2003": ("World market share 2003", "% of world farmed salmon", 100.0),
    "social_capital_2003": ("Social capital 2003", "index (dimensionless)", 1.0),
    "cum_policy_cost_1978_2003_musd": ("Cumulative policy cost 1978-2003",
                                       "US$ million (2003 US$)", 1.0),
    "export_gain_per_policy_dollar": ("Export value gained per policy dollar",
                                      "US$ of exports per US$ (vs no_policy)", 1.0),
}


def _start_label(start: object, resolved: float | None, model_units: Mapping[str, str]) -> str:
    """Column label of a stage start: ``from 1986`` or the condition and when it held."""
    if isinstance(start, Condition):
        op = {">=": "≥", "<=": "≤"}.get(start.operator, start.operator)
        units = model_units.get(start.variable, "")
        when = "not reached" if resolved is None else f"→ {resolved:.2f}"
        return f"{start.variable} {op}\n{start.threshold:,g} {units}\n{when}"
    return f"from {float(start):g}"  # type: ignore[arg-type]


def compute_policy_schedules(inputs: FigureInputs) -> pd.DataFrame:
    """Lever x stage intensities of every shipped scenario, with each stage's start.

    Returns
    -------
    pandas.DataFrame
        Long format, columns ``scenario, lever, stage, intensity, start`` (``start``: text,
        a year or a condition and the time it first held in the scenario's run).
    """
    units = {n: v.units.replace("/Year", "/year") for n, v in inputs.model.variables.items()}
    rows = []
    for name in inputs.scenario_names:
        scenario = inputs.scenario(name)
        resolved = _stage_starts(inputs, name) if scenario.triggered else dict.fromkeys(
            scenarios.STAGES)
        for lever, values in scenario.levers.items():
            for stage, value in zip(scenarios.STAGES, values, strict=True):
                rows.append({"scenario": name, "lever": lever, "stage": stage,
                             "intensity": float(value),
                             "start": _start_label(scenario.starts[stage], resolved[stage],
                                                   units)})
    return rounded(pd.DataFrame(rows, columns=SCHEDULE_COLUMNS))


def _stage_starts(inputs: FigureInputs, name: str) -> dict[str, float | None]:
    """When each stage of a state-triggered scenario started in its run (rounded)."""
    starts = inputs.scenario_run(name).stage_starts
    return {s: None if t is None else rounded(float(t)) for s, t in starts.items()}


def _grid(n: int, columns: int = 4) -> tuple[int, int]:
    return math.ceil(n / columns), min(n, columns)


def plot_policy_schedules(frame: pd.DataFrame, footer: Sequence[str]) -> Figure:
    """Heat map of lever x stage intensities, one small multiple per scenario."""
    names = list(dict.fromkeys(frame["scenario"]))
    levers = list(dict.fromkeys(frame["lever"]))
    rows, cols = _grid(len(names))
    fig = new_figure(11.0, 3.9 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    image = None
    for k, (ax, name) in enumerate(zip(axes, names, strict=False)):
        part = frame[frame["scenario"] == name]
        grid = part.pivot(index="lever", columns="stage", values="intensity").loc[
            levers, list(scenarios.STAGES)]
        image = ax.imshow(grid.to_numpy(), vmin=0, vmax=1, cmap="cividis", aspect="auto")
        for (i, j), value in np.ndenumerate(grid.to_numpy()):
            ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=7,
                    color="white" if value < 0.6 else "black")
        starts = part.drop_duplicates("stage").set_index("stage")["start"]
        labels = [f"{STAGE_LABELS[s]}\n{starts[s]}" for s in scenarios.STAGES]
        ax.set_xticks(range(len(scenarios.STAGES)), labels, fontsize=6.2)
        ax.set_yticks(range(len(levers)),
                      [lever.replace("_", " ") for lever in levers] if k % cols == 0 else [])
        ax.tick_params(length=0)
        ax.grid(False)
        ax.set_title(textwrap.fill(name.replace("_", " "), 26), fontsize=9)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    if image is not None:
        bar = fig.colorbar(image, ax=axes.tolist(), shrink=0.6, aspect=30, pad=0.01)
        bar.set_label("lever intensity (0 = off, 1 = full)")
    fig.suptitle("Policy schedule of each scenario: lever intensity by lifecycle stage")
    add_footer(fig, footer)
    return fig


def compute_scenario_comparison(inputs: FigureInputs) -> pd.DataFrame:
    """Yearly public outputs of every shipped scenario.

    Returns
    -------
    pandas.DataFrame
        Long format, columns ``scenario, year, variable, value``.
    """
    parts = []
    for name in inputs.scenario_names:
        frame = inputs.scenario_run(name).trajectories[list(PUBLIC_OUTPUTS)]
        long = frame.reset_index().melt(id_vars="year", var_name="variable",
                                        value_name="value")
        long.insert(0, "scenario", name)
        parts.append(long)
    return rounded(pd.concat(parts, ignore_index=True)[COMPARISON_COLUMNS])


def plot_scenario_comparison(frame: pd.DataFrame, stages: Sequence[tuple[str, float, float]],
                             units: Mapping[str, str], footer: Sequence[str]) -> Figure:
    """Small multiples of the public outputs, one line per scenario, stages shaded."""
    names = list(dict.fromkeys(frame["scenario"]))
    variables = list(dict.fromkeys(frame["variable"]))
    rows, cols = _grid(len(variables))
    fig = new_figure(12.0, 3.0 * rows + 1.5)
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[1.0] * rows + [0.28])
    axes: list = []
    for r in range(rows):
        for c in range(cols):
            axes.append(fig.add_subplot(grid[r, c], sharex=axes[0] if axes else None))
    for k, (ax, variable) in enumerate(zip(axes, variables, strict=False)):
        shade_stages(ax, stages, label=k < cols)
        part = frame[frame["variable"] == variable]
        for i, name in enumerate(names):
            line = part[part["scenario"] == name]
            values = display_values(variable, line["value"])
            ax.plot(line["year"], values, lw=1.4, **scenario_style(i))  # type: ignore[arg-type]
        if variable in LOG_OUTPUTS:
            log_scale(ax)
        ax.set_title(variable)
        ax.set_ylabel(units[variable])
        if k >= len(variables) - cols:
            ax.set_xlabel("year")
        else:
            ax.tick_params(labelbottom=False)
    for ax in axes[len(variables):]:
        ax.set_visible(False)
    handles = [Line2D([], [], lw=1.6, label=name.replace("_", " "),
                      **scenario_style(i))  # type: ignore[arg-type]
               for i, name in enumerate(names)]
    legend_ax = fig.add_subplot(grid[rows, :])
    legend_ax.set_axis_off()
    legend_ax.legend(handles=handles, loc="center", ncols=min(len(names), 4),
                     title="scenario (stages shaded: historical calendar)")
    fig.suptitle("Scenario comparison: public outputs of the model, 1978-2003")
    add_footer(fig, footer)
    return fig


def compute_scenario_kpis(inputs: FigureInputs) -> pd.DataFrame:
    """KPI table of every shipped scenario (:func:`clusterdyn.scenarios.kpi_table`).

    Returns
    -------
    pandas.DataFrame
        Index ``scenario``; columns of :data:`clusterdyn.scenarios.kpis.COLUMNS`, including
        ``cum_policy_cost_1978_2003_musd`` and ``export_gain_per_policy_dollar``.
    """
    runs = {name: inputs.scenario_run(name) for name in inputs.scenario_names}
    reference = runs.get(KPI_REFERENCE) or inputs.scenario_run(KPI_REFERENCE)
    return rounded(scenarios.kpi_table(runs, reference))


def plot_scenario_kpis(table: pd.DataFrame, footer: Sequence[str]) -> Figure:
    """Horizontal bars of the KPIs, one panel per KPI, one bar per scenario."""
    names = list(table.index)
    rows, cols = _grid(len(KPI_PANELS), 3)
    fig = new_figure(11.0, 0.28 * len(names) * rows + 1.6 * rows + 0.4)
    axes = fig.subplots(rows, cols, sharey=True, squeeze=False).ravel()
    y = np.arange(len(names))[::-1]
    for ax, (column, (title, label, factor)) in zip(axes, KPI_PANELS.items(), strict=False):
        values = table[column].to_numpy(dtype=float) * factor
        colours = [scenario_style(i)["color"] for i in range(len(names))]
        finite = np.isfinite(values)
        ax.barh(y[finite], values[finite], color=np.array(colours)[finite], height=0.7)
        top = np.nanmax(np.abs(values)) if finite.any() else 1.0
        for yi, value in zip(y, values, strict=True):
            text = ("n/a" if not np.isfinite(value) else "< 0.01" if 0 < abs(value) < 0.01
                    else f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}")
            ax.text((value if np.isfinite(value) else 0) + 0.02 * top, yi, text,
                    va="center", fontsize=7, color="black" if np.isfinite(value) else MUTED)
        ax.set_xlim(0, top * 1.22)
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel(label)
        ax.grid(axis="y", visible=False)
    axes[0].set_yticks(y, [n.replace("_", " ") for n in names])
    for ax in axes[len(KPI_PANELS):]:
        ax.set_visible(False)
    fig.suptitle("Scenario KPIs (2003 values; sums over 1978-2003)")
    add_footer(fig, footer)
    return fig
