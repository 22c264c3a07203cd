"""Priors on free parameters: evidence the data cannot give, entered in the calibration spec.

A parameter the FAO series cannot identify (a number of farming sites, a stocking density) can still
be bounded by independent evidence. In the spec it takes a ``prior`` table::

    [[parameters]]
    name = "Suitable salmon farming sites"
    lower = 250
    upper = 2500
    units = "sites"
    reason = "..."
    [parameters.prior]
    distribution = "lognormal"   # or "normal", or "uniform" (on the search bounds)
    median = 700                 # lognormal: the median; normal: "mean"
    sigma = 0.5                  # lognormal: standard deviation of the log; normal: "sd"
    source = "Author (year), table or page: what the number is"

Every fit uses the priors the same way: the global search, the least-squares refinement and
the MCMC minimise (or sample) the data's weighted residuals plus one *prior residual* per
parameter with a normal or lognormal prior, ``(theta - mean) / sd`` or
``(log theta - log median) / sigma`` (a Gaussian penalty: the negative log prior up to a
constant). The search bounds are the uniform part of every prior; ``distribution =
"uniform"`` says so explicitly and adds nothing. The intervals' residual variance ``s^2``
comes from the data residuals only, and in the MCMC the prior is not scaled by it:
``log posterior = -data payoff / s^2 - 0.5 * sum(prior residuals^2)``. A profile likelihood
refits with the penalised payoff (a profile of the posterior mode).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DISTRIBUTIONS = ("normal", "lognormal", "uniform")
_KEYS = {"normal": {"mean", "sd"}, "lognormal": {"median", "sigma"}, "uniform": set()}


@dataclass(frozen=True)
class Prior:
    """A prior on one free parameter.

    Attributes
    ----------
    distribution : {"normal", "lognormal", "uniform"}
    center : float
        The mean (normal) or the median (lognormal); NaN for uniform.
    spread : float
        The standard deviation (normal) or the standard deviation of the log (lognormal);
        NaN for uniform.
    source : str
        Where the evidence comes from (a citation).
    """

    distribution: str
    center: float
    spread: float
    source: str

    @property
    def penalises(self) -> bool:
        """Whether the prior adds a residual (uniform priors add nothing to the bounds)."""
        return self.distribution != "uniform"

    def residual(self, values: np.ndarray) -> np.ndarray:
        """The prior residual of parameter values (standard normal under the prior)."""
        if self.distribution == "normal":
            return (values - self.center) / self.spread
        if self.distribution == "lognormal":
            return (np.log(values) - math.log(self.center)) / self.spread
        return np.zeros_like(values, dtype=float)

    def describe(self) -> str:
        """One line, e.g. ``lognormal(median 2e+05, sigma 0.5)``."""
        if self.distribution == "normal":
            return f"normal(mean {self.center:.4g}, sd {self.spread:.4g})"
        if self.distribution == "lognormal":
            return f"lognormal(median {self.center:.4g}, sigma {self.spread:.4g})"
        return "uniform(search bounds)"


def parse_prior(table: Any, where: str, bounds: tuple[float, float],
                fail: Callable[[str, str], Exception]) -> Prior:
    """A :class:`Prior` from a spec's ``prior`` table, checked.

    Parameters
    ----------
    table : object
        The TOML value of ``parameters[i].prior``.
    where : str
        Its key path, e.g. ``"parameters[3].prior."``, named in errors.
    bounds : tuple of float
        The parameter's search bounds.
    fail : callable
        ``fail(key, message)`` returns the exception to raise (naming the spec file).

    Raises
    ------
    Exception
        The one ``fail`` returns, naming the key and what was expected.
    """
    if not isinstance(table, dict):
        raise fail(where.rstrip("."), f"expected a table, got {table!r}")
    distribution = table.get("distribution")
    if distribution not in DISTRIBUTIONS:
        raise fail(f"{where}distribution",
                   f"expected one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}")
    allowed = {"distribution", "source", *_KEYS[distribution]}
    for key in table:
        if key not in allowed:
            raise fail(f"{where}{key}", f"unknown key for a {distribution} prior; expected "
                       f"{sorted(allowed)}")
    source = table.get("source")
    if not isinstance(source, str) or not source.strip():
        raise fail(f"{where}source", "expected the evidence's citation (a non-empty text)")
    numbers = {}
    for key in sorted(_KEYS[distribution]):
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise fail(f"{where}{key}", f"expected a finite number, got {value!r}")
        numbers[key] = float(value)
    low, high = bounds
    if distribution == "uniform":
        return Prior("uniform", math.nan, math.nan, source)
    center, spread = ((numbers["mean"], numbers["sd"]) if distribution == "normal"
                      else (numbers["median"], numbers["sigma"]))
    spread_key = "sd" if distribution == "normal" else "sigma"
    if spread <= 0:
        raise fail(f"{where}{spread_key}", f"expected a positive number, got {spread:g}")
    center_key = "mean" if distribution == "normal" else "median"
    if not low <= center <= high:
        raise fail(f"{where}{center_key}", f"{center:g} lies outside the search bounds "
                   f"[{low:g}, {high:g}]: widen the bounds or revisit the evidence")
    if distribution == "lognormal" and low <= 0:
        raise fail(f"{where}distribution", f"a lognormal prior needs a positive lower bound, "
                   f"got {low:g}")
    return Prior(distribution, center, spread, source)


def prior_residuals(priors: Sequence[Prior | None], theta: np.ndarray) -> np.ndarray:
    """Residuals of the penalising priors for parameter sets ``theta`` (N, p): (N, k)."""
    columns = [prior.residual(theta[:, j]) for j, prior in enumerate(priors)
               if prior is not None and prior.penalises]
    if not columns:
        return np.zeros((len(theta), 0))
    return np.column_stack(columns)
