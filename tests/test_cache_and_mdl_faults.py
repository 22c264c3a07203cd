"""Faults of the caches and of the ``.mdl`` (issue 13, items 2 and 8).

The caches (PySD's translation, the compiled runners' generated source, numba's machine code)
are verified on every load and rebuilt when damaged, never trusted or raised; a cache folder
that cannot be written falls back to a private one. A broken ``.mdl`` is one line naming the
file and, where possible, the line and the element.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clusterdyn.sdmodels import ModelInputError, SimulationError, load_model, translation
from clusterdyn.sdmodels._backends import HEADER, simulator
from clusterdyn.sdmodels.vectorized import compile_model

SOURCE = Path(translation.__file__).with_name("salmon_cluster.mdl")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder of this test's own (the session's stays untouched)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CLUSTERDYN_CACHE", str(folder))
    # Fresh per-process state: no private fallback folder yet, no notice printed yet.
    monkeypatch.setattr(translation, "_private_roots", [])
    monkeypatch.setattr(translation, "_noticed", [])
    simulator.cache_clear()  # keyed by the model, not by the cache folder
    yield folder
    simulator.cache_clear()


@pytest.fixture(scope="module")
def clean_run():
    """The default run of the .mdl's own values, from the session's cache."""
    return load_model(defaults="mdl").run(variables="all")


def _entry(model) -> Path:
    return model._py_file.parent


def _tamper_capacity_lifetime(py_file: Path) -> None:
    """Change the constant 'Capacity lifetime' (10 years) in a translation to 7."""
    text = py_file.read_text(encoding="utf-8")
    changed, count = re.subn(r"(def capacity_lifetime\(\):.*?return )10\b", r"\g<1>7", text,
                             count=1, flags=re.DOTALL)
    assert count == 1
    py_file.write_text(changed, encoding="utf-8")


# --- PySD's translation ---------------------------------------------------------------------


def test_translation_entry_carries_a_manifest_of_its_files(cache):
    model = load_model(defaults="mdl")
    entry = _entry(model)
    manifest = json.loads((entry / translation.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["mdl_sha256"] == model.sha256
    assert set(manifest["files"]) == {"salmon_cluster.py", "salmon_cluster.mdl"}
    for name, digest in manifest["files"].items():
        assert translation.sha256_file(entry / name) == digest
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".")]  # no staging


def test_tampered_translation_is_rebuilt(cache, clean_run):
    """The issue's case: a changed constant in the cached .py gave 678,830 t instead of the
    model's result; now the entry no longer matches its manifest and is translated again."""
    model = load_model(defaults="mdl")
    original = model._py_file.read_text(encoding="utf-8")
    _tamper_capacity_lifetime(model._py_file)
    assert translation.load_translation(model._py_file).components.capacity_lifetime() == 7
    # A model loaded before the tampering verifies its translation before each run...
    pd.testing.assert_frame_equal(model.run(variables="all"), clean_run)
    _tamper_capacity_lifetime(model._py_file)
    # ... and a new load verifies it too.
    again = load_model(defaults="mdl")
    pd.testing.assert_frame_equal(again.run(variables="all"), clean_run)
    assert again._py_file.read_text(encoding="utf-8") == original


@pytest.mark.parametrize("damage", [
    "truncated", "garbage", "empty", "no manifest", "garbage manifest", "extra file",
    "entry is a file",
])
def test_damaged_translation_is_rebuilt(cache, clean_run, damage):
    entry = _entry(load_model(defaults="mdl"))
    py_file = entry / "salmon_cluster.py"
    if damage == "truncated":
        py_file.write_bytes(py_file.read_bytes()[: py_file.stat().st_size // 2])
    elif damage == "garbage":
        py_file.write_bytes(b"def (\x00\xff")
    elif damage == "empty":
        py_file.write_bytes(b"")
    elif damage == "no manifest":
        (entry / translation.MANIFEST).unlink()
    elif damage == "garbage manifest":
        (entry / translation.MANIFEST).write_text("{\"format\": 1, \"files\"")
    elif damage == "extra file":
        # Bytecode beside the source would be used instead of it: not part of the entry.
        (entry / "__pycache__").mkdir()
        (entry / "__pycache__" / "salmon_cluster.cpython-311.pyc").write_bytes(b"\x00" * 16)
    else:
        for path in entry.iterdir():
            path.unlink()
        entry.rmdir()
        entry.write_text("not a folder")
    model = load_model(defaults="mdl")
    assert model._py_file == py_file
    assert translation.entry_is_intact(entry, "salmon_cluster", model.sha256)
    pd.testing.assert_frame_equal(model.run(variables="all"), clean_run)


def test_translation_that_verifies_but_does_not_load_is_rebuilt(cache, clean_run):
    """An entry consistent with its manifest whose module raises SyntaxError: translated
    again, once, instead of raising on every later run."""
    entry = _entry(load_model(defaults="mdl"))
    (entry / "salmon_cluster.py").write_text("def broken(:\n", encoding="utf-8")
    manifest = json.loads((entry / translation.MANIFEST).read_text(encoding="utf-8"))
    manifest["files"]["salmon_cluster.py"] = translation.sha256_file(entry / "salmon_cluster.py")
    (entry / translation.MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    assert translation.entry_is_intact(entry, "salmon_cluster")
    model = load_model(defaults="mdl")
    pd.testing.assert_frame_equal(model.run(variables="all"), clean_run)


def _unwritable_cache(tmp_path: Path, how: str, monkeypatch) -> Path:
    if how == "chmod":
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        probe = folder / "probe"
        try:
            probe.write_text("")
        except OSError:
            pass
        else:
            probe.unlink()
            folder.chmod(0o755)
            pytest.skip("running as root: chmod does not stop writes ('under a file' covers it)")
    else:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        folder = blocker / "cache"  # mkdir fails: its parent is not a folder
    monkeypatch.setenv("CLUSTERDYN_CACHE", str(folder))
    return folder


@pytest.mark.parametrize("how", ["chmod", "under a file"])
def test_unwritable_cache_falls_back_to_a_private_folder(cache, tmp_path, monkeypatch, capsys,
                                                         clean_run, how):
    folder = _unwritable_cache(tmp_path, how, monkeypatch)
    try:
        model = load_model(defaults="mdl")
        pd.testing.assert_frame_equal(model.run(variables="all"), clean_run)
        fast = compile_model(model, "numpy").run(variables="all")
        np.testing.assert_allclose(fast.values[0], clean_run.to_numpy(), rtol=1e-9)
        assert load_model(defaults="mdl")._py_file == model._py_file  # no second translation
    finally:
        if how == "chmod":
            folder.chmod(0o755)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(folder) in err and "temporary cache" in err
    assert folder not in model._py_file.parents
    assert translation._private_roots[0] in model._py_file.parents


# --- The compiled runners' generated source and numba's cache ------------------------------


def _generated(folder: Path, backend: str) -> Path:
    (found,) = (folder / "vectorized").glob(f"salmon_cluster-*-{backend}*.py")
    return found


def test_tampered_numpy_source_is_regenerated(cache, clean_run):
    model = load_model(defaults="mdl")
    compile_model(model, "numpy")
    source = _generated(cache, "numpy")
    original = source.read_text(encoding="utf-8")
    assert original.startswith(HEADER)
    header, _, body = original.partition("\n")
    source.write_text(header + "\n" + body.replace("0.89", "0.5"), encoding="utf-8")
    simulator.cache_clear()
    fast = compile_model(model, "numpy").run(variables="all")
    np.testing.assert_allclose(fast.values[0], clean_run.to_numpy(), rtol=1e-9)
    assert source.read_text(encoding="utf-8") == original


@pytest.mark.parametrize("damage", ["truncated", "no header", "loads badly"])
def test_damaged_numpy_source_is_regenerated(cache, clean_run, damage):
    model = load_model(defaults="mdl")
    compile_model(model, "numpy")
    source = _generated(cache, "numpy")
    original = source.read_text(encoding="utf-8")
    header, _, body = original.partition("\n")
    if damage == "truncated":
        source.write_text(original[: len(original) // 2], encoding="utf-8")
    elif damage == "no header":
        source.write_text(body, encoding="utf-8")
    else:
        # A header that matches a body which does not compile: generated again, once.
        stamp = json.loads(header[len(HEADER):])
        bad = "def simulate(:\n"
        stamp["sha256"] = hashlib.sha256(bad.encode()).hexdigest()
        source.write_text(HEADER + json.dumps(stamp, sort_keys=True) + "\n" + bad,
                          encoding="utf-8")
    simulator.cache_clear()
    fast = compile_model(model, "numpy").run(variables="all")
    np.testing.assert_allclose(fast.values[0], clean_run.to_numpy(), rtol=1e-9)
    assert source.read_text(encoding="utf-8") == original


def _forget_kernels() -> None:
    """Drop the compiled kernels' modules, so that the next load imports them again."""
    for name in [n for n in sys.modules if n.startswith("_clusterdyn_kernel_")]:
        del sys.modules[name]
    simulator.cache_clear()


def test_numba_source_and_machine_code_cache_are_rebuilt(cache, clean_run):
    """A tampered kernel source is generated again; numba cache files that cannot be
    unpickled are reset and the kernel compiled again, instead of an UnpicklingError."""
    _forget_kernels()  # compile in this test's cache, not reuse the session's module
    model = load_model(defaults="mdl")
    expected = compile_model(model, "numba").run(variables="all").values
    np.testing.assert_allclose(expected[0], clean_run.to_numpy(), rtol=1e-9)
    source = _generated(cache, "numba")
    original = source.read_text(encoding="utf-8")
    header, _, body = original.partition("\n")
    source.write_text(header + "\n" + body.replace("0.89", "0.5"), encoding="utf-8")
    simulator.cache_clear()
    again = compile_model(model, "numba").run(variables="all").values
    assert again.tobytes() == expected.tobytes()
    assert source.read_text(encoding="utf-8") == original

    numba_files = sorted((cache / "vectorized" / "__pycache__").glob("*.nb[ic]"))
    assert numba_files
    for path in numba_files:
        path.write_bytes(b"garbage")
    _forget_kernels()  # as a new process: import the module, load the kernel from the cache
    recompiled = compile_model(model, "numba").run(variables="all").values
    assert recompiled.tobytes() == expected.tobytes()
    indexes = [p for p in numba_files if p.suffix == ".nbi" and "kernel" in p.name]
    assert indexes and all(p.read_bytes() != b"garbage" for p in indexes)


# --- A broken .mdl -------------------------------------------------------------------------


def _broken(tmp_path: Path, old: str, new: str, name: str = "broken.mdl") -> Path:
    """A copy of the shipped .mdl with ``old`` replaced by ``new`` once."""
    text = SOURCE.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _written(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _line(text: str) -> int:
    """Line (from 1) of the shipped .mdl that starts with ``text``."""
    lines = SOURCE.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip().startswith(text))


DEPRECIATION = "Production capacity/Capacity lifetime\n"
LIFETIME = "Capacity lifetime=\n\t10\n\t~\tYear [5,20]"
ZERO_LIFETIME = "Capacity lifetime=\n\t0\n\t~\tYear [0,20]"
EQUATION_LINE = _line("Production capacity/Capacity lifetime")
LIFETIME_LINE = _line("Capacity lifetime=")

#: Each case: how to make the file, and what the one-line message must say after the file.
BROKEN_MDL = {
    "syntax error": (
        lambda tmp: _broken(tmp, DEPRECIATION, "Production capacity/(Capacity lifetime\n"),
        rf"line {EQUATION_LINE}: element 'Capacity depreciation': cannot parse the equation "
        r"near '/\(Capacity lifetime'",
    ),
    "misspelled variable": (
        lambda tmp: _broken(tmp, DEPRECIATION, "Production capacity/Capacity lifetme\n"),
        rf"line {EQUATION_LINE}: element 'Capacity depreciation': uses 'Capacity lifetme', "
        r"which the model does not define\. Did you mean 'Capacity lifetime'",
    ),
    "empty file": (
        lambda tmp: _written(tmp, "empty.mdl", b""),
        r": the file is empty",
    ),
    "not a model": (
        lambda tmp: _written(tmp, "text.mdl", b"hello world\n"),
        r"line 1: not a Vensim model: cannot parse it near",
    ),
    "binary garbage": (
        lambda tmp: _written(tmp, "binary.mdl", b"\xff\xfe\x00garbage"),
        r": not a Vensim model",
    ),
    "no FINAL TIME": (
        lambda tmp: _broken(tmp, "FINAL TIME", "FINAL TYME"),
        r": FINAL TIME must be defined as a number",
    ),
    "constant defined twice": (
        lambda tmp: _broken(tmp, LIFETIME, "Capacity lifetime=\n\t10\n\t~\tYear\n\t~\t\t|\n\n"
                                           "Capacity lifetime=\n\t12\n\t~\tYear [5,20]"),
        rf"line {LIFETIME_LINE}: element 'Capacity lifetime': its value cannot be computed",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_MDL))
def test_broken_mdl_is_one_line_naming_the_file(tmp_path, case):
    make, message = BROKEN_MDL[case]
    path = make(tmp_path)
    with pytest.raises(ModelInputError) as caught:
        load_model(str(path))
    text = str(caught.value)
    assert text.startswith(f"model file {path}") and "\n" not in text, text
    assert re.search(message, text), text


def test_broken_mdl_leaves_no_cache_entry_or_staging_folder(cache, tmp_path):
    path = _broken(tmp_path, DEPRECIATION, "Production capacity/(Capacity lifetime\n")
    with pytest.raises(ModelInputError):
        load_model(str(path))
    assert not list((cache / "pysd").iterdir())


@pytest.mark.parametrize(("edit", "element"), [
    # The flow divides by the constant from the first step.
    (None, "Capacity depreciation"),
    # The stock's initial value divides by it.
    (("exit,\n\t\tInitial production capacity)",
      "exit,\n\t\tInitial production capacity/Capacity lifetime)"), "Production capacity"),
])
def test_default_that_divides_by_zero_names_the_element(tmp_path, edit, element):
    path = _broken(tmp_path, LIFETIME, ZERO_LIFETIME, "zero.mdl")
    if edit:
        text = path.read_text(encoding="utf-8")
        assert edit[0] in text
        path.write_text(text.replace(*edit, 1), encoding="utf-8")
    model = load_model(str(path))  # loading does not evaluate the equations
    assert model.parameters["Capacity lifetime"].default == 0
    with pytest.raises(SimulationError, match=rf"division by zero in the equation of "
                                              rf"'{element}' at time 1978") as caught:
        model.run()
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    # The same model runs once the constant is set.
    assert np.isfinite(model.run({"Capacity lifetime": 10}).to_numpy()).all()


@pytest.mark.parametrize("case", [*BROKEN_MDL, "divides by zero"])
def test_broken_mdl_through_the_cli_is_one_line_without_traceback(tmp_path, capsys, case):
    from clusterdyn.cli import main

    if case == "divides by zero":
        path = _broken(tmp_path, LIFETIME, ZERO_LIFETIME, "zero.mdl")
    else:
        path = BROKEN_MDL[case][0](tmp_path)
    assert main(["run", "--model", str(path), "-o", "-"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("clusterdyn run: error: ") and captured.err.count("\n") == 1
    assert str(path) in captured.err and "Traceback" not in captured.err


def test_unreadable_mdl_is_one_line(tmp_path):
    path = tmp_path / "secret.mdl"
    path.write_text("x")
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as root: chmod does not stop reads")
    with pytest.raises(ModelInputError, match=r"model file .*secret\.mdl: cannot be read"):
        load_model(str(path))
