"""MCMC posterior (calibration.posterior), ``clusterdyn posterior`` and MCMC bands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterdyn.calibration.fit import calibrate
from clusterdyn.calibration.posterior import posterior_from_results, sample_posterior
from clusterdyn.calibration.shipped import posterior_path
from clusterdyn.calibration.spec import load_spec
from clusterdyn.cli import main
from clusterdyn.ensembles.bands import bands_samples
from clusterdyn.sdmodels import ModelInputError
from tests.precision import differences
from tests.test_calibration import RECOVERY_TRUTH, _recovery_spec, synthetic_observations

RESULTS = Path("calibration/results")


@pytest.fixture(scope="module")
def synthetic(model, tmp_path_factory):
    """Data from known parameters plus 5% log-normal noise, calibrated (quick budget)."""
    spec = load_spec(model, _recovery_spec(tmp_path_factory.mktemp("spec")))
    data = synthetic_observations(model, 11)
    result = calibrate(model, spec, seed=2, quick=True, progress=False, observations=data)
    return spec, data, result


def _sample(model, synthetic, seed=0, steps=1500):
    spec, data, result = synthetic
    return sample_posterior(model, spec, result.intervals, result.objective,
                            until=spec.last_year, steps=steps, burn=500, draws=1000,
                            seed=seed, progress=False, observations=data)


def test_posterior_recovers_known_parameters(model, synthetic):
    """Synthetic data from known parameters: every true value lies inside its 95% credible
    interval, the intervals are informative (under half the search range), the sampler
    accepts a healthy share of moves (the stretch move's usual 0.2-0.5; 0.1-0.7 allowed)
    and the credible intervals overlap the Gauss-Newton ones."""
    spec, _, result = synthetic
    sample = _sample(model, synthetic)
    ci = sample.intervals()
    for par in spec.parameters:
        low, high = ci.loc[par.name, ["lower", "upper"]]
        assert low <= RECOVERY_TRUTH[par.name] <= high, (par.name, low, high)
        assert high - low < (par.upper - par.lower) / 2
        assert par.lower <= low and high <= par.upper
        hessian = result.intervals.loc[par.name]
        assert low < hessian["upper_95"] and hessian["lower_95"] < high
    assert 0.1 < sample.acceptance < 0.7
    # "About 1,000 draws": whole thinned steps of all walkers, so within one step's worth.
    assert abs(len(sample.draws) - 1000) < sample.walkers
    assert np.isfinite(sample.draws["log_posterior"]).all()
    assert "| Maximum demand growth rate |" in sample.report_markdown()


def test_posterior_is_seeded(model, synthetic):
    a = _sample(model, synthetic, seed=4, steps=600)
    b = _sample(model, synthetic, seed=4, steps=600)
    c = _sample(model, synthetic, seed=5, steps=600)
    pd.testing.assert_frame_equal(a.draws, b.draws, check_exact=True)
    assert not a.draws.equals(c.draws)


#: Kept steps of the shipped chains the regeneration test recomputes (of 31): the chain is
#: deterministic step by step, so a shorter run with the same seed, burn-in and thinning
#: reproduces the first draws of the shipped file exactly (a CI-time concession: 2,640 of
#: 12,000 steps, the burn-in and two thinning intervals; 128 of the 1,984 draws).
PREFIX_STEPS = 2


SHIPPED_CHAINS = ["salmon_cluster.toml", "salmon_cluster_until_1995.toml"]


def _shipped_settings(results: str) -> tuple[Path, int, int, int, int]:
    """The shipped draws file of ``results`` and its walkers, steps, burn-in and thinning (as
    its report states them)."""
    import re

    shipped_file = posterior_path(RESULTS / results)
    settings = re.search(r"(\d+) walkers x ([\d,]+) steps \(first ([\d,]+) dropped\), keeping "
                         r"one step in (\d+)", shipped_file.with_suffix(".md").read_text())
    walkers, total, burn, thin = (int(g.replace(",", "")) for g in settings.groups())
    return shipped_file, walkers, total, burn, thin


def _prefix_chain(results: str, steps: int, burn: int, draws: int, out: str) -> int:
    """The seeded chain of ``results`` over ``steps``, its draws written to ``out`` (in a
    worker process, warnings as errors as in the test session); returns its thinning."""
    import warnings

    warnings.simplefilter("error")
    warnings.filterwarnings("ignore", "chardet.universaldetector is deprecated")
    sample = posterior_from_results(RESULTS / results, steps=steps, burn=burn, draws=draws,
                                    seed=0, progress=False)
    with Path(out).open("w", encoding="utf-8") as handle:
        sample.to_csv(handle)
    return sample.thin


@pytest.fixture(scope="module")
def shipped_chains(tmp_path_factory) -> dict[str, tuple[int, Path]]:
    """Both shipped chains' first kept steps, computed at the same time in two processes
    (one chain each, one thread each; on the 2-core CI machine the pair takes the time of the
    longer, about 50 s less than one after the other). By results file: the thinning and the
    draws file written."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from clusterdyn.calibration.shipped import BURN
    from clusterdyn.forecasting.pipeline import _one_thread_per_process

    folder = tmp_path_factory.mktemp("chains")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context,
                             initializer=_one_thread_per_process) as pool:
        running = {}
        for results in SHIPPED_CHAINS:
            _, walkers, _, _, thin = _shipped_settings(results)
            out = folder / f"{results}.csv"
            running[results] = out, pool.submit(_prefix_chain, results,
                                                BURN + thin * PREFIX_STEPS, BURN,
                                                walkers * PREFIX_STEPS, str(out))
        return {results: (future.result(), out) for results, (out, future) in running.items()}


@pytest.mark.parametrize("results", SHIPPED_CHAINS)
def test_shipped_draws_are_what_the_sampler_writes_now(shipped_chains, results):
    """The first draws of the shipped posterior are what the seeded sampler gives now, at the
    file's precision (6 significant digits, :mod:`tests.precision`): the shipped settings
    (walkers, burn-in and thinning read from its report) over the first :data:`PREFIX_STEPS`
    kept steps of every walker (the chain computed by ``shipped_chains``, both at once)."""
    from clusterdyn.calibration.shipped import BURN, STEPS

    shipped_file, walkers, total, burn, thin = _shipped_settings(results)
    assert (total, burn) == (STEPS, BURN)
    assert len(pd.read_csv(shipped_file)) == walkers * ((STEPS - BURN) // thin)
    sample_thin, out = shipped_chains[results]
    assert sample_thin == thin
    prefix = "\n".join(shipped_file.read_text().splitlines()[:1 + walkers * PREFIX_STEPS])
    assert differences(out.read_text(), prefix + "\n") == []


def test_posterior_command_writes_draws_and_report(tmp_path):
    """``clusterdyn posterior`` writes the draws and the report (a short chain)."""
    out = tmp_path / "draws.csv"
    assert main(["posterior", "--no-progress", "--steps", "200", "--results",
                 str(RESULTS / "salmon_cluster.toml"), "-o", str(out)]) == 0
    shipped = posterior_path(RESULTS / "salmon_cluster.toml")
    assert out.read_text().splitlines()[0] == shipped.read_text().splitlines()[0]
    assert "# Posterior by MCMC" in out.with_suffix(".md").read_text()


def test_mcmc_bands_resample_the_shipped_draws(model):
    """``sampling="mcmc"`` draws rows of the shipped draws, seeded."""
    draws = pd.read_csv(posterior_path(RESULTS / "salmon_cluster.toml"))
    samples, _, _ = bands_samples(model, 500, seed=3, sampling="mcmc")
    again, _, _ = bands_samples(model, 500, seed=3, sampling="mcmc")
    pd.testing.assert_frame_equal(samples, again, check_exact=True)
    rows = draws[samples.columns].round(12).apply(tuple, axis=1)
    assert set(samples.round(12).apply(tuple, axis=1)) <= set(rows)


def test_mcmc_bands_without_draws_name_the_command(model, tmp_path):
    results = tmp_path / "salmon_cluster.toml"
    results.write_text((RESULTS / "salmon_cluster.toml").read_text())
    with pytest.raises(ModelInputError, match="no MCMC draws; write them with 'clusterdyn "
                       "posterior"):
        bands_samples(model, 10, seed=0, results=results, sampling="mcmc")


@pytest.mark.parametrize("argv, message", [
    (["posterior", "--steps", "100", "--burn", "100", "-o", "{out}"],
     "--burn 100: expected fewer than --steps"),
    (["posterior", "--results", "{tmp}/missing.toml", "-o", "{out}"],
     "no such calibration results file"),
    (["posterior", "-o", "{tmp}/draws.txt"], "expected a .csv file name"),
    (["posterior", "--results", "{tmp}/broken.toml", "-o", "{out}"],
     "not a calibration results file"),
])
def test_bad_posterior_arguments_leave_files_untouched(tmp_path, capsys, argv, message):
    out = tmp_path / "draws.csv"
    out.write_text("keep me")
    (tmp_path / "broken.toml").write_text("[calibration]\n")
    assert main([a.format(out=out, tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert out.read_text() == "keep me"


def test_posterior_api_rejects_inconsistent_settings():
    with pytest.raises(ModelInputError, match="expected 0 < burn < steps"):
        posterior_from_results(RESULTS / "salmon_cluster.toml", steps=10, burn=20)
