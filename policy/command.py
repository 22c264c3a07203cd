"""``clusterdyn optimize``: the best switched and static schedules under a budget."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from clusterdyn.argtypes import discount_rate, money, whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import write_set

if TYPE_CHECKING:
    from clusterdyn.policy.optimize import OptimizationResult

__all__ = ["add_parser", "result_files", "run_command"]

#: Objective names (clusterdyn.policy.evaluate.OBJECTIVES), repeated here so that the parser does
#: not
#: import the model; a test checks that the two agree.
OBJECTIVE_NAMES = ("npv_exports", "npv_net", "production", "social_capital")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``optimize`` subcommand."""
    parser = sub.add_parser(
        "optimize",
        help="find the best stage-switched and static policy schedules under a budget",
        description="Search the 9 levers x 3 stages of policy intensities (stages starting in "
        "1986 and 1996, as in Table 3.1) for the schedule that maximises the objective over "
        "posterior draws with the NPV of policy cost within the budget, and the best static "
        "mix (one intensity per lever for all stages). Writes DIR/optimal_switched.toml and "
        "DIR/optimal_static.toml (scenarios that 'clusterdyn scenarios' runs), "
        "summary.txt, frontier.csv, schedules.csv, per_draw.csv, shipped.csv and "
        "switching.csv.")
    parser.add_argument("--budget", type=money, default=None, metavar="US$M",
                        help="largest NPV of policy cost, million constant 2003 US$ discounted "
                        "to 1978 (default: that of the historical schedule)")
    parser.add_argument("--objective", choices=OBJECTIVE_NAMES, default="npv_exports",
                        help="what is maximised (default npv_exports: NPV of export value)")
    parser.add_argument("--robust", choices=("mean", "p10"), default="mean",
                        help="summary over posterior draws: expected value or 10th percentile")
    parser.add_argument("--draws", type=whole_number(1, 1000, "a whole number from 1 to 1000"),
                        default=24, help="posterior draws evaluated per schedule (default 24)")
    parser.add_argument("--seed", type=whole_number(0), default=0,
                        help="seed of the draws and of the search (default 0)")
    parser.add_argument("--until", type=whole_number(2003, 2030, "a year from 2003 to 2030"),
                        default=2003, metavar="YEAR", help="last year counted (default 2003)")
    parser.add_argument("--rate", type=discount_rate, default=0.06, metavar="R",
                        help="real discount rate per year (default 0.06)")
    parser.add_argument("--generations", type=whole_number(1), default=60,
                        help="generations of the main searches (default 60)")
    parser.add_argument("--replicates", type=whole_number(0, 10, "a whole number from 0 to 10"),
                        default=2, help="switched searches repeated with other draws and seeds "
                        "(default 2)")
    parser.add_argument("--levers", nargs="+", metavar="LEVER", default=None,
                        help="only these levers may be used (the others stay at 0); default: "
                        "all nine")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="output folder (created if needed)")
    parser.set_defaults(func=run_command)


def _number(value: float) -> str:
    return format(float(value), ".6g")


def result_files(result: OptimizationResult) -> dict[str, str]:
    """The texts of the files ``clusterdyn optimize`` writes, by file name.

    Numbers are rounded to 6 significant digits (well above the last-bit differences of the
    compiled runner between processors).
    """
    import io

    import tomli_w

    from clusterdyn.policy.optimize import optimum_document

    def csv(frame: object) -> str:
        buffer = io.StringIO()
        frame.to_csv(buffer, float_format="%.6g")  # type: ignore[attr-defined]
        return buffer.getvalue()

    texts = {}
    for optimum in (result.switched, result.static):
        document = optimum_document(optimum, result.settings)
        name = f"optimal_{optimum.kind}.toml"
        texts[name] = (f"# Written by `clusterdyn optimize`: run it with "
                       f"`clusterdyn scenarios {name}`.\n" + tomli_w.dumps(document))
    texts["summary.txt"] = result.summary()
    texts["frontier.csv"] = csv(result.frontier.set_index("kind"))
    texts["schedules.csv"] = csv(result.schedules().set_index("kind"))
    texts["per_draw.csv"] = csv(result.per_draw)
    texts["shipped.csv"] = csv(result.shipped)
    switching = result.switching.rename("value")
    switching.index.name = "statistic"
    texts["switching.csv"] = csv(switching)
    settings = {k: (_number(v) if isinstance(v, float) else list(v) if isinstance(v, tuple)
                    else v)
                for k, v in vars(result.settings).items()}
    texts["settings.toml"] = tomli_w.dumps(settings)
    return texts


def run_command(args: argparse.Namespace) -> int:
    """Optimise, then write every file at once (nothing is written if a step fails)."""
    from tqdm.auto import tqdm

    from clusterdyn.policy.optimize import FRONTIER_FRACTIONS, optimize

    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output}: expected a folder, found a file")
    # Searches: switched, static, two per frontier budget, the replicates (bar only).
    total = 2 + 2 * len(FRONTIER_FRACTIONS) + args.replicates
    bar = tqdm(total=total, unit="search", disable=args.no_progress, desc="optimize")
    seen: list[str] = []

    def on_generation(stage: str, best: float) -> None:
        if not seen or seen[-1] != stage:
            if seen:
                bar.update(1)
            seen.append(stage)
        bar.set_postfix_str(f"{stage}: best {best:,.1f}", refresh=False)

    try:
        result = optimize(args.budget, args.objective, args.robust, draws=args.draws,
                          seed=args.seed, until=args.until, rate=args.rate,
                          maxiter=args.generations, replicates=args.replicates,
                          levers=args.levers,
                          on_generation=on_generation)
        bar.update(total - bar.n)
    finally:
        bar.close()
    texts = result_files(result)
    write_set({args.output / name: (lambda handle, text=text: handle.write(text))
               for name, text in texts.items()})
    print(result.summary(), end="")
    print(f"wrote {len(texts)} files to {args.output}/ (run the schedules with "
          f"'clusterdyn scenarios {args.output}/optimal_switched.toml "
          f"{args.output}/optimal_static.toml')")
    return 0
