"""Shared fixtures: one translated model per test session, in a private cache folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

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


#: Long commands that one test each checks (minutes of one core each), run one after the other
#: in a background process as the session starts, when their test is selected: on the 2-core
#: CI machine they run on the core the (mostly one-process) session leaves idle, and the test,
#: later in the run, takes the finished result (about 6 minutes of CI time; the first, needed
#: early in the run, come first). Test node id:
#: the command's arguments after the interpreter, ``{folder}`` standing for the test's own
#: output folder.
BACKGROUND: dict[str, list[str]] = {
    "tests/test_calibration.py::test_full_calibration_reproduces_the_shipped_results"
    "[argv0-salmon_cluster]": [
        "-m", "clusterdyn.cli", "calibrate", "--no-progress", "-o", "{folder}/c.toml"],
    "tests/test_calibration.py::test_full_calibration_reproduces_the_shipped_results"
    "[argv1-salmon_cluster_until_1995]": [
        "-m", "clusterdyn.cli", "calibrate", "--no-progress", "--until", "1995",
        "-o", "{folder}/c.toml"],
    "tests/test_profile.py::test_shipped_profiles_are_what_the_command_writes_now"
    "[calibration/results/salmon_cluster_until_1995.toml]": [
        "-m", "clusterdyn.cli", "profile", "Maximum demand growth rate", "--results",
        "calibration/results/salmon_cluster_until_1995.toml", "--no-progress",
        "-o", "{folder}/profile_demand_growth_until_1995.md",
        "-o", "{folder}/profile_demand_growth_until_1995.csv"],
    "tests/test_variants.py::test_shipped_report_is_what_the_command_writes_now": [
        "-m", "clusterdyn.calibration.variants", "--only",
        "market_development_and_investment_sensitivity", "-o", "{folder}/variants.md"],
}


class BackgroundJob:
    """One command of :data:`BACKGROUND`: its output folder, and its exit code and standard
    error once it has run (:meth:`result` waits for it)."""

    def __init__(self, folder: Path, argv: list[str]) -> None:
        self.folder = folder
        self.argv = [a.format(folder=folder) for a in argv]
        self.done = threading.Event()
        self.returncode: int | None = None
        self.stderr = ""

    def result(self, timeout: float = 3600) -> tuple[int | None, str, Path]:
        assert self.done.wait(timeout), "the background command did not finish"
        return self.returncode, self.stderr, self.folder


@pytest.fixture(scope="session", autouse=True)
def background(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               _private_translation_cache: None):
    """Start the selected :data:`BACKGROUND` commands (after the private cache is set: they
    inherit it), one after the other in one thread, each a ``python`` process with this
    session's warning filters as ``-W`` options (warnings are errors there too) and one model
    thread (``CLUSTERDYN_THREADS=1``; no result depends on it). Yields the jobs by node id."""
    selected = {item.nodeid for item in request.session.items}
    jobs = {nodeid: BackgroundJob(tmp_path_factory.mktemp("background"), BACKGROUND[nodeid])
            for nodeid in BACKGROUND if nodeid in selected}
    warning_options = [f"-W{entry}" for entry in request.config.getini("filterwarnings")]
    environment = {**os.environ, "CLUSTERDYN_THREADS": "1"}
    stop = threading.Event()
    running: list[subprocess.Popen] = []

    def work() -> None:
        for job in jobs.values():
            if not stop.is_set():
                with (job.folder.parent / f"{job.folder.name}.stderr").open("w+") as err:
                    process = subprocess.Popen([sys.executable, *warning_options, *job.argv],
                                               stdout=subprocess.DEVNULL, stderr=err,
                                               env=environment, cwd=request.config.rootpath)
                    running.append(process)
                    if stop.is_set():
                        process.terminate()
                    job.returncode = process.wait()
                    err.seek(0)
                    job.stderr = err.read()
            job.done.set()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield jobs
    stop.set()
    for process in running:
        if process.poll() is None:  # the session ended before its test took the result
            process.terminate()
    thread.join()
