"""Errors raised for bad input to the model API and the command line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ModelInputError(ValueError):
    """A model input (parameter name or value, time setting, variable name) is invalid.

    The message names the offending key or value and says what was expected.
    """


class SimulationError(RuntimeError):
    """A run produced non-finite values; the message names the variables and the year."""


def suggest(name: str, valid: Iterable[str], n: int = 3) -> str:
    """Return a ``"did you mean ...?"`` clause for ``name`` among ``valid`` (may be empty)."""
    valid = list(valid)
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + ", ".join(repr(lowered[c]) for c in close) + "?"
