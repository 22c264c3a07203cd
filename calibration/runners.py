"""The engine behind a fit or an ensemble: the compiled runner or PySD, chosen by the user.

``--engine`` of ``clusterdyn calibrate`` and ``clusterdyn sensitivity``:

``compiled``
    :func:`clusterdyn.sdmodels.vectorized.compile_model` (thousands of runs per second); a model
    the compiler refuses is an :class:`EngineError` (one line, exit status 2).
``pysd``
    :class:`PysdRunner`: one PySD run per parameter set (about 20 ms for a small model, 0.3 s for
    the salmon model), with the same interface and results to rounding.
``auto`` (default)
    ``compiled``, falling back to ``pysd`` with a one-line notice when the compiler refuses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from clusterdyn.sdmodels.engine_names import ENGINES
from clusterdyn.sdmodels.errors import ModelInputError, SimulationError
from clusterdyn.sdmodels.model import Model
from clusterdyn.sdmodels.vectorized import EnsembleResult, VectorizedModel, compile_model


class EngineError(ModelInputError):
    """The engine asked for cannot run the model (reported as one line, exit status 2)."""


@dataclass(frozen=True, eq=False)
class PysdRunner(VectorizedModel):
    """PySD behind the interface of :class:`clusterdyn.sdmodels.vectorized.VectorizedModel`.

    Every parameter set is one :meth:`clusterdyn.sdmodels.Model.run` (a fresh PySD model, so no
    value leaks between runs); the results are stacked into an
    :class:`~clusterdyn.sdmodels.vectorized.EnsembleResult`. A subclass, so that code which
    accepts a compiled model (the ensemble runner) accepts it; ``PysdRunner(model)``.

    Attributes
    ----------
    model : Model
        The model it runs.
    backend : str
        Always ``"pysd"`` (read by callers that treat backends differently).
    """

    model: Model
    backend: str = "pysd"
    variables: tuple[str, ...] = field(default=(), repr=False)
    _simulator: Any = field(default=None, repr=False)
    _index: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), repr=False)

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
        """Simulate every parameter set, one PySD run each.

        Parameters
        ----------
        params, until, dt, variables, check_finite
            As in :meth:`clusterdyn.sdmodels.vectorized.VectorizedModel.run`. With
            ``check_finite=False`` a run that fails (non-finite values, an equation error) is
            returned as NaN, as the compiled runner returns its non-finite values.
        workers : int, optional
            Ignored: PySD runs one parameter set at a time.

        Returns
        -------
        EnsembleResult
        """
        del workers  # one run at a time
        rows = self._rows(params)
        names = self.model._check_variables(variables)
        until_year, _ = self.model._check_time(until, dt)
        years = np.arange(int(self.model.initial_time), until_year + 1)
        values = np.full((len(rows), len(years), len(names)), np.nan)
        for i, row in enumerate(rows):
            try:
                frame = self.model.run(params=row, until=until_year, dt=dt, variables=names)
            except SimulationError:
                if check_finite:
                    raise
                continue
            values[i] = frame.to_numpy(dtype=float)
        values.flags.writeable = years.flags.writeable = False
        return EnsembleResult(years, tuple(names), values)

    @staticmethod
    def _rows(params: Mapping[str, object] | pd.DataFrame | None) -> list[dict[str, float]]:
        """One dict of parameter values per run (numbers repeat in every run)."""
        if params is None:
            return [{}]
        if isinstance(params, pd.DataFrame):
            return [{k: float(v) for k, v in row.items()} for _, row in params.iterrows()]
        lengths = {len(np.atleast_1d(v)) for v in params.values() if np.ndim(v)}
        if len(lengths) > 1:
            raise ModelInputError(f"parameter arrays of different lengths {sorted(lengths)}")
        n = lengths.pop() if lengths else 1
        return [{k: (float(np.asarray(v)[i]) if np.ndim(v) else v)  # type: ignore[misc]
                 for k, v in params.items()} for i in range(n)]


#: What :func:`make_runner` returns (a :class:`PysdRunner` is a VectorizedModel too).
Runner = VectorizedModel


def stderr_notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def refusal(model: Model, backend: str = "numba") -> tuple[VectorizedModel | None, str]:
    """The compiled runner of ``model``, or None and the compiler's reason (one line).

    Raises
    ------
    ModelInputError
        For an unknown backend (a usage error, not a refusal).
    """
    try:
        return compile_model(model, backend), ""
    except ModelInputError:
        raise
    except (NotImplementedError, ValueError) as exc:  # the constructs it does not support
        text = str(exc).strip()
        return None, text.splitlines()[0] if text else type(exc).__name__


def make_runner(model: Model, engine: str = "auto", backend: str = "numba",
                notice: Callable[[str], None] | None = stderr_notice,
                command: str = "clusterdyn") -> Runner:
    """The runner of ``engine`` for ``model``.

    Parameters
    ----------
    model : Model
    engine : {"auto", "compiled", "pysd"}
        See the module's docstring.
    backend : {"numba", "numpy"}
        Backend of the compiled runner.
    notice : callable, optional
        Receives the one-line notice of an ``auto`` fallback (default: printed on stderr);
        None keeps it silent.
    command : str
        Named at the start of the notice (e.g. ``"clusterdyn calibrate"``).

    Returns
    -------
    VectorizedModel or PysdRunner

    Raises
    ------
    EngineError
        ``engine="compiled"`` and the compiler refuses the model (the message names the model
        file and the construct), or an unknown engine.
    """
    if engine not in ENGINES:
        raise EngineError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "pysd":
        return PysdRunner(model)
    compiled, reason = refusal(model, backend)
    if compiled is not None:
        return compiled
    if engine == "compiled":
        raise EngineError(f"--engine compiled: the compiled engine cannot run {model.mdl_path} "
                          f"({reason}); use --engine pysd (or auto)")
    if notice is not None:
        notice(f"{command}: notice: the compiled engine cannot run {model.mdl_path.name} "
               f"({reason}); using PySD (slower)")
    return PysdRunner(model)


__all__ = ["ENGINES", "EngineError", "PysdRunner", "Runner", "make_runner", "refusal"]
