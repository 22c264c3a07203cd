"""Ensembles of the cluster model: Monte Carlo bands, global sensitivity, Dask scale-out.

>>> from clusterdyn.sdmodels import load_model
>>> from clusterdyn.ensembles import monte_carlo_bands, plot_bands, sobol_indices
>>> model = load_model()
>>> bands = monte_carlo_bands(model, n=1000, seed=0)      # tidy 50/75/95/100% bands
>>> fig = plot_bands(bands)
>>> sobol = sobol_indices(model, n=256, seed=0)           # S1/ST of the 2003 KPIs

Modules: :mod:`clusterdyn.ensembles.runner` (chunked runs, local or on a Dask client),
:mod:`clusterdyn.ensembles.bands`, :mod:`clusterdyn.ensembles.sensitivity`,
:mod:`clusterdyn.ensembles.distributed` (Dask
clusters, Parquet streaming), :mod:`clusterdyn.ensembles.plots`,
:mod:`clusterdyn.ensembles.command` (the
``clusterdyn sensitivity`` subcommand). Importing the package imports none of them.
"""

import importlib

#: Public names and the modules that define them (imported on first use, so that
#: ``from clusterdyn.ensembles import command`` stays light for the ``clusterdyn`` parser).
_EXPORTS: dict[str, str] = {
    "BANDS": "clusterdyn.ensembles.bands",
    "band_table": "clusterdyn.ensembles.bands",
    "latin_hypercube": "clusterdyn.ensembles.bands",
    "monte_carlo_bands": "clusterdyn.ensembles.bands",
    "sampling_ranges": "clusterdyn.ensembles.bands",
    "plot_bands": "clusterdyn.ensembles.plots",
    "plot_indices": "clusterdyn.ensembles.plots",
    "save_figure_files": "clusterdyn.ensembles.plots",
    "iter_chunks": "clusterdyn.ensembles.runner",
    "plan_ensemble": "clusterdyn.ensembles.runner",
    "run_ensemble": "clusterdyn.ensembles.runner",
    "KPIS": "clusterdyn.ensembles.sensitivity",
    "build_problem": "clusterdyn.ensembles.sensitivity",
    "morris_indices": "clusterdyn.ensembles.sensitivity",
    "sobol_indices": "clusterdyn.ensembles.sensitivity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'clusterdyn.ensembles' has no attribute {name!r}")
