"""Monte Carlo confidence bands of the public outputs around the calibrated run.

The calibrated parameters are sampled by Latin hypercube within their 95% intervals
(:func:`sampling_ranges`), the other parameters keep their calibrated or ``.mdl`` values, and
the ensemble's yearly distribution of each output is summarised as Vensim's sensitivity graphs
do: the *b*% band holds the central *b*% of the runs, i.e. it spans the percentiles
``(100 - b) / 2`` and ``100 - (100 - b) / 2``, and the 100% band spans the minimum and maximum
(Vensim, *Sensitivity graphs*: "the 50% band shows the range within which 50% of the
outcomes lie").

>>> from clusterdyn.sdmodels import load_model
>>> bands = monte_carlo_bands(load_model(), n=1000, seed=0)
>>> bands.query("variable == 'Production' and year == 2003")
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import qmc

from clusterdyn.calibration.shipped import RESULTS_DIR
from clusterdyn.ensembles.runner import DEFAULT_CHUNK, check_seed, plan_ensemble, run_ensemble
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import PUBLIC_OUTPUTS, Model

#: Band widths (percent of runs), narrowest first.
BANDS: tuple[int, ...] = (50, 75, 95, 100)
#: Columns of a band table.
BAND_COLUMNS: tuple[str, ...] = ("variable", "year", "band", "low", "high", "median")


@dataclass(frozen=True)
class SampledParameter:
    """A calibrated parameter and the range it is sampled over.

    Attributes
    ----------
    name : str
    value : float
        The calibrated estimate.
    low, high : float
        Sampled range (``low == high`` holds the parameter at ``value``).
    basis : str
        ``"95% interval"``, or ``"search range"`` for a parameter the calibration did not
        identify (its interval is the whole search range), each clipped to the declared range.
    """

    name: str
    value: float
    low: float
    high: float
    basis: str


def results_path(model: Model, path: str | Path | None = None) -> Path:
    """The calibration results file of ``model`` (default: the shipped one).

    Raises
    ------
    ModelInputError
        If there is no such file.
    """
    path = Path(path) if path is not None else RESULTS_DIR / f"{model.name}.toml"
    if not path.is_file():
        raise ModelInputError(
            f"no calibration results {path}: run `clusterdyn calibrate -o {path}` first"
        )
    return path


def _search_bounds(model: Model, data: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Search bounds of the calibration spec a results file names (empty if it is gone)."""
    spec_name = data.get("calibration", {}).get("spec")
    if spec_name:
        from clusterdyn.calibration.spec import SPEC_DIR, load_spec

        spec_path = SPEC_DIR / spec_name
        if spec_path.is_file():
            return {p.name: (p.lower, p.upper) for p in load_spec(model, spec_path).parameters}
    return {}


def sampling_ranges(model: Model, results: str | Path | None = None
                    ) -> tuple[SampledParameter, ...]:
    """Ranges to sample: each calibrated parameter's 95% interval, clipped to its declared range.

    A parameter the calibration did not identify is sampled over its calibration search range
    (from the spec the results name), which is what its interval spans.

    Parameters
    ----------
    model : Model
    results : path, optional
        Calibration results TOML (default: ``calibration/results/<model>.toml``).

    Raises
    ------
    ModelInputError
        If the file is missing, names an unknown parameter or lacks a value or interval.
    """
    path = results_path(model, results)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ModelInputError(f"{path}: not valid TOML: {exc}") from None
    search = _search_bounds(model, data)
    out = []
    for name, entry in data.get("parameters", {}).items():
        if name not in model.parameters:
            raise ModelInputError(f"{path}: unknown parameter {name!r} for model {model.name!r}")
        declared = model.parameters[name]
        try:
            value, low, high = (float(entry[k]) for k in ("value", "lower_95", "upper_95"))
        except (KeyError, TypeError, ValueError):
            raise ModelInputError(
                f"{path}: parameters.{name!r}: expected numbers value, lower_95, upper_95"
            ) from None
        basis = "95% interval"
        if not entry.get("identified", True) and name in search:
            low, high = search[name]
            basis = "search range"
        low, high = max(low, declared.lower), min(high, declared.upper)
        if not (math.isfinite(low) and math.isfinite(high)) or high < low:
            low = high = value
        out.append(SampledParameter(name, value, low, high, basis))
    if not out:
        raise ModelInputError(f"{path}: no [parameters] to sample")
    return tuple(out)


def latin_hypercube(ranges: Iterable[SampledParameter], n: int, *, seed: int) -> pd.DataFrame:
    """``n`` parameter sets by Latin hypercube, uniform within each range.

    Parameters
    ----------
    ranges : iterable of SampledParameter
    n : int
        Number of sets.
    seed : int
        Seed of :class:`scipy.stats.qmc.LatinHypercube` (same seed, same table).

    Returns
    -------
    pandas.DataFrame
        One row per set, one column per parameter.
    """
    ranges = tuple(ranges)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ModelInputError(f"n = {n!r}: expected a positive number of runs")
    unit = qmc.LatinHypercube(len(ranges), rng=check_seed(seed)).random(int(n))
    low = np.array([r.low for r in ranges])
    high = np.array([r.high for r in ranges])
    values = np.clip(low + unit * (high - low), low, high)
    return pd.DataFrame(values, columns=[r.name for r in ranges])


def band_table(years: np.ndarray, series: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Bands of each variable per year.

    Parameters
    ----------
    years : numpy.ndarray
        The years (length ``n_years``).
    series : mapping of str to numpy.ndarray
        Per variable, its values of shape ``(n_runs, n_years)``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`BAND_COLUMNS`: one row per variable, year and band (50, 75, 95, 100),
        ``low``/``high`` the band's percentiles (linear interpolation between runs, numpy's
        default) and ``median`` the 50th percentile.
    """
    tails = np.array([(100 - b) / 2 for b in BANDS])
    qs = np.concatenate([tails, 100 - tails, [50.0]])
    years = np.asarray(years, dtype=int)
    frames = []
    for name, matrix in series.items():
        matrix = np.asarray(matrix, dtype=float)
        if matrix.ndim != 2 or matrix.shape[1] != len(years):
            raise ModelInputError(f"{name!r}: expected values of shape (runs, {len(years)})")
        pct = np.percentile(matrix, qs, axis=0)  # (len(qs), n_years)
        k = len(BANDS)
        frames.append(pd.DataFrame({  # rows: year major, band minor
            "variable": name,
            "year": np.repeat(years, k),
            "band": np.tile(np.array(BANDS), len(years)),
            "low": pct[:k].T.ravel(),
            "high": pct[k:2 * k].T.ravel(),
            "median": np.repeat(pct[-1], k),
        }))
    return pd.concat(frames, ignore_index=True)[list(BAND_COLUMNS)]


def posterior_sample(model: Model, ranges: tuple[SampledParameter, ...], n: int, *, seed: int,
                     results: str | Path | None = None) -> pd.DataFrame:
    """``n`` sets from the calibration's Gaussian approximation of the posterior.

    The identified parameters are drawn jointly from a normal distribution with the calibrated
    values as mean and the covariance of the results file (standard errors and correlation
    matrix, i.e. the inverse Hessian the intervals come from), truncated by rejection to the
    calibration's search bounds (within the declared ranges); the parameters the calibration
    did not identify, which that approximation says nothing about, are drawn uniformly over
    their search range. Unlike independent sampling within each interval, this keeps the
    correlations the data impose (e.g. a high investment fraction goes with a high unit
    cost), so the bands show what the data allow.

    Raises
    ------
    ModelInputError
        If the results file lacks standard errors or the correlation matrix, or if fewer than
        1 draw in 1,000 falls inside the bounds.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ModelInputError(f"n = {n!r}: expected a positive number of runs")
    path = results_path(model, results)
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    entries = data.get("parameters", {})
    corr = data.get("correlation", {})
    order = list(corr.get("order", []))
    sampled = [r for r in ranges if r.high > r.low]
    joint = [r for r in sampled if r.basis == "95% interval"]
    try:
        index = [order.index(r.name) for r in joint]
        matrix = np.asarray(corr["matrix"], dtype=float)[np.ix_(index, index)]
        stderr = np.array([float(entries[r.name]["stderr"]) for r in joint])
    except (KeyError, ValueError, TypeError, IndexError):
        raise ModelInputError(f"{path}: posterior sampling needs [correlation] order and matrix "
                              "and a stderr for every identified parameter") from None
    rng = np.random.default_rng(check_seed(seed))
    out = pd.DataFrame(index=range(int(n)))
    for r in sampled:
        if r.basis != "95% interval":
            out[r.name] = rng.uniform(r.low, r.high, int(n))
    if joint:
        cov = matrix * np.outer(stderr, stderr)
        eigenvalues, vectors = np.linalg.eigh(cov)
        root = vectors * np.sqrt(np.maximum(eigenvalues, 0.0))  # cov = root @ root.T
        mean = np.array([r.value for r in joint])
        search = _search_bounds(model, data)
        declared = [model.parameters[r.name] for r in joint]
        low = np.array([max(search.get(r.name, (d.lower,))[0], d.lower)
                        for r, d in zip(joint, declared, strict=True)])
        high = np.array([min(search.get(r.name, (0.0, d.upper))[1], d.upper)
                         for r, d in zip(joint, declared, strict=True)])
        kept: list[np.ndarray] = []
        count, drawn = 0, 0
        while count < n:
            batch = mean + rng.standard_normal((max(int(n), 1024), len(joint))) @ root.T
            inside = batch[((batch >= low) & (batch <= high)).all(axis=1)]
            kept.append(inside)
            count += len(inside)
            drawn += len(batch)
            if drawn >= 1000 * n and count < n:
                raise ModelInputError(f"{path}: only {count} of {drawn} posterior draws fall "
                                      "inside the search bounds; use Latin hypercube sampling")
        values = np.concatenate(kept)[: int(n)]
        for j, r in enumerate(joint):
            out[r.name] = values[:, j]
    return out[[r.name for r in sampled]]


def mcmc_sample(model: Model, ranges: tuple[SampledParameter, ...], n: int, *, seed: int,
                results: str | Path | None = None) -> pd.DataFrame:
    """``n`` sets drawn (seeded, with replacement) from the MCMC draws of the results file.

    The draws are ``<results>_posterior.csv`` written by ``clusterdyn posterior``
    (:mod:`clusterdyn.calibration.posterior`): the posterior itself, not a Gaussian approximation,
    so
    parameters the data barely constrain are sampled as far as the data allow, no further.

    Raises
    ------
    ModelInputError
        If the draws file is missing or lacks a sampled parameter.
    """
    from clusterdyn.calibration.shipped import posterior_path

    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ModelInputError(f"n = {n!r}: expected a positive number of runs")
    path = posterior_path(results_path(model, results))
    sampled = [r.name for r in ranges if r.high > r.low]
    try:
        draws = pd.read_csv(path)
        values = draws[sampled].to_numpy(dtype=float)
    except FileNotFoundError:
        raise ModelInputError(f"{path}: no MCMC draws; write them with 'clusterdyn posterior "
                              f"--results {results_path(model, results)}'") from None
    except KeyError as exc:
        raise ModelInputError(f"{path}: lacks the sampled parameter(s) {exc}") from None
    rows = np.random.default_rng(check_seed(seed)).integers(0, len(values), int(n))
    return pd.DataFrame(values[rows], columns=sampled)


#: Sampling schemes of :func:`bands_samples`.
SAMPLINGS = ("lhs", "posterior", "mcmc")


def bands_samples(model: Model, n: int, *, seed: int, results: str | Path | None = None,
                  sampling: str = "lhs"
                  ) -> tuple[pd.DataFrame, dict[str, float], tuple[SampledParameter, ...]]:
    """The ensemble of :func:`monte_carlo_bands`: samples, values shared by every run, ranges.

    ``sampling`` is ``"lhs"`` (Latin hypercube, independent and uniform within each range),
    ``"posterior"`` (:func:`posterior_sample`, the Gaussian approximation) or ``"mcmc"``
    (:func:`mcmc_sample`, the sampled posterior).
    """
    if sampling not in SAMPLINGS:
        raise ModelInputError(f"sampling = {sampling!r}: expected one of {', '.join(SAMPLINGS)}")
    ranges = sampling_ranges(model, results)
    sampled = tuple(r for r in ranges if r.high > r.low)
    if not sampled:
        raise ModelInputError("every calibrated parameter has an empty interval: nothing to "
                              "sample")
    base = {r.name: r.value for r in ranges if r.high == r.low}
    if sampling == "posterior":
        return posterior_sample(model, ranges, n, seed=seed, results=results), base, ranges
    if sampling == "mcmc":
        return mcmc_sample(model, ranges, n, seed=seed, results=results), base, ranges
    return latin_hypercube(sampled, n, seed=seed), base, ranges


def monte_carlo_bands(
    model: Model,
    n: int,
    *,
    seed: int,
    results: str | Path | None = None,
    variables: Iterable[str] = PUBLIC_OUTPUTS,
    chunk_size: int = DEFAULT_CHUNK,
    client: Any = None,
    progress: bool = False,
    sampling: str = "lhs",
) -> pd.DataFrame:
    """Monte Carlo bands of ``variables`` over the calibrated parameters' 95% intervals.

    Parameters
    ----------
    model : Model
    n : int
        Number of runs.
    seed : int
        Seed of the Latin hypercube.
    results : path, optional
        Calibration results TOML (default: the shipped one).
    variables : iterable of str
        Outputs (default: the public outputs).
    chunk_size : int
        Runs per chunk (results do not depend on it).
    client : distributed.Client, optional
        Run the chunks on this Dask cluster.
    progress : bool
        Show a progress bar.
    sampling : {"lhs", "posterior", "mcmc"}
        See :func:`bands_samples`.

    Returns
    -------
    pandas.DataFrame
        See :func:`band_table`.
    """
    samples, base, _ = bands_samples(model, n, seed=seed, results=results, sampling=sampling)
    plan = plan_ensemble(model, samples, base=base, variables=list(variables))
    result = run_ensemble(plan, chunk_size=chunk_size, client=client, progress=progress)
    return band_table(result.years, {v: result.get(v) for v in result.variables})


def write_bands_csv(bands: pd.DataFrame, handle: Any) -> None:
    """Write a band table as CSV with 10 significant digits (stable bytes for a seed)."""
    bands.to_csv(handle, index=False, float_format="%.10g", lineterminator="\n")


__all__ = [
    "BANDS",
    "BAND_COLUMNS",
    "SAMPLINGS",
    "SampledParameter",
    "band_table",
    "bands_samples",
    "latin_hypercube",
    "monte_carlo_bands",
    "posterior_sample",
    "mcmc_sample",
    "sampling_ranges",
    "write_bands_csv",
]
