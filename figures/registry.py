"""The figure set: each figure's name, files, inputs and how it is built.

A figure's ``build`` turns :class:`~clusterdyn.figures.inputs.FigureInputs` into ``{file stem:
Figure}``
(one stem for most figures, one per sector for ``structure``); ``inputs`` names the kinds of
input files it depends on (see :meth:`FigureInputs.files`), whose hashes go into the manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from clusterdyn.calibration.shipped import posterior_path
from clusterdyn.figures import (
    fit,
    forecast,
    identification,
    loops,
    policy,
    policy_analysis,
    structure,
    uncertainty,
)
from clusterdyn.figures.catalog import CATALOG
from clusterdyn.figures.inputs import FigureInputs, relative
from clusterdyn.figures.style import DATA_SOURCE, STYLE_FILE
from clusterdyn.forecasting.shipped import BEYOND_DIR, BEYOND_HORIZON, RESULTS_DIR
from clusterdyn.policy.shipped import OPTIMIZE_DIR, ROBUSTNESS_DIR
from clusterdyn.scenarios.costs import COSTS_FILE
from clusterdyn.scenarios.loop_dominance import RESULTS_DIR as RESULTS_DIR_LOOPS
from clusterdyn.scenarios.loop_dominance import RESULTS_SCENARIOS
from clusterdyn.sdmodels import PUBLIC_OUTPUTS
from clusterdyn.sdmodels.loops import load_loops


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the set.

    Attributes
    ----------
    name : str
        Name for ``--only`` (also the file stem, or its prefix for ``structure``).
    description : str
        One line for ``--help`` and the manifest.
    inputs : tuple of str
        Input kinds (:meth:`FigureInputs.files`) the figure depends on.
    build : callable
        ``build(inputs) -> {file stem: Figure}``.
    """

    name: str
    description: str
    inputs: tuple[str, ...]
    build: Callable[[FigureInputs], dict[str, Figure]]

    def input_files(self, inputs: FigureInputs) -> list[Path]:
        """The input files of this figure (the style file included)."""
        files = [path for kind in self.inputs for path in inputs.files(kind)]
        return [*files, STYLE_FILE]


def _model_line(inputs: FigureInputs, params_file: Path | None = None) -> str:
    model = inputs.model
    line = f"Model: {relative(model.mdl_path)} (SHA-256 {model.sha256[:12]})"
    if params_file is not None:
        line += f"; parameters: {relative(params_file)}"
    return line + "."


def _units(inputs: FigureInputs, variables: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {v: fit.axis_label(inputs, v) for v in variables}


def _calibration_fit(inputs: FigureInputs) -> dict[str, Figure]:
    frame = fit.compute_calibration_fit(inputs)
    footer = [DATA_SOURCE, _model_line(inputs, inputs.calibration_file)
              + " Hollow points are not in the fit (FAO 1981 reporting error; the share is "
              "reported, not fitted)."]
    return {"calibration_fit": fit.plot_calibration_fit(
        frame, inputs.stages(), inputs.calibration.get("fit", {}),
        _units(inputs, list(fit.FIT_VARIABLES)), footer)}


def _lifecycle(inputs: FigureInputs) -> dict[str, Figure]:
    frame = fit.compute_lifecycle(inputs)
    footer = [_model_line(inputs, inputs.calibration_file)
              + " Historical policy schedule (Table 3.1, Pietrobelli 2010)."]
    return {"lifecycle": fit.plot_lifecycle(frame, inputs.stages(),
                                            _units(inputs, fit.LIFECYCLE_VARIABLES), footer)}


def _policy_schedules(inputs: FigureInputs) -> dict[str, Figure]:
    frame = policy.compute_policy_schedules(inputs)
    footer = ["Scenarios: scenarios/*.toml (levers of Table 3.1, Maggi in Pietrobelli 2010); "
              "state-triggered starts resolved on the calibrated model at its time step."]
    return {"policy_schedules": policy.plot_policy_schedules(frame, footer)}


def _scenario_comparison(inputs: FigureInputs) -> dict[str, Figure]:
    frame = policy.compute_scenario_comparison(inputs)
    footer = [_model_line(inputs, inputs.calibration_file) + " Scenarios: scenarios/*.toml. "
              "Log scale for production, capacity and export value."]
    units = _units(inputs, list(PUBLIC_OUTPUTS))
    return {"scenario_comparison": policy.plot_scenario_comparison(frame, inputs.stages(),
                                                                   units, footer)}


def _scenario_kpis(inputs: FigureInputs) -> dict[str, Figure]:
    table = policy.compute_scenario_kpis(inputs)
    footer = [_model_line(inputs, inputs.calibration_file) + " Policy cost: "
              f"{relative(inputs.costs.path)} (US$ M/year per lever at full intensity, constant "
              "2003 US$, undiscounted). Exports gained per policy dollar = (cum. exports - "
              "those of no_policy) / (cum. cost - that of no_policy); n/a for no_policy."]
    return {"scenario_kpis": policy.plot_scenario_kpis(table, footer)}


def _parameters(inputs: FigureInputs) -> dict[str, Figure]:
    frame = fit.compute_parameters(inputs)
    head = inputs.calibration["calibration"]
    footer = [f"Calibration: {relative(inputs.calibration_file)} (fit to FAO data "
              f"{head['fit_years'][0]}-{head['fit_years'][1]}, search bounds from "
              f"calibration/{head['spec']}); intervals: {head['interval_method']}.",
              DATA_SOURCE]
    return {"parameters": fit.plot_parameters(frame, footer)}


def _structure(inputs: FigureInputs) -> dict[str, Figure]:
    nodes = structure.compute_structure_nodes(inputs)
    edges = structure.compute_structure_edges(inputs)
    loops = [(loop.id, loop.polarity, loop.name) for loop in load_loops(inputs.model.mdl_path)]
    constants = structure.constants_per_sector(inputs)
    out = {}
    for sector in dict.fromkeys(nodes["sector"]):
        footer = [_model_line(inputs) + " Drawn from the equations (sdmodels.layout) and "
                  f"{relative(inputs.model.mdl_path.with_suffix('.loops.toml'))}; "
                  f"{constants.get(sector, 0)} constants and lookups of this sector not drawn. "
                  "Layout: networkx Kamada-Kawai."]
        stem = "structure_" + sector.lower().replace(" ", "_")
        out[stem] = structure.plot_structure(nodes, edges, sector, loops, footer)
    return out


def _holdout(inputs: FigureInputs) -> dict[str, Figure]:
    frame = fit.compute_holdout(inputs)
    footer = [DATA_SOURCE, _model_line(inputs, inputs.holdout_file)
              + f" Dotted: {relative(inputs.calibration_file)}. Band: 95% of "
              f"{fit.HOLDOUT_BAND_RUNS:,} parameter sets resampled from the MCMC draws "
              f"{relative(posterior_path(inputs.holdout_file))} (parameter uncertainty only)."]
    return {"holdout": fit.plot_holdout(frame, inputs.stages(), inputs.holdout.get("holdout", {}),
                                        _units(inputs, list(fit.FIT_VARIABLES)), footer)}


def _bands(inputs: FigureInputs) -> dict[str, Figure]:
    bands, reference = uncertainty.compute_bands(inputs)
    footer = [_model_line(inputs, inputs.calibration_file) + " Parameter sets resampled from "
              f"the MCMC draws {relative(posterior_path(inputs.calibration_file))} (clusterdyn "
              "posterior: uniform prior on the search bounds). Parameter uncertainty only. "
              "Dashed: the calibrated run."]
    units = _units(inputs, list(uncertainty.BAND_VARIABLES))
    return {"bands": uncertainty.plot_monte_carlo_bands(bands, reference, inputs.stages(), units,
                                                        footer)}


def _identification(inputs: FigureInputs) -> dict[str, Figure]:
    profiles, forecasts = identification.compute_profiles(inputs)
    holdout_profile, full_profile = inputs.files("profiles")
    points = int((profiles["fit"] == profiles["fit"].min()).sum())
    footer = [DATA_SOURCE, _model_line(inputs) + f" Profiles {relative(holdout_profile)} and "
              f"{relative(full_profile)} (clusterdyn profile, {points} points, from "
              f"{relative(inputs.holdout_file)} and {relative(inputs.calibration_file)}): "
              "each point holds the parameter and re-optimises the other free parameters; "
              "the right panel runs the model from "
              "every point of the 1995 profile inside its 95% bound."]
    return {"identification": identification.plot_identification(
        profiles, forecasts, identification.observed_production(inputs), footer)}


def _forecast_skill(inputs: FigureInputs) -> dict[str, Figure]:
    forecasts, by_horizon, observed = forecast.compute_forecast_skill()
    origins = sorted(int(o) for o in forecasts["origin"].unique())
    model = by_horizon[(by_horizon["method"] == "model")
                       & (by_horizon["variable"] == forecast.FAN_VARIABLES[0])]
    per_horizon = model.set_index("horizon")["n"].sort_index()
    footer = [DATA_SOURCE, _model_line(inputs) + f" Results {relative(RESULTS_DIR)}/ "
              f"(clusterdyn forecast --origins {','.join(map(str, origins))}): at each origin "
              "the model is calibrated to the data up to it and its posterior sampled by MCMC; "
              "the bands add the spec's observation error. Baselines fitted to the same years "
              "and transform. A horizon averages the origins with data that far ahead "
              f"({int(per_horizon.iloc[0])} at horizon 1, {int(per_horizon.iloc[-1])} at "
              f"horizon {int(per_horizon.index[-1])})."]
    units = _units(inputs, list(forecast.FAN_VARIABLES))
    return {"forecast_skill": forecast.plot_forecast_skill(forecasts, by_horizon, observed,
                                                            units, footer)}


def _beyond_2003(inputs: FigureInputs) -> dict[str, Figure]:
    forecasts, observed = forecast.compute_beyond()
    # The model's own variable at the estimates (constant in time), not its formula again here.
    run = inputs.model_run(inputs.calibrated_params, until=int(inputs.model.initial_time) + 1,
                           variables=["Biophysical ceiling"])
    ceiling = float(run["Biophysical ceiling"].iloc[0])
    footer = [DATA_SOURCE, _model_line(inputs, inputs.calibration_file) + " Results "
              f"{relative(BEYOND_DIR)}/ (clusterdyn forecast --train-until 2003 --horizon "
              f"{BEYOND_HORIZON}): the shipped posterior draws run forward with the spec's "
              "observation error; the rest of the world's production is FAO data to 2012. "
              "Baselines fitted to the same years and transform."]
    units = _units(inputs, list(forecast.FAN_VARIABLES))
    return {"beyond_2003": forecast.plot_beyond(forecasts, observed, ceiling, units, footer)}


def _optimize_line(settings: dict[str, object]) -> str:
    return (f"Results {relative(OPTIMIZE_DIR)}/ (clusterdyn optimize, seed {settings['seed']}): "
            f"differential evolution then SLSQP over the 27 intensities (stages from 1986 and "
            f"1996) or the 9 of a static mix, maximising the {settings['robust']} over "
            f"{settings['draws']} MCMC draws of the NPV of export value, 1978-"
            f"{settings['until']}, deflated by the US CPI-U to 2003 dollars and discounted at "
            f"{float(str(settings['rate'])):.0%} a year; policy cost as {relative(COSTS_FILE)} "
            "(constant 2003 US$). The initial population holds every shipped calendar "
            "scenario.")


def _policy_frontier(inputs: FigureInputs) -> dict[str, Figure]:
    frontier, shipped = policy_analysis.compute_policy_frontier()
    settings = policy_analysis.optimize_settings()
    footer = [_model_line(inputs, inputs.calibration_file) + " " + _optimize_line(settings)
              + " Frontier budgets: shorter searches warm-started from the main optimum."]
    return {"policy_frontier": policy_analysis.plot_policy_frontier(frontier, shipped,
                                                                    settings, footer)}


def _optimal_schedule(inputs: FigureInputs) -> dict[str, Figure]:
    settings = policy_analysis.optimize_settings()
    frame = policy_analysis.compute_optimal_schedule(inputs.scenario("historical").levers)
    footer = [_model_line(inputs, inputs.calibration_file) + " " + _optimize_line(settings)
              + f" Ranges: {settings['replicates']} more searches with other draws and seeds."]
    return {"optimal_schedule": policy_analysis.plot_optimal_schedule(frame, footer)}


def _ranking_robustness(inputs: FigureInputs) -> dict[str, Figure]:
    frame = policy_analysis.compute_ranking_robustness()
    footer = [_model_line(inputs, inputs.calibration_file) + f" Results {relative(ROBUSTNESS_DIR)}/"
              " (clusterdyn robustness): Latin-hypercube samples of the uncalibrated constants "
              "over their declared ranges, of a shape per effect table (its deviation from 1 "
              "scaled by 0.5-1.5) and of the MCMC draws; every sample runs every calendar "
              "scenario. NPV as in policy_frontier; other KPIs in the last year."]
    return {"ranking_robustness": policy_analysis.plot_ranking_robustness(frame, footer)}


def _loop_dominance(inputs: FigureInputs) -> dict[str, Figure]:
    scores, stages, shown = loops.compute_loop_dominance(RESULTS_SCENARIOS)
    titles = {name: ("historical (calibrated run, Table 3.1's policies)" if name == "historical"
                     else name.replace("_", " ")) for name in RESULTS_SCENARIOS}
    footer = [_model_line(inputs, inputs.calibration_file)
              + f" Results {relative(RESULTS_DIR_LOOPS)}/ (clusterdyn loops --until 2030): every "
              f"elementary feedback loop of the model ({len(loops.read_loop_table())}) scored at "
              "every time step by Loops that Matter (Schoenberg, Davidsen & "
              "Eberlein 2020; flow link scores as corrected by Schoenberg, Hayward & Eberlein "
              "2023); a loop's relative score is its share of all loop activity, signed by "
              "polarity; bars are yearly means, stacked."]
    return {"loop_dominance": loops.plot_loop_dominance(scores, stages, shown, titles, footer)}


_BUILDS: dict[str, tuple[tuple[str, ...], Callable[[FigureInputs], dict[str, Figure]]]] = {
    "calibration_fit": (("model", "calibration", "spec", "data"), _calibration_fit),
    "lifecycle": (("model", "calibration"), _lifecycle),
    "policy_schedules": (("model", "calibration", "scenarios"), _policy_schedules),
    "scenario_comparison": (("model", "calibration", "scenarios", "costs"),
                            _scenario_comparison),
    "scenario_kpis": (("model", "calibration", "scenarios", "costs"), _scenario_kpis),
    "parameters": (("model", "calibration", "spec"), _parameters),
    "structure": (("model", "loops"), _structure),
    "holdout": (("model", "calibration", "holdout", "spec", "data", "posterior"), _holdout),
    "bands": (("model", "calibration", "spec", "posterior"), _bands),
    "identification": (("model", "calibration", "holdout", "spec", "data", "profiles"),
                       _identification),
    "forecast_skill": (("model", "forecast"), _forecast_skill),
    "beyond_2003": (("model", "calibration", "beyond"), _beyond_2003),
    "policy_frontier": (("model", "calibration", "costs", "optimize"), _policy_frontier),
    "optimal_schedule": (("model", "calibration", "scenarios", "optimize"), _optimal_schedule),
    "ranking_robustness": (("model", "calibration", "robustness"), _ranking_robustness),
    "loop_dominance": (("model", "calibration", "loop_dominance"), _loop_dominance),
}
if list(_BUILDS) != list(CATALOG):  # pragma: no cover - a developer error
    raise RuntimeError("clusterdyn.figures.catalog.CATALOG and figures.registry disagree")

#: The figure set, in order: name -> :class:`FigureSpec`.
FIGURES: dict[str, FigureSpec] = {
    name: FigureSpec(name, CATALOG[name], kinds, build)
    for name, (kinds, build) in _BUILDS.items()
}
