"""Safe output writing: results are written to a temporary file and renamed into place."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from clusterdyn.errors import UsageError


def current_umask() -> int:
    """The process's file-creation mask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The project's root (the folder holding the packages).
ROOT = Path(__file__).resolve().parents[1]
#: Shipped input files no command may write over: the models and their declarations, the
#: calibration specs and data, the scenarios and their costs (glob patterns under ROOT).
#: Results files (calibration/results/) are outputs of calibrate, posterior and profile; a
#: command that reads one names it in its own ``inputs``.
SHIPPED_INPUTS = ("sdmodels/*.mdl", "sdmodels/*.toml", "calibration/*.toml",
                  "calibration/data/*", "scenarios/*.toml", "figures/*.mplstyle")


def shipped_inputs() -> set[Path]:
    """The shipped input files that exist now (resolved paths)."""
    return {p.resolve() for pattern in SHIPPED_INPUTS for p in ROOT.glob(pattern)}


def output_file(path: str | Path, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Check that ``path`` can be written as an output file; create its folder.

    Called before a command computes anything, so that a long computation never ends on an
    unwritable output, and an output never replaces one of the command's inputs.

    Parameters
    ----------
    path : str or pathlib.Path
        The output file.
    inputs : iterable of paths
        The files the command reads (None entries are ignored).

    Raises
    ------
    UsageError
        If ``path`` is one of ``inputs`` or a shipped input file (:data:`SHIPPED_INPUTS`), is
        a folder, or its folder cannot be created or written.
    """
    target = Path(path)
    resolved = target.resolve()
    if resolved in {Path(p).resolve() for p in inputs if p is not None}:
        raise UsageError(f"output {str(path)!r} is also an input of this command: choose "
                         "another output file (nothing was written)")
    if resolved in shipped_inputs():
        raise UsageError(f"output {str(path)!r} is a shipped input file "
                         f"({resolved.relative_to(ROOT)}): choose another output file "
                         "(nothing was written)")
    if target.is_dir():
        raise UsageError(f"output {str(path)!r} is a folder: expected a file path inside it, "
                         f"e.g. {str(target / 'result.csv')!r}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"output {str(path)!r}: cannot create its folder "
                         f"({exc.strerror or exc})") from None
    try:  # a real probe: os.access says yes to root even where nothing can be created
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp",
                                     dir=target.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"output {str(path)!r}: its folder {str(target.parent)!r} cannot be "
                         f"written ({exc.strerror or exc})") from None
    if target.exists() and not target.is_file():
        raise UsageError(f"output {str(path)!r} exists and is not a regular file")
    return target


def _mode_for(target: Path) -> int:
    """The mode the new file gets: the old file's, or what ``open`` would give (umask)."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def write_atomically(path: str | Path, write: Callable[[IO[str]], None],
                     inputs: Iterable[str | Path | None] = ()) -> None:
    """Write a text file through ``write(handle)``; ``"-"`` writes to standard output.

    The content goes to a temporary file in the target folder that is renamed over ``path``
    only when ``write`` returns, so a failure or an interruption never leaves a half-written
    or clobbered file. The file gets the mode an ordinary ``open`` would give it (the umask),
    or keeps the mode of the file it replaces.

    Raises
    ------
    UsageError
        If ``path`` cannot be written or is an input (see :func:`output_file`, which also
        takes ``inputs``).
    """
    if str(path) == "-":
        write(sys.stdout)
        sys.stdout.flush()
        return
    write_set({path: write}, inputs)


def write_set(files: Mapping[str | Path, Callable[[IO[str]], None]],
              inputs: Iterable[str | Path | None] = ()) -> None:
    """Write several files of one folder as one unit: all the new ones, or all the old ones.

    Every file is written to a temporary file first; only when all are complete is a journal
    of the renames written, then the renames are made and the journal removed. A process
    killed during the renames leaves the journal, and the next write into the folder (or
    :func:`recover`) completes them, so a reader never mixes files of two runs once the
    folder has been recovered. Ctrl-C is held back during the renames (a fraction of a
    millisecond). Temporary files of dead processes are removed on the next write.

    Raises
    ------
    UsageError
        If a path cannot be written or is an input (:func:`output_file`).
    """
    inputs = list(inputs)
    targets = [output_file(path, inputs) for path in files]
    folders = {t.parent.resolve() for t in targets}
    if len(folders) != 1:
        raise ValueError(f"write_set writes one folder, got {sorted(map(str, folders))}")
    folder = folders.pop()
    recover(folder)
    renames: list[tuple[str, str]] = []
    try:
        for target, write in zip(targets, files.values(), strict=True):
            renames.append((_write_temporary(target, write), target.name))
        journal = folder / f"{JOURNAL_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.json"
        _write_journal(journal, renames)
    except BaseException:
        for temporary, _ in renames:
            (folder / temporary).unlink(missing_ok=True)
        raise
    _commit(folder, journal, renames)


def move_set(folder: str | Path, renames: list[tuple[str, str]]) -> None:
    """Move complete files into ``folder`` as one unit (journal, renames, journal removed).

    ``renames`` pairs a source path relative to ``folder`` (e.g. in a staging subfolder made
    with :func:`staging_folder`) with a target file name. See :func:`write_set`.
    """
    folder = Path(folder)
    journal = folder / f"{JOURNAL_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.json"
    _write_journal(journal, renames)
    _commit(folder, journal, renames)


def staging_folder(folder: str | Path, what: str) -> Path:
    """A new private folder inside ``folder`` to build outputs in (removed by :func:`recover`
    once its process is gone)."""
    return Path(tempfile.mkdtemp(prefix=f".{what}-{os.getpid()}-", dir=folder))


def _commit(folder: Path, journal: Path, renames: list[tuple[str, str]]) -> None:
    with _interrupts_held():
        _rename(folder, renames)
        journal.unlink()


#: Journals of sets being renamed: ``<prefix><pid>-<random>.json`` in the output folder.
JOURNAL_PREFIX = ".clusterdyn-journal-"
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")
_STAGING = re.compile(r"^\.(?P<what>[a-z]+)-(?P<pid>\d+)-[^.]+$")


def _write_temporary(target: Path, write: Callable[[IO[str]], None]) -> str:
    mode = _mode_for(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:
        raise UsageError(f"output {str(target)!r}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())  # complete on disk before the journal says so
        os.chmod(tmp, mode)  # mkstemp's files are private (0600)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp).name


def _write_journal(journal: Path, renames: list[tuple[str, str]]) -> None:
    staging = journal.with_name(journal.name + ".tmp")
    staging.write_text(json.dumps({"renames": renames}), encoding="utf-8")
    os.replace(staging, journal)


def _rename(folder: Path, renames: list[tuple[str, str]]) -> None:
    for i, (temporary, target) in enumerate(renames):
        if (folder / temporary).exists():
            os.replace(folder / temporary, folder / target)
        if i == 0 and os.environ.get("CLUSTERDYN_TEST_KILL_DURING_RENAMES") == "1":
            # Test hook (tests/test_faults.py): die as kill -9 would, between two renames.
            os.kill(os.getpid(), signal.SIGKILL)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(folder: str | Path) -> None:
    """Complete the renames of sets whose writer died, and remove dead writers' temporaries.

    Safe to call at any time: the journal of a live writer is left alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for journal in sorted(folder.glob(f"{JOURNAL_PREFIX}*.json")):
        pid = int(journal.name[len(JOURNAL_PREFIX):].split("-")[0])
        if _alive(pid):
            continue
        try:
            renames = json.loads(journal.read_text(encoding="utf-8"))["renames"]
            _rename(folder, [(str(a), str(b)) for a, b in renames])
            journal.unlink()
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable journal: leave it, never guess
    for temporary in folder.glob(".*.tmp"):
        found = _TEMPORARY.match(temporary.name)
        if found and not _alive(int(found["pid"])):
            temporary.unlink(missing_ok=True)
    for staging in folder.glob(".*-*-*"):
        found = _STAGING.match(staging.name)
        if staging.is_dir() and found and not _alive(int(found["pid"])):
            shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT back while a set is renamed (in the main thread; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
