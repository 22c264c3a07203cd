"""Robustness of scenario rankings to everything the calibration does not fix.

Uncertain inputs (:func:`sample_inputs`, one seeded Latin hypercube): the **uncalibrated
constants** (every parameter neither calibrated, i.e. a column of
``calibration/results/salmon_cluster_posterior.csv``, nor in
:data:`clusterdyn.scenarios.spec.POLICY_PARAMETERS`) over their declared ranges, uniform or, where
``lower > 0`` and ``upper / lower > 10``, log-uniform (a range of scales, not of values); the
**shapes** of the 12 normalised effect tables (:mod:`clusterdyn.policy.shapes`), uniform on [0.5,
1.5];
and the **calibrated parameters** as one MCMC posterior draw per sample (their joint law).

Every scenario with calendar stage starts runs under every sample (common random numbers) and
at the nominal point (calibrated values, ``.mdl`` constants, shapes 1); ``production_triggered``
is not supported: its stages start on a model-state condition the compiled runner cannot
switch on. For each pair and KPI: P(A > B), and the share of samples reversing the nominal
order. For the pairs whose order is uncertain, each input's part (:func:`drivers`):

- **KS**, Monte Carlo filtering (Saltelli et al. 2004, *Sensitivity analysis in practice*,
  ch. 5): the Kolmogorov-Smirnov distance between the input's values in the samples that
  reverse the order and in those that keep it (0: no difference, 1: full separation). It
  needs no linearity; inputs are ranked by it.
- **SRRC**, standardised rank regression coefficients of ``KPI(A) - KPI(B)`` (ibid., ch. 1.2):
  the change of the difference's rank, in standard deviations, per standard deviation of the
  input's rank, the others fixed; its sign says which scenario the input favours. With a high
  R^2 (the rank variance the regression explains) SRRC^2 is the input's share; a low R^2
  means interactions or non-monotone effects.

The calibrated parameters enter both by their drawn values (a row index has no order); they
are correlated, so the posterior's effect is shared between them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import qmc
from tqdm import tqdm

from clusterdyn.ensembles.runner import check_seed, register
from clusterdyn.policy.ranking import drivers, pairwise_probabilities, reversal_shares, srrc
from clusterdyn.policy.schedule import calendar_starts, cost_coefficients, scenario_vector
from clusterdyn.policy.schedule import schedule_parameters as schedule_params
from clusterdyn.policy.shapes import SHAPE_DOC, SHAPE_RANGE, shaped_model
from clusterdyn.scenarios.catalog import available
from clusterdyn.scenarios.costs import load_costs
from clusterdyn.scenarios.economics import Economics, npv_of_exports
from clusterdyn.scenarios.spec import POLICY_PARAMETERS, Scenario, ScenarioError, load
from clusterdyn.sdmodels.errors import ModelInputError, SimulationError
from clusterdyn.sdmodels.model import CALIBRATIONS_DIR, Model
from clusterdyn.sdmodels.vectorized import VectorizedModel

POSTERIOR_FILE = CALIBRATIONS_DIR / "salmon_cluster_posterior.csv"
#: The sample column holding the posterior draw (a row of the posterior file).
DRAW_COLUMN = "posterior draw"
#: KPIs compared between scenarios (all: more is better): name -> (description, unit).
KPIS: Mapping[str, tuple[str, str]] = {
    "npv_exports": ("NPV of export value", "million constant 2003 US$"),
    "production": ("production in the last year", "t/Year"),
    "social_capital": ("social capital in the last year", "dmnl"),
    "market_share": ("world market share in the last year", "dmnl"),
}
#: Deterministic (does not depend on the uncertain inputs): reported, never compared.
COST_KPI = "npv_cost"
_VARIABLES = ("Export value", "Production", "Social capital", "World market share")
#: Reversal shares between these bounds mark a pair whose order is uncertain.
UNCERTAIN_SHARE = (0.05, 0.95)
MIN_SAMPLES = 10
CHUNK = 4096


def posterior(path: str | Path = POSTERIOR_FILE) -> pd.DataFrame:
    """Every MCMC draw of the calibrated parameters (the log posterior column dropped)."""
    try:
        draws = pd.read_csv(path)
    except FileNotFoundError:
        raise ModelInputError(f"{path}: no posterior draws (write them with "
                              "'clusterdyn posterior')") from None
    return draws.drop(columns=[c for c in draws.columns if c == "log_posterior"])


def input_groups(model: Model, calibrated: Sequence[str]) -> dict[str, list[str]]:
    """The sampled parameters: ``{"constant": [...], "shape": [...]}`` in the model's order."""
    shapes = [n for n, p in model.parameters.items() if p.doc == SHAPE_DOC]
    fixed = set(calibrated) | POLICY_PARAMETERS | set(shapes)
    return {"constant": [n for n in model.parameters if n not in fixed], "shape": shapes}


def log_uniform(lower: float, upper: float) -> bool:
    """Whether a range is sampled log-uniformly: ``lower > 0`` and ``upper / lower > 10``."""
    return lower > 0 and upper / lower > 10


def _latin_hypercube(d: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    try:  # SciPy >= 1.15 takes ``rng``; older versions only ``seed`` (the same generator)
        return qmc.LatinHypercube(d=d, rng=rng).random(n)
    except TypeError:
        return qmc.LatinHypercube(d=d, seed=rng).random(n)


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < MIN_SAMPLES:
        raise ModelInputError(f"samples = {n!r}: expected a whole number of at least "
                              f"{MIN_SAMPLES}")
    return int(n)


def sample_inputs(model: Model, n: int, seed: int, draws: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """A seeded Latin hypercube over the uncertain inputs, one row per sample.

    Parameters
    ----------
    model : Model
        The shaped model (:func:`clusterdyn.policy.shapes.shaped_model`).
    n, seed : int
        Number of samples (at least 10) and seed.
    draws : pandas.DataFrame, optional
        Posterior draws (default: :func:`posterior`): its columns are the calibrated ones.

    Returns
    -------
    pandas.DataFrame
        The uncalibrated constants (declared ranges; log-uniform where :func:`log_uniform`),
        the table shapes (uniform on [0.5, 1.5]) and :data:`DRAW_COLUMN` (int, a row of
        ``draws``, uniform).
    """
    n, seed = _check_n(n), check_seed(seed)
    draws = posterior() if draws is None else draws
    groups = input_groups(model, list(draws.columns))
    names = groups["constant"] + groups["shape"]
    u = _latin_hypercube(len(names) + 1, n, seed)
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        p = model.parameters[name]
        low, high = (SHAPE_RANGE if name in groups["shape"] else (p.lower, p.upper))
        if log_uniform(low, high):
            value = np.exp(math.log(low) + u[:, j] * (math.log(high) - math.log(low)))
        else:
            value = low + u[:, j] * (high - low)
        columns[name] = np.clip(value, low, high)  # exp/log rounding must not leave the range
    columns[DRAW_COLUMN] = np.minimum((u[:, -1] * len(draws)).astype(int), len(draws) - 1)
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class _Plan:
    name: str
    x: np.ndarray
    starts: tuple[float, float]
    overrides: dict[str, float]


def _plans(names: Sequence[str] | None) -> tuple[list[_Plan], tuple[str, ...]]:
    """The scenarios to compare (validated) and the shipped ones skipped as state-triggered."""
    explicit = names is not None
    chosen = list(names) if explicit else available()
    if len(set(chosen)) != len(chosen):
        raise ModelInputError(f"scenarios {chosen}: each may be given once")
    plans, skipped = [], []
    for name in chosen:
        try:
            scenario: Scenario = load(name)
        except ScenarioError as exc:
            raise ModelInputError(str(exc)) from None
        starts = calendar_starts(scenario)
        if starts is None:
            if explicit:
                raise ModelInputError(
                    f"scenario {name!r} is not supported: its stages start when the model "
                    f"state meets a condition ({', '.join(scenario.triggered)}), which the "
                    "compiled runner cannot switch on; the robustness analysis compares "
                    "scenarios with calendar stage starts")
            skipped.append(name)
            continue
        plans.append(_Plan(scenario.name, scenario_vector(scenario), starts,
                           dict(scenario.parameters)))
    if len(plans) < 2:
        raise ModelInputError(f"scenarios {chosen}: expected at least two with calendar stage "
                              "starts to compare")
    return plans, tuple(skipped)


def _kpis(runner: VectorizedModel, params: dict[str, object], economics: Economics
          ) -> dict[str, np.ndarray]:
    # Non-finite runs are kept (check_finite=False): they are counted and left out later.
    result = runner.run(params, until=economics.until, variables=list(_VARIABLES),
                        check_finite=False)
    with np.errstate(invalid="ignore", over="ignore"):
        npv = npv_of_exports(result.get("Export value"), result.years, economics)
    return {"npv_exports": np.asarray(npv, dtype=float),
            "production": np.array(result.get("Production")[:, -1]),
            "social_capital": np.array(result.get("Social capital")[:, -1]),
            "market_share": np.array(result.get("World market share")[:, -1])}


def _scenario_params(plan: _Plan, common: Mapping[str, object]) -> dict[str, object]:
    params = dict(common)
    params.update({k: float(v[0]) for k, v in
                   schedule_params(plan.x[None, :], plan.starts).items()})
    params.update(plan.overrides)  # a scenario's own [parameters] replace the sampled values
    return params


@dataclass(frozen=True, eq=False)
class RobustnessResult:
    """Outcome of :func:`ranking_robustness` (see the module docstring for the method).

    Attributes
    ----------
    scenarios, skipped : tuple of str
        Compared scenarios, and the shipped state-triggered ones left out.
    inputs : pandas.DataFrame
        The samples (:func:`sample_inputs`).
    values : Mapping[str, numpy.ndarray]
        Per KPI of :data:`KPIS`, shape ``(n, len(scenarios))``; NaN/inf where a run failed.
    valid : numpy.ndarray
        Samples whose runs all gave finite KPIs (the others are left out of every table).
    nominal : pandas.DataFrame
        KPIs and :data:`COST_KPI` of each scenario at the nominal point.
    win_probability, reversals, importance : pandas.DataFrame
        See :func:`pairwise_probabilities`, :func:`reversal_shares`, :func:`drivers`.
    """

    scenarios: tuple[str, ...]
    skipped: tuple[str, ...]
    inputs: pd.DataFrame = field(repr=False)
    values: Mapping[str, np.ndarray] = field(repr=False)
    valid: np.ndarray = field(repr=False)
    nominal: pd.DataFrame = field(repr=False)
    win_probability: pd.DataFrame = field(repr=False)
    reversals: pd.DataFrame = field(repr=False)
    importance: pd.DataFrame = field(repr=False)
    seed: int = 0
    economics: Economics = field(default_factory=Economics)
    groups: Mapping[str, list[str]] = field(default_factory=dict, repr=False)
    log_scaled: tuple[str, ...] = ()
    model_sha256: str = ""

    @property
    def n(self) -> int:
        """Number of samples."""
        return len(self.inputs)

    def samples_kpis(self) -> pd.DataFrame:
        """One row per sample: ``sample``, ``valid``, the inputs and ``<kpi>: <scenario>``."""
        frame = self.inputs.rename_axis("sample").reset_index()
        frame.insert(1, "valid", self.valid)
        kpis = pd.DataFrame({f"{k}: {s}": v[:, j] for k, v in self.values.items()
                             for j, s in enumerate(self.scenarios)})
        return pd.concat([frame, kpis], axis=1)

    def tables(self) -> dict[str, str]:
        """The CSV files' text by file name (numbers with 6 significant digits: well above the
        last-bit differences of the compiled runner between processors)."""
        fmt = "%.6g"
        return {
            "win_probability.csv": self.win_probability.to_csv(index=False, float_format=fmt),
            "reversals.csv": self.reversals.to_csv(index=False, float_format=fmt),
            "importance.csv": self.importance.to_csv(index=False, float_format=fmt),
            "samples_kpis.csv": self.samples_kpis().to_csv(index=False, float_format=fmt),
        }

    def summary(self, top: int = 5) -> str:
        """Markdown report: settings, nominal KPIs, reversals and the drivers of uncertain
        pairs (``top`` inputs each)."""
        from clusterdyn.policy.robustness_command import summary_text

        return summary_text(self, top)


def _importance(values: Mapping[str, Mapping[str, np.ndarray]], reversals: pd.DataFrame,
                design: pd.DataFrame, kinds: Mapping[str, str], top: int) -> pd.DataFrame:
    """:func:`drivers` of each uncertain pair (or of the ``top`` most reversed)."""
    low, high = UNCERTAIN_SHARE
    shares = reversals["p_reversal"].fillna(0)
    chosen = reversals[(shares >= low) & (shares <= high)]
    if chosen.empty:
        chosen = reversals[shares > 0].sort_values("p_reversal", ascending=False).head(top)
    parts = []
    for _, pair in chosen.iterrows():
        diff = values[pair["kpi"]][pair["scenario_a"]] - values[pair["kpi"]][pair["scenario_b"]]
        if len(diff) < 2 * (design.shape[1] + 1):
            continue  # too few samples to regress on every input: no ranking
        sign = 1.0 if pair["nominal_winner"] == pair["scenario_a"] else -1.0
        table = drivers(design, diff, sign * diff < 0)
        table.insert(0, "rank", np.arange(1, len(table) + 1))
        parts.append(table.assign(scenario_a=pair["scenario_a"], scenario_b=pair["scenario_b"],
                                  kpi=pair["kpi"], kind=table["input"].map(kinds)))
    columns = ["scenario_a", "scenario_b", "kpi", "rank", "input", "kind", "ks", "ks_pvalue",
               "srrc", "r2"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(
        columns=columns)


def ranking_robustness(scenarios: Sequence[str] | None = None, n: int = 1500, seed: int = 0,
                       economics: Economics | None = None, progress: bool | None = None,
                       top: int = 5) -> RobustnessResult:
    """Probabilities that one scenario beats another over every uncertain input.

    Parameters
    ----------
    scenarios : sequence of str, optional
        Scenario names (default: every shipped scenario with calendar stage starts).
    n : int
        Samples (each runs every scenario once).
    seed : int
        Seed of the Latin hypercube; the same seed gives the same result, byte for byte.
    economics : Economics, optional
        Discount rate and last year (default: 6%, 2003); the KPIs are read in that year.
    progress : bool, optional
        Show a progress bar on standard error (it never changes the numbers).
    top : int
        Pairs ranked when no pair's reversal share lies in :data:`UNCERTAIN_SHARE`.

    Raises
    ------
    ModelInputError
        For an unknown scenario, a state-triggered scenario given by name, fewer than two
        scenarios, ``n < 10`` or a bad seed.
    """
    n, seed = _check_n(n), check_seed(seed)
    economics = economics or Economics()
    plans, skipped = _plans(scenarios)
    model = shaped_model()
    runner = register(model)
    draws = posterior()
    inputs = sample_inputs(model, n, seed, draws)
    groups = {**input_groups(model, list(draws.columns)), "calibrated": list(draws.columns)}
    sampled = groups["constant"] + groups["shape"]
    runner.validate_params(inputs[sampled])  # fail before any run, naming value and row
    values = _simulate(runner, plans, inputs[sampled], draws,
                       inputs[DRAW_COLUMN].to_numpy(), economics, bool(progress))
    nominal = _nominal(runner, model, plans, economics)
    names = [p.name for p in plans]
    valid = np.all([np.isfinite(v).all(axis=1) for v in values.values()], axis=0)
    per_kpi = {k: {s: v[valid, j] for j, s in enumerate(names)} for k, v in values.items()}
    win = pd.concat([pairwise_probabilities(per_kpi[k]).assign(kpi=k) for k in KPIS],
                    ignore_index=True)[["scenario_a", "scenario_b", "kpi", "p_a_beats_b",
                                        "p_tie", "n"]]
    reversals = pd.concat([reversal_shares(per_kpi[k], nominal[k].to_dict()).assign(kpi=k)
                           for k in KPIS], ignore_index=True)
    reversals = reversals[["scenario_a", "scenario_b", "kpi", "nominal_a", "nominal_b",
                           "nominal_winner", "p_reversal"]]
    # The posterior enters through the drawn values (a row index has no order to rank).
    design = pd.concat([inputs[sampled], draws.iloc[inputs[DRAW_COLUMN].to_numpy()]
                        .reset_index(drop=True)], axis=1)[valid].reset_index(drop=True)
    kinds = {c: kind for kind, cols in groups.items() for c in cols}
    importance = _importance(per_kpi, reversals, design, kinds, top)
    return RobustnessResult(
        scenarios=tuple(names), skipped=skipped, inputs=inputs, values=values, valid=valid,
        nominal=nominal, win_probability=win, reversals=reversals, importance=importance,
        seed=seed, economics=economics, groups=groups,
        log_scaled=tuple(c for c in groups["constant"] if log_uniform(
            model.parameters[c].lower, model.parameters[c].upper)),
        model_sha256=model.sha256)


def _simulate(runner: VectorizedModel, plans: Sequence[_Plan], sampled: pd.DataFrame,
              draws: pd.DataFrame, rows: np.ndarray, economics: Economics, progress: bool
              ) -> dict[str, np.ndarray]:
    """KPIs of every sample and scenario, ``(n, scenarios)`` per KPI, chunk by chunk."""
    n = len(sampled)
    values = {k: np.empty((n, len(plans))) for k in KPIS}
    bar = tqdm(total=n * len(plans), unit="run", disable=not progress, leave=False)
    try:
        for lo in range(0, n, CHUNK):
            hi = min(lo + CHUNK, n)
            common: dict[str, object] = {c: sampled[c].to_numpy()[lo:hi] for c in sampled}
            common.update({c: draws[c].to_numpy(dtype=float)[rows[lo:hi]]
                           for c in draws.columns})
            for j, plan in enumerate(plans):
                for kpi, v in _kpis(runner, _scenario_params(plan, common), economics).items():
                    values[kpi][lo:hi, j] = v
                bar.update(hi - lo)
    finally:
        bar.close()
    for v in values.values():
        v.flags.writeable = False
    return values


def _nominal(runner: VectorizedModel, model: Model, plans: Sequence[_Plan],
             economics: Economics) -> pd.DataFrame:
    """KPIs and policy cost of each scenario at the calibrated point, shapes 1."""
    # Every value given: the runner compiled first in this process may have no baseline.
    point = {**{k: p.default for k, p in model.parameters.items()}, **model.baseline}
    nominal = pd.DataFrame({p.name: {k: float(v[0]) for k, v in _kpis(
        runner, _scenario_params(p, point), economics).items()} for p in plans}).T
    if not np.isfinite(nominal.to_numpy()).all():
        raise SimulationError(f"the nominal point gives non-finite KPIs:\n{nominal}")
    nominal[COST_KPI] = [float(cost_coefficients(load_costs(), p.starts, economics) @ p.x)
                         for p in plans]
    return nominal.rename_axis("scenario")


__all__ = ["COST_KPI", "DRAW_COLUMN", "KPIS", "RobustnessResult", "drivers", "input_groups",
           "log_uniform", "pairwise_probabilities", "posterior", "ranking_robustness",
           "reversal_shares", "sample_inputs", "srrc"]
