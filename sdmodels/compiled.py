"""Compile any Vensim ``.mdl`` into a fast simulator with PySD's semantics.

:func:`compile_mdl` lowers the model, as parsed by PySD's own Vensim front end, to one flat
Python function (:mod:`clusterdyn.sdmodels._codegen`), cached beside the project's other
generated sources, and returns a :class:`CompiledModel` whose :meth:`~CompiledModel.run`
returns what ``pysd.read_vensim(path).run()`` returns, without PySD's per-step overhead:

>>> from clusterdyn.sdmodels.compiled import compile_mdl
>>> model = compile_mdl("teacup.mdl")                      # doctest: +SKIP
>>> model.run({"Room Temperature": 30}).head()             # doctest: +SKIP

A model using a construct the engine does not support raises :class:`UnsupportedConstruct`,
naming the file, the element and the construct, when it is compiled (never a wrong result).

Output rule: one row per SAVEPER time from INITIAL TIME to FINAL TIME (or ``until``), indexed by
time exactly as PySD indexes its output (its rounding, and ints when the control values are
ints); one column per model variable named as PySD names it (the Vensim name), in the
``.mdl``'s order, **excluding** the control variables (INITIAL TIME, FINAL TIME, TIME STEP,
SAVEPER) and lookup tables, which PySD's ``run()`` does not return either (lookups) or returns
as constants (control variables): compare with ``pysd_model.run()[list(result.columns)]``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from clusterdyn.sdmodels.errors import ModelInputError, suggest


class UnsupportedConstruct(NotImplementedError):
    """The model uses a Vensim construct the compiled engine does not support.

    Attributes
    ----------
    mdl : str or None
        File name of the model (None until the lowering knows it).
    element : str
        Vensim name of the element using the construct.
    construct : str
        What is not supported, e.g. ``"the function GET XLS DATA"``.
    """

    def __init__(self, element: str, construct: str, mdl: str | None = None) -> None:
        self.mdl, self.element, self.construct = mdl, element, construct
        prefix = f"{mdl}: " if mdl else ""
        super().__init__(
            f"{prefix}element {element!r}: {construct} is not supported by the compiled engine"
        )

    def in_file(self, mdl: str) -> UnsupportedConstruct:
        """The same error, naming the model file."""
        return UnsupportedConstruct(self.element, self.construct, mdl)

    def __reduce__(self) -> tuple:
        # Picklable (process pools, Dask) although __init__ takes more than the message.
        return (UnsupportedConstruct, (self.element, self.construct, self.mdl))


def _clock(start: float, final: float, step: float, saveper: float
           ) -> tuple[tuple[float, ...], tuple[int, ...], list]:
    """Euler times, the indices of the saved ones and their index labels, as PySD has them.

    PySD adds the time step to the time (accumulating rounding) while ``t + dt * 1e-5 < final
    time``, saves a time when its offset from INITIAL TIME is within ``dt * 1e-5`` of a
    multiple of SAVEPER, and labels it ``np.round(t, -int(log10(dt * 1e-5)))``
    (``pysd.py_backend.components.Time``).
    """
    prec = step * 1e-5
    times, t = [start], start
    while t + prec < final:
        t = t + step
        times.append(t)
    saved, labels = [], []
    digits = -int(np.log10(prec))
    for i, t in enumerate(times):
        offset = t - start
        if offset % saveper < prec or -offset % saveper < prec:
            saved.append(i)
            labels.append(np.round(t, digits))
    return tuple(np.float64(t) for t in times), tuple(saved), labels


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """A ``.mdl`` compiled to one Python function (numpy backend, one parameter set per run).

    Create one with :func:`compile_mdl`. Running never changes it.

    Attributes
    ----------
    mdl_path : pathlib.Path
        The model file.
    initial_time, final_time, time_step, saveper : float
        The control values of the ``.mdl``.
    constants : Mapping[str, float]
        Vensim name -> ``.mdl`` value of every constant :meth:`run` can set.
    variables : tuple of str
        Every variable :meth:`run` returns by default, in the ``.mdl``'s order.
    """

    mdl_path: Path
    initial_time: float
    final_time: float
    time_step: float
    saveper: float
    constants: Mapping[str, float]
    variables: tuple[str, ...]
    _simulator: object = field(repr=False)
    _index: Mapping[str, int] = field(repr=False)

    def run(self, params: Mapping[str, float] | None = None, until: float | None = None,
            variables: Sequence[str] | None = None) -> pd.DataFrame:
        """Simulate once and return the saved values.

        Parameters
        ----------
        params : mapping, optional
            New values of constants, by Vensim name (others keep their ``.mdl`` values).
        until : float, optional
            Final time (default FINAL TIME).
        variables : sequence of str, optional
            Columns to return (default :attr:`variables`).

        Returns
        -------
        pandas.DataFrame
            Index ``time`` (SAVEPER times, labelled as PySD labels them), one column per
            variable.

        Raises
        ------
        ModelInputError
            For an unknown constant or variable name (with the nearest valid names), a value
            that is not a number, or a final time before the initial time.
        """
        checked: dict[str, np.float64] = {}
        for name, value in (params or {}).items():
            if name not in self.constants:
                raise ModelInputError(
                    f"{self.mdl_path.name}: {name!r} is not a constant of the model."
                    + suggest(name, self.constants)
                )
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ModelInputError(f"constant {name!r}: expected a number, got {value!r}")
            checked[name] = np.float64(value)
        names = list(self.variables if variables is None else variables)
        for name in names:
            if name not in self._index:
                raise ModelInputError(
                    f"{self.mdl_path.name}: no variable {name!r}." + suggest(name, self._index)
                )
        final = self.final_time if until is None else until
        if isinstance(final, bool) or not isinstance(final, int | float | np.number) or (
                final < self.initial_time):
            raise ModelInputError(f"until = {until!r}: expected a time >= {self.initial_time}")
        times, saved, labels = _clock(self.initial_time, final, self.time_step, self.saveper)
        sel = [self._index[name] for name in names]
        buf = self._simulator.fill(checked, 1, times, float(final), float(self.time_step),
                                   saved, sel, 1)
        return pd.DataFrame(buf[:, :, 0], index=pd.Index(labels, name="time"), columns=names)


@functools.lru_cache(maxsize=32)
def _lowered(path: Path, sha256: str) -> object:  # noqa: ARG001 - sha256 keys the cache
    from clusterdyn.sdmodels._codegen import lower

    return lower(path)


def compile_mdl(mdl_path: str | Path, backend: str = "numpy") -> CompiledModel:
    """Compile the Vensim model in ``mdl_path``.

    Parameters
    ----------
    mdl_path : str or pathlib.Path
        A Vensim ``.mdl`` file.
    backend : {"numpy"}
        The generated code's backend (one parameter set per run needs no compiler).

    Returns
    -------
    CompiledModel

    Raises
    ------
    UnsupportedConstruct
        If the model uses a construct the engine does not support (naming the file, the
        element and the construct).
    ModelInputError
        For a missing file or an unknown backend.
    """
    from clusterdyn.sdmodels._backends import simulator

    if backend != "numpy":
        raise ModelInputError(f"backend = {backend!r}: compile_mdl supports 'numpy'")
    path = Path(mdl_path).resolve()
    if not path.is_file():
        raise ModelInputError(f"no model file {str(mdl_path)!r}")
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    low = _lowered(path, sha256)
    found = simulator(path, sha256, backend)
    control = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER", "Time"}
    index = {name: i for i, name in enumerate(found.variables) if name not in control}
    return CompiledModel(
        mdl_path=path,
        initial_time=low.control["initial_time"],
        final_time=low.control["final_time"],
        time_step=low.control["time_step"],
        saveper=low.control["saveper"],
        constants=MappingProxyType({name: default for _, name, default in low.params}),
        variables=tuple(index),
        _simulator=found,
        _index=MappingProxyType(index),
    )


__all__ = ["CompiledModel", "UnsupportedConstruct", "compile_mdl"]
