"""Serving the explorer: the page at once, the model loaded in the background."""

from __future__ import annotations

import contextlib
import io
import socket
import time
import webbrowser
from collections.abc import Callable
from concurrent.futures import Future
from typing import NoReturn

import panel as pn

from clusterdyn.explore.app import RUNS, TITLE, create_session
from clusterdyn.explore.workbench import DEFAULT_DRAWS, Workbench
from clusterdyn.scenarios.spec import Scenario

HOST = "127.0.0.1"


def free_port() -> int:
    """A port no one listens on now (the operating system's choice)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def serve(overlays: list[Scenario], start: Scenario, port: int = 5006, draws: int | None = None,
          until: int = 2003, seed: int = 0, open_browser: bool = False,
          began: float | None = None, announce: Callable[[str], None] = print,
          log: Callable[[str], None] = print) -> NoReturn:
    """Serve the explorer on ``HOST:port`` until Ctrl-C (then raise KeyboardInterrupt).

    Parameters
    ----------
    overlays : list of Scenario
        Scenarios overlaid when a page opens.
    start : Scenario
        The settings the sliders open with.
    port : int
        0 picks a free port.
    draws, until, seed
        See :class:`~clusterdyn.explore.workbench.Workbench`.
    announce, log : callable
        Where the address (standard output) and progress notes (standard error) go.
    """
    began = time.perf_counter() if began is None else began
    port = port or free_port()
    loading: list[Future] = []

    def session() -> pn.viewable.Viewable:  # called by Panel once per browser tab
        return create_session(loading[0], overlays, start)

    # The port is taken before the model starts loading: a busy port is one error line.
    with contextlib.redirect_stdout(io.StringIO()):  # Panel's own "Launching server" line
        server = pn.serve(session,
                          port=port, address=HOST, show=False, start=False, title=TITLE,
                          websocket_origin=[f"{HOST}:{port}", f"localhost:{port}"])
    workbench = RUNS.submit(Workbench, DEFAULT_DRAWS if draws is None else draws, seed, until)
    loading.append(workbench)
    url = f"http://{HOST}:{server.port}/"
    announce(f"clusterdyn explore: serving on {url} (Ctrl-C to stop)")
    log(f"clusterdyn explore: page ready in {time.perf_counter() - began:.1f} s; loading the "
        "model")

    def loaded(future: Future) -> None:
        if future.exception() is None:
            log(f"clusterdyn explore: model ready in {time.perf_counter() - began:.1f} s")
        else:
            log(f"clusterdyn explore: error: the model could not be loaded: "
                f"{future.exception()}")

    workbench.add_done_callback(loaded)
    if open_browser:
        webbrowser.open(url)
    server.start()
    try:
        server.io_loop.start()  # Bokeh stops the loop on Ctrl-C instead of raising
    finally:
        server.stop()
    raise KeyboardInterrupt  # the command line's quiet "interrupted", exit status 130
