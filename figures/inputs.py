"""Everything the figures read: model, calibration results, data, scenarios; loaded once.

:class:`FigureInputs` loads each input on first use and memoises it, so a figure set loads the
model, the data and each scenario once; model and scenario runs go through the disk cache of
:mod:`clusterdyn.figures.cache`. :meth:`FigureInputs.files` names the input files of each kind for
the
manifest.

Figures are drawn from committed results only: the identification figure reads the shipped
profile CSVs (:func:`profile_path`) rather than re-optimising, and every number a ``compute_*``
function takes from a model run or an ensemble goes through :func:`rounded`, so that the last
bits in which processors differ (numpy's SIMD ``exp``/``log``, BLAS kernels) never reach the
bytes of a figure.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from clusterdyn import scenarios
from clusterdyn.calibration.data_io import (
    DATA_DIR,
    OBSERVATIONS_FILE,
    UNITS_FILE,
    load_observations,
)
from clusterdyn.calibration.profile import read_profile_csv
from clusterdyn.calibration.shipped import RESULTS_DIR, posterior_path
from clusterdyn.calibration.spec import SPEC_DIR, CalibrationSpec, load_spec
from clusterdyn.errors import UsageError
from clusterdyn.figures.cache import ResultCache
from clusterdyn.forecasting.shipped import BEYOND_INPUTS
from clusterdyn.forecasting.shipped import FIGURE_INPUTS as FORECAST_FILES
from clusterdyn.policy.shipped import OPTIMIZE_FILES, ROBUSTNESS_FILES
from clusterdyn.scenarios.loop_dominance import RESULTS_DIR as RESULTS_DIR_LOOPS
from clusterdyn.scenarios.loop_dominance import RESULTS_SCENARIOS
from clusterdyn.scenarios.spec import SHIPPED_DIR, STAGES, START_PARAMETERS
from clusterdyn.sdmodels import load_model
from clusterdyn.sdmodels.model import Model

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "salmon_cluster"
#: Last year fitted by the hold-out calibration (``clusterdyn calibrate --until 1995``).
HOLDOUT_LAST_YEAR = 1995
CALIBRATION_FILE = RESULTS_DIR / f"{MODEL_NAME}.toml"
HOLDOUT_FILE = RESULTS_DIR / f"{MODEL_NAME}_until_{HOLDOUT_LAST_YEAR}.toml"
#: Parameter of the shipped profiles (the identification figure) and their file-name stem.
PROFILED = "Maximum demand growth rate"
PROFILE_STEM = "profile_demand_growth"
#: Significant digits of every number a figure takes from a model run or an ensemble: far
#: above the last-bit differences between processors, far below what a figure can show.
SIGNIFICANT_DIGITS = 6

Rounded = TypeVar("Rounded", float, np.ndarray, pd.Series, pd.DataFrame)


def _round_array(values: np.ndarray, digits: int) -> np.ndarray:
    # Through the decimal text: Python rounds it correctly, so the result is the same on every
    # processor (a log10-based rounding would itself use the SIMD log that differs).
    flat = [float(f"{x:.{digits}g}") for x in values.ravel().tolist()]
    return np.array(flat, dtype=float).reshape(values.shape)


def rounded(data: Rounded, digits: int = SIGNIFICANT_DIGITS) -> Rounded:
    """``data`` with every float rounded to ``digits`` significant digits.

    Parameters
    ----------
    data : float, numpy.ndarray, pandas.Series or pandas.DataFrame
        Numbers from a model run or an ensemble. Only float values (columns) are rounded;
        years, flags and labels are left as they are.
    digits : int
        Significant digits (default :data:`SIGNIFICANT_DIGITS`).

    Returns
    -------
    Same type as ``data`` (a copy).
    """
    if isinstance(data, pd.DataFrame):
        out = data.copy()
        for k in range(out.shape[1]):
            if pd.api.types.is_float_dtype(out.dtypes.iloc[k]):
                out.iloc[:, k] = _round_array(out.iloc[:, k].to_numpy(), digits)
        return out
    if isinstance(data, pd.Series):
        if not pd.api.types.is_float_dtype(data.dtype):
            return data.copy()
        return pd.Series(_round_array(data.to_numpy(), digits), index=data.index,
                         name=data.name)
    if isinstance(data, np.ndarray):
        return _round_array(data, digits) if data.dtype.kind == "f" else data.copy()
    return float(_round_array(np.array([data], dtype=float), digits)[0])


def profile_path(results_file: Path) -> Path:
    """The shipped profile CSV of :data:`PROFILED` beside a calibration results file.

    ``salmon_cluster.toml`` -> ``profile_demand_growth.csv``, ``salmon_cluster_until_1995.toml``
    -> ``profile_demand_growth_until_1995.csv`` (written by ``clusterdyn profile``).
    """
    suffix = results_file.stem.removeprefix(MODEL_NAME)
    return results_file.with_name(f"{PROFILE_STEM}{suffix}.csv")


def profile_command(results_file: Path) -> str:
    """The ``clusterdyn profile`` command that writes :func:`profile_path` of a results file."""
    return (f'clusterdyn profile "{PROFILED}" --no-progress '
            f"--results {relative(results_file)} -o {relative(profile_path(results_file))}")


class MissingInput(UsageError):
    """An input file of a figure does not exist (yet); the message says how to create it."""


def relative(path: Path) -> str:
    """``path`` relative to the repository root (POSIX), or as given if outside it."""
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return Path(path).as_posix()


class FigureInputs:
    """Lazy, memoised access to the inputs of the figures.

    Parameters
    ----------
    cache : ResultCache, optional
        Where runs are cached (default: ``cache_root() / "results"``).
    calibration_file, holdout_file : pathlib.Path, optional
        Calibrated parameters (full period and up to 1995); default: the shipped files.
    """

    def __init__(self, cache: ResultCache | None = None,
                 calibration_file: Path = CALIBRATION_FILE,
                 holdout_file: Path = HOLDOUT_FILE) -> None:
        self.cache = cache or ResultCache()
        self.calibration_file = Path(calibration_file)
        self.holdout_file = Path(holdout_file)
        self._memo: dict[str, Any] = {}

    def memoised(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per key for this set of inputs (shared by several figures)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # -- static inputs -------------------------------------------------------------------
    @functools.cached_property
    def model(self) -> Model:
        """The salmon cluster model."""
        return load_model(MODEL_NAME)

    @functools.cached_property
    def calibration(self) -> dict[str, Any]:
        """The calibration results file (parameters, intervals, fit statistics)."""
        return self._read_results(self.calibration_file, "calibrate -o")

    @functools.cached_property
    def holdout(self) -> dict[str, Any]:
        """The hold-out calibration results (fitted up to 1995).

        Raises
        ------
        MissingInput
            If the file does not exist yet.
        """
        return self._read_results(self.holdout_file,
                                  f"calibrate --until {HOLDOUT_LAST_YEAR} -o")

    @staticmethod
    def _read_results(path: Path, how: str) -> dict[str, Any]:
        if not path.is_file():
            raise MissingInput(f"missing calibration results {relative(path)}: create it with "
                             f"`clusterdyn {how} {relative(path)}`")
        with path.open("rb") as handle:
            return tomllib.load(handle)

    def profile(self, results_file: Path) -> pd.DataFrame:
        """The shipped profile of :data:`PROFILED` for a calibration results file.

        Raises
        ------
        MissingInput
            If the CSV does not exist yet (the message gives the command that writes it).
        """
        path = profile_path(results_file)
        if not path.is_file():
            raise MissingInput(f"missing profile {relative(path)}: create it with "
                               f"`{profile_command(results_file)}`")
        return self.memoised(f"profile:{path}", lambda: read_profile_csv(path)).copy()

    @staticmethod
    def parameters_of(results: Mapping[str, Any]) -> dict[str, float]:
        """Parameter values of a calibration results dict."""
        return {name: float(p["value"]) for name, p in results["parameters"].items()}

    @functools.cached_property
    def calibrated_params(self) -> dict[str, float]:
        """Calibrated values by parameter name (the default of every run)."""
        return self.parameters_of(self.calibration)

    @functools.cached_property
    def spec(self) -> CalibrationSpec:
        """The calibration spec named by the results file (search bounds, targets)."""
        return load_spec(self.model, SPEC_DIR / self.calibration["calibration"]["spec"])

    @functools.cached_property
    def observations(self) -> pd.DataFrame:
        """FAO series by year (``clusterdyn.calibration.data_io.load_observations``)."""
        return load_observations()

    @functools.cached_property
    def scenario_names(self) -> list[str]:
        """Shipped scenarios, ``historical`` and ``no_policy`` first."""
        return scenarios.available()

    @functools.cached_property
    def costs(self) -> scenarios.PolicyCosts:
        """Lever costs (``scenarios/costs.toml``)."""
        return scenarios.load_costs()

    def scenario(self, name: str) -> scenarios.Scenario:
        """A shipped scenario, validated."""
        return self._scenarios(name)

    @functools.cache  # noqa: B019 - one FigureInputs per figure set; memoising is the point
    def _scenarios(self, name: str) -> scenarios.Scenario:
        return scenarios.load(name, self.model)

    def stages(self, params: Mapping[str, float] | None = None,
               end: float = 2003.0) -> list[tuple[str, float, float]]:
        """Calendar stages ``(stage, start, end)`` of the historical schedule."""
        values = {**{p.name: p.default for p in self.model.parameters.values()},
                  **(params if params is not None else self.calibrated_params)}
        starts = [self.model.initial_time] + [values[START_PARAMETERS[s]] for s in STAGES[1:]]
        ends = [*starts[1:], end]
        return [(s, float(a), float(b)) for s, a, b in zip(STAGES, starts, ends, strict=True)]

    # -- runs ----------------------------------------------------------------------------
    def model_run(self, params: Mapping[str, float], until: int,
                  variables: list[str]) -> pd.DataFrame:
        """A cached model run (see :meth:`clusterdyn.figures.cache.ResultCache.model_run`)."""
        return self.cache.model_run(self.model, params, until, variables)

    def scenario_run(self, name: str) -> scenarios.ScenarioRun:
        """A cached run of a shipped scenario from the calibrated parameters."""
        return self._scenario_runs(name)

    def scenario_run_cached(self, name: str) -> bool:
        """True if the run of scenario ``name`` is already in the disk cache."""
        key, _ = self.cache.scenario_key(self.model, self.scenario(name),
                                         self.calibrated_params, self.costs)
        return self.cache.has(key)

    @functools.cache  # noqa: B019
    def _scenario_runs(self, name: str) -> scenarios.ScenarioRun:
        return self.cache.scenario_run(self.model, self.scenario(name), self.calibrated_params,
                                       self.costs)

    # -- provenance ----------------------------------------------------------------------
    def files(self, kind: str) -> list[Path]:
        """Input files of one kind, for the manifest.

        Parameters
        ----------
        kind : str
            ``model``, ``loops``, ``calibration``, ``holdout``, ``spec``, ``data``,
            ``scenarios``, ``costs``, ``posterior`` (the MCMC draws of both calibrations) or
            ``profiles`` (the shipped profile CSVs of both calibrations) or ``forecast`` (the
            committed rolling-origin forecasts, :mod:`clusterdyn.figures.forecast`) or ``beyond``
            (the
            committed forecast of 2004-2012 from the full calibration) or ``optimize`` /
            ``robustness`` (the committed policy analyses, :mod:`clusterdyn.policy.shipped`) or
            ``loop_dominance`` (the committed loop scores,
            :mod:`clusterdyn.scenarios.loop_dominance`).
        """
        model_path = self.model.mdl_path
        table: dict[str, list[Path]] = {
            "model": [model_path],
            "loops": [model_path.with_suffix(".loops.toml")],
            "calibration": [self.calibration_file],
            "holdout": [self.holdout_file],
            "spec": [SPEC_DIR / self.calibration["calibration"]["spec"]],
            "data": [DATA_DIR / OBSERVATIONS_FILE, DATA_DIR / UNITS_FILE],
            "scenarios": [self.scenario(n).path for n in self.scenario_names],
            "costs": [self.costs.path],
            "posterior": [posterior_path(self.calibration_file),
                          posterior_path(self.holdout_file)],
            "profiles": [profile_path(self.holdout_file), profile_path(self.calibration_file)],
            "forecast": list(FORECAST_FILES),
            "beyond": list(BEYOND_INPUTS),
            "optimize": list(OPTIMIZE_FILES),
            "robustness": list(ROBUSTNESS_FILES),
            "loop_dominance": [RESULTS_DIR_LOOPS / name / file for name in RESULTS_SCENARIOS
                               for file in ("loops.csv", "by_year.csv", "by_stage.csv")],
        }
        if kind not in table:
            raise KeyError(f"unknown input kind {kind!r}; expected one of {sorted(table)}")
        return table[kind]


__all__ = ["CALIBRATION_FILE", "HOLDOUT_FILE", "HOLDOUT_LAST_YEAR", "PROFILED",
           "SHIPPED_DIR", "SIGNIFICANT_DIGITS", "FigureInputs", "MissingInput", "profile_path",
           "relative", "rounded"]
