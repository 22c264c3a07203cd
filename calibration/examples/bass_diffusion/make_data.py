"""Write ``observations.csv``: the Bass diffusion model at known parameters, plus seeded noise.

The calibration example (``bass_diffusion.toml``) must recover :data:`TRUE_VALUES` from these
data. Run from anywhere: ``python calibration/examples/bass_diffusion/make_data.py``; the same
seed writes the same bytes.

The simulated yearly adoption rate (people/Year) and adopters (people) at times 1-12 (years
after the launch) are multiplied by independent lognormal errors ``exp(e)``, ``e ~ N(0,
NOISE_SIGMA)``: a 5% measurement error, the scale the spec's ``sigma`` declares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
MODEL_FILE = HERE / "bass_diffusion.mdl"
DATA_FILE = HERE / "observations.csv"

#: The parameters the data are made from (assumption: values near the means Sultan, Farley and
#: Lehmann 1990 report over 213 Bass-model applications, p = 0.03 and q = 0.38 per year, for a
#: market of 100,000 people).
TRUE_VALUES: dict[str, float] = {
    "Advertising effectiveness": 0.03,  # 1/Year (p)
    "Word of mouth effectiveness": 0.4,  # 1/Year (q)
    "Market size": 100_000.0,  # people (m)
}
#: Observed variables (columns of the CSV) and the observation times (Year after the launch).
OBSERVED = ("Adoption rate", "Adopters")
TIMES = range(1, 13)
#: Standard deviation of the log measurement error (dimensionless; assumption: 5%).
NOISE_SIGMA = 0.05
#: Seed of the noise (any fixed number; this one is a date).
SEED = 20240601


def make_observations(seed: int = SEED) -> pd.DataFrame:
    """The simulated observations: index ``time``, one column per :data:`OBSERVED` variable.

    Parameters
    ----------
    seed : int
        Seed of the measurement errors.

    Returns
    -------
    pandas.DataFrame
    """
    from clusterdyn.sdmodels import load_model

    model = load_model(str(MODEL_FILE), defaults="mdl")
    run = model.run(params=TRUE_VALUES, until=max(TIMES), variables=list(OBSERVED))
    exact = run.loc[list(TIMES)]
    rng = np.random.default_rng(seed)
    noisy = exact * np.exp(rng.normal(0.0, NOISE_SIGMA, size=exact.shape))
    return noisy.rename_axis("time")


def main() -> None:
    """Write :data:`DATA_FILE`."""
    frame = make_observations()
    frame.to_csv(DATA_FILE, float_format="%.6g", lineterminator="\n")
    print(f"wrote {len(frame)} times x {frame.shape[1]} variables to {DATA_FILE}")


if __name__ == "__main__":
    main()
