"""Typed parameter declarations read from the model's own ``.mdl``.

Every constant of the model that carries a Vensim range (``~ units [min,max]``) is a
*parameter*: it can be set for a run, calibrated and sampled in sensitivity analysis, always
inside its declared bounds. Constants without a range (unit conversions, normalisation points,
definitional ceilings) are structural and cannot be overridden.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

from clusterdyn.sdmodels.errors import ModelInputError


@dataclass(frozen=True)
class Parameter:
    """A model constant that may be changed, with its bounds and units.

    Attributes
    ----------
    name : str
        The Vensim name, e.g. ``"Normal investment fraction"``.
    default : float
        The value written in the ``.mdl``.
    lower, upper : float
        Inclusive bounds from the ``.mdl`` range.
    units : str
        Vensim units string.
    doc : str
        The variable's comment in the ``.mdl`` (meaning and source).
    """

    name: str
    default: float
    lower: float
    upper: float
    units: str
    doc: str

    def validate(self, value: object) -> float:
        """Return ``value`` as a float, or raise :class:`ModelInputError` naming the parameter.

        Parameters
        ----------
        value : object
            A number, or a string holding one (as given on the command line).
        """
        if isinstance(value, bool):
            raise ModelInputError(f"parameter {self.name!r}: expected a number, got {value!r}")
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ModelInputError(
                    f"parameter {self.name!r}: expected a number, got {value!r}"
                ) from None
        elif isinstance(value, Real):
            number = float(value)
        else:
            raise ModelInputError(
                f"parameter {self.name!r}: expected a number, got {type(value).__name__} "
                f"{value!r}"
            )
        if not math.isfinite(number):
            raise ModelInputError(
                f"parameter {self.name!r}: expected a finite number, got {value!r}"
            )
        if not self.lower <= number <= self.upper:
            raise ModelInputError(
                f"parameter {self.name!r} = {number:g} is outside its declared range "
                f"[{self.lower:g}, {self.upper:g}] {self.units}"
            )
        return number

    def as_dict(self) -> dict[str, object]:
        """Plain-dict form, for tables and TOML files."""
        return {
            "name": self.name,
            "default": self.default,
            "lower": self.lower,
            "upper": self.upper,
            "units": self.units,
        }
