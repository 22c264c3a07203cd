"""Run many parameter sets of a model at once, with numpy arrays through every equation.

PySD runs one parameter set per call (and refuses array-valued constants), which makes
calibration, Monte Carlo and Sobol analysis slow. :func:`compile_model` turns the model's own
equations, as parsed by PySD's Vensim translator, into one numpy function (see
:mod:`clusterdyn.sdmodels._codegen`) in which every variable holds one value per parameter set, and
runs
it with PySD's semantics: Euler integration in PySD's update order, outputs at whole years.

>>> import numpy as np
>>> from clusterdyn.sdmodels import load_model
>>> from clusterdyn.sdmodels.vectorized import compile_model
>>> fast = compile_model(load_model())
>>> result = fast.run({"Normal investment fraction": np.linspace(0.1, 0.5, 1000)})
>>> result.get("Production").shape
(1000, 26)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from clusterdyn.sdmodels._backends import BACKENDS, NumbaSimulator, NumpySimulator, simulator
from clusterdyn.sdmodels.errors import ModelInputError, suggest
from clusterdyn.sdmodels.model import Model, SimulationError


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
        """One run as a DataFrame shaped like the result of :meth:`clusterdyn.sdmodels.Model.run`.

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

    Create one with :func:`compile_model`. Runs follow :meth:`clusterdyn.sdmodels.Model.run`: same
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
    backend: str
    variables: tuple[str, ...] = field(repr=False)
    _simulator: NumbaSimulator | NumpySimulator = field(repr=False)
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
        workers: int | None = None,
    ) -> EnsembleResult:
        """Simulate every parameter set and return their yearly values.

        Parameters
        ----------
        params : mapping or DataFrame, optional
            Parameter values by Vensim name: a number (every run) or an array of shape
            ``(N,)``; or a DataFrame with one row per run. Others keep their defaults
            (:attr:`clusterdyn.sdmodels.Model.defaults`).
        until, dt, variables
            As in :meth:`clusterdyn.sdmodels.Model.run`.
        check_finite : bool
            Raise :class:`SimulationError` if a run produced NaN or infinite values (default).
            With False they are returned as they are.
        workers : int, optional
            Threads sharing the runs; default :func:`default_workers` (one per processor core
            unless ``$CLUSTERDYN_THREADS`` says otherwise). The numba backend
            releases the interpreter lock, so they run in parallel; the numpy backend only
            releases it inside numpy's loops, so on a busy machine 1 can be faster. Results do
            not depend on it (every set is computed on its own).

        Returns
        -------
        EnsembleResult
        """
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise ModelInputError(f"workers = {workers!r}: expected a positive integer")
        given, n = self.validate_params(params)
        checked = {**self.model.baseline, **given}
        names = self.model._check_variables(variables)
        until_year, step = self.model._check_time(until, dt)
        for name in names:
            if name not in self._index:
                raise ModelInputError(f"variable {name!r} cannot be recorded by this runner")
        times, out_steps = _schedule(self.model.initial_time, float(until_year), step)
        years = np.arange(int(self.model.initial_time), until_year + 1)
        sel = [self._index[name] for name in names]
        threads = default_workers() if workers is None else workers
        buf = self._simulator.fill(
            checked, n, times, float(until_year), step, out_steps, sel, threads
        )
        values = buf.transpose(2, 0, 1)
        values.flags.writeable = years.flags.writeable = False
        if check_finite:
            _check_finite(self.model.name, values, years, names)
        return EnsembleResult(years, tuple(names), values)


#: Environment variable that sets the runner's default number of threads (a process pool
#: running one task per core sets it to 1, so that its processes do not share the cores
#: twice over).
THREADS_VARIABLE = "CLUSTERDYN_THREADS"


def default_workers() -> int:
    """Threads of a run that does not choose: ``$CLUSTERDYN_THREADS`` if it is a positive
    whole number, otherwise one per processor core."""
    text = os.environ.get(THREADS_VARIABLE, "")
    return int(text) if text.isdigit() and int(text) > 0 else (os.cpu_count() or 1)


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


def compile_model(model: Model, backend: str = "numba") -> VectorizedModel:
    """Compile ``model`` into a :class:`VectorizedModel`.

    Parameters
    ----------
    model : Model
        The model to compile.
    backend : {"numba", "numpy"}
        ``"numba"`` (default): a compiled loop per parameter set, parallel over threads;
        ``"numpy"``: array operations over all sets at once, no compiler needed. Both agree
        with PySD to 1e-9 (tested); see :mod:`clusterdyn.sdmodels._backends`.

    The generated code is cached in :func:`clusterdyn.sdmodels.translation.cache_root` under the
    model's
    SHA-256, the PySD version and a digest of the generator, and in memory per process.

    Raises
    ------
    ModelInputError
        For an unknown backend.
    NotImplementedError
        If the model uses a Vensim construct the generator does not support (the message names
        the element and the construct).
    """
    if backend not in BACKENDS:
        raise ModelInputError(
            f"backend = {backend!r}: expected one of {', '.join(map(repr, BACKENDS))}"
        )
    found = simulator(Path(model.mdl_path).resolve(), model.sha256, backend)
    return VectorizedModel(
        model=model,
        backend=backend,
        variables=found.variables,
        _simulator=found,
        _index=MappingProxyType({name: i for i, name in enumerate(found.variables)}),
    )


__all__ = ["EnsembleResult", "VectorizedModel", "compile_model"]
