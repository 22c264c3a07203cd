"""Posterior of a calibration by Markov chain Monte Carlo (emcee's affine-invariant ensemble).

The Gauss-Newton intervals of :mod:`clusterdyn.calibration.fit` are a local, Gaussian
approximation; along
the ridges of this model (demand growth against price elasticity, investment against cost)
and for parameters the data barely see it is poor. This module samples the posterior itself:

* likelihood: independent normal errors on the calibration's weighted residuals with the
  residual variance estimated at the optimum, ``log L = -payoff / s^2`` with
  ``s^2 = 2 * payoff_min / (n - p)`` (the same scale as the Hessian intervals);
* prior: uniform over the spec's search bounds (the box the calibration searched), times
  the spec's normal or lognormal priors where it gives them (:mod:`clusterdyn.calibration.priors`);
* sampler: ``emcee.EnsembleSampler`` (Goodman & Weare 2010 stretch move), ``4 p`` walkers
  started in a small ball around the optimum, vectorised over the walkers with the compiled
  runner, seeded; the burn-in is dropped and the chain thinned to about ``draws`` sets.

The draws are written as CSV beside the results file (``<results>_posterior.csv``) with a
markdown report; :func:`clusterdyn.ensembles.bands.bands_samples` with ``sampling="mcmc"`` reads
them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from clusterdyn.calibration.objective import Objective
from clusterdyn.calibration.results import ResultsFile, _sig, read_results
from clusterdyn.calibration.shipped import BURN, DRAWS, STEPS
from clusterdyn.calibration.spec import CalibrationSpec
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import Model
from clusterdyn.sdmodels.vectorized import compile_model

INITIAL_SPREAD = 1e-3  # radius of the walkers' start ball, in unit coordinates


def default_burn(steps: int) -> int:
    """Burn-in used when none is given: the shipped share of the steps, one sixth.

    The shipped posteriors drop ``BURN`` = 2,000 of ``STEPS`` = 12,000 steps (about three
    autocorrelation times of the slowest parameter); a shorter or longer chain drops the same
    share, at least one step, so ``--steps`` alone gives a valid setting.

    Parameters
    ----------
    steps : int
        Steps of every walker (at least 2).

    Returns
    -------
    int
        ``max(1, steps * BURN // STEPS)``: 2,000 for 12,000 steps, 16 for 100.
    """
    return max(1, steps * BURN // STEPS)


@dataclass(frozen=True, eq=False)
class PosteriorSample:
    """Draws from the posterior of a calibration, with the sampler's diagnostics.

    Attributes
    ----------
    draws : pandas.DataFrame
        One row per draw, one column per free parameter, and ``log_posterior``.
    acceptance : float
        Mean acceptance fraction of the walkers (0.2-0.5 is healthy for the stretch move).
    autocorr : pandas.Series
        Integrated autocorrelation time per parameter, in steps (emcee's estimate).
    steps, burn, walkers, thin, seed : int
        Sampler settings.
    hessian : pandas.DataFrame
        The results file's value and 95% interval per parameter, for comparison.
    fit_years : tuple of int
    """

    draws: pd.DataFrame
    acceptance: float
    autocorr: pd.Series
    steps: int
    burn: int
    walkers: int
    thin: int
    seed: int
    hessian: pd.DataFrame
    fit_years: tuple[int, int]

    @property
    def effective_draws(self) -> float:
        """Roughly independent draws: walkers x kept steps / the slowest autocorrelation."""
        return self.walkers * (self.steps - self.burn) / float(self.autocorr.max())

    def intervals(self, level: float = 0.95) -> pd.DataFrame:
        """Median and equal-tailed credible interval of every parameter."""
        tail = 50 * (1 - level)
        names = [c for c in self.draws.columns if c != "log_posterior"]
        q = np.percentile(self.draws[names].to_numpy(), [tail, 50, 100 - tail], axis=0)
        return pd.DataFrame({"median": q[1], "lower": q[0], "upper": q[2]}, index=names)

    def report_markdown(self) -> str:
        """Markdown report: credible intervals beside the Hessian ones, and the diagnostics."""
        ci = self.intervals()
        lines = [
            f"# Posterior by MCMC: data {self.fit_years[0]}-{self.fit_years[1]}", "",
            f"emcee ensemble sampler, {self.walkers} walkers x {self.steps:,} steps (first "
            f"{self.burn:,} dropped), keeping one step in {self.thin}: "
            f"{len(self.draws):,} draws, seed {self.seed}. Uniform prior on the search bounds; "
            "likelihood exp(-payoff / s²) with s² = SSR / (n - p) at the optimum.", "",
            f"Mean acceptance {self.acceptance:.3f}; integrated autocorrelation time "
            f"{self.autocorr.min():.0f}-{self.autocorr.max():.0f} steps, so about "
            f"{self.effective_draws:,.0f} independent draws.", "",
            "| parameter | median | 95% credible interval | Gauss-Newton estimate | "
            "Gauss-Newton 95% interval | autocorrelation (steps) |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in ci.iterrows():
            h = self.hessian.loc[name]
            lines.append(f"| {name} | {row['median']:.4g} | [{row['lower']:.4g}, "
                         f"{row['upper']:.4g}] | {h['value']:.4g} | [{h['lower_95']:.4g}, "
                         f"{h['upper_95']:.4g}] | {self.autocorr[name]:.0f} |")
        return "\n".join(lines) + "\n"

    def to_csv(self, handle) -> None:  # type: ignore[no-untyped-def]
        """The draws, 6 significant digits (reruns give the same bytes)."""
        rounded = self.draws.map(_sig)
        rounded.to_csv(handle, index=False, float_format="%.6g", lineterminator="\n")


def posterior_from_results(results: str | Path | ResultsFile, *, steps: int = STEPS,
                           burn: int | None = None, draws: int = DRAWS, seed: int = 0,
                           progress: bool = True) -> PosteriorSample:
    """Sample the posterior of the calibration in a results file (see :func:`sample_posterior`).

    Parameters
    ----------
    results : str, pathlib.Path or ResultsFile
        The results file, or its content already read by
        :func:`clusterdyn.calibration.results.read_results`.
    steps, burn, draws, seed, progress
        As :func:`sample_posterior` (``burn`` defaults to :func:`default_burn` of ``steps``).

    Returns
    -------
    PosteriorSample

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If the file is missing or malformed, or the settings are inconsistent.
    """
    read = results if isinstance(results, ResultsFile) else read_results(results)
    return sample_posterior(read.model, read.spec, read.estimates, read.objective,
                            until=read.fit_last_year, steps=steps, burn=burn, draws=draws,
                            seed=seed, progress=progress)


def sample_posterior(model: Model, spec: CalibrationSpec, estimates: pd.DataFrame,
                     optimum: float, *, until: int, steps: int = STEPS, burn: int | None = None,
                     draws: int = DRAWS, seed: int = 0, progress: bool = True,
                     observations: pd.DataFrame | None = None,
                     start_from: str = "ball") -> PosteriorSample:
    """Sample the posterior of a calibration with emcee's ensemble sampler.

    Parameters
    ----------
    model : clusterdyn.sdmodels.Model
    spec : CalibrationSpec
    estimates : pandas.DataFrame
        Index: the spec's free parameters; columns ``value`` (the optimum, where the walkers
        start), ``lower_95`` and ``upper_95`` (reported beside the credible intervals).
    optimum : float
        The calibration's payoff at the optimum (sets the residual variance s²).
    until : int
        Last fitted year.
    steps : int
        Steps of every walker.
    burn : int, optional
        How many of the first steps are dropped; default :func:`default_burn` of ``steps``
        (one sixth, as the shipped 2,000 of 12,000).
    draws : int
        About how many draws to keep (the chain is thinned evenly).
    seed : int
        Seed of the walkers' start and of the sampler.
    progress : bool
        Show a progress bar.
    observations : DataFrame, optional
        Default: the shipped data.
    start_from : {"ball", "laplace"}
        Where the walkers start: ``"ball"`` (default, the shipped posteriors) a ball of
        radius :data:`INITIAL_SPREAD` around the optimum; ``"laplace"`` spread as the
        Gauss-Newton approximation of the posterior (standard errors from the 95% intervals,
        clipped to the bounds), so a short chain starts closer to its stationary spread.

    Returns
    -------
    PosteriorSample

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If the settings are inconsistent or an estimate is missing.
    """
    burn = default_burn(steps) if burn is None else burn
    if start_from not in ("ball", "laplace"):
        raise ModelInputError(f"start_from = {start_from!r}: expected 'ball' or 'laplace'")
    if not 0 < burn < steps or draws < 1 or seed < 0:
        raise ModelInputError(f"steps = {steps}, burn = {burn}, draws = {draws}, seed = {seed}: "
                              "expected 0 < burn < steps, draws >= 1 and seed >= 0")
    missing = [n for n in spec.names if n not in estimates.index]
    if missing:
        raise ModelInputError(f"no calibrated value for {missing}")
    hessian = estimates.loc[list(spec.names)]
    start = hessian["value"].to_numpy(dtype=float)
    last = int(until)
    observations = spec.observations() if observations is None else observations
    objective = Objective(spec, compile_model(model), observations, last)
    p = len(spec.names)
    if spec.penalised:
        # The results file's objective includes the priors; s^2 is the data's alone.
        optimum = float(objective.payoff(objective.to_unit(start)[None, :])[0])
    s2 = 2.0 * optimum / max(objective.n_observations - p, 1)

    def log_posterior(u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(u)
        out = np.full(len(u), -np.inf)
        inside = ((u >= 0.0) & (u <= 1.0)).all(axis=1)
        if inside.any():
            out[inside] = -objective.payoff(u[inside]) / s2
            if spec.penalised:  # the prior, not scaled by the data's residual variance
                out[inside] -= objective.prior_payoff(u[inside])
        return out

    import emcee  # imported here: it takes half a second and only this function needs it

    walkers = 4 * p
    random = np.random.RandomState(seed)
    if start_from == "ball":
        spread = np.full(p, INITIAL_SPREAD)
    else:  # the Gauss-Newton 95% intervals as +-1.96 standard errors, in unit coordinates
        width = (hessian["upper_95"] - hessian["lower_95"]).to_numpy(dtype=float)
        spread = np.maximum(width / (2 * 1.96) / (spec.upper - spec.lower), INITIAL_SPREAD)
    initial = np.clip(objective.to_unit(start) + spread * random.randn(walkers, p), 0.0, 1.0)
    sampler = emcee.EnsembleSampler(walkers, p, log_posterior, vectorize=True)
    sampler.random_state = random.get_state()
    bar = tqdm(total=steps, desc="sampling the posterior", unit="step", disable=not progress,
               leave=False)
    for _ in sampler.sample(initial, iterations=steps):
        bar.update(1)
    bar.close()
    # Keep one step in `thin` of every walker: about `draws` sets in all, and at least the last
    # step of every walker (with more walkers than draws a larger thin would keep nothing).
    thin = max(1, min(steps - burn, math.ceil((steps - burn) * walkers / draws)))
    chain = sampler.get_chain(discard=burn, thin=thin, flat=True)
    log_prob = sampler.get_log_prob(discard=burn, thin=thin, flat=True)
    values = objective.to_params(chain)
    frame = pd.DataFrame(values, columns=list(spec.names))
    frame["log_posterior"] = log_prob
    # In a short chain a walker started on a bound (clipped there) may not have moved yet: its
    # series is constant, its autocorrelation 0/0, and emcee's NaN for that parameter is the
    # honest answer (the report shows "nan"), not a RuntimeWarning for the user.
    with np.errstate(invalid="ignore", divide="ignore"):
        autocorr = pd.Series(sampler.get_autocorr_time(discard=burn, quiet=True, tol=0),
                             index=list(spec.names))
    return PosteriorSample(
        draws=frame, acceptance=float(np.mean(sampler.acceptance_fraction)), autocorr=autocorr,
        steps=steps, burn=burn, walkers=walkers, thin=thin, seed=seed, hessian=hessian,
        fit_years=(spec.first_year, last))
