"""Vensim conformance: the 98 SDXorg test models with PySD and with the compiled engine.

Every model in ``tests/conformance/vensim-test-models`` is run through
:func:`clusterdyn.sdmodels.engines.run_mdl` and checked against what
``tests/conformance/expected.toml`` says was measured (``python -m tests.conformance.refresh``,
or ``python tests/test_conformance.py --refresh``, writes it):

* PySD against Vensim's canonical output, at PySD's own integration-test tolerance (relative
  5%, absolute 1e-5; only the columns present in both, at the canonical times). A model the
  file lists as failing is a strict xfail: the day a PySD upgrade fixes it, the test says so.
* The compiled engine against PySD's trajectories, to a relative 1e-9 (absolute 1e-12 of the
  column's largest value; a variable's elements may come in another order). A model the file
  lists as refused must still be refused (the test then skips, showing the construct named);
  one it lists as differing is a strict xfail.
* The warnings each engine raises on each model are exactly those measured (other warnings
  are errors, as everywhere in the tests).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pandas as pd
import pytest

if __package__ in (None, ""):  # `python tests/test_conformance.py --refresh`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conformance import suite  # noqa: E402

CASES = suite.cases()
EXPECTED = suite.load_expected()


@functools.cache
def _pysd(case: suite.Case) -> tuple[pd.DataFrame | None, str, list[str]]:
    """PySD's run of a model (one per test session: both tests use it)."""
    return suite.pysd_outcome(case)


def _param(case: suite.Case, table: str) -> object:
    reason = EXPECTED[table].get(case.id)
    marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=str(reason))
             ] if reason else []
    return pytest.param(case, id=case.id, marks=marks)


def _same_warnings(found: list[str], table: str, case: suite.Case) -> None:
    expected = list(EXPECTED[table].get(case.id, []))
    if found != expected:
        # Not an AssertionError: an xfail of the model must not hide it.
        pytest.fail(f"{case.id}: warnings {found} differ from the measured {expected} "
                    "(python -m tests.conformance.refresh)", pytrace=False)


def test_every_model_is_measured():
    summary = EXPECTED["summary"]
    ids = {case.id for case in CASES}
    assert summary.get("models") == len(CASES) == 98, "python -m tests.conformance.refresh"
    for table in ("pysd_fails", "pysd_warnings", "compiled_refuses", "compiled_differs",
                  "compiled_warnings"):
        assert set(EXPECTED[table]) <= ids, table
    assert summary["pysd_within_5_percent"] == len(CASES) - len(EXPECTED["pysd_fails"])
    assert summary["compiled_refuses"] == len(EXPECTED["compiled_refuses"])
    assert summary["compiled_differs"] == len(EXPECTED["compiled_differs"])
    assert summary["compiled_agrees"] == (len(CASES) - len(EXPECTED["compiled_refuses"])
                                          - len(EXPECTED["compiled_differs"]))


@pytest.mark.parametrize("case", [_param(case, "pysd_fails") for case in CASES])
def test_pysd_matches_vensim(case):
    frame, failure, found = _pysd(case)
    _same_warnings(found, "pysd_warnings", case)
    assert not failure, failure


@pytest.mark.parametrize("case", [_param(case, "compiled_differs") for case in CASES])
def test_compiled_engine_matches_pysd(case):
    refused = EXPECTED["compiled_refuses"].get(case.id)
    now = suite.unsupported_reason(case)
    if (refused is None) != (now is None):
        pytest.fail(f"{case.id}: the compiled engine's refusal changed: now {now!r}, "
                    f"measured {refused!r} (python -m tests.conformance.refresh)",
                    pytrace=False)
    if now is not None:
        # The element named may change from run to run (the first of several found).
        pytest.skip(f"refused by the compiled engine: {now}")
    frame, _, _ = _pysd(case)
    differs, found = suite.compiled_outcome(case, frame)
    _same_warnings(found, "compiled_warnings", case)
    assert not differs, differs


if __name__ == "__main__":
    if sys.argv[1:2] != ["--refresh"]:
        sys.exit("usage: python tests/test_conformance.py --refresh [--jobs N]")
    from tests.conformance import refresh

    sys.exit(refresh.main(sys.argv[2:]))
