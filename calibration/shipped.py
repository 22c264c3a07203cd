"""The shipped calibrated parameters (``calibration/results/<model>.toml``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"


def calibrated_parameters(model_name: str = "salmon_cluster",
                          path: str | Path | None = None) -> dict[str, float]:
    """Calibrated parameter values by name, from the shipped results file.

    These are the defaults of ``clusterdyn run``, the scenarios and the figures.

    Raises
    ------
    FileNotFoundError
        If no results file is shipped for the model.
    """
    path = Path(path) if path is not None else RESULTS_DIR / f"{model_name}.toml"
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    return {name: float(p["value"]) for name, p in data["parameters"].items()}
