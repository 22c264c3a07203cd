"""Downloads of ``clusterdyn explore``: trajectories and KPIs as CSV, the plots as PNG or SVG.

Drawn on the server with matplotlib in the project's figure style (the page's interactive
plots are Bokeh, which exports one plot at a time and no SVG without slowing live redraws).
Numbers are written to 6 significant digits, well above the floating-point differences
between processors.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from clusterdyn.axes import log_scale
from clusterdyn.explore.workbench import BAND_PERCENTILES, Evaluation, Workbench
from clusterdyn.figures.style import (
    DATA_COLOUR,
    DATA_SOURCE,
    LOG_OUTPUTS,
    MUTED,
    STAGE_SHADES,
    add_footer,
    display_values,
    freeze_layout,
    new_figure,
    save_figure,
    scenario_style,
    shade_stages,
    style_context,
    unit_label,
)
from clusterdyn.scenarios.kpis import kpi_csv_frame
from clusterdyn.scenarios.spec import STAGE_LABELS
from clusterdyn.sdmodels import PUBLIC_OUTPUTS

#: Formats of the plot download.
PLOT_FORMATS = ("png", "svg")
_FLOAT = "%.6g"


def trajectories_csv(shown: Mapping[str, Evaluation]) -> str:
    """Yearly outputs of every scenario shown, long format.

    Columns ``scenario, year, variable, value, p5, p95`` (the band's percentiles are empty
    for a scenario shown without its band).
    """
    parts = []
    for name, evaluation in shown.items():
        frame = evaluation.trajectories[list(PUBLIC_OUTPUTS)]
        long = frame.reset_index().melt(id_vars="year", var_name="variable",
                                        value_name="value")
        for p in BAND_PERCENTILES:
            column = f"p{p:g}"
            if evaluation.band is None:
                long[column] = float("nan")
            else:
                band = evaluation.band[p].reset_index().melt(id_vars="year",
                                                             var_name="variable")
                long[column] = band["value"].to_numpy()
        long.insert(0, "scenario", name)
        parts.append(long)
    return pd.concat(parts, ignore_index=True).to_csv(index=False, float_format=_FLOAT,
                                                      lineterminator="\n")


def kpis_csv(shown: Mapping[str, Evaluation]) -> str:
    """The KPI table of the scenarios shown (``clusterdyn scenarios``' ``kpis.csv`` columns),
    with the 5-95% interval over the posterior draws where the band was computed."""
    table = pd.DataFrame({name: e.kpis for name, e in shown.items()}).T
    table.index.name = "scenario"
    frame = kpi_csv_frame(table)
    for name, evaluation in shown.items():
        for kpi, (low, high) in evaluation.intervals.items():
            frame.loc[name, f"{kpi}_p5"] = low
            frame.loc[name, f"{kpi}_p95"] = high
    return frame.to_csv(float_format=_FLOAT, lineterminator="\n")


def plot_explored(workbench: Workbench, current: Evaluation,
                  overlays: Mapping[str, Evaluation]) -> Figure:
    """The page's eight plots as one figure: the current settings with their band, the
    calibrated historical run, the overlays and the FAO data."""
    fig = new_figure(12.0, 7.8)
    grid = fig.add_gridspec(3, 4, height_ratios=[1.0, 1.0, 0.3])
    axes = [fig.add_subplot(grid[r, c]) for r in range(2) for c in range(4)]
    stages = current.stage_spans()
    lines = [("current settings", {"color": "#000000", "linestyle": "-"}, current)]
    lines += [("historical (calibrated)", {"color": MUTED, "linestyle": "--"},
               workbench.historical)]
    lines += [(name, scenario_style(k + 2), e) for k, (name, e) in enumerate(overlays.items())]
    for ax, variable in zip(axes, PUBLIC_OUTPUTS, strict=True):
        shade_stages(ax, stages, label=False)
        if current.band is not None:
            low, high = (display_values(variable, current.band[p][variable])
                         for p in BAND_PERCENTILES)
            ax.fill_between(current.trajectories.index, low, high, color="#9ecae1", lw=0,
                            alpha=0.6)
        for _, style, evaluation in lines:
            ax.plot(evaluation.trajectories.index,
                    display_values(variable, evaluation.trajectories[variable]), lw=1.3,
                    **style)  # type: ignore[arg-type]
        observed = workbench.observed(variable)
        if len(observed):
            ax.plot(observed.index, display_values(variable, observed), "o", ms=2.4,
                    color=DATA_COLOUR)
        if variable in LOG_OUTPUTS:
            log_scale(ax)
        ax.set_title(variable)
        units = workbench.model.variables[variable].units
        ax.set_ylabel("%" if variable == "World market share" else unit_label(units))
    handles = [Line2D([], [], lw=1.6, label=name, **style)  # type: ignore[arg-type]
               for name, style, _ in lines]
    handles.append(Line2D([], [], ls="", marker="o", ms=3, color=DATA_COLOUR, label="FAO data"))
    if current.band is not None:
        handles.append(Line2D([], [], lw=6, color="#9ecae1",
                              label=f"90% of {current.n_draws} posterior draws"))
    handles += [Patch(color=STAGE_SHADES[k % len(STAGE_SHADES)], label=STAGE_LABELS[s])
                for k, (s, _, _) in enumerate(stages)]
    legend_ax = fig.add_subplot(grid[2, :])
    legend_ax.set_axis_off()
    legend_ax.legend(handles=handles, loc="center", ncols=4)
    fig.suptitle("clusterdyn explore: public outputs under the settings shown")
    add_footer(fig, [DATA_SOURCE, "Stages shaded as in the current settings. Made with "
                     "clusterdyn explore; save the settings as a scenario file to reproduce "
                     "them with `clusterdyn scenarios`."])
    return fig


def plot_bytes(workbench: Workbench, current: Evaluation, overlays: Mapping[str, Evaluation],
               fmt: str) -> bytes:
    """:func:`plot_explored` saved as ``fmt`` (png or svg) with fixed metadata."""
    if fmt not in PLOT_FORMATS:
        raise ValueError(f"plot format {fmt!r}: expected one of {', '.join(PLOT_FORMATS)}")
    with style_context():
        fig = plot_explored(workbench, current, overlays)
        freeze_layout(fig)
        buffer = io.BytesIO()
        save_figure(fig, buffer, fmt, title="clusterdyn explore")  # type: ignore[arg-type]
    return buffer.getvalue()
