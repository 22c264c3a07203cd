"""Benchmark of ensemble runs: a loop of PySD runs against the vectorised runner.

Run on demand from the project root (not part of the tests; it takes a few minutes)::

    python -m benchmarks.ensemble                  # PySD loop, N = 1,000 and 10,000, memory
    python -m benchmarks.ensemble --no-memory      # skip the 100,000-run streaming test
    python -m benchmarks.ensemble --dask 2         # add a local Dask cluster of 2 processes

Both backends of the vectorised runner are timed: ``numba`` (the default; with one thread
and with one per core, its default) and ``numpy``. Every measurement runs the full model
1978-2003 at its default time step (1/128 year) over
parameter sets drawn as in ``clusterdyn sensitivity bands`` (Latin hypercube over the
calibrated 95% intervals, seed 0), in this one process (the streaming test in a child process,
so that its peak resident memory is its own). Rates are runs per second of wall-clock time;
ratios are against the PySD loop (``Model.run`` once per parameter set).

Targets: the vectorised runner at least 200 times the PySD loop (issue 6); 10,000 runs in at
most 2 s on the 2-core machine (issue 15, for the larger Model 2; issue 6 asked 3 s); at most
2 GB peak memory for 100,000 runs streamed in chunks to Parquet.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from clusterdyn.ensembles.bands import bands_samples
from clusterdyn.ensembles.distributed import dask_client, dataset_bands, stream_to_parquet
from clusterdyn.ensembles.runner import DEFAULT_CHUNK, plan_ensemble, run_ensemble
from clusterdyn.sdmodels import PUBLIC_OUTPUTS, Model, load_model
from clusterdyn.sdmodels.vectorized import compile_model

ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 200.0
TARGET_10K_SECONDS = 2.0
TARGET_PEAK_BYTES = 2 * 1024**3


def _peak_rss() -> int:
    """Peak resident set size of this process, in bytes (Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def pysd_loop(model: Model, samples: pd.DataFrame, base: dict[str, float], runs: int) -> float:
    """Seconds per run of ``Model.run`` over the first ``runs`` parameter sets."""
    rows = samples.head(runs + 1).to_dict("records")
    model.run({**base, **rows[0]})  # warm-up: imports and first-call costs
    started = time.perf_counter()
    for row in rows[1:]:
        model.run({**base, **row})
    return (time.perf_counter() - started) / runs


def vectorised(model: Model, samples: pd.DataFrame, base: dict[str, float], n: int,
               repeat: int, workers: int = 1, backend: str = "numba") -> float:
    """Best wall-clock seconds of one ``VectorizedModel.run`` call on ``n`` parameter sets."""
    fast = compile_model(model, backend)
    part = samples.head(n)
    params = {**base, **{k: part[k].to_numpy() for k in part.columns}}
    fast.run({k: (v[:8] if np.ndim(v) else v) for k, v in params.items()})  # warm-up
    best = np.inf
    for _ in range(repeat):
        started = time.perf_counter()
        fast.run(params, variables=list(PUBLIC_OUTPUTS), workers=workers)
        best = min(best, time.perf_counter() - started)
    return best


def on_dask(model: Model, samples: pd.DataFrame, base: dict[str, float], n: int,
            workers: int, chunk: int) -> float:
    """Seconds of ``run_ensemble`` on a local cluster (started and warmed up beforehand)."""
    plan = plan_ensemble(model, samples.head(n), base=base)
    with dask_client(workers=workers) as client:
        run_ensemble(plan_ensemble(model, samples.head(2 * workers), base=base),
                     chunk_size=1, client=client)  # each worker loads and compiles the model
        started = time.perf_counter()
        run_ensemble(plan, chunk_size=chunk, client=client)
        return time.perf_counter() - started


def memory_child(runs: int, chunk: int, trace: bool) -> dict[str, float]:
    """Stream ``runs`` runs to Parquet and compute their bands; report time and peak memory."""
    model = load_model()
    compile_model(model)
    samples, base, _ = bands_samples(model, runs, seed=0)
    plan = plan_ensemble(model, samples, base=base)
    before = _peak_rss()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = stream_to_parquet(plan, Path(tmp) / "runs", chunk_size=chunk)
        dataset_bands(folder)
        size = sum(p.stat().st_size for p in folder.iterdir())
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] if trace else float("nan")
    return {"runs": runs, "chunk": chunk, "seconds": seconds, "peak_rss": _peak_rss(),
            "rss_before": before, "traced_peak": traced, "dataset_bytes": size}


def _row(label: str, runs: int, seconds: float, baseline: float, target: str = "") -> str:
    rate = runs / seconds
    shown = f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"
    return (f"| {label} | {runs:,} | {seconds:.3g} | {shown} | {rate / baseline:,.0f}x | "
            f"{target} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pysd-runs", type=int, default=12, help="runs of the PySD loop")
    parser.add_argument("--repeat", type=int, default=1, help="vectorised repeats (best kept)")
    parser.add_argument("--threads", action="store_true",
                        help="also time the numpy backend with workers=2 threads")
    parser.add_argument("--dask", type=int, default=0, metavar="K",
                        help="also time a local Dask cluster of K processes")
    parser.add_argument("--no-memory", action="store_true", help="skip the streaming test")
    parser.add_argument("--memory-runs", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python/numpy allocations in the streaming test "
                        "(slows it down)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_runs, args.chunk, args.tracemalloc)))
        return 0

    model = load_model()
    samples, base, _ = bands_samples(model, 10_000, seed=0)
    print(f"python {platform.python_version()}, {platform.machine()}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    per_run = pysd_loop(model, samples, base, args.pysd_runs)
    baseline = 1.0 / per_run
    lines = ["| method | runs | seconds | runs/s | vs PySD loop | target |",
             "|---|---|---|---|---|---|",
             _row(f"PySD loop (`Model.run`, {args.pysd_runs} timed)", args.pysd_runs,
                  per_run * args.pysd_runs, baseline)]
    cores = os.cpu_count() or 1
    runs = [("numpy", 1, 1_000), ("numpy", 1, 10_000), ("numba", 1, 1_000),
            ("numba", 1, 10_000), ("numba", cores, 1_000), ("numba", cores, 10_000)]
    if args.threads:
        runs.append(("numpy", 2, 10_000))
    for backend, workers, n in runs:
        seconds = vectorised(model, samples, base, n, args.repeat, workers, backend)
        target = ""
        if backend == "numba" and workers == cores:  # the default of VectorizedModel.run
            fast_enough = n / seconds / baseline >= TARGET_RATIO
            target = f">= {TARGET_RATIO:.0f}x: {'met' if fast_enough else 'NOT met'}"
            if n == 10_000:
                target += (f"; <= {TARGET_10K_SECONDS:g} s: "
                           f"{'met' if seconds <= TARGET_10K_SECONDS else 'NOT met'}")
        label = f"{backend}, {workers} thread{'s' if workers > 1 else ''}, N = {n:,}"
        lines.append(_row(label, n, seconds, baseline, target))
    if args.dask:
        seconds = on_dask(model, samples, base, 10_000, args.dask, 2_500)
        lines.append(_row(f"Dask LocalCluster, {args.dask} processes, N = 10,000", 10_000,
                          seconds, baseline))
    print("\n".join(lines))
    if not args.no_memory:
        command = [sys.executable, "-m", "benchmarks.ensemble", "--memory-child",
                   "--memory-runs", str(args.memory_runs), "--chunk", str(args.chunk)]
        if args.tracemalloc:
            command.append("--tracemalloc")
        out = json.loads(subprocess.run(command, cwd=ROOT, check=True, capture_output=True,
                                        text=True).stdout)
        mib = 1024**2
        met = "met" if out["peak_rss"] <= TARGET_PEAK_BYTES else "NOT met"
        print(f"\nstreamed {out['runs']:,} runs in chunks of {out['chunk']:,} to Parquet "
              f"({out['dataset_bytes'] / mib:.0f} MiB) and computed their bands in "
              f"{out['seconds']:.1f} s ({out['runs'] / out['seconds'] / baseline:,.0f}x the "
              f"PySD loop); peak RSS {out['peak_rss'] / mib:,.0f} MiB (after loading the "
              f"model: {out['rss_before'] / mib:,.0f} MiB); target <= 2 GB: {met}")
        if args.tracemalloc:
            print(f"tracemalloc peak during streaming: {out['traced_peak'] / mib:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
