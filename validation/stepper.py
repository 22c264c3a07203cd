"""An independent simulator of the model with a choice of Euler or fourth-order Runge-Kutta.

PySD and :mod:`clusterdyn.sdmodels.vectorized` integrate with Euler only. To measure the Euler
error,
this module writes its own Python code from PySD's parse of the ``.mdl`` (the ASTs of
:mod:`clusterdyn.validation.equations`): a function giving the time derivative of every state
(stocks
and SMOOTH states) at any state and time, and a function giving every variable's value. Both
integration methods use that one derivative function, so the comparison isolates the method.
Its Euler mode follows PySD's semantics (evaluation from the states, update ``x + dx * dt``)
and reproduces PySD's trajectory to rounding, which :mod:`clusterdyn.validation.integration` checks
every time it runs.

Only the constructs of the shipped model are supported (numbers, references, arithmetic,
comparisons, ``MIN``, ``MAX``, ``EXP``, ``LN``, ``IF THEN ELSE``, ``WITH LOOKUP``, ``INTEG`` and
first-order ``SMOOTH``); anything else raises :class:`NotImplementedError` naming it.
"""

from __future__ import annotations

import bisect
import graphlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pysd.translators.structures import abstract_expressions as ae

from clusterdyn.sdmodels._codegen import _closure
from clusterdyn.sdmodels.model import SimulationError
from clusterdyn.validation.equations import CONTROL_KEYS, Equation, parse_equations, references

METHODS = ("euler", "rk4")
_ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/", "^": "**"}
_COMPARISON = {"=": "==", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FUNCTIONS = {"min": ("min", 2), "max": ("max", 2), "exp": ("_exp", 1), "ln": ("_log", 1)}


def _interpolator(xs: Sequence[float], ys: Sequence[float]) -> Callable[[float], float]:
    """``np.interp(x, xs, ys)`` for a scalar, with numpy's own formula (flat outside)."""
    xs, ys = [float(v) for v in xs], [float(v) for v in ys]
    slopes = [(ys[j + 1] - ys[j]) / (xs[j + 1] - xs[j]) for j in range(len(xs) - 1)]

    def interp(x: float) -> float:
        if x != x:
            return math.nan
        if x <= xs[0]:
            return ys[0]
        if x >= xs[-1]:
            return ys[-1]
        j = bisect.bisect_right(xs, x) - 1
        return ys[j] if xs[j] == x else slopes[j] * (x - xs[j]) + ys[j]

    return interp


class _Writer:
    """Python source for the ASTs; lookup tables are collected in :attr:`tables`."""

    def __init__(self, local: Mapping[str, str]) -> None:
        self.local = local
        self.tables: list[tuple[tuple[float, ...], tuple[float, ...]]] = []

    def expr(self, node: object, element: str) -> str:
        if isinstance(node, bool) or not isinstance(node, int | float | ae.AbstractSyntax):
            raise _unsupported(element, f"the value {node!r}")
        if isinstance(node, int | float):
            return repr(float(node))
        if isinstance(node, ae.ReferenceStructure):
            if node.subscripts is not None:
                raise _unsupported(element, "a subscripted reference")
            if node.reference == "time":
                return "_t"
            if node.reference not in self.local:
                raise _unsupported(element, f"the unknown variable {node.reference!r}")
            return self.local[node.reference]
        if isinstance(node, ae.ArithmeticStructure | ae.LogicStructure):
            args = [self.expr(a, element) for a in node.arguments]
            ops = list(node.operators)
            if ops == ["negative"]:
                return f"(-{args[0]})"
            table = _ARITHMETIC if isinstance(node, ae.ArithmeticStructure) else _COMPARISON
            if any(op not in table for op in ops) or (table is _COMPARISON and len(ops) > 1):
                raise _unsupported(element, f"the operators {ops}")
            if ops.count("^") > 1:
                raise _unsupported(element, "a chain of '^'")
            text = args[0]
            for op, arg in zip(ops, args[1:], strict=True):
                text = f"({text} {table[op]} {arg})"
            return text
        if isinstance(node, ae.CallStructure):
            name = str(getattr(node.function, "reference", node.function))
            args = [self.expr(a, element) for a in node.arguments]
            if name == "if_then_else" and len(args) == 3:
                return f"({args[1]} if {args[0]} else {args[2]})"
            if name not in _FUNCTIONS or len(args) != _FUNCTIONS[name][1]:
                raise _unsupported(element, f"the function {name.upper()}/{len(args)}")
            return f"{_FUNCTIONS[name][0]}({', '.join(args)})"
        if isinstance(node, ae.InlineLookupsStructure):
            lookup = node.lookups
            if lookup.type != "interpolate":
                raise _unsupported(element, f"a lookup of type {lookup.type!r}")
            table = (tuple(float(v) for v in lookup.x), tuple(float(v) for v in lookup.y))
            if table not in self.tables:
                self.tables.append(table)
            return f"_f{self.tables.index(table)}({self.expr(node.argument, element)})"
        raise _unsupported(element, f"the construct {type(node).__name__}")


def _unsupported(element: str, construct: str) -> NotImplementedError:
    return NotImplementedError(
        f"element {element!r}: {construct} is not supported by the validation stepper "
        "(validation/stepper.py)"
    )


def _ordered(keys: Iterable[str], deps: Mapping[str, set[str]]) -> list[str]:
    """``keys`` in an order in which each comes after the members of ``keys`` it uses."""
    members = set(keys)
    sorter = graphlib.TopologicalSorter({k: deps[k] & members for k in members})
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        raise ValueError(
            f"simultaneous equations (no state breaks the loop): {exc.args[1]}"
        ) from None




def generate(equations: Sequence[Equation]) -> tuple[str, tuple[str, ...], list]:
    """Source of ``make(P, time_step, final_time)`` for the model; its states and tables."""
    eqs = {e.key: e for e in equations if e.kind != "control"}
    control = {e.key: float(e.ast) for e in equations if e.kind == "control"}  # type: ignore
    if set(CONTROL_KEYS) - set(control):
        raise NotImplementedError("the model lacks control variables")
    for eq in eqs.values():
        if eq.kind == "other" or (eq.kind == "smooth" and eq.ast.order != 1):  # type: ignore
            raise _unsupported(eq.name, f"the construct {type(eq.ast).__name__}")
    local = {k: "v_" + re.sub(r"\W+", "_", k).strip("_") + f"_{i}" for i, k in enumerate(eqs)}
    local.update({k: k for k in CONTROL_KEYS})
    states = [k for k, e in eqs.items() if e.kind in ("stock", "smooth")]
    dyn: dict[str, set[str]] = {}
    init: dict[str, set[str]] = {}
    for key, eq in eqs.items():
        ast = eq.ast
        if eq.kind == "stock":
            dyn[key], init[key] = set(references(ast.flow)), set(references(ast.initial))
        elif eq.kind == "smooth":
            dyn[key] = set(references(ast.input)) | set(references(ast.smooth_time))
            init[key] = set(references(ast.initial))
        else:
            dyn[key] = init[key] = set(references(ast))
    constant = {k for k, e in eqs.items() if e.kind == "constant"}
    auxiliaries = {k for k, e in eqs.items() if e.kind == "auxiliary"}
    changed = True
    while changed:  # auxiliaries computed from constants only are constants
        fixed = {k for k in auxiliaries - constant if dyn[k] <= constant | set(CONTROL_KEYS)}
        constant |= fixed
        changed = bool(fixed)
    writer = _Writer(local)
    dynamic = auxiliaries - constant
    lines = [
        "def make(P, time_step, final_time):",
        f"    initial_time = {control['initial_time']!r}",
        f"    saveper = {control['saveper']!r}",
    ]
    for key in _ordered(constant, dyn):
        eq = eqs[key]
        value = (f"float(P.get({eq.name!r}, {float(eq.ast)!r}))" if eq.kind == "constant"  # type: ignore
                 else writer.expr(eq.ast, eq.name))  # fmt: skip
        lines.append(f"    {local[key]} = {value}")
    unpack = f"        ({', '.join(local[k] for k in states)},) = _x"

    lines.append("    def initial(_t):")
    init_nodes = set(states) | _closure(states, init, dynamic | set(states))
    for key in _ordered(init_nodes, {k: init[k] for k in init_nodes}):
        eq = eqs[key]
        node = eq.ast.initial if key in states else eq.ast  # type: ignore[attr-defined]
        lines.append(f"        {local[key]} = {writer.expr(node, eq.name)}")
    lines.append(f"        return [{', '.join(local[k] for k in states)}]")

    lines += ["    def rates(_x, _t):", unpack]
    for key in _ordered(_closure(states, dyn, dynamic), dyn):
        lines.append(f"        {local[key]} = {writer.expr(eqs[key].ast, eqs[key].name)}")
    derivatives = []
    for key in states:
        eq = eqs[key]
        if eq.kind == "stock":
            derivatives.append(writer.expr(eq.ast.flow, eq.name))  # type: ignore[attr-defined]
        else:  # PySD's Smooth.ddt, order 1: (input - state) / smooth time
            inp = writer.expr(eq.ast.input, eq.name)  # type: ignore[attr-defined]
            tau = writer.expr(eq.ast.smooth_time, eq.name)  # type: ignore[attr-defined]
            derivatives.append(f"(({inp} - {local[key]}) / {tau})")
    lines.append(f"        return [{', '.join(derivatives)}]")

    lines += ["    def values(_x, _t):", unpack]
    for key in _ordered(dynamic, dyn):
        lines.append(f"        {local[key]} = {writer.expr(eqs[key].ast, eqs[key].name)}")
    pairs = ", ".join(f"{eqs[k].name!r}: {local[k]}" for k in eqs)
    lines += [f"        return {{{pairs}}}", "    return initial, rates, values", ""]
    return "\n".join(lines), tuple(eqs[k].name for k in states), writer.tables


@dataclass(frozen=True, eq=False)
class Stepper:
    """The model compiled for :func:`compile_stepper`: runs with Euler or RK4.

    Attributes
    ----------
    states : tuple of str
        Names of the stocks and SMOOTH states, in the order of the state vector.
    """

    states: tuple[str, ...]
    _make: Callable = field(repr=False)
    initial_time: float = 0.0

    def run(self, params: Mapping[str, float] | None = None, until: int = 2003,
            dt: float = 1 / 128, method: str = "euler",
            variables: Iterable[str] = ()) -> pd.DataFrame:
        """Simulate and return yearly values.

        Parameters
        ----------
        params : mapping, optional
            Constant values by Vensim name (not checked here: validate them with
            :meth:`clusterdyn.sdmodels.Model.validate_params` first).
        until : int
            Last year.
        dt : float
            Time step, 1/n of a year.
        method : {"euler", "rk4"}
            Euler (PySD's method) or the classical fourth-order Runge-Kutta.
        variables : iterable of str
            Variables to return.

        Raises
        ------
        SimulationError
            If a value becomes non-finite (or a division by zero occurs).
        """
        if method not in METHODS:
            raise ValueError(f"method {method!r}: expected one of {METHODS}")
        per_year = round(1 / dt)
        if not math.isclose(per_year * dt, 1.0, rel_tol=1e-12):
            raise ValueError(f"dt = {dt!r}: expected 1/n of a year")
        names = list(variables)
        steps = round((until - self.initial_time) * per_year)
        initial, rates, values = self._make(dict(params or {}), dt, float(until))
        rows = []
        t0, half = self.initial_time, dt / 2
        try:
            x = initial(t0)
            for i in range(steps + 1):
                t = t0 + i * dt
                if i % per_year == 0:
                    everything = values(x, t)
                    rows.append([everything[n] for n in names])
                if i == steps:
                    break
                k1 = rates(x, t)
                if method == "euler":
                    x = [a + d * dt for a, d in zip(x, k1, strict=True)]
                    continue
                k2 = rates([a + d * half for a, d in zip(x, k1, strict=True)], t + half)
                k3 = rates([a + d * half for a, d in zip(x, k2, strict=True)], t + half)
                k4 = rates([a + d * dt for a, d in zip(x, k3, strict=True)], t + dt)
                x = [a + dt / 6 * (p + 2 * q + 2 * r + s)
                     for a, p, q, r, s in zip(x, k1, k2, k3, k4, strict=True)]  # fmt: skip
        except (ZeroDivisionError, OverflowError, ValueError) as exc:
            raise SimulationError(f"{method} run failed at t = {t:g}: {exc}") from None
        frame = pd.DataFrame(rows, columns=names, dtype=float,
                             index=pd.Index(range(int(t0), until + 1), name="year"))  # fmt: skip
        if not np.isfinite(frame.to_numpy()).all():
            raise SimulationError(f"{method} run produced non-finite values")
        return frame


def compile_stepper(mdl_path: str | Path) -> Stepper:
    """Compile the ``.mdl`` into a :class:`Stepper`.

    Raises
    ------
    NotImplementedError
        For a construct the stepper does not support (the message names the element).
    """
    equations = parse_equations(mdl_path)
    source, states, tables = generate(equations)
    namespace: dict[str, object] = {"_exp": math.exp, "_log": math.log}
    for i, (xs, ys) in enumerate(tables):
        namespace[f"_f{i}"] = _interpolator(xs, ys)
    exec(compile(source, f"<stepper {Path(mdl_path).name}>", "exec"), namespace)  # noqa: S102
    start = next(float(e.ast) for e in equations if e.key == "initial_time")  # type: ignore
    return Stepper(states, namespace["make"], start)  # type: ignore[arg-type]
