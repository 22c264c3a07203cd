"""Figures of the ensembles: Monte Carlo bands and sensitivity-index bars.

Figures are :class:`matplotlib.figure.Figure` objects on the Agg canvas (``pyplot`` is never
used) drawn under matplotlib's default style, so a user's ``matplotlibrc`` does not change
them. :func:`save_figure_files` writes PNG, SVG and PDF with deterministic bytes: a fixed SVG
hash salt and no software, date or creation-date metadata.
"""

from __future__ import annotations

import io
import os
import tempfile
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import matplotlib.style
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from clusterdyn.axes import log_scale
from clusterdyn.ensembles.bands import BANDS
from clusterdyn.io import current_umask

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
PNG_DPI = 150
_RC = {"svg.hashsalt": "clusterdyn-ensembles", "font.size": 8, "axes.titlesize": 8.5,
       "axes.labelsize": 7.5, "xtick.labelsize": 7, "ytick.labelsize": 7,
       "legend.fontsize": 7, "axes.spines.top": False, "axes.spines.right": False}
_METADATA: dict[str, dict[str, None]] = {
    "png": {"Software": None},
    "svg": {"Creator": None, "Date": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
}
#: Single-hue sequential blues (ColorBrewer "Blues"), readable with any colour-vision
#: deficiency and in grey scale: widest band lightest.
BAND_COLOURS: Mapping[int, str] = {100: "#deebf7", 95: "#9ecae1", 75: "#6baed6", 50: "#3182bd"}
MEDIAN_COLOUR = "#000000"
#: Okabe-Ito vermillion and orange/blue (Okabe and Ito 2008).
REFERENCE_COLOUR = "#D55E00"
INDEX_COLOURS: Mapping[str, str] = {"total": "#E69F00", "first": "#0072B2"}
STAGE_SHADES: tuple[str, ...] = ("#f2f2f2", "#ffffff", "#f2f2f2")
#: Lifecycle stages of Table 3.1 with the model's default start years.
STAGES: tuple[tuple[str, float], ...] = (
    ("1 Initial learning", 1978.0), ("2 Maturing", 1986.0), ("3 Globalisation", 1996.0))
UNITS: Mapping[str, str] = {
    "Production": "t/year", "Production capacity": "t/year", "Price": "US$/kg",
    "Export value": "US$ million/year", "World market share": "share",
    "Technological capability": "index", "Supplier base": "firms", "Social capital": "index",
}


@contextmanager
def figure_style() -> Iterator[None]:
    """matplotlib's default style plus this module's settings, for drawing and saving."""
    with matplotlib.style.context("default"), matplotlib.rc_context(_RC):
        yield


def _new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _shade_stages(ax: Axes, first: float, last: float, label: bool) -> None:
    starts = [s for _, s in STAGES] + [last + 0.5]
    for k, (_, start) in enumerate(STAGES):
        left = first - 0.5 if k == 0 else start
        ax.axvspan(left, starts[k + 1], color=STAGE_SHADES[k], lw=0, zorder=0)
        if k:
            ax.axvline(start, color="#9a9a9a", lw=0.6, ls=":", zorder=0.5)
    if label:
        top = ax.secondary_xaxis("top")
        top.set_xticks([(max(first, s) + e) / 2 for (_, s), e in zip(STAGES, starts[1:],
                                                                      strict=True)],
                       [name for name, _ in STAGES])
        top.tick_params(length=0, labelsize=6.5, colors="#444444", pad=1)
        top.spines["top"].set_visible(False)
    ax.set_xlim(first - 0.5, last + 0.5)


def plot_bands(bands: pd.DataFrame, reference: pd.DataFrame | None = None,
               title: str | None = None, footer: Sequence[str] = ()) -> Figure:
    """Vensim-style sensitivity graphs: nested bands and the median of every variable.

    Parameters
    ----------
    bands : pandas.DataFrame
        A table from :func:`clusterdyn.ensembles.bands.band_table`.
    reference : pandas.DataFrame, optional
        A run to draw on top (index year, one column per variable), e.g. the calibrated run.
    title : str, optional
        Figure title.
    footer : sequence of str
        Lines of small print under the legend (sources, settings).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per variable; a panel whose 100% band is positive and spans more than two
        decades uses a logarithmic axis.
    """
    variables = list(dict.fromkeys(bands["variable"]))
    with figure_style():
        cols = 2
        rows = -(-len(variables) // cols)
        # Footer lines are wrapped to the figure's width (5.5-pt text, about 190 characters).
        footer = [part for line in footer for part in textwrap.wrap(line, 190)]
        small_print = 0.11 * len(footer)
        height = 1.9 * rows + 0.9 + small_print
        # Fixed margins (in inches): constrained layout would cost seconds per file here.
        fig = _new_figure(7.5, height, layout=None)
        fig.subplots_adjust(left=0.09, right=0.985, bottom=(0.55 + small_print) / height,
                            top=1 - 0.55 / height, hspace=0.38, wspace=0.2)
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
        for k, ax in enumerate(axes.ravel()):
            if k >= len(variables):
                ax.set_visible(False)
                continue
            name = variables[k]
            part = bands[bands["variable"] == name]
            years = np.unique(part["year"].to_numpy())
            _shade_stages(ax, float(years[0]), float(years[-1]), label=k < cols)
            for band in sorted(BANDS, reverse=True):
                rows_ = part[part["band"] == band].sort_values("year")
                ax.fill_between(rows_["year"], rows_["low"], rows_["high"], lw=0,
                                color=BAND_COLOURS[band], zorder=1)
            median = part[part["band"] == BANDS[0]].sort_values("year")
            ax.plot(median["year"], median["median"], color=MEDIAN_COLOUR, lw=1.1, zorder=2)
            if reference is not None and name in reference.columns:
                ax.plot(reference.index, reference[name], color=REFERENCE_COLOUR, lw=1.1,
                        ls="--", zorder=3)
            widest = part[part["band"] == max(BANDS)]
            low, high = widest["low"].min(), widest["high"].max()
            if low > 0 and high / low > 100:
                # 10ⁿ labels in Unicode: the figure set's style turns mathtext off, and
                # matplotlib's default log labels are mathtext.
                log_scale(ax)
            ax.set_title(name, loc="left")
            ax.set_ylabel(UNITS.get(name, ""))
            ax.grid(axis="y", color="#dddddd", lw=0.5)
        handles = [Patch(color=BAND_COLOURS[b], label=f"{b}% of runs") for b in BANDS]
        handles.append(Line2D([], [], color=MEDIAN_COLOUR, label="median"))
        if reference is not None:
            handles.append(Line2D([], [], color=REFERENCE_COLOUR, ls="--",
                                                   label="calibrated run"))
        fig.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False,
                   bbox_to_anchor=(0.5, small_print / height))
        for i, line in enumerate(footer):
            fig.text(0.01, (0.03 + 0.11 * (len(footer) - 1 - i)) / height, line, fontsize=5.5,
                     color="#555555", ha="left", va="bottom")
        if title:
            fig.suptitle(title, fontsize=9, y=1 - 0.08 / height, va="top")
    return fig


def plot_indices(table: pd.DataFrame, value: str, conf: str | None = None,
                 second: str | None = None, labels: Sequence[str] = ("", ""),
                 top: int = 12, title: str | None = None, unit_range: bool = False,
                 xlabel: str | None = None) -> Figure:
    """Horizontal bars of a sensitivity index per KPI (the ``top`` largest per panel).

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``kpi``, ``parameter`` and the index columns.
    value : str
        Column of the bars (e.g. ``"ST"``, ``"mu_star"``); the panel is sorted by it.
    conf : str, optional
        Column of the bars' confidence half-widths (error bars).
    second : str, optional
        Column drawn as a narrower bar in front (e.g. ``"S1"``) or as markers (``"sigma"``).
    labels : sequence of two str
        Legend labels of ``value`` and ``second``.
    top : int
        Parameters shown per panel.
    title : str, optional
        Figure title.
    unit_range : bool
        For indices that lie in [0, 1] (Sobol'): the axis spans [0, 1] and the bars, not the
        error bars (which may be far wider at small samples and are then cut at the edge).
    xlabel : str, optional
        Label under the panels.
    """
    kpis = list(dict.fromkeys(table["kpi"]))
    with figure_style():
        cols = 2
        rows = -(-len(kpis) // cols)
        fig = _new_figure(8.0, 2.6 * rows + 0.6)
        axes = fig.subplots(rows, cols, squeeze=False)
        for k, ax in enumerate(axes.ravel()):
            if k >= len(kpis):
                ax.set_visible(False)
                continue
            part = table[table["kpi"] == kpis[k]].copy()
            part = part.sort_values([value, "parameter"], ascending=[False, True],
                                    na_position="last").head(top)[::-1]
            y = np.arange(len(part))
            xerr = part[conf].to_numpy() if conf else None
            ax.barh(y, part[value], height=0.75, color=INDEX_COLOURS["total"], xerr=xerr,
                    error_kw={"lw": 0.6, "capsize": 1.5, "ecolor": "#555555"})
            if second and second.startswith("S"):
                ax.barh(y, part[second], height=0.4, color=INDEX_COLOURS["first"])
            elif second:
                ax.plot(part[second], y, "D", ms=2.8, color=INDEX_COLOURS["first"])
            if unit_range:
                shown = part[[value, second] if second else [value]].to_numpy(dtype=float)
                finite = shown[np.isfinite(shown)]
                low = min(0.0, finite.min(initial=0.0)) - 0.05
                ax.set_xlim(low, max(1.0, finite.max(initial=1.0)) + 0.05)
            ax.set_yticks(y, part["parameter"], fontsize=6)
            ax.set_title(kpis[k], loc="left")
            ax.grid(axis="x", color="#dddddd", lw=0.5)
            ax.set_axisbelow(True)
        handles = [Patch(color=INDEX_COLOURS["total"], label=labels[0])]
        if second and second.startswith("S"):
            handles.append(Patch(color=INDEX_COLOURS["first"], label=labels[1]))
        elif second:
            handles.append(Line2D([], [], ls="", marker="D", ms=3, color=INDEX_COLOURS["first"],
                                  label=labels[1]))
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False,
                   title=xlabel, title_fontsize=7)
        if title:
            fig.suptitle(title, fontsize=9)
    return fig


def figure_bytes(fig: Figure, fmt: str) -> bytes:
    """``fig`` encoded as ``fmt`` (png, svg or pdf) with deterministic metadata."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected one of {FORMATS}")
    buffer = io.BytesIO()
    with figure_style():
        fig.savefig(buffer, format=fmt, dpi=PNG_DPI, metadata=_METADATA[fmt])
    return buffer.getvalue()


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's files are private (0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_figure_files(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """Write ``folder/stem.png``, ``.svg`` and ``.pdf``; return their paths.

    Every file is encoded before any is written, so a failure leaves the folder unchanged.
    The layout is solved once, for the first format, and then frozen (``fig``'s layout engine
    is set to none), so the three files share it and it is not solved three times.
    """
    encoded = {}
    for k, fmt in enumerate(FORMATS):
        encoded[fmt] = figure_bytes(fig, fmt)
        if k == 0:
            fig.set_layout_engine("none")
    paths = []
    for fmt, data in encoded.items():
        path = Path(folder) / f"{stem}.{fmt}"
        write_bytes_atomically(path, data)
        paths.append(path)
    return paths


__all__ = ["FORMATS", "figure_bytes", "plot_bands", "plot_indices", "save_figure_files"]
