"""Generate a vectorised numpy simulator from PySD's own parse of a Vensim ``.mdl``.

The Vensim text is parsed by PySD's translator front end
(:class:`pysd.translators.vensim.vensim_file.VensimFile`) into its abstract model; this module
walks those abstract syntax trees and writes the source of one flat Python function,
``simulate``, in which every model variable is a local variable holding a float or an array of
shape ``(N,)`` (one value per parameter set). Only the constructs the shipped model uses are
supported; anything else raises :class:`NotImplementedError` naming the element and the
construct, so that a model change needing more support fails loudly instead of silently.

The generated function follows PySD's semantics: constants are evaluated once, stocks and
SMOOTH states are initialised in dependency order, then each Euler step evaluates the
auxiliaries in dependency order (states break the feedback loops), records the requested
outputs at output steps, and updates every state from derivatives computed at the same time
(``state + ddt * dt``, PySD's update). Constant subexpressions are hoisted out of the time
loop and repeated subexpressions are computed once per step; both keep PySD's evaluation order
(left to right within one operator chain), so results agree with PySD to rounding.
"""

from __future__ import annotations

import heapq
import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pysd.translators.structures import abstract_expressions as ae
from pysd.translators.structures import abstract_model as am
from pysd.translators.vensim.vensim_file import VensimFile

#: Control variables: PySD reference name -> (Vensim name, local name in the generated code).
CONTROL = {
    "time": ("Time", "_t"),
    "initial_time": ("INITIAL TIME", "_initial_time"),
    "final_time": ("FINAL TIME", "final_time"),
    "time_step": ("TIME STEP", "time_step"),
    "saveper": ("SAVEPER", "_saveper"),
}
_ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/", "^": "**"}
_COMPARISON = {"=": "==", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
#: Vensim functions: PySD reference name -> (local alias of the numpy function, arity).
_FUNCTIONS = {
    "min": ("_minimum", 2),
    "max": ("_maximum", 2),
    "exp": ("_exp", 1),
    "ln": ("_log", 1),
    "if_then_else": ("_if_then_else", 3),
}


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


def parse_model(mdl_path: Path) -> list[am.AbstractElement]:
    """Parse ``mdl_path`` with PySD's Vensim front end and return its elements."""
    with warnings.catch_warnings():
        # As in sdmodels.translation: the parser warns about sketch details it ignores.
        warnings.simplefilter("ignore")
        vensim_file = VensimFile(str(mdl_path))
        vensim_file.parse()
        model = vensim_file.get_abstract_model()
    if len(model.sections) != 1:
        raise NotImplementedError(f"{mdl_path.name}: macros are not supported")
    section = model.sections[0]
    if section.subscripts:
        raise NotImplementedError(f"{mdl_path.name}: subscript ranges are not supported")
    return list(section.elements)


def _unsupported(element: str, construct: str) -> NotImplementedError:
    return NotImplementedError(
        f"element {element!r}: {construct} is not supported by the vectorised runner "
        "(sdmodels/_codegen.py)"
    )


def _references(node: object, element: str) -> set[str]:
    """PySD reference names used by an expression (raises for unsupported constructs)."""
    if isinstance(node, bool) or not isinstance(node, int | float | ae.AbstractSyntax):
        raise _unsupported(element, f"the value {node!r} ({type(node).__name__})")
    if isinstance(node, int | float):
        return set()
    if isinstance(node, ae.ReferenceStructure):
        if node.subscripts is not None:
            raise _unsupported(element, "a subscripted reference")
        return {node.reference}
    if isinstance(node, ae.ArithmeticStructure | ae.LogicStructure):
        return set().union(*(_references(a, element) for a in node.arguments))
    if isinstance(node, ae.CallStructure):
        name = getattr(node.function, "reference", node.function)
        if name not in _FUNCTIONS:
            raise _unsupported(element, f"the function {str(name).upper()}")
        if len(node.arguments) != _FUNCTIONS[name][1]:
            raise _unsupported(element, f"{str(name).upper()} with {len(node.arguments)} args")
        return set().union(*(_references(a, element) for a in node.arguments))
    if isinstance(node, ae.InlineLookupsStructure):
        return _references(node.argument, element)
    raise _unsupported(element, f"the construct {type(node).__name__}")


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


def _grid(xs: tuple[float, ...]) -> tuple[float, float] | None:
    """(scale, last x) if the points lie on a grid of spacing 1/scale = 2**-k from 0.

    Scaling by a power of two and truncating is then an exact segment search (see
    ``clusterdyn.sdmodels.vectorized._Table``); other tables are evaluated with ``np.interp``.
    """
    if len(xs) < 2 or xs[0] != 0.0 or any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
        return None
    for k in range(13):
        scale = 2.0**k
        if all((x * scale).is_integer() for x in xs):
            return (scale, xs[-1]) if xs[-1] * scale <= 4096 else None
    return None


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


@dataclass(frozen=True)
class _Code:
    key: str  # canonical text (independent of sharing), used to count repetitions
    text: str  # text to emit
    const: bool  # fixed for the whole run
    atom: bool  # usable as an operand without parentheses


class _Writer:
    """Turns ASTs into code: hoists constant subexpressions, shares repeated ones."""

    def __init__(self, elements: dict[str, _Element], constant: set[str]) -> None:
        self.elements = elements
        self.constant = constant  # reference names whose value is fixed for the run
        self.hoisted: dict[str, str] = {}  # constant code -> local computed before the loop
        self.tables: list[tuple[tuple[float, ...], tuple[float, ...], tuple | None]] = []
        self.grids: list[tuple[float, float]] = []
        self.counts: Counter[str] = Counter()  # dynamic composite -> occurrences per step
        self.shared: dict[str, str] = {}  # dynamic composite -> local, once emitted
        self.pending: list[str] = []  # statements to emit before the current one
        self.mode = "plain"  # "plain" (no sharing), "count" or "share"

    def statement(self, target: str, node: object, element: str) -> list[str]:
        """Code lines assigning ``node`` (of ``element``) to the local ``target``."""
        self.pending = []
        code = self.expr(node, element)
        return [*self.pending, f"{target} = {code.text}"]

    def operand(self, code: _Code) -> str:
        """Text of ``code`` as an operand of a dynamic expression."""
        if code.atom:
            return code.text
        if code.const:
            return self._hoist(code.text)
        return f"({code.text})"

    def _hoist(self, text: str) -> str:
        if text not in self.hoisted:
            self.hoisted[text] = f"_k{len(self.hoisted)}"
        return self.hoisted[text]

    def _composite(self, key: str, text: str, const: bool, atom: bool) -> _Code:
        if const or self.mode == "plain":
            return _Code(key, text, const, atom)
        if self.mode == "count":
            self.counts[key] += 1
        elif self.counts[key] > 1:
            if key not in self.shared:
                self.shared[key] = f"_c{len(self.shared)}"
                self.pending.append(f"{self.shared[key]} = {text}")
            return _Code(key, self.shared[key], False, True)
        return _Code(key, text, False, atom)

    def expr(self, node: object, element: str) -> _Code:
        """Code for ``node``, an expression of ``element``."""
        if isinstance(node, int | float):
            value = float(node)
            if not math.isfinite(value):
                raise _unsupported(element, f"the number {value!r}")
            text = repr(value) if value >= 0 else f"({value!r})"
            return _Code(text, text, True, True)
        if isinstance(node, ae.ReferenceStructure):
            ref = node.reference
            if ref in CONTROL:
                local = CONTROL[ref][1]
                return _Code(local, local, ref != "time", True)
            return _Code(
                self.elements[ref].local, self.elements[ref].local, ref in self.constant, True
            )
        if isinstance(node, ae.ArithmeticStructure | ae.LogicStructure):
            return self._operation(node, element)
        if isinstance(node, ae.CallStructure):
            function = _FUNCTIONS[node.function.reference][0]
            args = [self.expr(a, element) for a in node.arguments]
            const = all(a.const for a in args)
            key = f"{function}({', '.join(a.key for a in args)})"
            text = ", ".join(a.text if const or a.atom else self._arg(a) for a in args)
            return self._composite(key, f"{function}({text})", const, True)
        if isinstance(node, ae.InlineLookupsStructure):
            lookup = node.lookups
            if lookup.type != "interpolate":
                raise _unsupported(element, f"a lookup of type {lookup.type!r}")
            xs, ys = tuple(float(v) for v in lookup.x), tuple(float(v) for v in lookup.y)
            if not all(math.isfinite(v) for v in xs + ys):
                raise _unsupported(element, "a lookup table with non-finite points")
            grid = _grid(xs)
            table = (xs, ys, grid)
            if table not in self.tables:
                self.tables.append(table)
            arg = self.expr(node.argument, element)
            if grid is not None:
                # The segment search (_grid) is shared by tables on the same grid and argument.
                if grid not in self.grids:
                    self.grids.append(grid)
                function = f"_g{self.grids.index(grid)}"
                text = arg.text if arg.const or arg.atom else self._arg(arg)
                arg = self._composite(
                    f"{function}({arg.key})", f"{function}({text})", arg.const, True
                )
            function = f"_f{self.tables.index(table)}"
            text = arg.text if arg.const or arg.atom else self._arg(arg)
            return self._composite(f"{function}({arg.key})", f"{function}({text})", arg.const, True)
        raise _unsupported(element, f"the construct {type(node).__name__}")

    def _arg(self, code: _Code) -> str:
        # A function argument needs no parentheses; a constant one is hoisted.
        return self._hoist(code.text) if code.const else code.text

    def _operation(self, node: ae.ArithmeticStructure | ae.LogicStructure, element: str) -> _Code:
        args = [self.expr(a, element) for a in node.arguments]
        ops = list(node.operators)
        if len(args) == 1:
            if ops != ["negative"]:
                raise _unsupported(element, f"the unary operator {ops[0]}")
            (arg,) = args
            return self._composite(f"-({arg.key})", f"-{self._paren(arg)}", arg.const, False)
        table = _ARITHMETIC if isinstance(node, ae.ArithmeticStructure) else _COMPARISON
        for op in ops:
            if op not in table:
                raise _unsupported(element, f"the operator {op}")
        if table is _COMPARISON and len(ops) > 1:
            raise _unsupported(element, "a chained comparison")
        symbols = [table[op] for op in ops]
        key = _join(f"({args[0].key})", symbols, [f"({a.key})" for a in args[1:]])
        if all(a.const for a in args):
            text = _join(self._paren(args[0]), symbols, [self._paren(a) for a in args[1:]])
            return _Code(key, text, True, False)
        # Python evaluates a chain of one precedence level left to right (PySD writes the
        # same chain), so a constant prefix can be computed once before the loop; "**" chains
        # associate to the right and are left alone.
        n = 1
        while "**" not in symbols and n < len(args) and args[n - 1].const and args[n].const:
            n += 1
        if n > 1:
            prefix = [self._paren(a) for a in args[1:n]]
            head = self._hoist(_join(self._paren(args[0]), symbols[: n - 1], prefix))
        else:
            head = self.operand(args[0])
        text = _join(head, symbols[n - 1 :], [self.operand(a) for a in args[n:]])
        return self._composite(key, text, False, False)

    @staticmethod
    def _paren(code: _Code) -> str:
        return code.text if code.atom else f"({code.text})"


def _join(head: str, symbols: list[str], operands: list[str]) -> str:
    return " ".join([head, *(f"{s} {o}" for s, o in zip(symbols, operands, strict=True))])


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


def lower(mdl_path: Path) -> Lowered:
    """Lower the model in ``mdl_path`` to ordered statements, for an emitter to wrap.

    Raises
    ------
    NotImplementedError
        If the model uses a construct the generator does not support (the message names the
        element and the construct).
    """
    elements, control = _classify(parse_model(mdl_path))
    order = {k: i for i, k in enumerate(elements)}
    dyn: dict[str, set[str]] = {}  # references used at each step
    init: dict[str, set[str]] = {}  # references used to initialise
    for key, el in elements.items():
        ast = el.ast
        if el.kind == "stock":
            dyn[key] = _references(ast.flow, el.name)
            init[key] = _references(ast.initial, el.name)
        elif el.kind == "smooth":
            dyn[key] = _references(ast.input, el.name) | _references(ast.smooth_time, el.name)
            init[key] = _references(ast.initial, el.name)
        else:
            dyn[key] = init[key] = _references(ast, el.name) if el.kind == "auxiliary" else set()
        for ref in dyn[key] | init[key]:
            if ref not in elements and ref not in CONTROL:
                raise _unsupported(el.name, f"the reference to an unknown variable {ref!r}")
    # Constants: numbers, and auxiliaries computed from constants only (fixed point).
    constant = {k for k, el in elements.items() if el.kind == "constant"}
    changed = True
    while changed:
        changed = False
        for key, el in elements.items():
            if (
                el.kind == "auxiliary"
                and key not in constant
                and all(r in constant or (r in CONTROL and r != "time") for r in dyn[key])
            ):
                constant.add(key)
                changed = True
    states = [k for k, el in elements.items() if el.kind in ("stock", "smooth")]
    auxiliaries = {k for k, el in elements.items() if el.kind == "auxiliary"} - constant
    writer = _Writer(elements, constant)
    local = {k: el.local for k, el in elements.items()}

    params: list[tuple[str, str, float]] = []
    const_lines = []
    const_deps = {k: init[k] & constant for k in constant}
    for key in _toposort(sorted(constant, key=order.__getitem__), const_deps, order):
        el = elements[key]
        if el.kind == "constant":
            params.append((el.local, el.name, float(el.ast)))
        else:
            const_lines += writer.statement(el.local, el.ast, el.name)

    init_nodes = set(states) | _closure(set(states), init, auxiliaries)
    init_deps = {k: init[k] & init_nodes for k in init_nodes}
    init_lines = []
    for key in _toposort(sorted(init_nodes, key=order.__getitem__), init_deps, order):
        el = elements[key]
        node = el.ast.initial if key in states else el.ast
        init_lines += writer.statement(el.local, node, el.name)

    core = _closure(set(states), dyn, auxiliaries)
    aux_deps = {k: dyn[k] & auxiliaries for k in auxiliaries}
    core_order = _toposort(sorted(core, key=order.__getitem__), aux_deps, order)
    report = auxiliaries - core
    report_order = _toposort(sorted(report, key=order.__getitem__), aux_deps, order)

    def loop_sections() -> tuple[list[str], list[str]]:
        core_lines: list[str] = []
        for key in core_order:
            core_lines += writer.statement(local[key], elements[key].ast, elements[key].name)
        for key in states:
            el = elements[key]
            if el.kind == "stock":
                core_lines += writer.statement(f"d_{el.local}", el.ast.flow, el.name)
            else:
                # PySD's Smooth.ddt: (input - state) * order / smooth time, order 1.
                core_lines += writer.statement(f"_in_{el.local}", el.ast.input, el.name)
                core_lines += writer.statement(f"_st_{el.local}", el.ast.smooth_time, el.name)
                core_lines.append(f"d_{el.local} = (_in_{el.local} - {el.local}) / _st_{el.local}")
        report_lines: list[str] = []
        for key in report_order:
            report_lines += writer.statement(local[key], elements[key].ast, elements[key].name)
        return core_lines, report_lines

    # Two passes: count the dynamic subexpressions, then name those that occur repeatedly.
    writer.mode = "count"
    loop_sections()
    writer.mode = "share"
    core_lines, report_lines = loop_sections()

    names = [el.name for el in elements.values()] + [CONTROL[c][0] for c in CONTROL]
    return Lowered(
        mdl_name=mdl_path.name,
        variables=tuple(names),
        values=tuple([el.local for el in elements.values()] + [CONTROL[c][1] for c in CONTROL]),
        tables=tuple(writer.tables),
        grids=tuple(writer.grids),
        initial_time=control["initial_time"],
        saveper=control["saveper"],
        params=tuple(params),
        const_lines=tuple(const_lines),
        hoisted=tuple((name, text) for text, name in writer.hoisted.items()),
        init_lines=tuple(init_lines),
        core_lines=tuple(core_lines),
        report_lines=tuple(report_lines),
        states=tuple(local[k] for k in states),
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
    update_lines = [f"{s} = {s} + d_{s} * time_step" for s in low.states]
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
