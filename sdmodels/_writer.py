"""Expressions to Python code for the generated simulators (:mod:`clusterdyn.sdmodels._codegen`).

:class:`_Writer` turns PySD's abstract syntax trees into Python expressions over the generated
function's locals, in PySD's operation order: constant subexpressions are hoisted out of the
time loop, repeated ones are computed once per step, Vensim functions become the helpers of
:mod:`clusterdyn.sdmodels._functions`, lookups become table functions.
"""

from __future__ import annotations

import ast as pyast
import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from pysd.translators.structures import abstract_expressions as ae

from clusterdyn.sdmodels._functions import FUNCTIONS, INTERNAL, LOGICAL
from clusterdyn.sdmodels.compiled import UnsupportedConstruct

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
#: Vensim functions and internal helpers: PySD reference name -> (helper, arity).
_FUNCTIONS = {name: (f.helper, f.arity) for name, f in {**FUNCTIONS, **INTERNAL}.items()}
#: Functions of time: their helpers take the time and the time step first.
_TIMED = {name for name, f in FUNCTIONS.items() if f.timed}

def _canonical(name: str) -> str:
    """PySD's reference name of a Vensim name (case, spaces and underscores do not count)."""
    return re.sub(r"[\s_]+", "_", name.strip().lower())



def _calls(node: object) -> set[str]:
    """Reference names of the functions called anywhere in ``node``."""
    found = set()
    if isinstance(node, ae.CallStructure):
        found.add(_canonical(str(node.function.reference)))
    if isinstance(node, ae.AbstractSyntax):
        for value in vars(node).values():
            for child in value if isinstance(value, list | tuple) else (value,):
                found |= _calls(child)
    return found


def _unsupported(element: str, construct: str) -> UnsupportedConstruct:
    return UnsupportedConstruct(element, construct)


def _references(node: object, element: str, lookups: object = ()) -> set[str]:
    """PySD reference names used by an expression (raises for unsupported constructs).

    ``lookups`` holds the reference names of the model's lookup definitions, which
    expressions call like functions.
    """
    if isinstance(node, bool) or not isinstance(node, int | float | ae.AbstractSyntax):
        raise _unsupported(element, f"the value {node!r} ({type(node).__name__})")
    if isinstance(node, int | float):
        return set()
    if isinstance(node, ae.ReferenceStructure):
        if node.subscripts is not None:
            raise _unsupported(element, "a subscripted reference")
        return {node.reference}
    if isinstance(node, ae.ArithmeticStructure | ae.LogicStructure):
        return set().union(*(_references(a, element, lookups) for a in node.arguments))
    if isinstance(node, ae.CallStructure):
        name = getattr(node.function, "reference", node.function)
        vensim = str(name).upper().replace("_", " ")
        if name == "lookup_extrapolate":
            table = node.arguments[0] if len(node.arguments) == 2 else None
            if getattr(table, "reference", None) not in lookups:
                raise _unsupported(element, "LOOKUP EXTRAPOLATE of anything but a lookup")
            return _references(node.arguments[1], element, lookups)
        if name in lookups:
            if len(node.arguments) != 1:
                raise _unsupported(element, f"a lookup call with {len(node.arguments)} args")
        elif name not in _FUNCTIONS:
            raise _unsupported(element, f"the function {vensim}")
        elif len(node.arguments) != _FUNCTIONS[name][1]:
            raise _unsupported(element, f"{vensim} with {len(node.arguments)} args")
        refs = set().union(*(_references(a, element, lookups) for a in node.arguments))
        return refs | {"time"} if name in _TIMED else refs
    if isinstance(node, ae.InlineLookupsStructure):
        return _references(node.argument, element, lookups)
    raise _unsupported(element, f"the construct {type(node).__name__}")



def lookup_points(lookup: ae.LookupsStructure, element: str) -> tuple[tuple, tuple]:
    """The x and y points of a lookup table as PySD's generated code holds them.

    PySD writes the points with ``np.array2string`` (8 significant digits), so a point with
    more digits is rounded in its model; the same rounding keeps the results equal.
    """
    if lookup.type != "interpolate":
        raise _unsupported(element, f"a lookup of type {lookup.type!r}")
    points = []
    for values in (lookup.x, lookup.y):
        text = np.array2string(np.array(values), separator=",", threshold=len(values))
        try:
            points.append(tuple(float(v) for v in pyast.literal_eval(text)))
        except (ValueError, SyntaxError):
            raise _unsupported(element, "a lookup table with non-finite points") from None
    xs, ys = points
    if not all(math.isfinite(v) for v in xs + ys):
        raise _unsupported(element, "a lookup table with non-finite points")
    return xs, ys


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



@dataclass(frozen=True)
class _Code:
    key: str  # canonical text (independent of sharing), used to count repetitions
    text: str  # text to emit
    const: bool  # fixed for the whole run
    atom: bool  # usable as an operand without parentheses


class _Writer:
    """Turns ASTs into code: hoists constant subexpressions, shares repeated ones."""

    def __init__(self, elements: dict, constant: set[str], lookups: dict | None = None) -> None:
        self.elements = elements  # reference name -> object with the attribute ``local``
        self.lookups = lookups or {}  # lookup definitions: reference name -> (xs, ys)
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
        if isinstance(node, str):  # code written by _statefuls from locals only
            return [f"{target} = {node}"]
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
            name = node.function.reference
            if name == "lookup_extrapolate":
                return self.expr(_extrapolation(node, self.lookups), element)
            if name in self.lookups:
                return self._lookup(*self.lookups[name], node.arguments[0], element)
            function = _FUNCTIONS[name][0]
            args = [self.expr(a, element) for a in node.arguments]
            if name in _TIMED:
                args = [_Code("_t", "_t", False, True),
                        _Code("time_step", "time_step", True, True), *args]
            return self._call(function, args)
        if isinstance(node, ae.InlineLookupsStructure):
            xs, ys = lookup_points(node.lookups, element)
            return self._lookup(xs, ys, node.argument, element)
        raise _unsupported(element, f"the construct {type(node).__name__}")

    def _lookup(self, xs: tuple, ys: tuple, argument: object, element: str) -> _Code:
        """Code of the lookup table ``(xs, ys)`` at ``argument`` (flat outside the table)."""
        grid = _grid(xs)
        table = (xs, ys, grid)
        if table not in self.tables:
            self.tables.append(table)
        arg = self.expr(argument, element)
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

    def _arg(self, code: _Code) -> str:
        # A function argument needs no parentheses; a constant one is hoisted.
        return self._hoist(code.text) if code.const else code.text

    def _operation(self, node: ae.ArithmeticStructure | ae.LogicStructure, element: str) -> _Code:
        args = [self.expr(a, element) for a in node.arguments]
        ops = list(node.operators)
        if any(op in LOGICAL for op in ops):
            return self._logical(ops, args, element)
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

    def _logical(self, ops: list[str], args: list[_Code], element: str) -> _Code:
        # PySD nests np.logical_and / np.logical_or from the right: a op (b op c).
        if ops == [":NOT:"]:
            ops, args = [], [self._call("_not", args)]
        if not all(op in (":AND:", ":OR:") for op in ops):
            raise _unsupported(element, f"the operators {' '.join(ops)} in one chain")
        right = args[-1]
        for op, left in zip(reversed(ops), reversed(args[:-1]), strict=True):
            right = self._call(LOGICAL[op], [left, right])
        return right

    def _call(self, function: str, args: list[_Code]) -> _Code:
        const = all(a.const for a in args)
        key = f"{function}({', '.join(a.key for a in args)})"
        text = ", ".join(a.text if const or a.atom else self._arg(a) for a in args)
        return self._composite(key, f"{function}({text})", const, True)

    @staticmethod
    def _paren(code: _Code) -> str:
        return code.text if code.atom else f"({code.text})"


def _extrapolation(node: ae.CallStructure, lookups: dict) -> object:
    """LOOKUP EXTRAPOLATE(table, x) as an expression: the table inside its range, the line
    through its first or last two points outside (Vensim's rule; PySD's ``extrapolate``)."""
    table, x = node.arguments
    xs, ys = lookups[table.reference]
    inside = ae.CallStructure(table, (x,))
    if len(xs) < 2:
        return inside

    def line(i: int, j: int) -> object:
        slope = ae.ArithmeticStructure(["/"], [ys[j] - ys[i], xs[j] - xs[i]])
        offset = ae.ArithmeticStructure(["-"], [x, xs[j]])
        return ae.ArithmeticStructure(["+"], [ys[j], ae.ArithmeticStructure(
            ["*"], [slope, offset])])

    def above(then: object, other: object, op: str, edge: float) -> object:
        test = ae.LogicStructure([op], [x, edge])
        return ae.CallStructure(ae.ReferenceStructure("if_then_else"), (test, then, other))

    return above(line(1, 0), above(line(-2, -1), inside, ">", xs[-1]), "<", xs[0])


def _join(head: str, symbols: list[str], operands: list[str]) -> str:
    return " ".join([head, *(f"{s} {o}" for s, o in zip(symbols, operands, strict=True))])


