"""clusterdyn: system-dynamics models of an industrial cluster's lifecycle.

One import name, with a sub-package per layer (each imports only the layers above it in this
list, checked by tests/test_packaging.py):

* ``clusterdyn.errors``, ``clusterdyn.io``, ``clusterdyn.argtypes``: shared helpers (errors,
  atomic file writing, argument types), importing nothing else of the project;
* ``clusterdyn.sdmodels``: the models, their Python API and the compiled engine;
* ``clusterdyn.calibration``, ``clusterdyn.scenarios``: fitting to data, policy scenarios;
* ``clusterdyn.ensembles``, ``clusterdyn.validation``, ``clusterdyn.forecasting``,
  ``clusterdyn.policy``, ``clusterdyn.figures``: analyses built on those;
* ``clusterdyn.cli``: the ``clusterdyn`` command.

In the repository the sub-packages are the top-level folders ``sdmodels/``, ``calibration/``,
``scenarios/``, ``figures/``, ... (``setup.cfg`` maps them into this namespace).

>>> import clusterdyn
>>> model = clusterdyn.load_model()          # the salmon model, shipped calibration
>>> frame = model.run(until=2010)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Shortcuts to the most used names, resolved on first use (``clusterdyn --help`` must not
#: import PySD).
_SHORTCUTS: dict[str, str] = {
    "load_model": "clusterdyn.sdmodels",
    "Model": "clusterdyn.sdmodels",
    "calibrate": "clusterdyn.calibration",
    "run_scenario": "clusterdyn.scenarios",
}


def __getattr__(name: str) -> Any:
    if name in _SHORTCUTS:
        module = importlib.import_module(_SHORTCUTS[name])
        return getattr(module, "run" if name == "run_scenario" else name)
    raise AttributeError(f"module 'clusterdyn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SHORTCUTS])
