"""The committed policy analyses (``policy/results/``).

Written by ``clusterdyn optimize -o policy/results/optimize`` and ``clusterdyn robustness -o
policy/results/robustness`` (both part of ``clusterdyn reproduce --recalibrate``, since they
depend on the shipped calibration and its posterior draws); the README's answers and the
``policy_frontier``, ``optimal_schedule`` and ``ranking_robustness`` figures are drawn from
these files, never recomputed at render time.
"""

from __future__ import annotations

from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
OPTIMIZE_DIR = RESULTS_DIR / "optimize"
ROBUSTNESS_DIR = RESULTS_DIR / "robustness"
#: Files each figure reads (their hashes go into the figure manifest).
OPTIMIZE_FILES = tuple(OPTIMIZE_DIR / name for name in (
    "frontier.csv", "shipped.csv", "schedules.csv", "switching.csv", "settings.toml"))
ROBUSTNESS_FILES = tuple(ROBUSTNESS_DIR / name for name in ("win_probability.csv",))

__all__ = ["OPTIMIZE_DIR", "OPTIMIZE_FILES", "RESULTS_DIR", "ROBUSTNESS_DIR",
           "ROBUSTNESS_FILES"]
