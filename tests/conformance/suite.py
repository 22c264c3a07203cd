"""The Vensim conformance suite: the shipped SDXorg test models, their canonical outputs, and
how a run of each engine is compared with them.

Used by ``tests/test_conformance.py`` and by :mod:`tests.conformance.refresh`, which measures
every model and writes ``tests/conformance/expected.toml``.
"""

from __future__ import annotations

import io
import re
import tomllib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
#: The copy of the SDXorg test models (README.md there says the source, commit and licence).
MODELS = HERE / "vensim-test-models"
#: Measured outcome of every model (written by ``python -m tests.conformance.refresh``).
EXPECTED = HERE / "expected.toml"

#: PySD against Vensim's canonical output: PySD's own integration-test tolerance (its test
#: suite compared every model with ``assert_frames_close(output, canon, rtol=.05)``), with
#: the absolute tolerance of that function, 1e-5:
#: ``|canonical - pysd| <= ATOL + RTOL * |pysd|``.
PYSD_RTOL = 0.05
PYSD_ATOL = 1e-5
#: The compiled engine against PySD: ``|compiled - pysd| <= COMPILED_RTOL * |pysd| +
#: COMPILED_ATOL * max|pysd over the column|`` (the absolute part, relative to the column's
#: scale, only matters for values that cross zero).
COMPILED_RTOL = 1e-9
COMPILED_ATOL = 1e-12

#: The model of each folder with more than one ``.mdl``: the one its canonical output is of.
MODEL_FILE = {
    "samples/teacup": "teacup.mdl",
    "tests/data_from_other_model": "test_data_from_other_model.mdl",
    "tests/get_time_value": "test_get_time_value_simple.mdl",
    "tests/subscript_copy": "test_subscript_copy.mdl",
}
#: Data files a model reads at run time (Vensim's "data from another model"), as PySD's own
#: integration tests give them.
DATA_FILES = {"tests/data_from_other_model": ("data.tab",)}


@dataclass(frozen=True)
class Case:
    """One test model: its id (``"tests/abs"``), ``.mdl`` and canonical output."""

    id: str
    mdl: Path
    canonical: Path
    data_files: tuple[Path, ...] = ()


def cases() -> list[Case]:
    """Every shipped model with a canonical output, sorted by id."""
    found = []
    for folder in sorted(p for group in ("samples", "tests") for p in (MODELS / group).iterdir()
                         if p.is_dir()):
        key = folder.relative_to(MODELS).as_posix()
        mdls = sorted(folder.glob("*.mdl"))
        name = MODEL_FILE.get(key) or (mdls[0].name if len(mdls) == 1 else None)
        if name is None:
            raise RuntimeError(f"{key}: several .mdl files; name the right one in MODEL_FILE")
        outputs = [p for p in (folder / "output.tab", folder / "output.csv") if p.is_file()]
        if not outputs:
            raise RuntimeError(f"{key}: no canonical output")
        found.append(Case(key, folder / name, outputs[0],
                          tuple(folder / f for f in DATA_FILES.get(key, ()))))
    return found


def read_canonical(path: Path) -> pd.DataFrame:
    """Vensim's output file as a frame indexed by time, one column per variable or element.

    Vensim writes a constant only in the first row: such columns are filled down (as PySD's
    ``assert_frames_close`` does).
    """
    separator = "\t" if path.suffix == ".tab" else ","
    raw = path.read_bytes()
    text = _decode(raw)
    frame = pd.read_csv(io.StringIO(text), sep=separator, index_col=0)
    frame.index = pd.Index(pd.to_numeric(frame.index, errors="coerce"), name="Time")
    frame = frame[~np.isnan(frame.index.to_numpy(dtype=float))]
    frame.columns = [_clean_column(str(c)) for c in frame.columns]
    frame = frame.loc[:, [not c.startswith("Unnamed:") for c in frame.columns]]
    frame = frame.apply(pd.to_numeric, errors="coerce")
    constant = frame.iloc[1:].isna().all().to_numpy() & frame.iloc[0].notna().to_numpy()
    for column in frame.columns[constant]:
        frame[column] = frame[column].iloc[0]
    return frame


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16", "latin-1"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text.replace("\r\n", "\n").replace("\r", "\n")
    raise ValueError("cannot decode the canonical output")


def _clean_column(name: str) -> str:
    """A column name as PySD writes it: no quotes, one space after nothing inside brackets."""
    name = name.strip()
    return re.sub(r"\s*,\s*", ",", name) if "[" in name else name


@contextmanager
def recorded_warnings() -> Iterator[list[str]]:
    """Collect every warning raised inside as ``"Category: first line"`` (none escapes)."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield found
    for item in caught:
        if issubclass(item.category, DeprecationWarning | FutureWarning):
            continue  # PySD's own calls into pandas and numpy, whatever the model
        lines = [line.strip() for line in str(item.message).splitlines() if line.strip()]
        text = _normalise(": ".join(lines[:2]))  # PySD: the element, then what happened
        found.append(f"{item.category.__name__}: {text}")


def _normalise(message: str) -> str:
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    first = re.sub(r"(?<![\w/])(/[^\s'\"/]+){2,}/?", "<path>", first)
    return first[:160]


def run(case: Case, engine: str) -> tuple[pd.DataFrame | None, str, list[str]]:
    """Run ``case`` with ``engine``: (frame or None, why it failed, the warnings raised).

    The reason of a failure is ``"Type: message"`` with paths replaced by ``<path>``.
    """
    from clusterdyn.sdmodels.engines import run_mdl

    frame = None
    reason = ""
    with recorded_warnings() as found:
        try:
            frame = run_mdl(case.mdl, engine=engine, notice=lambda _: None,
                            data_files=list(case.data_files) or None)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, by type
            reason = f"{type(exc).__name__}: {_normalise(str(exc))}"
    return frame, reason, sorted(set(found))


def unsupported_reason(case: Case) -> str | None:
    """The compiled engine's refusal of ``case`` (None if it compiles it)."""
    try:
        from clusterdyn.sdmodels.compiled import UnsupportedConstruct, compile_mdl
    except ImportError:
        return "the compiled engine is not available (clusterdyn.sdmodels.compiled missing)"
    with recorded_warnings():
        try:
            compile_mdl(case.mdl)
        except UnsupportedConstruct as exc:
            return _normalise(" ".join(str(exc).split()))
        except Exception:  # noqa: BLE001 - not a refusal: the run records the failure
            return None
    return None


def at_times(frame: pd.DataFrame, times: np.ndarray) -> pd.DataFrame | None:
    """Rows of ``frame`` at ``times``; None if one is missing.

    Vensim writes times to 6 significant digits (99.96875 as 99.9688): a time matches the
    run's nearest one if they differ by less than 1% of the run's step.
    """
    index = frame.index.to_numpy(dtype=float)
    if len(index) == 0 or len(times) == 0:
        return None
    step = float(np.min(np.diff(index))) if len(index) > 1 else 1.0
    positions = np.clip(np.searchsorted(index, times), 1, len(index) - 1) if len(
        index) > 1 else np.zeros(len(times), dtype=int)
    if len(index) > 1:
        left = positions - 1
        positions = np.where(np.abs(index[left] - times) <= np.abs(index[positions] - times),
                             left, positions)
    if not np.all(np.abs(index[positions] - times) <= 0.01 * step):
        return None
    out = frame.iloc[positions]
    out.index = pd.Index(times, name="Time")
    return out


def compare_with_canonical(actual: pd.DataFrame, canonical: pd.DataFrame) -> str:
    """"" if ``actual`` is within PySD's tolerance of ``canonical``, else what differs.

    Only the columns present in both are compared, at the canonical times.
    """
    common = [c for c in canonical.columns if c in actual.columns]
    if not common:
        return "no column in common with the canonical output"
    times = canonical.index.to_numpy(dtype=float)
    rows = at_times(actual, times)
    if rows is None:
        return (f"the run has not every canonical time ({times[0]:g} to {times[-1]:g}, "
                f"{len(times)} rows)")
    expected = canonical[common].to_numpy(dtype=float)
    got = rows[common].to_numpy(dtype=float)
    close = (np.abs(expected - got) <= PYSD_ATOL + PYSD_RTOL * np.abs(got)) | (
        np.isnan(expected) & np.isnan(got))
    return _differences(close, common, times, expected, got)


def compare_engines(compiled: pd.DataFrame, pysd: pd.DataFrame) -> str:
    """"" if the compiled engine's trajectories equal PySD's to :data:`COMPILED_RTOL`."""
    if set(compiled.columns) != set(pysd.columns):
        missing = sorted(set(pysd.columns) - set(compiled.columns))
        extra = sorted(set(compiled.columns) - set(pysd.columns))
        return f"other columns: missing {missing[:5]}, extra {extra[:5]}"
    # A variable's elements may come in another order (its definition's, not its range's).
    compiled = compiled[list(pysd.columns)]
    if compiled.shape != pysd.shape or not np.allclose(
            compiled.index.to_numpy(dtype=float), pysd.index.to_numpy(dtype=float),
            rtol=1e-12, atol=1e-12):
        return f"other times: {compiled.shape[0]} rows, PySD {pysd.shape[0]}"
    got = compiled.to_numpy(dtype=float)
    reference = pysd.to_numpy(dtype=float)
    scale = np.nanmax(np.abs(reference), axis=0, initial=0.0)
    close = np.abs(got - reference) <= COMPILED_RTOL * np.abs(reference) + COMPILED_ATOL * scale
    return _differences(close, list(pysd.columns), pysd.index.to_numpy(dtype=float), reference,
                        got)


def _differences(close: np.ndarray, columns: list[str], times: np.ndarray,
                 expected: np.ndarray, got: np.ndarray) -> str:
    if close.all():
        return ""
    bad = [columns[j] for j in np.nonzero(~close.all(axis=0))[0]]
    i, j = np.argwhere(~close)[0]
    return (f"{len(bad)} of {len(columns)} columns differ, first {columns[j]!r} at time "
            f"{times[i]:g}: {got[i, j]:.10g}, expected {expected[i, j]:.10g}")


def pysd_outcome(case: Case) -> tuple[pd.DataFrame | None, str, list[str]]:
    """PySD's run of ``case``, why it is not within 5% of Vensim ("" if it is), its warnings."""
    frame, reason, found = run(case, "pysd")
    if frame is None:
        return None, f"PySD cannot run it: {reason}", found
    differs = compare_with_canonical(frame, read_canonical(case.canonical))
    return frame, f"not within 5% of Vensim: {differs}" if differs else "", found


def compiled_outcome(case: Case, pysd: pd.DataFrame | None) -> tuple[str, list[str]]:
    """How the compiled engine's run of ``case`` differs ("" if it agrees), its warnings.

    It agrees if it equals ``pysd`` (PySD's run) to :data:`COMPILED_RTOL`, or, when PySD
    cannot run the model, is within PySD's tolerance of Vensim's canonical output.
    """
    frame, reason, found = run(case, "compiled")
    if frame is None:
        return f"the compiled engine fails: {reason}", found
    if pysd is None:
        differs = compare_with_canonical(frame, read_canonical(case.canonical))
        return (f"no PySD run; not within 5% of Vensim: {differs}" if differs else ""), found
    differs = compare_engines(frame, pysd)
    return (f"not equal to PySD to 1e-9: {differs}" if differs else ""), found


def load_expected() -> dict[str, dict[str, object]]:
    """The measured outcomes in ``expected.toml`` (empty tables if it does not exist)."""
    tables = ("pysd_fails", "pysd_warnings", "compiled_refuses", "compiled_differs",
              "compiled_warnings")
    if not EXPECTED.is_file():
        return {name: {} for name in ("summary", *tables)}
    with EXPECTED.open("rb") as handle:
        data = tomllib.load(handle)
    return {name: dict(data.get(name, {})) for name in ("summary", *tables)}
