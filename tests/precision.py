"""Compare regenerated text files with committed ones at the precision they are written at.

The committed results are rounded (see :mod:`clusterdyn.calibration.results`) well above
floating-point
noise, but a value that lands on a rounding boundary can still flip its last written digit on
another processor (other BLAS kernels, other SIMD paths of numpy's ``exp``/``log``). So the
tests compare the *text* exactly and each *number* up to one unit of its own last written
digit (``0.8318`` may become ``0.8319``, ``0.011`` may become ``0.012``, ``1.97e+06`` may
become ``1.98e+06``): any change of wording, layout, key, name, hash, year or count fails, and
so does any number that moved by more than that, which is the precision the file claims.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

#: A decimal number, optionally signed, with an optional exponent. Digits glued to letters
#: (hashes such as ``65ccb4f7``, names such as ``R2``) are not numbers: they compare as text.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
#: One unit of the last digit, with a margin for the decimal-to-binary conversion.
LAST_DIGIT_UNITS = 1.0 + 1e-6


def _value(token: str) -> float:
    return float(token.replace(",", ""))


def _is_integer(token: str) -> bool:
    return not any(c in token for c in ".eE")


def last_digit_unit(token: str) -> float:
    """The value of one unit of ``token``'s last written digit (``"0.0150"`` -> 1e-4)."""
    mantissa, _, exponent = token.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def differences(new: str, old: str, rounded_whole_numbers: bool = False) -> list[str]:
    """Where ``new`` differs from ``old`` beyond the written precision.

    Text must be equal; whole numbers (years, counts, ranks) equal, unless
    ``rounded_whole_numbers`` says they were rounded from fractions (a report's ``-25%``):
    then they may move by one unit too; any other number may differ by one unit of its last
    written digit.

    Returns
    -------
    list of str
        One line per difference (empty when the texts agree).
    """
    new_text, old_text = NUMBER.split(new), NUMBER.split(old)
    new_numbers, old_numbers = NUMBER.findall(new), NUMBER.findall(old)
    if new_text != old_text or len(new_numbers) != len(old_numbers):
        for i, (a, b) in enumerate(zip(new_text, old_text, strict=False)):
            if a != b:
                return [f"text differs at piece {i}: {a[:80]!r} != {b[:80]!r}"]
        return [f"different number of pieces: {len(new_text)} != {len(old_text)}"]
    out = []
    for i, (a, b) in enumerate(zip(new_numbers, old_numbers, strict=True)):
        where = f"number {i} after {old_text[i][-40:]!r}: {a} != {b}"
        if _is_integer(a) and _is_integer(b) and not rounded_whole_numbers:
            if a != b:  # never rounded from a float, so never allowed to move
                out.append(where)
            continue
        x, y = _value(a), _value(b)
        if math.isnan(x) and math.isnan(y):
            continue
        allowed = LAST_DIGIT_UNITS * max(last_digit_unit(a), last_digit_unit(b))
        if not abs(x - y) <= allowed:
            out.append(where)
    return out


def assert_same_at_precision(new: Path | str, old: Path | str,
                             rounded_whole_numbers: bool = False) -> None:
    """Assert that two files agree at their written precision (:func:`differences`)."""
    found = differences(Path(new).read_text(encoding="utf-8"),
                        Path(old).read_text(encoding="utf-8"), rounded_whole_numbers)
    assert not found, f"{new} differs from {old}:\n" + "\n".join(found[:20])
