"""Priors on free parameters (calibration.priors): spec validation, the penalty by hand, and
their effect on a fit, its intervals and its posterior on synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clusterdyn.calibration.fit import calibrate
from clusterdyn.calibration.objective import Objective
from clusterdyn.calibration.posterior import sample_posterior
from clusterdyn.calibration.priors import Prior, parse_prior
from clusterdyn.calibration.spec import SpecError, load_spec
from clusterdyn.sdmodels.vectorized import compile_model
from tests.test_calibration import RECOVERY_TRUTH, _recovery_spec, synthetic_observations

ELASTICITY = "Price elasticity of demand"


def _with_prior(path, prior: str, name: str = ELASTICITY):
    """The recovery spec with ``prior`` (TOML lines) added to parameter ``name``."""
    text = path.read_text()
    head, sep, rest = text.partition(f'name = "{name}"\n')
    block, sep2, tail = rest.partition("[[")
    path.write_text(head + sep + block + "[parameters.prior]\n" + prior + "\n" + sep2 + tail)
    return path


@pytest.mark.parametrize(("prior", "message"), [
    ('distribution = "beta"\nsource = "x"', "distribution: expected one of normal, lognormal"),
    ('distribution = "normal"\nmean = 1.6\nsd = 0.1', "source: expected the evidence's"),
    ('distribution = "normal"\nmean = 1.6\nsd = 0\nsource = "x"', "sd: expected a positive"),
    ('distribution = "normal"\nmean = 9\nsd = 1\nsource = "x"', "mean: 9 lies outside the search"),
    ('distribution = "lognormal"\nmedian = 1.6\nsd = 1\nsource = "x"', "sd: unknown key"),
    ('distribution = "normal"\nmean = "a"\nsd = 1\nsource = "x"', "mean: expected a finite"),
])
def test_a_bad_prior_is_one_clear_error(model, tmp_path, prior, message):
    path = _with_prior(_recovery_spec(tmp_path), prior)
    with pytest.raises(SpecError, match=message) as caught:
        load_spec(model, path)
    assert "parameters[2].prior" in str(caught.value)


def test_a_lognormal_prior_needs_a_positive_bound():
    table = {"distribution": "lognormal", "median": 1.6, "sigma": 0.2, "source": "x"}
    with pytest.raises(ValueError, match="a lognormal prior needs a positive lower bound"):
        parse_prior(table, "parameters[0].prior.", (0.0, 3.0),
                    lambda key, message: ValueError(f"{key}: {message}"))


def test_prior_residuals_by_hand():
    normal = Prior("normal", 2.0, 0.5, "x")
    lognormal = Prior("lognormal", 100.0, 0.25, "x")
    assert normal.residual(np.array([3.0])) == pytest.approx([2.0])
    assert lognormal.residual(np.array([100 * math.e])) == pytest.approx([4.0])
    assert not Prior("uniform", math.nan, math.nan, "x").penalises
    assert lognormal.describe() == "lognormal(median 100, sigma 0.25)"


def test_the_penalised_payoff_adds_the_prior(model, tmp_path):
    data = synthetic_observations(model, 5)
    plain = load_spec(model, _recovery_spec(tmp_path))
    assert not plain.penalised
    path = _with_prior(_recovery_spec(tmp_path), 'distribution = "normal"\nmean = 2.0\n'
                                                 'sd = 0.5\nsource = "x"')
    spec = load_spec(model, path)
    assert spec.penalised
    runner = compile_model(model)
    objective = Objective(spec, runner, data, 2003)
    u = np.full((1, len(spec.parameters)), 0.5)
    theta = objective.to_params(u)[0]
    j = spec.names.index(ELASTICITY)
    expected = 0.5 * ((theta[j] - 2.0) / 0.5) ** 2
    assert objective.prior_payoff(u)[0] == pytest.approx(expected)
    assert objective.penalised_payoff(u)[0] == pytest.approx(objective.payoff(u)[0] + expected)
    assert objective.penalised_residuals(u).shape == (1, objective.n_observations + 1)
    without = Objective(plain, runner, data, 2003)
    assert np.array_equal(without.penalised_residuals(u), without.residuals(u))


@pytest.fixture(scope="module")
def tight(model, tmp_path_factory):
    """A fit where a tight prior (sd 0.01 at 2.5) contradicts the data's elasticity (1.6)."""
    path = _with_prior(_recovery_spec(tmp_path_factory.mktemp("tight")),
                       'distribution = "normal"\nmean = 2.5\nsd = 0.01\nsource = "test"')
    spec = load_spec(model, path)
    data = synthetic_observations(model, 20261127)
    result = calibrate(model, spec, seed=3, quick=True, progress=False, observations=data)
    return spec, data, result


def test_a_tight_prior_holds_its_parameter(tight):
    _, _, result = tight
    estimate = result.intervals.loc[ELASTICITY]
    assert estimate["value"] == pytest.approx(2.5, abs=0.03)
    # the interval is the prior's, not the data's: about +-2 sd
    assert estimate["upper_95"] - estimate["lower_95"] < 0.1
    assert result.intervals.loc[ELASTICITY, "value"] != pytest.approx(
        RECOVERY_TRUTH[ELASTICITY], abs=0.3)


def test_a_loose_prior_leaves_the_data_in_charge(model, tmp_path):
    path = _with_prior(_recovery_spec(tmp_path), 'distribution = "normal"\nmean = 2.5\n'
                                                 'sd = 100\nsource = "test"')
    spec = load_spec(model, path)
    data = synthetic_observations(model, 20261127)
    result = calibrate(model, spec, seed=3, quick=True, progress=False, observations=data)
    row = result.intervals.loc[ELASTICITY]
    assert row["lower_95"] <= RECOVERY_TRUTH[ELASTICITY] <= row["upper_95"]


def test_the_posterior_follows_a_tight_prior(model, tight):
    spec, data, result = tight
    chain = sample_posterior(model.with_mdl_defaults(), spec,
                             result.intervals[["value", "lower_95", "upper_95"]],
                             result.objective, until=2003, steps=300, draws=300, seed=1,
                             progress=False, observations=data)
    values = chain.draws[ELASTICITY]
    assert values.median() == pytest.approx(2.5, abs=0.02)
    assert values.std() < 0.03


def test_results_files_name_the_prior(tight, tmp_path):
    _, data, result = tight
    written = result.to_dict(data, result.simulate())
    entry = written["parameters"][ELASTICITY]
    assert entry["prior"] == "normal(mean 2.5, sd 0.01)" and entry["prior_source"] == "test"
    assert "prior" not in written["parameters"]["Normal investment fraction"]


def test_the_summary_flags_the_prior(tight):
    _, _, result = tight
    line = next(x for x in result.summary().splitlines() if x.startswith(ELASTICITY))
    assert "prior normal(mean 2.5, sd 0.01)" in line
