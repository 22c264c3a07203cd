"""``clusterdyn robustness``: how robust are the scenario rankings to the uncertain inputs?

Writes ``DIR/win_probability.csv``, ``DIR/reversals.csv``, ``DIR/importance.csv``,
``DIR/samples_kpis.csv`` and ``DIR/summary.md`` as one set (see
:func:`clusterdyn.policy.robustness.ranking_robustness` for the method). Also :func:`summary_text`,
the
report of :meth:`clusterdyn.policy.robustness.RobustnessResult.summary`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from clusterdyn.argtypes import discount_rate, whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import write_set

if TYPE_CHECKING:  # the parser is built for every `clusterdyn --help`: pandas is imported late
    import pandas as pd

    from clusterdyn.policy.robustness import RobustnessResult

__all__ = ["add_parser", "run_command", "summary_text"]

FILES = ("win_probability.csv", "reversals.csv", "importance.csv", "samples_kpis.csv",
         "summary.md")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``robustness`` subcommand."""
    parser = sub.add_parser(
        "robustness",
        help="probability that one policy scenario beats another under every uncertain input",
        description="Sample the uncalibrated constants (declared ranges), the shapes of the "
        "12 normalised effect tables ([0.5, 1.5]) and the calibration's posterior draws with a "
        "seeded Latin hypercube, run every scenario under every sample, and write the "
        "probability that each scenario beats each other on each KPI, the share of samples "
        "that reverse the nominal order, and the inputs driving the uncertain pairs (standard"
        "ised rank regression coefficients): DIR/win_probability.csv, DIR/reversals.csv, "
        "DIR/importance.csv, DIR/samples_kpis.csv and DIR/summary.md. Default scenarios: every "
        "shipped one with calendar stage starts (state-triggered scenarios are not supported).",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="scenario names")
    parser.add_argument("--samples", type=whole_number(10, what="a whole number of at least 10"),
                        default=1500, metavar="N", help="Latin-hypercube samples (default 1500)")
    parser.add_argument("--seed", type=whole_number(0, what="a whole number of at least 0"),
                        default=0, metavar="N", help="seed (default 0)")
    parser.add_argument("--rate", type=discount_rate, default=0.06, metavar="R",
                        help="real discount rate of the NPVs (default 0.06)")
    parser.add_argument("--until", type=whole_number(2003, 2030, "a year in 2003-2030"),
                        default=2003, metavar="YEAR",
                        help="last year counted; the other KPIs are read in it (default 2003)")
    parser.add_argument("--no-sample-table", action="store_true",
                        help="do not write samples_kpis.csv (every KPI of every sample, about "
                        "1.6 MB for the defaults)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="output folder (created if needed)")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run the analysis, then write the five files atomically (all or none)."""
    from clusterdyn.policy.robustness import ranking_robustness
    from clusterdyn.scenarios.economics import Economics

    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output}: expected a folder, found a file")
    economics = Economics(rate=args.rate, until=args.until)
    started = time.perf_counter()
    result = ranking_robustness(args.names or None, n=args.samples, seed=args.seed,
                                economics=economics, progress=not args.no_progress)
    elapsed = time.perf_counter() - started
    texts = {**result.tables(), "summary.md": result.summary()}
    if args.no_sample_table:
        texts.pop("samples_kpis.csv")
    write_set({args.output / name: (lambda handle, text=text: handle.write(text))
               for name, text in texts.items()})
    bad = int((~result.valid).sum())
    # The time goes to the terminal only: the files must not change from one run to the next.
    print(f"{result.n} samples x {len(result.scenarios)} scenarios in {elapsed:.1f} s "
          f"({bad} failed); wrote {args.output}/ ({', '.join(texts)})")
    return 0


def _table(frame: pd.DataFrame) -> list[str]:
    """A markdown table of a frame with its index (numbers with 4 significant digits)."""
    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    head = [frame.index.name or "", *map(str, frame.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([str(i), *(cell(v) for v in row)]) + " |"
              for i, row in zip(frame.index, frame.itertuples(index=False), strict=True)]
    return lines


def _win_matrices(result: RobustnessResult) -> list[str]:
    """One table per KPI: P(row beats column) over the valid samples."""
    import pandas as pd

    lines = ["## Win probabilities", "",
             f"P(row scenario beats column scenario) over the {int(result.valid.sum())} valid "
             "samples (ties count for neither).", ""]
    win = result.win_probability
    names = list(result.scenarios)
    shown: dict[str, pd.DataFrame] = {}
    for kpi in win["kpi"].unique():
        matrix = pd.DataFrame("-", index=pd.Index(names, name="beats"), columns=names)
        for _, r in win[win["kpi"] == kpi].iterrows():
            a, b = r["scenario_a"], r["scenario_b"]
            matrix.loc[a, b] = f"{r['p_a_beats_b']:.3f}"
            matrix.loc[b, a] = f"{1 - r['p_a_beats_b'] - r['p_tie']:.3f}"
        same = [k for k, m in shown.items() if m.equals(matrix)]
        if same:  # e.g. market share: the rest of the world is exogenous, so it orders as
            # production does; say so instead of repeating the table
            lines += [f"{kpi}: the same as {same[0]}.", ""]
            continue
        shown[kpi] = matrix
        lines += [f"{kpi}:", "", *_table(matrix), ""]
    return lines


def summary_text(result: RobustnessResult, top: int = 5) -> str:
    """The markdown report of a robustness result (``top`` drivers per uncertain pair)."""
    from clusterdyn.policy.robustness import KPIS, UNCERTAIN_SHARE

    e, bad, g = result.economics, int((~result.valid).sum()), result.groups
    lines = [
        "# Robustness of scenario rankings", "",
        f"{result.n} Latin-hypercube samples (seed {result.seed}) of {len(g['constant'])} "
        "uncalibrated constants (declared ranges; log-uniform where upper/lower > 10: "
        f"{', '.join(result.log_scaled) or 'none'}), {len(g['shape'])} effect-table shapes "
        "(uniform on [0.5, 1.5]; `Effect of farming area on investment` keeps its shape: its "
        "zero at a full farming area is the biophysical ceiling) and one posterior draw of the "
        f"{len(g['calibrated'])} calibrated parameters. Every sample runs every scenario "
        f"({result.n * len(result.scenarios)} runs). NPV of exports: {e.describe()}; the other "
        f"KPIs in {e.until}. Shaped model SHA-256 {result.model_sha256[:16]}.", "",
        f"Scenarios: {', '.join(result.scenarios)}."
        + (" Left out (stage starts triggered by the model state, which the compiled runner "
           f"cannot switch on): {', '.join(result.skipped)}." if result.skipped else ""), "",
        f"Failed samples (a non-finite KPI in any scenario; left out of every table): {bad} of "
        f"{result.n}.", "",
        "## Nominal point", "",
        "Calibrated values, constants at their .mdl values, every shape 1. KPIs: "
        + "; ".join(f"{k} = {d} ({u})" for k, (d, u) in KPIS.items())
        + "; npv_cost = NPV of the policy cost (same discounting; it does not depend on the "
        "uncertain inputs, so it is not compared).", "",
        *_table(result.nominal.rename_axis("scenario")), "",
        *_win_matrices(result),
        "## Rank reversals", "",
        "Share of the valid samples in which the nominal loser strictly beats the nominal "
        f"winner (reversals.csv; P(A > B) for every pair in win_probability.csv). Pairs with a "
        f"share of at least {UNCERTAIN_SHARE[0]:.0%}:", "",
    ]
    rev = result.reversals[result.reversals["p_reversal"] >= UNCERTAIN_SHARE[0]]
    if rev.empty:
        lines.append(f"- none: every nominal order holds in more than "
                     f"{1 - UNCERTAIN_SHARE[0]:.0%} of the samples.")
    for _, r in rev.sort_values("p_reversal", ascending=False, kind="stable").iterrows():
        a, b, winner = r["scenario_a"], r["scenario_b"], r["nominal_winner"]
        loser = b if winner == a else a
        lines.append(f"- {r['kpi']}: {winner} beats {loser} at the nominal point; {loser} "
                     f"wins in {r['p_reversal']:.1%} of the samples")
    lines += [
        "", "## Drivers of the reversals", "",
        "For the pairs with a reversal share in "
        f"[{UNCERTAIN_SHARE[0]:.0%}, {UNCERTAIN_SHARE[1]:.0%}] (else the most reversed), the "
        f"top {top} inputs (all in importance.csv) by KS, the Kolmogorov-Smirnov distance "
        "between the input's values in the samples that reverse the order and in those that "
        "keep it (Monte Carlo filtering; 0: no difference, 1: full separation), with SRRC, the "
        "standardised rank regression coefficient of KPI(A) - KPI(B) on the inputs' ranks (a "
        "positive one favours A; SRRC^2 is the input's share of the rank variance when R^2, the "
        "share the regression explains, is high: below about 0.7 interactions or non-monotone "
        "effects matter). Calibrated parameters enter by their drawn values.", "",
    ]
    if result.importance.empty:
        lines.append("- none ranked: no pair's order is uncertain, or too few valid samples "
                     "for a rank regression on every input (two per input needed).")
    for (a, b, kpi), group in result.importance.groupby(["scenario_a", "scenario_b", "kpi"],
                                                        sort=False):
        best = group.nsmallest(top, "rank")
        drivers = "; ".join(f"{r['input']} ({r['kind']}) KS {r['ks']:.2f}, SRRC "
                            f"{r['srrc']:+.2f}" for _, r in best.iterrows())
        lines.append(f"- {a} vs {b}, {kpi} (R^2 {group['r2'].iloc[0]:.2f}): {drivers}")
    return "\n".join(lines) + "\n"
