"""The page's eight live plots (Bokeh): one per public output, sharing the year axis.

Each plot holds, back to front: the stage shading of the current settings, the 90% band of the
posterior draws, the calibrated historical run (grey, dashed), up to four overlaid scenarios
(each its own colour *and* dash pattern, so the legend reads in grey-scale), the FAO data
(black points) and the current settings (black line). Only the data sources change when a
slider moves, so a redraw sends a few kilobytes over the websocket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from bokeh.layouts import gridplot
from bokeh.models import BoxAnnotation, ColumnDataSource, Legend, LegendItem
from bokeh.plotting import figure

from clusterdyn.explore.workbench import BAND_PERCENTILES, Evaluation, Workbench
from clusterdyn.figures.palette import LOG_OUTPUTS, OKABE_ITO, STAGE_SHADES, unit_label
from clusterdyn.scenarios.spec import STAGES
from clusterdyn.sdmodels import PUBLIC_OUTPUTS

#: Most scenarios overlaid at once (more would not be readable in one plot).
MAX_OVERLAYS = 4
#: Colour and dash pattern of each overlay slot (Okabe-Ito, colour-blind safe).
OVERLAY_STYLES: tuple[tuple[str, str], ...] = (
    (OKABE_ITO["vermillion"], "dashdot"), (OKABE_ITO["blue"], "dotted"),
    (OKABE_ITO["bluish_green"], "dashed"), (OKABE_ITO["reddish_purple"], "dotdash"),
)
BAND_COLOUR = "#9ecae1"
HISTORICAL_COLOUR = "#767676"
_KEYS = {v: f"v{k}" for k, v in enumerate(PUBLIC_OUTPUTS)}


def _scaled(variable: str, values: Sequence[float] | np.ndarray) -> list[float]:
    factor = 100.0 if variable == "World market share" else 1.0
    return [float(x) * factor for x in np.asarray(values, dtype=float)]


def trajectory_data(evaluation: Evaluation | None, band: bool = False) -> dict[str, list]:
    """Columns of a data source: ``year`` and one per output (``_lo``/``_hi`` with a band)."""
    if evaluation is None:
        data: dict[str, list] = {"year": []}
        for variable in PUBLIC_OUTPUTS:
            data[_KEYS[variable]] = []
            if band:
                data[_KEYS[variable] + "_lo"] = data[_KEYS[variable] + "_hi"] = []
        return data
    frame = evaluation.trajectories
    data = {"year": [int(y) for y in frame.index]}
    for variable in PUBLIC_OUTPUTS:
        key = _KEYS[variable]
        data[key] = _scaled(variable, frame[variable])
        if band:
            if evaluation.band is None:  # no band: collapse it onto the line
                data[key + "_lo"] = data[key + "_hi"] = data[key]
            else:
                low, high = (evaluation.band[p][variable] for p in BAND_PERCENTILES)
                data[key + "_lo"], data[key + "_hi"] = (_scaled(variable, low),
                                                        _scaled(variable, high))
    return data


class LivePlots:
    """The eight plots of one browser session and the data sources they draw."""

    def __init__(self, workbench: Workbench) -> None:
        self.current = ColumnDataSource(trajectory_data(workbench.historical, band=True))
        self.historical = ColumnDataSource(trajectory_data(workbench.historical))
        self.overlays = [ColumnDataSource(trajectory_data(None)) for _ in range(MAX_OVERLAYS)]
        self.boxes: list[list[BoxAnnotation]] = []
        self._shaded: list[tuple[bool, float, float]] = []
        self.figures = []
        self.legend_items: list[LegendItem] = []
        for k, variable in enumerate(PUBLIC_OUTPUTS):
            self.figures.append(self._figure(workbench, variable, first=k == 0))
        self.grid = gridplot(self.figures, ncols=4, width=300, height=230,
                             toolbar_location="right", merge_tools=True)
        self.set_stages(workbench.historical, workbench.until)

    def _figure(self, workbench: Workbench, variable: str, first: bool):
        units = workbench.model.variables[variable].units
        label = "%" if variable == "World market share" else unit_label(units)
        shared = {"x_range": self.figures[0].x_range} if self.figures else {}
        fig = figure(title=variable, y_axis_type="log" if variable in LOG_OUTPUTS else "linear",
                     y_axis_label=label, tools="pan,box_zoom,wheel_zoom,reset,save", **shared)
        fig.title.text_font_size = "11pt"
        boxes = [BoxAnnotation(fill_color=STAGE_SHADES[k], fill_alpha=1.0, level="underlay")
                 for k in range(len(STAGES))]
        for box in boxes:
            fig.add_layout(box)
        self.boxes.append(boxes)
        key = _KEYS[variable]
        renderers = {
            "band": fig.varea("year", key + "_lo", key + "_hi", source=self.current,
                              fill_color=BAND_COLOUR, fill_alpha=0.6),
            "historical": fig.line("year", key, source=self.historical, line_width=1.6,
                                   color=HISTORICAL_COLOUR, line_dash="dashed"),
        }
        overlay_lines = [fig.line("year", key, source=source, line_width=1.8, color=colour,
                                  line_dash=dash)
                         for source, (colour, dash) in zip(self.overlays, OVERLAY_STYLES,
                                                           strict=True)]
        observed = workbench.observed(variable)
        if len(observed):
            renderers["data"] = fig.scatter(list(observed.index), _scaled(variable, observed),
                                            size=4, color="black")
        renderers["current"] = fig.line("year", key, source=self.current, line_width=2.2,
                                        color="black")
        if first:
            items = [LegendItem(label="current settings", renderers=[renderers["current"]]),
                     LegendItem(label="90% of posterior draws", renderers=[renderers["band"]]),
                     LegendItem(label="historical (calibrated)",
                                renderers=[renderers["historical"]]),
                     LegendItem(label="FAO data", renderers=[renderers["data"]])]
            self.legend_items = [LegendItem(label=f"overlay {k + 1}", renderers=[line],
                                            visible=False)
                                 for k, line in enumerate(overlay_lines)]
            legend = Legend(items=items + self.legend_items, location="bottom_right",
                            label_text_font_size="8pt", background_fill_alpha=0.7,
                            spacing=0, padding=4)
            fig.add_layout(legend)
        return fig

    def set_stages(self, evaluation: Evaluation, until: int) -> None:
        """Shade the stages as they started in ``evaluation``'s central run (the boxes are
        only touched when a start moved: every property sent makes the page lay out again)."""
        spans = {stage: (start, end) for stage, start, end in evaluation.stage_spans()}
        wanted = []
        for stage in STAGES:
            start, end = spans.get(stage, (0.0, 0.0))
            # the last box reaches the plot's edge, half a year past the last point
            wanted.append((stage in spans, start, end + 0.5 if end >= until else end))
        if wanted == self._shaded:
            return
        self._shaded = wanted
        for boxes in self.boxes:
            for box, (visible, left, right) in zip(boxes, wanted, strict=True):
                box.update(visible=visible, left=left, right=right)

    def show(self, evaluation: Evaluation, until: int) -> None:
        """Draw the current settings (line, band, stages)."""
        self.current.data = trajectory_data(evaluation, band=True)
        self.set_stages(evaluation, until)

    def set_overlays(self, shown: Mapping[str, Evaluation]) -> None:
        """Draw up to :data:`MAX_OVERLAYS` named scenarios (the rest of the slots empty)."""
        names = list(shown)[:MAX_OVERLAYS]
        for k, source in enumerate(self.overlays):
            name = names[k] if k < len(names) else None
            source.data = trajectory_data(shown[name] if name else None)
            self.legend_items[k].visible = name is not None
            self.legend_items[k].label = {"value": name.replace("_", " ") if name else ""}
