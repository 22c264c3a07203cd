"""The shipped calibrated parameters (``calibration/results/<model>.toml``)."""

from __future__ import annotations

from pathlib import Path

RESULTS_DIR = Path(__file__).parent / "results"
#: The shipped full calibration: default ``--results`` of ``clusterdyn profile`` and ``posterior``.
DEFAULT_RESULTS = RESULTS_DIR / "salmon_cluster.toml"
#: Sampler settings of the shipped MCMC posteriors (:mod:`clusterdyn.calibration.posterior`): 12,000
#: steps of 44 walkers is 15-22 integrated autocorrelation times of the slowest parameter
#: (measured 530-800 steps), about 550-650 independent draws: enough for 95% bands, not for a
#: precise autocorrelation estimate (emcee asks 50 times); 2,000 draws kept.
STEPS = 12_000
BURN = 2_000
DRAWS = 2_000


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
    if not path.is_file():
        raise FileNotFoundError(2, "no such calibration results file", str(path))
    from clusterdyn.sdmodels.model import read_calibrated_values  # lazy: keeps this module light

    return read_calibrated_values(path)


def posterior_path(results: str | Path) -> Path:
    """Where the MCMC draws of a results file live: ``<stem>_posterior.csv`` beside it
    (written by ``clusterdyn posterior``, :mod:`clusterdyn.calibration.posterior`)."""
    path = Path(results)
    return path.with_name(f"{path.stem}_posterior.csv")
