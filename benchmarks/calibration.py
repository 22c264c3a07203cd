"""Benchmark of the calibration: the vectorised runner's numba backend against its numpy one.

Run on demand from the project root (not part of the tests)::

    python -m benchmarks.calibration            # full and --quick calibrations, both backends
    python -m benchmarks.calibration --quick    # only the --quick ones

Each line is one :func:`clusterdyn.calibration.calibrate` call with the default seed, in this
process,
after a warm-up that compiles both backends. The numpy backend is the runner as it was before
the numba kernel (issue 6: "report calibration time before and after"); targets (issue 3): a
full calibration in under 2 minutes, a ``--quick`` one in under 20 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

from clusterdyn.calibration import calibrate
from clusterdyn.sdmodels import load_model
from clusterdyn.sdmodels.vectorized import compile_model

TARGETS = {False: 120.0, True: 20.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the --quick calibrations")
    args = parser.parse_args(argv)
    model = load_model()
    for backend in ("numba", "numpy"):
        compile_model(model, backend).run()  # compile outside the timings
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| calibration | backend | seconds | model runs | objective | target |")
    print("|---|---|---|---|---|---|")
    for quick in (True,) if args.quick else (True, False):
        seconds = {}
        for backend in ("numba", "numpy"):
            started = time.perf_counter()
            result = calibrate(model, quick=quick, progress=False, backend=backend)
            seconds[backend] = time.perf_counter() - started
            met = "met" if seconds[backend] < TARGETS[quick] else "NOT met"
            print(f"| {'--quick' if quick else 'full'} | {backend} | {seconds[backend]:.1f} | "
                  f"{result.evaluations:,} | {result.objective:.5g} | "
                  f"< {TARGETS[quick]:g} s: {met} |", flush=True)
        print(f"| {'--quick' if quick else 'full'} | numpy / numba | "
              f"{seconds['numpy'] / seconds['numba']:.1f}x | | | |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
