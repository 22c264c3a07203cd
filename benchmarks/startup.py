"""Benchmark of the command line's start-up: ``clusterdyn --help`` and an argument error.

Run on demand from the project root (not part of the tests)::

    python -m benchmarks.startup            # 10 repetitions of each command
    python -m benchmarks.startup -n 30

Each command runs in a fresh interpreter (``python -m clusterdyn.cli ...``), as a user's shell
starts it; the baseline is a bare ``python -c pass`` measured in the same process, so the
ratio and the difference do not depend on how fast the machine is. Target (first-hour issue):
help and argument errors answer in under 0.3 s, i.e. the CLI adds under 0.3 s to a bare
interpreter. The tests check the cause instead of the time: building the parser imports no
numerical library (``tests/test_first_hour.py``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "clusterdyn --help": [sys.executable, "-m", "clusterdyn.cli", "--help"],
    "clusterdyn run --dt 0 (argument error)": [sys.executable, "-m", "clusterdyn.cli", "run",
                                                "--dt", "0", "-o", "-"],
    "clusterdyn calibrate --help": [sys.executable, "-m", "clusterdyn.cli", "calibrate",
                                    "--help"],
}
#: Seconds the command line may add to a bare interpreter.
TARGET = 0.3


def median_seconds(command: list[str], repetitions: int) -> float:
    """Median wall time of ``command`` over ``repetitions`` runs (after one warm-up run)."""
    subprocess.run(command, capture_output=True, check=False)
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="repetitions per command (default 10)")
    args = parser.parse_args(argv)
    baseline = None
    print("| command | median s | added to bare python (s) | target |")
    print("|---|---|---|---|")
    for label, command in COMMANDS.items():
        seconds = median_seconds(command, args.n)
        if baseline is None:
            baseline = seconds
            print(f"| {label} | {seconds:.3f} | - | - |")
            continue
        added = seconds - baseline
        verdict = "met" if added < TARGET else "NOT MET"
        print(f"| {label} | {seconds:.3f} | {added:.3f} | < {TARGET} s: {verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
