"""Benchmark of the rolling-origin forecast evaluation (issue 14: five origins in under 3
minutes on the 2-core machine).

Run on demand from the project root (not part of the tests)::

    python -m benchmarks.forecast              # five origins, 2 processes, and the baseline
    python -m benchmarks.forecast --jobs 1     # in this process

Baseline, in the same process: one full calibration to 1995 (the unit of work an origin
repeats with its chain). The table gives the rolling evaluation's wall time, the ratio to the
baseline (about 5 calibrations plus 5 chains over 2 processes is about 4-5 baselines) and the
target.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings

from clusterdyn.calibration import calibrate
from clusterdyn.forecasting.pipeline import DEFAULT_ORIGINS, rolling_origin
from clusterdyn.sdmodels import load_model
from clusterdyn.sdmodels.vectorized import compile_model

TARGET_SECONDS = 180.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    args = parser.parse_args(argv)
    model = load_model()
    compile_model(model).run()  # compile outside the timings
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    started = time.perf_counter()
    calibrate(model, until=1995, progress=False)
    baseline = time.perf_counter() - started
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 1990 origin's sparse-data warning
        started = time.perf_counter()
        result = rolling_origin(DEFAULT_ORIGINS, jobs=args.jobs, progress=False)
        seconds = time.perf_counter() - started
    met = "met" if seconds < TARGET_SECONDS else "NOT met"
    print("| task | seconds | ratio to one calibration | target |")
    print("|---|---|---|---|")
    print(f"| one calibration to 1995 (baseline) | {baseline:.1f} | 1.0 | |")
    print(f"| rolling origins {','.join(map(str, result.origins))}, {args.jobs} process(es) | "
          f"{seconds:.1f} | {seconds / baseline:.1f} | < {TARGET_SECONDS:g} s: {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
