"""Compare regenerated text files with committed ones at the precision they are written at.

The committed results are rounded (see :mod:`calibration.results`) well above floating-point
noise, but a value that lands on a rounding boundary can still flip its last written digit on
another processor (other BLAS kernels, other SIMD paths of numpy's ``exp``/``log``). So the
tests compare the *text* exactly and the *numbers* within a stated tolerance: any change of
wording, layout, key, name or hash fails, and so does any number that moved by more than the
tolerance, which is far below a change anyone would call real.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

#: A decimal number, optionally signed, with an optional exponent. Digits glued to letters
#: (hashes such as ``65ccb4f7``, names such as ``R2``) are not numbers: they compare as text.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")


#: Relative tolerance for numbers written at 4 significant digits: one unit of the last digit
#: (1e-3 of a value whose mantissa is 1.000), with a margin for the decimal conversion.
WRITTEN_PRECISION = 1.1e-3


def _value(token: str) -> float:
    return float(token.replace(",", ""))


def _is_integer(token: str) -> bool:
    return not any(c in token for c in ".eE")


def differences(new: str, old: str, rel: float, abs_tol: float = 0.0) -> list[str]:
    """Where ``new`` differs from ``old`` beyond the tolerance.

    Parameters
    ----------
    new, old : str
        The two texts.
    rel : float
        Relative tolerance of each number with a decimal point or an exponent (against the
        larger of the two magnitudes). Whole numbers (years, counts) must be equal.
    abs_tol : float
        Absolute tolerance of each number (for values near zero).

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
        if _is_integer(a) and _is_integer(b):
            if a != b:  # years, counts, ranks: never rounded, so never allowed to move
                out.append(f"integer {i} after {old_text[i][-40:]!r}: {a} != {b}")
            continue
        x, y = _value(a), _value(b)
        if math.isnan(x) and math.isnan(y):
            continue
        if not math.isclose(x, y, rel_tol=rel, abs_tol=abs_tol):
            context = old_text[i][-40:]
            out.append(f"number {i} after {context!r}: {a} != {b}")
    return out


def assert_same_at_precision(new: Path | str, old: Path | str, rel: float,
                             abs_tol: float = 0.0) -> None:
    """Assert that two files agree: text exactly, numbers within ``rel`` / ``abs_tol``."""
    found = differences(Path(new).read_text(encoding="utf-8"),
                        Path(old).read_text(encoding="utf-8"), rel, abs_tol)
    assert not found, f"{new} differs from {old}:\n" + "\n".join(found[:20])
