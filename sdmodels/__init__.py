"""Vensim stock-and-flow models of the cluster lifecycle and their Python API.

>>> from clusterdyn.sdmodels import load_model
>>> model = load_model("salmon_cluster")      # defaults: the shipped calibration
>>> df = model.run(params={"Normal investment fraction": 0.6}, until=2010)

Names are resolved on first use, so that importing a light part of the package (its errors,
for the command line) does not import PySD.
"""

from __future__ import annotations

import importlib
from typing import Any

from clusterdyn.sdmodels.errors import ModelInputError, SimulationError

_EXPORTS: dict[str, str] = {
    "MAX_YEAR": "clusterdyn.sdmodels.model",
    "MIN_DT": "clusterdyn.sdmodels.model",
    "PUBLIC_OUTPUTS": "clusterdyn.sdmodels.model",
    "Model": "clusterdyn.sdmodels.model",
    "load_model": "clusterdyn.sdmodels.model",
    "Parameter": "clusterdyn.sdmodels.parameters",
}


def compile_model(model: Any, backend: str = "numba") -> Any:
    """Vectorised runner of ``model`` (see :func:`clusterdyn.sdmodels.vectorized.compile_model`)."""
    from clusterdyn.sdmodels.vectorized import compile_model as _compile

    return _compile(model, backend)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'clusterdyn.sdmodels' has no attribute {name!r}")


__all__ = [  # noqa: PLE0604 - the lazy names are listed in _EXPORTS
    "MAX_YEAR", "MIN_DT", "PUBLIC_OUTPUTS", "Model", "ModelInputError", "Parameter",
    "SimulationError", "compile_model", "load_model",
]
