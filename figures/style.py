"""Shared look of the figure set: style file, palette, units, stage shading, footers, saving.

Figures are built as :class:`matplotlib.figure.Figure` objects on the Agg canvas, never through
``pyplot``, so rendering does not depend on (or change) the user's interactive backend.
Saving is deterministic: a fixed ``SOURCE_DATE_EPOCH``, a fixed SVG hash salt and no
timestamps or software versions in the PNG, SVG and PDF metadata.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import Bbox

# Re-exported: the figure modules take every style helper from here (the colours and units
# live in figures.palette, which imports no matplotlib, for the browser explorer).
from clusterdyn.axes import log_scale as log_scale
from clusterdyn.axes import power_of_ten as power_of_ten
from clusterdyn.figures.palette import ACCENT_COLOUR as ACCENT_COLOUR
from clusterdyn.figures.palette import DATA_COLOUR as DATA_COLOUR
from clusterdyn.figures.palette import DATA_SOURCE as DATA_SOURCE
from clusterdyn.figures.palette import LINESTYLES as LINESTYLES
from clusterdyn.figures.palette import LOG_OUTPUTS as LOG_OUTPUTS
from clusterdyn.figures.palette import MODEL_COLOUR as MODEL_COLOUR
from clusterdyn.figures.palette import MUTED as MUTED
from clusterdyn.figures.palette import OKABE_ITO as OKABE_ITO
from clusterdyn.figures.palette import PERCENT_VARIABLES as PERCENT_VARIABLES
from clusterdyn.figures.palette import SCENARIO_COLOURS as SCENARIO_COLOURS
from clusterdyn.figures.palette import STAGE_SHADES as STAGE_SHADES
from clusterdyn.figures.palette import unit_label as unit_label
from clusterdyn.scenarios.spec import STAGE_LABELS as STAGE_LABELS

ArrayLike = TypeVar("ArrayLike", float, np.ndarray, pd.Series)

STYLE_FILE = Path(__file__).with_name("clusterdyn.mplstyle")
#: Output formats of every figure, in the order they are written.
FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
PNG_DPI = 200
#: Fixed build date for every tool that honours it (1 January 2004, after the data's end).
SOURCE_DATE_EPOCH = "1072915200"
SVG_HASHSALT = "clusterdyn"
SOFTWARE = "clusterdyn figures"

def display_values(variable: str, values: ArrayLike) -> ArrayLike:
    """``values`` of ``variable`` in the units the figures show (fractions as %)."""
    return values * 100 if variable in PERCENT_VARIABLES else values


def scenario_style(index: int) -> dict[str, object]:
    """Colour and line style of the ``index``-th scenario (stable across figures)."""
    return {"color": SCENARIO_COLOURS[index % len(SCENARIO_COLOURS)],
            "linestyle": LINESTYLES[index % len(LINESTYLES)]}


@contextmanager
def style_context() -> Iterator[None]:
    """Apply the project's style file and the deterministic-output settings.

    ``SOURCE_DATE_EPOCH`` is set for the duration (and restored), so any timestamp a backend
    might write is fixed.
    """
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = SOURCE_DATE_EPOCH
    try:
        with matplotlib.rc_context(fname=str(STYLE_FILE),
                                   rc={"svg.hashsalt": SVG_HASHSALT}):
            yield
    finally:
        if previous is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas with constrained layout (see :func:`add_footer`).

    Parameters
    ----------
    width, height : float
        Size in inches.
    """
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.set_layout_engine("constrained")
    return fig


FOOTER_SIZE = 6.3


def add_footer(fig: Figure, lines: Sequence[str], width_chars: int | None = None) -> None:
    """Write source/provenance lines in small grey text at the bottom-left of ``fig``.

    The constrained layout is told to keep the axes above the footer.
    """
    width_chars = width_chars or int(fig.get_figwidth() * 17.5)
    wrapped = "\n".join(textwrap.fill(line, width_chars) for line in lines)
    fig.text(0.008, 0.01, wrapped, ha="left", va="bottom", fontsize=FOOTER_SIZE,
             color=MUTED, linespacing=1.25)
    height = 0.06 + (wrapped.count("\n") + 1) * FOOTER_SIZE * 1.25 * 1.2 / 72
    bottom = height / fig.get_figheight()
    fig.get_layout_engine().set(rect=(0.0, bottom, 1.0, 1.0 - bottom))


#: Years of padding around the first and last year on time axes (so end points show whole).
YEAR_PAD = 0.5


def year_limits(stages: Sequence[tuple[str, float, float]]) -> tuple[float, float]:
    """X limits of a time axis spanning the stages, padded by :data:`YEAR_PAD`."""
    return stages[0][1] - YEAR_PAD, stages[-1][2] + YEAR_PAD


def thousands(ax: Axes) -> None:
    """Y tick labels with thousands separators (``600,000`` rather than ``600000``)."""
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.10g}"))


def shade_stages(ax: Axes, stages: Sequence[tuple[str, float, float]],
                 label: bool = True) -> None:
    """Shade the lifecycle stages, name them on a secondary x axis at the top, set x limits.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    stages : sequence of (stage, start, end)
        Stage key (see :data:`STAGE_LABELS`) and its span in years.
    label : bool
        Write the stage names above the axes.
    """
    left, right = year_limits(stages)
    for k, (_, start, end) in enumerate(stages):
        start = left if k == 0 else start
        end = right if k == len(stages) - 1 else end
        ax.axvspan(start, end, color=STAGE_SHADES[k % len(STAGE_SHADES)], lw=0, zorder=0)
    if label:
        top = ax.secondary_xaxis("top")
        top.set_xticks([(start + end) / 2 for _, start, end in stages],
                       [STAGE_LABELS.get(s, s) for s, _, _ in stages])
        top.tick_params(length=0, labelsize=6.8, colors="#444444", pad=1.5)
        top.spines["top"].set_visible(False)
    ax.set_xlim(left, right)


#: Decimals (of the figure's width and height) axes positions are rounded to.
LAYOUT_DECIMALS = 6


def freeze_layout(fig: Figure) -> None:
    """Solve the constrained layout once, round every axes position, and keep it.

    The layout solver (kiwisolver) can return positions that differ in the last bits from
    one run to the next (its internal order follows memory addresses); SVG clip-path ids
    hash those positions exactly, so they are rounded to :data:`LAYOUT_DECIMALS` decimals
    before anything is saved. Freezing also spares solving the layout for every format.
    """
    engine = fig.get_layout_engine()
    if not isinstance(engine, ConstrainedLayoutEngine):
        return
    engine.execute(fig)  # what Figure.draw does first, without drawing
    fig.set_layout_engine("none")
    for ax in fig.axes:
        if ax.get_axes_locator() is not None:  # e.g. secondary axes follow their parent
            continue
        extents = np.round(ax.get_position(original=False).extents, LAYOUT_DECIMALS)
        ax.set_position(Bbox.from_extents(*extents), which="both")


def save_all_formats(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``folder/stem.{png,svg,pdf}`` with one frozen layout; return the paths."""
    freeze_layout(fig)
    paths = []
    for fmt in FORMATS:
        path = folder / f"{stem}.{fmt}"
        save_figure(fig, path, fmt, title=stem)
        paths.append(path)
    return paths


def save_figure(fig: Figure, path: Path, fmt: str, title: str) -> None:
    """Save ``fig`` to ``path`` in ``fmt`` (png, svg or pdf) with deterministic metadata.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : pathlib.Path
        Target file (written directly; callers render into a temporary folder).
    fmt : str
        One of :data:`FORMATS`.
    title : str
        Stored as the file's title metadata.
    """
    metadata: dict[str, str | None]
    if fmt == "png":
        metadata = {"Software": None, "Title": title}
        fig.savefig(path, format="png", dpi=PNG_DPI, metadata=metadata)
    elif fmt == "svg":
        metadata = {"Creator": SOFTWARE, "Date": None, "Title": title}
        fig.savefig(path, format="svg", metadata=metadata)
    elif fmt == "pdf":
        metadata = {"Creator": SOFTWARE, "Producer": SOFTWARE, "CreationDate": None,
                    "ModDate": None, "Title": title}
        fig.savefig(path, format="pdf", metadata=metadata)
    else:
        raise ValueError(f"unknown figure format {fmt!r}; expected one of {FORMATS}")
