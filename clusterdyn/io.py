"""Safe output writing: results are written to a temporary file and renamed into place."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterable
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
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise UsageError(f"output {str(path)!r}: its folder {str(target.parent)!r} is not "
                         "writable")
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
    target = output_file(path, inputs)
    mode = _mode_for(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"output {str(path)!r}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.chmod(tmp, mode)  # mkstemp's files are private (0600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
