"""Ensembles of the cluster model: Monte Carlo bands, global sensitivity, Dask scale-out.

>>> from sdmodels import load_model
>>> from ensembles import monte_carlo_bands, plot_bands, sobol_indices
>>> model = load_model()
>>> bands = monte_carlo_bands(model, n=1000, seed=0)      # tidy 50/75/95/100% bands
>>> fig = plot_bands(bands)
>>> sobol = sobol_indices(model, n=256, seed=0)           # S1/ST of the 2003 KPIs

Modules: :mod:`ensembles.runner` (chunked runs, local or on a Dask client),
:mod:`ensembles.bands`, :mod:`ensembles.sensitivity`, :mod:`ensembles.distributed` (Dask
clusters, Parquet streaming), :mod:`ensembles.plots`, :mod:`ensembles.command` (the
``clusterdyn sensitivity`` subcommand). Importing the package imports none of them.
"""

import importlib

#: Public names and the modules that define them (imported on first use, so that
#: ``from ensembles import command`` stays light for the ``clusterdyn`` parser).
_EXPORTS: dict[str, str] = {
    "BANDS": "ensembles.bands",
    "band_table": "ensembles.bands",
    "latin_hypercube": "ensembles.bands",
    "monte_carlo_bands": "ensembles.bands",
    "sampling_ranges": "ensembles.bands",
    "plot_bands": "ensembles.plots",
    "plot_indices": "ensembles.plots",
    "save_figure_files": "ensembles.plots",
    "iter_chunks": "ensembles.runner",
    "plan_ensemble": "ensembles.runner",
    "run_ensemble": "ensembles.runner",
    "KPIS": "ensembles.sensitivity",
    "build_problem": "ensembles.sensitivity",
    "morris_indices": "ensembles.sensitivity",
    "sobol_indices": "ensembles.sensitivity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ensembles' has no attribute {name!r}")
