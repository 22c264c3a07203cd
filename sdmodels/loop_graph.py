"""The causal graph of a Vensim model, with every equation as code of its direct inputs.

Built for loop analysis (:mod:`clusterdyn.sdmodels.loop_scores`) from PySD's parse of the ``.mdl``
and the
project's own lowering (:mod:`clusterdyn.sdmodels._codegen`): each auxiliary's equation is written
by the
same code writer as the vectorised simulators, without the sharing of subexpressions across
equations (``mode = "plain"``), so that it reads only its *direct* inputs and can be evaluated
with some inputs at one time and the others at another (the ceteris-paribus changes of Loops
that Matter).

Nodes are the model's time-varying variables, ``Time`` and the flows the ``.mdl`` does not
name:

* a stock ``S = INTEG(a - b + 2*c, ...)`` has the flows ``a`` (inflow), ``b`` (outflow) and
  ``S flow 3`` (inflow, equation ``2*c``): the top-level ``+``/``-`` terms of its net flow;
* a first-order ``SMOOTH(input, time)`` is a stock with the one inflow ``S flow``, equation
  ``(input - S) / time`` (PySD's ``Smooth.ddt``), so the link ``input -> S`` of the ``.mdl``
  is the chain ``input -> S flow -> S``.

Constants are not nodes: they do not change during a run, and a link from a variable that does
not change has score 0.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

import networkx as nx
import numpy as np
from pysd.translators.structures import abstract_expressions as ae

from clusterdyn.sdmodels import _codegen
from clusterdyn.sdmodels._backends import _Grid, _if_then_else, _Table

#: Name of the node standing for the simulation time.
TIME = "Time"


@dataclass(frozen=True)
class Node:
    """One variable of the causal graph.

    Attributes
    ----------
    name : str
        Vensim name (or, for a flow the ``.mdl`` does not name, ``"<stock> flow[ <j>]"``).
    kind : {"auxiliary", "stock", "time"}
        Stocks include SMOOTH states. Flows, named or not, are auxiliaries.
    local : str
        Python name of its values in :attr:`ModelGraph.code` namespaces.
    code : str
        Its equation (auxiliaries) or net flow (stocks), as Python text of locals.
    inputs : tuple of str
        Names of the nodes its equation reads (auxiliaries), in a fixed order.
    flows : tuple of (str, int)
        For a stock: each flow node and its sign (+1 inflow, -1 outflow).
    synthetic : bool
        True for a flow the ``.mdl`` does not name.
    """

    name: str
    kind: str
    local: str
    code: str
    inputs: tuple[str, ...] = ()
    flows: tuple[tuple[str, int], ...] = ()
    synthetic: bool = False


@dataclass(frozen=True, eq=False)
class ModelGraph:
    """The causal structure of one ``.mdl`` and what is needed to evaluate its equations.

    Attributes
    ----------
    mdl_path : pathlib.Path
    nodes : dict
        :class:`Node` by name, in the ``.mdl``'s order (synthetic flows after their stock).
    locals : dict
        Python local of every model variable (constants and control variables included) by
        Vensim name: the names the simulators record.
    hoisted : tuple of (str, str)
        Constant subexpressions ``(local, text)`` to compute once, before the equations.
    tables, grids : tuple
        Lookup tables and their grids, as :class:`clusterdyn.sdmodels._codegen.Lowered` holds them.
    """

    mdl_path: Path
    nodes: dict[str, Node]
    locals: dict[str, str]
    hoisted: tuple[tuple[str, str], ...]
    tables: tuple
    grids: tuple

    @functools.cached_property
    def compiled(self) -> dict[str, CodeType]:
        """Each node's :attr:`Node.code`, compiled for :func:`eval`."""
        return {n.name: compile(n.code, n.name, "eval") for n in self.nodes.values()}

    @functools.cached_property
    def digraph(self) -> nx.DiGraph:
        """Edges cause -> effect: inputs -> auxiliary, flow -> stock."""
        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        for node in self.nodes.values():
            graph.add_edges_from((cause, node.name) for cause in node.inputs)
            graph.add_edges_from((flow, node.name) for flow, _ in node.flows)
        return graph

    def environment(self, constants: Mapping[str, float]) -> dict[str, object]:
        """Globals to evaluate :attr:`compiled` with: helpers, tables, constants, hoisted values.

        Parameters
        ----------
        constants : mapping
            Value of the local of every constant and control variable of the run.
        """
        env: dict[str, object] = {
            "_minimum": np.minimum, "_maximum": np.maximum, "_exp": np.exp, "_log": np.log,
            "_if_then_else": _if_then_else, **constants,
        }
        # The simulators' own table and grid evaluators (np.interp's results, exactly).
        env.update({f"_f{i}": _Table(x, y, grid) for i, (x, y, grid) in enumerate(self.tables)})
        env.update({f"_g{i}": _Grid(scale, high) for i, (scale, high) in enumerate(self.grids)})
        with np.errstate(all="ignore"):
            for name, text in self.hoisted:  # in order: a later one may use an earlier one
                env[name] = eval(text, env)  # noqa: S307 - code written by sdmodels._codegen
        return env

    @property
    def links(self) -> tuple[tuple[str, str], ...]:
        """Every causal link ``(cause, effect)``."""
        return tuple(self.digraph.edges)


def _terms(node: object, sign: int) -> list[tuple[object, int]]:
    """Top-level ``+``/``-`` terms of a net flow and their signs (nested sums flattened)."""
    if isinstance(node, ae.ArithmeticStructure):
        ops = list(node.operators)
        if ops == ["negative"]:
            return _terms(node.arguments[0], -sign)
        if ops and all(op in ("+", "-") for op in ops):
            out = _terms(node.arguments[0], sign)
            for op, arg in zip(ops, node.arguments[1:], strict=True):
                out += _terms(arg, sign if op == "+" else -sign)
            return out
    return [(node, sign)]


@functools.lru_cache(maxsize=8)
def _build(mdl_path: Path, sha256: str) -> ModelGraph:  # noqa: ARG001 - sha256 keys the cache
    elements, _ = _codegen._classify(_codegen.parse_model(mdl_path))
    refs = {}
    for key, el in elements.items():
        if el.kind == "stock":
            refs[key] = _codegen._references(el.ast.flow, el.name)
        elif el.kind == "smooth":
            refs[key] = _codegen._references(el.ast.input, el.name) | _codegen._references(
                el.ast.smooth_time, el.name)
        elif el.kind == "auxiliary":
            refs[key] = _codegen._references(el.ast, el.name)
        else:
            refs[key] = set()
    # Constants: numbers, and auxiliaries of constants and control values only (the same
    # fixed point as _codegen.lower, so the code below hoists the same subexpressions).
    constant = {k for k, el in elements.items() if el.kind == "constant"}
    changed = True
    while changed:
        changed = False
        for key, el in elements.items():
            if el.kind == "auxiliary" and key not in constant and all(
                r in constant or (r in _codegen.CONTROL and r != "time") for r in refs[key]
            ):
                constant.add(key)
                changed = True
    writer = _codegen._Writer(elements, constant)  # mode "plain": no sharing across equations
    names = {k: el.name for k, el in elements.items()}
    names["time"] = TIME

    def dynamic(keys: set[str]) -> tuple[str, ...]:
        # Inputs that can change during a run, in a reproducible order.
        return tuple(sorted(names[k] for k in keys if k == "time" or (
            k in elements and k not in constant)))

    def text(ast: object, element: str) -> str:
        return writer.expr(ast, element).text

    taken = {el.name for el in elements.values()} | {TIME}

    def unnamed(name: str) -> str:
        # A name for a flow the .mdl does not name, unlike any of its variables.
        while name in taken:
            name += "'"
        taken.add(name)
        return name

    nodes: dict[str, Node] = {TIME: Node(TIME, "time", "_t", "_t")}
    for key, el in elements.items():
        if key in constant:
            continue
        if el.kind == "auxiliary":
            nodes[el.name] = Node(el.name, "auxiliary", el.local, text(el.ast, el.name),
                                  dynamic(refs[key]))
            continue
        if el.kind == "smooth":
            flow = unnamed(f"{el.name} flow")
            code = (f"(({text(el.ast.input, el.name)}) - {el.local}) / "
                    f"({text(el.ast.smooth_time, el.name)})")
            nodes[flow] = Node(flow, "auxiliary", f"_in_{el.local}", code,
                               dynamic(refs[key] | {key}), synthetic=True)
            nodes[el.name] = Node(el.name, "stock", el.local, code, flows=((flow, 1),))
            continue
        flows: list[tuple[str, int]] = []
        terms = _terms(el.ast.flow, 1)
        for j, (term, sign) in enumerate(terms, start=1):
            term_refs = _codegen._references(term, el.name)
            if not dynamic(term_refs):
                continue  # a constant term: it never changes the net flow
            if isinstance(term, ae.ReferenceStructure):
                flow = names[term.reference]
            else:
                flow = unnamed(f"{el.name} flow {j}" if len(terms) > 1 else f"{el.name} flow")
                nodes[flow] = Node(flow, "auxiliary", f"_fl{j}_{el.local}", text(term, el.name),
                                   dynamic(term_refs), synthetic=True)
            if flow in dict(flows):
                raise NotImplementedError(f"stock {el.name!r}: {flow!r} is a term twice")
            flows.append((flow, sign))
        nodes[el.name] = Node(el.name, "stock", el.local, text(el.ast.flow, el.name),
                              flows=tuple(flows))
    local_of = {el.name: el.local for el in elements.values()}
    local_of.update({vensim: local for vensim, local in _codegen.CONTROL.values()})
    return ModelGraph(
        mdl_path=mdl_path,
        nodes=nodes,
        locals=local_of,
        hoisted=tuple((name, code) for code, name in writer.hoisted.items()),
        tables=tuple(writer.tables),
        grids=tuple(writer.grids),
    )


def build_graph(mdl_path: str | Path) -> ModelGraph:
    """The causal graph of the model in ``mdl_path`` (cached per file content).

    Raises
    ------
    NotImplementedError
        For a construct the project's code generator does not support (the message names the
        element), or a net flow that uses the same flow twice.
    """
    from clusterdyn.sdmodels.translation import model_hash

    path = Path(mdl_path).resolve()
    return _build(path, model_hash(path))


def expand_loop(graph: ModelGraph, variables: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A loop given by some of its variables, as the full chain of direct links.

    A named link ``a -> b`` that is not a direct link of the graph is replaced by the shortest
    path from ``a`` to ``b`` through flows the ``.mdl`` does not name (through a SMOOTH, the
    ``.mdl``'s dependency ``input -> S`` is ``input -> S flow -> S``) or, if there is none,
    through any variables but the loop's others. The path must be unique, so that the
    expansion never chooses between two causal paths.

    Parameters
    ----------
    graph : ModelGraph
    variables : sequence of str
        The loop in causal order; the last variable feeds the first.

    Returns
    -------
    tuple of str
        The loop's nodes in causal order, starting with ``variables[0]``.

    Raises
    ------
    ValueError
        For an unknown variable, or a link with no path or more than one shortest path.
    """
    digraph = graph.digraph
    for name in variables:
        if name not in digraph:
            raise ValueError(f"{name!r} is not a time-varying variable of {graph.mdl_path.name}")
    chain: list[str] = []
    for i, cause in enumerate(variables):
        effect = variables[(i + 1) % len(variables)]
        chain.append(cause)
        if digraph.has_edge(cause, effect):
            continue
        others = set(variables) - {cause, effect}
        paths: list[list[str]] = []
        # First through the flows the .mdl does not name, then through any variable.
        for through in ((lambda n: graph.nodes[n].synthetic), (lambda n: True)):
            sub = digraph.subgraph(n for n in digraph if n in (cause, effect) or (
                n not in others and through(n)))
            try:
                paths = list(nx.all_shortest_paths(sub, cause, effect))
                break
            except nx.NetworkXNoPath:
                continue
        if not paths:
            raise ValueError(f"no causal path from {cause!r} to {effect!r}")
        if len(paths) > 1:
            raise ValueError(f"{cause!r} -> {effect!r} is ambiguous: {paths}")
        chain.extend(paths[0][1:-1])
    return tuple(chain)


def find_loops(graph: ModelGraph, max_length: int | None = 12) -> dict[str, tuple[str, ...]]:
    """Every feedback loop of the graph with at most ``max_length`` nodes.

    Uses :func:`networkx.simple_cycles` (with its ``length_bound``); each loop is rotated to
    start at its first stock in the ``.mdl``'s order, and loops are numbered ``L1, L2, ...``
    by length, then by their nodes.

    Parameters
    ----------
    graph : ModelGraph
    max_length : int or None
        Longest loop (nodes, synthetic flows included); None for all (may be very many).

    Returns
    -------
    dict
        Loop id -> nodes in causal order.
    """
    order = {name: i for i, name in enumerate(graph.nodes)}
    loops = []
    for cycle in nx.simple_cycles(graph.digraph, length_bound=max_length):
        stocks = [n for n in cycle if graph.nodes[n].kind == "stock"]
        start = cycle.index(min(stocks, key=order.__getitem__)) if stocks else 0
        loops.append(tuple(cycle[start:] + cycle[:start]))
    loops.sort(key=lambda c: (len(c), [order[n] for n in c]))
    return {f"L{i}": loop for i, loop in enumerate(loops, start=1)}
