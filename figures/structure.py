"""The model's structure per sector, drawn from its own equations (no hand-made diagram).

:func:`compute_structure_nodes` and :func:`compute_structure_edges` read the ``.mdl`` through
:func:`clusterdyn.sdmodels.layout.parse_equations` and
:func:`clusterdyn.sdmodels.layout.dependencies` (the same
parser that draws the Vensim views) and the variable kinds PySD reports, and mark the links of
the named feedback loops (``sdmodels/salmon_cluster.loops.toml``). :func:`plot_structure`
lays one sector out with networkx (Kamada-Kawai, deterministic) and draws stocks as boxes,
flows as double-arrow boxes, auxiliaries as rounded boxes and other sectors' variables in
grey; constants (parameters) are left out and counted in the footer. Links run from box edge
to box edge, computed from the boxes' extents once the layout is solved.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Patch
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from clusterdyn.figures.inputs import FigureInputs
from clusterdyn.figures.style import MUTED, OKABE_ITO, add_footer, freeze_layout, new_figure
from clusterdyn.sdmodels.layout import dependencies, parse_equations
from clusterdyn.sdmodels.loops import load_loops

NODE_COLUMNS = ["sector", "variable", "kind", "home_sector", "loops"]
EDGE_COLUMNS = ["sector", "source", "target", "link", "loops"]
#: Node kinds drawn, and how.
NODE_STYLES: dict[str, dict[str, object]] = {
    "stock": {"boxstyle": "square,pad=0.45", "fc": "#dceefb", "ec": OKABE_ITO["blue"],
              "lw": 1.6},
    "flow": {"boxstyle": "darrow,pad=0.3", "fc": "#fdebd3", "ec": OKABE_ITO["orange"],
             "lw": 1.0},
    "auxiliary": {"boxstyle": "round,pad=0.3,rounding_size=0.6", "fc": "white",
                  "ec": "#9a9a9a", "lw": 0.7},
    "shadow": {"boxstyle": "round,pad=0.25", "fc": "#f4f4f4", "ec": "#f4f4f4", "lw": 0.5},
}
LOOP_COLOURS = {"R": OKABE_ITO["vermillion"], "B": OKABE_ITO["blue"],
                "RB": OKABE_ITO["reddish_purple"]}
_SKIP_KINDS = {"constant", "lookup"}
#: Curvature of the links (``arc3`` rad), so that opposite links between two variables part.
ARC = 0.12
#: Least distance of a loop label from the straight line between its variables (data units).
LABEL_OFFSET = 0.05
#: Loop ids per line of a link's label.
LABEL_IDS_PER_LINE = 4
#: Sideways moves (data units, along the arc's normal) tried in turn to clear a label of the
#: boxes and of the labels placed before it: outwards first, the side the arc bulges to.
LABEL_SHIFTS: tuple[float, ...] = tuple(
    sign * k * 0.025 for k in range(0, 13) for sign in ((1,) if k == 0 else (1, -1)))


def _equations(inputs: FigureInputs) -> list:
    return inputs.memoised("structure.equations", lambda: parse_equations(
        inputs.model.mdl_path.read_text(encoding="utf-8")))


def _kind(inputs: FigureInputs, name: str, flows: set[str]) -> str:
    kind = inputs.model.variables[name].kind if name in inputs.model.variables else "auxiliary"
    if kind == "stock":
        return "stock"
    if name in flows:
        return "flow"
    return "auxiliary" if kind in ("auxiliary", "delay") else kind


def compute_structure_edges(inputs: FigureInputs) -> pd.DataFrame:
    """Dependency links drawn in each sector's diagram.

    A link ``source -> target`` is drawn in the sector of ``target`` when ``target``'s
    equation uses ``source`` and neither is a constant or a lookup. ``link`` is ``flow`` for
    a stock's inflow or outflow, ``information`` otherwise; ``loops`` lists the named loops
    (``"R1,B4"``) the link belongs to.

    Returns
    -------
    pandas.DataFrame
        Columns ``sector, source, target, link, loops``.
    """
    return inputs.memoised("structure.edges", lambda: _edges(inputs)).copy()


def _edges(inputs: FigureInputs) -> pd.DataFrame:
    equations = _equations(inputs)
    names = [e.name for e in equations] + ["Time"]
    flows = {f for e in equations if e.is_stock for f in (*e.flows_in, *e.flows_out)}
    loop_links: dict[tuple[str, str], list[str]] = {}
    for loop in load_loops(inputs.model.mdl_path):
        for link in loop.links:
            loop_links.setdefault(link, []).append(loop.id)
    rows = []
    for eq in equations:
        if eq.group in ("", "Control") or _kind(inputs, eq.name, flows) in _SKIP_KINDS:
            continue
        for dep in sorted(dependencies(eq, names)):
            if dep == "Time" or _kind(inputs, dep, flows) in _SKIP_KINDS:
                continue
            link = "flow" if eq.is_stock and dep in (*eq.flows_in, *eq.flows_out) else (
                "information")
            rows.append({"sector": eq.group, "source": dep, "target": eq.name, "link": link,
                         "loops": ",".join(loop_links.get((dep, eq.name), []))})
    return pd.DataFrame(rows, columns=EDGE_COLUMNS)


def compute_structure_nodes(inputs: FigureInputs) -> pd.DataFrame:
    """Variables drawn in each sector's diagram.

    Returns
    -------
    pandas.DataFrame
        Columns ``sector, variable, kind`` (stock, flow, auxiliary, or shadow for another
        sector's variable used here), ``home_sector`` and ``loops`` (ids of the named loops
        through the variable).
    """
    equations = _equations(inputs)
    home = {e.name: e.group for e in equations}
    flows = {f for e in equations if e.is_stock for f in (*e.flows_in, *e.flows_out)}
    through: dict[str, list[str]] = {}
    for loop in load_loops(inputs.model.mdl_path):
        for variable in loop.variables:
            through.setdefault(variable, []).append(loop.id)
    edges = compute_structure_edges(inputs)
    rows = []
    for sector in dict.fromkeys(e.group for e in equations if e.group not in ("", "Control")):
        members = [e.name for e in equations if e.group == sector
                   and _kind(inputs, e.name, flows) not in _SKIP_KINDS]
        used = edges.loc[edges["sector"] == sector, "source"]
        shadows = sorted({s for s in used if home.get(s) != sector})
        for name in [*members, *shadows]:
            kind = "shadow" if name in shadows else _kind(inputs, name, flows)
            rows.append({"sector": sector, "variable": name, "kind": kind,
                         "home_sector": home[name], "loops": ",".join(through.get(name, []))})
    return pd.DataFrame(rows, columns=NODE_COLUMNS)


def constants_per_sector(inputs: FigureInputs) -> dict[str, int]:
    """Number of constants and lookups of each sector (not drawn; named in the footer)."""
    equations = _equations(inputs)
    flows = {f for e in equations if e.is_stock for f in (*e.flows_in, *e.flows_out)}
    counts: dict[str, int] = {}
    for eq in equations:
        if _kind(inputs, eq.name, flows) in _SKIP_KINDS:
            counts[eq.group] = counts.get(eq.group, 0) + 1
    return counts


def _loop_colour(ids: str, polarity: dict[str, str]) -> str:
    kinds = "".join(sorted({polarity[i] for i in ids.split(",")}, reverse=True))
    return LOOP_COLOURS[kinds]


def _normalised(pos: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Positions scaled into [-1, 1] along their larger extent, centred on the origin."""
    xy = np.array(list(pos.values()))
    centre = (xy.max(axis=0) + xy.min(axis=0)) / 2
    scale = max(float(np.ptp(xy, axis=0).max()) / 2, 1e-9)
    return {n: (np.asarray(p) - centre) / scale for n, p in pos.items()}


def layout(nodes: pd.DataFrame, edges: pd.DataFrame) -> dict[str, np.ndarray]:
    """Deterministic positions of one sector's variables.

    Each connected part is laid out by Kamada-Kawai (from a circular start, nodes in table
    order, so no random seed is involved); parts are placed side by side with widths growing
    with their size, and variables linked to nothing drawn (they depend on constants only)
    go in rows below.
    """
    graph = nx.Graph()
    graph.add_nodes_from(nodes["variable"])
    graph.add_edges_from(zip(edges["source"], edges["target"], strict=True))
    order = {n: k for k, n in enumerate(nodes["variable"])}
    parts = sorted((sorted(c, key=order.__getitem__) for c in nx.connected_components(graph)),
                   key=lambda c: (-len(c), order[c[0]]))
    groups = [c for c in parts if len(c) > 1]
    singles = [c[0] for c in parts if len(c) == 1]
    widths = [np.sqrt(len(c)) for c in groups]
    total = sum(widths) or 1.0
    pos: dict[str, np.ndarray] = {}
    left = -1.0
    for members, width in zip(groups, widths, strict=True):
        sub = graph.subgraph(members)
        start = nx.circular_layout(members)
        local = _normalised(nx.kamada_kawai_layout(sub, pos=start) if len(members) > 2
                            else start)
        share = 2.0 * width / total
        for name, (x, y) in local.items():
            pos[name] = np.array([left + share / 2 + x * share / 2 * 0.9, y])
        left += share
    per_row = 5
    for k, name in enumerate(singles):
        row, col = divmod(k, per_row)
        count = min(per_row, len(singles) - row * per_row)
        x = -1.0 + (2.0 * col + 1.0) / count if count else 0.0
        pos[name] = np.array([x * 0.9, (-1.35 if groups else 0.0) - 0.3 * row])
    return {name: np.round(xy.astype(float), 6) for name, xy in pos.items()}


def _box_exit(centre: np.ndarray, towards: np.ndarray, box: Bbox, gap: float) -> np.ndarray:
    """Where the ray from ``centre`` to ``towards`` leaves ``box`` (display units), plus
    ``gap`` along the ray."""
    direction = towards - centre
    length = float(np.hypot(*direction))
    if length == 0:
        return centre
    unit = direction / length
    limits = []
    for k, (low, high) in enumerate(((box.x0, box.x1), (box.y0, box.y1))):
        if unit[k] > 0:
            limits.append((high - centre[k]) / unit[k])
        elif unit[k] < 0:
            limits.append((low - centre[k]) / unit[k])
    return centre + (max(min(limits, default=0.0), 0.0) + gap) * unit


def _label_text(ids: str) -> str:
    """Loop ids of a link, :data:`LABEL_IDS_PER_LINE` per line (long labels stay compact)."""
    parts = ids.split(",")
    return "\n".join(",".join(parts[k:k + LABEL_IDS_PER_LINE])
                     for k in range(0, len(parts), LABEL_IDS_PER_LINE))


def _label_extent(text: Text, renderer: RendererBase) -> Bbox:
    """Display extent of a label with its white background box."""
    text.update_bbox_position_size(renderer)
    patch = text.get_bbox_patch()
    return patch.get_window_extent(renderer) if patch is not None else text.get_window_extent(
        renderer)


def _place_label(text: Text, anchor: np.ndarray, normal: np.ndarray, obstacles: list[Bbox],
                 renderer: RendererBase) -> Bbox:
    """Move ``text`` along ``normal`` (data units) from ``anchor`` until it is clear of every
    obstacle; keep the least-overlapping place if none is clear. Returns its extent."""
    tried: list[tuple[float, Bbox, np.ndarray]] = []
    for shift in LABEL_SHIFTS:
        place = anchor + shift * normal
        text.set_position(tuple(place))
        extent = _label_extent(text, renderer)
        tried.append((sum(_overlap_area(extent, box) for box in obstacles), extent, place))
        if tried[-1][0] == 0:
            break
    _, extent, place = min(tried, key=lambda t: t[0])  # the first of the least overlapping
    text.set_position(tuple(place))
    return extent


def _overlap_area(a: Bbox, b: Bbox) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def _draw_links(ax: Axes, edges: pd.DataFrame, pos: dict[str, np.ndarray],
                boxes: dict[str, Bbox], polarity: dict[str, str]) -> None:
    """Arrows from box edge to box edge, loop links coloured and labelled.

    A label starts at the middle of its arc and moves sideways until it covers no variable's
    box and no label placed before it (a long label on a short link would otherwise start
    under a box).
    """
    to_data = ax.transData.inverted()
    renderer = ax.figure.canvas.get_renderer()
    obstacles = list(boxes.values())
    for row in edges.itertuples(index=False):
        colour = _loop_colour(row.loops, polarity) if row.loops else "#8c8c8c"
        a, b = (ax.transData.transform(pos[n]) for n in (row.source, row.target))
        start = to_data.transform(_box_exit(a, b, boxes[row.source], 1.5))
        end = to_data.transform(_box_exit(b, a, boxes[row.target], 1.5))
        ax.add_patch(FancyArrowPatch(
            posA=start, posB=end, shrinkA=0, shrinkB=0, arrowstyle="-|>", mutation_scale=9,
            connectionstyle=f"arc3,rad={ARC}", color=colour, zorder=3,
            lw=2.6 if row.link == "flow" else (1.3 if row.loops else 0.7)))
        if row.loops:  # label at the middle of the arc (quadratic Bezier at t = 1/2)
            dx, dy = end - start
            length = max(float(np.hypot(dx, dy)), 1e-9)
            normal = np.array([dy, -dx]) / length  # the side the arc bulges to
            # opposite links between close variables: keep their labels apart
            mid = (start + end) / 2 + max(ARC / 2 * length, LABEL_OFFSET) * normal
            text = ax.text(*mid, _label_text(row.loops), fontsize=5.8, color=colour,
                           ha="center", va="center", zorder=4, linespacing=1.0,
                           bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                                 "alpha": 0.8})
            obstacles.append(_place_label(text, mid, normal, obstacles, renderer))


def plot_structure(nodes: pd.DataFrame, edges: pd.DataFrame, sector: str,
                   loops: Sequence[tuple[str, str, str]], footer: Sequence[str]) -> Figure:
    """Stock-and-flow structure of one sector, with the named loops highlighted.

    The layout is solved once (boxes, side panel, footer) and frozen; the links are then
    drawn from box edge to box edge, computed from the boxes' extents.

    Parameters
    ----------
    nodes, edges : pandas.DataFrame
        From :func:`compute_structure_nodes` and :func:`compute_structure_edges` (all sectors).
    sector : str
        The view to draw.
    loops : sequence of (id, polarity, name)
        Every named loop; those with a link in this sector are listed and coloured.
    footer : sequence of str
    """
    nodes = nodes[nodes["sector"] == sector]
    edges = edges[edges["sector"] == sector]
    polarity = {i: p for i, p, _ in loops}
    pos = layout(nodes, edges)
    fig = new_figure(12.0, 8.0)
    ax, side = fig.subplots(1, 2, width_ratios=[4.2, 1.0])
    for ax_ in (ax, side):
        ax_.set_axis_off()
    texts = {}
    for row in nodes.itertuples(index=False):
        style = dict(NODE_STYLES[row.kind])
        label = textwrap.fill(row.variable, 18)
        if row.kind == "shadow":
            label = f"<{label}>"
        texts[row.variable] = ax.text(
            *pos[row.variable], label, ha="center", va="center", zorder=5,
            fontsize=7.6 if row.kind == "stock" else 6.8,
            fontweight="bold" if row.kind == "stock" else "normal",
            fontstyle="italic" if row.kind == "shadow" else "normal",
            color=MUTED if row.kind == "shadow" else "black", bbox=style)
    xy = np.array(list(pos.values()))
    ax.set_xlim(xy[:, 0].min() - 0.18, xy[:, 0].max() + 0.18)
    ax.set_ylim(xy[:, 1].min() - 0.12, xy[:, 1].max() + 0.12)
    in_view = sorted({i for ids in edges["loops"] if ids for i in ids.split(",")},
                     key=[i for i, _, _ in loops].index)
    lines = [f"{i} {name}" for i, _, name in loops if i in in_view]
    side.text(0, 1, "Named loops with links here\n(coloured, labelled on the links)",
              fontsize=8, fontweight="bold", va="top", transform=side.transAxes)
    for k, (i, line) in enumerate(zip(in_view, lines, strict=True)):
        side.text(0, 0.93 - 0.045 * k, textwrap.fill(line, 30), fontsize=7.5, va="top",
                  color=LOOP_COLOURS[polarity[i]], transform=side.transAxes)
    if not lines:
        side.text(0, 0.93, "none", fontsize=7.5, va="top", transform=side.transAxes)
    isolated = set(nodes["variable"]) - set(edges["source"]) - set(edges["target"])
    if isolated:
        side.text(0, 0.9 - 0.045 * max(len(lines), 1), textwrap.fill(
            f"Unlinked variables ({len(isolated)}, bottom rows) depend on constants only.",
            32), fontsize=7.2, va="top", color=MUTED, transform=side.transAxes)
    handles = [Patch(fc=NODE_STYLES[k]["fc"], ec=NODE_STYLES[k]["ec"], label=label)
               for k, label in (("stock", "stock"), ("flow", "flow (rate of a stock)"),
                                ("auxiliary", "auxiliary"),
                                ("shadow", "<variable of another sector>"))]
    handles += [Patch(color=LOOP_COLOURS[k], label=label) for k, label in
                (("R", "link of a reinforcing loop"), ("B", "link of a balancing loop"),
                 ("RB", "link of both kinds"))]
    side.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 0), fontsize=7.2,
                title="Legend (arrows: cause -> effect;\nthick: a stock's inflow/outflow)",
                title_fontsize=7.2, alignment="left")
    fig.suptitle(f"Model structure: {sector} sector (from the model's equations)")
    add_footer(fig, footer)
    freeze_layout(fig)  # solve the layout once, then keep it
    renderer = fig.canvas.get_renderer()
    boxes = {}
    for name, text in texts.items():
        text.update_bbox_position_size(renderer)
        boxes[name] = text.get_bbox_patch().get_window_extent(renderer)
    _draw_links(ax, edges, pos, boxes, polarity)
    return fig
