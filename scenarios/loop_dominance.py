"""Which feedback loops drove each lifecycle stage of a scenario run (Loops that Matter).

Runs a scenario (the calibrated historical one by default), scores every feedback loop of the
model at every Euler step (:mod:`clusterdyn.sdmodels.loop_scores`) and summarises the relative loop
scores
per year, per lifecycle stage and as the times at which dominance shifts.

Every elementary cycle of the model's causal graph is scored (241 for the salmon model, found
in about 10 ms), so that a loop's relative score is its share of *all* the model's loop
activity, as the method defines it (Schoenberg, Davidsen & Eberlein 2020), not its share among
the loops someone chose to name. The named loops (``<model>.loops.toml``) are matched to the
cycles they expand to; the others get the ids ``L1, L2, ...`` in the order
:func:`clusterdyn.sdmodels.loop_graph.find_loops` finds them, with their chain of variables.

Summaries
---------
* per year: the mean relative score of each loop over the steps of that year (``[y, y+1)``);
  and the total of the reinforcing (positive) and balancing (negative) scores;
* per stage: the same means over each lifecycle stage actually in force in the scenario (the
  stage starts of its run), and, when the run goes beyond 2003, the projection years after
  2003 as a period of their own; and the fraction of the period's steps in which the loop had
  the largest absolute score;
* shifts: the times at which the dominant loop changes, judged on trailing one-year means of
  the step scores (a loop must stay dominant for a year to count, so that the single steps at
  which a stock's net flow turns do not register as shifts); and the times at which the total
  balancing score overtakes the reinforcing one or back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clusterdyn.scenarios.engine import run as run_scenario
from clusterdyn.scenarios.spec import STAGES
from clusterdyn.sdmodels.loop_graph import expand_loop, find_loops
from clusterdyn.sdmodels.loop_scores import link_scores, relative_loop_scores
from clusterdyn.sdmodels.loops import load_loops
from clusterdyn.sdmodels.model import Model, load_model

#: Last year of the seed's account (Maggi, Table 3.1): later years are the model's projection.
LAST_OBSERVED_YEAR = 2003
#: Label of the projection period in the stage table.
PROJECTION = "projection"
#: Committed results (``clusterdyn loops --scenario NAME --until 2030 -o RESULTS_DIR/NAME``,
#: part of ``clusterdyn reproduce --recalibrate``), drawn by the ``loop_dominance`` figure.
RESULTS_DIR = Path(__file__).resolve().parent / "results" / "loops"
#: Scenarios of the committed results: the calibrated run and the one the figure sets beside
#: it (without environmental management the sanitary loops take over in the third stage).
RESULTS_SCENARIOS = ("historical", "no_environmental_management")
#: Last year of the committed results.
RESULTS_UNTIL = 2030
#: Shortest spell (years) a loop must stay dominant for a shift to count.
MIN_SPELL = 1.0


@dataclass(frozen=True, eq=False)
class LoopDominance:
    """Loop dominance of one scenario run (see the module docstring).

    Attributes
    ----------
    scenario : str
    loops : pandas.DataFrame
        One row per loop (index ``loop``): ``name`` (empty for unnamed loops), ``polarity``
        (declared for named loops, ``R``/``B`` from the sign of the loop's mean score
        otherwise), ``measured`` (``R``, ``B`` or ``-`` if it never scored), ``length`` (nodes
        in the expanded chain) and ``chain`` (its variables joined with `` -> ``).
    steps : pandas.DataFrame
        Relative loop scores at every step (index ``time``), one column per loop.
    periods : pandas.DataFrame
        ``period, start, end``: the stages in force and the projection, ``[start, end)``.
    """

    scenario: str
    loops: pd.DataFrame
    steps: pd.DataFrame
    periods: pd.DataFrame

    def by_year(self) -> pd.DataFrame:
        """Mean relative score of every loop in each calendar year (index ``year``), with the
        totals ``reinforcing`` (sum of positive scores) and ``balancing`` (sum of negative)."""
        years = np.floor(self.steps.index.to_numpy() + 1e-9).astype(int)
        frame = self.steps.groupby(years).mean()
        frame.index.name = "year"
        positive = self.steps.clip(lower=0).sum(axis=1).groupby(years).mean()
        negative = self.steps.clip(upper=0).sum(axis=1).groupby(years).mean()
        return frame.assign(reinforcing=positive.to_numpy(), balancing=negative.to_numpy())

    def by_stage(self) -> pd.DataFrame:
        """Per period and loop: ``score`` (mean relative score), ``dominant`` (fraction of the
        period's steps in which the loop had the largest absolute score) and ``rank`` (by
        absolute mean score within the period), with the loop's name and polarity.

        Returns
        -------
        pandas.DataFrame
            Columns ``period, start, end, loop, name, polarity, score, dominant, rank``, sorted
            by period and rank.
        """
        times = self.steps.index.to_numpy()
        values = self.steps.to_numpy()
        top = np.abs(values).argmax(axis=1)
        active = np.abs(values).max(axis=1) > 0
        rows = []
        for period in self.periods.itertuples(index=False):
            inside = (times >= period.start) & (times < period.end)
            if not inside.any():
                continue
            means = values[inside].mean(axis=0)
            counts = np.bincount(top[inside & active], minlength=values.shape[1])
            order = np.argsort(-np.abs(means), kind="stable")
            for rank, j in enumerate(order, start=1):
                loop = self.steps.columns[j]
                rows.append((period.period, period.start, period.end, loop,
                             self.loops.at[loop, "name"], self.loops.at[loop, "polarity"],
                             float(means[j]), counts[j] / inside.sum(), rank))
        return pd.DataFrame(rows, columns=["period", "start", "end", "loop", "name", "polarity",
                                           "score", "dominant", "rank"])

    def shifts(self) -> pd.DataFrame:
        """Times at which dominance shifts (see the module docstring).

        Returns
        -------
        pandas.DataFrame
            Columns ``time, kind, before, after``: ``kind`` is ``loop`` (``before``/``after``
            are loop ids) or ``polarity`` (``reinforcing``/``balancing``). The time is the
            step at which the trailing one-year means changed order.
        """
        times = self.steps.index.to_numpy()
        step = float(np.median(np.diff(times)))
        window = max(1, int(round(MIN_SPELL / step)))
        smooth = self.steps.rolling(window, min_periods=1).mean()
        rows: list[tuple[float, str, str, str]] = []
        leader = np.abs(smooth.to_numpy()).argmax(axis=1)
        names = list(self.steps.columns)
        rows += [(t, "loop", names[a], names[b]) for t, a, b in _spells(times, leader, window)]
        positive = smooth.clip(lower=0).sum(axis=1).to_numpy()
        negative = -smooth.clip(upper=0).sum(axis=1).to_numpy()
        side = (negative > positive).astype(int)
        labels = ("reinforcing", "balancing")
        rows += [(t, "polarity", labels[a], labels[b]) for t, a, b in _spells(times, side, window)]
        frame = pd.DataFrame(rows, columns=["time", "kind", "before", "after"])
        return frame.sort_values(["time", "kind"], kind="stable").reset_index(drop=True)


def _spells(times: np.ndarray, labels: np.ndarray,
            window: int) -> list[tuple[float, int, int]]:
    """Changes of ``labels`` that last at least ``window`` steps: (time, before, after).

    Spells shorter than ``window`` are absorbed by the spell before them; the first window is
    the smoothing's warm-up and does not count as a spell of its own.
    """
    changes = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], changes])
    ends = np.concatenate([changes, [len(labels)]])
    out: list[tuple[float, int, int]] = []
    current = int(labels[min(window, len(labels) - 1)])
    for start, end in zip(starts, ends, strict=True):
        label = int(labels[start])
        if start < window or label == current or end - start < window:
            continue
        out.append((float(times[start]), current, label))
        current = label
    return out


def _canonical(chain: tuple[str, ...]) -> tuple[str, ...]:
    """A cycle's chain rotated to start at its smallest name (one key per cycle)."""
    k = chain.index(min(chain))
    return chain[k:] + chain[:k]


def _loop_table(model: Model, graph: object) -> tuple[dict[str, tuple[str, ...]], pd.DataFrame]:
    named = load_loops(model.mdl_path) if Path(model.mdl_path).with_suffix(
        ".loops.toml").exists() else []
    chains: dict[str, tuple[str, ...]] = {}
    info: dict[str, tuple[str, str]] = {}
    seen: set[tuple[str, ...]] = set()
    for loop in named:
        chain = expand_loop(graph, loop.variables)
        chains[loop.id] = chain
        info[loop.id] = (loop.name, loop.polarity)
        seen.add(_canonical(chain))
    number = 0
    for chain in find_loops(graph, None).values():
        if _canonical(chain) not in seen:
            number += 1
            chains[f"L{number}"] = chain
            info[f"L{number}"] = ("", "")
    table = pd.DataFrame({"name": [info[k][0] for k in chains],
                          "polarity": [info[k][1] for k in chains],
                          "length": [len(c) for c in chains.values()],
                          "chain": [" -> ".join(c) for c in chains.values()]},
                         index=pd.Index(list(chains), name="loop"))
    return chains, table


def _periods(starts: Mapping[str, float | None], first: float, until: int) -> pd.DataFrame:
    """Stages in force (to 2003 at most) and the projection beyond 2003."""
    begun = [(stage, float(starts[stage])) for stage in STAGES if starts.get(stage) is not None]
    begun[0] = (begun[0][0], first)
    last = min(until, LAST_OBSERVED_YEAR) + 1.0
    rows = []
    for k, (stage, start) in enumerate(begun):
        end = begun[k + 1][1] if k + 1 < len(begun) else last
        if start < last:
            rows.append((stage, start, min(end, last)))
    if until > LAST_OBSERVED_YEAR:
        rows.append((PROJECTION, last, until + 1.0))
    return pd.DataFrame(rows, columns=["period", "start", "end"])


def loop_dominance(scenario: str | Path = "historical", until: int | None = None,
                   model: Model | None = None) -> LoopDominance:
    """Score every loop of the model in one scenario run and summarise its dominance.

    Parameters
    ----------
    scenario : str or pathlib.Path
        A shipped scenario name or a scenario file (default: the calibrated historical run).
    until : int, optional
        Last year (default: the scenario's horizon).
    model : Model, optional
        Default: the salmon cluster model with its shipped calibration.

    Returns
    -------
    LoopDominance

    Raises
    ------
    scenarios.spec.ScenarioError, sdmodels.ModelInputError, sdmodels.SimulationError
    """
    model = model or load_model()
    result = run_scenario(scenario, until=until, model=model)
    links = link_scores(model, dict(result.parameters), result.until, dt=result.dt)
    chains, table = _loop_table(model, links.graph)
    steps = relative_loop_scores(links, chains)
    steps.attrs.clear()
    mean = steps.mean().reindex(table.index)
    measured = np.where(mean > 0, "R", np.where(mean < 0, "B", "-"))
    table = table.assign(measured=measured)
    table["polarity"] = table["polarity"].where(table["polarity"] != "", table["measured"])
    table = table[["name", "polarity", "measured", "length", "chain"]]
    periods = _periods(result.stage_starts, model.initial_time, result.until)
    return LoopDominance(result.scenario.name, table, steps, periods)


__all__ = ["LAST_OBSERVED_YEAR", "PROJECTION", "RESULTS_DIR", "RESULTS_SCENARIOS", "RESULTS_UNTIL",
           "LoopDominance", "loop_dominance"]
