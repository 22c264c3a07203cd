"""The model as nodes for the code generator: auxiliaries, states and their updates.

PySD keeps a stateful object (``pysd.py_backend.statefuls``) for every INTEG, SMOOTH, DELAY,
TREND, FORECAST and INITIAL, wherever it appears in an equation. :func:`build` gives each one
scalar states (one local per stage of a delay or smooth), the expressions that initialise
them, the derivatives evaluated after the auxiliaries of a step (PySD's ``ddt``) and the
statements that update them after the outputs are recorded (PySD's Euler step
``state + ddt * dt``, or a pipeline shift); a stateful nested in an expression becomes a
reference to a synthetic node. Expressions are PySD's own abstract syntax, so the code
generator writes them with PySD's operation order; stage arithmetic that PySD does on numpy
arrays is written element by element (``(inflow - outflow) * order``), which is the same
floating-point computation.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pysd.translators.structures import abstract_expressions as ae

from clusterdyn.sdmodels._functions import FUNCTIONS, NUMPY_HELPERS, _where
from clusterdyn.sdmodels.compiled import UnsupportedConstruct

_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_HELPERS = {**NUMPY_HELPERS, "_minimum": np.minimum, "_maximum": np.maximum, "_exp": np.exp,
            "_log": np.log, "_if_then_else": _where}

#: Constructs PySD parses but the engine does not support, by their Vensim names.
UNSUPPORTED = {
    ae.GetDataStructure: "GET XLS/DIRECT DATA",
    ae.GetLookupsStructure: "GET XLS/DIRECT LOOKUPS",
    ae.GetConstantsStructure: "GET XLS/DIRECT CONSTANTS",
    ae.DataStructure: "a data variable",
    ae.GameStructure: "GAME",
    ae.AllocateAvailableStructure: "ALLOCATE AVAILABLE",
    ae.AllocateByPriorityStructure: "ALLOCATE BY PRIORITY",
    ae.SubscriptsReferenceStructure: "a subscript reference",
}
STATEFUL = (
    ae.IntegStructure, ae.SmoothStructure, ae.SmoothNStructure, ae.DelayStructure,
    ae.DelayNStructure, ae.DelayFixedStructure, ae.TrendStructure, ae.ForecastStructure,
    ae.InitialStructure, ae.SampleIfTrueStructure,
)


@dataclass
class Node:
    """A value of the generated code.

    ``init`` is the expression that gives it at initialisation, ``dyn`` the one evaluated at
    every step (the same object for an auxiliary, None for a state, which the updates set).
    """

    key: str
    name: str
    local: str
    init: object
    dyn: object
    kind: str  # "constant", "auxiliary" or "state"


@dataclass
class Stateful:
    """Derivatives (``(target local, AST or code)``) and update statements of a stateful."""

    name: str
    ddt: list[tuple[str, object]] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)


def _ref(key: str) -> ae.ReferenceStructure:
    return ae.ReferenceStructure(key)


def _arith(ops: list[str], *args: object) -> ae.ArithmeticStructure:
    return ae.ArithmeticStructure(ops, list(args))


def _call(name: str, *args: object) -> ae.CallStructure:
    return ae.CallStructure(ae.ReferenceStructure(name), tuple(args))


class Builder:
    """Collects the nodes and statefuls of a model's elements, in ``.mdl`` order.

    Parameters
    ----------
    asts : dict
        Reference name -> expression of every element (for values known before the run).
    control : dict
        Reference name -> value of the control variables.
    canonical : callable
        Maps a reference as written to the reference name of the element.
    """

    def __init__(self, asts: dict[str, object], control: dict[str, float],
                 canonical: Callable[[str], str]) -> None:
        self.asts, self.control = asts, control
        self.canonical = canonical
        self.nodes: dict[str, Node] = {}
        self.statefuls: list[Stateful] = []
        self.structural: set[str] = set()  # constants fixed at generation (delay orders)
        self._count = 0

    def element(self, key: str, name: str, local: str, ast: object) -> None:
        """Add element ``key`` (Vensim ``name``) computed by ``ast`` into ``local``."""
        if isinstance(ast, int | float) and not isinstance(ast, bool):
            self.nodes[key] = Node(key, name, local, ast, ast, "constant")
        elif isinstance(ast, STATEFUL):
            self._stateful(key, name, local, ast)
        elif _is_active_initial(ast):
            self._active_initial(key, name, local, ast)
        else:
            ast = self._extract(ast, name)
            self.nodes[key] = Node(key, name, local, ast, ast, "auxiliary")

    def _synthetic(self) -> tuple[str, str]:
        self._count += 1
        return f"#{self._count}", f"_w{self._count}"

    def _extract(self, node: object, name: str) -> object:
        """``node`` with every nested stateful replaced by a reference to its node."""
        if type(node) in UNSUPPORTED:
            raise UnsupportedConstruct(name, UNSUPPORTED[type(node)])
        if isinstance(node, STATEFUL) or _is_active_initial(node):
            key, local = self._synthetic()
            self.element(key, name, local, node)
            return _ref(key)
        if isinstance(node, ae.ReferenceStructure):
            if node.subscripts is not None:
                raise UnsupportedConstruct(name, "a subscripted reference")
            return ae.ReferenceStructure(self.canonical(node.reference))
        if isinstance(node, ae.ArithmeticStructure | ae.LogicStructure):
            args = [self._extract(a, name) for a in node.arguments]
            return type(node)(list(node.operators), args)
        if isinstance(node, ae.CallStructure):
            function = ae.ReferenceStructure(self.canonical(node.function.reference))
            return ae.CallStructure(function,
                                    tuple(self._extract(a, name) for a in node.arguments))
        if isinstance(node, ae.InlineLookupsStructure):
            return ae.InlineLookupsStructure(self._extract(node.argument, name), node.lookups)
        return node

    def _active_initial(self, key: str, name: str, local: str, ast: ae.CallStructure) -> None:
        # PySD: the initial value while initialising, the active one afterwards.
        active, initial = (self._extract(a, name) for a in ast.arguments)
        self.nodes[key] = Node(key, name, local, initial, active, "auxiliary")

    def _state(self, key: str, name: str, local: str, init: object) -> None:
        self.nodes[key] = Node(key, name, local, init, None, "state")

    def _order(self, ast: object, name: str, what: str) -> int:
        """A delay or smooth order, which fixes the number of states, as a whole number.

        PySD evaluates it once, at the initial time; so does the generator, from the ``.mdl``
        values, which makes the constants it uses fixed (not parameters).
        """
        used: set[str] = set()
        value = self.initial_value(ast, used)
        if value is None:
            raise UnsupportedConstruct(name, f"{what} whose order is not a constant")
        if value != int(value) or value < 1:
            raise UnsupportedConstruct(name, f"{what} of order {value!r}")
        self.structural |= used
        return int(value)

    def initial_value(self, ast: object, used: set[str], depth: int = 0) -> float | None:
        """Value of ``ast`` at the initial time from constants and auxiliaries only, or None.

        ``used`` receives the constants it depends on.
        """
        if isinstance(ast, bool) or depth > 50:
            return None
        if isinstance(ast, int | float):
            return float(ast)
        if isinstance(ast, ae.ReferenceStructure) and ast.subscripts is None:
            key = self.canonical(ast.reference)
            if key == "time":
                return float(self.control["initial_time"])
            if key in self.control:
                return float(self.control[key])
            if key not in self.asts:
                return None
            if isinstance(self.asts[key], int | float):
                used.add(key)
            return self.initial_value(self.asts[key], used, depth + 1)
        if isinstance(ast, ae.ArithmeticStructure):
            args = [self.initial_value(a, used, depth + 1) for a in ast.arguments]
            if any(a is None for a in args):
                return None
            if list(ast.operators) == ["negative"]:
                return -args[0]
            value = args[0]
            for op, arg in zip(ast.operators, args[1:], strict=True):
                if op not in _OPS:
                    return None
                value = _OPS[op](value, arg)
            return value
        if isinstance(ast, ae.CallStructure):
            function = FUNCTIONS.get(self.canonical(ast.function.reference))
            if function is None or function.helper not in _HELPERS:
                return None
            args = [self.initial_value(a, used, depth + 1) for a in ast.arguments]
            if any(a is None for a in args):
                return None
            if function.timed:
                args = [self.initial_value(ae.ReferenceStructure("time"), used),
                        float(self.control["time_step"]), *args]
            return float(_HELPERS[function.helper](*args))
        return None

    def _stateful(self, key: str, name: str, local: str, st: object) -> None:
        args = {k: self._extract(v, name) for k, v in vars(st).items()
                if k not in ("order", "non_negative")}
        ddt = Stateful(name)
        self.statefuls.append(ddt)
        if isinstance(st, ae.IntegStructure):
            self._state(key, name, local, args["initial"])
            ddt.ddt.append((f"d_{local}", args["flow"]))
            ddt.updates.append(
                f"{local} = _maximum({local} + d_{local} * time_step, 0.0)" if st.non_negative
                else euler_line(local))
        elif isinstance(st, ae.InitialStructure):
            self._state(key, name, local, args["initial"])
        elif isinstance(st, ae.SmoothStructure | ae.SmoothNStructure):
            self._smooth(key, name, local, args, self._order(st.order, name, "a SMOOTH"), ddt)
        elif isinstance(st, ae.DelayStructure | ae.DelayNStructure):
            order = self._order(st.order, name, "a DELAY")
            self._delay(key, name, local, args, order, isinstance(st, ae.DelayNStructure), ddt)
        elif isinstance(st, ae.SampleIfTrueStructure):
            # PySD's SampleIfTrue: the input while the condition holds, else the last sample;
            # its update is state * 0 + (input if condition else state), at the step's time.
            self._state(f"{key}#s", name, f"_s{local}", args["initial"])
            state = _ref(f"{key}#s")
            output = _call("if_then_else", args["condition"], args["input"], state)
            self.nodes[key] = Node(key, name, local, output, output, "auxiliary")
            ddt.ddt += [(f"_c_{local}", args["condition"]), (f"_in_{local}", args["input"])]
            ddt.updates.append(
                f"_s{local} = _s{local} * 0.0 + _if_then_else(_c_{local}, _in_{local}, _s{local})")
        elif isinstance(st, ae.DelayFixedStructure):
            # A pipeline, not an integral: PySD's DelayFixed.update shifts it.
            self._state(f"{key}#pipe", name, f"_p{local}",
                        _call("#fixed_new", args["initial"], args["delay_time"],
                              _ref("time_step")))
            self._state(key, name, local, args["initial"])
            ddt.ddt.append((f"_in_{local}", args["input"]))
            ddt.updates.append(f"{local} = _fixed_push(_p{local}, _in_{local})")
        else:  # TREND, FORECAST: one state, the average AV of the Vensim help
            self._trend(key, name, local, args, isinstance(st, ae.ForecastStructure), ddt)

    def _smooth(self, key: str, name: str, local: str, args: dict, order: int,
                ddt: Stateful) -> None:
        # PySD's Smooth: every stage starts at the initial value; ddt is
        # (targets - state) * order / smooth time, the targets being the input and the stages.
        states = [f"_s{i}{local}" for i in range(order - 1)] + [local]
        keys = [f"{key}#s{i}" for i in range(order - 1)] + [key]
        for i, (k, s) in enumerate(zip(keys, states, strict=True)):
            self._state(k, name, s, args["initial"] if i == 0 else _ref(keys[0]))
        ddt.ddt += [(f"_in_{local}", args["input"]), (f"_st_{local}", args["smooth_time"])]
        if order == 1:
            ddt.ddt.append((f"d_{local}", f"(_in_{local} - {local}) / _st_{local}"))
        else:
            targets = [f"_in_{local}", *states[:-1]]
            ddt.ddt += [(f"d_{s}", f"({t} - {s}) * {order} / _st_{local}")
                        for t, s in zip(targets, states, strict=True)]
        ddt.updates += [euler_line(s) for s in states]

    def _delay(self, key: str, name: str, local: str, args: dict, order: int, varying: bool,
               ddt: Stateful) -> None:
        # PySD's Delay / DelayN: stages hold outflow * delay time, all starting at
        # initial * delay time; ddt is (inflows - outflows) * order with outflows
        # stage / delay time (DelayN: the delay time each stage entered with).
        used: set[str] = set()
        delay = self.initial_value(args["delay_time"], used)
        if delay is not None and order * self.control["time_step"] > delay:
            # PySD lowers the order until order * TIME STEP <= delay time (with a warning);
            # so does the generator when the delay time is known before the run.
            while order > 0 and order * self.control["time_step"] > delay:
                order -= 1
            if order == 0:
                raise UnsupportedConstruct(name, "a DELAY shorter than TIME STEP")
            self.structural |= used
        states = [f"_s{i}{local}" for i in range(order)]
        keys = [f"{key}#s{i}" for i in range(order)]
        first = _call("#delay_init", args["initial"], args["delay_time"], float(order),
                      _ref("time_step"))
        for i, (k, s) in enumerate(zip(keys, states, strict=True)):
            self._state(k, name, s, first if i == 0 else _ref(keys[0]))
        ddt.ddt += [(f"_in_{local}", args["input"]), (f"_dt_{local}", args["delay_time"])]
        if varying:
            taus = [f"_tau{i}{local}" for i in range(order)]
            for i, tau in enumerate(taus):
                self._state(f"{key}#t{i}", name, tau,
                            args["delay_time"] if i == 0 else _ref(f"{key}#t0"))
            times = [f"_dt_{local}", *taus[:-1]]  # the times after PySD's roll
            output = _arith(["/"], _ref(keys[-1]), _ref(f"{key}#t0"))
        else:
            times = [f"_dt_{local}"] * order
            output = _arith(["/"], _ref(keys[-1]), args["delay_time"])
        outs = [f"_o{i}{local}" for i in range(order)]
        ddt.ddt += [(o, f"{s} / {t}") for o, s, t in zip(outs, states, times, strict=True)]
        inflows = [f"_in_{local}", *outs[:-1]]
        ddt.ddt += [(f"d_{s}", f"({i} - {o}) * {order}")
                    for s, i, o in zip(states, inflows, outs, strict=True)]
        ddt.updates += [euler_line(s) for s in states]
        if varying:
            ddt.updates += [f"{taus[i]} = {taus[i - 1]}" for i in range(order - 1, 0, -1)]
            ddt.updates.append(f"{taus[0]} = _dt_{local}")
        self.nodes[key] = Node(key, name, local, output, output, "auxiliary")

    def _trend(self, key: str, name: str, local: str, args: dict, forecast: bool,
               ddt: Stateful) -> None:
        state, value, avg = _ref(f"{key}#s"), args["input"], args["average_time"]
        if forecast:
            # PySD's Forecast: AV = input / (1 + initial trend); value
            # input * (1 + zidz(input - AV, average time * AV) * horizon).
            init = _arith(["/"], value, _arith(["+"], 1.0, args["initial_trend"]))
            ratio = _call("zidz", _arith(["-"], value, state), _arith(["*"], avg, state))
            output = _arith(["*"], value, _arith(["+"], 1.0, _arith(
                ["*"], ratio, args["horizon"])))
        else:
            # PySD's Trend: AV = input / (1 + initial trend * average time); value
            # zidz(input - AV, average time * |AV|).
            init = _arith(["/"], value, _arith(
                ["+"], 1.0, _arith(["*"], args["initial_trend"], avg)))
            output = _call("zidz", _arith(["-"], value, state),
                           _arith(["*"], avg, _call("abs", state)))
        self._state(f"{key}#s", name, f"_s{local}", init)
        ddt.ddt.append((f"d__s{local}", _arith(["/"], _arith(["-"], value, state), avg)))
        ddt.updates.append(euler_line(f"_s{local}"))
        self.nodes[key] = Node(key, name, local, output, output, "auxiliary")


def euler_line(state: str) -> str:
    """PySD's Euler update of one state."""
    return f"{state} = {state} + d_{state} * time_step"


def _is_active_initial(node: object) -> bool:
    return (isinstance(node, ae.CallStructure)
            and getattr(node.function, "reference", None) == "active_initial")
