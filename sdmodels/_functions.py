"""Vensim functions of the compiled engine: which helper each becomes, and the numpy helpers.

:data:`FUNCTIONS` maps PySD's reference name of a Vensim function to the helper the generated
code calls. The numpy helpers below accept floats or arrays of one value per parameter set and
reproduce ``pysd.py_backend.functions`` (PySD 3.14) operation by operation, so that results
agree to rounding; the numba backend has scalar twins in
:mod:`clusterdyn.sdmodels._jit_functions` with the same names and arguments.

Functions of time (STEP, RAMP, PULSE, PULSE TRAIN) take the time and the time step first,
as PySD's do (``__data['time']``), so they are never hoisted out of the time loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clusterdyn.sdmodels.errors import ModelInputError

#: What Vensim considers zero (PySD's ``SMALL_VENSIM``, from the Vensim help).
SMALL_VENSIM = 1e-6


@dataclass(frozen=True)
class Function:
    """How a Vensim function is generated.

    Attributes
    ----------
    helper : str
        Name of the helper the generated code calls.
    arity : int
        Number of arguments in the ``.mdl``.
    timed : bool
        The helper takes ``(time, time step)`` before the arguments.
    """

    helper: str
    arity: int
    timed: bool = False


#: PySD reference name -> generated helper. PySD's Vensim parser gives PULSE TRAIN's
#: arguments in the order (start, repeat time, width, end).
FUNCTIONS: dict[str, Function] = {
    "min": Function("_minimum", 2),
    "max": Function("_maximum", 2),
    "exp": Function("_exp", 1),
    "ln": Function("_log", 1),
    "log": Function("_logb", 2),
    "if_then_else": Function("_if_then_else", 3),
    "abs": Function("_abs", 1),
    "sqrt": Function("_sqrt", 1),
    "power": Function("_power", 2),
    "sin": Function("_sin", 1),
    "cos": Function("_cos", 1),
    "tan": Function("_tan", 1),
    "arcsin": Function("_arcsin", 1),
    "arccos": Function("_arccos", 1),
    "arctan": Function("_arctan", 1),
    "sinh": Function("_sinh", 1),
    "cosh": Function("_cosh", 1),
    "tanh": Function("_tanh", 1),
    "integer": Function("_integer", 1),
    "quantum": Function("_quantum", 2),
    "modulo": Function("_modulo", 2),
    "xidz": Function("_xidz", 3),
    "zidz": Function("_zidz", 2),
    "step": Function("_step", 2, timed=True),
    "ramp": Function("_ramp", 3, timed=True),
    "pulse": Function("_pulse", 2, timed=True),
    "pulse_train": Function("_pulse_train", 4, timed=True),
}

#: Helpers used only by the statefuls' code (delays), not Vensim functions.
INTERNAL: dict[str, Function] = {
    "#delay_init": Function("_delay_init", 4),
    "#fixed_new": Function("_fixed_new", 3),
}

#: Logical operators (PySD writes ``np.logical_and`` etc.) -> helper.
LOGICAL = {":AND:": "_and", ":OR:": "_or", ":NOT:": "_not"}


def _array(value: object) -> bool:
    return isinstance(value, np.ndarray) and value.ndim > 0


def _where(condition: object, if_true: object, if_false: object) -> object:
    # PySD's if_then_else for one value; np.where for one value per parameter set.
    if _array(condition):
        return np.where(condition, if_true, if_false)
    return if_true if condition else if_false


def _logb(x: object, base: object) -> object:
    """LOG(x, base): PySD's ``np.log(x) / np.log(base)``."""
    return np.log(x) / np.log(base)


def _integer(x: object) -> object:
    """INTEGER: PySD's ``int(x)``, truncation towards zero (as a float)."""
    return np.trunc(x)


def _quantum(a: object, b: object) -> object:
    """QUANTUM: ``a`` if ``b < SMALL_VENSIM``, else ``b * INTEGER(a / b)``."""
    if _array(b):
        return np.where(b < SMALL_VENSIM, a, b * np.trunc(a / b))
    return a if b < SMALL_VENSIM else b * np.trunc(a / b)


def _modulo(x: object, m: object) -> object:
    """MODULO: PySD's ``x - quantum(x, m)`` (the sign of ``x``, as Vensim)."""
    return x - _quantum(x, m)


def _xidz(numerator: object, denominator: object, x: object) -> object:
    """XIDZ: ``x`` where ``|denominator| < SMALL_VENSIM``, else the quotient."""
    if _array(denominator):
        return np.where(np.abs(denominator) < SMALL_VENSIM, x, numerator / denominator)
    return x if abs(denominator) < SMALL_VENSIM else numerator / denominator


def _zidz(numerator: object, denominator: object) -> object:
    """ZIDZ: 0 where ``|denominator| < SMALL_VENSIM``, else the quotient."""
    return _xidz(numerator, denominator, 0.0)


def _step(t: float, dt: float, value: object, start: object) -> object:
    """STEP: PySD's ``value * (time + time_step / 2 > start)``."""
    return value * (t + dt / 2 > start)


def _ramp(t: float, dt: float, slope: object, start: object, finish: object) -> object:
    """RAMP: PySD's ``(time + SMALL_VENSIM > start) * slope * (min(finish, time) - start)``."""
    return (t + SMALL_VENSIM > start) * slope * (np.minimum(finish, t) - start)


def _pulse(t: float, dt: float, start: object, width: object) -> object:
    """PULSE: 1 while ``start - SMALL_VENSIM <= time < start + width``, else 0."""
    return _where((start - SMALL_VENSIM <= t) & (t < start + width), 1.0, 0.0)


def _pulse_train(t: float, dt: float, start: object, repeat: object, width: object,
                 end: object) -> object:
    """PULSE TRAIN, as PySD's ``pulse`` with a repeat time and an end."""
    if any(_array(v) for v in (start, repeat, width, end)):
        single = (start - SMALL_VENSIM <= t) & (t < start + width)
        safe = np.where(repeat == 0, 1.0, repeat)
        train = (start <= t) & (t < end) & ((t - start + SMALL_VENSIM) % safe < width)
        return np.where(np.where(repeat == 0, single, train), 1.0, 0.0)
    if repeat == 0:
        return 1.0 if start - SMALL_VENSIM <= t < start + width else 0.0
    if start <= t < end:
        return 1.0 if (t - start + SMALL_VENSIM) % repeat < width else 0.0
    return 0.0


def _delay_init(value: object, delay: object, order: float, dt: float) -> object:
    """First state of a DELAY1/DELAY3/DELAY N (``value * delay``), checking its order.

    PySD lowers the order of a delay whose time is shorter than ``order * TIME STEP`` (with a
    warning); the compiled engine fixes the order when it generates the code, so it refuses.
    """
    if order * dt > np.min(delay):
        raise ModelInputError(
            f"a delay of order {order:g} needs a delay time of at least {order:g} x TIME STEP "
            f"= {order * dt:g}, got {np.min(delay):g} (PySD would lower the order; the "
            "compiled engine does not)"
        )
    return value * delay


class _Pipe:
    """The pipeline of a DELAY FIXED, one column per parameter set (PySD's ``DelayFixed``).

    Its length is ``round(max(delay / TIME STEP, 1) + SMALL_VENSIM)``; each step writes the
    input at the pointer, moves the pointer and reads the output there.
    """

    def __init__(self, value: object, delay: object, dt: float) -> None:
        order = np.round(np.maximum(np.asarray(delay, dtype=float) / dt, 1.0) + SMALL_VENSIM)
        self.scalar = not (_array(value) or _array(order))
        self.order = np.atleast_1d(order).astype(np.intp)
        width = max(len(np.atleast_1d(value)), len(self.order))
        self.order = np.broadcast_to(self.order, (width,))
        self.pipe = np.empty((int(self.order.max()), width))
        self.pipe[:] = value
        self.pointer = np.zeros(width, dtype=np.intp)
        self.columns = np.arange(width)

    def push(self, value: object) -> object:
        self.pipe[self.pointer, self.columns] = value
        self.pointer = (self.pointer + 1) % self.order
        out = self.pipe[self.pointer, self.columns]
        return out[0] if self.scalar else out


def _fixed_new(value: object, delay: object, dt: float) -> _Pipe:
    return _Pipe(value, delay, dt)


def _fixed_push(pipe: _Pipe, value: object) -> object:
    return pipe.push(value)


#: The namespace of the generated numpy code (besides the tables and ``np``).
NUMPY_HELPERS: dict[str, object] = {
    "_abs": np.abs, "_sqrt": np.sqrt, "_power": np.power, "_sin": np.sin, "_cos": np.cos,
    "_tan": np.tan, "_arcsin": np.arcsin, "_arccos": np.arccos, "_arctan": np.arctan,
    "_sinh": np.sinh, "_cosh": np.cosh, "_tanh": np.tanh, "_logb": _logb,
    "_integer": _integer, "_quantum": _quantum, "_modulo": _modulo, "_xidz": _xidz,
    "_zidz": _zidz, "_step": _step, "_ramp": _ramp, "_pulse": _pulse,
    "_pulse_train": _pulse_train, "_and": np.logical_and, "_or": np.logical_or,
    "_not": np.logical_not, "_delay_init": _delay_init, "_fixed_new": _fixed_new,
    "_fixed_push": _fixed_push,
}
