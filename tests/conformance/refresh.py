"""Measure every conformance model with both engines and write ``expected.toml``.

Run from the repository's root::

    python -m tests.conformance.refresh            # all models, 2 processes
    python -m tests.conformance.refresh --jobs 1

For each model: whether PySD runs it within its integration-test tolerance of Vensim's
canonical output (and why not), the warnings PySD raises on it, whether the compiled engine
refuses it (and the construct it names), and whether its trajectories equal PySD's to 1e-9.
``tests/test_conformance.py`` then checks that every model still does what the file says, so
that a PySD upgrade or a new construct of the compiled engine shows up as a test to update.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pysd
import tomli_w

from tests.conformance import suite


def measure(case: suite.Case) -> dict[str, object]:
    """The outcome of one model with each engine (see :func:`suite.pysd_outcome` and
    :func:`suite.compiled_outcome`)."""
    frame, failure, found = suite.pysd_outcome(case)
    result: dict[str, object] = {"id": case.id, "pysd": failure, "pysd_warnings": found}
    if failure:
        # A model whose PySD runs differ from each other is random: say so, not the numbers.
        again, _, _ = suite.run(case, "pysd")
        if frame is not None and again is not None and suite.compare_engines(again, frame):
            result["pysd"] = ("random: two PySD runs differ, and differ from Vensim's "
                              "canonical output")
    refused = suite.unsupported_reason(case)
    if refused is not None:
        result["compiled"] = ("refused", refused)
        return result
    differs, found = suite.compiled_outcome(case, frame)
    result["compiled_warnings"] = found
    result["compiled"] = ("differs", differs) if differs else ("agrees", "")
    return result


def _init_worker(cache: str) -> None:
    os.environ["CLUSTERDYN_CACHE"] = cache


def measure_all(jobs: int, cache: str) -> list[dict[str, object]]:
    """:func:`measure` of every case, ``jobs`` at a time, translations cached in ``cache``."""
    cases = suite.cases()
    with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(cache,)) as pool:
        return list(pool.map(measure, cases))


def document(results: list[dict[str, object]]) -> dict[str, object]:
    """The content of ``expected.toml``."""
    pysd_fails = {r["id"]: r["pysd"] for r in results if r["pysd"]}
    refused = {r["id"]: r["compiled"][1] for r in results if r["compiled"][0] == "refused"}
    differs = {r["id"]: r["compiled"][1] for r in results if r["compiled"][0] == "differs"}
    agrees = [r["id"] for r in results if r["compiled"][0] == "agrees"]
    return {
        "summary": {
            "pysd_version": pysd.__version__,
            "models": len(results),
            "pysd_within_5_percent": len(results) - len(pysd_fails),
            "compiled_agrees": len(agrees),
            "compiled_equal_to_pysd_within_5_percent": len(
                [m for m in agrees if m not in pysd_fails]),
            "compiled_refuses": len(refused),
            "compiled_differs": len(differs),
        },
        "pysd_fails": pysd_fails,
        "pysd_warnings": {r["id"]: r["pysd_warnings"] for r in results if r["pysd_warnings"]},
        "compiled_refuses": refused,
        "compiled_differs": differs,
        "compiled_warnings": {r["id"]: r["compiled_warnings"] for r in results
                              if r.get("compiled_warnings")},
    }


HEADER = """\
# Measured outcome of every Vensim conformance model (tests/conformance/vensim-test-models),
# written by `python -m tests.conformance.refresh`: do not edit by hand.
# pysd_fails: models PySD cannot run, or runs outside 5% of Vensim's canonical output (why).
# pysd_warnings / compiled_warnings: warnings each engine raises on a model (tests expect them).
# compiled_refuses: models the compiled engine refuses (its UnsupportedConstruct message).
# compiled_differs: models the compiled engine runs but not to 1e-9 of PySD's run (or, where
# PySD cannot run the model, not within 5% of Vensim's canonical output): why.
# summary.compiled_agrees counts the others, compiled_equal_to_pysd_within_5_percent those of
# them that PySD runs within 5% of Vensim.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance.refresh",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("-o", "--output", type=Path, default=suite.EXPECTED)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clusterdyn-conformance-") as cache:
        results = measure_all(args.jobs, cache)
    data = document(results)
    args.output.write_text(HEADER + tomli_w.dumps(data), encoding="utf-8")
    summary = data["summary"]
    print(f"PySD: {summary['pysd_within_5_percent']} of {summary['models']} within 5% of "
          f"Vensim; compiled engine: {summary['compiled_equal_to_pysd_within_5_percent']} of "
          f"them equal to PySD to 1e-9, {summary['compiled_agrees']} agreeing in all, "
          f"{summary['compiled_refuses']} refused, {summary['compiled_differs']} differing; "
          f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
