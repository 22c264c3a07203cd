"""The identification figure: profile likelihood of world demand growth and the forecast it
implies (``calibration.profile``), for the calibrations to 1995 and to 2003."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from calibration.profile import PRODUCTION_SERIES, ProfileResult, profile_from_results
from figures.inputs import FigureInputs
from figures.style import (
    DATA_COLOUR,
    MODEL_COLOUR,
    MUTED,
    OKABE_ITO,
    add_footer,
    log_scale,
    new_figure,
)
from sdmodels.vectorized import compile_model

#: The parameter profiled: the one the 1995 data leave loosest among those the stage-3 forecast
#: depends on (see calibration/results/profile_demand_growth_until_1995.md).
PROFILED = "Maximum demand growth rate"
PROFILE_POINTS = 21
#: First year drawn in the forecast panel (the take-off before it is fitted by every point).
FORECAST_FROM = 1988
PROFILE_COLUMNS = ["fit", "value", "delta", "accepted", "threshold"]


def compute_profiles(inputs: FigureInputs) -> tuple[pd.DataFrame, pd.DataFrame, ProfileResult]:
    """Profiles of :data:`PROFILED` for both shipped calibrations, and the forecasts.

    Returns
    -------
    profiles : pandas.DataFrame
        Columns :data:`PROFILE_COLUMNS`; ``fit`` is the last fitted year.
    forecasts : pandas.DataFrame
        Production of every accepted point of the 1995 profile, index year, one column per
        value of the parameter.
    holdout : ProfileResult
        The 1995 profile itself.
    """
    rows = []
    results = {}
    for path in (inputs.holdout_file, inputs.calibration_file):
        result = profile_from_results(path, PROFILED, points=PROFILE_POINTS, progress=False)
        results[result.fit_years[1]] = result
        rows += [{"fit": result.fit_years[1], "value": p.value, "delta": p.delta,
                  "accepted": p.accepted, "threshold": result.threshold} for p in result.points]
    holdout = results[min(results)]
    accepted = [p for p in holdout.points if p.accepted]
    names = list(accepted[0].params)
    run = compile_model(inputs.model).run(
        {n: np.array([p.params[n] for p in accepted]) for n in names}, until=2003,
        variables=["Production"])
    forecasts = pd.DataFrame(run.get("Production").T, index=pd.Index(run.years, name="year"),
                             columns=[p.value for p in accepted])
    return pd.DataFrame(rows, columns=PROFILE_COLUMNS), forecasts, holdout


def plot_identification(profiles: pd.DataFrame, forecasts: pd.DataFrame, holdout: ProfileResult,
                        observed: pd.Series, units: str, footer: Sequence[str]) -> Figure:
    """Left: rise of the objective along the profile; right: the accepted forecasts."""
    fig = new_figure(11.0, 4.4)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    colours = {min(profiles["fit"]): OKABE_ITO["vermillion"], max(profiles["fit"]): MODEL_COLOUR}
    for fit, part in profiles.groupby("fit"):
        colour = colours[fit]
        left.plot(part["value"], part["delta"], color=colour, lw=1.6, marker="o", ms=3.2,
                  label=f"fit to 1978-{fit}")
        left.axhline(part["threshold"].iloc[0], color=colour, lw=0.8, ls="--")
    left.set_ylim(0, 12)
    left.set_xlabel(f"{PROFILED} ({units})")
    left.set_ylabel("rise of the objective above its minimum")
    left.set_title("Profile likelihood (dashed: 95% bound)", fontsize=9.5)
    left.legend(fontsize=7.5, loc="upper center")

    last = holdout.fit_years[1]
    cmap = colormaps["viridis"]
    norm = Normalize(min(forecasts.columns), max(forecasts.columns))
    window = forecasts.loc[FORECAST_FROM:]
    for value in forecasts.columns:
        right.plot(window.index, window[value], color=cmap(norm(value)), lw=1.1)
    years = observed.loc[FORECAST_FROM:].index
    right.fill_between(years, observed.loc[years] * 0.65, observed.loc[years] * 1.35,
                       color=MUTED, alpha=0.18, lw=0)
    right.plot(years, observed.loc[years], ls="", marker="o", color=DATA_COLOUR, ms=3.6)
    right.axvline(last + 0.5, color=MUTED, lw=0.8, ls="--")
    log_scale(right)
    right.set_xlabel("year")
    right.set_ylabel("Chilean salmon production (t/year, log scale)")
    right.set_title(f"Production of every value the 1978-{last} data accept", fontsize=9.5)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=right, pad=0.02)
    bar.set_label(f"{PROFILED} ({units})", fontsize=8)
    right.legend(fontsize=7.5, loc="lower right", handles=[
        Line2D([], [], ls="", marker="o", color=DATA_COLOUR, ms=3.6, label="FAO"),
        Line2D([], [], color=MUTED, lw=6, alpha=0.35, label="FAO ±35%"),
    ])
    fig.suptitle(f"Identification: world demand growth from the 1978-{last} data, and the "
                 f"{last + 1}-2003 forecast")
    add_footer(fig, footer)
    return fig


def observed_production(inputs: FigureInputs) -> pd.Series:
    """FAO production of Chile (t/year), index year."""
    return inputs.observations[PRODUCTION_SERIES].dropna()
