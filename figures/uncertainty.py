"""The Monte Carlo bands figure: the calibrated model's outputs over its posterior.

:func:`compute_bands` (inputs -> band table and calibrated run) and
:func:`plot_monte_carlo_bands` (tables -> :class:`matplotlib.figure.Figure`), drawn in the
figure set's style (:mod:`clusterdyn.figures.style`: bold titles, stages shaded and named on top,
footer), not in the stand-alone style of :func:`clusterdyn.ensembles.plots.plot_bands`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from clusterdyn.ensembles.bands import BANDS, monte_carlo_bands
from clusterdyn.figures.inputs import FigureInputs, rounded
from clusterdyn.figures.palette import LOG_OUTPUTS
from clusterdyn.figures.style import (
    ACCENT_COLOUR,
    DATA_COLOUR,
    add_footer,
    display_values,
    log_scale,
    new_figure,
    shade_stages,
)

#: Runs and seed of the figure's ensemble: 2,000 runs put each percentile of the 95% band on
#: about 50 runs, and take well under a second with the compiled runner.
BAND_RUNS = 2_000
BAND_SEED = 0
#: Outputs drawn (the public outputs whose uncertainty the calibration speaks to).
BAND_VARIABLES = ("Production", "Price", "Export value", "World market share",
                  "Supplier base", "Social capital")
#: Single-hue sequential blues (ColorBrewer "Blues"), widest band lightest: readable with any
#: colour-vision deficiency and in grey scale.
BAND_COLOURS: Mapping[int, str] = {100: "#deebf7", 95: "#9ecae1", 75: "#6baed6", 50: "#3182bd"}


def compute_bands(inputs: FigureInputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Band table of :data:`BAND_VARIABLES` and the calibrated run (index year), rounded.

    Returns
    -------
    bands : pandas.DataFrame
        :func:`clusterdyn.ensembles.bands.monte_carlo_bands` of :data:`BAND_RUNS` parameter sets
        resampled from the full calibration's MCMC draws.
    reference : pandas.DataFrame
        The calibrated run, index year, one column per variable.
    """
    bands = monte_carlo_bands(inputs.model, BAND_RUNS, seed=BAND_SEED,
                              results=inputs.calibration_file, variables=BAND_VARIABLES,
                              sampling="mcmc")
    reference = inputs.model_run(inputs.calibrated_params, 2003, list(BAND_VARIABLES))
    return rounded(bands), rounded(reference)


def _panel(ax: Axes, variable: str, part: pd.DataFrame, reference: pd.DataFrame | None) -> None:
    """Nested bands, median and calibrated run of one variable (in display units)."""
    for band in sorted(BANDS, reverse=True):
        rows = part[part["band"] == band].sort_values("year")
        ax.fill_between(rows["year"], display_values(variable, rows["low"]),
                        display_values(variable, rows["high"]), lw=0,
                        color=BAND_COLOURS[band], zorder=1)
    median = part[part["band"] == BANDS[0]].sort_values("year")
    ax.plot(median["year"], display_values(variable, median["median"]), color=DATA_COLOUR,
            lw=1.2, zorder=2)
    if reference is not None and variable in reference.columns:
        ax.plot(reference.index, display_values(variable, reference[variable]),
                color=ACCENT_COLOUR, lw=1.2, ls="--", zorder=3)
    if variable in LOG_OUTPUTS:
        log_scale(ax)
    else:
        # Linear from zero, as in the other figures: a log axis would stretch the supplier
        # base's fraction of a firm in the 1980s over as much height as its 170 firms.
        ax.set_ylim(bottom=0)


def plot_monte_carlo_bands(bands: pd.DataFrame, reference: pd.DataFrame | None,
                           stages: Sequence[tuple[str, float, float]],
                           units: Mapping[str, str], footer: Sequence[str]) -> Figure:
    """Vensim-style nested bands (50/75/95/100% of runs), median and calibrated run.

    Parameters
    ----------
    bands : pandas.DataFrame
        A band table (:func:`clusterdyn.ensembles.bands.band_table`), from :func:`compute_bands`.
    reference : pandas.DataFrame, optional
        The calibrated run (index year, one column per variable), drawn dashed.
    stages : sequence of (stage, start, end)
    units : mapping
        Y-axis label per variable (shares in %).
    footer : sequence of str
    """
    variables = list(dict.fromkeys(bands["variable"]))
    cols = 3
    rows = -(-len(variables) // cols)
    fig = new_figure(10.5, 3.0 * rows + 1.0)
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[1.0] * rows + [0.12])
    axes = [fig.add_subplot(grid[k // cols, k % cols]) for k in range(len(variables))]
    for k, (ax, variable) in enumerate(zip(axes, variables, strict=True)):
        shade_stages(ax, stages, label=k < cols)
        _panel(ax, variable, bands[bands["variable"] == variable], reference)
        ax.set_title(variable)
        ax.set_ylabel(units[variable] + (" (log scale)" if variable in LOG_OUTPUTS else ""))
        if k >= len(variables) - cols:
            ax.set_xlabel("year")
    handles = [Patch(color=BAND_COLOURS[b], label=f"{b}% of runs") for b in BANDS]
    handles += [Line2D([], [], color=DATA_COLOUR, lw=1.2, label="median"),
                Line2D([], [], color=ACCENT_COLOUR, lw=1.2, ls="--", label="calibrated run")]
    legend_ax = fig.add_subplot(grid[rows, :])
    legend_ax.set_axis_off()
    legend_ax.legend(handles=handles, loc="center", ncols=len(handles))
    fig.suptitle(f"Posterior bands: {BAND_RUNS:,} parameter sets resampled from the MCMC "
                 f"draws (seed {BAND_SEED})")
    add_footer(fig, footer)
    return fig
