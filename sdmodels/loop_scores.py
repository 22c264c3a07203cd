"""Loop dominance by the Loops that Matter (LTM) method: link, loop and relative loop scores.

References: Schoenberg, Davidsen & Eberlein (2020), "Understanding model behavior using the
Loops that Matter method", System Dynamics Review 36(2): 158-190; Schoenberg, Hayward &
Eberlein (2023), "Improving Loops that Matter", System Dynamics Review 39(2): 140-151.

At each Euler step ``t`` (every ``dt`` of the run, not only the saved years), with
``Δv = v(t) - v(t-dt)``:

* a link ``x -> z`` into an auxiliary or flow ``z = f(x, y, ...)`` scores
  ``|Δ_x z / Δz| * sign(Δ_x z / Δx)``, where ``Δ_x z = f(x(t), y(t-dt), ...) - z(t-dt)``
  (ceteris paribus), and 0 if ``Δz = 0`` or ``Δx = 0`` (2020, eq. 1);
* a flow ``i`` into a stock scores ``+|Δi / Δnet|`` and an outflow ``o`` ``-|Δo / Δnet|``,
  where ``net`` is the stock's net flow, 0 if ``Δnet = 0`` (``flow_formula="change"``, the
  default: the 2023 correction, invariant to how the net flow is split into flows, as Stella
  computes it since version 2.1). The 2020 paper's own eq. 2, ``+|i / net|`` and
  ``-|o / net|``, is ``flow_formula="value"``. A stock with one flow scores 1 either way;
* a loop scores the product of its link scores, and its relative score is its score over the
  sum of the absolute scores of the loops considered, at each step (0 when none is active).

The trajectory is the project's compiled simulator of the model
(:mod:`clusterdyn.sdmodels.vectorized`)
recording every variable at every step: PySD's values to rounding. The equations are the same
lowering evaluated with numpy over all steps at once, one evaluation per link
(:mod:`clusterdyn.sdmodels.loop_graph`).

>>> from clusterdyn.sdmodels import load_model
>>> from clusterdyn.sdmodels.loop_scores import link_scores, relative_loop_scores
>>> from clusterdyn.sdmodels.loops import load_loops
>>> model = load_model()
>>> relative = relative_loop_scores(link_scores(model), load_loops(model.mdl_path))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from clusterdyn.sdmodels._backends import simulator
from clusterdyn.sdmodels.errors import ModelInputError, SimulationError
from clusterdyn.sdmodels.loop_graph import ModelGraph, build_graph, expand_loop, find_loops
from clusterdyn.sdmodels.model import Model, load_model
from clusterdyn.sdmodels.vectorized import _schedule

FLOW_FORMULAS = ("change", "value")
#: Loops as accepted by :func:`loop_scores`: None (find them), ids to variables, objects with
#: ``id`` and ``variables`` (:class:`sdmodels.loops.Loop`) or bare sequences of names.
LoopsSpec = Mapping[str, Sequence[str]] | Iterable[object] | None


def _score(partial: np.ndarray, dz: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """``|partial / dz| * sign(partial / dx)``, 0 where ``dz`` or ``dx`` is 0 (2020, eq. 1)."""
    with np.errstate(all="ignore"):
        score = np.abs(partial / dz) * np.sign(partial) * np.sign(dx)
    return np.where((dz == 0) | (dx == 0), 0.0, score) + 0.0  # + 0.0: no -0.0


def auxiliary_link_scores(
    evaluate: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    series: Mapping[str, np.ndarray],
    output: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Link scores of every input of one auxiliary ``z = evaluate(inputs)`` at each step.

    Parameters
    ----------
    evaluate : callable
        Computes ``z`` from a mapping of input name to values (arrays of equal length).
    series : mapping
        Each input's values at times ``t_0 .. t_n`` (equally spaced steps).
    output : numpy.ndarray, optional
        ``z`` at the same times (default: ``evaluate(series)``).

    Returns
    -------
    dict
        Input name -> link scores at ``t_1 .. t_n`` (each from the step before).
    """
    values = {k: np.asarray(v, dtype=float) for k, v in series.items()}
    z = np.asarray(evaluate(values) if output is None else output, dtype=float)
    prev = {k: v[:-1] for k, v in values.items()}
    dz = z[1:] - z[:-1]
    scores = {}
    for name, v in values.items():
        with np.errstate(all="ignore"):
            partial = evaluate({**prev, name: v[1:]}) - z[:-1]
        scores[name] = _score(partial, dz, v[1:] - v[:-1])
    return scores


def flow_link_scores(
    flows: Mapping[str, tuple[np.ndarray, int]], net: np.ndarray, formula: str = "change"
) -> dict[str, np.ndarray]:
    """Link scores of the flows of one stock at each step.

    Parameters
    ----------
    flows : mapping
        Flow name -> (values at ``t_0 .. t_n``, sign: +1 inflow, -1 outflow).
    net : numpy.ndarray
        The stock's net flow at the same times.
    formula : {"change", "value"}
        ``"change"``: ``sign * |Δflow / Δnet|`` (Schoenberg et al. 2023, eq. 3);
        ``"value"``: ``sign * |flow / net|`` (Schoenberg et al. 2020, eq. 2).

    Returns
    -------
    dict
        Flow name -> link scores at ``t_1 .. t_n``.
    """
    if formula not in FLOW_FORMULAS:
        raise ModelInputError(f"flow_formula = {formula!r}: expected one of {FLOW_FORMULAS}")
    net = np.asarray(net, dtype=float)
    base = np.diff(net) if formula == "change" else net[1:]
    scores = {}
    for name, (values, sign) in flows.items():
        values = np.asarray(values, dtype=float)
        part = np.diff(values) if formula == "change" else values[1:]
        with np.errstate(all="ignore"):
            score = sign * np.abs(part / base)
        scores[name] = np.where(base == 0, 0.0, score) + 0.0  # + 0.0: no -0.0
    return scores


@dataclass(frozen=True, eq=False)
class LinkScores:
    """Link scores of every causal link of a model at every Euler step of one run.

    Attributes
    ----------
    times : numpy.ndarray
        Shape ``(n,)``: the step times ``t_1 .. t_n`` (a score at ``t`` compares ``t`` with
        ``t - dt``; the initial time has none).
    links : tuple of (str, str)
        ``(cause, effect)`` of each column of :attr:`values`.
    values : numpy.ndarray
        Shape ``(n, len(links))``.
    graph : ModelGraph
        The model's causal graph (to expand and find loops).
    flow_formula : str
        ``"change"`` or ``"value"`` (see :func:`flow_link_scores`).
    """

    times: np.ndarray
    links: tuple[tuple[str, str], ...]
    values: np.ndarray = field(repr=False)
    graph: ModelGraph = field(repr=False)
    flow_formula: str = "change"

    def get(self, cause: str, effect: str) -> np.ndarray:
        """Scores of the link ``cause -> effect`` at :attr:`times` (a read-only view).

        Raises
        ------
        ModelInputError
            If the graph has no such link.
        """
        try:
            return self.values[:, self._index[(cause, effect)]]
        except KeyError:
            raise ModelInputError(f"no causal link {cause!r} -> {effect!r}") from None

    @functools.cached_property
    def _index(self) -> dict[tuple[str, str], int]:
        return {link: j for j, link in enumerate(self.links)}

    def to_frame(self) -> pd.DataFrame:
        """One column per link (MultiIndex ``cause``, ``effect``), one row per step time."""
        columns = pd.MultiIndex.from_tuples(self.links, names=["cause", "effect"])
        return pd.DataFrame(self.values, index=pd.Index(self.times, name="time"),
                            columns=columns)


def trajectory(
    model: Model, params: Mapping[str, float] | None = None, until: int | None = None,
    dt: float | None = None, backend: str = "numba",
) -> pd.DataFrame:
    """Every variable of one run at every Euler step (PySD's values to rounding).

    Parameters
    ----------
    model : Model
    params, until, dt
        As in :meth:`clusterdyn.sdmodels.Model.run` (parameters default to :attr:`Model.defaults`).
    backend : {"numba", "numpy"}
        The project's simulator that computes the run (:func:`clusterdyn.sdmodels.compile_model`).

    Returns
    -------
    pandas.DataFrame
        Index ``time`` (every step from the initial time to ``until``), one column per variable
        (constants and control variables included).
    """
    checked = {**model.baseline, **model.validate_params(params)}
    until_year, step = model._check_time(until, dt)
    times, _ = _schedule(model.initial_time, float(until_year), step)
    found = simulator(Path(model.mdl_path).resolve(), model.sha256, backend)
    every = tuple(range(len(times)))
    buf = found.fill(checked, 1, times, float(until_year), step, every,
                     list(range(len(found.variables))), 1)
    values = buf[:, :, 0]
    if not np.isfinite(values).all():
        raise SimulationError(f"model {model.name!r} produced non-finite values")
    return pd.DataFrame(values, index=pd.Index(np.asarray(times, dtype=float), name="time"),
                        columns=list(found.variables))


def link_scores(
    model_or_mdl: Model | str | Path,
    params: Mapping[str, float] | None = None,
    until: int | None = None,
    *,
    dt: float | None = None,
    flow_formula: str = "change",
    backend: str = "numba",
) -> LinkScores:
    """Link scores of every causal link at every Euler step of one run.

    Parameters
    ----------
    model_or_mdl : Model, str or pathlib.Path
        A loaded model, a shipped model's name or a path to a ``.mdl`` (loaded with
        :func:`clusterdyn.sdmodels.load_model`: a shipped model gets its calibration as defaults).
    params, until, dt
        As in :meth:`clusterdyn.sdmodels.Model.run`.
    flow_formula : {"change", "value"}
        The flow-to-stock link score (see :func:`flow_link_scores`).
    backend : {"numba", "numpy"}
        The simulator of the run (see :func:`trajectory`).

    Returns
    -------
    LinkScores
    """
    if flow_formula not in FLOW_FORMULAS:
        raise ModelInputError(f"flow_formula = {flow_formula!r}: expected one of "
                              f"{FLOW_FORMULAS}")
    model = model_or_mdl if isinstance(model_or_mdl, Model) else load_model(str(model_or_mdl))
    graph = build_graph(model.mdl_path)
    run = trajectory(model, params, until, dt, backend)
    nodes = graph.nodes
    # Constants and control values as scalars (faster, and hoisted code needs them).
    constants = {graph.locals[name]: run[name].iloc[0] for name in run.columns
                 if name not in nodes}
    env = graph.environment(constants)
    series = {nodes[name].local: run[name].to_numpy() for name in run.columns if name in nodes}
    with np.errstate(all="ignore"):
        for node in nodes.values():  # unnamed flows read model variables only
            if node.synthetic:
                series[node.local] = eval(graph.compiled[node.name], env, series)  # noqa: S307
    columns: dict[tuple[str, str], np.ndarray] = {}
    for node in nodes.values():
        if node.kind == "auxiliary" and node.inputs:
            code = graph.compiled[node.name]
            scores = auxiliary_link_scores(
                lambda ns, code=code: eval(code, env, ns),  # noqa: S307
                {nodes[i].local: series[nodes[i].local] for i in node.inputs},
                series[node.local],
            )
            columns.update({(i, node.name): scores[nodes[i].local] for i in node.inputs})
        elif node.kind == "stock" and node.flows:
            with np.errstate(all="ignore"):
                net = eval(graph.compiled[node.name], env, series)  # noqa: S307
            scores = flow_link_scores(
                {f: (series[nodes[f].local], sign) for f, sign in node.flows}, net, flow_formula
            )
            columns.update({(f, node.name): scores[f] for f, _ in node.flows})
    links = tuple(columns)
    values = (np.column_stack([columns[link] for link in links]) if links
              else np.empty((len(run) - 1, 0)))
    values.flags.writeable = False
    return LinkScores(run.index.to_numpy()[1:], links, values, graph, flow_formula)


def _loop_table(links: LinkScores, loops: LoopsSpec,
                max_length: int | None) -> dict[str, tuple[str, ...]]:
    """Loop id -> full chain of nodes, from any :data:`LoopsSpec`."""
    if loops is None:
        return find_loops(links.graph, max_length)
    if isinstance(loops, Mapping):
        items = list(loops.items())
    else:
        items = []
        for i, loop in enumerate(loops, start=1):
            if hasattr(loop, "variables"):
                items.append((str(getattr(loop, "id", f"L{i}")), loop.variables))
            else:
                items.append((f"L{i}", loop))
    return {key: expand_loop(links.graph, tuple(names)) for key, names in items}


def _log_scores(links: LinkScores, chains: Mapping[str, tuple[str, ...]]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Log of the magnitude and sign of each loop's score (products as sums: no overflow)."""
    index = links._index
    logs = np.zeros((len(links.times), len(chains)))
    signs = np.ones_like(logs)
    for j, chain in enumerate(chains.values()):
        for k, cause in enumerate(chain):
            scores = links.values[:, index[(cause, chain[(k + 1) % len(chain)])]]
            with np.errstate(divide="ignore"):
                logs[:, j] += np.log(np.abs(scores))
            signs[:, j] *= np.sign(scores)
    return logs, signs


def _frame(links: LinkScores, chains: Mapping[str, tuple[str, ...]],
           values: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(values, index=pd.Index(links.times, name="time"), columns=list(chains))
    frame.attrs["loops"] = dict(chains)  # the expanded chains the scores were computed on
    return frame


def loop_scores(links: LinkScores, loops: LoopsSpec = None,
                max_length: int | None = 12) -> pd.DataFrame:
    """Loop scores (products of link scores around each loop) at every step.

    Parameters
    ----------
    links : LinkScores
    loops : mapping, iterable or None
        Loops in causal order (the last variable feeds the first): a mapping of id to variable
        names, :class:`sdmodels.loops.Loop` objects, or sequences of names (ids ``L1``, ...).
        Links the graph does not have directly are expanded (:func:`expand_loop`). None finds
        every loop of at most ``max_length`` nodes (:func:`find_loops`).
    max_length : int or None
        Longest loop searched when ``loops`` is None.

    Returns
    -------
    pandas.DataFrame
        Index ``time`` (:attr:`LinkScores.times`), one column per loop id; ``attrs["loops"]``
        holds each loop's expanded chain of nodes.
    """
    chains = _loop_table(links, loops, max_length)
    logs, signs = _log_scores(links, chains)
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.where(signs == 0, 0.0, signs * np.exp(logs))
    return _frame(links, chains, values)


def relative_loop_scores(links: LinkScores, loops: LoopsSpec = None,
                         max_length: int | None = 12, *,
                         by_partition: bool = False) -> pd.DataFrame:
    """Relative loop scores: each loop's score over the sum of absolute scores of ``loops``.

    Values lie in [-1, 1] (the sign is the loop's polarity at that step: + reinforcing,
    - balancing) and their absolute values sum to 1 at every step where any loop is active,
    to 0 where none is. Computed from logarithms, so huge scores near an inflection point
    (a stock's net flow not changing) do not overflow.

    Parameters
    ----------
    links, loops, max_length
        As in :func:`loop_scores`.
    by_partition : bool
        Normalise within each cycle partition (strongly connected component of the graph:
        loops acting on the same stocks, as the 2020 paper does) instead of over all
        ``loops``; the absolute values then sum to 1 within each active partition.

    Returns
    -------
    pandas.DataFrame
        As :func:`loop_scores`.
    """
    chains = _loop_table(links, loops, max_length)
    logs, signs = _log_scores(links, chains)
    if by_partition:
        component = {node: i for i, nodes in enumerate(
            nx.strongly_connected_components(links.graph.digraph)) for node in nodes}
        groups = np.array([component[chain[0]] for chain in chains.values()])
    else:
        groups = np.zeros(len(chains), dtype=int)
    values = np.zeros_like(logs)
    for group in np.unique(groups):
        members = groups == group
        part = logs[:, members]
        top = part.max(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", over="ignore"):
            weights = np.where(np.isneginf(part), 0.0, np.exp(part - top))
            total = weights.sum(axis=1, keepdims=True)
            values[:, members] = np.where(total > 0, signs[:, members] * weights / total, 0.0)
    return _frame(links, chains, values)


def period_means(frame: pd.DataFrame, periods: Mapping[str, tuple[float, float]]
                 ) -> pd.DataFrame:
    """Mean of each column over time periods ``[start, end)``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Indexed by time (e.g. :func:`relative_loop_scores`).
    periods : mapping
        Label -> ``(start, end)`` times; the end is excluded.

    Returns
    -------
    pandas.DataFrame
        One row per column of ``frame``, one column per period.
    """
    times = frame.index.to_numpy()
    return pd.DataFrame({label: frame[(times >= lo) & (times < hi)].mean()
                         for label, (lo, hi) in periods.items()})
