"""Vensim changes files (``.cin``): the shipped calibrations and scenarios for Vensim users.

A ``.cin`` file lists ``Name = value`` for constants that replace the ``.mdl``'s when Vensim
simulates with it (Simulation Control, *Changes*; format: Vensim Help, "Constant Input Files",
https://vensim.com/documentation/cin_files.html). ``clusterdyn cin -o DIR`` writes one per
shipped calibration and one per shipped scenario, each holding every parameter whose value
differs from the ``.mdl``'s (all the estimates for the calibrations), with ``FINAL TIME`` where
the run goes beyond the ``.mdl``'s. Loaded over ``sdmodels/salmon_cluster.mdl`` they give the
run the toolkit computes: the scenarios' stage starts are written as years, the triggered ones
resolved at the model's time step as ``clusterdyn run --scenario`` does.

    clusterdyn cin -o sdmodels/cin
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path

from clusterdyn.io import write_set

_LINE = re.compile(r"^\s*(?P<name>[^=:]+?)\s*=\s*(?P<value>\S+)\s*$")


def cin_text(values: Mapping[str, float]) -> str:
    """The ``.cin`` text of ``values`` (Vensim name -> number), one line each, sorted.

    Numbers are written in full (Python's shortest exact form): a triggered stage start lies
    on the time step (1986.2109375) and rounded it would switch one step later."""
    return "".join(f"{name} = {float(value)!r}\n" for name, value in sorted(values.items()))


def read_cin(path: Path) -> dict[str, float]:
    """Read a ``.cin`` file written by :func:`cin_text` (constants only, no lookups).

    Raises
    ------
    ValueError
        Naming the file and line of anything that is not ``Name = number``.
    """
    values: dict[str, float] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        try:
            values[match["name"]] = float(match["value"])  # type: ignore[index]
        except (TypeError, ValueError):  # no match (None[...]) or not a number
            raise ValueError(f"{path}:{number}: expected 'Name = number', got {line!r}") from None
    return values


def changes(model_defaults: Mapping[str, float], params: Mapping[str, float], until: float,
            final_time: float) -> dict[str, float]:
    """The parameters of ``params`` that differ from the ``.mdl``'s, plus ``FINAL TIME`` when
    ``until`` differs from the ``.mdl``'s final time."""
    out = {name: float(value) for name, value in params.items()
           if float(value) != model_defaults[name]}
    if until != final_time:
        out["FINAL TIME"] = float(until)
    return out


def shipped_cin_texts() -> dict[str, str]:
    """File name -> text of every shipped calibration and scenario."""
    from clusterdyn.calibration.shipped import RESULTS_DIR
    from clusterdyn.scenarios.catalog import available
    from clusterdyn.scenarios.engine import scenario_parameters
    from clusterdyn.sdmodels.model import load_model, read_calibrated_values

    model = load_model("salmon_cluster")
    mdl = {name: p.default for name, p in model.parameters.items()}
    texts = {}
    for stem in ("salmon_cluster", "salmon_cluster_until_1995"):
        estimates = read_calibrated_values(RESULTS_DIR / f"{stem}.toml")
        # every estimate, even those equal to the .mdl's: the file is the calibration
        texts[f"calibration_{stem}.cin"] = cin_text(estimates)
    for name in available():
        params, until = scenario_parameters(name, model=model)
        texts[f"scenario_{name}.cin"] = cin_text(
            changes(mdl, params, until, model.final_time))
    return texts


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``cin`` subcommand."""
    parser = sub.add_parser(
        "cin", help="write Vensim .cin changes files of the shipped calibrations and scenarios",
        description=__doc__.split("\n\n")[1].replace("\n", " "))
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="output folder (created if needed)")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Write every ``.cin`` file into ``args.output`` as one unit."""
    from clusterdyn.errors import UsageError

    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output}: expected a folder, found a file")
    texts = shipped_cin_texts()
    write_set({args.output / name: (lambda handle, text=text: handle.write(text))
               for name, text in texts.items()})
    print(f"wrote {len(texts)} .cin files to {args.output}/")
    return 0
