"""The Monte Carlo bands figure: the calibrated model's outputs over its parameter intervals."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from ensembles.bands import monte_carlo_bands
from ensembles.plots import plot_bands
from figures.inputs import FigureInputs

#: Runs and seed of the figure's ensemble: 2,000 runs put each percentile of the 95% band on
#: about 50 runs, and take well under a second with the compiled runner.
BAND_RUNS = 2_000
BAND_SEED = 0
#: Outputs drawn (the public outputs whose uncertainty the calibration speaks to).
BAND_VARIABLES = ("Production", "Price", "Export value", "World market share",
                  "Supplier base", "Social capital")


def compute_bands(inputs: FigureInputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Band table of :data:`BAND_VARIABLES` and the calibrated run (index year)."""
    bands = monte_carlo_bands(inputs.model, BAND_RUNS, seed=BAND_SEED,
                              results=inputs.calibration_file, variables=BAND_VARIABLES,
                              sampling="mcmc")
    reference = inputs.model_run(inputs.calibrated_params, 2003, list(BAND_VARIABLES))
    return bands, reference


def plot_monte_carlo_bands(bands: pd.DataFrame, reference: pd.DataFrame,
                           footer: list[str]) -> Figure:
    """Vensim-style nested bands (50/75/95/100% of runs), median and calibrated run."""
    return plot_bands(bands, reference, title=f"Posterior bands, {BAND_RUNS:,} runs "
                      f"(parameter sets resampled from the MCMC draws, seed {BAND_SEED})",
                      footer=footer)
