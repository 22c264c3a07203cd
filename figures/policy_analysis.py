"""Figures of the policy analyses: the cost-NPV frontier, the optimal schedules, and the
robustness of the scenario rankings.

Drawn from the committed results in ``policy/results/`` (:mod:`clusterdyn.policy.shipped`), written
by
``clusterdyn optimize`` and ``clusterdyn robustness``: nothing is optimised or sampled at
render time. Each figure has a ``compute_*`` function (files -> DataFrames) and a ``plot_*``
function (DataFrames -> Figure).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from clusterdyn.figures.inputs import rounded
from clusterdyn.figures.style import (
    ACCENT_COLOUR,
    MODEL_COLOUR,
    MUTED,
    OKABE_ITO,
    STAGE_LABELS,
    add_footer,
    new_figure,
)
from clusterdyn.policy.shipped import OPTIMIZE_DIR, ROBUSTNESS_DIR
from clusterdyn.scenarios.spec import LEVERS, STAGES

KIND_STYLE: dict[str, dict[str, object]] = {
    "switched": {"color": MODEL_COLOUR, "marker": "o", "ls": "-",
                 "label": "best stage-switched schedule"},
    "static": {"color": OKABE_ITO["orange"], "marker": "s", "ls": "--",
               "label": "best static mix (same intensity in every stage)"},
}


def optimize_settings() -> dict[str, object]:
    """The settings of the committed optimisation (``settings.toml``)."""
    with open(OPTIMIZE_DIR / "settings.toml", "rb") as handle:
        return tomllib.load(handle)


def compute_policy_frontier() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The optima at each budget and the shipped calendar scenarios.

    Returns
    -------
    (frontier, shipped) : DataFrames
        ``kind, budget, cost, value, social_capital``; and by scenario ``cost, value,
        social_capital``.
    """
    frontier = pd.read_csv(OPTIMIZE_DIR / "frontier.csv")
    shipped = pd.read_csv(OPTIMIZE_DIR / "shipped.csv", index_col="scenario")
    return rounded(frontier), rounded(shipped)


#: Markers of the shipped scenarios (distinct in grey-scale; historical is the star).
SHIPPED_MARKERS = ("X", "P", "^", "v", "D", "<", ">", "h")


def _shipped_style(name: str, index: int) -> tuple[str, float, str]:
    """Marker, size (points) and colour of a shipped scenario's point."""
    if name == "historical":
        return "*", 9.0, ACCENT_COLOUR
    return SHIPPED_MARKERS[index % len(SHIPPED_MARKERS)], 5.0, MUTED


def plot_policy_frontier(frontier: pd.DataFrame, shipped: pd.DataFrame,
                         settings: Mapping[str, object], footer: Sequence[str]) -> Figure:
    """Cost against NPV of exports (left) and against social capital (right)."""
    fig = new_figure(11.0, 6.0)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.0, 0.2])
    axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])]
    for ax, column, label in ((axes[0], "value", "NPV of export value, US$ million (2003)"),
                              (axes[1], "social_capital", "social capital in the last year "
                                                          "(dimensionless)")):
        for kind, style in KIND_STYLE.items():
            part = frontier[frontier["kind"] == kind].sort_values("cost")
            ax.plot(part["cost"], part[column], lw=1.5, ms=5, **style)  # type: ignore[arg-type]
        for k, (name, row) in enumerate(shipped.iterrows()):
            marker, size, colour = _shipped_style(str(name), k)
            ax.scatter(row["cost"], row[column], marker=marker, s=size ** 2, color=colour,
                       zorder=3)
        ax.axvline(float(settings["budget"]), color=MUTED, lw=0.8, ls=":")
        ax.set_xlabel("NPV of policy cost, US$ million (2003), discounted to 1978")
        ax.set_ylabel(label)
    axes[0].set_title("Exports bought by the policy budget")
    axes[1].set_title("Social capital at the end of the period")
    handles = [Line2D([], [], lw=1.5, ms=5, **style)  # type: ignore[arg-type]
               for style in KIND_STYLE.values()]
    for k, name in enumerate(shipped.index):
        marker, size, colour = _shipped_style(str(name), k)
        handles.append(Line2D([], [], ls="", marker=marker, ms=size, color=colour,
                              label=str(name).replace("_", " ")
                              + (" (Table 3.1)" if name == "historical" else "")))
    handles.append(Line2D([], [], ls=":", color=MUTED, label="default budget (historical cost)"))
    legend_ax = fig.add_subplot(grid[1, :])
    legend_ax.set_axis_off()
    legend_ax.legend(handles=handles, loc="center", ncols=4, fontsize=7)
    fig.suptitle(f"Policy frontier: the best schedules at each budget ({settings['robust']} "
                 f"over {settings['draws']} posterior draws, 1978-{settings['until']}, "
                 f"{float(str(settings['rate'])):.0%} discount rate)")
    add_footer(fig, footer)
    return fig


def compute_optimal_schedule(historical: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """The optimal schedules with the range over replicate searches, and the historical one.

    Returns
    -------
    pandas.DataFrame
        Long: ``kind, lever, stage, intensity, replicate_low, replicate_high`` with ``kind``
        in ``historical``, ``switched``, ``static``.
    """
    frame = pd.read_csv(OPTIMIZE_DIR / "schedules.csv")
    rows = [{"kind": "historical", "lever": lever, "stage": stage, "intensity": value,
             "replicate_low": value, "replicate_high": value}
            for lever, values in historical.items()
            for stage, value in zip(STAGES, values, strict=True)]
    return rounded(pd.concat([pd.DataFrame(rows), frame], ignore_index=True))


def plot_optimal_schedule(frame: pd.DataFrame, footer: Sequence[str]) -> Figure:
    """Lever x stage heat maps: historical, best switched (with the replicates' range) and
    best static."""
    titles = {"historical": "historical (Table 3.1)", "switched": "best stage-switched",
              "static": "best static mix"}
    levers = list(LEVERS)
    fig = new_figure(11.0, 4.8)
    axes = fig.subplots(1, 3)
    image = None
    for k, (ax, kind) in enumerate(zip(axes, titles, strict=True)):
        part = frame[frame["kind"] == kind]
        grid = part.pivot(index="lever", columns="stage", values="intensity").loc[levers,
                                                                                  list(STAGES)]
        low = part.pivot(index="lever", columns="stage", values="replicate_low").loc[
            levers, list(STAGES)].to_numpy()
        high = part.pivot(index="lever", columns="stage", values="replicate_high").loc[
            levers, list(STAGES)].to_numpy()
        values = grid.to_numpy()
        image = ax.imshow(values, vmin=0, vmax=1, cmap="cividis", aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            text = f"{value:.2f}"
            if kind == "switched" and high[i, j] - low[i, j] >= 0.005:
                text += f"\n{low[i, j]:.2f}-{high[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=6.2,
                    color="white" if value < 0.6 else "black")
        ax.set_xticks(range(len(STAGES)), [STAGE_LABELS[s] for s in STAGES], fontsize=6.5)
        ax.set_yticks(range(len(levers)),
                      [lever.replace("_", " ") for lever in levers] if k == 0 else [])
        ax.tick_params(length=0)
        ax.grid(False)
        ax.set_title(titles[kind], fontsize=9)
    if image is not None:
        bar = fig.colorbar(image, ax=axes.tolist(), shrink=0.7, aspect=30, pad=0.01)
        bar.set_label("lever intensity (0 = off, 1 = full)")
    fig.suptitle("Optimal policy schedules under the historical budget "
                 "(small print: range over searches with other posterior draws)")
    add_footer(fig, footer)
    return fig


def compute_ranking_robustness() -> pd.DataFrame:
    """Pairwise win probabilities of the shipped calendar scenarios (``win_probability.csv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario_a, scenario_b, kpi, p_a_beats_b``.
    """
    return rounded(pd.read_csv(ROBUSTNESS_DIR / "win_probability.csv"))


#: KPI panels of the ranking figure: column value -> title.
RANKING_KPIS: dict[str, str] = {
    "npv_exports": "NPV of export value",
    "production": "production in the last year",
    "social_capital": "social capital in the last year",
}


def plot_ranking_robustness(frame: pd.DataFrame, footer: Sequence[str]) -> Figure:
    """P(row beats column) for each KPI, one heat map per KPI."""
    names = list(dict.fromkeys([*frame["scenario_a"], *frame["scenario_b"]]))
    fig = new_figure(13.0, 6.2)
    axes = fig.subplots(1, len(RANKING_KPIS))
    image = None
    for k, (ax, (kpi, title)) in enumerate(zip(axes, RANKING_KPIS.items(), strict=True)):
        part = frame[frame["kpi"] == kpi]
        grid = np.full((len(names), len(names)), np.nan)
        for row in part.itertuples():
            i, j = names.index(row.scenario_a), names.index(row.scenario_b)
            grid[i, j] = row.p_a_beats_b
            if np.isnan(grid[j, i]):
                grid[j, i] = 1.0 - row.p_a_beats_b - getattr(row, "p_tie", 0.0)
        image = ax.imshow(grid, vmin=0, vmax=1, cmap="cividis", aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            if i != j and not np.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=5.8,
                        color="white" if value < 0.6 else "black")
        labels = [n.replace("_", " ") for n in names]
        ax.set_xticks(range(len(names)), labels, rotation=90, fontsize=6.2)
        ax.set_yticks(range(len(names)), labels if k == 0 else [], fontsize=6.2)
        ax.tick_params(length=0)
        ax.grid(False)
        ax.set_title(title, fontsize=9)
    if image is not None:
        bar = fig.colorbar(image, ax=axes.tolist(), shrink=0.7, aspect=30, pad=0.01)
        bar.set_label("P(row scenario beats column scenario)")
    fig.suptitle("Robustness of the scenario ranking to uncalibrated constants, effect-table "
                 "shapes and the posterior")
    add_footer(fig, footer)
    return fig


__all__ = ["compute_optimal_schedule", "compute_policy_frontier", "compute_ranking_robustness",
           "optimize_settings", "plot_optimal_schedule", "plot_policy_frontier",
           "plot_ranking_robustness"]
