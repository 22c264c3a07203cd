"""The identification figure: profile likelihood of world demand growth and the forecast it
implies (``clusterdyn.calibration.profile``), for the calibrations to 1995 and to 2003."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from clusterdyn.calibration.profile import PRODUCTION_SERIES
from clusterdyn.errors import UsageError
from clusterdyn.figures.inputs import (
    PROFILED,
    FigureInputs,
    profile_command,
    profile_path,
    relative,
    rounded,
)
from clusterdyn.figures.style import (
    DATA_COLOUR,
    MODEL_COLOUR,
    MUTED,
    OKABE_ITO,
    add_footer,
    log_scale,
    new_figure,
)
from clusterdyn.sdmodels.vectorized import compile_model

__all__ = ["FORECAST_FROM", "PROFILED", "PROFILE_COLUMNS", "compute_profiles",
           "observed_production", "plot_identification"]

#: First year drawn in the forecast panel (the take-off before it is fitted by every point).
FORECAST_FROM = 1988
PROFILE_COLUMNS = ["fit", "value", "delta", "accepted", "threshold"]
#: The profiled parameter is a growth rate per year (model units 1/Year), drawn in percent.
PERCENT = 100.0
RATE_LABEL = f"{PROFILED} (%/year)"


def _fit_year(results: Mapping[str, Any]) -> int:
    return int(results["calibration"]["fit_years"][1])


def compute_profiles(inputs: FigureInputs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Shipped profiles of :data:`PROFILED` for both calibrations, and the 1995 forecasts.

    The profiles are read from the committed CSVs (``clusterdyn profile``, see
    :func:`clusterdyn.figures.inputs.profile_path`), never re-optimised here: an optimisation's last
    digits follow the processor, a committed file does not. Only the forecasts are computed,
    by deterministic model runs from the refitted parameters of the accepted points.

    Returns
    -------
    profiles : pandas.DataFrame
        Columns :data:`PROFILE_COLUMNS` (``value`` in model units, 1/Year); ``fit`` is the
        last fitted year.
    forecasts : pandas.DataFrame
        Production (t/year) of every accepted point of the hold-out profile, index year, one
        column per value of the parameter; rounded (:func:`clusterdyn.figures.inputs.rounded`).
    """
    parts = []
    for path, results in ((inputs.holdout_file, inputs.holdout),
                          (inputs.calibration_file, inputs.calibration)):
        part = inputs.profile(path)[PROFILE_COLUMNS[1:]]
        parts.append(part.assign(fit=_fit_year(results))[PROFILE_COLUMNS])
    profiles = pd.concat(parts, ignore_index=True)
    return profiles, _forecasts(inputs, inputs.holdout_file)


def _forecasts(inputs: FigureInputs, results_file: Path) -> pd.DataFrame:
    """Production of every accepted row of a profile table, one column per value."""
    profile = inputs.profile(results_file)
    accepted = profile[profile["accepted"]]
    names = [p.name for p in inputs.spec.parameters]
    missing = [n for n in names if n not in profile.columns]
    if missing:
        raise UsageError(f"{relative(profile_path(results_file))} has no column for {missing}: "
                         f"rewrite it with `{profile_command(results_file)}`")
    run = compile_model(inputs.model).run(
        {n: accepted[n].to_numpy(dtype=float) for n in names}, until=2003,
        variables=["Production"])
    return rounded(pd.DataFrame(run.get("Production").T,
                                index=pd.Index(run.years, name="year"),
                                columns=accepted["value"].to_list()))


def plot_identification(profiles: pd.DataFrame, forecasts: pd.DataFrame, observed: pd.Series,
                        footer: Sequence[str]) -> Figure:
    """Left: rise of the objective along the profile; right: the accepted forecasts.

    Parameters
    ----------
    profiles, forecasts : pandas.DataFrame
        From :func:`compute_profiles`.
    observed : pandas.Series
        FAO production (t/year), index year.
    footer : sequence of str
    """
    fig = new_figure(11.0, 4.4)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    _plot_profiles(left, profiles)
    last = int(profiles["fit"].min())
    norm = _plot_forecasts(right, forecasts, observed, last)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=colormaps["viridis"]), ax=right, pad=0.02)
    bar.set_label(RATE_LABEL, fontsize=8)
    fig.suptitle(f"Identification: world demand growth from the 1978-{last} data, and the "
                 f"{last + 1}-2003 forecast")
    add_footer(fig, footer)
    return fig


def _plot_profiles(ax: Axes, profiles: pd.DataFrame) -> None:
    colours = {min(profiles["fit"]): OKABE_ITO["vermillion"], max(profiles["fit"]): MODEL_COLOUR}
    for fit, part in profiles.groupby("fit"):
        colour = colours[fit]
        ax.plot(part["value"] * PERCENT, part["delta"], color=colour, lw=1.6, marker="o",
                ms=3.2, label=f"fit to 1978-{fit}")
        ax.axhline(part["threshold"].iloc[0], color=colour, lw=0.8, ls="--")
    ax.set_ylim(0, 12)
    ax.set_xlabel(RATE_LABEL)
    ax.set_ylabel("rise of the objective above its minimum")
    ax.set_title("Profile likelihood (dashed: 95% bound)", fontsize=9.5)
    ax.legend(fontsize=7.5, loc="upper center")


def _plot_forecasts(ax: Axes, forecasts: pd.DataFrame, observed: pd.Series,
                    last: int) -> Normalize:
    """Forecast lines coloured by the parameter (in %/year), FAO points and their ±35%."""
    cmap = colormaps["viridis"]
    values = np.asarray(forecasts.columns, dtype=float) * PERCENT
    norm = Normalize(values.min(), values.max())
    window = forecasts.loc[FORECAST_FROM:]
    for k, value in enumerate(values):
        ax.plot(window.index, window.iloc[:, k], color=cmap(norm(value)), lw=1.1)
    years = observed.loc[FORECAST_FROM:].index
    ax.fill_between(years, observed.loc[years] * 0.65, observed.loc[years] * 1.35,
                    color=MUTED, alpha=0.18, lw=0)
    ax.plot(years, observed.loc[years], ls="", marker="o", color=DATA_COLOUR, ms=3.6)
    ax.axvline(last + 0.5, color=MUTED, lw=0.8, ls="--")
    log_scale(ax)
    ax.set_xlabel("year")
    ax.set_ylabel("Chilean salmon production (t/year, log scale)")
    ax.set_title(f"Production of every value the 1978-{last} data accept", fontsize=9.5)
    ax.legend(fontsize=7.5, loc="lower right", handles=[
        Line2D([], [], ls="", marker="o", color=DATA_COLOUR, ms=3.6, label="FAO"),
        Line2D([], [], color=MUTED, lw=6, alpha=0.35, label="FAO ±35%"),
    ])
    return norm


def observed_production(inputs: FigureInputs) -> pd.Series:
    """FAO production of Chile (t/year), index year."""
    return inputs.observations[PRODUCTION_SERIES].dropna()
