"""The documented feedback loops exist in the model's equations."""

from __future__ import annotations

from clusterdyn.sdmodels.layout import dependencies, parse_equations
from clusterdyn.sdmodels.loops import load_loops


def test_every_documented_loop_is_closed_in_the_equations(model):
    equations = parse_equations(model.mdl_path.read_text(encoding="utf-8"))
    names = [e.name for e in equations] + ["Time"]
    uses = {e.name: dependencies(e, names) for e in equations}
    loops = load_loops(model.mdl_path)
    assert {loop.id for loop in loops} >= {"R1", "R2", "B1", "B2"}
    for loop in loops:
        assert loop.polarity in {"R", "B"} and loop.id.startswith(loop.polarity)
        for cause, effect in loop.links:
            assert cause in uses[effect], f"{loop.id}: {effect!r} does not depend on {cause!r}"


def test_loop_ids_are_unique(model):
    ids = [loop.id for loop in load_loops(model.mdl_path)]
    assert len(ids) == len(set(ids))
