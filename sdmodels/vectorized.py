"""Run many parameter sets of a model at once, with numpy arrays through every equation.

PySD runs one parameter set per call (and refuses array-valued constants), which makes
calibration, Monte Carlo and Sobol analysis slow. :func:`compile_model` turns the model's own
equations, as parsed by PySD's Vensim translator, into one numpy function (see
:mod:`sdmodels._codegen`) in which every variable holds one value per parameter set, and runs
it with PySD's semantics: Euler integration in PySD's update order, outputs at whole years.

>>> import numpy as np
>>> from sdmodels import load_model
>>> from sdmodels.vectorized import compile_model
>>> fast = compile_model(load_model())
>>> result = fast.run({"Normal investment fraction": np.linspace(0.1, 0.5, 1000)})
>>> result.get("Production").shape
(1000, 26)
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import pysd

from sdmodels import _codegen
from sdmodels.errors import ModelInputError, suggest
from sdmodels.model import Model, SimulationError
from sdmodels.translation import cache_root

#: Parameter sets per block: runs are simulated in blocks of at most this many rows, so that
#: the arrays of one step stay in the processor's cache (4096 was best of 1024-10000).
BLOCK_ROWS = 4096
#: Below this many rows a lookup calls ``np.interp`` (per-call overhead dominates).
SMALL_ROWS = 256


class _Grid:
    """Segment search for lookup tables whose points lie on a grid of spacing ``1/scale``.

    For ``scale`` a power of two and points ``0, ..., high``, ``clip(x, 0, high) * scale`` is
    exact and its integer part is the grid cell holding ``x``: an exact replacement of the
    bisection ``np.interp`` does for every element (which dominates a vectorised run). The
    cell is shared by every table on the same grid and argument. Scalars and small arrays pass
    through unchanged, to be evaluated by ``np.interp`` itself.
    """

    def __init__(self, scale: float, high: float) -> None:
        self.scale, self.high = scale, high

    def __call__(self, value: float | np.ndarray) -> float | np.ndarray | tuple:
        if not isinstance(value, np.ndarray) or value.size < SMALL_ROWS:
            return value
        clipped = np.minimum(np.maximum(value, 0.0), self.high)  # NaN stays NaN
        # NaN casts to an arbitrary cell; _Table takes with mode="clip", the result is NaN.
        return clipped, (clipped * self.scale).astype(np.intp)


class _Table:
    """A ``WITH LOOKUP`` table, evaluated exactly as PySD evaluates it.

    PySD translates ``WITH LOOKUP`` to ``np.interp(x, xs, ys)``: linear between points, flat
    (the first or last value) outside the table. Given a :class:`_Grid` position, the value is
    computed with ``np.interp``'s own formula, ``slope * (x - xs[j]) + ys[j]`` with ``slope =
    (ys[j+1] - ys[j]) / (xs[j+1] - xs[j])`` (``numpy/_core/src/multiarray/compiled_base.c``),
    so the results are identical; the cell of ``x == xs[-1]`` has slope 0 and gives
    ``ys[-1]``, as ``np.interp`` does. Anything else goes to ``np.interp``.
    """

    def __init__(self, x: Iterable[float], y: Iterable[float], grid: tuple | None) -> None:
        self.x = np.asarray(tuple(x), dtype=float)
        self.y = np.asarray(tuple(y), dtype=float)
        xs, ys = self.x, self.y
        slopes = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])
        # For scalars: np.interp's steps in Python, ~10 times faster than calling it.
        self._points = (xs.tolist(), [np.float64(v) for v in ys], slopes.tolist())
        if grid is not None:
            scale, high = grid
            j = np.searchsorted(xs, np.arange(round(high * scale)) / scale, side="right") - 1
            self.starts = np.append(xs[j], xs[-1])
            self.slopes = np.append(slopes[j], 0.0)
            self.heights = np.append(ys[j], ys[-1])

    def __call__(self, position: float | np.ndarray | tuple) -> float | np.ndarray:
        if type(position) is tuple:
            clipped, cell = position
            return self.slopes.take(cell, mode="clip") * (
                clipped - self.starts.take(cell, mode="clip")
            ) + self.heights.take(cell, mode="clip")
        if isinstance(position, np.ndarray) and position.ndim:
            return np.interp(position, self.x, self.y)
        xs, ys, slopes = self._points
        if position != position or len(xs) < 2:  # NaN, or a one-point table
            return np.interp(position, self.x, self.y)
        if position <= xs[0]:
            return ys[0]
        if position >= xs[-1]:
            return ys[-1]
        j = bisect.bisect_right(xs, position) - 1
        return ys[j] if xs[j] == position else slopes[j] * (position - xs[j]) + ys[j]


def _if_then_else(condition: object, if_true: object, if_false: object) -> object:
    """Vensim's IF THEN ELSE: PySD's choice for a scalar condition, ``np.where`` for arrays."""
    if isinstance(condition, np.ndarray) and condition.ndim:
        return np.where(condition, if_true, if_false)
    return if_true if condition else if_false


@dataclass(frozen=True, eq=False)
class EnsembleResult:
    """Yearly values of many runs.

    Attributes
    ----------
    years : numpy.ndarray
        The output years (int), e.g. 1978..2003.
    variables : tuple of str
        Variable names, in the order of the last axis of :attr:`values`.
    values : numpy.ndarray
        Read-only array of shape ``(n_runs, n_years, n_variables)``.
    """

    years: np.ndarray
    variables: tuple[str, ...]
    values: np.ndarray = field(repr=False)

    @property
    def n_runs(self) -> int:
        """Number of parameter sets."""
        return self.values.shape[0]

    def get(self, name: str) -> np.ndarray:
        """Values of one variable.

        Parameters
        ----------
        name : str
            A name in :attr:`variables`.

        Returns
        -------
        numpy.ndarray
            Read-only view of shape ``(n_runs, n_years)``.
        """
        if name not in self.variables:
            raise ModelInputError(
                f"variable {name!r} is not in this result." + suggest(name, self.variables)
            )
        return self.values[:, :, self.variables.index(name)]

    def to_frame(self, run: int) -> pd.DataFrame:
        """One run as a DataFrame shaped like the result of :meth:`sdmodels.Model.run`.

        Parameters
        ----------
        run : int
            Row of the parameter set (negative counts from the end).

        Returns
        -------
        pandas.DataFrame
            One row per year (index ``year``), one column per variable.
        """
        if not -self.n_runs <= run < self.n_runs:
            raise IndexError(f"run {run} out of range for {self.n_runs} runs")
        return pd.DataFrame(
            np.array(self.values[run]),
            index=pd.Index(self.years, name="year"),
            columns=list(self.variables),
        )


@functools.lru_cache(maxsize=8)
def _generated(mdl_path: Path, sha256: str) -> tuple[Callable[..., None], tuple[str, ...]]:
    """Compile the generated simulator, from the cache folder when it holds it."""
    digest = hashlib.sha256(Path(_codegen.__file__).read_bytes()).hexdigest()[:12]
    key = f"{mdl_path.stem}-{sha256[:16]}-pysd{pysd.__version__}-codegen{digest}"
    path = cache_root() / "vectorized" / f"{key}.py"
    if path.is_file():
        source = path.read_text(encoding="utf-8")
    else:
        source = _codegen.generate(mdl_path).source
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key}-", suffix=".py")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(source)
        os.replace(tmp, path)  # atomic: a concurrent reader sees no file or the whole file
    namespace: dict[str, object] = {
        "np": np,
        "_table": _Table,
        "_grid": _Grid,
        "_if_then_else": _if_then_else,
    }
    exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["simulate"], namespace["VARIABLES"]  # type: ignore[return-value]


@functools.lru_cache(maxsize=32)
def _schedule(start: float, until: float, step: float) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Times of the Euler steps and the steps at whole years, exactly as PySD computes them.

    PySD adds the time step to the time (``t + dt``, accumulating rounding), integrates while
    ``t + dt * 1e-5 < final time`` and saves at a return time when ``np.isclose(t, year,
    rtol=dt * 1e-5)`` (``pysd.py_backend.components.Time``).
    """
    rprec = 1e-5
    times, t = [start], start
    while t + step * rprec < until:
        t = t + step
        times.append(t)
    years = range(int(start), int(until) + 1)
    steps: list[int] = []
    for i, t in enumerate(times):
        if len(steps) < len(years) and abs(t - years[len(steps)]) <= 1e-8 + step * rprec * t:
            steps.append(i)
    if len(steps) < len(years):
        raise ModelInputError(f"dt = {step!r} does not reach the year {years[len(steps)]}")
    return tuple(np.float64(t) for t in times), tuple(steps)


@dataclass(frozen=True, eq=False)
class VectorizedModel:
    """A model compiled to numpy: runs many parameter sets per call.

    Create one with :func:`compile_model`. Runs follow :meth:`sdmodels.Model.run`: same
    parameters, time settings, variable names and output layout, and values equal to PySD's
    to rounding (tested to 1e-9 relative).

    Attributes
    ----------
    model : Model
        The model it was compiled from.
    variables : tuple of str
        Every variable the simulator can record.
    """

    model: Model
    variables: tuple[str, ...] = field(repr=False)
    _simulate: Callable[..., None] = field(repr=False)
    _index: Mapping[str, int] = field(repr=False)

    def validate_params(
        self, params: Mapping[str, object] | pd.DataFrame | None
    ) -> tuple[dict[str, float | np.ndarray], int]:
        """Check parameter names and values; return them and the number of runs.

        Values are numbers (the same for every run) or 1-D arrays of one value per run, all of
        the same length. A DataFrame gives one run per row, one parameter per column.

        Raises
        ------
        ModelInputError
            For an unknown or structural name (with the nearest valid names), a value that is
            not a number, not finite or outside the declared range (naming the parameter, the
            value and its row), or arrays of different lengths.
        """
        if params is None:
            return {}, 1
        if isinstance(params, pd.DataFrame):
            rows: int | None = len(params)
            items = [(key, params[key].to_numpy()) for key in params.columns]
        else:
            rows, items = None, list(params.items())
        checked: dict[str, float | np.ndarray] = {}
        for key, value in items:
            if key not in self.model.parameters:
                self.model.validate_params({key: 0.0})  # raises the model's own message
            parameter = self.model.parameters[key]
            if np.ndim(value) == 0:
                checked[key] = parameter.validate(value.item() if hasattr(value, "item") else value)
                continue
            array = np.asarray(value)
            if array.dtype.kind not in "iuf":
                if array.dtype.kind == "b":
                    raise ModelInputError(f"parameter {key!r}: expected numbers, got booleans")
                try:
                    array = array.astype(float)
                except (TypeError, ValueError):
                    raise ModelInputError(
                        f"parameter {key!r}: expected numbers, got {array.dtype} values"
                    ) from None
            array = np.array(array, dtype=float)  # a copy: the caller's array is not held
            if array.ndim != 1 or len(array) == 0:
                raise ModelInputError(
                    f"parameter {key!r}: expected a number or a 1-D array of one value per run, "
                    f"got shape {array.shape}"
                )
            if rows is not None and len(array) != rows:
                raise ModelInputError(
                    f"parameter {key!r}: {len(array)} values, but other parameters have {rows}"
                )
            rows = len(array)
            bad = ~np.isfinite(array)
            if bad.any():
                row = int(np.argmax(bad))
                raise ModelInputError(
                    f"parameter {key!r}: expected a finite number, got {float(array[row])!r} "
                    f"(row {row})"
                )
            bad = (array < parameter.lower) | (array > parameter.upper)
            if bad.any():
                row = int(np.argmax(bad))
                raise ModelInputError(
                    f"parameter {key!r} = {array[row]:g} (row {row}) is outside its declared "
                    f"range [{parameter.lower:g}, {parameter.upper:g}] {parameter.units}"
                )
            checked[key] = array
        if rows == 0:
            raise ModelInputError("no parameter sets: the DataFrame has no rows")
        return checked, rows or 1

    def run(
        self,
        params: Mapping[str, object] | pd.DataFrame | None = None,
        until: int | None = None,
        dt: float | None = None,
        variables: str | Iterable[str] | None = None,
        *,
        check_finite: bool = True,
        workers: int = 1,
    ) -> EnsembleResult:
        """Simulate every parameter set and return their yearly values.

        Parameters
        ----------
        params : mapping or DataFrame, optional
            Parameter values by Vensim name: a number (every run) or an array of shape
            ``(N,)``; or a DataFrame with one row per run. Others keep their defaults.
        until, dt, variables
            As in :meth:`sdmodels.Model.run`.
        check_finite : bool
            Raise :class:`SimulationError` if a run produced NaN or infinite values (default).
            With False they are returned as they are.
        workers : int
            Threads sharing the runs (default 1). numpy releases the interpreter lock inside
            its loops, so 2 can help on an idle multi-core machine; on a busy one the threads
            compete for the lock and are slower. Results do not depend on it.

        Returns
        -------
        EnsembleResult
        """
        if not isinstance(workers, int) or workers < 1:
            raise ModelInputError(f"workers = {workers!r}: expected a positive integer")
        checked, n = self.validate_params(params)
        if n == 1:
            # One run: numpy scalars are much faster than arrays of one element (and, unlike
            # Python floats, divide by zero as arrays do).
            checked = {k: np.float64(np.reshape(v, -1)[0]) for k, v in checked.items()}
        names = self.model._check_variables(variables)
        until_year, step = self.model._check_time(until, dt)
        for name in names:
            if name not in self._index:
                raise ModelInputError(f"variable {name!r} cannot be recorded by this runner")
        times, out_steps = _schedule(self.model.initial_time, float(until_year), step)
        years = np.arange(int(self.model.initial_time), until_year + 1)
        sel = [self._index[name] for name in names]
        buf = np.empty((len(years), len(names), n))
        threads = min(workers, n)
        # Equal blocks of at most BLOCK_ROWS rows, the same number for every thread.
        count = threads * math.ceil(n / (threads * BLOCK_ROWS))
        edges = [n * i // count for i in range(count + 1)]
        blocks = [(lo, hi) for lo, hi in zip(edges, edges[1:], strict=False) if hi > lo]

        def work(worker: int) -> None:
            with np.errstate(all="ignore"):  # errors show as non-finite values, checked below
                for lo, hi in blocks[worker::threads]:
                    part = {k: v[lo:hi] if np.ndim(v) else v for k, v in checked.items()}
                    self._simulate(
                        part, times, float(until_year), step, out_steps, buf[:, :, lo:hi], sel
                    )

        if threads == 1:
            work(0)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(work, range(threads)))
        values = buf.transpose(2, 0, 1)
        values.flags.writeable = years.flags.writeable = False
        if check_finite:
            _check_finite(self.model.name, values, years, names)
        return EnsembleResult(years, tuple(names), values)


def _check_finite(model: str, values: np.ndarray, years: np.ndarray, names: list[str]) -> None:
    finite = np.isfinite(values)
    if finite.all():
        return
    runs, steps, columns = np.nonzero(~finite)
    shown = ", ".join(str(r) for r in np.unique(runs)[:10])
    raise SimulationError(
        f"model {model!r} produced non-finite values in {len(np.unique(runs))} run(s) (rows "
        f"{shown}{', ...' if len(np.unique(runs)) > 10 else ''}) from {years[steps.min()]} in "
        + ", ".join(sorted({names[c] for c in columns}))
    )


def compile_model(model: Model) -> VectorizedModel:
    """Compile ``model`` into a :class:`VectorizedModel`.

    The generated code is cached in :func:`sdmodels.translation.cache_root` under the model's
    SHA-256, the PySD version and a digest of the generator, and in memory per process.

    Raises
    ------
    NotImplementedError
        If the model uses a Vensim construct the generator does not support (the message names
        the element and the construct).
    """
    simulate, variables = _generated(Path(model.mdl_path).resolve(), model.sha256)
    return VectorizedModel(
        model=model,
        variables=variables,
        _simulate=simulate,
        _index=MappingProxyType({name: i for i, name in enumerate(variables)}),
    )


__all__ = ["BLOCK_ROWS", "EnsembleResult", "VectorizedModel", "compile_model"]
