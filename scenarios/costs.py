"""Policy cost: each lever's annual cost at full intensity (``scenarios/costs.toml``).

The cost of a year is the sum over levers of intensity x annual cost, with the intensity
averaged over the calendar year (a stage that starts mid-year counts for the part of the year it
is in force). Units: million constant 2003 USD per year (:mod:`clusterdyn.scenarios.economics`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from clusterdyn.scenarios.spec import LEVERS, SHIPPED_DIR, STAGES, _choices, _fail
from clusterdyn.scenarios.spec import intensity_parameter as _intensity
from clusterdyn.sdmodels.files import FileProblem, read_toml

COSTS_FILE = SHIPPED_DIR / "costs.toml"


@dataclass(frozen=True)
class PolicyCosts:
    """Annual cost of each lever at intensity 1 (million USD/Year), with its stated basis.

    Attributes
    ----------
    per_lever : Mapping[str, float]
        Cost by lever key (see :data:`clusterdyn.scenarios.spec.LEVERS`).
    basis : Mapping[str, str]
        Why each cost has the value it has.
    general_basis : str
        The common basis of all costs (the seed's IDB cluster programmes).
    path : pathlib.Path
        The file read.
    """

    per_lever: Mapping[str, float]
    basis: Mapping[str, str]
    general_basis: str
    path: Path


def load_costs(path: str | Path | None = None) -> PolicyCosts:
    """Read and validate the lever cost table (default: the shipped ``costs.toml``).

    Raises
    ------
    ScenarioError
        For a missing or unknown lever, a negative or non-numeric cost, or a missing basis.
    """
    path = Path(path) if path is not None else COSTS_FILE
    try:
        raw = read_toml(path)
    except FileProblem as exc:
        raise _fail(path, None, f"cannot read the cost table: {exc}") from None
    for key in raw:
        if key not in ("basis", "levers"):
            raise _fail(path, key, "unknown top-level key." + _choices(key, ("basis", "levers")))
    if not isinstance(raw.get("basis"), str) or not raw["basis"].strip():
        raise _fail(path, "basis", "required: the common basis of the costs (a string)")
    levers = raw.get("levers", {})
    per_lever: dict[str, float] = {}
    basis: dict[str, str] = {}
    for lever, entry in levers.items():
        key = f"levers.{lever}"
        if lever not in LEVERS:
            raise _fail(path, key, "unknown lever." + _choices(lever, tuple(LEVERS)))
        if not isinstance(entry, dict) or set(entry) != {"cost", "basis"}:
            raise _fail(path, key, "expected a table with 'cost' (million USD/Year at "
                        "intensity 1) and 'basis' (a string)")
        cost = entry["cost"]
        if (isinstance(cost, bool) or not isinstance(cost, int | float)
                or not math.isfinite(cost) or cost < 0):
            raise _fail(path, f"{key}.cost", f"expected a number >= 0, got {cost!r}")
        per_lever[lever] = float(cost)
        basis[lever] = str(entry["basis"]).strip()
    missing = [lever for lever in LEVERS if lever not in per_lever]
    if missing:
        raise _fail(path, "levers", f"missing {', '.join(missing)}")
    return PolicyCosts(MappingProxyType(per_lever), MappingProxyType(basis),
                       raw["basis"].strip(), path)


def stage_cost_rates(params: Mapping[str, float], costs: PolicyCosts) -> np.ndarray:
    """Cost per year (million USD) of each stage's lever mix, from the model parameters."""
    return np.array([
        sum(params[_intensity(lever, k)] * costs.per_lever[lever] for lever in LEVERS)
        for k in range(1, len(STAGES) + 1)
    ])


def cost_series(params: Mapping[str, float], starts: Mapping[str, float], first_year: int,
                last_year: int, costs: PolicyCosts) -> pd.Series:
    """Policy cost of each calendar year ``first_year..last_year`` (million USD).

    Parameters
    ----------
    params : mapping
        Model parameters holding every ``<Lever> stage k intensity``.
    starts : mapping
        Effective start time of ``maturing`` and ``globalisation`` (``inf`` if never).
    first_year, last_year : int
        Calendar years to cost; year ``y`` covers ``[y, y + 1)``.
    costs : PolicyCosts

    Returns
    -------
    pandas.Series
        Indexed by year, named ``"Policy cost"``.
    """
    rates = stage_cost_rates(params, costs)
    glob = starts["globalisation"]
    mat = min(starts["maturing"], glob)  # a maturing stage after globalisation never applies
    bounds = [(-math.inf, mat), (mat, glob), (glob, math.inf)]
    years = np.arange(first_year, last_year + 1)
    values = np.zeros(len(years))
    for rate, (lo, hi) in zip(rates, bounds, strict=True):
        overlap = np.clip(np.minimum(years + 1, hi) - np.maximum(years, lo), 0, 1)
        values += rate * overlap
    return pd.Series(values, index=pd.Index(years, name="year"), name="Policy cost")
