"""Vensim .cin changes files (scenarios.cin): committed, complete and reproducing the runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterdyn.cli import main
from clusterdyn.scenarios import engine
from clusterdyn.scenarios.catalog import available
from clusterdyn.scenarios.cin import cin_text, read_cin, shipped_cin_texts
from clusterdyn.sdmodels import load_model

CIN_DIR = Path("sdmodels/cin")


@pytest.fixture(scope="module")
def texts():
    return shipped_cin_texts()


def test_committed_cin_files_are_what_the_command_writes_now(tmp_path, texts):
    """``clusterdyn cin -o sdmodels/cin`` rewrites the committed files byte for byte (the
    estimates keep 4 significant digits; a triggered stage start is a multiple of the time
    step found by a simulation, checked to within one step)."""
    assert main(["cin", "-o", str(tmp_path)]) == 0
    written = {p.name: p.read_text() for p in tmp_path.glob("*.cin")}
    committed = {p.name: p.read_text() for p in CIN_DIR.glob("*.cin")}
    assert written == texts and set(committed) == set(texts)
    assert len(texts) == 2 + len(available())
    dt = load_model("salmon_cluster").time_step
    for name in texts:
        new, old = read_cin(tmp_path / name), read_cin(CIN_DIR / name)
        assert set(new) == set(old), name
        for key, value in new.items():
            limit = dt if key.endswith("start year") else 0.0
            assert abs(value - old[key]) <= limit, (name, key)


def test_every_name_is_a_constant_of_the_mdl(texts):
    model = load_model("salmon_cluster")
    for name, text in texts.items():
        names = {line.split(" = ")[0] for line in text.splitlines()}
        assert names <= set(model.parameters) | {"FINAL TIME"}, name


def test_the_calibration_cin_holds_every_estimate():
    import tomllib

    for stem in ("salmon_cluster", "salmon_cluster_until_1995"):
        results = tomllib.loads(Path(f"calibration/results/{stem}.toml").read_text())
        values = read_cin(CIN_DIR / f"calibration_{stem}.cin")
        assert values == {k: v["value"] for k, v in results["parameters"].items()}


@pytest.mark.parametrize("scenario", ["no_policy", "production_triggered"])
def test_a_scenario_cin_over_the_mdl_reproduces_the_scenario_run(scenario):
    """The .mdl's own values plus the .cin give the toolkit's scenario run (a triggered stage
    start included), to 1e-9."""
    expected = engine.run(scenario)
    values = read_cin(CIN_DIR / f"scenario_{scenario}.cin")
    until = int(values.pop("FINAL TIME", load_model("salmon_cluster").final_time))
    run = load_model("salmon_cluster", defaults="mdl").run(
        params=values, until=until, variables=list(expected.trajectories.columns))
    pd.testing.assert_frame_equal(run.loc[expected.trajectories.index],
                                  expected.trajectories, check_exact=False, rtol=1e-9,
                                  check_names=False)


def test_values_are_written_exactly_and_read_back(tmp_path):
    values = {"Maturing stage start year": 1986.2109375, "B": 0.1997, "A": 1.73e6}
    path = tmp_path / "x.cin"
    path.write_text(cin_text(values))
    assert path.read_text().splitlines()[0] == "A = 1730000.0"
    assert read_cin(path) == values
    assert np.float64(read_cin(path)["Maturing stage start year"]) * 128 % 1 == 0


def test_a_malformed_line_is_named(tmp_path):
    path = tmp_path / "bad.cin"
    path.write_text("A = 1\nB := 2\n")
    with pytest.raises(ValueError, match=r"bad.cin:2: expected 'Name = number'"):
        read_cin(path)
