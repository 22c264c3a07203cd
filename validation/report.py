"""Markdown sections and one-line summaries of the validation battery's results."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clusterdyn.validation.behaviour import MAX_LAG, THRESHOLDS, BehaviourReport
from clusterdyn.validation.integration import LABELS, LIMITS, IntegrationReport
from clusterdyn.validation.reality import CheckResult
from clusterdyn.validation.stocks import StocksReport
from clusterdyn.validation.units import UnitsReport


@dataclass(frozen=True)
class Section:
    """One part of the report.

    Attributes
    ----------
    title : str
        Section name, e.g. ``"units"``.
    passed : bool
        Whether every check of the section passed.
    summary : str
        One line, printed by ``clusterdyn check``.
    body : str
        Markdown body of the section.
    """

    title: str
    passed: bool
    summary: str
    body: str

    @property
    def line(self) -> str:
        """``"units: PASS - ..."``."""
        return f"{self.title}: {'PASS' if self.passed else 'FAIL'} - {self.summary}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def failed_section(title: str, problem: str) -> Section:
    """A section whose check could not run (e.g. an unsupported model construct)."""
    return Section(title, False, f"not run: {problem}", f"**Not run**: {problem}")


def units_section(report: UnitsReport) -> Section:
    """The units check."""
    if report.passed:
        summary = f"all {report.checked} equations dimensionally consistent"
        body = (f"All {report.checked} equations of `{report.mdl_path.name}` are dimensionally "
                "consistent with their declared units (dimension and scale).")  # fmt: skip
    else:
        more = len(report.issues) - 1
        summary = (f"{len(report.issues)} of {report.checked} equations inconsistent: "
                   f"{report.issues[0]}" + (f"; and {more} more" if more else ""))  # fmt: skip
        body = (f"{len(report.issues)} of {report.checked} equations are inconsistent:\n\n"
                + _table(["variable", "declared units", "equation gives", "problem"],
                         [(i.variable, i.declared or "(none)", i.yields,
                           i.problem.replace("|", "/")) for i in report.issues]))  # fmt: skip
    return Section("units", report.passed, summary, body)


def reality_section(results: Sequence[CheckResult], source: str) -> Section:
    """The reality checks."""
    passed = [r for r in results if r.passed]
    n_expect = sum(len(r.check.expect) for r in results)
    summary = f"{len(passed)} of {len(results)} checks hold ({n_expect} expectations)"
    failed = [r for r in results if not r.passed]
    if failed:
        first = failed[0]
        why = first.error or next(
            f"{x.expectation.describe()}: {x.detail}" for x in first.results if not x.passed
        )
        summary += f"; {first.check.name!r} fails: {why}"
    parts = [f"Checks from `{Path(source).name}`.\n"]
    for r in results:
        c = r.check
        params = ", ".join(f"{k!r} = {v:g}" + (f" ({len(fnmatch.filter(c.params, k))} "
                                                 "parameters)" if "*" in k else "")
                           for k, v in c.patterns.items())
        condition = [f"parameters {params}" if params else "",
                     "forced " + ", ".join(f"{k!r} = {v:g}" for k, v in c.forced.items())
                     if c.forced else "",
                     f"from {c.from_year}" if c.from_year else ""]  # fmt: skip
        parts.append(f"### {'PASS' if r.passed else 'FAIL'}: {c.name}\n\n{c.description}\n\n"
                     f"Condition: {', '.join(x for x in condition if x) or 'none'}; run to "
                     f"{c.until}.\n")  # fmt: skip
        if r.error:
            parts.append(f"**The run failed**: {r.error}\n")
        else:
            parts.append(_table(["", "expectation", "result"], [
                ("pass" if x.passed else "**FAIL**", x.expectation.describe(), x.detail)
                for x in r.results]) + "\n")  # fmt: skip
    return Section("reality checks", not failed, summary, "\n".join(parts))


def integration_section(report: IntegrationReport) -> Section:
    """The integration error."""
    halving, rk4 = report.worst("halving"), report.worst("rk4")
    summary = (f"largest relative change: halving dt {halving[1]:.2%} ({halving[0]}, "
               f"{halving[2]}), Euler vs RK4 {rk4[1]:.2%} ({rk4[0]}, {rk4[2]}); limits "
               f"{LIMITS['halving']:.0%} and {LIMITS['rk4']:.0%}")  # fmt: skip
    bad = [(o.output, k) for o in report.outputs for k in o.failures()]
    if bad:
        summary += "; over the limit: " + ", ".join(f"{o} ({LABELS[k]})" for o, k in bad)
    keys = list(LABELS)
    rows = []
    for o in report.outputs:
        cells = [f"{v:.2e} ({y})" if v < 1e-4 else f"{v:.3%} ({y})"
                 for v, y in (o.differences[k] for k in keys)]  # fmt: skip
        rows.append([o.output, *cells, f"{o.richardson:.3%}",
                     "**FAIL**" if o.failures() else "pass"])  # fmt: skip
    limits = ", ".join(f"{LABELS[k]} < {LIMITS[k]:g}" for k in keys)
    body = (f"Time step dt = {report.dt:g} year. Largest relative difference over the years "
            f"(year in brackets); limits: {limits}.\n\n"
            + _table(["output", *(LABELS[k] for k in keys), "Richardson Euler error",
                      "result"], rows))  # fmt: skip
    return Section("integration", report.passed, summary, body)


def stocks_section(report: StocksReport) -> Section:
    """Stocks never negative."""
    bad = [s for s in report.stocks if not s.passed]
    summary = (f"{len(report.stocks)} stocks finite and >= 0 in {report.runs} runs "
               f"(baseline + {report.runs - 1} sampled, seed {report.seed})")  # fmt: skip
    if bad:  # earliest failure first: usually the cause of the others
        summary = "; ".join(s.message(report.runs) for s in bad[:3])
        if len(bad) > 3:
            summary += f"; and {len(bad) - 3} more stocks"
    body = (f"Run 0 is the baseline; runs 1-{report.runs - 1} sample every declared parameter "
            f"uniformly over its range (`clusterdyn.validation.stocks.sample_parameters`, seed "
            f"{report.seed}), 1978-{report.until}, yearly values.\n\n"
            + _table(["stock", "lowest value", "run", "year", "runs < 0", "runs NaN/inf",
                      "first failing year"],
                     [(s.stock, f"{s.minimum:.4g} {s.units}", s.run, s.year, s.negative_runs,
                       s.nonfinite_runs, s.first_bad_year or "") for s in report.stocks]))
    return Section("stocks", not bad, summary, body)


def behaviour_section(report: BehaviourReport, params_label: str) -> Section:
    """Behaviour reproduction against the FAO data."""
    summary = "; ".join(
        f"{s.variable} E1 {s.e1:.3f}, E2 {s.e2:.3f}, lag {s.lag:+d}, U {s.u:.3f} "
        f"(UM {s.um:.2f} US {s.us:.2f} UC {s.uc:.2f})" for s in report.series
    )
    failures = [f"{s.variable}: {f}" for s in report.series for f in s.failures]
    if failures:
        summary += "; " + "; ".join(failures)
    rows = [(s.variable, f"`{s.column}` {s.first_year}-{s.last_year}", s.n, f"{s.u:.4f}",
             f"{s.um:.3f}", f"{s.us:.3f}", f"{s.uc:.3f}", f"{s.e1:.4f}", f"{s.e2:.4f}",
             f"{s.lag:+d} ({s.correlation:.3f})", "pass" if s.passed else "**FAIL**")
            for s in report.series]  # fmt: skip
    body = (f"Parameters: {params_label}. Levels, every year with data. Pass: E1 < "
            f"{THRESHOLDS['e1']:g}, E2 < {THRESHOLDS['e2']:g} (Barlas 1996), |phase lag| <= "
            f"{THRESHOLDS['lag']:g} year (lags up to {MAX_LAG} searched), Theil UC >= "
            f"{THRESHOLDS['uc']:g} (error mostly unsystematic, Sterman 1984).\n\n"
            + _table(["variable", "data", "n", "Theil U", "UM", "US", "UC", "E1", "E2",
                      "lag (corr.)", "result"], rows))  # fmt: skip
    return Section("behaviour", report.passed, summary, body)


def render_markdown(sections: Sequence[Section], header: str) -> str:
    """The whole report: ``header`` (markdown), a summary list, then each section."""
    verdict = "all checks pass" if all(s.passed for s in sections) else "**some checks fail**"
    lines = [header, "", f"Result: {verdict}.", ""]
    lines += [f"- {s.line}" for s in sections]
    for s in sections:
        lines += ["", f"## {s.title.capitalize()}: {'PASS' if s.passed else 'FAIL'}", "",
                  s.body]  # fmt: skip
    return "\n".join(lines) + "\n"
