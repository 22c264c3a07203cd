"""Translate a Vensim ``.mdl`` once, into a cache folder keyed by the model's hash.

PySD's ``read_vensim`` writes its Python translation next to the ``.mdl``. The project never
lets that happen inside ``sdmodels/``: the ``.mdl`` is copied into a cache folder named after
the SHA-256 of its bytes and the PySD version, translated there, and later runs load the cached
translation. The cache lives in ``$CLUSTERDYN_CACHE`` or, by default, the user's cache folder
(``$XDG_CACHE_HOME/clusterdyn`` or ``~/.cache/clusterdyn``), outside the repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pysd


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


def translated_path(mdl_path: Path) -> Path:
    """Return the cached PySD translation of ``mdl_path``, translating it if needed.

    The cache key combines the model hash and the PySD version, so editing the model or
    upgrading PySD gives a fresh translation. Translation happens in a temporary folder that
    is renamed into place, so an interrupted translation never leaves a broken cache entry.
    """
    mdl_path = Path(mdl_path)
    key = f"{mdl_path.stem}-{model_hash(mdl_path)[:16]}-pysd{pysd.__version__}"
    target = cache_root() / "pysd" / key
    py_file = target / f"{mdl_path.stem}.py"
    if py_file.is_file():
        return py_file
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=target.parent))
    try:
        shutil.copy2(mdl_path, staging / mdl_path.name)
        with warnings.catch_warnings():
            # PySD's parser emits warnings about sketch details it ignores; they are not
            # about the model's equations, which the tests check directly.
            warnings.simplefilter("ignore")
            pysd.read_vensim(str(staging / mdl_path.name), initialize=False)
        try:
            staging.rename(target)
        except OSError:
            # Another process translated the same model meanwhile: keep its copy.
            if not py_file.is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return py_file
