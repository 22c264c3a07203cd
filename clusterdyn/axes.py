"""Axis helpers shared by every plotting module (the figure set and the ensemble plots).

Kept in the shared layer so that :mod:`clusterdyn.ensembles` can label its log axes as the
figures do without importing :mod:`clusterdyn.figures`, which is a layer above it.
"""

from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, NullFormatter

_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(value: float, _position: object = None) -> str:
    """Tick label ``10ⁿ`` (Unicode superscripts, no mathtext) for exact powers of ten."""
    if value <= 0:
        return ""
    exponent = math.log10(value)
    if abs(exponent - round(exponent)) > 1e-9:
        return ""
    return "10" + str(int(round(exponent))).translate(_SUPERSCRIPTS)


def log_scale(ax: Axes) -> None:
    """Log y axis labelled ``10ⁿ`` at the decades (the style turns mathtext off)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(power_of_ten))
    ax.yaxis.set_minor_formatter(NullFormatter())


__all__ = ["log_scale", "power_of_ten"]
