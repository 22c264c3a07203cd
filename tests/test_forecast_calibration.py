"""Calibration of the model's posterior predictive distribution, on data it generated itself.

Data are simulated from the calibrated model (the truth) with the spec's observation error:
each target on its transform plus ``sigma_t * N(0, 1)``, seeded. Each replication is
calibrated to 1978-1995, its posterior sampled, and 1996-2003 forecast; the 90% intervals of
production and price must hold the simulated observations 80-97% of the time over all
replications and years (the issue's band around the nominal 90%).

Budget (a test-speed concession, stated): the global search runs 12 x 11 members for 120
generations with 2 refinement starts (the shipped spec: 25 x 11 for 400 and 8), and the
chain 1,000 steps (500 draws). Measured on 8 replications (seeds below): coverage 0.89 with
this budget, 0.875 with the shipped search; the spec's own quick budget (5 x 11 for 20) finds
poorer optima, whose inflated residual variance over-covers (0.98 on 6 replications). The
8 replications (128 forecast cells) run in two processes.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd

from clusterdyn.forecasting.pipeline import _one_thread_per_process

REPLICATIONS = 8
ORIGIN = 1995
SEARCH = {"popsize": 12, "maxiter": 120, "starts": 2}
STEPS, DRAWS = 1_000, 500
COVERAGE_BAND = (0.80, 0.97)


def _setup():
    from clusterdyn.calibration.spec import load_spec
    from clusterdyn.sdmodels import load_model

    truth = load_model()  # the shipped calibration is the truth
    spec = load_spec(truth.with_mdl_defaults())
    spec = replace(spec, quick=replace(spec.quick, **SEARCH))
    return truth, spec


def simulated_observations(truth, spec, observations: pd.DataFrame,
                           seed: int) -> pd.DataFrame:
    """The data with every target replaced, where observed, by the truth's run plus the
    spec's observation error on the target's transform."""
    from clusterdyn.forecasting.predictive import observation_scale, transform, untransform

    run = truth.run(variables=sorted({t.variable for t in spec.targets}))
    rng = np.random.default_rng(seed)
    data = observations.copy()
    for target in spec.targets:
        years = data.index[data[target.series].notna()]
        clean = transform(target, run.loc[years, target.variable].to_numpy())
        noisy = clean + observation_scale(target, years) * rng.standard_normal(len(years))
        data.loc[years, target.series] = untransform(target, noisy)
    return data


def replication(seed: int) -> np.ndarray:
    """90% coverage of production and price, 1996-2003, for one simulated data set."""
    import warnings

    from clusterdyn.forecasting.pipeline import forecast

    warnings.simplefilter("error")
    warnings.filterwarnings("ignore", "chardet.universaldetector is deprecated")
    truth, spec = _setup()
    data = simulated_observations(truth, spec, spec.observations(), 5000 + seed)
    result = forecast(ORIGIN, quick=True, steps=STEPS, draws=DRAWS, seed=seed,
                      progress=False, spec=spec, observations=data)
    cells = result.skill.query("method == 'model' and variable != 'World market share'")
    assert len(cells) == 16
    return cells["covered_90"].to_numpy()


def test_simulated_observations_have_the_specs_error():
    truth, spec = _setup()
    data = simulated_observations(truth, spec, spec.observations(), 1)
    run = truth.run()
    years = range(1985, 2004)
    log_error = np.log(data.loc[years, "chile_salmon_production_t"] / run.loc[years,
                                                                               "Production"])
    assert 0.08 < log_error.std() < 0.25  # sigma 0.15
    assert data["chile_salmon_unit_value_usd_per_kg"].isna().sum() == \
        spec.observations()["chile_salmon_unit_value_usd_per_kg"].isna().sum()


def test_the_90_percent_predictive_intervals_cover_90_percent_of_new_data():
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context,
                             initializer=_one_thread_per_process) as pool:
        hits = np.concatenate(list(pool.map(replication, range(REPLICATIONS))))
    coverage = float(hits.mean())
    low, high = COVERAGE_BAND
    assert low <= coverage <= high, f"90% intervals covered {coverage:.3f} of {len(hits)}"
