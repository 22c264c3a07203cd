"""Safe output writing: results are written to a temporary file and renamed into place."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomically(path: str | Path, write: Callable[[IO[str]], None]) -> None:
    """Write a text file through ``write(handle)``; ``"-"`` writes to standard output.

    The content goes to a temporary file in the target folder that is renamed over ``path``
    only when ``write`` returns, so a failure never leaves a half-written or clobbered file.
    """
    if str(path) == "-":
        write(sys.stdout)
        sys.stdout.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write(handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
