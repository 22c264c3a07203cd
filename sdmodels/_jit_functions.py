"""Scalar numba twins of the helpers in :mod:`clusterdyn.sdmodels._functions`.

Each takes and returns one value of one parameter set and computes what the numpy helper
computes for it (and so what PySD computes): the same operations in the same order, IEEE
division (``error_model="numpy"``) and numpy's ufuncs for the elementary functions, whose
results on scalars are those of the array loops.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"nogil": True, "error_model": "numpy", "cache": True}
_INLINE = {"inline": "always", **_JIT}
SMALL_VENSIM = 1e-6


@numba.njit(**_INLINE)
def _abs(x: float) -> float:
    return np.abs(x)


@numba.njit(**_INLINE)
def _sqrt(x: float) -> float:
    return np.sqrt(x)


@numba.njit(**_INLINE)
def _power(x: float, y: float) -> float:
    return np.power(x, y)


@numba.njit(**_INLINE)
def _sin(x: float) -> float:
    return np.sin(x)


@numba.njit(**_INLINE)
def _cos(x: float) -> float:
    return np.cos(x)


@numba.njit(**_INLINE)
def _tan(x: float) -> float:
    return np.tan(x)


@numba.njit(**_INLINE)
def _arcsin(x: float) -> float:
    return np.arcsin(x)


@numba.njit(**_INLINE)
def _arccos(x: float) -> float:
    return np.arccos(x)


@numba.njit(**_INLINE)
def _arctan(x: float) -> float:
    return np.arctan(x)


@numba.njit(**_INLINE)
def _sinh(x: float) -> float:
    return np.sinh(x)


@numba.njit(**_INLINE)
def _cosh(x: float) -> float:
    return np.cosh(x)


@numba.njit(**_INLINE)
def _tanh(x: float) -> float:
    return np.tanh(x)


@numba.njit(**_INLINE)
def _logb(x: float, base: float) -> float:
    return np.log(x) / np.log(base)


@numba.njit(**_INLINE)
def _integer(x: float) -> float:
    return np.trunc(x)


@numba.njit(**_INLINE)
def _quantum(a: float, b: float) -> float:
    return a if b < SMALL_VENSIM else b * np.trunc(a / b)


@numba.njit(**_INLINE)
def _modulo(x: float, m: float) -> float:
    return x - _quantum(x, m)


@numba.njit(**_INLINE)
def _xidz(numerator: float, denominator: float, x: float) -> float:
    return x if abs(denominator) < SMALL_VENSIM else numerator / denominator


@numba.njit(**_INLINE)
def _zidz(numerator: float, denominator: float) -> float:
    return 0.0 if abs(denominator) < SMALL_VENSIM else numerator / denominator


@numba.njit(**_INLINE)
def _step(t: float, dt: float, value: float, start: float) -> float:
    return value * (t + dt / 2 > start)


@numba.njit(**_INLINE)
def _ramp(t: float, dt: float, slope: float, start: float, finish: float) -> float:
    final = finish if finish <= t or finish != finish else t  # np.minimum(finish, t)
    return (t + SMALL_VENSIM > start) * slope * (final - start)


@numba.njit(**_INLINE)
def _pulse(t: float, dt: float, start: float, width: float) -> float:
    return 1.0 if start - SMALL_VENSIM <= t < start + width else 0.0


@numba.njit(**_INLINE)
def _pulse_train(t: float, dt: float, start: float, repeat: float, width: float,
                 end: float) -> float:
    if repeat == 0:
        return 1.0 if start - SMALL_VENSIM <= t < start + width else 0.0
    if start <= t < end:
        return 1.0 if (t - start + SMALL_VENSIM) % repeat < width else 0.0
    return 0.0


@numba.njit(**_INLINE)
def _and(a: float, b: float) -> bool:
    return bool(a) and bool(b)


@numba.njit(**_INLINE)
def _or(a: float, b: float) -> bool:
    return bool(a) or bool(b)


@numba.njit(**_INLINE)
def _not(a: float) -> bool:
    return not a


@numba.njit(**_JIT)
def _delay_init(value: float, delay: float, order: float, dt: float) -> float:
    if order * dt > delay:
        raise ValueError("delay time shorter than order x TIME STEP: PySD would lower the "
                         "order; the compiled engine does not")
    return value * delay


@numba.njit(**_JIT)
def _fixed_new(value: float, delay: float, dt: float) -> np.ndarray:
    """A DELAY FIXED pipeline: ``[pointer, length, values...]`` (see ``_functions._Pipe``)."""
    order = np.round(max(delay / dt, 1.0) + SMALL_VENSIM)
    pipe = np.empty(int(order) + 2)
    pipe[0] = 0.0
    pipe[1] = order
    pipe[2:] = value
    return pipe


@numba.njit(**_JIT)
def _fixed_push(pipe: np.ndarray, value: float) -> float:
    pointer = int(pipe[0])
    pipe[2 + pointer] = value
    pointer = (pointer + 1) % int(pipe[1])
    pipe[0] = pointer
    return pipe[2 + pointer]


#: Every helper, for the generated module's import line.
HELPERS = (
    "_abs", "_and", "_arccos", "_arcsin", "_arctan", "_cos", "_cosh", "_delay_init",
    "_fixed_new", "_fixed_push", "_integer", "_logb", "_modulo", "_not", "_or", "_power",
    "_pulse", "_pulse_train", "_quantum", "_ramp", "_sin", "_sinh", "_sqrt", "_step", "_tan",
    "_tanh", "_xidz", "_zidz",
)
