"""Vensim stock-and-flow models of the cluster lifecycle and their Python API.

>>> from sdmodels import load_model
>>> model = load_model("salmon_cluster")
>>> df = model.run(params={"Normal investment fraction": 0.6}, until=2010)
"""

from sdmodels.errors import ModelInputError
from sdmodels.model import MAX_YEAR, PUBLIC_OUTPUTS, Model, SimulationError, load_model
from sdmodels.parameters import Parameter


def compile_model(model: Model):  # noqa: ANN201 - lazy import keeps `import sdmodels` light
    """Vectorised runner of ``model`` (see :mod:`sdmodels.vectorized`)."""
    from sdmodels.vectorized import compile_model as _compile

    return _compile(model)


__all__ = [
    "MAX_YEAR",
    "PUBLIC_OUTPUTS",
    "Model",
    "ModelInputError",
    "Parameter",
    "SimulationError",
    "compile_model",
    "load_model",
]
