"""Shared fixtures: one translated model per test session, in a private cache folder."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_translation_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Each test session translates the .mdl into its own cache, so the tests also cover a
    # first translation from scratch and never depend on a user's cache.
    os.environ["CLUSTERDYN_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def model():
    """The model with the .mdl's own parameter values: the structure tests and the golden
    trajectory are about the equations, not about a particular fit."""
    from clusterdyn.sdmodels import load_model

    return load_model("salmon_cluster", defaults="mdl")


@pytest.fixture(scope="session")
def default_run(model):
    return model.run(variables="all")


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, object, object]:
    """One ``clusterdyn reproduce`` per session: (exit code, output folder, figure folder).

    Its figure step (``clusterdyn figures``: the whole set, in this process, where pytest turns
    any warning into an error) is the render tests/test_figures.py checks byte for byte, so
    the set is drawn once per session, not once there and again here (about a minute of CI
    time). Tests only read these folders; one that changes files works on a copy.
    """
    from clusterdyn.cli import main

    root = tmp_path_factory.mktemp("reproduce")
    out, figs = root / "out", root / "figures"
    code = main(["reproduce", "-o", str(out), "--figures", str(figs)])
    return code, out, figs


def _default_sigint() -> None:
    # A process started as a background job of a non-interactive shell inherits SIGINT
    # ignored (POSIX), and Python then never raises KeyboardInterrupt: a test run launched
    # with `... &` would see the Ctrl-C tests fail. Give the child a terminal foreground
    # process's disposition, the case those tests are about.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def popen_interruptible() -> Callable[..., subprocess.Popen]:
    """``subprocess.Popen`` for a child that must receive Ctrl-C (SIGINT) as from a terminal,
    whatever the disposition the test run itself inherited."""

    def start(args: list[str], **kwargs: object) -> subprocess.Popen:
        return subprocess.Popen(args, preexec_fn=_default_sigint, **kwargs)  # noqa: PLW1509

    return start
