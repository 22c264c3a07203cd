"""Render the figure set into a folder with a manifest, and check a folder against it.

Rendering is atomic: every file is written into a hidden staging folder inside the target,
then moved into place with :func:`os.replace`; ``MANIFEST.json`` is moved in last. A failure
leaves the target folder as it was. Figures render in this process, or in spawned worker
processes with ``jobs > 1``; the bytes written do not depend on how many.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from tqdm import tqdm

from clusterdyn.errors import UsageError
from clusterdyn.figures.cache import ResultCache
from clusterdyn.figures.command import DEFAULT_OUTPUT, MANIFEST
from clusterdyn.figures.inputs import ROOT, FigureInputs, MissingInput, relative
from clusterdyn.figures.registry import FIGURES
from clusterdyn.figures.style import FORMATS, save_all_formats, style_context
from clusterdyn.io import move_set, recover, staging_folder

__all__ = ["DEFAULT_OUTPUT", "MANIFEST", "CheckReport", "RenderReport", "check", "render"]
_SOFTWARE = ("matplotlib", "networkx", "numpy", "pandas", "pysd")


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_names(names: Iterable[str] | None) -> list[str]:
    """Figure names in set order; all of them for ``None``.

    Raises
    ------
    clusterdyn.errors.UsageError
        For an unknown name, listing the valid ones.
    """
    if names is None:
        return list(FIGURES)
    chosen = list(dict.fromkeys(names))
    for name in chosen:
        if name not in FIGURES:
            raise UsageError(f"--only {name!r}: unknown figure; valid names: "
                             + ", ".join(FIGURES))
    return [n for n in FIGURES if n in chosen]


@dataclass
class RenderReport:
    """What :func:`render` did.

    Attributes
    ----------
    output : pathlib.Path
    files : dict of str to str
        File name -> SHA-256 of every file written now.
    skipped : dict of str to str
        Figures not rendered because an input file is missing, with the reason.
    seconds : float
    runs_simulated, runs_cached : int
    """

    output: Path
    files: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    runs_simulated: int = 0
    runs_cached: int = 0


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        with (folder / MANIFEST).open(encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("figures"), dict) else None


def _software() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    versions.update({name: metadata.version(name) for name in _SOFTWARE})
    return versions


def manifest_text(figures: dict[str, dict[str, Any]], skipped: dict[str, str]) -> str:
    """The manifest as JSON text (sorted file lists, no timestamps: byte-stable)."""
    files = {f: sha for entry in figures.values() for f, sha in entry["files"].items()}
    data: dict[str, Any] = {
        "about": "clusterdyn figure set: every file's SHA-256 and the inputs each figure was "
                 "rendered from. Verify with `clusterdyn figures --check DIR`.",
        "formats": list(FORMATS),
        "software": _software(),
        "files": dict(sorted(files.items())),
        "figures": {name: figures[name] for name in FIGURES if name in figures},
    }
    if skipped:
        data["skipped"] = skipped
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _render_figure(name: str, staging: Path, inputs: FigureInputs) -> dict[str, str]:
    """Build one figure and save all its files into ``staging``; return name -> SHA-256."""
    files: dict[str, str] = {}
    with style_context():
        for stem, fig in FIGURES[name].build(inputs).items():
            for path in save_all_formats(fig, staging, stem):
                files[path.name] = sha256_file(path)
    return files


_WORKER: dict[str, FigureInputs] = {}
WarningRecord = tuple[str, type[Warning], str, int]


def _worker_init(cache_folder: str, calibration_file: str, holdout_file: str) -> None:
    _WORKER["inputs"] = FigureInputs(ResultCache(Path(cache_folder)), Path(calibration_file),
                                     Path(holdout_file))


def _worker_task(kind: str, name: str, staging: str
                 ) -> tuple[dict[str, str] | None, list[WarningRecord], int, int]:
    """Run one task in a worker: a scenario run (``kind="run"``) or a figure (``"figure"``).

    Warnings are recorded and returned, so the parent re-emits them under its own filters
    (under pytest, as errors).
    """
    inputs = _WORKER["inputs"]
    hits, misses = inputs.cache.hits, inputs.cache.misses
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "run":
            inputs.scenario_run(name)
            result = None
        else:
            result = _render_figure(name, Path(staging), inputs)
    records = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
    return result, records, inputs.cache.hits - hits, inputs.cache.misses - misses


#: Worker processes by default. Measured on the project's 2-core machine while other jobs
#: ran: in this process 31 s (cold cache) / 18 s (warm); two spawned workers 40 s / 28 s
#: (each worker pays ~2 s of imports and loads the model). ``--jobs 2`` pays off only on an
#: otherwise idle machine.
DEFAULT_JOBS = 1


def render(output: Path, names: Sequence[str] | None = None, progress: bool = True,
           inputs: FigureInputs | None = None, jobs: int | None = None) -> RenderReport:
    """Render figures into ``output`` (PNG, SVG, PDF each) and update its manifest.

    Parameters
    ----------
    output : pathlib.Path
        Target folder (created if needed).
    names : sequence of str, optional
        Figures to render (default: all). The manifest keeps the entries of the others.
    progress : bool
        Show a tqdm progress bar on standard error.
    inputs : FigureInputs, optional
        Shared inputs (default: the shipped model, calibration, data and scenarios).
    jobs : int, optional
        Worker processes (default :data:`DEFAULT_JOBS`, i.e. render in this process); with 2
        or more, scenario runs missing from the cache run first, in parallel, then the
        figures. The bytes written do not depend on ``jobs``.

    Returns
    -------
    RenderReport

    Raises
    ------
    clusterdyn.errors.UsageError
        For an unknown figure name, an output path that is a file, or (when figures are
        named) a missing input file. When rendering the whole set, a figure whose input file
        is missing is skipped and reported in ``RenderReport.skipped`` and the manifest.
    """
    started = time.perf_counter()
    chosen = check_names(names)
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"-o {output}: expected a folder, found a file")
    inputs = inputs or FigureInputs()
    report = RenderReport(output)
    needs_runs = any("scenarios" in FIGURES[n].inputs for n in chosen)
    runs = [n for n in inputs.scenario_names if not inputs.scenario_run_cached(n)] if (
        needs_runs) else []
    # longest first (structure, then the scenario figures), for an even split over workers
    order = sorted(chosen, key=lambda n: (n != "structure", "scenarios" not in
                                          FIGURES[n].inputs, list(FIGURES).index(n)))
    tasks = [("run", n) for n in runs] + [("figure", n) for n in order]
    jobs = min(jobs or DEFAULT_JOBS, len(tasks))
    output.mkdir(parents=True, exist_ok=True)
    recover(output)  # complete a set whose writer was killed; remove dead stagings
    staging = staging_folder(output, "figures")
    results: dict[str, dict[str, str]] = {}
    bar = tqdm(total=len(tasks), desc="figures", unit="task", disable=not progress,
               file=sys.stderr, leave=False)
    try:
        if jobs <= 1:
            for kind, name in tasks:
                bar.set_postfix_str(name)
                try:
                    if kind == "run":
                        inputs.scenario_run(name)
                    else:
                        results[name] = _render_figure(name, staging, inputs)
                except MissingInput as exc:
                    if names is not None:
                        raise
                    report.skipped[name] = str(exc)
                bar.update()
            report.runs_simulated, report.runs_cached = inputs.cache.misses, inputs.cache.hits
        else:
            _render_in_pool(tasks, jobs, staging, inputs, names is None, report, results, bar)
        entries = {name: {"description": FIGURES[name].description,
                          "files": dict(sorted(results[name].items())),
                          "inputs": {relative(p): sha256_file(p)
                                     for p in FIGURES[name].input_files(inputs)}}
                   for name in FIGURES if name in results}
        previous = _read_manifest(output) or {"figures": {}}
        kept = {n: e for n, e in previous["figures"].items()
                if n in FIGURES and n not in entries}
        (staging / MANIFEST).write_text(manifest_text({**kept, **entries}, report.skipped),
                                        encoding="utf-8")
        # Every file and the manifest move in as one unit: never a new PNG beside an old SVG.
        move_set(output, [(f"{staging.name}/{file_name}", file_name)
                          for entry in results.values() for file_name in entry]
                 + [(f"{staging.name}/{MANIFEST}", MANIFEST)])
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
    report.files = {f: sha for name in FIGURES if name in results
                    for f, sha in results[name].items()}
    report.seconds = time.perf_counter() - started
    return report


def _render_in_pool(tasks: list[tuple[str, str]], jobs: int, staging: Path,
                    inputs: FigureInputs, skip_missing: bool, report: RenderReport,
                    results: dict[str, dict[str, str]], bar: tqdm) -> None:
    """Scenario runs, then figures, over ``jobs`` spawned worker processes."""
    context = multiprocessing.get_context("spawn")  # no fork of a threaded process
    initargs = (str(inputs.cache.folder), str(inputs.calibration_file),
                str(inputs.holdout_file))
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                             initargs=initargs) as pool:
        for kind in ("run", "figure"):
            futures = {pool.submit(_worker_task, k, name, str(staging)): name
                       for k, name in tasks if k == kind}
            for future in as_completed(futures):
                name = futures[future]
                bar.set_postfix_str(name)
                try:
                    files, records, hits, misses = future.result()
                except MissingInput as exc:
                    if not skip_missing:
                        raise
                    report.skipped[name] = str(exc)
                    bar.update()
                    continue
                for message, category, filename, lineno in records:
                    warnings.warn_explicit(message, category, filename, lineno)
                report.runs_cached += hits
                report.runs_simulated += misses
                if files is not None:
                    results[name] = files
                bar.update()


@dataclass
class CheckReport:
    """Outcome of :func:`check`.

    Attributes
    ----------
    mismatched, missing : list of str
        Files whose SHA-256 differs from the manifest's, and files the manifest lists that do
        not exist. Either makes the check fail.
    unexpected : list of str
        Files in the folder that the manifest does not list (reported, not a failure).
    stale_inputs : dict of str to list of str
        Input files that changed since rendering (or are gone) -> figures made from them
        (reported, not a failure: the files themselves are intact).
    skipped : dict of str to str
        Figures the manifest records as not rendered.
    """

    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    stale_inputs: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True if every listed file exists with the listed hash."""
        return not self.mismatched and not self.missing


def check(folder: Path, names: Sequence[str] | None = None) -> CheckReport:
    """Verify the files of ``folder`` against its ``MANIFEST.json``.

    Parameters
    ----------
    folder : pathlib.Path
    names : sequence of str, optional
        Check only these figures' files.

    Raises
    ------
    clusterdyn.errors.UsageError
        If the folder has no readable manifest, or for an unknown figure name.
    """
    folder = Path(folder)
    manifest = _read_manifest(folder)
    if manifest is None:
        raise UsageError(f"--check {folder}: no readable {MANIFEST} in that folder (render "
                         f"the set with `clusterdyn figures -o {folder}`)")
    chosen = check_names(names) if names is not None else list(manifest["figures"])
    report = CheckReport(skipped=dict(manifest.get("skipped", {})))
    listed: set[str] = set()
    for name in chosen:
        entry = manifest["figures"].get(name)
        if entry is None:
            report.missing.append(f"{name} (figure not in the manifest)")
            continue
        for file_name, expected in entry["files"].items():
            listed.add(file_name)
            path = folder / file_name
            if not path.is_file():
                report.missing.append(file_name)
            elif sha256_file(path) != expected:
                report.mismatched.append(file_name)
        for input_name, expected in entry.get("inputs", {}).items():
            path = ROOT / input_name
            if not path.is_file() or sha256_file(path) != expected:
                report.stale_inputs.setdefault(input_name, []).append(name)
    if names is None:
        everything = set(manifest.get("files", {})) | listed
        report.unexpected = sorted(p.name for p in folder.iterdir() if p.is_file()
                                   and p.name != MANIFEST and not p.name.startswith(".")
                                   and p.name not in everything)
    return report
