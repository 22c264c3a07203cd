"""Policy analysis on the calibrated model: discounted optimisation of stage-switched
schedules (:mod:`clusterdyn.policy.optimize`, ``clusterdyn optimize``) and the robustness of
scenario
rankings to what the data do not pin down (:mod:`clusterdyn.policy.robustness`,
``clusterdyn robustness``). Committed results are in ``policy/results/``."""
