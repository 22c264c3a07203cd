"""The model side of ``clusterdyn explore``: slider settings in, runs, bands and KPIs out.

Nothing here imports the browser framework: the page (:mod:`clusterdyn.explore.app`) only turns
widget values into :class:`Settings` and draws the :class:`Evaluation` it gets back, so the
same numbers come out of the command line (``clusterdyn scenarios``) and the page.

A setting is run exactly as ``clusterdyn scenarios`` runs a file: it becomes a
:class:`~clusterdyn.scenarios.spec.Scenario` through :func:`~clusterdyn.scenarios.spec.from_dict`
(the loader's validation and messages), then :func:`~clusterdyn.scenarios.engine.run_compiled`
runs it and its posterior draws in one call of the compiled runner (trajectories identical to
PySD's), and :func:`~clusterdyn.scenarios.kpis.kpi_table` gives the KPIs against ``no_policy``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import pandas as pd

from clusterdyn.calibration.data_io import load_observations
from clusterdyn.calibration.shipped import DEFAULT_RESULTS, posterior_path
from clusterdyn.ensembles.runner import register
from clusterdyn.policy.evaluate import posterior_draws
from clusterdyn.scenarios.catalog import available
from clusterdyn.scenarios.costs import load_costs
from clusterdyn.scenarios.economics import Economics, npv_of_exports
from clusterdyn.scenarios.engine import TRAJECTORY_VARIABLES, ScenarioRun, run_compiled
from clusterdyn.scenarios.kpis import KPI_YEAR, kpi_table
from clusterdyn.scenarios.spec import (
    LEVERS,
    STAGES,
    START_PARAMETERS,
    Condition,
    Scenario,
    default_model,
    from_dict,
    load,
)
from clusterdyn.sdmodels import MAX_YEAR, PUBLIC_OUTPUTS
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import Model

#: Posterior draws run with every change by default: 200 keeps a redraw under 200 ms on two
#: cores (measured 163-182 ms median in the browser; 300 draws took 283-295 ms).
DEFAULT_DRAWS = 200
#: Percentiles of the band: the central 90% of the posterior draws.
BAND_PERCENTILES: tuple[float, float] = (5.0, 95.0)
#: Name of the scenario built from the sliders until the user names it.
EXPLORED = "explored"
#: FAO series drawn behind each output: output -> (observations column, factor to the
#: output's units). Export value is in million US$/Year, the FAO value in thousand US$.
OBSERVED: Mapping[str, tuple[str, float]] = MappingProxyType({
    "Production": ("chile_salmon_production_t", 1.0),
    "Price": ("chile_salmon_unit_value_usd_per_kg", 1.0),
    "Export value": ("chile_salmon_value_kusd", 1e-3),
    "World market share": ("chile_world_share", 1.0),
})
#: KPI columns given a 5-95% interval over the draws.
INTERVAL_KPIS: tuple[str, ...] = ("production_2003_t", "npv_exports_musd",
                                  "world_market_share_2003", "social_capital_2003")
_CACHE_SIZE = 64

#: A stage start: a calendar year or a condition on the model state ("Production >= 1350").
Start = float | str


@dataclass(frozen=True)
class Settings:
    """Everything the sliders set: a complete scenario without its name and texts.

    Attributes
    ----------
    levers : tuple of (float, float, float)
        Intensity of each lever of :data:`~clusterdyn.scenarios.spec.LEVERS` (in that order)
        in each stage, each in [0, 1].
    starts : (Start, Start)
        Start of the maturing and globalisation stages: a year, or a condition as written in
        a scenario file.
    parameters : tuple of (str, float)
        Parameter overrides carried over from a loaded scenario file (kept when saving).
    """

    levers: tuple[tuple[float, float, float], ...]
    starts: tuple[Start, Start]
    parameters: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Settings:
        """The settings of a loaded scenario (its ``base`` already applied)."""
        def start(value: float | Condition) -> Start:
            return str(value) if isinstance(value, Condition) else float(value)

        return cls(
            levers=tuple(tuple(float(v) for v in scenario.levers[k]) for k in LEVERS),
            starts=(start(scenario.starts["maturing"]), start(scenario.starts["globalisation"])),
            parameters=tuple(sorted((k, float(v)) for k, v in scenario.parameters.items())),
        )

    def lever(self, name: str) -> tuple[float, float, float]:
        """Intensities of one lever in the three stages."""
        return self.levers[list(LEVERS).index(name)]

    def with_lever(self, name: str, stage: int, value: float) -> Settings:
        """A copy with lever ``name`` in stage ``stage`` (0, 1 or 2) set to ``value``."""
        k = list(LEVERS).index(name)
        row = list(self.levers[k])
        row[stage] = float(value)
        levers = list(self.levers)
        levers[k] = (row[0], row[1], row[2])
        return replace(self, levers=tuple(levers))

    def with_start(self, stage: str, value: Start) -> Settings:
        """A copy with the start of ``stage`` (``maturing`` or ``globalisation``) replaced."""
        k = STAGES.index(stage) - 1
        if k < 0:
            raise ModelInputError(f"stage {stage!r}: only {', '.join(STAGES[1:])} can move")
        starts = list(self.starts)
        starts[k] = value.strip() if isinstance(value, str) else float(value)
        return replace(self, starts=(starts[0], starts[1]))

    def to_dict(self, name: str = EXPLORED, description: str = "Built in clusterdyn explore.",
                rationale: str = "Explored interactively in clusterdyn explore.") -> dict:
        """The keys of a complete scenario file (no ``base``) holding these settings."""
        def start(value: Start) -> float | str:
            if isinstance(value, str):
                return value
            return int(value) if float(value).is_integer() else float(value)

        data: dict = {
            "name": name, "description": description, "rationale": rationale,
            "stages": {STAGES[0]: {"start": 1978},
                       STAGES[1]: {"start": start(self.starts[0])},
                       STAGES[2]: {"start": start(self.starts[1])}},
            "levers": {k: list(v) for k, v in zip(LEVERS, self.levers, strict=True)},
        }
        if self.parameters:
            data["parameters"] = dict(self.parameters)
        return data


@dataclass(frozen=True, eq=False)
class Evaluation:
    """A scenario's central run, its posterior band and its KPIs.

    Attributes
    ----------
    settings : Settings
    run : ScenarioRun
        The central run (calibrated point estimate), as :func:`clusterdyn.scenarios.engine.run`
        gives it.
    band : Mapping[float, pandas.DataFrame] or None
        Percentile -> yearly values of :data:`~clusterdyn.sdmodels.PUBLIC_OUTPUTS` over the
        posterior draws (:data:`BAND_PERCENTILES`); None when run without draws.
    kpis : pandas.Series
        The scenario's row of :func:`~clusterdyn.scenarios.kpis.kpi_table`.
    intervals : Mapping[str, tuple[float, float]]
        5-95% of the :data:`INTERVAL_KPIS` over the draws (empty without draws).
    n_draws : int
    seconds : float
        Wall time of the evaluation (runs, band and KPIs).
    """

    settings: Settings
    run: ScenarioRun
    band: Mapping[float, pd.DataFrame] | None
    kpis: pd.Series
    intervals: Mapping[str, tuple[float, float]]
    n_draws: int
    seconds: float

    @property
    def trajectories(self) -> pd.DataFrame:
        """Yearly values of the public outputs and the stage in force (central run)."""
        return self.run.trajectories

    @property
    def stage_starts(self) -> Mapping[str, float | None]:
        """When each stage started in the central run (None: not within the run)."""
        return self.run.stage_starts

    def stage_spans(self) -> list[tuple[str, float, float]]:
        """``(stage, start, end)`` of each stage that started within the run; a stage ends
        when the next one starts, the last at the run's last year (what the plots shade)."""
        started = [(s, float(t)) for s in STAGES if (t := self.stage_starts.get(s)) is not None]
        ends = [t for _, t in started[1:]] + [float(self.run.until)]
        return [(s, t, end) for (s, t), end in zip(started, ends, strict=True)]


class Workbench:
    """The calibrated model, its compiled runner and posterior draws, loaded once per process.

    Every browser session shares one workbench and only reads it; evaluations are cached
    (least recently used), so returning to a setting or overlaying a scenario costs nothing.

    Parameters
    ----------
    draws : int
        Posterior draws for the band (0: no band).
    seed : int
        Seed of the choice of draws (the same draws for every scenario, so that bands and
        overlays are comparable).
    until : int
        Last year of the runs (2003-2030); KPIs are read in 2003 whatever it is.
    model : Model, optional
        Default: the salmon cluster model with its shipped calibration.
    """

    def __init__(self, draws: int = DEFAULT_DRAWS, seed: int = 0, until: int = KPI_YEAR,
                 model: Model | None = None) -> None:
        if isinstance(until, bool) or not isinstance(until, int) or not (
                KPI_YEAR <= until <= MAX_YEAR):
            raise ModelInputError(f"until = {until!r}: expected a year from {KPI_YEAR} to "
                                  f"{MAX_YEAR}")
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 0:
            raise ModelInputError(f"draws = {draws!r}: expected a whole number >= 0")
        self.model = model or default_model()
        self.runner = register(self.model)
        self.until = until
        self.costs = load_costs()
        self.draws = (posterior_draws(str(posterior_path(DEFAULT_RESULTS)), draws, seed)
                      if draws else pd.DataFrame())
        self.observations = load_observations()
        self._cache: OrderedDict[tuple, Evaluation] = OrderedDict()
        self._lock = threading.Lock()
        self.reference = run_compiled("no_policy", self.runner, until=until,
                                      costs=self.costs)[0]
        #: Every shipped scenario, loaded once (the pages offer them for overlays).
        self.shipped: Mapping[str, Scenario] = MappingProxyType(
            {name: load(name, self.model) for name in available()})
        self.historical_settings = Settings.from_scenario(self.shipped["historical"])
        self.historical = self.evaluate(self.historical_settings, name="historical")

    def scenario(self, settings: Settings, name: str = EXPLORED, description: str | None = None,
                 rationale: str | None = None) -> Scenario:
        """The settings as a validated scenario (raises the loader's ``ScenarioError``)."""
        texts = {k: v for k, v in (("description", description), ("rationale", rationale))
                 if v}
        return from_dict(settings.to_dict(name, **texts), self.model)

    def evaluate(self, settings: Settings, band: bool = True, name: str = EXPLORED
                 ) -> Evaluation:
        """Run the settings (with the posterior band unless ``band`` is False).

        Raises
        ------
        clusterdyn.scenarios.spec.ScenarioError
            If the settings are not a valid scenario (e.g. stage starts out of order).
        """
        key = (settings, band and len(self.draws) > 0, name)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        result = self._evaluate(settings, key[1], name)
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    def evaluate_scenario(self, scenario: Scenario, band: bool = False) -> Evaluation:
        """Evaluate a loaded scenario (shipped or a file) under its own name."""
        return self.evaluate(Settings.from_scenario(scenario), band=band, name=scenario.name)

    def _evaluate(self, settings: Settings, band: bool, name: str) -> Evaluation:
        began = time.perf_counter()
        scenario = self.scenario(settings, name)
        draws = self.draws if band else None
        run, values = run_compiled(scenario, self.runner, draws, until=self.until,
                                   costs=self.costs)
        kpis = kpi_table({name: run}, self.reference).iloc[0]
        bands, intervals = None, {}
        if values is not None:
            bands, intervals = self._band(values, run)
        return Evaluation(settings, run, bands, kpis, MappingProxyType(intervals),
                          0 if values is None else len(values), time.perf_counter() - began)

    def _band(self, values: np.ndarray, run: ScenarioRun
              ) -> tuple[Mapping[float, pd.DataFrame], dict[str, tuple[float, float]]]:
        years = run.trajectories.index
        columns = [TRAJECTORY_VARIABLES.index(v) for v in PUBLIC_OUTPUTS]
        low, high = np.percentile(values[:, :, columns], BAND_PERCENTILES, axis=0)
        bands = {p: pd.DataFrame(q, index=years, columns=list(PUBLIC_OUTPUTS))
                 for p, q in zip(BAND_PERCENTILES, (low, high), strict=True)}
        at = list(years).index(KPI_YEAR)

        def column(name: str) -> np.ndarray:
            return values[:, :, TRAJECTORY_VARIABLES.index(name)]

        per_draw = {  # the INTERVAL_KPIS
            "production_2003_t": column("Production")[:, at],
            "npv_exports_musd": npv_of_exports(column("Export value"), years.to_numpy(),
                                               Economics()),
            "world_market_share_2003": column("World market share")[:, at],
            "social_capital_2003": column("Social capital")[:, at],
        }
        intervals = {k: tuple(float(x) for x in np.percentile(v, BAND_PERCENTILES))
                     for k, v in per_draw.items()}
        return MappingProxyType(bands), intervals  # type: ignore[return-value]

    def observed(self, variable: str) -> pd.Series:
        """The FAO observations of an output in its units (empty if the data has none)."""
        if variable not in OBSERVED:
            return pd.Series(dtype=float)
        column, factor = OBSERVED[variable]
        return (self.observations[column] * factor).dropna()

    def start_bounds(self, stage: str) -> tuple[float, float]:
        """Declared range of a later stage's start year (the model parameter's bounds)."""
        declared = self.model.parameters[START_PARAMETERS[stage]]
        return float(declared.lower), float(declared.upper)


def starts_text(evaluation: Evaluation) -> dict[str, str]:
    """Stage starts of an evaluation as shown beside the sliders: a condition with the year
    it held, a year, or ``not reached``."""
    out = {}
    for k, stage in enumerate(STAGES[1:]):
        wanted = evaluation.settings.starts[k]
        actual = evaluation.stage_starts.get(stage)
        shown = "not reached" if actual is None or math.isinf(actual) else f"{actual:.4g}"
        out[stage] = f"when {wanted}: {shown}" if isinstance(wanted, str) else shown
    return out
