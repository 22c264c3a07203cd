"""Monte Carlo confidence bands of the public outputs around the calibrated run.

The calibrated parameters are sampled by Latin hypercube within their 95% intervals
(:func:`sampling_ranges`), the other parameters keep their calibrated or ``.mdl`` values, and
the ensemble's yearly distribution of each output is summarised as Vensim's sensitivity graphs
do: the *b*% band holds the central *b*% of the runs, i.e. it spans the percentiles
``(100 - b) / 2`` and ``100 - (100 - b) / 2``, and the 100% band spans the minimum and maximum
(Vensim, *Sensitivity graphs*: "the 50% band shows the range within which 50% of the
outcomes lie").

>>> from sdmodels import load_model
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

from calibration.shipped import RESULTS_DIR
from ensembles.runner import DEFAULT_CHUNK, check_seed, plan_ensemble, run_ensemble
from sdmodels.errors import ModelInputError
from sdmodels.model import PUBLIC_OUTPUTS, Model

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
    search: dict[str, tuple[float, float]] = {}
    spec_name = data.get("calibration", {}).get("spec")
    if spec_name:
        from calibration.spec import SPEC_DIR, load_spec

        spec_path = SPEC_DIR / spec_name
        if spec_path.is_file():
            search = {p.name: (p.lower, p.upper) for p in load_spec(model, spec_path).parameters}
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


def bands_samples(model: Model, n: int, *, seed: int, results: str | Path | None = None
                  ) -> tuple[pd.DataFrame, dict[str, float], tuple[SampledParameter, ...]]:
    """The ensemble of :func:`monte_carlo_bands`: samples, values shared by every run, ranges."""
    ranges = sampling_ranges(model, results)
    sampled = tuple(r for r in ranges if r.high > r.low)
    if not sampled:
        raise ModelInputError("every calibrated parameter has an empty interval: nothing to "
                              "sample")
    base = {r.name: r.value for r in ranges if r.high == r.low}
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

    Returns
    -------
    pandas.DataFrame
        See :func:`band_table`.
    """
    samples, base, _ = bands_samples(model, n, seed=seed, results=results)
    plan = plan_ensemble(model, samples, base=base, variables=list(variables))
    result = run_ensemble(plan, chunk_size=chunk_size, client=client, progress=progress)
    return band_table(result.years, {v: result.get(v) for v in result.variables})


def write_bands_csv(bands: pd.DataFrame, handle: Any) -> None:
    """Write a band table as CSV with 10 significant digits (stable bytes for a seed)."""
    bands.to_csv(handle, index=False, float_format="%.10g", lineterminator="\n")


__all__ = [
    "BANDS",
    "BAND_COLUMNS",
    "SampledParameter",
    "band_table",
    "bands_samples",
    "latin_hypercube",
    "monte_carlo_bands",
    "sampling_ranges",
    "write_bands_csv",
]
