"""Profile likelihood of one calibrated parameter, and the forecast along it.

The profile fixes one parameter at each value of a grid over its search range and
re-optimises all the others; the rise of the objective above its minimum says which values the
data accept. Along the profile the model's out-of-sample production is recorded too, so the
report shows how far the forecast moves among parameter sets the fitted data cannot tell apart
(the *prediction profile*, Kreutz et al. 2012, BMC Systems Biology 6:120).

>>> from clusterdyn.calibration.profile import profile_from_results
>>> result = profile_from_results("calibration/results/salmon_cluster_until_1995.toml",
...                               "Maximum demand growth rate")
>>> print(result.summary())
>>> with open("profile.csv", "w", encoding="utf-8") as handle:
...     result.write_csv(handle)          # what the figures read (read_profile_csv)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from clusterdyn.calibration.fit import refine
from clusterdyn.calibration.objective import Objective
from clusterdyn.calibration.results import read_results
from clusterdyn.calibration.spec import CalibrationSpec
from clusterdyn.sdmodels.errors import ModelInputError, suggest
from clusterdyn.sdmodels.model import Model
from clusterdyn.sdmodels.vectorized import compile_model

#: Residual evaluations of each profile point's least-squares refinement: ten times the
#: calibration's, so that each refit converges (with 60, objectives at a grid point differed
#: by up to 0.54 between processors, measured as below). The refits stay local and
#: path-dependent: where the other parameters are weakly identified (technology transfer
#: against mission effectiveness, two basins), the basin a refit lands in follows the last
#: bits of the processor's BLAS and SIMD maths. Measured with numpy's AVX-512 paths and
#: OpenBLAS's kernels switched to another processor's: objectives still differ by up to 0.035
#: (the 95% threshold is about 1.8) and the refitted mission effectiveness jumps between its
#: bounds; rounded starts or two starts per point did not remove that. So the shipped profile
#: CSVs are the record the figure draws from, and tests/test_profile.py compares a
#: regenerated profile within that measured spread.
REFINE_BUDGET = 600
PRODUCTION_SERIES = "chile_salmon_production_t"
#: Significant digits of the numbers in a profile CSV: the project's precision for committed
#: numbers. The profile is a local search whose last digits follow the processor's BLAS and
#: SIMD ``exp``/``log``; four digits keep those out of the file.
CSV_DIGITS = 4
#: Leading columns of a profile CSV; one column per free parameter (spec order) follows.
CSV_COLUMNS: tuple[str, ...] = ("value", "objective", "delta", "accepted", "threshold")


def significant(value: float, digits: int = CSV_DIGITS) -> float:
    """``value`` rounded to ``digits`` significant digits (0, inf and nan unchanged).

    Rounds through the decimal text, which Python rounds correctly, so the result does not
    depend on the processor.
    """
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True)
class ProfilePoint:
    """One grid value of the profiled parameter with the others re-optimised.

    Attributes
    ----------
    value : float
        The profiled parameter's value.
    objective : float
        Minimum payoff with the parameter held at ``value``.
    delta : float
        ``objective`` minus the profile's minimum.
    accepted : bool
        ``delta`` is within the threshold of the confidence level.
    params : Mapping[str, float]
        All free parameters at this point.
    production_error : Mapping[int, float]
        Relative error of simulated production against the FAO figure, per out-of-sample
        year (empty when the calibration used every year).
    """

    value: float
    objective: float
    delta: float
    accepted: bool
    params: Mapping[str, float]
    production_error: Mapping[int, float]


@dataclass(frozen=True, eq=False)
class ProfileResult:
    """Outcome of :func:`profile_parameter`."""

    parameter: str
    units: str
    estimate: float
    objective: float
    threshold: float
    level: float
    fit_years: tuple[int, int]
    n_observations: int
    n_parameters: int
    points: tuple[ProfilePoint, ...]

    @property
    def interval(self) -> tuple[float, float] | None:
        """Profile-likelihood interval: where ``delta`` crosses the threshold (linear
        interpolation between grid points), or the search bound if it never does.

        ``None`` when no grid point is accepted: the interval then lies between the two grid
        values around the estimate (see :meth:`interval_text`).
        """
        if not any(p.accepted for p in self.points):
            return None
        values = np.array([p.value for p in self.points])
        delta = np.array([p.delta for p in self.points])
        best = int(np.argmin(delta))
        ends = []
        for step in (-1, 1):
            i = best
            while 0 <= i + step < len(values) and delta[i + step] <= self.threshold:
                i += step
            if not 0 <= i + step < len(values):
                ends.append(float(values[i]))
                continue
            j = i + step
            share = (self.threshold - delta[i]) / (delta[j] - delta[i])
            ends.append(float(values[i] + share * (values[j] - values[i])))
        return ends[0], ends[1]

    def interval_text(self) -> str:
        """The interval as text: ``[low, high] units``, or why there is none."""
        interval = self.interval
        if interval is not None:
            return f"[{interval[0]:.4g}, {interval[1]:.4g}] {self.units}"
        # No grid point within the threshold: the accepted values around the estimate (where
        # delta is 0) end before the neighbouring grid values do.
        values = [p.value for p in self.points]
        below = max((v for v in values if v <= self.estimate), default=values[0])
        above = min((v for v in values if v >= self.estimate), default=values[-1])
        return (f"not resolved (no grid point is accepted: the interval is narrower than the "
                f"grid spacing of {values[1] - values[0]:.4g} {self.units} and lies between "
                f"{below:.4g} and {above:.4g}, around the estimate {self.estimate:.4g}; rerun "
                f"with more points, --points)")

    def table(self, digits: int = CSV_DIGITS) -> pd.DataFrame:
        """One row per grid value: :data:`CSV_COLUMNS` and every free parameter's value.

        Parameters
        ----------
        digits : int
            Significant digits of every number (``accepted`` is decided before rounding).
        """
        rows = []
        for p in self.points:
            row: dict[str, float | bool] = {
                "value": p.value, "objective": p.objective, "delta": p.delta,
                "accepted": p.accepted, "threshold": self.threshold}
            row.update(p.params)
            rows.append({k: v if isinstance(v, bool) else significant(v, digits)
                         for k, v in row.items()})
        return pd.DataFrame(rows)

    def write_csv(self, handle: IO[str]) -> None:
        """Write :meth:`table` as CSV: every number with :data:`CSV_DIGITS` significant digits
        written out (``0.03000``, ``1.984e+06``), so the text states its precision; no
        timestamps, so reruns give the same bytes."""
        self.table().to_csv(handle, index=False, lineterminator="\n",
                            float_format=f"%#.{CSV_DIGITS}g")

    def to_frame(self) -> pd.DataFrame:
        """One row per grid value: value, objective, delta, accepted and the errors by year."""
        rows = []
        for p in self.points:
            row = {"value": p.value, "objective": p.objective, "delta": p.delta,
                   "accepted": p.accepted}
            row.update({str(y): e for y, e in p.production_error.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def forecast_range(self) -> dict[int, tuple[float, float]]:
        """Lowest and highest out-of-sample production error among the accepted points."""
        accepted = [p for p in self.points if p.accepted]
        years = sorted(accepted[0].production_error) if accepted else []
        return {y: (min(p.production_error[y] for p in accepted),
                    max(p.production_error[y] for p in accepted)) for y in years}

    def summary(self) -> str:
        """The profile as a plain-text table."""
        lines = [
            f"Profile of {self.parameter!r} ({self.units}), data "
            f"{self.fit_years[0]}-{self.fit_years[1]}: estimate {self.estimate:.4g}, "
            f"objective {self.objective:.6g}",
            f"{self.level:.0%} threshold: delta <= {self.threshold:.3g}; profile interval "
            f"{self.interval_text()}",
        ]
        years = sorted(self.points[0].production_error)
        lines.append(f"{'value':>10} {'delta':>9} {'accepted':>8}"
                     + "".join(f" {y:>6}" for y in years))
        for p in self.points:
            lines.append(f"{p.value:>10.4g} {p.delta:>9.3f} {'yes' if p.accepted else 'no':>8}"
                         + "".join(f" {p.production_error[y]:>+6.0%}" for y in years))
        return "\n".join(lines)


def _threshold(objective: float, n: int, p: int, level: float) -> float:
    # Same scale as the Hessian intervals: the payoff is 0.5 * SSR with the residual variance
    # estimated as s^2 = SSR / (n - p), so the likelihood-ratio bound is F(1, n - p) based.
    dof = max(n - p, 1)
    s2 = 2.0 * objective / dof
    return float(0.5 * s2 * stats.f.ppf(level, 1, dof))


def profile_parameter(
    model: Model,
    spec: CalibrationSpec,
    params: Mapping[str, float],
    parameter: str,
    *,
    until: int | None = None,
    points: int = 21,
    level: float = 0.95,
    observations: pd.DataFrame | None = None,
    progress: bool = True,
    backend: str = "numba",
) -> ProfileResult:
    """Profile one free parameter of a calibration.

    Parameters
    ----------
    model : clusterdyn.sdmodels.Model
    spec : CalibrationSpec
        The calibration spec; ``parameter`` must be one of its free parameters.
    params : Mapping[str, float]
        The calibrated values of every free parameter (the profile starts from them).
    parameter : str
        The parameter to profile.
    until : int, optional
        Last fitted year (default: the spec's); later years are reported as forecast errors.
    points : int
        Grid values, evenly spaced over the parameter's search bounds (at least 3).
    level : float
        Confidence level of the threshold and the interval.
    observations : DataFrame, optional
        Default: the shipped data.
    progress : bool
        Show a progress bar.
    backend : {"numba", "numpy"}
        Backend of the vectorised runner.

    Returns
    -------
    ProfileResult

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If ``parameter`` is not free in the spec, a calibrated value is missing, ``points``
        is below 3 or ``level`` is outside (0, 1).

    Notes
    -----
    Each grid point is refined by bounded least squares from the solution of its neighbour
    (continuation outwards from the estimate), so the profile follows the valley the
    calibration found; a local search can miss a distant, better valley, which shows up as a
    point with ``delta`` at 0 away from the estimate.
    """
    names = [p.name for p in spec.parameters]
    if parameter not in names:
        raise ModelInputError(f"parameter {parameter!r} is not free in {spec.path}; expected "
                              f"one of {names}." + suggest(parameter, names))
    missing = [n for n in names if n not in params]
    if missing:
        raise ModelInputError(f"no calibrated value for {missing}")
    if points < 3:
        raise ModelInputError(f"points = {points}: expected at least 3")
    if not 0 < level < 1:
        raise ModelInputError(f"level = {level}: expected a number between 0 and 1")
    last = spec.last_year if until is None else int(until)
    observations = spec.observations() if observations is None else observations
    runner = compile_model(model, backend)
    objective = Objective(spec, runner, observations, last)
    j = names.index(parameter)
    u_hat, best = refine(objective, objective.to_unit(np.array([params[n] for n in names])),
                         REFINE_BUDGET)
    grid = np.linspace(0.0, 1.0, points)
    solutions: dict[int, tuple[np.ndarray, float]] = {}
    above = [i for i in range(points) if grid[i] >= u_hat[j]]
    below = [i for i in reversed(range(points)) if grid[i] < u_hat[j]]
    bar = tqdm(total=points, desc=f"profiling {parameter}", unit="point", disable=not progress,
               leave=False)
    for side in (above, below):
        start = u_hat
        for i in side:
            start = start.copy()
            start[j] = grid[i]
            solutions[i] = refine(objective, start, REFINE_BUDGET, fixed=j)
            start = solutions[i][0]
            bar.update(1)
    bar.close()
    costs = np.array([solutions[i][1] for i in range(points)])
    minimum = min(best, float(costs.min()))
    threshold = _threshold(minimum, objective.n_observations, len(names), level)
    theta = objective.to_params(np.array([solutions[i][0] for i in range(points)]))
    production = observations[PRODUCTION_SERIES]
    forecast_years = [y for y in production.index
                      if last < y <= spec.last_year and pd.notna(production[y])]
    run = runner.run({n: theta[:, k] for k, n in enumerate(names)}, variables=["Production"])
    simulated = run.get("Production")
    first = int(runner.model.initial_time)
    result_points = []
    for i in range(points):
        errors = {int(y): float(simulated[i, y - first] / production[y] - 1)
                  for y in forecast_years}
        delta = float(costs[i] - minimum)
        result_points.append(ProfilePoint(
            value=float(theta[i, j]), objective=float(costs[i]), delta=delta,
            accepted=delta <= threshold,
            params={n: float(theta[i, k]) for k, n in enumerate(names)},
            production_error=errors))
    declared = spec.parameters[j]
    return ProfileResult(
        parameter=parameter, units=declared.units,
        estimate=float(objective.to_params(u_hat[None, :])[0, j]), objective=best,
        threshold=threshold, level=level, fit_years=(spec.first_year, last),
        n_observations=objective.n_observations, n_parameters=len(names),
        points=tuple(result_points))


def profile_from_results(results: str | Path, parameter: str, *, points: int = 21,
                         level: float = 0.95, progress: bool = True) -> ProfileResult:
    """Profile a parameter of a shipped or written calibration results file.

    The file's provenance must match the current model, spec and data, so the profile
    starts from the optimum of the very problem it re-solves.

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If the file is missing, malformed or stale (hashes that no longer match).
    """
    read = read_results(results)
    stale = read.stale()
    if stale:
        raise ModelInputError(f"{read.path}: {', '.join(stale)} no longer match the current "
                              "files; rerun 'clusterdyn calibrate' first")
    model, spec, until = read.model, read.spec, read.fit_last_year
    params = read.estimates["value"].to_dict()
    return profile_parameter(model, spec, params, parameter, until=until, points=points,
                             level=level, progress=progress)


def read_profile_csv(path: str | Path) -> pd.DataFrame:
    """Read a profile CSV written by :meth:`ProfileResult.write_csv` (``clusterdyn profile``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CSV_COLUMNS` (``accepted`` as bool), then one per free parameter.

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If the file is missing or lacks the profile columns.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelInputError(f"no such profile file {path}: write it with `clusterdyn profile "
                              f"PARAMETER --results RESULTS -o {path}`")
    frame = pd.read_csv(path)
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing or frame.empty or frame["accepted"].dtype != bool:
        raise ModelInputError(f"{path} is not a profile CSV of `clusterdyn profile` (expected "
                              f"the columns {list(CSV_COLUMNS)} and one row per grid value)")
    return frame
