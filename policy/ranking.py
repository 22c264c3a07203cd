"""Pairwise comparisons of scenarios over samples: win probabilities, reversal shares and the
inputs that drive a reversal (Monte Carlo filtering with Kolmogorov-Smirnov distances, and
standardised rank regression coefficients). Pure functions on arrays, used by
:mod:`clusterdyn.policy.robustness`; see its docstring for the meaning of each measure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp, rankdata

from clusterdyn.sdmodels.errors import ModelInputError


def pairwise_probabilities(values: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """P(A > B) and P(A = B) for every pair of scenarios (in the given order).

    Parameters
    ----------
    values : mapping of scenario name to numpy.ndarray
        One KPI's values per sample (the same samples for every scenario, all finite).

    Returns
    -------
    pandas.DataFrame
        ``scenario_a, scenario_b, p_a_beats_b, p_tie, n``.
    """
    rows = []
    for a, b in combinations(values, 2):
        va, vb = np.asarray(values[a]), np.asarray(values[b])
        rows.append({"scenario_a": a, "scenario_b": b, "p_a_beats_b": float(np.mean(va > vb)),
                     "p_tie": float(np.mean(va == vb)), "n": len(va)})
    return pd.DataFrame(rows, columns=["scenario_a", "scenario_b", "p_a_beats_b", "p_tie", "n"])


def reversal_shares(values: Mapping[str, np.ndarray], nominal: Mapping[str, float]
                    ) -> pd.DataFrame:
    """The nominal winner of every pair and the share of samples that reverse the order.

    A sample reverses the order when the loser at the nominal point strictly beats the
    winner; a tie at the nominal point has no winner and no reversal (NaN).

    Returns
    -------
    pandas.DataFrame
        ``scenario_a, scenario_b, nominal_a, nominal_b, nominal_winner, p_reversal``.
    """
    rows = []
    for a, b in combinations(values, 2):
        diff = np.asarray(values[a]) - np.asarray(values[b])
        gap = nominal[a] - nominal[b]
        winner = a if gap > 0 else b if gap < 0 else "tie"
        share = float(np.mean(np.sign(diff) == -np.sign(gap))) if gap != 0 else math.nan
        rows.append({"scenario_a": a, "scenario_b": b, "nominal_a": nominal[a],
                     "nominal_b": nominal[b], "nominal_winner": winner, "p_reversal": share})
    return pd.DataFrame(rows)


def srrc(inputs: pd.DataFrame, y: np.ndarray) -> tuple[pd.Series, float]:
    """Standardised rank regression coefficients of ``y`` on ``inputs`` (by name; NaN for
    an input that does not vary) and the R^2 of the rank regression."""
    def standard(v: np.ndarray) -> np.ndarray:
        r = rankdata(v)
        return (r - r.mean()) / r.std()

    y = np.asarray(y, dtype=float)
    varying = [c for c in inputs.columns if np.ptp(inputs[c].to_numpy()) > 0]
    if len(y) <= len(varying) + 1 or np.ptp(y) == 0:
        raise ModelInputError(f"rank regression: {len(y)} samples for {len(varying)} varying "
                              "inputs and a varying output needed")
    x = np.column_stack([standard(inputs[c].to_numpy()) for c in varying])
    ry = standard(y)
    beta, *_ = np.linalg.lstsq(x, ry, rcond=None)
    r2 = float(1 - np.sum((ry - x @ beta) ** 2) / np.sum(ry ** 2))
    return pd.Series(beta, index=varying).reindex(inputs.columns), r2


def drivers(design: pd.DataFrame, difference: np.ndarray, reversed_: np.ndarray
            ) -> pd.DataFrame:
    """Each input's part in a pair's difference and reversals, strongest first.

    Parameters
    ----------
    design : pandas.DataFrame
        Inputs, one row per sample.
    difference, reversed_ : numpy.ndarray
        ``KPI(A) - KPI(B)`` per sample, and the samples (bool) reversing the nominal order.

    Returns
    -------
    pandas.DataFrame
        ``input, ks, ks_pvalue, srrc, r2`` (see the module docstring), by decreasing KS.
    """
    beta, r2 = srrc(design, difference)
    rows = []
    for name in design.columns:
        x = design[name].to_numpy()
        # asymptotic p-values: exact ones are slow for thousands of samples and only the
        # statistic ranks the inputs
        test = ks_2samp(x[reversed_], x[~reversed_], method="asymp")
        rows.append({"input": name, "ks": float(test.statistic),
                     "ks_pvalue": float(test.pvalue), "srrc": beta[name], "r2": r2})
    return pd.DataFrame(rows).sort_values("ks", ascending=False, kind="stable",
                                          ignore_index=True)


__all__ = ["drivers", "pairwise_probabilities", "reversal_shares", "srrc"]
