"""Figures of the calibrated model against the data: fit, lifecycle, hold-out, parameters.

Each figure has a ``compute_*`` function (inputs -> DataFrame, numbers rounded by
:func:`clusterdyn.figures.inputs.rounded`) and a ``plot_*`` function (DataFrame ->
:class:`matplotlib.figure.Figure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from clusterdyn.figures.inputs import FigureInputs, rounded
from clusterdyn.figures.style import (
    ACCENT_COLOUR,
    DATA_COLOUR,
    MODEL_COLOUR,
    MUTED,
    OKABE_ITO,
    add_footer,
    display_values,
    log_scale,
    new_figure,
    shade_stages,
    thousands,
    unit_label,
    year_limits,
)

#: Variables compared with data, with their axis scale (log for production).
FIT_VARIABLES: dict[str, str] = {"Production": "log", "Price": "linear",
                                 "World market share": "linear"}
FIT_COLUMNS = ["year", "variable", "model", "observed", "fitted"]
HOLDOUT_COLUMNS = ["year", "variable", "model", "reference", "observed", "fitted", "sample",
                   "band_low", "band_high"]
#: Monte Carlo runs and seed of the hold-out figure's 95% band (parameter sets resampled from the
#: 1995 calibration's MCMC posterior draws, ``clusterdyn.ensembles.bands.mcmc_sample``).
HOLDOUT_BAND_RUNS = 2_000
HOLDOUT_BAND_SEED = 0
#: Key stocks of the lifecycle figure (all stocks of the model).
LIFECYCLE_VARIABLES: tuple[str, ...] = ("Production capacity", "Price", "Supplier base",
                                        "Social capital", "Technological capability",
                                        "Sanitary pressure")
PARAMETER_COLUMNS = ["parameter", "units", "value", "lower_95", "upper_95", "search_lower",
                     "search_upper", "identified", "at_bound", "value_norm", "lower_norm",
                     "upper_norm"]
_AXIS_LABELS: dict[str, str] = {
    "World market share": "share of world farmed salmon (%)",
    "Technological capability": "fraction of best practice",
    "Social capital": "index (dimensionless)",
    "Sanitary pressure": "index (dimensionless)",
}


def axis_label(inputs: FigureInputs, variable: str) -> str:
    """Y-axis label with units for a model variable."""
    return _AXIS_LABELS.get(variable, unit_label(inputs.model.variables[variable].units))


def _scale(variable: str, values: pd.Series) -> pd.Series:
    return display_values(variable, values)


def _target_table(inputs: FigureInputs, last_year: int) -> dict[str, tuple[str, pd.Series]]:
    """For each fitted variable: the data series name and whether each year is fitted."""
    out = {}
    observations = inputs.observations
    for target in inputs.spec.targets:
        years = observations.index
        fitted = ((years >= target.first_year) & (years <= last_year)
                  & ~years.isin(target.exclude_years) & (target.weight > 0)
                  & observations[target.series].notna())
        out[target.variable] = (target.series, pd.Series(fitted, index=years))
    return out


def compute_calibration_fit(inputs: FigureInputs) -> pd.DataFrame:
    """Calibrated model against the FAO data, 1978-2003.

    Returns
    -------
    pandas.DataFrame
        Long format, columns ``year, variable, model, observed, fitted`` (``fitted``: the
        observation enters the calibration objective).
    """
    run = inputs.model_run(inputs.calibrated_params, 2003, list(FIT_VARIABLES))
    targets = _target_table(inputs, int(inputs.calibration["calibration"]["fit_years"][1]))
    rows = []
    for variable in FIT_VARIABLES:
        series, fitted = targets[variable]
        rows.append(pd.DataFrame({
            "year": run.index, "variable": variable, "model": run[variable].to_numpy(),
            "observed": inputs.observations.loc[run.index, series].to_numpy(),
            "fitted": fitted.loc[run.index].to_numpy()}))
    return rounded(pd.concat(rows, ignore_index=True)[FIT_COLUMNS])


def _stat_line(stats: Mapping[str, Any] | None, prefix: str = "", r2: bool = True) -> str:
    if not stats:
        return ""
    return (prefix + (f"R² {stats['r2']:.3f}, " if r2 else "")
            + f"MAPE {stats['mape']:.1%}, Theil U {stats['theil_u']:.3f}")


def _data_points(ax: Axes, part: pd.DataFrame, y: str, scale: str) -> None:
    observed = part.dropna(subset=["observed"])
    if scale == "log":
        observed = observed[observed["observed"] > 0]
    used = observed[observed["fitted"]]
    unused = observed[~observed["fitted"]]
    ax.plot(used["year"], used[y], "o", color=DATA_COLOUR, ms=3.8, zorder=3)
    ax.plot(unused["year"], unused[y], "o", mfc="white", mec=DATA_COLOUR, ms=3.8, mew=0.9,
            zorder=3)


def plot_calibration_fit(frame: pd.DataFrame, stages: Sequence[tuple[str, float, float]],
                         fit_stats: Mapping[str, Mapping[str, Any]],
                         units: Mapping[str, str], footer: Sequence[str]) -> Figure:
    """Model vs FAO data for production (log scale), price and world market share.

    Parameters
    ----------
    frame : pandas.DataFrame
        From :func:`compute_calibration_fit`.
    stages : sequence of (stage, start, end)
    fit_stats : mapping
        The results file's ``[fit]`` table (R², MAPE, Theil U per variable).
    units : mapping
        Y-axis label per variable.
    footer : sequence of str
        Source lines.
    """
    fig = new_figure(11.0, 4.0)
    axes = fig.subplots(1, len(FIT_VARIABLES))
    for ax, (variable, scale) in zip(axes, FIT_VARIABLES.items(), strict=True):
        part = frame[frame["variable"] == variable].assign(
            model=lambda d, v=variable: _scale(v, d["model"]),
            observed=lambda d, v=variable: _scale(v, d["observed"]))
        shade_stages(ax, stages)
        ax.plot(part["year"], part["model"], color=MODEL_COLOUR, lw=1.8, zorder=2)
        _data_points(ax, part, "observed", scale)
        if scale == "log":
            log_scale(ax)
        ax.set_xlabel("year")
        ax.set_ylabel(units[variable] + (" (log scale)" if scale == "log" else ""))
        subtitle = _stat_line(fit_stats.get(variable))
        ax.set_title(variable + ("\n" + subtitle if subtitle else ""), fontsize=9.5)
    axes[0].legend(handles=[
        Line2D([], [], color=MODEL_COLOUR, lw=1.8, label="model (calibrated)"),
        Line2D([], [], ls="", marker="o", color=DATA_COLOUR, ms=3.8, label="FAO, fitted"),
        Line2D([], [], ls="", marker="o", mfc="white", mec=DATA_COLOUR, ms=3.8,
               label="FAO, not fitted"),
    ], loc="lower right")
    fig.suptitle("Calibration: the model against FAO data, Chile 1978-2003")
    add_footer(fig, footer)
    return fig


def compute_lifecycle(inputs: FigureInputs) -> pd.DataFrame:
    """The calibrated run's stocks, 1978-2003.

    Returns
    -------
    pandas.DataFrame
        Index ``year``; columns :data:`LIFECYCLE_VARIABLES` and ``Lifecycle stage``.
    """
    return rounded(inputs.model_run(inputs.calibrated_params, 2003,
                                    [*LIFECYCLE_VARIABLES, "Lifecycle stage"]))


def plot_lifecycle(frame: pd.DataFrame, stages: Sequence[tuple[str, float, float]],
                   units: Mapping[str, str], footer: Sequence[str]) -> Figure:
    """The key stocks over time, stages shaded (2 x 3 small multiples)."""
    fig = new_figure(10.5, 6.2)
    axes = fig.subplots(2, 3, sharex=True).ravel()
    for k, (ax, variable) in enumerate(zip(axes, LIFECYCLE_VARIABLES, strict=True)):
        shade_stages(ax, stages, label=k < 3)
        ax.plot(frame.index, frame[variable], color=MODEL_COLOUR, lw=1.8)
        ax.set_title(variable)
        ax.set_ylabel(units[variable])
        ax.set_ylim(bottom=0)
        if frame[variable].max() >= 10_000:
            thousands(ax)
        if k >= 3:
            ax.set_xlabel("year")
    fig.suptitle("Lifecycle of the Chilean salmon cluster: key stocks of the calibrated model")
    add_footer(fig, footer)
    return fig


def compute_holdout(inputs: FigureInputs) -> pd.DataFrame:
    """Model calibrated on 1978-1995 forecasting 1996-2003, against the data.

    Returns
    -------
    pandas.DataFrame
        Long format, columns ``year, variable, model`` (calibrated to 1995), ``reference``
        (calibrated to 2003), ``observed``, ``fitted`` (the observation entered the 1995
        calibration's objective), ``sample`` (``"in"`` up to 1995, ``"out"`` after) and
        ``band_low``, ``band_high``: the 95% band of the 1995 calibration's posterior
        (parameter sets resampled from its MCMC draws; parameter uncertainty only, no
        observation error).
    """
    from clusterdyn.ensembles.bands import monte_carlo_bands

    params = inputs.parameters_of(inputs.holdout)
    last = int(inputs.holdout["calibration"]["fit_years"][1])
    run = inputs.model_run(params, 2003, list(FIT_VARIABLES))
    full = inputs.model_run(inputs.calibrated_params, 2003, list(FIT_VARIABLES))
    targets = _target_table(inputs, last)
    bands = monte_carlo_bands(inputs.model, HOLDOUT_BAND_RUNS, seed=HOLDOUT_BAND_SEED,
                              results=inputs.holdout_file, variables=list(FIT_VARIABLES),
                              sampling="mcmc")
    band = bands[bands["band"] == 95].set_index(["variable", "year"])
    rows = []
    for variable in FIT_VARIABLES:
        series, fitted = targets[variable]
        rows.append(pd.DataFrame({
            "year": run.index, "variable": variable, "model": run[variable].to_numpy(),
            "reference": full[variable].to_numpy(),
            "observed": inputs.observations.loc[run.index, series].to_numpy(),
            "fitted": fitted.loc[run.index].to_numpy(),
            "sample": np.where(run.index <= last, "in", "out"),
            "band_low": band.loc[variable].loc[run.index, "low"].to_numpy(),
            "band_high": band.loc[variable].loc[run.index, "high"].to_numpy()}))
    return rounded(pd.concat(rows, ignore_index=True)[HOLDOUT_COLUMNS])


#: Forecast-period shading of the hold-out figure (drawn over the stage shading).
FORECAST_SHADE: dict[str, Any] = {"color": OKABE_ITO["sky_blue"], "alpha": 0.18, "lw": 0}
BAND_SHADE: dict[str, Any] = {"color": ACCENT_COLOUR, "alpha": 0.16, "lw": 0}


def _holdout_panel(ax: Axes, part: pd.DataFrame, stages: Sequence[tuple[str, float, float]],
                   last: int, scale: str) -> None:
    """One variable of the hold-out figure: band, forecast period, fits, forecast, data."""
    cut = last + 0.5
    shade_stages(ax, stages)
    ax.fill_between(part["year"], part["band_low"], part["band_high"], zorder=1.5,
                    **BAND_SHADE)
    ax.axvspan(cut, year_limits(stages)[1], zorder=1, **FORECAST_SHADE)
    ax.axvline(cut, color=MUTED, lw=0.8, ls="--", zorder=1)
    inside = part[part["year"] <= last]
    ax.plot(part["year"], part["reference"], color=MUTED, lw=1.0, ls=":", zorder=2)
    ax.plot(inside["year"], inside["model"], color=MODEL_COLOUR, lw=1.8, zorder=2)
    outside = part[part["year"] >= last]
    ax.plot(outside["year"], outside["model"], color=ACCENT_COLOUR, lw=1.8, ls="--", zorder=2)
    _data_points(ax, part, "observed", scale)
    if scale == "log":
        log_scale(ax)


def _holdout_handles(last: int) -> list[Artist]:
    """Legend entries of the hold-out figure, the shaded forecast period included."""
    return [
        Line2D([], [], color=MODEL_COLOUR, lw=1.8, label=f"fit to 1978-{last}"),
        Line2D([], [], color=ACCENT_COLOUR, lw=1.8, ls="--", label=f"forecast {last + 1}-2003"),
        Patch(**BAND_SHADE, label=f"95% posterior band, fit to 1978-{last} (MCMC)"),
        Patch(**FORECAST_SHADE, label=f"forecast period {last + 1}-2003 (not fitted)"),
        Line2D([], [], color=MUTED, lw=1.0, ls=":", label="fit to 1978-2003"),
        Line2D([], [], ls="", marker="o", color=DATA_COLOUR, ms=3.8, label="FAO, fitted"),
        Line2D([], [], ls="", marker="o", mfc="white", mec=DATA_COLOUR, ms=3.8,
               label="FAO, not fitted"),
    ]


def plot_holdout(frame: pd.DataFrame, stages: Sequence[tuple[str, float, float]],
                 holdout_stats: Mapping[str, Mapping[str, Any]], units: Mapping[str, str],
                 footer: Sequence[str]) -> Figure:
    """Hold-out validation: the 1995 calibration's forecast of 1996-2003 against the data.

    The legend sits in a row of its own under the panels, off the data.
    """
    fig = new_figure(11.0, 4.6)
    grid = fig.add_gridspec(2, len(FIT_VARIABLES), height_ratios=[1.0, 0.16])
    last = int(frame.loc[frame["sample"] == "in", "year"].max())
    for k, (variable, scale) in enumerate(FIT_VARIABLES.items()):
        ax = fig.add_subplot(grid[0, k])
        part = frame[frame["variable"] == variable].assign(
            **{c: (lambda d, c=c, v=variable: _scale(v, d[c]))
               for c in ("model", "reference", "observed", "band_low", "band_high")})
        _holdout_panel(ax, part, stages, last, scale)
        ax.set_xlabel("year")
        ax.set_ylabel(units[variable] + (" (log scale)" if scale == "log" else ""))
        subtitle = _stat_line(holdout_stats.get(variable), f"{last + 1}-2003: ", r2=False)
        ax.set_title(variable + ("\n" + subtitle if subtitle else ""), fontsize=9.5)
    legend_ax = fig.add_subplot(grid[1, :])
    legend_ax.set_axis_off()
    legend_ax.legend(handles=_holdout_handles(last), loc="center", ncols=4, fontsize=7.5)
    fig.suptitle(f"Hold-out validation: calibrated to {last}, forecast {last + 1}-2003 "
                 "against FAO data")
    add_footer(fig, footer)
    return fig


def compute_parameters(inputs: FigureInputs) -> pd.DataFrame:
    """Calibrated parameters with 95% intervals, normalised to the search bounds.

    Returns
    -------
    pandas.DataFrame
        One row per calibrated parameter (spec order), columns :data:`PARAMETER_COLUMNS`;
        ``*_norm`` = (x - search lower) / (search upper - search lower).
    """
    bounds = {p.name: (p.lower, p.upper) for p in inputs.spec.parameters}
    rows = []
    for name, p in inputs.calibration["parameters"].items():
        lower, upper = bounds[name]
        span = upper - lower
        rows.append({
            "parameter": name, "units": p["units"], "value": float(p["value"]),
            "lower_95": float(p["lower_95"]), "upper_95": float(p["upper_95"]),
            "search_lower": lower, "search_upper": upper,
            "identified": bool(p["identified"]), "at_bound": bool(p["at_bound"]),
            "value_norm": (p["value"] - lower) / span,
            "lower_norm": (p["lower_95"] - lower) / span,
            "upper_norm": (p["upper_95"] - lower) / span})
    return rounded(pd.DataFrame(rows, columns=PARAMETER_COLUMNS))


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def plot_parameters(frame: pd.DataFrame, footer: Sequence[str]) -> Figure:
    """Forest plot of the calibrated parameters on their search bounds (0 = lower, 1 = upper).

    Not-identified parameters are drawn hollow in vermillion, estimates at a search bound
    with a triangle; the actual value, interval and units are written on the right.
    """
    n = len(frame)
    fig = new_figure(10.5, 1.2 + 0.42 * n)
    ax = fig.subplots()
    y = np.arange(n)[::-1]
    for yi, row in zip(y, frame.itertuples(index=False), strict=True):
        colour = MODEL_COLOUR if row.identified else ACCENT_COLOUR
        ax.plot([row.lower_norm, row.upper_norm], [yi, yi], color=colour, lw=2.2,
                solid_capstyle="butt")
        marker = "^" if row.at_bound else "o"
        ax.plot(row.value_norm, yi, marker, ms=7, color=colour,
                mfc=colour if row.identified else "white", mew=1.4, zorder=3)
        flags = [f for f, on in (("not identified", not row.identified),
                                 ("at bound", row.at_bound)) if on]
        text = (f"{_fmt(row.value)} [{_fmt(row.lower_95)}, {_fmt(row.upper_95)}] "
                f"{unit_label(row.units)}" + (f"  ({', '.join(flags)})" if flags else ""))
        ax.annotate(text, (1.03, yi), xycoords=("axes fraction", "data"), va="center",
                    fontsize=7.5, color=colour, annotation_clip=False)
        ax.annotate(f"search [{_fmt(row.search_lower)}, {_fmt(row.search_upper)}]",
                    (-0.02, yi - 0.3), xycoords=("axes fraction", "data"), ha="right",
                    va="center", fontsize=6.3, color=MUTED, annotation_clip=False)
    ax.set_yticks(y, frame["parameter"])
    ax.set_ylim(-0.8, n - 0.4)
    ax.set_xlim(-0.03, 1.03)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0],
                  ["lower\nbound", "0.25", "0.5", "0.75", "upper\nbound"])
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("position in the search interval (linear, 0 = lower bound, 1 = upper bound)")
    ax.legend(handles=[
        Line2D([], [], color=MODEL_COLOUR, lw=2.2, marker="o", ms=6,
               label="estimate and 95% interval"),
        Line2D([], [], color=ACCENT_COLOUR, lw=2.2, marker="o", mfc="white", ms=6,
               label="not identified"),
        Line2D([], [], color=MUTED, lw=0, marker="^", ms=6, label="at a search bound"),
    ], loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3)
    fig.suptitle("Calibrated parameters with 95% intervals, on their search bounds")
    add_footer(fig, footer)
    return fig
