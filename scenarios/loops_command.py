"""``clusterdyn loops``: which feedback loops drove each lifecycle stage (Loops that Matter).

Writes, as one set, ``DIR/loops.csv`` (every loop of the model: id, name, polarity, chain),
``DIR/by_year.csv`` (mean relative score of each loop in each year, long format),
``DIR/by_stage.csv`` (per stage: every loop's mean relative score, share of steps dominant and
rank), ``DIR/shifts.csv`` (the times at which dominance shifts) and ``DIR/summary.md`` (the top
loops of each stage and the shifts as markdown). See :mod:`clusterdyn.scenarios.loop_dominance` for
the
method.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import write_set

if TYPE_CHECKING:  # the parser is built for every `clusterdyn --help`: pandas is imported late
    from clusterdyn.scenarios.loop_dominance import LoopDominance

__all__ = ["FILES", "add_parser", "run_command", "short_chain", "summary_text", "tables"]

FILES = ("loops.csv", "by_year.csv", "by_stage.csv", "shifts.csv", "summary.md")
#: Decimals of the relative scores written (they lie in [-1, 1]; the step scores behind them
#: are ratios of small changes, so later decimals are not reproducible across processors).
DECIMALS = 4


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``loops`` subcommand."""
    parser = sub.add_parser(
        "loops",
        help="loop dominance by lifecycle stage (Loops that Matter): which loops drove what",
        description="Score every feedback loop of the model at every time step of a scenario "
        "run by the Loops that Matter method (Schoenberg, Davidsen & Eberlein 2020; flow "
        "scores as corrected in 2023) and write DIR/loops.csv, DIR/by_year.csv, "
        "DIR/by_stage.csv, DIR/shifts.csv and DIR/summary.md. Relative scores are shares of "
        "all the model's loop activity (every elementary cycle is scored), signed by polarity "
        "(+ reinforcing, - balancing).",
    )
    parser.add_argument("--scenario", default="historical", metavar="NAME",
                        help="shipped scenario name or scenario .toml (default: historical, "
                        "the calibrated run)")
    parser.add_argument("--until", type=whole_number(2003, 2030, "a year from 2003 to 2030"),
                        default=None, metavar="YEAR",
                        help="last year (default: the scenario's horizon); years after 2003 "
                        "form a 'projection' period of their own")
    parser.add_argument("--top", type=whole_number(1, 50, "a whole number from 1 to 50"),
                        default=6, metavar="N",
                        help="loops listed per stage in summary.md (default 6)")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="output folder (created if needed)")
    parser.set_defaults(func=run_command)


def tables(result: LoopDominance) -> dict[str, str]:
    """The four CSV files of a result, as text (scores rounded to :data:`DECIMALS`)."""
    by_year = result.by_year()
    # Loops that never reach half the last decimal in any year would print as all zeros.
    shown = by_year.columns[(by_year.abs() >= 0.5 * 10 ** -DECIMALS).any()]
    long = by_year[shown].reset_index().melt(id_vars="year", var_name="loop",
                                             value_name="score")
    by_stage = result.by_stage()
    shifts = result.shifts()
    score = f"%.{DECIMALS}f"
    return {
        "loops.csv": result.loops.to_csv(lineterminator="\n"),
        "by_year.csv": long.to_csv(index=False, float_format=score, lineterminator="\n"),
        "by_stage.csv": by_stage.to_csv(index=False, float_format=score, lineterminator="\n"),
        "shifts.csv": shifts.to_csv(index=False, float_format="%.6f", lineterminator="\n"),
    }


def short_chain(chain: str, keep: int = 3) -> str:
    """A loop's chain for a table: in full up to ``2 * keep`` variables, else its first and
    last ``keep`` with the count between."""
    names = chain.split(" -> ")
    if len(names) <= 2 * keep:
        return chain
    return " -> ".join([*names[:keep], f"... ({len(names) - 2 * keep} more)", *names[-keep:]])


def _period_title(period: str, start: float, end: float) -> str:
    from clusterdyn.scenarios.spec import STAGE_LABELS

    label = STAGE_LABELS.get(period, period).replace("\n", " ")
    return f"{label} ({start:g}-{end - 1:g})" if end - start >= 1 else f"{label} ({start:g})"


def summary_text(result: LoopDominance, top: int = 6) -> str:
    """The markdown report: per stage, the ``top`` loops; then the shifts."""
    stage = result.by_stage()
    named = result.loops["name"] != ""
    lines = [f"# Loop dominance: scenario `{result.scenario}`", "",
             f"{len(result.loops)} feedback loops scored ({int(named.sum())} named in the "
             "model's loops file, the others found in its causal graph) at every time step. "
             "Score: mean relative loop score over the period (share of all loop activity, "
             "+ reinforcing, - balancing). Dominant: share of the period's steps in which the "
             "loop had the largest absolute score.", ""]
    for (period, start, end), part in stage.groupby(["period", "start", "end"], sort=False):
        activity = part["score"].abs()
        share = activity[part["name"] != ""].sum() / activity.sum() if activity.sum() else 0
        reinforcing = part.loc[part["score"] > 0, "score"].sum()
        balancing = part.loc[part["score"] < 0, "score"].sum()
        lines += [f"## {_period_title(period, start, end)}", "",
                  f"Reinforcing loops {reinforcing:+.3f}, balancing loops {balancing:+.3f}; the "
                  f"named loops carry {share:.0%} of the loop activity.", "",
                  "| rank | loop | name | polarity | score | dominant |",
                  "|---|---|---|---|---|---|"]
        for row in part.head(top).itertuples(index=False):
            name = row.name or f"({short_chain(result.loops.at[row.loop, 'chain'])})"
            lines.append(f"| {row.rank} | {row.loop} | {name} | {row.polarity} | "
                         f"{row.score:+.3f} | {row.dominant:.0%} |")
        lines.append("")
    shifts = result.shifts()
    lines += ["## Shifts in dominance", "",
              "Times at which the loop with the largest trailing one-year mean score changes "
              "(it must then stay ahead for a year), and at which the balancing loops' total "
              "overtakes the reinforcing loops' or back.", ""]
    if shifts.empty:
        lines += ["None.", ""]
    else:
        lines += ["| time | kind | before | after |", "|---|---|---|---|"]
        lines += [f"| {row.time:.3f} | {row.kind} | {row.before} | {row.after} |"
                  for row in shifts.itertuples(index=False)]
        lines.append("")
    return "\n".join(lines)


def run_command(args: argparse.Namespace) -> int:
    """Score the loops, then write the five files atomically (all or none)."""
    from clusterdyn.scenarios.loop_dominance import loop_dominance

    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output}: expected a folder, found a file")
    inputs = [args.scenario] if args.scenario.endswith(".toml") else []
    started = time.perf_counter()
    result = loop_dominance(args.scenario, until=args.until)
    elapsed = time.perf_counter() - started
    texts = {**tables(result), "summary.md": summary_text(result, args.top)}
    write_set({args.output / name: (lambda handle, text=text: handle.write(text))
               for name, text in texts.items()}, inputs)
    # The time goes to the terminal only: the files must not change from one run to the next.
    print(f"{len(result.loops)} loops scored over {len(result.steps)} steps in {elapsed:.1f} s; "
          f"wrote {args.output}/ ({', '.join(texts)})")
    return 0
