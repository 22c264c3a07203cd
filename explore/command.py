"""``clusterdyn explore``: serve the scenario explorer on this machine and print its address.

The page is served at once and the model is loaded in the background (the first start on a
machine also compiles the runner, about 15 s), so the address is printed within seconds.
Only the loopback interface is bound, and the websocket accepts only pages served from it.
"""

from __future__ import annotations

import argparse
import sys
import time

from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError

#: Installed with the optional extra: the command names it when it is missing.
INSTALL_HINT = "pip install -e '.[explore]' (or: pip install 'clusterdyn[explore]')"
MAX_DRAWS = 2000


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``explore`` subcommand."""
    parser = sub.add_parser(
        "explore",
        help="interactive scenario explorer in the browser: policy sliders re-run the "
        "calibrated model with its uncertainty band",
        description="Serve a local web page (127.0.0.1 only) in which the nine policy levers "
        "of Table 3.1 in each of the three stages, and the stage starts, are sliders: every "
        "change re-runs the calibrated model and a posterior band, redraws the eight public "
        "outputs and the KPIs, and can be saved as a scenario file that 'clusterdyn "
        f"scenarios' runs. Needs the optional dependencies: {INSTALL_HINT}.")
    parser.add_argument("--port", type=whole_number(0, 65535, "a port from 0 to 65535"),
                        default=5006, help="port to serve on (default 5006; 0: any free port)")
    parser.add_argument("--scenario", nargs="+", default=[], metavar="NAME",
                        help="scenarios to overlay from the start, shipped names or .toml files "
                        "(at most 4)")
    parser.add_argument("--start", default="historical", metavar="NAME",
                        help="scenario the sliders start from (default: historical)")
    parser.add_argument("--draws", type=whole_number(0, MAX_DRAWS, f"a whole number from 0 "
                                                     f"to {MAX_DRAWS}"),
                        default=None, metavar="N",
                        help="posterior draws in the band (default 200: a redraw within about "
                        "200 ms on two cores; 0: no band)")
    parser.add_argument("--until", type=whole_number(2003, 2030, "a year from 2003 to 2030"),
                        default=2003, metavar="YEAR",
                        help="last year of the runs (default 2003; KPIs are read in 2003)")
    parser.add_argument("--seed", type=whole_number(0, None, "a whole number >= 0"), default=0,
                        help="seed of the choice of posterior draws (default 0)")
    parser.add_argument("--open", action="store_true", help="open the page in a browser")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Check the arguments, start loading the model, serve until Ctrl-C."""
    began = time.perf_counter()
    try:
        import panel  # noqa: F401  (only to tell a missing extra apart from other errors)
    except ImportError:
        raise UsageError(f"clusterdyn explore needs its optional dependencies: "
                         f"{INSTALL_HINT}") from None
    from clusterdyn.explore.plots import MAX_OVERLAYS
    from clusterdyn.scenarios.spec import default_model, load

    if len(args.scenario) > MAX_OVERLAYS:
        raise UsageError(f"--scenario: at most {MAX_OVERLAYS} scenarios are overlaid, got "
                         f"{len(args.scenario)}")
    model = default_model()
    overlays = [load(name, model) for name in args.scenario]  # one-line ScenarioError
    start = load(args.start, model)
    from clusterdyn.explore.server import serve
    return serve(overlays, start, port=args.port, draws=args.draws, until=args.until,
                 seed=args.seed, open_browser=args.open, began=began,
                 announce=lambda text: print(text, flush=True),
                 log=lambda text: print(text, file=sys.stderr, flush=True))


__all__ = ["INSTALL_HINT", "add_parser", "run_command"]
