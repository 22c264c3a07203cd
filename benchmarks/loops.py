"""Benchmark of loop dominance (issue 17: loop scores for one run in under 2 s).

Run on demand from the project root (not part of the tests)::

    python -m benchmarks.loops

Baseline, in the same process: one PySD run of the calibrated model to 2003 (what a user of
PySD alone pays per run). Rows: link scores of one run (cold: the first call, which builds the
causal graph and compiles the runner; warm: a later call with other parameters), relative
scores of every one of the model's elementary cycles, and the whole ``clusterdyn loops``
analysis (a scenario run, the scores and the summaries) to 2030.
"""

from __future__ import annotations

import os
import platform
import time

TARGET_SECONDS = 2.0


def _timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def main() -> int:
    from clusterdyn.scenarios.loop_dominance import loop_dominance
    from clusterdyn.sdmodels import load_model
    from clusterdyn.sdmodels.loop_scores import link_scores, relative_loop_scores

    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    model = load_model()
    model.run()  # PySD's import and translation outside the timing
    baseline, _ = _timed(model.run)
    cold, links = _timed(link_scores, model)
    warm, links = _timed(link_scores, model, {"Normal investment fraction": 0.6})
    scoring, _ = _timed(relative_loop_scores, links, None, None)
    whole, result = _timed(loop_dominance, "historical", 2030, model)
    rows = [("one PySD run to 2003 (baseline)", baseline, ""),
            ("link scores of one run, first call", cold, f"< {TARGET_SECONDS:g} s"),
            ("link scores of one run, later call", warm, f"< {TARGET_SECONDS:g} s"),
            (f"relative scores of all {len(result.loops)} loops", scoring, ""),
            ("clusterdyn loops analysis to 2030", whole, "")]
    print(f"{'':44} {'seconds':>8} {'x baseline':>10}  target")
    for label, seconds, target in rows:
        print(f"{label:44} {seconds:8.3f} {seconds / baseline:10.2f}  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
