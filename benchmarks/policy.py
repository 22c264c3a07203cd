"""Benchmark of the policy analyses (issue 16: ``clusterdyn optimize`` with the default budget
in under 5 minutes, and the ranking robustness analysis with at least 10,000 runs in under 5
minutes, on the 2-core machine).

Run on demand from the project root (not part of the tests)::

    python -m benchmarks.policy                  # both, with the baseline
    python -m benchmarks.policy --only optimize

Baseline, in the same process: 10,000 runs of the calibrated model to 2003 through the compiled
runner (the unit both analyses are made of). The table gives each analysis's wall time, its
ratio to the baseline and the target.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

from clusterdyn.ensembles.runner import register
from clusterdyn.sdmodels import load_model

TARGET_SECONDS = 300.0


def _baseline() -> float:
    runner = register(load_model())
    runner.run()  # compile outside the timing
    params = {"Normal investment fraction": np.linspace(0.5, 1.5, 10_000)}
    started = time.perf_counter()
    runner.run(params, variables=["Export value"])
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("optimize", "robustness"), default=None)
    args = parser.parse_args(argv)
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    baseline = _baseline()
    rows = [("10,000 compiled runs to 2003 (baseline)", baseline, "")]
    if args.only in (None, "optimize"):
        from clusterdyn.policy.optimize import optimize

        started = time.perf_counter()
        optimize()
        rows.append(("clusterdyn optimize, defaults", time.perf_counter() - started,
                     f"< {TARGET_SECONDS:g} s"))
    if args.only in (None, "robustness"):
        from clusterdyn.policy.robustness import ranking_robustness

        started = time.perf_counter()
        result = ranking_robustness()
        runs = result.n * len(result.scenarios)
        rows.append((f"ranking robustness, defaults ({runs:,} runs)",
                     time.perf_counter() - started, f"< {TARGET_SECONDS:g} s"))
    print("| task | seconds | ratio to baseline | target |")
    print("|---|---|---|---|")
    for name, seconds, target in rows:
        verdict = ""
        if target:
            verdict = ": met" if seconds < TARGET_SECONDS else ": NOT met"
        print(f"| {name} | {seconds:.1f} | {seconds / baseline:.0f} | {target}{verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
