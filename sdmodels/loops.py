"""The model's named feedback loops, read from ``<model>.loops.toml`` beside the ``.mdl``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Loop:
    """A named feedback loop: its variables in causal order (the last feeds the first)."""

    id: str
    name: str
    polarity: str
    description: str
    variables: tuple[str, ...]

    @property
    def links(self) -> list[tuple[str, str]]:
        """Causal links ``(cause, effect)`` around the loop."""
        v = self.variables
        return [(v[i], v[(i + 1) % len(v)]) for i in range(len(v))]


def load_loops(mdl_path: str | Path) -> list[Loop]:
    """Read the loops documented for the model at ``mdl_path``."""
    path = Path(mdl_path).with_suffix(".loops.toml")
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return [
        Loop(d["id"], d["name"], d["polarity"], d["description"], tuple(d["variables"]))
        for d in data["loop"]
    ]
