"""Argument types shared by the subcommands: one place for "a whole number in a range"."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(low: int, high: int | None = None, what: str = "a whole number"
                 ) -> Callable[[str], int]:
    """An argparse ``type`` accepting an integer in ``[low, high]`` (no upper bound if None).

    The error names the text given and the range expected, e.g. ``expected a positive whole
    number, got '0'``.
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse
