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


def discount_rate(text: str) -> float:
    """An argparse ``type`` for a real discount rate: a fraction per year in [0, 0.5]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 0.5:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"expected a discount rate per year from 0 to 0.5 (e.g. 0.06), got {text!r}")
    return value


def money(text: str) -> float:
    """An argparse ``type`` for an amount of money >= 0 (million US$)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected an amount >= 0 in million US$, got {text!r}")
    return value
