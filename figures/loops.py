"""Figure ``loop_dominance``: relative loop scores over time, historical beside an alternative.

Drawn from the committed results in ``scenarios/results/loops/`` (written by ``clusterdyn
loops``, see :mod:`clusterdyn.scenarios.loop_dominance`): loop scores are ratios of small changes
at every
time step, whose last digits differ between processors, so they are computed once and
committed rounded rather than recomputed at render time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from clusterdyn.figures.inputs import rounded
from clusterdyn.figures.style import OKABE_ITO, add_footer, new_figure, shade_stages
from clusterdyn.scenarios.loop_dominance import (
    LAST_OBSERVED_YEAR,
    PROJECTION,
    RESULTS_DIR,
)

#: Named loops drawn on their own (the largest by peak yearly score); the rest are grouped.
SHOWN_LOOPS = 8
#: Fill colours of the loops drawn on their own, by polarity (warm: reinforcing, cool:
#: balancing, as the structure figures' red R and blue B), in order of peak score.
PALETTES = {
    "R": (OKABE_ITO["vermillion"], OKABE_ITO["orange"], OKABE_ITO["reddish_purple"],
          OKABE_ITO["yellow"], "#8c2d04"),
    "B": (OKABE_ITO["blue"], OKABE_ITO["sky_blue"], OKABE_ITO["bluish_green"], "#1b3a5c",
          "#7fb8a4", "#6a51a3", "#9ecae1"),
}
HATCH_COLOUR = "#6e6e6e"
#: Grouped loops: label, colour and hatch (readable in grey-scale).
GROUPS = {
    "named": ("other named loops", "#bdbdbd", ""),
    "minor": ("unnamed first-order loops (a stock and its own flow)", "#e0e0e0", "...."),
    "unnamed": ("other unnamed loops", "#9e9e9e", "////"),
}


def result_files(scenarios: Sequence[str]) -> list[Path]:
    """The committed files the figure reads for ``scenarios`` (hashed into the manifest)."""
    return [RESULTS_DIR / name / file for name in scenarios
            for file in ("loops.csv", "by_year.csv", "by_stage.csv")]


def read_loop_table(scenario: str = "historical") -> pd.DataFrame:
    """The committed table of every loop of the model (index ``loop``)."""
    return pd.read_csv(RESULTS_DIR / scenario / "loops.csv", index_col="loop",
                       keep_default_na=False)


def compute_loop_dominance(scenarios: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame,
                                                              pd.DataFrame]:
    """Yearly relative scores of the loops drawn, the stages of each scenario and the loops.

    Parameters
    ----------
    scenarios : sequence of str
        Names of scenarios with committed results (the first is the reference).

    Returns
    -------
    (scores, stages, loops) : DataFrames
        ``scores``: long ``scenario, year, series, score`` where ``series`` is a named loop id
        drawn on its own or a key of :data:`GROUPS`; ``stages``: ``scenario, period, start,
        end``; ``loops``: the loop table (index ``loop``) of the first scenario.
    """
    loops = read_loop_table(scenarios[0])
    yearly = {name: pd.read_csv(RESULTS_DIR / name / "by_year.csv") for name in scenarios}
    named = loops.index[loops["name"] != ""]
    peaks = pd.concat([f[f["loop"].isin(named)].groupby("loop")["score"]
                       .agg(lambda s: s.abs().max()) for f in yearly.values()], axis=1).max(axis=1)
    shown = list(peaks.sort_values(ascending=False, kind="stable").index[:SHOWN_LOOPS])
    parts, stages = [], []
    for name, frame in yearly.items():
        frame = frame[~frame["loop"].isin(["reinforcing", "balancing"])]
        group = np.where(frame["loop"].isin(shown), frame["loop"],
                         np.where(frame["loop"].isin(named), "named",
                                  np.where(frame["loop"].map(loops["length"]) == 2, "minor",
                                           "unnamed")))
        # Each group's reinforcing and balancing parts are stacked on their own side.
        signed = frame.assign(series=group, side=np.sign(frame["score"]))
        summed = signed.groupby(["year", "series", "side"], as_index=False)["score"].sum()
        parts.append(summed.assign(scenario=name))
        stage = pd.read_csv(RESULTS_DIR / name / "by_stage.csv", usecols=["period", "start", "end"])
        stages.append(stage.drop_duplicates().assign(scenario=name))
    scores = pd.concat(parts, ignore_index=True)[["scenario", "year", "series", "side", "score"]]
    stage_frame = pd.concat(stages, ignore_index=True)[["scenario", "period", "start", "end"]]
    return rounded(scores), rounded(stage_frame), loops.loc[shown]


def _colours(shown: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Series -> (colour, hatch): loops drawn on their own by polarity and order, then groups."""
    out: dict[str, tuple[str, str]] = {}
    used = {"R": 0, "B": 0}
    for loop, row in shown.iterrows():
        side = "R" if row["polarity"] == "R" else "B"
        out[str(loop)] = (PALETTES[side][used[side] % len(PALETTES[side])], "")
        used[side] += 1
    out.update({key: (colour, hatch) for key, (_, colour, hatch) in GROUPS.items()})
    return out


def plot_loop_dominance(scores: pd.DataFrame, stages: pd.DataFrame, shown: pd.DataFrame,
                        titles: dict[str, str], footer: Sequence[str]) -> Figure:
    """One panel per scenario: the yearly mean relative loop scores stacked, reinforcing above
    zero and balancing below, stages shaded, the projection after 2003 marked."""
    order = [*map(str, shown.index), *GROUPS]
    colours = _colours(shown)
    fig = new_figure(11.0, 6.4)
    grid = fig.add_gridspec(2, len(titles), height_ratios=[1.0, 0.26])
    axes = [fig.add_subplot(grid[0, k]) for k in range(len(titles))]
    for ax, (name, title) in zip(axes, titles.items(), strict=True):
        part = scores[scores["scenario"] == name]
        years = np.sort(part["year"].unique())
        periods = stages[(stages["scenario"] == name) & (stages["period"] != PROJECTION)]
        spans = [(p, s, e) for p, s, e in zip(periods["period"], periods["start"],
                                              periods["end"], strict=True)]
        if years[-1] > LAST_OBSERVED_YEAR:
            spans[-1] = (spans[-1][0], spans[-1][1], float(years[-1]) + 1.0)
        shade_stages(ax, spans)
        for side in (1.0, -1.0):
            base = np.zeros(len(years))
            for series in order:
                values = (part[(part["series"] == series) & (part["side"] == side)]
                          .set_index("year")["score"].reindex(years, fill_value=0.0).to_numpy())
                if not np.any(values):
                    continue
                colour, hatch = colours[series]
                # A hatch is drawn in the edge colour: dark for the grouped loops, so that the
                # groups read in grey-scale; white hairlines between the loops drawn alone.
                ax.fill_between(years + 0.5, base, base + values, step="mid", facecolor=colour,
                                hatch=hatch, edgecolor=HATCH_COLOUR if hatch else "#ffffff",
                                lw=0.0 if hatch else 0.3)
                base = base + values
        ax.axhline(0.0, color="#000000", lw=0.6)
        if years[-1] > LAST_OBSERVED_YEAR:
            ax.axvline(LAST_OBSERVED_YEAR + 1.0, color="#000000", lw=0.8, ls="--")
            ax.text(LAST_OBSERVED_YEAR + 1.6, 0.95, "projection", fontsize=6.8, va="top")
        ax.set_ylim(-1.0, 1.0)
        ax.set_title(title)
        ax.set_xlabel("year")
    axes[0].set_ylabel("relative loop score (share of all loop activity)\n"
                       "reinforcing above 0, balancing below")
    for ax in axes[1:]:
        ax.sharey(axes[0])
        ax.tick_params(labelleft=False)
    handles = [Patch(facecolor=colours[str(loop)][0],
                     label=f"{loop} {row['name']}") for loop, row in shown.iterrows()]
    handles += [Patch(facecolor=colour, hatch=hatch, edgecolor=HATCH_COLOUR, lw=0.0,
                      label=label)
                for label, colour, hatch in GROUPS.values()]
    legend_ax = fig.add_subplot(grid[1, :])
    legend_ax.set_axis_off()
    legend_ax.legend(handles=handles, loc="center", ncols=4, fontsize=7)
    fig.suptitle("Which feedback loops drove each stage (Loops that Matter, yearly means)")
    add_footer(fig, footer)
    return fig


__all__ = ["compute_loop_dominance", "read_loop_table", "plot_loop_dominance", "result_files"]
