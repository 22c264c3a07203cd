"""Reading the project's TOML input files with one kind of failure for every reason.

Scenario files, calibration specs, cost tables and reality checks are all TOML; whatever goes
wrong reading one (missing, a folder, unreadable, not UTF-8, not TOML) becomes a
:class:`FileProblem` whose message each reader turns into its own one-line error naming the
file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class FileProblem(Exception):
    """A TOML input file cannot be read; the message says why, without the path."""


def read_toml(path: str | Path) -> dict[str, Any]:
    """The content of a TOML file.

    Raises
    ------
    FileProblem
        If the file is missing, is a folder, cannot be read, is not UTF-8 or is not TOML.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileProblem("file not found") from None
    except IsADirectoryError:
        raise FileProblem("is a folder, expected a TOML file") from None
    except OSError as exc:
        raise FileProblem(f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileProblem(f"not UTF-8 text (invalid byte at position {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileProblem(f"not valid TOML: {exc}") from None
