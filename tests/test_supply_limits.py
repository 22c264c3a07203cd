"""Model 2, step 1 (issue 15): the farming-area ceiling, the crowding-driven sanitary limit and
the maturing market, run past the calibration window with the shipped calibration and every
draw of its posterior."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from clusterdyn.calibration.shipped import DEFAULT_RESULTS, posterior_path
from clusterdyn.calibration.spec import load_spec
from clusterdyn.sdmodels.vectorized import compile_model

#: Free parameters whose evidence enters as a prior, with the centre the model's comment cites.
PRIORS = {
    "Suitable salmon farming sites": 700,
    "Maximum harvest per site": 900,
    "Sanitary occupancy threshold": 0.1,
    "Saturation world demand": 1.3e6,
}


@pytest.fixture(scope="module")
def posterior_runs(model):
    """Every shipped posterior draw of the full calibration, run to 2030."""
    draws = pd.read_csv(posterior_path(DEFAULT_RESULTS))
    spec = load_spec(model.with_mdl_defaults())
    params = {name: draws[name].to_numpy() for name in spec.names}
    runner = compile_model(model)
    return runner.run(params, until=2030, variables=[
        "Production", "Production capacity", "Biophysical ceiling", "Price"])


def test_the_evidence_enters_as_priors_with_sources(model):
    spec = load_spec(model.with_mdl_defaults())
    priors = {p.name: p.prior for p in spec.parameters if p.prior is not None}
    assert set(PRIORS) <= set(priors)
    for name, centre in PRIORS.items():
        assert priors[name].distribution == "lognormal"
        assert priors[name].center == pytest.approx(centre)
        assert len(priors[name].source) > 40, name


def test_the_mdl_defaults_are_the_shipped_calibration(model):
    """A Vensim user who opens the .mdl runs the shipped model: every free parameter's default
    is its calibrated estimate as written in the results file (4 significant digits), and the
    two runs are identical."""
    from clusterdyn.sdmodels import load_model

    estimates = tomllib.loads(DEFAULT_RESULTS.read_text(encoding="utf-8"))["parameters"]
    defaults = model.with_mdl_defaults().defaults
    assert {name: defaults[name] for name in estimates} == {
        name: entry["value"] for name, entry in estimates.items()}
    pd.testing.assert_frame_equal(model.with_mdl_defaults().run(),
                                  load_model("salmon_cluster").run())



def test_writing_defaults_changes_only_value_lines_and_is_idempotent(tmp_path):
    """``python -m clusterdyn.sdmodels.defaults``: the shipped calibration over the shipped .mdl
    changes
    nothing; other estimates change exactly their value lines, and the model then runs them."""
    from clusterdyn.sdmodels import load_model
    from clusterdyn.sdmodels.defaults import main, write_defaults
    from clusterdyn.sdmodels.model import MODELS_DIR

    mdl = tmp_path / "salmon_cluster.mdl"
    source = (MODELS_DIR / "salmon_cluster.mdl").read_text(encoding="utf-8")
    mdl.write_text(source, encoding="utf-8")
    assert write_defaults(DEFAULT_RESULTS, mdl) == []
    assert mdl.read_text(encoding="utf-8") == source

    other = tomllib.loads(DEFAULT_RESULTS.read_text(encoding="utf-8"))
    results = tmp_path / "other.toml"
    results.write_text(DEFAULT_RESULTS.read_text(encoding="utf-8").replace(
        f"value = {other['parameters']['Price adjustment time']['value']}\n", "value = 1.25\n"),
        encoding="utf-8")
    assert write_defaults(results, mdl) == ["Price adjustment time"]
    changed = [(a, b) for a, b in zip(source.splitlines(), mdl.read_text().splitlines(),
                                      strict=True) if a != b]
    assert changed == [(f"\t{other['parameters']['Price adjustment time']['value']}", "\t1.25")]
    assert load_model(str(mdl)).defaults["Price adjustment time"] == 1.25

    bad = tmp_path / "bad.toml"
    bad.write_text('[parameters."No such constant"]\nvalue = 1.0\n', encoding="utf-8")
    assert main([str(bad), str(mdl)]) == 2

def test_no_posterior_draw_exceeds_the_biophysical_ceiling(posterior_runs):
    """The ceiling is structural: investment stops when the suitable area is full (to 2030,
    every draw; tolerance 1e-9 relative for the Euler step's overshoot)."""
    ceiling = posterior_runs.get("Biophysical ceiling")
    assert posterior_runs.get("Production capacity").shape[0] >= 500
    assert (posterior_runs.get("Production capacity") <= ceiling * (1 + 1e-9)).all()
    assert (posterior_runs.get("Production") <= ceiling * (1 + 1e-9)).all()


def test_growth_slows_after_the_window_in_every_draw(posterior_runs):
    """No explosive growth: in every draw the average growth of 2003-2030 is below that of
    1990-2003 (FAO: 24%/year), and no draw grows faster than 15%/year after 2003."""
    production = posterior_runs.get("Production")
    years = list(posterior_runs.years)
    at = {y: production[:, years.index(y)] for y in (1990, 2003, 2030)}
    before = np.log(at[2003] / at[1990]) / 13
    after = np.log(at[2030] / at[2003]) / 27
    assert (after < before).all()
    assert after.max() < 0.15


def test_the_calibrated_run_levels_off_below_the_ceiling():
    from clusterdyn.sdmodels import load_model

    run = load_model("salmon_cluster").run(until=2030, variables=[
        "Production", "Biophysical ceiling", "Farming area occupancy", "Sanitary pressure"])
    assert (run["Production"] <= run["Biophysical ceiling"]).all()
    growth = np.log(run["Production"]).diff()
    assert growth.loc[2010:].abs().max() < 0.1
    # the sanitary loop is active: pressure reaches a tenth of its reference by 1995
    assert run.loc[1995, "Sanitary pressure"] > 0.1
