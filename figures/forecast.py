"""The forecast figures: the hold-out fan chart of the model's posterior predictive
distribution with the naive baselines overlaid, and the skill of every method by horizon over
the rolling origins (:mod:`forecasting`).

The figure set draws it from the committed rolling-origin results
(``forecasting/results/forecast.csv`` and ``skill_by_horizon.csv``, written by
``clusterdyn forecast --origins ...``): nothing is re-calibrated or re-sampled at render time.
``clusterdyn forecast`` draws the same figure from the result it has just computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullFormatter

from clusterdyn.figures.style import (
    DATA_COLOUR,
    MODEL_COLOUR,
    MUTED,
    OKABE_ITO,
    add_footer,
    log_scale,
    new_figure,
)
from clusterdyn.forecasting.shipped import BEYOND_DIR, FORECAST_FILE, HORIZON_FILE, OBSERVED_FILE

#: The origin of the fan chart when the results hold several (the README's hold-out year).
FAN_ORIGIN = 1995
#: First year drawn in the fan charts (the take-off before it is fitted by every method).
FAN_FROM = 1985
FAN_VARIABLES = ("Production", "Price")
METHOD_STYLE: dict[str, dict[str, object]] = {
    "model": {"color": MODEL_COLOUR, "ls": "-", "lw": 1.9, "label": "model, run at the estimates"},
    "random_walk_drift": {"color": OKABE_ITO["orange"], "ls": "--", "lw": 1.2,
                          "label": "random walk with drift"},
    "loglinear_trend": {"color": OKABE_ITO["bluish_green"], "ls": "-.", "lw": 1.2,
                        "label": "log-linear trend, last 5 years"},
    "logistic": {"color": OKABE_ITO["reddish_purple"], "ls": ":", "lw": 1.5,
                 "label": "logistic curve"},
    "gompertz": {"color": OKABE_ITO["vermillion"], "ls": (0, (5, 1)), "lw": 1.2,
                 "label": "Gompertz curve"},
}
#: Tick values of a log axis spanning less than two decades.
PLAIN_TICKS = (0.1, 0.2, 0.3, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100)
BAND_ALPHAS = {"95": 0.16, "80": 0.24, "50": 0.36}


def fan_origin(forecasts: pd.DataFrame) -> int:
    """The origin drawn in the fan chart: :data:`FAN_ORIGIN` if present, else the latest."""
    origins = sorted(int(o) for o in forecasts["origin"].unique())
    return FAN_ORIGIN if FAN_ORIGIN in origins else origins[-1]


def compute_forecast_skill() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The committed forecasts, skill by horizon and observations (no computation).

    Returns
    -------
    tuple of pandas.DataFrame
        ``forecast.csv``, ``skill_by_horizon.csv`` and ``observed.csv`` as committed.
    """
    return (pd.read_csv(FORECAST_FILE), pd.read_csv(HORIZON_FILE),
            pd.read_csv(OBSERVED_FILE))


def _fan_panel(ax: Axes, forecasts: pd.DataFrame, observed: pd.DataFrame, variable: str,
               origin: int) -> None:
    part = forecasts[(forecasts["variable"] == variable) & (forecasts["origin"] == origin)]
    model = part[part["method"] == "model"]
    for level, alpha in BAND_ALPHAS.items():
        ax.fill_between(model["year"], model[f"lower_{level}"], model[f"upper_{level}"],
                        color=MODEL_COLOUR, alpha=alpha, lw=0, zorder=1.5)
    for method, style in METHOD_STYLE.items():
        line = part[part["method"] == method]
        ax.plot(line["year"], line["point"], color=style["color"], ls=style["ls"],
                lw=style["lw"], zorder=2.5 if method == "model" else 2)
    data = observed[(observed["variable"] == variable) & (observed["year"] >= FAN_FROM)
                    & (observed["year"] <= int(part["year"].max()))]
    fitted = data[data["year"] <= origin]
    held = data[data["year"] > origin]
    ax.plot(fitted["year"], fitted["value"], "o", color=DATA_COLOUR, ms=3.6, zorder=3)
    ax.plot(held["year"], held["value"], "o", mfc="white", mec=DATA_COLOUR, ms=3.8, zorder=3)
    ax.axvline(origin + 0.5, color=MUTED, lw=0.8, ls="--", zorder=1)
    ax.set_xlim(FAN_FROM - 0.5, int(part["year"].max()) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_yscale("log")
    low, high = ax.get_ylim()
    if high / low > 100:
        log_scale(ax)
    else:  # a price within two decades: plain numbers at round values on the log axis
        ticks = [v for v in PLAIN_TICKS if low <= v <= high]
        ax.set_yticks(ticks, [f"{v:g}" for v in ticks])
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("year")


def _skill_panel(ax: Axes, by_horizon: pd.DataFrame, variable: str) -> None:
    part = by_horizon[by_horizon["variable"] == variable]
    for method, style in METHOD_STYLE.items():
        line = part[part["method"] == method].sort_values("horizon")
        ax.plot(line["horizon"], line["crps"], color=style["color"], ls=style["ls"],
                lw=style["lw"], marker="o", ms=3.0)
    ax.set_xlabel("horizon (years after the origin)")
    ax.set_ylabel("mean CRPS (on the log scale)")
    ax.set_ylim(bottom=0)
    ax.set_xticks(sorted(int(h) for h in part["horizon"].unique()))


def _handles() -> list[Line2D | Patch]:
    handles: list[Line2D | Patch] = [
        Line2D([], [], color=s["color"], ls=s["ls"], lw=s["lw"], label=s["label"])
        for s in METHOD_STYLE.values()]
    handles += [Patch(color=MODEL_COLOUR, alpha=BAND_ALPHAS[level] + 0.1 * (level == "95"),
                      lw=0, label=f"model {level}% posterior predictive")
                for level in BAND_ALPHAS]
    handles += [Line2D([], [], ls="", marker="o", color=DATA_COLOUR, ms=3.6,
                       label="FAO, fitted"),
                Line2D([], [], ls="", marker="o", mfc="white", mec=DATA_COLOUR, ms=3.8,
                       label="FAO, held out")]
    return handles


def plot_forecast_skill(forecasts: pd.DataFrame, by_horizon: pd.DataFrame,
                        observed: pd.DataFrame, units: dict[str, str],
                        footer: Sequence[str]) -> Figure:
    """Fan charts of production and price from one origin, and CRPS by horizon.

    Parameters
    ----------
    forecasts : pandas.DataFrame
        ``forecast.csv`` (:data:`clusterdyn.forecasting.evaluate.FORECAST_COLUMNS`).
    by_horizon : pandas.DataFrame
        ``skill_by_horizon.csv``
        (:meth:`clusterdyn.forecasting.evaluate.ForecastResult.by_horizon`).
    observed : pandas.DataFrame
        The data: ``year``, ``variable``, ``value``
        (:attr:`clusterdyn.forecasting.evaluate.ForecastResult.observed`).
    units : dict of str to str
        Axis label of each fan variable.
    footer : sequence of str
        Source lines.
    """
    origin = fan_origin(forecasts)
    origins = sorted(int(o) for o in forecasts["origin"].unique())
    fig = new_figure(11.0, 7.4)
    grid = fig.add_gridspec(3, 2, height_ratios=[1.0, 1.0, 0.3])
    for k, variable in enumerate(FAN_VARIABLES):
        ax = fig.add_subplot(grid[0, k])
        _fan_panel(ax, forecasts, observed, variable, origin)
        ax.set_ylabel(f"{units[variable]} (log scale)")
        ax.set_title(f"{variable}: fitted to {origin}, forecast {origin + 1}-"
                     f"{int(forecasts['year'][forecasts['origin'] == origin].max())}",
                     fontsize=9.5)
        skill = fig.add_subplot(grid[1, k])
        _skill_panel(skill, by_horizon, variable)
        skill.set_title(f"{variable}: mean CRPS by horizon (lower is better)", fontsize=9.5)
    legend_ax = fig.add_subplot(grid[2, :])
    legend_ax.set_axis_off()
    legend_ax.legend(handles=_handles(), loc="center", ncols=4, fontsize=7.5)
    fig.suptitle("Forecast skill: the model's posterior predictive distribution against naive "
                 "baselines fitted to the same window\n"
                 f"(skill from origin{'s' if len(origins) > 1 else ''} "
                 f"{', '.join(map(str, origins))})", fontsize=11.5)
    add_footer(fig, footer)
    return fig


def compute_beyond(results_dir: Path = BEYOND_DIR) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The committed forecast beyond the data and the data it was fitted to (no computation).

    Returns
    -------
    tuple of pandas.DataFrame
        ``forecast.csv`` (model and baselines, 2004-2012) and ``observed.csv`` (FAO up to 2003).
    """
    return (pd.read_csv(results_dir / "forecast.csv"),
            pd.read_csv(results_dir / "observed.csv"))


def plot_beyond(forecasts: pd.DataFrame, observed: pd.DataFrame, ceiling: float,
                units: dict[str, str], footer: Sequence[str]) -> Figure:
    """Production and price from 1985, and the model's posterior predictive after 2003.

    Parameters
    ----------
    forecasts : pandas.DataFrame
        ``forecast.csv`` of the forecast from the full calibration (one origin, no data after).
    observed : pandas.DataFrame
        The data the calibration was fitted to: ``year``, ``variable``, ``value``.
    ceiling : float
        The calibrated biophysical ceiling (t/Year), drawn on the production panel.
    units : dict of str to str
        Axis label of each variable.
    footer : sequence of str
        Source lines.
    """
    origin = int(forecasts["origin"].iloc[0])
    last = int(forecasts["year"].max())
    fig = new_figure(11.0, 5.2)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.0, 0.22])
    for k, variable in enumerate(FAN_VARIABLES):
        ax = fig.add_subplot(grid[0, k])
        _fan_panel(ax, forecasts, observed, variable, origin)
        if variable == "Production":
            ax.axhline(ceiling, color=MUTED, lw=1.0, ls=":", zorder=1)
            ax.annotate(f"biophysical ceiling at the estimates, {ceiling:,.0f} t",
                        (FAN_FROM, ceiling), xytext=(2, 3), textcoords="offset points",
                        fontsize=7.5, color=MUTED, va="bottom")
        ax.set_ylabel(f"{units[variable]} (log scale)")
        ax.set_title(f"{variable}: fitted to 1978-{origin}, forecast {origin + 1}-{last}",
                     fontsize=9.5)
    legend_ax = fig.add_subplot(grid[1, :])
    legend_ax.set_axis_off()
    handles = [h for h in _handles() if h.get_label() != "FAO, held out"]
    legend_ax.legend(handles=handles, loc="center", ncols=4, fontsize=7.5)
    fig.suptitle("Beyond the data: the full calibration's posterior predictive for "
                 f"{origin + 1}-{last}, against naive baselines\n(conditional on the rest of "
                 "the world's FAO production to 2012; Chile's own data after 2003 are not "
                 "shipped)", fontsize=11.0)
    add_footer(fig, footer)
    return fig
