"""README.md's generated tables are what the commands it names produce now.

The KPI table is ``kpis.md`` of ``clusterdyn scenarios -o out/scenarios`` (its table part); the
baseline table is ``clusterdyn run`` against the shipped FAO data. Refresh both after a change
of model or calibration with ``python -m tests.test_readme --update``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
YEARS = (1985, 1995, 2003)


def kpi_block() -> str:
    """The KPI table of every shipped scenario, as ``clusterdyn scenarios`` writes it."""
    import scenarios
    from scenarios.kpis import kpi_markdown

    text = kpi_markdown(scenarios.compare())
    return text.split("\n\n", 1)[0].strip()  # the table; its definitions live in kpis.md


def baseline_block() -> str:
    """The calibrated baseline (``clusterdyn run``) against FAO in three years."""
    from calibration.data_io import load_observations
    from sdmodels import load_model

    run = load_model().run()
    fao = load_observations()
    lines = ["| year | production (t) | FAO (t) | price (US$/kg) | FAO unit value (US$/kg) |",
             "|---|---|---|---|---|"]
    for year in YEARS:
        lines.append(f"| {year} | {run.loc[year, 'Production']:,.0f} | "
                     f"{fao.loc[year, 'chile_salmon_production_t']:,.0f} | "
                     f"{run.loc[year, 'Price']:.2f} | "
                     f"{fao.loc[year, 'chile_salmon_unit_value_usd_per_kg']:.2f} |")
    return "\n".join(lines)


BLOCKS = {"kpis": kpi_block, "baseline": baseline_block}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}:begin -->\n)(.*?)(<!-- {name}:end -->)", re.DOTALL)


def written(name: str) -> str:
    """The block ``name`` as README.md has it."""
    found = _pattern(name).search(README.read_text(encoding="utf-8"))
    assert found, f"README.md has no <!-- {name}:begin/end --> block"
    return found.group(2).strip()


def test_the_readme_kpi_table_is_what_clusterdyn_scenarios_writes():
    assert written("kpis") == kpi_block()


def test_the_readme_baseline_table_is_what_clusterdyn_run_gives():
    assert written("baseline") == baseline_block()


def update() -> None:
    """Rewrite the generated blocks of README.md."""
    text = README.read_text(encoding="utf-8")
    for name, make in BLOCKS.items():
        block = make()
        text = _pattern(name).sub(lambda m, b=block: m.group(1) + b + "\n" + m.group(3), text)
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.test_readme --update")
    update()
