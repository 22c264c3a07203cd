"""Translate a Vensim ``.mdl`` once, into a verified cache folder keyed by the model's hash.

PySD's ``read_vensim`` writes its Python translation next to the ``.mdl``. The project never
lets that happen inside ``sdmodels/``: the ``.mdl``'s bytes are copied into a cache folder named
after their SHA-256 and the PySD version, translated there, and later runs load the cached
translation. The cache lives in ``$CLUSTERDYN_CACHE`` or, by default, the user's cache folder
(``$XDG_CACHE_HOME/clusterdyn`` or ``~/.cache/clusterdyn``), outside the repository.

A cache entry is trusted only if it proves its own content: the last file written into it,
``manifest.json``, holds the SHA-256 of the ``.mdl`` and of every file PySD wrote, and every
load checks them (hashing a few hundred kilobytes, well under a millisecond). An entry that
does not match, is truncated or unreadable is translated again, atomically; a cache folder that
cannot be written is replaced, for the rest of the process, by a private temporary folder
(:func:`write_in_cache`). A ``.mdl`` that PySD cannot translate raises
:class:`~clusterdyn.sdmodels.errors.ModelInputError`, one line naming the file and, where PySD's
error
allows, the line and the element (:func:`translation_error`).
"""

from __future__ import annotations

import ast
import atexit
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pysd

from clusterdyn.sdmodels import _pysd_patches  # noqa: F401 - corrects PySD's parser first
from clusterdyn.sdmodels.errors import ModelInputError, suggest

T = TypeVar("T")

#: The file written last into a cache entry: the checksums of everything else in it.
MANIFEST = "manifest.json"
#: Version of the manifest's layout (a different layout is an entry to rebuild).
MANIFEST_FORMAT = 1
#: Staging folders of translations this old were left by a killed process (seconds).
STALE_STAGING_AGE = 3600.0

_state_lock = threading.Lock()
_private_roots: list[Path] = []
#: Cache folders already reported as unwritable (one notice per process).
_noticed: list[Path] = []
# The interpreter's "do not write bytecode" flag is global: one lock keeps concurrent loads
# from restoring each other's saved value.
_bytecode_lock = threading.RLock()


def cache_root() -> Path:
    """Folder that holds the translated models (created on demand)."""
    env = os.environ.get("CLUSTERDYN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "clusterdyn"


def model_hash(mdl_path: Path) -> str:
    """SHA-256 of the ``.mdl`` file's bytes (hex)."""
    return hashlib.sha256(Path(mdl_path).read_bytes()).hexdigest()


def private_cache_root() -> Path:
    """This process's own temporary cache folder, created on first use, removed at exit."""
    with _state_lock:
        if not _private_roots:
            folder = Path(tempfile.mkdtemp(prefix="clusterdyn-cache-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            _private_roots.append(folder)
        return _private_roots[0]


def cache_roots() -> tuple[Path, ...]:
    """Folders to look in for a cache entry: the cache, then the private one if it exists."""
    with _state_lock:
        return (cache_root(), *_private_roots)


def write_in_cache(write: Callable[[Path], T]) -> T:
    """Call ``write(cache_root())``; if the cache cannot be written, use a private folder.

    Parameters
    ----------
    write : callable
        Writes an entry under the folder it is given and returns what the caller needs. It
        raises :class:`OSError` (and only that) when the folder cannot be written.

    Returns
    -------
    object
        What ``write`` returned.

    Notes
    -----
    The first fallback of a process prints one line on standard error: a read-only or
    misplaced cache slows every run down (each translates again), which the user should know,
    but it must not stop the run.
    """
    root = cache_root()
    try:
        return write(root)
    except OSError as exc:
        fallback = private_cache_root()
        _notice_once(root, exc)
        return write(fallback)


def _notice_once(root: Path, exc: OSError) -> None:
    """Say once per process that the cache cannot be written, and why."""
    with _state_lock:
        if _noticed:
            return
        _noticed.append(root)
    reason = exc.strerror or str(exc)
    print(f"clusterdyn: cache folder {root} cannot be written ({reason}); using a temporary "
          "cache for this run", file=sys.stderr)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` but the manifest, by POSIX relative path."""
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path != folder / MANIFEST
    }


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable, truncated or not JSON
        return None
    return manifest if isinstance(manifest, dict) else None


def entry_is_intact(folder: Path, stem: str, mdl_sha256: str | None = None) -> bool:
    """Whether a translation folder holds exactly what its manifest says.

    Parameters
    ----------
    folder : pathlib.Path
        The cache entry (``<stem>-<sha16>-pysd<version>``).
    stem : str
        The model's name: the entry must hold ``<stem>.py`` and ``<stem>.mdl``.
    mdl_sha256 : str, optional
        The hash the ``.mdl`` must have; by default the one the entry's name starts with.

    Returns
    -------
    bool
        True if the manifest is readable, names this PySD version and model, and every file
        in the folder (no more, no fewer) has the checksum it lists.
    """
    manifest = _read_manifest(folder)
    if manifest is None:
        return False
    files = manifest.get("files")
    sha = manifest.get("mdl_sha256")
    if (manifest.get("format") != MANIFEST_FORMAT or manifest.get("pysd") != pysd.__version__
            or not isinstance(files, dict) or not isinstance(sha, str)
            or f"{stem}.py" not in files or files.get(f"{stem}.mdl") != sha
            or (mdl_sha256 is not None and sha != mdl_sha256)
            or f"-{sha[:16]}-" not in folder.name):
        return False
    try:
        return _file_digests(folder) == files
    except OSError:
        return False


def translation_is_intact(py_file: Path) -> bool:
    """Whether the cache entry holding ``py_file`` still matches its manifest.

    Parameters
    ----------
    py_file : pathlib.Path
        A translation returned by :func:`translated_path`.

    Returns
    -------
    bool
        See :func:`entry_is_intact`; the model's hash is the one the entry is named after.
    """
    py_file = Path(py_file)
    return entry_is_intact(py_file.parent, py_file.stem)


@contextmanager
def _no_bytecode() -> Iterator[None]:
    """Keep Python from writing ``__pycache__`` into a cache entry while loading it.

    Bytecode is a second, unverified copy of the translation: Python reuses it whenever its
    recorded source time and size match, whatever the verified source says.
    """
    with _bytecode_lock:
        saved = sys.dont_write_bytecode
        sys.dont_write_bytecode = True
        try:
            yield
        finally:
            sys.dont_write_bytecode = saved


def load_translation(py_file: Path) -> pysd.py_backend.model.Model:
    """Load a translated model without initialising it (PySD's ``run`` initialises).

    Initial values are computed by each run, with the run's parameters: a default that divides
    by zero at initialisation then fails that run, naming the element, not the loading.

    Parameters
    ----------
    py_file : pathlib.Path
        A translation returned by :func:`translated_path`.

    Returns
    -------
    pysd.py_backend.model.Model
        PySD's model, its clock set to the ``.mdl``'s control settings.
    """
    with _no_bytecode():
        return pysd.load(str(py_file), initialize=False)


def read_mdl(mdl_path: Path) -> bytes:
    """The ``.mdl``'s bytes.

    Parameters
    ----------
    mdl_path : pathlib.Path
        The Vensim model.

    Returns
    -------
    bytes
        The file's content.

    Raises
    ------
    ModelInputError
        Naming the file, if it cannot be read.
    """
    try:
        return Path(mdl_path).read_bytes()
    except OSError as exc:
        raise ModelInputError(
            f"model file {mdl_path}: cannot be read ({exc.strerror or exc})"
        ) from None


def translated_path(mdl_path: Path, rebuild: bool = False) -> Path:
    """Return the verified cached PySD translation of ``mdl_path``, translating it if needed.

    The cache key combines the model hash and the PySD version, so editing the model or
    upgrading PySD gives a fresh translation. Translation happens in a temporary folder that
    is renamed into place, so an interrupted translation never leaves a partial entry; an
    entry that fails :func:`entry_is_intact` is translated again.

    Parameters
    ----------
    mdl_path : pathlib.Path
        The Vensim model.
    rebuild : bool
        Translate again even if the entry is intact (an entry that verifies but does not
        load).

    Returns
    -------
    pathlib.Path
        The translated ``<stem>.py``.

    Raises
    ------
    ModelInputError
        If the ``.mdl`` cannot be read or PySD cannot translate it.
    """
    mdl_path = Path(mdl_path)
    data = read_mdl(mdl_path)
    sha = hashlib.sha256(data).hexdigest()
    key = f"{mdl_path.stem}-{sha[:16]}-pysd{pysd.__version__}"
    if not rebuild:
        for root in cache_roots():
            folder = root / "pysd" / key
            if entry_is_intact(folder, mdl_path.stem, sha):
                return folder / f"{mdl_path.stem}.py"
    return write_in_cache(
        lambda root: _build(root / "pysd", key, mdl_path, data, sha, rebuild)
    )


def _build(parent: Path, key: str, mdl_path: Path, data: bytes, sha: str,
           replace: bool) -> Path:
    """Translate ``data`` in a staging folder under ``parent`` and install it as ``key``."""
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(parent, key)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=parent))
    try:
        # The bytes already hashed, not the file again: the entry is of exactly that model.
        (staging / mdl_path.name).write_bytes(data)
        _translate(staging / mdl_path.name, mdl_path, data)
        manifest = {"format": MANIFEST_FORMAT, "mdl_sha256": sha, "pysd": pysd.__version__,
                    "files": _file_digests(staging)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        _install(staging, parent / key, mdl_path.stem, sha, replace)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return parent / key / f"{mdl_path.stem}.py"


def _translate(staged: Path, mdl_path: Path, data: bytes) -> None:
    """Run PySD's translator on ``staged``; its errors as one line about ``mdl_path``."""
    with warnings.catch_warnings(), _no_bytecode():
        # PySD's parser emits warnings about sketch details it ignores; they are not
        # about the model's equations, which the tests check directly.
        warnings.simplefilter("ignore")
        try:
            pysd.read_vensim(str(staged), initialize=False)
        except OSError:
            raise  # writing into the cache: the caller falls back to a private folder
        except Exception as exc:  # noqa: BLE001 - any translator error is the model's
            text = data.decode("utf-8", errors="replace")
            raise ModelInputError(translation_error(exc, mdl_path, text)) from None


def _install(staging: Path, target: Path, stem: str, sha: str, replace: bool) -> None:
    """Rename ``staging`` to ``target``, replacing a damaged entry (any entry if ``replace``)."""
    for _ in range(3):
        try:
            staging.rename(target)
            return
        except OSError:
            if not replace and entry_is_intact(target, stem, sha):
                return  # another process translated the same model meanwhile: keep its copy
            if not os.path.lexists(target):
                raise
            _discard(target)
    staging.rename(target)


def _discard(path: Path) -> None:
    """Move a damaged entry aside (one atomic rename), then delete it."""
    aside = path.with_name(f".{path.name}-stale-{os.getpid()}-{time.monotonic_ns()}")
    try:
        path.rename(aside)
    except FileNotFoundError:
        return  # another process moved it first
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


def _remove_stale_staging(parent: Path, key: str) -> None:
    """Delete staging folders of this entry left by a translation killed long ago."""
    limit = time.time() - STALE_STAGING_AGE
    for old in parent.glob(f".{key}-*"):
        try:
            if old.stat().st_mtime < limit:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue


# --- One line for a .mdl that PySD cannot translate ---------------------------------------


def translation_error(exc: BaseException, mdl_path: Path, text: str) -> str:
    """One line saying why PySD could not translate ``mdl_path``, and where.

    Parameters
    ----------
    exc : BaseException
        What PySD raised (a parsimonious ``ParseError``, a ``KeyError`` for an undefined
        name, or anything else).
    mdl_path : pathlib.Path
        The model file to name.
    text : str
        The file's text, to find the line of the element or of the unparsed text.

    Returns
    -------
    str
        ``"model file PATH[, line N]: [element 'NAME': ]what"``.
    """
    if not text.strip():
        return f"model file {mdl_path}: the file is empty; expected Vensim equations"
    element = _failing_element(exc.__traceback__)
    start = _element_offset(text, element) if element else None
    what, offset = _explain(exc, element, text, start)
    if offset is None:
        offset = start
    where = f", line {text.count(chr(10), 0, offset) + 1}" if offset is not None else ""
    named = f"element {element!r}: " if element else ""
    return f"model file {mdl_path}{where}: {named}{what}"


def _pysd_objects(tb: TracebackType | None) -> Iterator[object]:
    """The ``self`` of each PySD method on the traceback, innermost first."""
    found = []
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if type(owner).__module__.startswith("pysd."):
            found.append(owner)
        tb = tb.tb_next
    return reversed(found)


def _failing_element(tb: TracebackType | None) -> str | None:
    """Name of the model element PySD was parsing or building when it failed."""
    for owner in _pysd_objects(tb):
        name = getattr(owner, "name", None)
        if isinstance(name, str) and "Section" not in type(owner).__name__:
            # PySD's element builder replaces its name by the name's repr part-way through.
            if len(name) > 1 and name[0] == name[-1] and name[0] in "'\"":
                name = ast.literal_eval(name)
            return name
    return None


def _model_names(tb: TracebackType | None) -> list[str]:
    """The model's variable names, from PySD's section builder if it is on the traceback."""
    for owner in _pysd_objects(tb):
        namespace = getattr(getattr(owner, "namespace", None), "namespace", None)
        if isinstance(namespace, dict):
            return [n for n in namespace if isinstance(n, str)]
    return []


def _name_pattern(name: str) -> str:
    """Regex for a Vensim name: case-insensitive, any run of spaces or underscores alike."""
    return r"[\s_]+".join(re.escape(part) for part in re.split(r"[\s_]+", name.strip()))


def _element_offset(text: str, name: str) -> int | None:
    """Offset of the line that defines ``name`` (``name =``, ``name(``, ``name[...]=``...)."""
    pattern = rf"(?im)^[ \t]*{_name_pattern(name)}[ \t]*(\[[^\]\n]*\][ \t]*)?(=|:|\()"
    match = re.search(pattern, text)
    return match.start() if match else None


def element_line(mdl_path: Path, name: str) -> int | None:
    """Line of the ``.mdl`` that defines an element.

    Parameters
    ----------
    mdl_path : pathlib.Path
        The Vensim model.
    name : str
        The element's Vensim name (case, spaces and underscores are not significant).

    Returns
    -------
    int or None
        The line, counted from 1, of ``name =`` (or ``name(``, ``name[...] =``), or None if
        the file cannot be read or does not define ``name`` on a line of its own.
    """
    try:
        text = Path(mdl_path).read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None
    offset = _element_offset(text, name)
    return None if offset is None else text.count("\n", 0, offset) + 1


def _explain(exc: BaseException, element: str | None, text: str,
             start: int | None) -> tuple[str, int | None]:
    """What went wrong, and the offset in ``text`` to report if better than the element's."""
    if hasattr(exc, "pos") and type(exc).__module__.startswith("parsimonious"):
        return _parse_failure(exc, element, text, start)
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        return _undefined_name(exc.args[0], exc.__traceback__, text, start)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"PySD cannot translate it ({type(exc).__name__}{': ' + detail if detail else ''})", None


def _parse_failure(exc: BaseException, element: str | None, text: str,
                   start: int | None) -> tuple[str, int | None]:
    parsed = str(getattr(exc, "text", "") or "")
    pos = int(getattr(exc, "pos", 0) or 0)
    snippet = parsed[pos:pos + 40].strip()
    near = f"near {snippet!r}" if snippet else "at its end"
    found = text.find(parsed, start or 0) if parsed else -1
    offset = found + pos if found >= 0 else None
    if element:
        return f"cannot parse the equation {near}", offset
    return f"not a Vensim model: cannot parse it {near}", offset


def _undefined_name(py_name: str, tb: TracebackType | None, text: str,
                    start: int | None) -> tuple[str, int | None]:
    """An equation names a variable the model does not define (PySD's ``KeyError``)."""
    match = re.search(rf"(?i)(?<!\w){_name_pattern(py_name)}(?!\w)", text[start or 0:])
    written = match.group(0) if match else py_name
    offset = (start or 0) + match.start() if match else None
    hint = suggest(written, _model_names(tb))
    message = f"uses {written!r}, which the model does not define"
    return message + (f".{hint}" if hint else ""), offset
