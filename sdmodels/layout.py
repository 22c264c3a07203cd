"""Regenerate the sketch (the views) of a Vensim ``.mdl`` from its equation groups.

The ``.mdl``'s equations are grouped by sector (``.Production``, ``.Technology`` ...). This
tool writes one Vensim view per group: the group's stocks in a row with their flow valves,
its other variables in a grid below, variables of other sectors that it uses as grey shadow
variables, and an arrow for every dependency inside the view. Run it after editing equations:

    python -m clusterdyn.sdmodels.layout sdmodels/salmon_cluster.mdl

Only the sketch section is rewritten; the equations are left byte for byte.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

SKETCH_MARK = "\\\\\\---/// Sketch information - do not modify anything except names"
_HEADER = "$192-192-192,0,Times New Roman|12||0-0-0|0-0-0|0-0-255|-1--1--1|-1--1--1|96,96,100,0"
_CONTROL = {"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"}


@dataclass
class Equation:
    """One equation of the ``.mdl``: its name, right-hand side and group (sector)."""

    name: str
    expression: str
    group: str
    flows_in: list[str] = field(default_factory=list)
    flows_out: list[str] = field(default_factory=list)

    @property
    def is_stock(self) -> bool:
        return self.expression.lstrip().upper().startswith("INTEG")


def parse_equations(text: str) -> list[Equation]:
    """Split the equation section of a ``.mdl`` into equations tagged with their group."""
    body = text.split(SKETCH_MARK)[0]
    group = ""
    equations: list[Equation] = []
    for chunk in body.split("|"):
        chunk = chunk.strip()
        if chunk.startswith("{UTF-8}"):
            chunk = chunk[len("{UTF-8}"):].strip()
        if chunk.startswith("*****"):
            match = re.search(r"^\s*\.(.+)$", chunk, re.MULTILINE)
            group = match.group(1).strip() if match else group
            continue
        if not chunk or "=" not in chunk.split("~")[0]:
            continue
        definition = chunk.split("~")[0]
        name, _, expression = definition.partition("=")
        equations.append(Equation(" ".join(name.split()), " ".join(expression.split()), group))
    names = {e.name for e in equations}
    for eq in equations:
        if eq.is_stock:
            rate = eq.expression[eq.expression.index("(") + 1 :].rsplit(",", 1)[0]
            for sign, term in re.findall(r"([+-]?)\s*([^+-]+)", rate):
                term = term.strip()
                if term in names:
                    (eq.flows_out if sign == "-" else eq.flows_in).append(term)
    return equations


def dependencies(eq: Equation, names: list[str]) -> set[str]:
    """Names of the variables used in ``eq``'s expression (longest names matched first)."""
    text = re.sub(r"\(\[.*?\]\)", "", eq.expression)  # drop lookup tables
    found: set[str] = set()
    for name in sorted(names, key=len, reverse=True):
        pattern = r"(?:^|(?<=[^\w]))" + re.escape(name) + r"(?=$|[^\w])"
        if re.search(pattern, text):
            found.add(name)
            text = re.sub(pattern, " ", text)
    return found - {eq.name}


def _view(group: str, equations: list[Equation], all_names: list[str], owner: dict[str, str]
          ) -> list[str]:
    members = [e for e in equations if e.group == group]
    lines = [f"*{group}", _HEADER]
    ids: dict[str, int] = {}
    next_id = 1

    def add(line_fmt: str) -> int:
        nonlocal next_id
        lines.append(line_fmt.format(id=next_id))
        next_id += 1
        return next_id - 1

    placed_flows: set[str] = set()
    stocks = [e for e in members if e.is_stock]
    for i, stock in enumerate(stocks):
        x, y = 260 + 420 * i, 160
        ids[stock.name] = add(f"10,{{id}},{stock.name},{x},{y},60,26,3,3,0,0,0,0,0,0")
        for side, flows in ((-1, stock.flows_in), (1, stock.flows_out)):
            for k, flow in enumerate(flows):
                fx, fy = x + side * 150, y + 70 * k
                cloud = add(f"12,{{id}},48,{x + side * 240},{fy},10,8,0,3,0,0,-1,0,0,0")
                valve = add(f"11,{{id}},48,{fx},{fy},6,8,34,3,0,0,1,0,0,0")
                src, dst = (cloud, ids[stock.name]) if side < 0 else (ids[stock.name], cloud)
                add(f"1,{{id}},{valve},{dst},4,0,0,22,0,0,0,-1--1--1,,1|({fx},{fy})|")
                add(f"1,{{id}},{valve},{src},100,0,0,22,0,0,0,-1--1--1,,1|({fx},{fy})|")
                if flow not in ids:
                    ids[flow] = add(f"10,{{id}},{flow},{fx},{fy + 22},50,11,40,3,0,0,-1,0,0,0")
                    placed_flows.add(flow)
    others = [e for e in members if not e.is_stock and e.name not in ids]
    columns = 5
    for i, eq in enumerate(others):
        x, y = 140 + 230 * (i % columns), 360 + 70 * (i // columns)
        ids[eq.name] = add(f"10,{{id}},{eq.name},{x},{y},60,20,8,3,0,0,0,0,0,0")
    shadows: list[str] = []
    for eq in members:
        for dep in sorted(dependencies(eq, all_names)):
            if dep not in ids and dep in owner and owner[dep] != group and dep not in shadows:
                shadows.append(dep)
    base_y = 400 + 70 * ((len(others) + columns - 1) // columns)
    for i, name in enumerate(shadows):
        x, y = 140 + 230 * (i % columns), base_y + 60 * (i // columns)
        ids[name] = add(
            f"10,{{id}},{name},{x},{y},60,20,8,2,0,3,-1,0,0,0,128-128-128,0-0-0,|12||128-128-128"
        )
    for eq in members:
        if eq.is_stock:
            continue
        for dep in sorted(dependencies(eq, all_names)):
            if dep in ids and dep != eq.name:
                add(f"1,{{id}},{ids[dep]},{ids[eq.name]},0,0,0,0,0,64,0,-1--1--1,,1|(0,0)|")
    return lines


def render_sketch(text: str) -> str:
    """Return the ``.mdl`` text with its sketch section regenerated, one view per group."""
    equations = parse_equations(text)
    names = [e.name for e in equations] + ["Time"]
    owner = {e.name: e.group for e in equations}
    groups = [g for g in dict.fromkeys(e.group for e in equations) if g and g != "Control"]
    lines = [SKETCH_MARK, "V300  Do not put anything below this section - it will be ignored"]
    for group in groups:
        lines += _view(group, equations, names, owner)
    lines += ["///---\\\\\\", ":L<%^E!@", "1:Current.vdfx", "9:Current", "15:0,0,0,0,0,0",
              "19:100,0", "27:0,", "34:0,", "5:Production", "35:Date", "36:YYYY-MM-DD",
              "37:2000", "38:1", "39:1", "40:2", "41:0", "42:1", "24:1978", "25:2003",
              "26:2003", ""]
    equations_part = text.split(SKETCH_MARK)[0].rstrip() + "\n\n"
    return equations_part + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the sketch of each ``.mdl`` named on the command line."""
    for arg in argv if argv is not None else sys.argv[1:]:
        path = Path(arg)
        path.write_text(render_sketch(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"rewrote the views of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
