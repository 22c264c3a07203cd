"""The figure set: reproducible bytes, manifest and --check, --only, compute functions, cache.

The whole set is rendered twice per session: once in this process (the default, where pytest
turns any warning, e.g. a missing-glyph font warning, into an error) and once through two
worker processes (their warnings are re-emitted here). Both folders must hold the same bytes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ensembles.bands import BANDS
from figures import FIGURES, render
from figures.cache import ResultCache
from figures.command import main
from figures.inputs import HOLDOUT_FILE, FigureInputs
from figures.registry import FigureSpec
from figures.rendering import MANIFEST, sha256_file
from figures.style import FORMATS

HAVE_HOLDOUT = HOLDOUT_FILE.is_file()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def inputs() -> FigureInputs:
    return FigureInputs()


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("figures_a")
    report = render(out, progress=False, jobs=1)
    assert report.skipped == ({} if HAVE_HOLDOUT else {"holdout": report.skipped["holdout"]})
    return out


@pytest.fixture(scope="module")
def second(first, tmp_path_factory, inputs) -> Path:
    out = tmp_path_factory.mktemp("figures_b")
    render(out, progress=False, jobs=2, inputs=inputs)
    return out


def test_every_figure_in_every_format_and_identical_bytes_twice(first, second):
    a, b = _files(first), _files(second)
    assert list(a) == list(b)
    different = [name for name in a if a[name] != b[name]]
    assert different == [], f"not byte-identical across renders: {different}"
    stems = {name.rsplit(".", 1)[0] for name in a if name != MANIFEST}
    for figure in FIGURES:
        if figure == "holdout" and not HAVE_HOLDOUT:
            continue
        mine = {s for s in stems if s == figure or s.startswith(figure + "_")}
        assert mine, f"no files for figure {figure}"
        for stem in mine:
            assert all(f"{stem}.{fmt}" in a for fmt in FORMATS)
    assert len(stems) >= 14 - (not HAVE_HOLDOUT)
    assert not [p for p in first.iterdir() if p.name.startswith(".")]  # no staging left
    assert a["calibration_fit.png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert a["calibration_fit.pdf"].startswith(b"%PDF") and b"CreationDate" not in a[
        "calibration_fit.pdf"]
    assert b"<svg" in a["calibration_fit.svg"] and b"<dc:date>" not in a["calibration_fit.svg"]


def test_manifest_lists_every_file_and_the_inputs(first, inputs):
    manifest = json.loads((first / MANIFEST).read_text(encoding="utf-8"))
    on_disk = {p.name for p in first.iterdir() if p.is_file() and p.name != MANIFEST}
    assert set(manifest["files"]) == on_disk
    assert all(sha256_file(first / f) == sha for f, sha in manifest["files"].items())
    fit_inputs = manifest["figures"]["calibration_fit"]["inputs"]
    assert fit_inputs["sdmodels/salmon_cluster.mdl"] == inputs.model.sha256
    for name in ("calibration/results/salmon_cluster.toml",
                 "calibration/data/salmon_cluster_observations.csv",
                 "figures/clusterdyn.mplstyle"):
        assert name in fit_inputs
    scenario_inputs = manifest["figures"]["scenario_kpis"]["inputs"]
    assert "scenarios/historical.toml" in scenario_inputs
    assert "scenarios/costs.toml" in scenario_inputs
    assert "sdmodels/salmon_cluster.loops.toml" in manifest["figures"]["structure"]["inputs"]


def test_check_passes_on_a_fresh_render_and_names_a_changed_or_missing_file(
        first, tmp_path, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(first, folder)
    assert main(["--check", str(folder)]) == 0
    assert "all files match" in capsys.readouterr().out
    target = folder / "lifecycle.png"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    (folder / "parameters.svg").unlink()
    assert main(["--check", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "lifecycle.png" in out and "parameters.svg" in out and "FAILED" in out
    assert main(["--check", str(tmp_path)]) == 2  # no manifest there
    assert "no readable MANIFEST.json" in capsys.readouterr().err


def test_only_unknown_name_lists_the_valid_names(tmp_path, capsys):
    assert main(["--only", "calibraton_fit", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "'calibraton_fit'" in err
    assert all(name in err for name in FIGURES)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_only_renders_one_figure_and_keeps_the_manifest_of_the_others(first, tmp_path,
                                                                      capsys):
    folder = tmp_path / "copy"
    shutil.copytree(first, folder)
    before = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert main(["--only", "parameters", "-o", str(folder), "--no-progress"]) == 0
    assert "wrote 3 files" in capsys.readouterr().out
    assert json.loads((folder / MANIFEST).read_text(encoding="utf-8")) == before
    assert main(["--check", str(folder)]) == 0
    alone = tmp_path / "alone"
    assert main(["--only", "parameters", "-o", str(alone), "--no-progress"]) == 0
    assert sorted(p.name for p in alone.iterdir()) == [
        MANIFEST, "parameters.pdf", "parameters.png", "parameters.svg"]


def test_failed_render_leaves_the_folder_untouched(first, tmp_path, monkeypatch):
    folder = tmp_path / "copy"
    shutil.copytree(first, folder)
    before = _files(folder)

    def broken(_inputs):
        raise RuntimeError("boom")

    # lifecycle renders into the staging folder first, then parameters fails
    monkeypatch.setitem(FIGURES, "parameters",
                        FigureSpec("parameters", "broken", ("model",), broken))
    with pytest.raises(RuntimeError, match="boom"):
        render(folder, ["lifecycle", "parameters"], progress=False, jobs=1)
    assert _files(folder) == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_compute_functions_return_the_expected_columns(inputs):
    from figures import fit, policy, structure

    frame = fit.compute_calibration_fit(inputs)
    assert list(frame.columns) == fit.FIT_COLUMNS
    assert set(frame["variable"]) == set(fit.FIT_VARIABLES)
    assert frame["year"].min() == 1978 and frame["year"].max() == 2003
    assert not frame.loc[(frame["variable"] == "Production") & (frame["year"] == 1981),
                         "fitted"].item()  # FAO's 1981 reporting error is excluded
    life = fit.compute_lifecycle(inputs)
    assert list(life.columns) == [*fit.LIFECYCLE_VARIABLES, "Lifecycle stage"]
    params = fit.compute_parameters(inputs)
    assert list(params.columns) == fit.PARAMETER_COLUMNS
    assert params["value_norm"].between(0, 1).all()
    assert params.loc[~params["identified"], "parameter"].tolist()  # the toml flags some
    schedules = policy.compute_policy_schedules(inputs)
    assert list(schedules.columns) == policy.SCHEDULE_COLUMNS
    assert len(schedules) == len(inputs.scenario_names) * 9 * 3
    comparison = policy.compute_scenario_comparison(inputs)
    assert list(comparison.columns) == policy.COMPARISON_COLUMNS
    kpis = policy.compute_scenario_kpis(inputs)
    assert {"cum_policy_cost_1978_2003_musd", "export_gain_per_policy_dollar"} <= set(
        kpis.columns)
    assert list(kpis.index) == inputs.scenario_names
    nodes = structure.compute_structure_nodes(inputs)
    edges = structure.compute_structure_edges(inputs)
    assert list(nodes.columns) == structure.NODE_COLUMNS
    assert list(edges.columns) == structure.EDGE_COLUMNS
    assert set(nodes.loc[nodes["kind"] == "stock", "variable"]) == set(inputs.model.stocks)
    # every loop link inside one sector is drawn, from the model's own dependencies
    from sdmodels.loops import load_loops

    home = dict(zip(nodes["variable"], nodes["home_sector"], strict=True))
    drawn = set(zip(edges["source"], edges["target"], strict=True))
    for loop in load_loops(inputs.model.mdl_path):
        for cause, effect in loop.links:
            assert (cause, effect) in drawn or home.get(cause) != home.get(effect)
    from figures import uncertainty

    bands, reference = uncertainty.compute_bands(inputs)
    assert set(bands["variable"]) == set(uncertainty.BAND_VARIABLES)
    assert list(reference.columns) == list(uncertainty.BAND_VARIABLES)
    # nested bands: each wider band contains the narrower ones, and the median lies inside
    wide = bands.pivot_table(index=["variable", "year"], columns="band", values=["low", "high"])
    for narrow, broad in zip(BANDS, BANDS[1:], strict=False):
        assert (wide["low"][broad] <= wide["low"][narrow]).all()
        assert (wide["high"][broad] >= wide["high"][narrow]).all()
    if HAVE_HOLDOUT:
        holdout = fit.compute_holdout(inputs)
        assert list(holdout.columns) == fit.HOLDOUT_COLUMNS
        assert set(holdout["sample"]) == {"in", "out"}


def test_cache_returns_the_run_bit_for_bit_and_keys_on_the_inputs(inputs, tmp_path):
    import scenarios

    cache = ResultCache(tmp_path / "results")
    scenario = inputs.scenario("historical")
    fresh = cache.scenario_run(inputs.model, scenario, inputs.calibrated_params, inputs.costs)
    stored = cache.scenario_run(inputs.model, scenario, inputs.calibrated_params, inputs.costs)
    assert (cache.misses, cache.hits) == (1, 1)
    pd.testing.assert_frame_equal(stored.trajectories, fresh.trajectories, check_exact=True)
    pd.testing.assert_series_equal(stored.cost, fresh.cost, check_exact=True)
    assert dict(stored.stage_starts) == dict(fresh.stage_starts)
    direct = scenarios.run("historical")
    pd.testing.assert_frame_equal(stored.trajectories, direct.trajectories, check_exact=True)
    changed = {**inputs.calibrated_params, "Price adjustment time": 1.0}
    key_a, _ = cache.scenario_key(inputs.model, scenario, inputs.calibrated_params, inputs.costs)
    key_b, _ = cache.scenario_key(inputs.model, scenario, changed, inputs.costs)
    assert key_a != key_b and cache.has(key_a) and not cache.has(key_b)


def test_holdout_needs_its_calibration_file(tmp_path):
    missing = FigureInputs(holdout_file=tmp_path / "salmon_cluster_until_1995.toml")
    with pytest.raises(Exception, match="clusterdyn calibrate --until 1995"):
        render(tmp_path / "out", ["holdout"], progress=False, jobs=1, inputs=missing)


def test_clusterdyn_cli_checks_a_folder(first):
    from clusterdyn import cli

    assert cli.main(["figures", "--check", str(first)]) == 0


def test_committed_figures_are_what_the_command_renders_now(first):
    """figures/output/ (committed, shown in README.md) equals a fresh render byte for byte."""
    committed = Path(__file__).parent.parent / "figures" / "output"
    fresh, kept = _files(first), _files(committed)
    assert sorted(fresh) == sorted(kept)
    assert [name for name in fresh if fresh[name] != kept[name]] == []
