"""Names and one-line descriptions of the figures, in set order (no plotting imports).

Kept apart from :mod:`clusterdyn.figures.registry` so that ``clusterdyn --help`` does not import
matplotlib; the registry checks that it builds exactly these figures.
"""

CATALOG: dict[str, str] = {
    "calibration_fit": "model vs FAO data: production (log), price, world share",
    "lifecycle": "key stocks of the calibrated run over time, stages shaded",
    "policy_schedules": "lever x stage heat map of every scenario",
    "scenario_comparison": "public outputs of every scenario, small multiples",
    "scenario_kpis": "KPIs per scenario incl. policy cost and exports per dollar",
    "parameters": "calibrated parameters with 95% intervals on the search bounds",
    "structure": "stock-and-flow structure of each sector with the named loops",
    "holdout": "calibrated to 1995, forecast of 1996-2003 vs data",
    "bands": "posterior (MCMC) 50/75/95/100% bands of the outputs",
    "identification": "profile likelihood of demand growth and the hold-out forecast along it",
    "forecast_skill": "hold-out fan chart with naive baselines, and skill by horizon over "
                      "rolling origins",
    "beyond_2003": "posterior predictive of 2004-2012 from the full calibration, with the "
                   "biophysical ceiling",
    "policy_frontier": "best switched and static schedules at each budget: policy cost vs NPV "
                       "of exports and social capital",
    "optimal_schedule": "lever x stage heat map of the optimal schedules, with their range over "
                        "repeated searches",
    "ranking_robustness": "pairwise win probabilities of the scenarios over uncalibrated "
                          "constants, table shapes and the posterior",
    "loop_dominance": "relative loop scores (Loops that Matter) by year, stages shaded: "
                      "historical beside no environmental management, to 2030",
}
