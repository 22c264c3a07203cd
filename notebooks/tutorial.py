# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # clusterdyn in 10 minutes
#
# A system-dynamics model of the Chilean salmon cluster's lifecycle (1978-2003), calibrated to
# FAO data, re-run under policy mixes that change with the cluster's stage (Pietrobelli 2010,
# Table 3.1). This notebook walks through the Python API:
#
# 1. load the model and run the calibrated baseline;
# 2. change a parameter and compare;
# 3. run and compare two shipped scenarios;
# 4. write a scenario in code;
# 5. a quick calibration and its results as tables;
# 6. a plot.
#
# Open it in Jupyter with `jupytext` (`pip install -e ".[dev]"` installs it): `jupyter lab
# notebooks/tutorial.py`, or convert it with `jupytext --to ipynb notebooks/tutorial.py`. The
# test suite executes it from top to bottom (`tests/test_notebook.py`).

# %%
import matplotlib

matplotlib.use("Agg")  # no screen needed; in Jupyter the figure shows inline anyway
import matplotlib.pyplot as plt

from clusterdyn import scenarios
from clusterdyn.calibration import calibrate
from clusterdyn.sdmodels import load_model

# %% [markdown]
# ## 1. The calibrated baseline
#
# `load_model()` gives the model with the shipped calibration as its defaults
# (`calibration/results/salmon_cluster.toml`): the same run as `clusterdyn run`. Pass
# `defaults="mdl"` for the values written in the `.mdl`. `run()` never changes the model and
# returns a new DataFrame, one row per year.

# %%
model = load_model()
print(model.defaults_source)
baseline = model.run()
baseline[["Production", "Price", "World market share"]].loc[[1985, 1995, 2003]]

# %% [markdown]
# ## 2. Change a parameter
#
# Every settable parameter has a declared range and units (`model.parameters`). A value
# outside its range is refused with a message naming it.

# %%
print(model.parameters["Maximum demand growth rate"])
slow_demand = model.run(params={"Maximum demand growth rate": 0.07})
comparison = baseline[["Production"]].join(slow_demand[["Production"]], rsuffix=" (7%/Year)")
comparison.loc[[1995, 2000, 2003]]

# %% [markdown]
# ## 3. Two shipped scenarios
#
# Scenarios are data: TOML files in `scenarios/` (`clusterdyn.scenarios.available()`), each a stage
# x
# lever table of policy intensities. `clusterdyn.scenarios.compare` runs them and tabulates the
# KPIs.

# %%
print(scenarios.available())
kpis = scenarios.compare(["historical", "static_policy"])
kpis[["production_2003_t", "cum_export_value_1978_2003_musd", "cum_policy_cost_1978_2003_musd"]]

# %% [markdown]
# ## 4. A scenario written in code
#
# `clusterdyn.scenarios.from_dict` takes the keys of a scenario file and validates them the same
# way;
# here export promotion starts in the first stage.

# %%
early_export = scenarios.from_dict({
    "name": "early_export",
    "description": "Export promotion at full intensity from 1978.",
    "rationale": "Does promoting exports before quality exists pay?",
    "base": "historical",
    "levers": {"export_promotion": [1.0, 0.5, 0.5]},
})
run = scenarios.run(early_export)
run.trajectories.loc[[1990, 2003], ["Production", "Export value"]]

# %% [markdown]
# ## 5. A quick calibration
#
# `calibrate()` follows statsmodels' `fit() -> Results`: a frozen result with `summary()`,
# and tables as DataFrames through `to_frame()`. `quick=True` uses a small search budget
# (under a second); the shipped calibration uses the full one.

# %%
result = calibrate(seed=0, quick=True, progress=False)
print(result.summary())

# %%
result.to_frame()[["value", "lower_95", "upper_95", "identified"]]

# %%
result.fit["Production"].to_frame()

# %% [markdown]
# ## 6. A plot

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(baseline.index, baseline["Production"], label="historical policies (calibrated)")
ax.plot(run.trajectories.index, run.trajectories["Production"], "--",
        label="export promotion from 1978")
ax.set_yscale("log")
ax.set_ylabel("production (t/year)")
ax.legend()
fig.tight_layout()
