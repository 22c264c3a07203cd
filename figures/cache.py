"""Disk cache of model and scenario runs for the figures, keyed by what determines a run.

A run is stored as JSON (floats written with ``repr``, so they read back bit for bit) under
``clusterdyn.sdmodels.translation.cache_root() / "results"`` (``$CLUSTERDYN_CACHE/results`` or
``~/.cache/clusterdyn/results``), outside the repository. The key is the SHA-256 of the
model's SHA-256, the PySD version, the parameters, the scenario's content (levers, stage
starts, parameter overrides, horizon, lever costs), ``until`` and ``dt``: editing any of them
gives a new key, so a stale result is never used, and regenerating one figure reruns nothing
that another figure already ran.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pysd

from clusterdyn import scenarios
from clusterdyn.errors import UsageError
from clusterdyn.io import write_atomically
from clusterdyn.scenarios.costs import PolicyCosts
from clusterdyn.scenarios.spec import Condition, Scenario
from clusterdyn.sdmodels.model import Model
from clusterdyn.sdmodels.translation import cache_root

#: Bump when the stored layout changes (old entries are then simply not found).
CACHE_VERSION = 2  # 2: entries carry their checksum


def default_folder() -> Path:
    """``cache_root() / "results"``: where the figures keep their runs."""
    return cache_root() / "results"


def _frame_to_json(frame: pd.DataFrame) -> dict[str, Any]:
    return {"index": [int(y) for y in frame.index], "columns": list(frame.columns),
            "data": [[float(v) for v in row] for row in frame.to_numpy(dtype=float)]}


def _frame_from_json(data: Mapping[str, Any]) -> pd.DataFrame:
    frame = pd.DataFrame(data["data"], columns=list(data["columns"]), dtype="float64",
                         index=pd.Index(data["index"], name="year", dtype="int64"))
    frame.columns.name = None
    return frame


def _checksum(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _scenario_run_from_json(scenario: Scenario, stored: Mapping[str, Any]
                            ) -> scenarios.ScenarioRun:
    cost = stored["cost"]
    return scenarios.ScenarioRun(
        scenario=scenario,
        trajectories=_frame_from_json(stored["trajectories"]),
        stage_starts=dict(stored["stage_starts"]),
        cost=pd.Series(cost["values"], dtype="float64", name="Policy cost",
                       index=pd.Index(cost["index"], name="year", dtype="int64")),
        parameters=dict(stored["parameters"]),
        until=int(stored["until"]), dt=float(stored["dt"]))


def scenario_content(scenario: Scenario) -> dict[str, Any]:
    """What determines a scenario's run: levers, stage starts, parameters and horizon.

    The resolved content is hashed rather than the file's bytes, so a change in a ``base``
    scenario reaches every scenario built on it, and editing comments does not.
    """
    starts: dict[str, Any] = {}
    for stage, start in scenario.starts.items():
        if isinstance(start, Condition):
            starts[stage] = {"variable": start.variable, "operator": start.operator,
                             "threshold": start.threshold}
        else:
            starts[stage] = float(start)
    return {"name": scenario.name, "horizon": scenario.horizon, "starts": starts,
            "levers": {k: [float(v) for v in values] for k, values in scenario.levers.items()},
            "parameters": {k: float(v) for k, v in sorted(scenario.parameters.items())}}


class ResultCache:
    """Runs stored as JSON files named by the hash of their inputs.

    Parameters
    ----------
    folder : pathlib.Path, optional
        Default: :func:`default_folder`.

    Attributes
    ----------
    hits, misses : int
        Counts of runs read from disk and runs simulated, since creation.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_folder()
        self.hits = 0
        self.misses = 0
        self.unwritable = False

    @staticmethod
    def key(payload: Mapping[str, Any]) -> str:
        """SHA-256 of the canonical JSON of ``payload`` (sorted keys, exact floats)."""
        text = json.dumps({"cache_version": CACHE_VERSION, **payload}, sort_keys=True,
                          separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str, inputs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored entry, or ``None`` (then it is recomputed) if it is absent, unreadable,
        does not match its own checksum, or was made from other ``inputs``.

        The checksum is the SHA-256 of the entry's canonical JSON: an entry edited or
        truncated on disk is never trusted.
        """
        try:
            with self._path(key).open(encoding="utf-8") as handle:
                stored = json.load(handle)
            data = stored["data"]
            if stored["sha256"] != _checksum(data) or data["inputs"] != json.loads(
                    json.dumps(inputs, sort_keys=True)):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return data

    def put(self, key: str, data: Mapping[str, Any]) -> None:
        """Store an entry atomically with its checksum (a concurrent reader never sees half a
        file). An unwritable cache folder is reported once and the run goes on uncached."""
        text = json.dumps({"sha256": _checksum(data), "data": data}, sort_keys=True,
                          allow_nan=False)
        try:
            write_atomically(self._path(key), lambda handle: handle.write(text))
        except (OSError, UsageError) as exc:
            if not self.unwritable:
                print(f"clusterdyn: notice: the run cache {self.folder} cannot be written "
                      f"({exc}); running without it", file=sys.stderr)
            self.unwritable = True

    def model_run(self, model: Model, params: Mapping[str, float], until: int,
                  variables: Iterable[str]) -> pd.DataFrame:
        """``model.run(params, until, variables=...)`` at the model's time step, cached.

        Returns
        -------
        pandas.DataFrame
            Index ``year``, one column per variable, as :meth:`clusterdyn.sdmodels.Model.run`.
        """
        names = list(variables)
        payload = {"kind": "model_run", "model_sha256": model.sha256,
                   "pysd": pysd.__version__, "params": {k: float(v) for k, v in params.items()},
                   "until": int(until), "dt": model.time_step, "variables": names}
        key = self.key(payload)
        stored = self.get(key, payload)
        if stored is not None:
            try:
                frame = _frame_from_json(stored["frame"])
            except (KeyError, TypeError, ValueError):
                frame = None  # an entry of another layout: recompute it
            if frame is not None:
                self.hits += 1
                return frame
        self.misses += 1
        frame = model.run(params=dict(params), until=until, variables=names)
        self.put(key, {"inputs": payload, "frame": _frame_to_json(frame)})
        return frame

    def scenario_key(self, model: Model, scenario: Scenario, base_params: Mapping[str, float],
                     costs: PolicyCosts) -> tuple[str, dict[str, Any]]:
        """Cache key and keyed inputs of a scenario run (see :meth:`scenario_run`)."""
        payload = {"kind": "scenario_run", "model_sha256": model.sha256,
                   "pysd": pysd.__version__,
                   "base_params": {k: float(v) for k, v in sorted(base_params.items())},
                   "scenario": scenario_content(scenario),
                   "costs": {k: float(v) for k, v in sorted(costs.per_lever.items())},
                   "until": scenario.horizon, "dt": model.time_step}
        return self.key(payload), payload

    def has(self, key: str) -> bool:
        """True if an entry is stored under ``key``."""
        return self._path(key).is_file()

    def scenario_run(self, model: Model, scenario: Scenario, base_params: Mapping[str, float],
                     costs: PolicyCosts) -> scenarios.ScenarioRun:
        """``clusterdyn.scenarios.run(scenario)`` from ``base_params`` over its horizon, cached.

        Returns
        -------
        clusterdyn.scenarios.ScenarioRun
            Equal, value for value, to a fresh run.
        """
        key, payload = self.scenario_key(model, scenario, base_params, costs)
        stored = self.get(key, payload)
        if stored is not None:
            try:
                found = _scenario_run_from_json(scenario, stored)
            except (KeyError, TypeError, ValueError):
                found = None  # an entry of another layout: recompute it
            if found is not None:
                self.hits += 1
                return found
        self.misses += 1
        result = scenarios.run(scenario, base_params=dict(base_params), model=model,
                               costs=costs)
        self.put(key, {
            "inputs": payload,
            "trajectories": _frame_to_json(result.trajectories),
            "stage_starts": dict(result.stage_starts),
            "cost": {"index": [int(y) for y in result.cost.index],
                     "values": [float(v) for v in result.cost]},
            "parameters": {k: float(v) for k, v in result.parameters.items()},
            "until": result.until, "dt": result.dt,
        })
        return result
