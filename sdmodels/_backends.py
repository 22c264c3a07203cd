"""The two simulators behind :mod:`clusterdyn.sdmodels.vectorized`: numpy arrays or a numba kernel.

Both are generated from the same lowering of the model (:func:`clusterdyn.sdmodels._codegen.lower`)
and
cached as Python source in :func:`clusterdyn.sdmodels.translation.cache_root` under the model's
SHA-256,
the PySD version and a digest of the generators, so a change to any of them regenerates.
The first line of each source holds the SHA-256 of the rest and those inputs; a source that
does not match them, or does not load, is generated again, and numba cache files that cannot
be read are reset (:func:`_drop_numba_caches`) rather than raised on every run.

* ``numpy``: every variable is an array of one value per parameter set; each Euler step is a
  few hundred array operations over a block of sets (:mod:`clusterdyn.sdmodels._codegen`).
* ``numba`` (the default): every variable is a float; a compiled loop runs each set through
  all its steps (:mod:`clusterdyn.sdmodels._jit`). It releases the interpreter lock, so threads
  share the
  sets over all cores, and its per-set cost does not depend on how many sets there are, which
  makes small batches (a calibration's population, a single run) about as fast per set as
  large ones. numba caches the machine code next to the source, so only the first run on a
  machine compiles (about 3 s).
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import importlib.util
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysd

from clusterdyn.sdmodels import _codegen
from clusterdyn.sdmodels._functions import NUMPY_HELPERS
from clusterdyn.sdmodels.translation import cache_roots, write_in_cache

BACKENDS = ("numba", "numpy")

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


#: First line of a generated source: this prefix, then the JSON of :func:`_stamp`.
HEADER = "# clusterdyn generated source "


def _generator_digest(kind: str) -> str:
    """SHA-256 of the code generators of ``kind``: editing them regenerates the source."""
    here = Path(__file__).parent
    generators = [Path(_codegen.__file__), here / "_functions.py", here / "_statefuls.py",
                  here / "_subscripts.py", here / "_writer.py"]
    if kind == "numba":
        generators += [here / "_jit.py", here / "_jit_functions.py"]
    return hashlib.sha256(b"".join(p.read_bytes() for p in generators)).hexdigest()


def _inputs(kind: str, sha256: str) -> dict[str, str]:
    """What a generated source was made from: model, PySD and generators."""
    return {"kind": kind, "model": sha256, "pysd": pysd.__version__,
            "generator": _generator_digest(kind)}


def _stamp(body: str, inputs: Mapping[str, str]) -> str:
    """The header line: the checksum of the body, and the inputs it was made from."""
    content = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return HEADER + json.dumps({"sha256": content, **inputs}, sort_keys=True) + "\n"


def _intact(path: Path, inputs: Mapping[str, str]) -> bool:
    """Whether a cached source has the checksum in its header and was made from ``inputs``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    header, newline, body = text.partition("\n")
    return bool(newline) and header + "\n" == _stamp(body, inputs)


def _write_source(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``folder/name`` atomically; :class:`OSError` if it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}-", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)  # atomic: a concurrent reader sees no file or the whole file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _source_file(kind: str, mdl_path: Path, sha256: str, make: Callable[[], str],
                 rebuild: bool = False) -> Path:
    """Path of the verified cached generated source, (re)written if missing or damaged.

    Parameters
    ----------
    kind : {"numba", "numpy"}
        Which generator.
    mdl_path : pathlib.Path
        The model (its stem names the file).
    sha256 : str
        The model's hash.
    make : callable
        Returns the source's body.
    rebuild : bool
        Generate again even if the cached source verifies (it did not load).

    Returns
    -------
    pathlib.Path
        A file whose first line holds the checksum of the rest and the inputs above, written
        in the cache or, if the cache cannot be written, in a private temporary folder.
    """
    inputs = _inputs(kind, sha256)
    digest = inputs["generator"][:12]
    name = f"{mdl_path.stem}-{sha256[:16]}-pysd{pysd.__version__}-{kind}{digest}.py"
    if not rebuild:
        for root in cache_roots():
            if _intact(root / "vectorized" / name, inputs):
                return root / "vectorized" / name
    body = make()
    text = _stamp(body, inputs) + body
    return write_in_cache(lambda root: _write_source(root / "vectorized", name, text))


def _load_numpy(path: Path) -> NumpySimulator:
    namespace: dict[str, object] = {
        "np": np, "_table": _Table, "_grid": _Grid, "_if_then_else": _if_then_else,
        **NUMPY_HELPERS,
    }
    source = path.read_text(encoding="utf-8")
    exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 - our generated code
    return NumpySimulator(namespace["VARIABLES"], namespace["simulate"])  # type: ignore[arg-type]


def _load_numba(path: Path) -> NumbaSimulator:
    """Import the generated module and compile (or load from numba's cache) its kernel."""
    # numba's on-disk cache finds the module again by name: register it before running it.
    name = "_clusterdyn_kernel_" + path.stem.replace("-", "_").replace(".", "_")
    source = path.read_text(encoding="utf-8")
    header = source.partition("\n")[0]
    module = sys.modules.get(name)
    # A module of the same name already imported is reused only if its source was the same.
    if module is None or getattr(module, "_clusterdyn_header", None) != header:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        module._clusterdyn_header = header  # type: ignore[attr-defined]
        sys.modules[name] = module
        try:
            # Compiled from the text just verified, not by the import system, which would
            # write (and later trust) bytecode beside it in the cache.
            exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102
        except BaseException:
            del sys.modules[name]
            raise
    found = NumbaSimulator(module.VARIABLES, module.PARAMETERS, module.kernel,
                           getattr(module, "TIME_STEP", 1.0))
    try:
        _warm_up(found)
    except Exception:  # noqa: BLE001 - numba's cache files unreadable (UnpicklingError...)
        from clusterdyn.sdmodels import _jit

        _drop_numba_caches(module, _jit)
        _warm_up(found)
    return found


def _warm_up(found: NumbaSimulator) -> None:
    """Compile (or load the machine code) now, in one thread, not in the first run's threads."""
    # One step at the model's time step and defaults: a valid run (a DELAY checks its order
    # against the time step).
    found.fill({}, 1, (0.0,), 0.0, found.time_step, (0,), [0], 1)


def _drop_numba_caches(*modules: object) -> None:
    """Empty numba's on-disk cache index of every compiled function of ``modules``.

    numba unpickles its index and machine code without checking them: a truncated or
    overwritten file raises on every later run. An empty index (``flush``) makes numba ignore
    the old files, compile, and cache the new machine code; a cache whose index cannot be
    written is switched off for this process instead.
    """
    for module in modules:
        for value in vars(module).values():
            cache = getattr(value, "_cache", None)  # numba's Dispatcher keeps it private
            if cache is None or not hasattr(cache, "disable"):
                continue
            try:
                cache.flush()
            except OSError:
                cache.disable()


@dataclass(frozen=True)
class NumpySimulator:
    """The generated numpy function ``simulate`` and its variables."""

    variables: tuple[str, ...]
    simulate: Callable[..., None]

    def fill(self, checked: Mapping[str, object], n: int, times: tuple, until: float,
             step: float, out_steps: tuple, sel: list[int], workers: int) -> np.ndarray:
        """Simulate ``n`` sets; values of shape ``(years, len(sel), n)``."""
        if n == 1:
            # One run: numpy scalars are much faster than arrays of one element (and, unlike
            # Python floats, divide by zero as arrays do).
            checked = {k: np.float64(np.reshape(v, -1)[0]) for k, v in checked.items()}
        buf = np.empty((len(out_steps), len(sel), n))
        threads = min(workers, n)
        # Equal blocks of at most BLOCK_ROWS rows, the same number for every thread.
        count = threads * math.ceil(n / (threads * BLOCK_ROWS))
        edges = [n * i // count for i in range(count + 1)]
        blocks = [(lo, hi) for lo, hi in zip(edges, edges[1:], strict=False) if hi > lo]

        def work(worker: int) -> None:
            with np.errstate(all="ignore"):  # errors show as non-finite values
                for lo, hi in blocks[worker::threads]:
                    part = {k: v[lo:hi] if np.ndim(v) else v for k, v in checked.items()}
                    self.simulate(part, times, until, step, out_steps, buf[:, :, lo:hi], sel)

        _share(work, threads)
        return buf


@dataclass(frozen=True)
class NumbaSimulator:
    """The compiled ``kernel`` and the order of its parameter rows."""

    variables: tuple[str, ...]
    parameters: tuple[tuple[str, float], ...]
    kernel: Callable[..., None]
    time_step: float = 1.0  # the .mdl's, for the warm-up run

    def fill(self, checked: Mapping[str, object], n: int, times: tuple, until: float,
             step: float, out_steps: tuple, sel: list[int], workers: int) -> np.ndarray:
        """Simulate ``n`` sets; values of shape ``(years, len(sel), n)``."""
        pm = np.empty((len(self.parameters), n))
        for row, (name, default) in enumerate(self.parameters):
            pm[row] = checked.get(name, default)
        args = (pm, np.asarray(times, dtype=float), until, step,
                np.asarray(out_steps, dtype=np.int64), np.asarray(sel, dtype=np.int64))
        buf = np.empty((len(out_steps), len(sel), n))
        threads = min(workers, n)
        edges = [n * i // threads for i in range(threads + 1)]
        _share(lambda w: self.kernel(*args, buf, edges[w], edges[w + 1]), threads)
        return buf


def _share(work: Callable[[int], None], threads: int) -> None:
    if threads == 1:
        work(0)
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))


@functools.lru_cache(maxsize=8)
def simulator(mdl_path: Path, sha256: str, backend: str) -> NumpySimulator | NumbaSimulator:
    """Load (generating and compiling if needed) the simulator of one model and backend.

    A cached source that verifies but does not load (a Python or numba upgrade, an edited
    helper it imports) is generated again, once.
    """
    if backend == "numpy":
        def make() -> str:
            return _codegen.generate(mdl_path).source

        load: Callable[[Path], NumpySimulator | NumbaSimulator] = _load_numpy
    else:
        from clusterdyn.sdmodels import _jit  # imports numba, which takes a second

        def make() -> str:
            return _jit.emit(_codegen.lower(mdl_path))

        load = _load_numba
    path = _source_file(backend, mdl_path, sha256, make)
    try:
        return load(path)
    except Exception:  # noqa: BLE001 - whatever the cause, generating again is the cure
        path = _source_file(backend, mdl_path, sha256, make, rebuild=True)
    return load(path)
