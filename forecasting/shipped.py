"""The committed rolling-origin evaluation (``forecasting/results/``).

Written by ``clusterdyn forecast --origins 1990,1993,1995,1998,2000 --no-figure -o
forecasting/results`` (part of ``clusterdyn reproduce --recalibrate``); the README's skill
tables and the ``forecast_skill`` figure are drawn from these files, never recomputed.
"""

from __future__ import annotations

from pathlib import Path

#: MCMC settings of a forecast's own posterior: 3,000 steps of 44 walkers (the first 500
#: dropped), the walkers started spread as the Gauss-Newton approximation
#: (``start_from="laplace"``), about 25 s. Measured at the 1995 origin against the shipped
#: 12,000-step chain: the 90% predictive interval of 2003 production reaches 488,000 t
#: (528,000 t with the long chain); started in the shipped chains' small ball, 3,000 steps
#: reach only 342,000 t and 6,000 steps 395,000 t: a short chain from a ball has not yet
#: spread into the tails.
FORECAST_STEPS = 3_000
FORECAST_DRAWS = 1_000
#: The rolling origins of the README and the committed results.
DEFAULT_ORIGINS = (1990, 1993, 1995, 1998, 2000)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FORECAST_FILE = RESULTS_DIR / "forecast.csv"
SKILL_FILE = RESULTS_DIR / "skill.csv"
HORIZON_FILE = RESULTS_DIR / "skill_by_horizon.csv"
OVERALL_FILE = RESULTS_DIR / "skill_overall.csv"
OBSERVED_FILE = RESULTS_DIR / "observed.csv"
SUMMARY_FILE = RESULTS_DIR / "summary.txt"
#: The 1995 forecast with the baselines fitted to 1985-1995 only (README's sensitivity):
#: ``clusterdyn forecast --train-until 1995 --results
#: calibration/results/salmon_cluster_until_1995.toml --baseline-first-year 1985 --no-figure
#: -o forecasting/results/baselines_from_1985``.
BASELINES_1985_DIR = RESULTS_DIR / "baselines_from_1985"
#: Beyond the data: the full calibration's posterior predictive for 2004-2012, conditional on
#: the rest of the world's FAO data to 2012 (Chile's own production after 2003 is not shipped):
#: ``clusterdyn forecast --train-until 2003 --horizon 9 --results
#: calibration/results/salmon_cluster.toml --no-figure -o forecasting/results/beyond_2003``.
BEYOND_DIR = RESULTS_DIR / "beyond_2003"
BEYOND_HORIZON = 9
#: The files the figure set reads (hashed in its manifest).
FIGURE_INPUTS = (FORECAST_FILE, HORIZON_FILE, OBSERVED_FILE)
#: The files of the beyond-the-data figure.
BEYOND_INPUTS = (BEYOND_DIR / "forecast.csv", BEYOND_DIR / "observed.csv")
