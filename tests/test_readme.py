"""README.md's generated tables are what the commands it names produce now.

The KPI table is ``kpis.md`` of ``clusterdyn scenarios -o out/scenarios`` (its table part); the
baseline table is ``clusterdyn run`` against the shipped FAO data; the forecast-skill tables
are the committed rolling-origin evaluation (``forecasting/results/``). Refresh them after a
change of model or calibration with ``python -m tests.test_readme --update``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"
YEARS = (1985, 1995, 2003)


def kpi_block() -> str:
    """The KPI table of every shipped scenario, as ``clusterdyn scenarios`` writes it."""
    from clusterdyn import scenarios
    from clusterdyn.scenarios.kpis import kpi_markdown

    text = kpi_markdown(scenarios.compare())
    return text.split("\n\n", 1)[0].strip()  # the table; its definitions live in kpis.md


def baseline_block() -> str:
    """The calibrated baseline (``clusterdyn run``) against FAO in three years."""
    from clusterdyn.calibration.data_io import load_observations
    from clusterdyn.sdmodels import load_model

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


def _skill_table(overall, variables: tuple[str, ...] = ("Production", "Price")) -> str:
    """Markdown: one row per method, MAPE / CRPS / 90% coverage / rank of each variable."""
    from clusterdyn.forecasting.evaluate import METHODS

    head = "| method | " + " | ".join(
        f"{v}: MAPE | CRPS | 90% coverage | rank" for v in variables) + " |"
    lines = [head, "|---|" + "---|---|---|---|" * len(variables)]
    table = overall.set_index(["method", "variable"])
    for method in METHODS:
        cells = []
        for variable in variables:
            row = table.loc[(method, variable)]
            cells += [f"{100 * row['mape']:.0f}%", f"{row['crps']:.3f}",
                      f"{row['coverage_90']:.2f}", f"{int(row['rank'])}"]
        lines.append(f"| `{method}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def forecast_1995_block() -> str:
    """Skill from origin 1995 in the committed rolling-origin evaluation."""
    import pandas as pd

    from clusterdyn.forecasting.evaluate import aggregate
    from clusterdyn.forecasting.shipped import SKILL_FILE

    skill = pd.read_csv(SKILL_FILE)
    return _skill_table(aggregate(skill[skill["origin"] == 1995], ["variable"]))


def forecast_rolling_block() -> str:
    """Skill over the committed rolling origins: overall, and CRPS of production by horizon."""
    import pandas as pd

    from clusterdyn.forecasting.evaluate import METHODS
    from clusterdyn.forecasting.shipped import HORIZON_FILE, OVERALL_FILE

    overall = pd.read_csv(OVERALL_FILE)
    by_horizon = pd.read_csv(HORIZON_FILE)
    horizons = range(1, 9)
    lines = [_skill_table(overall), "",
             "| production, CRPS at horizon | " + " | ".join(map(str, horizons)) + " |",
             "|---|" + "---|" * len(horizons)]
    table = by_horizon[by_horizon["variable"] == "Production"].set_index(["method", "horizon"])
    n = table.loc["model", "n"]
    lines.append("| scored years (origins) | " + " | ".join(str(int(n[h])) for h in horizons)
                 + " |")
    for method in METHODS:
        lines.append(f"| `{method}` | " + " | ".join(
            f"{table.loc[(method, h), 'crps']:.2f}" for h in horizons) + " |")
    return "\n".join(lines)


def forecast_baselines_1985_block() -> str:
    """The 1995 skill table with the baselines fitted to 1985-1995 only."""
    import pandas as pd

    from clusterdyn.forecasting.shipped import BASELINES_1985_DIR

    return _skill_table(pd.read_csv(BASELINES_1985_DIR / "skill_overall.csv"))


BLOCKS = {"kpis": kpi_block, "baseline": baseline_block, "forecast1995": forecast_1995_block,
          "forecastrolling": forecast_rolling_block,
          "forecastbaselines1985": forecast_baselines_1985_block}


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


def test_the_readme_forecast_tables_are_the_committed_evaluation():
    for name in ("forecast1995", "forecastrolling", "forecastbaselines1985"):
        assert written(name) == BLOCKS[name](), name


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
