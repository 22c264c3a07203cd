"""The shipped scenario files, listed without importing the model (for ``clusterdyn --help``)."""

from __future__ import annotations

from pathlib import Path

SHIPPED_DIR = Path(__file__).parent
#: File stems in ``SHIPPED_DIR`` that are not scenarios.
RESERVED = frozenset({"costs"})


def available() -> list[str]:
    """Names of the shipped scenarios: ``historical`` and ``no_policy`` first, then A-Z."""
    names = sorted(p.stem for p in SHIPPED_DIR.glob("*.toml") if p.stem not in RESERVED)
    first = [n for n in ("historical", "no_policy") if n in names]
    return first + [n for n in names if n not in first]
