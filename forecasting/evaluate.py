"""Forecasts of the model and the naive baselines from one origin, scored against the data.

:func:`forecast_origin` takes a calibration fitted to the data up to an origin year and its
posterior draws, forecasts every calibration target for the following years with the model
(:mod:`clusterdyn.forecasting.predictive`) and with the four baselines fitted to the same window and
transform (:mod:`clusterdyn.forecasting.baselines`), and scores each forecast year that has data
(:mod:`clusterdyn.forecasting.scores`). :class:`ForecastResult` holds the tables; several origins
combine
into one (a rolling-origin evaluation, :mod:`clusterdyn.forecasting.rolling`).

Scores are on each target's calibration transform (logs for production and price, the share
as it is): the CRPS and the interval scores of a log series read as relative errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from clusterdyn.calibration.results import _table
from clusterdyn.calibration.spec import Target, target_years
from clusterdyn.forecasting import scores
from clusterdyn.forecasting.baselines import BASELINES, fit_baselines
from clusterdyn.forecasting.predictive import (
    FittedCalibration,
    model_forecasts,
    observation_scale,
    transform,
    untransform,
)
from clusterdyn.sdmodels.errors import ModelInputError

#: Every method, in table order.
METHODS = ("model", *BASELINES)
LEVEL_NAMES = tuple(f"{round(100 * level)}" for level in scores.LEVELS)
FORECAST_COLUMNS = ["method", "origin", "year", "variable", "point",
                    *[f"{side}_{name}" for name in LEVEL_NAMES for side in ("lower", "upper")]]
CELL_SCORES = ["ape", "log_error", "crps", *[f"interval_score_{n}" for n in LEVEL_NAMES],
               *[f"covered_{n}" for n in LEVEL_NAMES]]
SKILL_COLUMNS = ["method", "origin", "horizon", "year", "variable", "observed", "point",
                 *CELL_SCORES, "rank"]
SUMMARY_SCORES = ["n", "mape", "rmse_log", "crps",
                  *[f"interval_score_{n}" for n in LEVEL_NAMES],
                  *[f"coverage_{n}" for n in LEVEL_NAMES]]
FORECAST_DIGITS = 6  # significant digits of forecast values in tables and files
SCORE_DIGITS = 4  # significant digits of scores


def significant(values: pd.Series | np.ndarray, digits: int) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (0 and non-finite kept)."""
    values = np.asarray(values, float)
    out = values.copy()
    finite = np.isfinite(values) & (values != 0)
    magnitude = np.floor(np.log10(np.abs(values[finite])))
    factor = 10.0 ** (digits - 1 - magnitude)
    out[finite] = np.round(values[finite] * factor) / factor
    return out + 0.0  # -0.0 -> 0.0


@dataclass(frozen=True)
class Window:
    """A target's fitted window: observed years up to the origin, on the transform."""

    target: Target
    years: np.ndarray
    values: np.ndarray
    scale: np.ndarray


def fitted_window(fitted: FittedCalibration, target: Target, observations: pd.DataFrame,
                  first_year: int | None = None) -> Window:
    """The years and values of ``target`` the calibration fitted (from ``first_year``)."""
    start = max(fitted.spec.first_year, first_year or fitted.spec.first_year)
    years = np.array([y for y in target_years(fitted.spec, target, observations,
                                              last_year=fitted.last_year) if y >= start])
    values = observations[target.series].loc[years].to_numpy(dtype=float)
    return Window(target, years, transform(target, values), observation_scale(target, years))


@dataclass(frozen=True, eq=False)
class ForecastResult:
    """Forecasts and scores of the model and the baselines from one or more origins.

    Attributes
    ----------
    forecasts : pandas.DataFrame
        Long table, columns :data:`FORECAST_COLUMNS`: point forecast and central intervals
        (50/80/90/95%) of every method, origin, year and variable, in the variable's units.
    skill : pandas.DataFrame
        Long table, columns :data:`SKILL_COLUMNS`: one row per method, origin and observed
        forecast year; ``rank`` orders the methods by CRPS in that cell (1 = best).
    observed : pandas.DataFrame
        The data of every target: ``year``, ``variable``, ``value`` (all years).
    units : dict of str to str
        The model's units of every target variable.
    sources : dict of int to str
        Per origin: the calibration and the posterior draws used.
    seed : int
    """

    forecasts: pd.DataFrame = field(repr=False)
    skill: pd.DataFrame = field(repr=False)
    observed: pd.DataFrame = field(repr=False)
    units: dict[str, str]
    sources: dict[int, str]
    seed: int

    @property
    def origins(self) -> tuple[int, ...]:
        """The forecast origins (last fitted years), increasing."""
        return tuple(sorted(self.sources))

    def by_horizon(self) -> pd.DataFrame:
        """Scores by method, variable and horizon, averaged over the origins (with ``rank``)."""
        return aggregate(self.skill, ["variable", "horizon"])

    def overall(self) -> pd.DataFrame:
        """Scores by method and variable over every origin and horizon (with ``rank``)."""
        return aggregate(self.skill, ["variable"])

    def summary(self) -> str:
        """Plain-text skill table per variable: point errors, CRPS, interval score, coverage."""
        overall = self.overall()
        origins = ", ".join(map(str, self.origins))
        if self.skill.empty:
            last = int(self.forecasts["year"].max())
            return (f"Forecast from origin{'s' if len(self.origins) > 1 else ''} {origins} to "
                    f"{last}: no forecast year has data, nothing is scored")
        years = self.skill["year"]
        lines = [f"Forecast skill from origin{'s' if len(self.origins) > 1 else ''} {origins} "
                 f"(scored years {years.min()}-{years.max()}, seed {self.seed}); CRPS and "
                 "interval score on the calibration transform (logs for production and price)"]
        header = ["method", "n", "MAPE", "RMSE(log)", "CRPS", "IS90",
                  *[f"cov{n}" for n in LEVEL_NAMES], "rank"]
        for variable, table in overall.groupby("variable", sort=False):
            rows = [[row["method"], str(int(row["n"])), f"{100 * row['mape']:.1f}%",
                     f"{row['rmse_log']:.3f}", f"{row['crps']:.3f}",
                     f"{row['interval_score_90']:.3f}",
                     *[f"{row[f'coverage_{n}']:.2f}" for n in LEVEL_NAMES], str(int(row["rank"]))]
                    for _, row in table.iterrows()]
            lines += ["", f"{variable}:"]
            lines += _table(header, rows, right=set(range(1, len(header))))
        return "\n".join(lines)


def _ranked(table: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Rank of each method by CRPS within ``keys`` (1 = best; ties share the better rank)."""
    return table.groupby(keys, sort=False)["crps"].rank(method="min").astype(int)


def aggregate(skill: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Average the cell scores of ``skill`` by method and ``keys``.

    MAPE and CRPS, interval scores and coverages are means over the cells; ``rmse_log`` is the
    root of the mean squared log error. Scores are rounded to :data:`SCORE_DIGITS` significant
    digits; ``rank`` orders the methods by CRPS within ``keys``.
    """
    keys = list(keys)
    if skill.empty:
        return pd.DataFrame({c: pd.Series(dtype=float)
                             for c in ["method", *keys, *SUMMARY_SCORES, "rank"]})
    order = {m: i for i, m in enumerate(METHODS)}
    rows = []
    for group, cells in skill.groupby(["method", *keys], sort=False):
        row = dict(zip(["method", *keys], group, strict=True))
        row["n"] = len(cells)
        row["mape"] = cells["ape"].mean()
        row["rmse_log"] = float(np.sqrt(np.mean(cells["log_error"] ** 2)))
        row["crps"] = cells["crps"].mean()
        for n in LEVEL_NAMES:
            row[f"interval_score_{n}"] = cells[f"interval_score_{n}"].mean()
            row[f"coverage_{n}"] = cells[f"covered_{n}"].mean()
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in SUMMARY_SCORES[1:]:
        table[column] = significant(table[column], SCORE_DIGITS)
    table["rank"] = _ranked(table, keys)
    sort = table["method"].map(order)
    variables = {v: i for i, v in enumerate(dict.fromkeys(skill["variable"]))}
    table = table.assign(_v=table["variable"].map(variables), _m=sort)
    return (table.sort_values(["_v", *keys[1:], "_m"]).drop(columns=["_v", "_m"])
            .reset_index(drop=True)[["method", *keys, *SUMMARY_SCORES, "rank"]])


def _interval_columns(lower_upper: dict[str, tuple[np.ndarray, np.ndarray]],
                      target: Target) -> dict[str, np.ndarray]:
    out = {}
    for name in LEVEL_NAMES:
        lower, upper = lower_upper[name]
        out[f"lower_{name}"] = untransform(target, lower)
        out[f"upper_{name}"] = untransform(target, upper)
    return out


def _score_cells(method: str, origin: int, target: Target, years: np.ndarray,
                 point: np.ndarray, intervals: dict[str, tuple[np.ndarray, np.ndarray]],
                 crps: np.ndarray, observed: pd.Series) -> pd.DataFrame:
    """Scores of one method's forecast of one target in the observed forecast years."""
    seen = np.array([y in observed.index for y in years])
    if not seen.any():
        return pd.DataFrame(columns=SKILL_COLUMNS[:-1])
    y_obs = observed.reindex(years[seen]).to_numpy(dtype=float)
    y_t = transform(target, y_obs)
    frame = {"method": method, "origin": origin, "horizon": years[seen] - origin,
             "year": years[seen], "variable": target.variable, "observed": y_obs,
             "point": point[seen], "ape": scores.absolute_percentage_error(y_obs, point[seen]),
             "log_error": scores.log_error(y_obs, point[seen]), "crps": crps[seen]}
    for level, name in zip(scores.LEVELS, LEVEL_NAMES, strict=True):
        lower, upper = (bound[seen] for bound in intervals[name])
        frame[f"interval_score_{name}"] = scores.interval_score(y_t, lower, upper, level)
    for name in LEVEL_NAMES:
        lower, upper = (bound[seen] for bound in intervals[name])
        frame[f"covered_{name}"] = scores.covered(y_t, lower, upper).astype(int)
    return pd.DataFrame(frame)


def forecast_origin(fitted: FittedCalibration, draws: pd.DataFrame, observations: pd.DataFrame,
                    years: np.ndarray, *, seed: int, draws_source: str,
                    baseline_first_year: int | None = None) -> ForecastResult:
    """Forecast ``years`` with the model and the baselines from ``fitted.last_year``.

    Parameters
    ----------
    fitted : FittedCalibration
        The calibration fitted up to the origin.
    draws : pandas.DataFrame
        Its posterior draws (one column per free parameter).
    observations : pandas.DataFrame
        The data by year (the spec's series); years after the origin are only scored.
    years : numpy.ndarray
        The forecast years, after the origin.
    seed : int
        Seed of the model's observation-error draws.
    draws_source : str
        Where the draws come from (named in errors and in :attr:`ForecastResult.sources`).
    baseline_first_year : int, optional
        Fit the baselines from this year only (default: the calibration's window).

    Returns
    -------
    ForecastResult
    """
    origin = fitted.last_year
    forecast_rows, skill_rows = [], []
    for modelled in model_forecasts(fitted, draws, years, seed=seed, where=draws_source,
                                    observations=observations):
        target = modelled.target
        observed = observations[target.series].dropna()
        observed = observed[observed.index > origin]
        intervals = {}
        for level, name in zip(scores.LEVELS, LEVEL_NAMES, strict=True):
            bounds = np.quantile(modelled.sample, [0.5 - level / 2, 0.5 + level / 2], axis=1)
            intervals[name] = (bounds[0], bounds[1])
        seen = np.isin(years, observed.index)
        crps = np.full(len(years), np.nan)
        if seen.any():
            y_t = transform(target, observed.reindex(years[seen]).to_numpy(dtype=float))
            crps[seen] = scores.crps_sample(y_t, modelled.sample[seen])
        per_method = {"model": (modelled.point, intervals, crps)}
        window = fitted_window(fitted, target, observations, baseline_first_year)
        try:
            fits = fit_baselines(window.years, window.values, window.scale, target.transform)
        except ValueError as exc:
            raise ModelInputError(f"origin {origin}, {target.variable}: {exc}") from None
        future_scale = observation_scale(target, years)
        for method, fit in fits.items():
            predictive = fit.predict(years, future_scale)
            crps = np.full(len(years), np.nan)
            if seen.any():
                y_t = transform(target, observed.reindex(years[seen]).to_numpy(dtype=float))
                crps[seen] = scores.crps_student_t(y_t, predictive.df,
                                                   predictive.location[seen],
                                                   predictive.scale[seen])
            per_method[method] = (untransform(target, predictive.location),
                                  {name: predictive.interval(level) for level, name
                                   in zip(scores.LEVELS, LEVEL_NAMES, strict=True)}, crps)
        for method, (point, bounds, crps) in per_method.items():
            forecast_rows.append(pd.DataFrame({
                "method": method, "origin": origin, "year": years,
                "variable": target.variable, "point": point,
                **_interval_columns(bounds, target)}))
            skill_rows.append(_score_cells(method, origin, target, years, point, bounds, crps,
                                           observed))
    observed = pd.concat([pd.DataFrame({"year": observations.index.astype(int),
                                        "variable": t.variable,
                                        "value": observations[t.series].to_numpy(dtype=float)})
                          for t in fitted.spec.targets], ignore_index=True)
    units = {t.variable: fitted.model.variables[t.variable].units for t in fitted.spec.targets}
    return _assemble(forecast_rows, skill_rows, observed.dropna().reset_index(drop=True),
                     units, {origin: f"{fitted.source}; {draws_source}"}, seed)


def _assemble(forecast_rows: list[pd.DataFrame], skill_rows: list[pd.DataFrame],
              observed: pd.DataFrame, units: dict[str, str], sources: dict[int, str],
              seed: int) -> ForecastResult:
    forecasts = pd.concat(forecast_rows, ignore_index=True)[FORECAST_COLUMNS]
    for column in FORECAST_COLUMNS[4:]:
        forecasts[column] = significant(forecasts[column], FORECAST_DIGITS)
    scored = [s for s in skill_rows if len(s)]
    if not scored:  # every forecast year lies beyond the data: forecasts, no scores
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in SKILL_COLUMNS})
        return ForecastResult(forecasts, empty, observed, dict(units), dict(sources), seed)
    skill = pd.concat(scored, ignore_index=True)
    for column in ["observed", "point", "ape", "log_error", "crps",
                   *[f"interval_score_{n}" for n in LEVEL_NAMES]]:
        skill[column] = significant(skill[column], FORECAST_DIGITS)
    skill["rank"] = _ranked(skill, ["origin", "variable", "horizon"])
    for column in ("origin", "horizon", "year"):
        skill[column] = skill[column].astype(int)
    return ForecastResult(forecasts, skill[SKILL_COLUMNS], observed, dict(units),
                          dict(sources), seed)


def combine(results: Sequence[ForecastResult]) -> ForecastResult:
    """One result from the results of several origins (a rolling-origin evaluation).

    Raises
    ------
    ValueError
        If two results share an origin or were made with different seeds.
    """
    sources: dict[int, str] = {}
    for result in results:
        for origin, source in result.sources.items():
            if origin in sources:
                raise ValueError(f"origin {origin} is given twice")
            sources[origin] = source
    if len({r.seed for r in results}) != 1:
        raise ValueError("the results were made with different seeds")
    ordered = sorted(results, key=lambda r: r.origins[0])
    return ForecastResult(
        pd.concat([r.forecasts for r in ordered], ignore_index=True),
        pd.concat([r.skill for r in ordered], ignore_index=True),
        ordered[0].observed, ordered[0].units, {o: sources[o] for o in sorted(sources)},
        ordered[0].seed)
