"""Run an ensemble of parameter sets in chunks, here or on a Dask cluster.

An ensemble is a table of parameter sets (one row per run, one column per parameter) plus
base values shared by every run. :func:`iter_chunks` simulates it chunk by chunk with the
vectorised runner (:mod:`clusterdyn.sdmodels.vectorized`) and yields each chunk's values as soon as
it is
done, so callers can reduce or write them without holding the whole ensemble;
:func:`run_ensemble` assembles them into one
:class:`~clusterdyn.sdmodels.vectorized.EnsembleResult`.

Given a Dask ``client`` (see :mod:`clusterdyn.ensembles.distributed`), chunks are sent to the
cluster's
workers with at most ``max_in_flight`` of them pending at a time. Results do not depend on the
chunk size or on where a chunk ran: the runner evaluates every row independently with the
same code (the numba backend computes each set on its own; with the numpy backend a one-row
chunk is padded to two rows, since its single-run path uses scalar arithmetic that may differ
in the last bit).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import MODELS_DIR, Model, load_model
from clusterdyn.sdmodels.vectorized import EnsembleResult, VectorizedModel, compile_model

#: Default runs per chunk: two of the vectorised runner's blocks of 4096 rows.
DEFAULT_CHUNK = 8192

_COMPILED: dict[tuple[str, str], VectorizedModel] = {}
_LOCK = threading.Lock()


def model_reference(model: Model) -> str:
    """How a worker finds ``model``: the name of a shipped model, otherwise the ``.mdl`` path.

    A shipped model is referred to by name, so workers on other machines load it from their own
    installation of the project (the SHA-256 check in :func:`simulate_chunk` guards against a
    different version).
    """
    path = model.mdl_path.resolve()
    if path == (MODELS_DIR / f"{model.name}.mdl").resolve():
        return model.name
    return str(path)


def _vectorized(reference: str, sha256: str) -> VectorizedModel:
    """The compiled model of a worker process (compiled once per process and model)."""
    with _LOCK:
        found = _COMPILED.get((reference, sha256))
        if found is None:
            model = load_model(reference)
            if model.sha256 != sha256:
                raise ModelInputError(
                    f"model {reference!r} on this worker has SHA-256 {model.sha256[:12]}..., not "
                    f"{sha256[:12]}... as on the client: install the same project version"
                )
            found = _COMPILED[(reference, sha256)] = compile_model(model)
    return found


def register(model: Model) -> VectorizedModel:
    """Compile ``model`` and make it available to in-process workers without reloading."""
    key = (model_reference(model), model.sha256)
    with _LOCK:
        if key not in _COMPILED:
            _COMPILED[key] = compile_model(model)
        return _COMPILED[key]


def simulate_chunk(
    reference: str | VectorizedModel,
    sha256: str,
    params: Mapping[str, Any],
    until: int,
    dt: float,
    variables: tuple[str, ...],
) -> np.ndarray:
    """Simulate one chunk; the task a Dask worker runs.

    Parameters
    ----------
    reference : str or VectorizedModel
        A :func:`model_reference` (loaded and compiled once per worker process), or the
        compiled model itself.
    sha256 : str
        The model's SHA-256, checked against the worker's copy.
    params : mapping
        Parameter values: numbers (every run) and 1-D arrays of one value per run.
    until : int
        Last year.
    dt : float
        Time step (years).
    variables : tuple of str
        Variables to record.

    Returns
    -------
    numpy.ndarray
        C-contiguous array of shape ``(n_runs, n_years, n_variables)``.
    """
    fast = reference if isinstance(reference, VectorizedModel) else _vectorized(reference, sha256)
    rows = max((len(v) for v in params.values() if np.ndim(v)), default=1)
    if rows == 1 and fast.backend == "numpy":  # pad: its one-run path uses scalar arithmetic
        params = {k: np.repeat(np.reshape(v, -1)[:1], 2) if np.ndim(v) else v
                  for k, v in params.items()}
    result = fast.run(params, until=until, dt=dt, variables=variables)
    return np.ascontiguousarray(result.values[:rows])


def check_seed(seed: object) -> int:
    """Return ``seed`` as an int (every stochastic step of an ensemble takes one explicitly).

    Raises
    ------
    ModelInputError
        Unless ``seed`` is a whole number of at least 0.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ModelInputError(f"seed = {seed!r}: expected a whole number of at least 0")
    return int(seed)


def chunk_edges(n_runs: int, chunk_size: int) -> list[tuple[int, int]]:
    """Row ranges ``[(lo, hi), ...]`` of consecutive chunks of at most ``chunk_size`` rows.

    Raises
    ------
    ModelInputError
        If ``n_runs`` or ``chunk_size`` is not a positive integer.
    """
    for label, value in (("number of runs", n_runs), ("chunk size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ModelInputError(f"{label} = {value!r}: expected a positive whole number")
    return [(lo, min(lo + chunk_size, n_runs)) for lo in range(0, n_runs, chunk_size)]


@dataclass(frozen=True)
class EnsemblePlan:
    """A checked ensemble: what every chunk needs to run.

    Attributes
    ----------
    model : Model
    samples : pandas.DataFrame
        One row per run (checked against the declared ranges).
    base : dict of str to float
        Values shared by every run (parameters not in ``samples``).
    until : int
        Last year.
    dt : float
        Time step (years).
    years : numpy.ndarray
        Output years.
    variables : tuple of str
        Recorded variables.
    """

    model: Model
    samples: pd.DataFrame
    base: dict[str, float]
    until: int
    dt: float
    years: np.ndarray
    variables: tuple[str, ...]

    @property
    def n_runs(self) -> int:
        """Number of parameter sets."""
        return len(self.samples)

    def params(self, lo: int, hi: int) -> dict[str, Any]:
        """Parameters of rows ``lo:hi``: the base values and one array per sampled column."""
        chunk = {k: v for k, v in self.base.items() if k not in self.samples.columns}
        for name in self.samples.columns:
            chunk[name] = self.samples[name].to_numpy(dtype=float)[lo:hi]
        return chunk


def plan_ensemble(
    model: Model,
    samples: pd.DataFrame,
    base: Mapping[str, float] | None = None,
    until: int | None = None,
    dt: float | None = None,
    variables: str | Iterable[str] | None = None,
) -> EnsemblePlan:
    """Check an ensemble before any run.

    Parameters
    ----------
    model : Model
    samples : pandas.DataFrame
        One row per run, one column per parameter (Vensim names).
    base : mapping, optional
        Values for every run of parameters not in ``samples`` (e.g. the calibrated ones).
    until, dt, variables
        As in :meth:`clusterdyn.sdmodels.Model.run`.

    Raises
    ------
    ModelInputError
        For an empty table, unknown names or values outside the declared ranges.
    """
    if not isinstance(samples, pd.DataFrame) or samples.empty:
        raise ModelInputError("no parameter sets: expected a DataFrame with at least one row")
    fast = register(model)
    fast.validate_params(samples)
    checked_base = model.validate_params(base)
    names = tuple(model._check_variables(variables))
    until_year, step = model._check_time(until, dt)
    years = np.arange(int(model.initial_time), until_year + 1)
    return EnsemblePlan(model, samples.reset_index(drop=True), checked_base, until_year, step,
                        years, names)


def iter_chunks(
    plan: EnsemblePlan,
    chunk_size: int = DEFAULT_CHUNK,
    client: Any = None,
    max_in_flight: int | None = None,
    progress: bool = False,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Simulate an ensemble chunk by chunk.

    Parameters
    ----------
    plan : EnsemblePlan
        From :func:`plan_ensemble`.
    chunk_size : int
        Runs per chunk.
    client : distributed.Client, optional
        Send the chunks to this Dask cluster; without it they run here, one after another.
    max_in_flight : int, optional
        Chunks pending on the cluster at a time (default: twice its worker threads), which
        bounds the memory the client holds.
    progress : bool
        Show a progress bar (on standard error).

    Yields
    ------
    lo, hi : int
        The chunk's rows in ``plan.samples``.
    values : numpy.ndarray
        Shape ``(hi - lo, n_years, n_variables)``. On a cluster, chunks come in the order they
        finish.
    """
    edges = chunk_edges(plan.n_runs, chunk_size)
    sha = plan.model.sha256
    bar = tqdm(total=plan.n_runs, unit="run", disable=not progress, leave=False)
    try:
        if client is None:
            fast = register(plan.model)
            for lo, hi in edges:
                values = simulate_chunk(fast, sha, plan.params(lo, hi), plan.until, plan.dt,
                                        plan.variables)
                bar.update(hi - lo)
                yield lo, hi, values
        else:
            reference = model_reference(plan.model)
            register(plan.model)  # in-process workers reuse the client's compiled model
            for lo, hi, values in _on_cluster(client, reference, sha, plan, edges,
                                              max_in_flight):
                bar.update(hi - lo)
                yield lo, hi, values
    finally:
        bar.close()


def _on_cluster(client: Any, reference: str, sha: str, plan: EnsemblePlan,
                edges: list[tuple[int, int]], max_in_flight: int | None
                ) -> Iterator[tuple[int, int, np.ndarray]]:
    from distributed import as_completed

    if max_in_flight is None:
        max_in_flight = 2 * max(1, sum(client.nthreads().values()))
    todo = iter(edges)
    pending: dict[Any, tuple[int, int]] = {}
    finished = as_completed()

    def submit() -> None:
        edge = next(todo, None)
        if edge is not None:
            lo, hi = edge
            future = client.submit(simulate_chunk, reference, sha, plan.params(lo, hi),
                                   plan.until, plan.dt, plan.variables, pure=False)
            pending[future] = edge
            finished.add(future)

    for _ in range(max(1, max_in_flight)):
        submit()
    try:
        for future in finished:
            lo, hi = pending.pop(future)
            values = future.result()
            future.release()
            submit()
            yield lo, hi, values
    finally:
        for future in pending:
            future.cancel()


def run_ensemble(
    plan: EnsemblePlan,
    chunk_size: int = DEFAULT_CHUNK,
    client: Any = None,
    max_in_flight: int | None = None,
    progress: bool = False,
) -> EnsembleResult:
    """Simulate every run of ``plan`` and return all values in memory.

    Parameters are those of :func:`iter_chunks`; the result is the same for any chunk size and
    with or without a cluster.

    Returns
    -------
    clusterdyn.sdmodels.vectorized.EnsembleResult
        Runs in the order of ``plan.samples``.
    """
    values = np.empty((plan.n_runs, len(plan.years), len(plan.variables)))
    for lo, hi, chunk in iter_chunks(plan, chunk_size, client, max_in_flight, progress):
        values[lo:hi] = chunk
    values.flags.writeable = False
    years = plan.years.copy()
    years.flags.writeable = False
    return EnsembleResult(years, plan.variables, values)


__all__ = [
    "DEFAULT_CHUNK",
    "EnsemblePlan",
    "check_seed",
    "chunk_edges",
    "iter_chunks",
    "model_reference",
    "plan_ensemble",
    "run_ensemble",
    "simulate_chunk",
]
