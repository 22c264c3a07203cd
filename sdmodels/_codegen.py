"""Generate a vectorised numpy simulator from PySD's own parse of a Vensim ``.mdl``.

The Vensim text is parsed by PySD's translator front end
(:class:`pysd.translators.vensim.vensim_file.VensimFile`) into its abstract model; this module
walks those abstract syntax trees and writes the source of one flat Python function,
``simulate``, in which every model variable is a local variable holding a float or an array of
shape ``(N,)`` (one value per parameter set). Supported: arithmetic, comparisons and logical
operators, the functions of :data:`clusterdyn.sdmodels._functions.FUNCTIONS`, lookups (lookup
definitions and WITH LOOKUP), and the statefuls of :mod:`clusterdyn.sdmodels._statefuls`
(INTEG, SMOOTH*, DELAY*, TREND, FORECAST, INITIAL, ACTIVE INITIAL, SAMPLE IF TRUE), and
subscripts, flattened to one scalar per cell by :mod:`clusterdyn.sdmodels._subscripts`.
Anything else raises :class:`clusterdyn.sdmodels.compiled.UnsupportedConstruct` naming the
file, the element and the construct, so that a model needing more support fails loudly
instead of silently. Expressions are written by :mod:`clusterdyn.sdmodels._writer`.

The generated function follows PySD's semantics: constants are evaluated once, states are
initialised in dependency order, then each Euler step evaluates the auxiliaries in dependency
order (states break the feedback loops), records the requested outputs at output steps, and
updates every state from derivatives computed at the same time (``state + ddt * dt``, PySD's
update). Constant subexpressions are hoisted out of the time loop and repeated subexpressions
are computed once per step; both keep PySD's evaluation order (left to right within one
operator chain), so results agree with PySD to rounding.
"""

from __future__ import annotations

import heapq
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.structures import abstract_model as am
from pysd.translators.vensim.vensim_file import VensimFile

from clusterdyn.sdmodels import (
    _pysd_patches,  # noqa: F401 - corrects PySD's parser first
    _statefuls,
    _subscripts,
)
from clusterdyn.sdmodels._writer import (  # noqa: F401 - re-exported for loop_graph, validation
    _ARITHMETIC,
    _COMPARISON,
    _FUNCTIONS,
    _TIMED,
    CONTROL,
    _calls,
    _canonical,
    _Code,
    _extrapolation,
    _grid,
    _join,
    _references,
    _unsupported,
    _Writer,
    lookup_points,
)
from clusterdyn.sdmodels.compiled import UnsupportedConstruct


@dataclass(frozen=True)
class _Element:
    name: str
    kind: str  # "constant" (a number), "auxiliary", "stock" or "smooth"
    ast: object
    local: str


@dataclass(frozen=True)
class GeneratedCode:
    """Source of the generated module and what it computes.

    Attributes
    ----------
    source : str
        Python source defining ``VARIABLES``, the tables and ``simulate(P, times, final_time,
        time_step, out_steps, buf, sel)``; it expects ``np``, ``_table``, ``_grid`` and
        ``_if_then_else`` (:mod:`clusterdyn.sdmodels.vectorized`) in its namespace.
    variables : tuple of str
        Every recordable variable, in the order ``sel`` indexes them.
    tables : tuple
        The lookup tables: x points, y points and the grid ``(scale, last x)`` or None.
    """

    source: str
    variables: tuple[str, ...]
    tables: tuple[tuple[tuple[float, ...], tuple[float, ...], tuple[float, float] | None], ...]


@dataclass(frozen=True)
class Lowered:
    """The model as ordered Python statements, shared by the numpy and numba emitters.

    Statements use the locals of :attr:`values` and the helpers ``_minimum``, ``_maximum``,
    ``_exp``, ``_log``, ``_if_then_else``, ``_f<i>`` (table ``i``) and ``_g<i>`` (grid ``i``, a
    segment search an emitter may make the identity).

    Attributes
    ----------
    params : tuple
        ``(local, Vensim name, default)`` of every number-valued constant.
    const_lines, hoisted, init_lines, core_lines, report_lines : tuple
        Constant auxiliaries; hoisted constant subexpressions ``(local, text)``; state
        initialisation; each step's auxiliaries and derivatives ``d_<state>``; auxiliaries
        only needed at output steps.
    states : tuple of str
        Locals of the states, in update order.
    update_lines : tuple of str
        Statements run after each recorded step: the Euler updates (``s = s + d_s *
        time_step``) and the pipeline shifts of DELAY FIXED and DELAY N.
    control : dict
        Reference name -> ``.mdl`` value of the control variables (ints stay ints).
    """

    mdl_name: str
    variables: tuple[str, ...]
    values: tuple[str, ...]
    tables: tuple
    grids: tuple
    initial_time: float
    saveper: float
    params: tuple[tuple[str, str, float], ...]
    const_lines: tuple[str, ...]
    hoisted: tuple[tuple[str, str], ...]
    init_lines: tuple[str, ...]
    core_lines: tuple[str, ...]
    report_lines: tuple[str, ...]
    states: tuple[str, ...]
    update_lines: tuple[str, ...] = ()
    control: dict = field(default_factory=dict)


def parse_model(mdl_path: Path) -> list[am.AbstractElement]:
    """Parse ``mdl_path`` with PySD's Vensim front end and return its elements.

    Raises
    ------
    UnsupportedConstruct
        For a model with macros or subscripts.
    """
    elements, ranges = parse_section(mdl_path)
    for element in elements:
        if any(c.subscripts[0] or c.subscripts[1] for c in element.components):
            raise UnsupportedConstruct(element.name, "subscripts", mdl_path.name)
    if ranges:
        name = getattr(ranges[0], "name", "?")
        raise UnsupportedConstruct(name, "a subscript range", mdl_path.name)
    return elements


def parse_section(mdl_path: Path) -> tuple[list[am.AbstractElement], tuple]:
    """Parse ``mdl_path`` with PySD's Vensim front end: its elements and subscript ranges.

    Raises
    ------
    UnsupportedConstruct
        For a model with macros.
    """
    with warnings.catch_warnings():
        # As in sdmodels.translation: the parser warns about sketch details it ignores.
        warnings.simplefilter("ignore")
        vensim_file = VensimFile(str(mdl_path))
        vensim_file.parse()
        model = vensim_file.get_abstract_model()
    section = next(s for s in model.sections if s.type == "main")
    macros = [s.name for s in model.sections if s.type != "main"]
    if macros:
        for element in section.elements:
            names = {_canonical(m): m for m in macros}
            called = sorted(_calls(element.components[0].ast) & set(names))
            if called:
                raise UnsupportedConstruct(
                    element.name, f"the macro {names[called[0]].upper().replace('_', ' ')}",
                    mdl_path.name,
                )
        raise UnsupportedConstruct(macros[0], "a macro definition", mdl_path.name)
    return list(section.elements), tuple(section.subscripts)


def _classify(elements: list[am.AbstractElement]) -> tuple[dict[str, _Element], dict]:
    """Map PySD reference names to elements; return them and the control settings."""
    found: dict[str, _Element] = {}
    control: dict[str, float] = {}
    used: set[str] = set()
    for element in elements:
        if len(element.components) != 1:
            raise _unsupported(element.name, "a definition in several equations")
        component = element.components[0]
        if type(component) is not am.AbstractComponent:
            raise _unsupported(element.name, f"a component of type {type(component).__name__}")
        if component.subscripts[0] or component.subscripts[1]:
            raise _unsupported(element.name, "subscripts")
        ast = component.ast
        key = element.name.lower().replace(" ", "_")  # PySD's reference name ("cleanspace")
        if isinstance(element, am.AbstractControlElement):
            if isinstance(ast, bool) or not isinstance(ast, int | float):
                raise _unsupported(element.name, "a control variable that is not a number")
            control[key] = float(ast)
            continue
        if isinstance(ast, ae.IntegStructure):
            if ast.non_negative:
                raise _unsupported(element.name, "a non-negative INTEG")
            kind = "stock"
        elif isinstance(ast, ae.SmoothStructure):
            if ast.order != 1:
                raise _unsupported(element.name, f"a SMOOTH of order {ast.order}")
            kind = "smooth"
        elif isinstance(ast, int | float) and not isinstance(ast, bool):
            kind = "constant"
        else:
            _references(ast, element.name)
            kind = "auxiliary"
        base = "v_" + (re.sub(r"[^0-9a-zA-Z]+", "_", key).strip("_") or "x")
        local, i = base, 1
        while local in used:
            local, i = f"{base}_{i}", i + 1
        used.add(local)
        found[key] = _Element(element.name, kind, ast, local)
    missing = {"initial_time", "final_time", "time_step", "saveper"} - set(control)
    if missing:
        raise NotImplementedError(f"the model lacks the control variables {sorted(missing)}")
    return found, control


def _toposort(nodes: list[str], deps: dict[str, set[str]], order: dict[str, int]) -> list[str]:
    """Kahn's algorithm, ties broken by the ``.mdl`` order (so the output is reproducible)."""
    members = set(nodes)
    pending = {n: {d for d in deps[n] if d in members} for n in nodes}
    users: dict[str, list[str]] = {n: [] for n in nodes}
    for n, ds in pending.items():
        for d in ds:
            users[d].append(n)
    ready = [(order[n], n) for n, ds in pending.items() if not ds]
    heapq.heapify(ready)
    result = []
    while ready:
        _, n = heapq.heappop(ready)
        result.append(n)
        for u in users[n]:
            pending[u].discard(n)
            if not pending[u]:
                heapq.heappush(ready, (order[u], u))
    if len(result) != len(nodes):
        stuck = sorted(set(nodes) - set(result), key=order.__getitem__)
        raise ValueError(f"simultaneous equations (no state breaks the loop) among {stuck}")
    return result


def _closure(start: set[str], deps: dict[str, set[str]], inside: set[str]) -> set[str]:
    """Nodes of ``inside`` reachable from ``start`` through ``deps``."""
    seen: set[str] = set()
    stack = [d for s in start for d in deps[s] if d in inside]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(d for d in deps[node] if d in inside)
    return seen


def _control_values(asts: dict[str, tuple[str, object]]) -> dict[str, float]:
    """Control values: numbers, or references to other control variables (SAVEPER = TIME
    STEP), kept as the ``.mdl`` has them (an int stays an int, as in PySD's clock)."""
    values: dict[str, float] = {}

    def value(key: str, depth: int = 0) -> float:
        name, node = asts[key]
        if isinstance(node, ae.ReferenceStructure) and node.subscripts is None and depth < 5:
            ref = _canonical(node.reference)
            if ref in asts and ref != key:
                return value(ref, depth + 1)
        if isinstance(node, bool) or not isinstance(node, int | float):
            raise _unsupported(name, "a control variable that is not a number")
        return node

    for key in asts:
        values[key] = value(key)
    missing = {"initial_time", "final_time", "time_step", "saveper"} - set(values)
    if missing:
        raise NotImplementedError(f"the model lacks the control variables {sorted(missing)}")
    return values


def _cells(parsed: list[am.AbstractElement], ranges: tuple) -> list[tuple]:
    """``(element, component, key, name, ast)`` of every scalar value: subscripted elements
    give one per cell (:mod:`clusterdyn.sdmodels._subscripts`)."""
    flattener = None
    if ranges:
        flattener = _subscripts.Flattener(_subscripts.Subscripts(ranges, _canonical))
        flattener.prepare(parsed)
    out = []
    for element in parsed:
        component = element.components[0]
        if flattener is None or isinstance(element, am.AbstractControlElement):
            if len(element.components) != 1:
                raise _unsupported(element.name, "a definition in several equations")
            if component.subscripts[0] or component.subscripts[1]:
                raise _unsupported(element.name, "subscripts without a subscript range")
            out.append((element, component, _canonical(element.name), element.name,
                        component.ast))
            continue
        if len({type(c) for c in element.components}) != 1:
            raise _unsupported(element.name, "a definition mixing kinds of equations")
        out += [(element, component, *cell) for cell in flattener.cells(element)]
    return out


def _entries(parsed: list[am.AbstractElement], ranges: tuple = ()) -> tuple[list, dict, dict]:
    """Model elements ``(key, name, local, ast)``, lookup definitions and control ASTs."""
    entries, lookups, control = [], {}, {}
    used: set[str] = set()
    for element, component, key, name, ast in _cells(parsed, ranges):
        if type(ast) in _statefuls.UNSUPPORTED:
            raise _unsupported(name, _statefuls.UNSUPPORTED[type(ast)])
        if isinstance(element, am.AbstractControlElement):
            control[key] = (name, ast)
            continue
        if type(component) is am.AbstractLookup and isinstance(ast, ae.LookupsStructure):
            lookups[key] = lookup_points(ast, name)
            continue
        if type(component) not in (am.AbstractComponent, am.AbstractUnchangeableConstant):
            kind = type(component).__name__.removeprefix("Abstract").lower()
            raise _unsupported(name, f"a {kind} component")
        base = "v_" + (re.sub(r"[^0-9a-zA-Z]+", "_", key).strip("_") or "x")
        local, i = base, 1
        while local in used:
            local, i = f"{base}_{i}", i + 1
        used.add(local)
        entries.append((key, name, local, ast))
    return entries, lookups, control


def lower(mdl_path: Path) -> Lowered:
    """Lower the model in ``mdl_path`` to ordered statements, for an emitter to wrap.

    Raises
    ------
    UnsupportedConstruct
        If the model uses a construct the generator does not support (the message names the
        file, the element and the construct).
    """
    try:
        return _lower(mdl_path)
    except UnsupportedConstruct as exc:
        if exc.mdl:
            raise
        raise exc.in_file(mdl_path.name) from None


def _lower(mdl_path: Path) -> Lowered:
    entries, lookups, control_asts = _entries(*parse_section(mdl_path))
    control = _control_values(control_asts)
    builder = _statefuls.Builder({key: ast for key, _, _, ast in entries}, control, _canonical)
    for entry in entries:
        builder.element(*entry)
    nodes, statefuls = builder.nodes, builder.statefuls
    order = {k: i for i, k in enumerate(nodes)}
    init: dict[str, set[str]] = {}  # references used to initialise
    dyn: dict[str, set[str]] = {}  # references used at each step
    for key, node in nodes.items():
        init[key] = _references(node.init, node.name, lookups)
        dyn[key] = set() if node.dyn is None else _references(node.dyn, node.name, lookups)
        for ref in dyn[key] | init[key]:
            if ref not in nodes and ref not in CONTROL:
                raise _unsupported(node.name, f"the reference to an unknown variable {ref!r}")
    ddt_refs = set().union(*(
        _references(ast, st.name, lookups) for st in statefuls for _, ast in st.ddt
        if not isinstance(ast, str)))
    # Constants: numbers, and auxiliaries computed from constants only (fixed point).
    constant = {k for k, node in nodes.items() if node.kind == "constant"}
    changed = True
    while changed:
        changed = False
        for key, node in nodes.items():
            if (
                node.kind == "auxiliary"
                and node.init is node.dyn
                and key not in constant
                and all(r in constant or (r in CONTROL and r != "time") for r in dyn[key])
            ):
                constant.add(key)
                changed = True
    states = [k for k, node in nodes.items() if node.kind == "state"]
    auxiliaries = {k for k, node in nodes.items() if node.kind == "auxiliary"} - constant
    writer = _Writer(nodes, constant, lookups)

    params: list[tuple[str, str, float]] = []
    const_lines = []
    const_deps = {k: init[k] & constant for k in constant}
    for key in _toposort(sorted(constant, key=order.__getitem__), const_deps, order):
        node = nodes[key]
        if key in builder.structural:  # fixes a delay order: not a parameter
            const_lines.append(f"{node.local} = {float(node.init)!r}")
        elif node.kind == "constant":
            params.append((node.local, node.name, float(node.init)))
        else:
            const_lines += writer.statement(node.local, node.init, node.name)

    init_nodes = set(states) | _closure(set(states), init, auxiliaries)
    init_deps = {k: init[k] & init_nodes for k in init_nodes}
    init_lines = []
    for key in _toposort(sorted(init_nodes, key=order.__getitem__), init_deps, order):
        init_lines += writer.statement(nodes[key].local, nodes[key].init, nodes[key].name)

    core = _closure({"#ddt"}, {**dyn, "#ddt": ddt_refs}, auxiliaries)
    aux_deps = {k: dyn[k] & auxiliaries for k in auxiliaries}
    core_order = _toposort(sorted(core, key=order.__getitem__), aux_deps, order)
    report = auxiliaries - core
    report_order = _toposort(sorted(report, key=order.__getitem__), aux_deps, order)

    def loop_sections() -> tuple[list[str], list[str]]:
        core_lines: list[str] = []
        for key in core_order:
            core_lines += writer.statement(nodes[key].local, nodes[key].dyn, nodes[key].name)
        for stateful in statefuls:
            for target, ast in stateful.ddt:
                core_lines += writer.statement(target, ast, stateful.name)
        report_lines: list[str] = []
        for key in report_order:
            report_lines += writer.statement(nodes[key].local, nodes[key].dyn, nodes[key].name)
        return core_lines, report_lines

    # Two passes: count the dynamic subexpressions, then name those that occur repeatedly.
    writer.mode = "count"
    loop_sections()
    writer.mode = "share"
    core_lines, report_lines = loop_sections()

    names = [name for _, name, _, _ in entries] + [CONTROL[c][0] for c in CONTROL]
    values = [nodes[key].local for key, _, _, _ in entries] + [CONTROL[c][1] for c in CONTROL]
    return Lowered(
        mdl_name=mdl_path.name,
        variables=tuple(names),
        values=tuple(values),
        tables=tuple(writer.tables),
        grids=tuple(writer.grids),
        initial_time=float(control["initial_time"]),
        saveper=float(control["saveper"]),
        params=tuple(params),
        const_lines=tuple(const_lines),
        hoisted=tuple((name, text) for text, name in writer.hoisted.items()),
        init_lines=tuple(init_lines),
        core_lines=tuple(core_lines),
        report_lines=tuple(report_lines),
        states=tuple(nodes[k].local for k in states),
        update_lines=tuple(line for st in statefuls for line in st.updates),
        control=control,
    )


def block(lines: tuple[str, ...] | list[str], depth: int) -> str:
    """``lines`` indented by ``depth`` levels, one per line."""
    return "".join(f"{'    ' * depth}{line}\n" for line in lines)


def generate(mdl_path: Path) -> GeneratedCode:
    """Write the vectorised numpy simulator of the model in ``mdl_path``.

    Raises
    ------
    NotImplementedError
        If the model uses a construct the generator does not support (the message names the
        element and the construct).
    """
    low = lower(mdl_path)
    update_lines = list(low.update_lines)
    tables = "".join(f"_f{i}, " for i in range(len(low.tables)))
    grids = "".join(f"_g{i}, " for i in range(len(low.grids)))
    param_lines = [f"{local} = P.get({name!r}, {default!r})" for local, name, default in low.params]
    source = (
        f'"""Vectorised simulator of {low.mdl_name}, generated by sdmodels._codegen."""\n\n'
        f"VARIABLES = {low.variables!r}\n"
        f"TABLES = {list(low.tables)!r}\n"
        f"GRIDS = {list(low.grids)!r}\n"
        "_TABLES = tuple(_table(x, y, grid) for x, y, grid in TABLES)\n"
        "_GRIDS = tuple(_grid(scale, high) for scale, high in GRIDS)\n\n\n"
        "def simulate(P, times, final_time, time_step, out_steps, buf, sel):\n"
        "    _minimum, _maximum, _exp, _log = np.minimum, np.maximum, np.exp, np.log\n"
        + (f"    {tables}= _TABLES\n" if tables else "")
        + (f"    {grids}= _GRIDS\n" if grids else "")
        + f"    _initial_time = {low.initial_time!r}\n"
        f"    _saveper = {low.saveper!r}\n"
        + block(param_lines, 1)
        + block(low.const_lines, 1)
        + block([f"{name} = {text}" for name, text in low.hoisted], 1)
        + "    _t = times[0]\n"
        + block(low.init_lines, 1)
        + "    k, n_out, last = 0, len(out_steps), len(times) - 1\n"
        "    nxt = out_steps[0]\n"
        "    for i, _t in enumerate(times):\n"
        + block(low.core_lines, 2)
        + "        if i == nxt:\n"
        + block(low.report_lines, 3)
        + f"            _vals = ({', '.join(low.values)})\n"
        "            for j, v in enumerate(sel):\n"
        "                buf[k, j] = _vals[v]\n"
        "            k += 1\n"
        "            nxt = out_steps[k] if k < n_out else -1\n"
        "        if i == last:\n"
        "            break\n" + block(update_lines, 2)
    )
    return GeneratedCode(source, low.variables, low.tables)
