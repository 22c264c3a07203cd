"""The figure set: reproducible bytes, manifest and --check, --only, compute functions, cache.

The whole set is rendered once per session in this process (the default, where pytest turns
any warning, e.g. a missing-glyph font warning, into an error; the render is the figure step
of the session's ``clusterdyn reproduce``, tests/conftest.py) and must equal the committed
``figures/output/`` byte for byte; the figures that need scenario runs are rendered again
through two worker processes (their warnings are re-emitted here) and must give the same
bytes (all of them twice took 80 s more of CI time).
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import rgb_to_hsv, to_hex, to_rgb

from clusterdyn.ensembles.bands import BANDS
from clusterdyn.figures import FIGURES, render
from clusterdyn.figures.cache import ResultCache
from clusterdyn.figures.command import main
from clusterdyn.figures.inputs import (
    HOLDOUT_FILE,
    FigureInputs,
    MissingInput,
    relative,
    rounded,
)
from clusterdyn.figures.registry import FigureSpec
from clusterdyn.figures.rendering import MANIFEST, sha256_file
from clusterdyn.figures.style import FORMATS, OKABE_ITO, style_context

HAVE_HOLDOUT = HOLDOUT_FILE.is_file()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def inputs() -> FigureInputs:
    return FigureInputs()


@pytest.fixture(scope="module")
def first(tmp_path_factory, request) -> Path:
    if HAVE_HOLDOUT:
        # The session's `clusterdyn reproduce` (tests/conftest.py) rendered the whole set with
        # `clusterdyn figures`: render(out, progress=True, jobs=None -> 1), in this process.
        # Its exit code 0 says report.skipped == {} (the command returns 1 on a skip), as
        # asserted below when the set is rendered here.
        code, _, figs = request.getfixturevalue("reproduced")
        assert code == 0
        return figs
    out = tmp_path_factory.mktemp("figures_a")
    report = render(out, progress=False, jobs=1)
    assert report.skipped == ({} if HAVE_HOLDOUT else {"holdout": report.skipped["holdout"]})
    return out


#: Rendered again through worker processes: the figures that run scenarios (the parallel phase).
PARALLEL = ["scenario_kpis", "scenario_comparison"]


@pytest.fixture(scope="module")
def second(first, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("figures_b")
    render(out, PARALLEL, progress=False, jobs=2, inputs=FigureInputs())
    return out


def test_every_figure_in_every_format_and_identical_bytes_twice(first, second):
    a, b = _files(first), _files(second)
    again = [name for name in b if name != MANIFEST]
    assert {name.rsplit(".", 1)[0] for name in again} == set(PARALLEL)
    different = [name for name in again if a[name] != b[name]]
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
    from clusterdyn.figures import fit, policy, structure

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
    from clusterdyn.sdmodels.loops import load_loops

    home = dict(zip(nodes["variable"], nodes["home_sector"], strict=True))
    drawn = set(zip(edges["source"], edges["target"], strict=True))
    for loop in load_loops(inputs.model.mdl_path):
        for cause, effect in loop.links:
            assert (cause, effect) in drawn or home.get(cause) != home.get(effect)
    from clusterdyn.figures import uncertainty

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
    from clusterdyn import scenarios
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


# -- figures drawn from committed results, numbers rounded at compute time ------------------

def _raise(*_args, **_kwargs):
    raise AssertionError("the figure re-optimised at render time")


def test_identification_reads_the_shipped_profiles_and_never_optimises(inputs, monkeypatch):
    """compute_profiles takes the profiles from the committed CSVs (no optimiser runs at
    render time, so the figure does not depend on the processor) and runs the model only for
    the forecasts of the accepted points."""
    from clusterdyn.calibration import fit as calibration_fit
    from clusterdyn.calibration import profile as calibration_profile
    from clusterdyn.calibration.profile import read_profile_csv
    from clusterdyn.figures import identification
    from clusterdyn.figures.inputs import profile_path

    for target, name in ((calibration_profile, "profile_from_results"),
                         (calibration_profile, "profile_parameter"),
                         (calibration_profile, "refine"), (calibration_fit, "refine"),
                         (identification, "profile_from_results")):
        monkeypatch.setattr(target, name, _raise, raising=False)
    profiles, forecasts = identification.compute_profiles(inputs)
    for path, results in ((inputs.holdout_file, inputs.holdout),
                          (inputs.calibration_file, inputs.calibration)):
        last = int(results["calibration"]["fit_years"][1])
        shipped = read_profile_csv(profile_path(path))
        mine = profiles[profiles["fit"] == last].drop(columns="fit").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, shipped[mine.columns.tolist()], check_exact=True)
    holdout = read_profile_csv(profile_path(inputs.holdout_file))
    assert forecasts.columns.tolist() == holdout.loc[holdout["accepted"], "value"].tolist()
    assert forecasts.index.min() == 1978 and forecasts.index.max() == 2003
    assert forecasts.equals(rounded(forecasts))


def test_identification_hashes_the_shipped_profiles_as_inputs(inputs):
    from clusterdyn.figures.inputs import profile_path

    files = {relative(p) for p in FIGURES["identification"].input_files(inputs)}
    assert {relative(profile_path(inputs.holdout_file)),
            relative(profile_path(inputs.calibration_file))} <= files
    assert relative(profile_path(inputs.holdout_file)) == (
        "calibration/results/profile_demand_growth_until_1995.csv")
    assert relative(profile_path(inputs.calibration_file)) == (
        "calibration/results/profile_demand_growth.csv")


def test_identification_without_its_profile_names_the_command(tmp_path):
    results = tmp_path / "salmon_cluster_until_1995.toml"
    shutil.copy(HOLDOUT_FILE, results)
    missing = FigureInputs(holdout_file=results)
    with pytest.raises(MissingInput, match=r'clusterdyn profile "Maximum demand growth rate"'):
        missing.profile(results)


def test_rounded_keeps_six_significant_digits_of_floats_only():
    frame = pd.DataFrame({"year": [1978, 1979], "x": [1234.56789, -0.000123456789],
                          "flag": [True, False], "name": ["a", "b"]})
    out = rounded(frame)
    assert out["x"].tolist() == [1234.57, -0.000123457]
    assert out["year"].tolist() == [1978, 1979] and out["year"].dtype == frame["year"].dtype
    assert out["flag"].tolist() == [True, False] and out["name"].tolist() == ["a", "b"]
    assert frame["x"].iloc[0] == 1234.56789  # a copy: the input is left as it was
    assert rounded(2 / 3) == 0.666667 and math.isnan(rounded(float("nan")))
    assert rounded(pd.Series([1 / 3, float("inf")])).tolist() == [0.333333, float("inf")]


def _compute_outputs(inputs, name):
    from clusterdyn.figures import (
        fit,
        forecast,
        identification,
        loops,
        policy,
        policy_analysis,
        uncertainty,
    )
    from clusterdyn.scenarios.loop_dominance import RESULTS_SCENARIOS

    computes = {
        "calibration_fit": lambda: [fit.compute_calibration_fit(inputs)],
        "lifecycle": lambda: [fit.compute_lifecycle(inputs)],
        "parameters": lambda: [fit.compute_parameters(inputs)],
        "holdout": lambda: [fit.compute_holdout(inputs)],
        "policy_schedules": lambda: [policy.compute_policy_schedules(inputs)],
        "scenario_comparison": lambda: [policy.compute_scenario_comparison(inputs)],
        "scenario_kpis": lambda: [policy.compute_scenario_kpis(inputs)],
        "bands": lambda: list(uncertainty.compute_bands(inputs)),
        "identification": lambda: list(identification.compute_profiles(inputs)),
        "forecast_skill": lambda: list(forecast.compute_forecast_skill()),
        "beyond_2003": lambda: [f.drop(columns=["origin", "year"], errors="ignore")
                                for f in forecast.compute_beyond()],
        "policy_frontier": lambda: list(policy_analysis.compute_policy_frontier()),
        "optimal_schedule": lambda: [policy_analysis.compute_optimal_schedule(
            inputs.scenario("historical").levers)],
        "ranking_robustness": lambda: [policy_analysis.compute_ranking_robustness()],
        "loop_dominance": lambda: list(loops.compute_loop_dominance(RESULTS_SCENARIOS)[:2]),
    }
    return computes[name]()


@pytest.mark.parametrize("name", ["calibration_fit", "lifecycle", "parameters", "holdout",
                                  "policy_schedules", "scenario_comparison", "scenario_kpis",
                                  "bands", "identification", "forecast_skill",
                                  "beyond_2003", "policy_frontier", "optimal_schedule",
                                  "ranking_robustness", "loop_dominance"])
def test_compute_outputs_are_rounded_to_six_significant_digits(inputs, name):
    """Every number a figure plots from a run or an ensemble is rounded when computed, so the
    last bits in which processors differ never reach the figure's bytes."""
    for frame in _compute_outputs(inputs, name):
        floats = frame.select_dtypes("float")
        assert not floats.empty
        assert floats.equals(rounded(floats)), f"{name}: unrounded numbers"


# -- defects of the figures (legend, units, style, labels, colours) --------------------------

def _build(inputs, name):
    with style_context():
        figures = FIGURES[name].build(inputs)
        for fig in figures.values():
            fig.canvas.draw()
    return figures


def _legends(fig):
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]


def _data_axes(fig):
    return [ax for ax in fig.axes if ax.axison and (ax.lines or ax.collections or ax.patches)]


def test_holdout_legend_is_off_the_data_and_names_the_forecast_period(inputs):
    fig = _build(inputs, "holdout")["holdout"]
    legends = _legends(fig)
    assert len(legends) == 1
    box = legends[0].get_window_extent()
    for ax in _data_axes(fig):
        assert not box.overlaps(ax.get_window_extent()), "the legend sits on a panel"
    labels = [t.get_text() for t in legends[0].get_texts()]
    assert "forecast period 1996-2003 (not fitted)" in labels
    shade = legends[0].legend_handles[labels.index("forecast period 1996-2003 (not fitted)")]
    assert to_hex(shade.get_facecolor(), keep_alpha=False) == OKABE_ITO["sky_blue"].lower()


def test_identification_draws_demand_growth_in_percent_per_year(inputs):
    fig = _build(inputs, "identification")["identification"]
    left = fig.axes[0]
    assert left.get_xlabel() == "Maximum demand growth rate (%/year)"
    values = np.concatenate([line.get_xdata() for line in left.lines
                             if line.get_marker() == "o"])  # the profiles, not the bounds
    assert values.min() == pytest.approx(3.0) and values.max() == pytest.approx(25.0)
    colourbar = fig.axes[-1]
    assert colourbar.get_ylabel() == "Maximum demand growth rate (%/year)"
    assert colourbar.get_ylim()[1] > 1  # percent, not a fraction


def test_bands_match_the_set_style_with_firms_and_percent_on_sensible_axes(inputs):
    bands = _build(inputs, "bands")["bands"]
    lifecycle = _build(inputs, "lifecycle")["lifecycle"]
    for attribute in ("get_fontsize", "get_fontweight", "get_fontfamily"):
        assert getattr(bands._suptitle, attribute)() == getattr(
            lifecycle._suptitle, attribute)()
    titled = {ax.get_title(): ax for ax in bands.axes if ax.get_title()}
    reference = next(ax for ax in lifecycle.axes if ax.get_title())
    for ax in titled.values():
        assert ax.title.get_fontweight() == reference.title.get_fontweight()
        assert ax.title.get_fontsize() == reference.title.get_fontsize()
        assert ax.get_title(loc="left") == ""  # centred, as in the other figures
    suppliers = titled["Supplier base"]
    assert suppliers.get_yscale() == "linear" or suppliers.get_ylim()[0] >= 1
    share = titled["World market share"]
    assert "%" in share.get_ylabel()
    assert max(np.max(line.get_ydata()) for line in share.lines) > 1  # percent, not fraction


def _loop_label(text):
    return re.fullmatch(r"[RB]\d+([,\n][RB]\d+)*", text.get_text()) is not None


def test_structure_loop_labels_are_clear_of_every_box(inputs):
    """A loop label ("R1,R2,...") never starts under a variable's box."""
    figures = _build(inputs, "structure")
    for stem, fig in figures.items():
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        labels = [t for t in ax.texts if _loop_label(t)]
        boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in ax.texts
                 if not _loop_label(t) and t.get_bbox_patch() is not None]
        assert boxes and (labels or stem != "structure_production")
        for label in labels:
            extent = label.get_bbox_patch().get_window_extent(renderer)
            covered = [b for b in boxes if extent.overlaps(b)]
            assert not covered, f"{stem}: label {label.get_text()!r} overlaps a box"


def _grey(colour) -> float:
    r, g, b = to_rgb(colour)
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_no_policy_and_static_policy_differ_in_hue_grey_and_dash(inputs):
    fig = _build(inputs, "scenario_comparison")["scenario_comparison"]
    handles = {t.get_text(): h for legend in _legends(fig)
               for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    a, b = handles["no policy"], handles["static policy"]
    hue_a, hue_b = (rgb_to_hsv(to_rgb(h.get_color()))[0] for h in (a, b))
    assert min(abs(hue_a - hue_b), 1 - abs(hue_a - hue_b)) > 0.15  # clearly other hues
    assert abs(_grey(a.get_color()) - _grey(b.get_color())) > 0.25  # apart in grey scale
    # and other dashes (Line2D keeps its dash pattern only in this attribute)
    assert a._unscaled_dash_pattern != b._unscaled_dash_pattern


def test_figures_command_counts_in_the_singular_and_plural(tmp_path, capsys):
    from clusterdyn.figures.command import plural

    assert plural(1, "figure") == "1 figure" and plural(3, "file") == "3 files"
    assert plural(0, "model run") == "0 model runs"
    assert main(["--only", "parameters", "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "wrote 3 files (1 figure x PNG/SVG/PDF)" in out and "1 figures" not in out


def test_loop_dominance_stacks_reinforcing_above_and_balancing_below(inputs):
    from clusterdyn.figures import loops
    from clusterdyn.scenarios.loop_dominance import RESULTS_SCENARIOS

    scores, stages, shown = loops.compute_loop_dominance(RESULTS_SCENARIOS)
    assert set(scores["scenario"]) == set(RESULTS_SCENARIOS)
    assert ((scores["side"] > 0) == (scores["score"] > 0)).all()
    # Each year's stacked bars are the shares of all loop activity: at most 1 on each side.
    per_side = scores.groupby(["scenario", "year", "side"])["score"].sum().abs()
    assert per_side.max() <= 1 + 1e-6
    assert len(shown) == loops.SHOWN_LOOPS and (shown["name"] != "").all()
    fig = _build(inputs, "loop_dominance")["loop_dominance"]
    labels = [t.get_text() for legend in _legends(fig) for t in legend.get_texts()]
    assert all(any(label.startswith(f"{loop} ") for label in labels) for loop in shown.index)
    # Grouped loops are told apart by hatching as well as grey (grey-scale print).
    hatches = {h.get_hatch() for legend in _legends(fig) for h in legend.legend_handles}
    assert {"....", "////"} <= hatches
