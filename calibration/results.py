"""The calibration result: estimates, intervals, fit statistics, summary and files."""

from __future__ import annotations

import hashlib
import math
import platform
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from clusterdyn.calibration.data_io import load_table_targets
from clusterdyn.calibration.priors import Prior
from clusterdyn.calibration.spec import CalibrationSpec
from clusterdyn.calibration.statistics import FitStatistics, fit_statistics
from clusterdyn.sdmodels.model import PUBLIC_OUTPUTS, Model

RESULTS_DIR = Path(__file__).parent / "results"
#: Quality targets of the issue, checked and reported (not used by the fit).
PRODUCTION_TOLERANCE = 0.25
HOLDOUT_TOLERANCE = 0.35
QUALITY_YEARS = (1985, 2003)


@dataclass(frozen=True)
class ParameterEstimate:
    """A calibrated parameter with its 95% interval."""

    name: str
    value: float
    lower_95: float
    upper_95: float
    stderr: float
    units: str
    identified: bool
    at_bound: bool


#: Significant digits of every number written to a results file. The last bits of a fit move
#: with the processor (BLAS kernels, numpy's SIMD exp/log): measured, the 6th digit of an
#: interval bound differed between two x86-64 machines. Four digits keep that noise about two
#: orders of magnitude below the last digit written, and are more than the data can claim
#: (the tightest 95% interval is about 10% of its value).
SIGNIFICANT_DIGITS = 4


def _sig(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """Round to ``digits`` significant digits, so that results files are the same bytes on
    any machine (up to a value that lands on a rounding boundary: compare at this precision)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(f"{value:.{digits}g}")


def series_statistics(spec: CalibrationSpec, observations: pd.DataFrame, run: pd.DataFrame,
                      last_year: int) -> tuple[dict[str, FitStatistics], dict[str, FitStatistics]]:
    """Fit statistics of every target, in sample (to ``last_year``) and out of sample."""
    fit: dict[str, FitStatistics] = {}
    holdout: dict[str, FitStatistics] = {}
    for target in spec.targets:
        series = observations[target.series]
        years = [y for y in series.index if y >= target.first_year and y <= spec.last_year
                 and y not in target.exclude_years and pd.notna(series[y])]
        for bucket, chosen in ((fit, [y for y in years if y <= last_year]),
                               (holdout, [y for y in years if y > last_year])):
            if len(chosen) >= 3:
                bucket[target.variable] = fit_statistics(
                    run.loc[chosen, target.variable].to_numpy(),
                    series.loc[chosen].to_numpy(dtype=float), transform=target.transform)
    return fit, holdout


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True, eq=False)
class ResultsFile:
    """A results TOML read back: its content, model, spec, fitted years and estimates.

    Attributes
    ----------
    estimates : pandas.DataFrame
        ``value``, ``lower_95``, ``upper_95`` per parameter (index: name).
    """

    path: Path
    data: dict
    model: Model
    spec: CalibrationSpec
    fit_last_year: int
    objective: float
    estimates: pd.DataFrame

    def stale(self) -> list[str]:
        """Provenance hashes that no longer match the current model, spec and data files."""
        current = {"model_sha256": self.model.sha256, "spec_sha256": _sha256(self.spec.path),
                   "data_sha256": _sha256(self.spec.data_path)}
        provenance = self.data.get("provenance", {})
        return [key for key, value in current.items() if provenance.get(key) != value]


def read_results(path: str | Path) -> ResultsFile:
    """Read a results TOML written by ``clusterdyn calibrate``, with its model and spec.

    Raises
    ------
    clusterdyn.sdmodels.ModelInputError
        If the file is missing or is not a results file (naming the file).
    """
    from clusterdyn.calibration.spec import SPEC_DIR, load_spec
    from clusterdyn.sdmodels.errors import ModelInputError
    from clusterdyn.sdmodels.model import load_model

    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        head = data["calibration"]
        # A fit starts from the .mdl; a user's model and spec are recorded by path.
        model = load_model(head.get("mdl", head["model"]), defaults="mdl")
        read = ResultsFile(
            path, data, model, load_spec(model, SPEC_DIR / head["spec"]),
            fit_last_year=int(head["fit_years"][1]), objective=float(head["objective"]),
            estimates=pd.DataFrame({name: {k: float(p[k]) for k in ("value", "lower_95",
                                                                     "upper_95")}
                                    for name, p in data["parameters"].items()}).T)
    except FileNotFoundError:
        raise ModelInputError(f"{path}: no such calibration results file") from None
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelInputError(f"{path}: not a calibration results file "
                              f"(written by 'clusterdyn calibrate'): {exc!r}") from None
    return read


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """Outcome of :func:`clusterdyn.calibration.calibrate` (statsmodels' ``fit() -> Results``
    pattern)."""

    model: Model
    spec: CalibrationSpec
    seed: int
    quick: bool
    fit_last_year: int
    objective: float
    n_observations: int
    estimates: tuple[ParameterEstimate, ...]
    correlation: np.ndarray
    fit: dict[str, FitStatistics]
    holdout: dict[str, FitStatistics]
    evaluations: int

    @property
    def params(self) -> dict[str, float]:
        """Calibrated values by parameter name."""
        return {e.name: e.value for e in self.estimates}

    @property
    def intervals(self) -> pd.DataFrame:
        """95% intervals: columns value, lower_95, upper_95, stderr, identified, at_bound."""
        return pd.DataFrame([e.__dict__ for e in self.estimates]).set_index("name")

    @property
    def correlation_matrix(self) -> pd.DataFrame:
        names = [e.name for e in self.estimates]
        return pd.DataFrame(self.correlation, index=names, columns=names)

    def to_frame(self) -> pd.DataFrame:
        """The estimates as a table: one row per parameter, the columns of
        :attr:`intervals` (value, lower_95, upper_95, stderr, units, identified, at_bound)."""
        return self.intervals

    def fit_frame(self, sample: str = "in") -> pd.DataFrame:
        """Fit statistics of every target as a table: one row per variable.

        Parameters
        ----------
        sample : {"in", "out"}
            In sample (the fitted years) or out of sample (the held-out years).
        """
        chosen = {"in": self.fit, "out": self.holdout}.get(sample)
        if chosen is None:
            raise ValueError(f"sample = {sample!r}: expected 'in' or 'out'")
        return pd.DataFrame({k: v.as_dict() for k, v in chosen.items()}).T.rename_axis("variable")

    def simulate(self, until: int | None = None) -> pd.DataFrame:
        """The calibrated model's public outputs and targets (a PySD run)."""
        public = [v for v in PUBLIC_OUTPUTS if v in self.model.variables]
        variables = list(dict.fromkeys([*public, *(t.variable for t in self.spec.targets)]))
        return self.model.run(params=self.params, until=until, variables=variables)

    def quality_checks(self, run: pd.DataFrame, observations: pd.DataFrame) -> dict[str, object]:
        """The issue's quality targets, measured on ``run`` (the calibrated run to 2003).

        For a model other than the salmon model (data schema ``"variables"``): the largest
        relative error of every weighted target in the fitted years
        (:func:`target_errors`).
        """
        if self.spec.schema != "fao":
            return target_errors(self.spec, observations, run, self.fit_last_year)
        production = observations["chile_salmon_production_t"]
        first, last = QUALITY_YEARS
        ratio = run.loc[first:last, "Production"] / production.loc[first:last] - 1
        in_sample = ratio.loc[: self.fit_last_year]
        checks: dict[str, object] = {
            "production_max_abs_error_1985_2003": _sig(float(ratio.abs().max())),
            "production_years_outside_25pct": [int(y) for y in ratio.index
                                               if abs(ratio[y]) > PRODUCTION_TOLERANCE],
            "production_in_sample_max_abs_error": _sig(float(in_sample.abs().max())),
        }
        if self.fit_last_year < last:
            held = ratio.loc[self.fit_last_year + 1:]
            checks["holdout_production_max_abs_error"] = _sig(float(held.abs().max()))
            checks["holdout_years_outside_35pct"] = [
                int(y) for y in held.index if abs(held[y]) > HOLDOUT_TOLERANCE]
        table = load_table_targets()
        for _, row in table[table["quantity"] == "price"].iterrows():
            prices = run.loc[int(row["first_year"]):int(row["last_year"]), "Price"]
            median = float(prices.median())
            checks[f"price_median_{row['stage']}"] = _sig(median)
            checks[f"price_median_{row['stage']}_in_range"] = bool(
                row["low"] <= median <= row["high"])
            checks[f"price_years_in_range_{row['stage']}"] = int(
                ((prices >= row["low"]) & (prices <= row["high"])).sum())
        checks["uc_dominant_series"] = [name for name, s in self.fit.items() if s.theil.uc > 0.5]
        return checks

    def provenance(self) -> dict[str, str]:
        """Hashes of model, spec and data, and package versions (no timestamps)."""
        versions = {name: metadata.version(name)
                    for name in ("pysd", "numpy", "scipy", "pandas")}
        return {
            "model_sha256": self.model.sha256,
            "spec_sha256": _sha256(self.spec.path),
            "data_sha256": _sha256(self.spec.data_path),
            "python": platform.python_version(),
            **{f"{k}_version": v for k, v in versions.items()},
        }

    def to_dict(self, observations: pd.DataFrame, run: pd.DataFrame) -> dict[str, object]:
        """Everything written to the results TOML (values to 6 significant digits)."""
        names = [e.name for e in self.estimates]
        return {
            "calibration": {
                "model": self.model.name, **self._locations(), "seed": self.seed,
                "quick": self.quick, "fit_years": [self.spec.first_year, self.fit_last_year],
                "objective": _sig(self.objective), "n_observations": self.n_observations,
                "n_parameters": len(names),
                "interval_method": "Gauss-Newton Hessian of the weighted residuals, "
                                   "s^2 = SSR/(n-p), Student t, clipped to the search bounds",
            },
            "provenance": self.provenance(),
            "parameters": {
                e.name: {"value": _sig(e.value), "lower_95": _sig(e.lower_95),
                         "upper_95": _sig(e.upper_95), "stderr": _sig(e.stderr),
                         "units": e.units, "identified": e.identified, "at_bound": e.at_bound,
                         **_prior_entry(prior)}
                for e, prior in zip(self.estimates, self.spec.priors, strict=True)
            },
            "correlation": {"order": names,
                            # 4 decimals, not 4 significant digits: a correlation of
                            # zero computes as +-1e-11, noise that differs by processor
                            # (+ 0.0 turns -0.0 into 0.0)
                            "matrix": [[round(float(v), 4) + 0.0 for v in row]
                                       for row in self.correlation]},
            "fit": {k: {m: _sig(v) if isinstance(v, float) else v
                        for m, v in s.as_dict().items()} for k, s in self.fit.items()},
            "holdout": {k: {m: _sig(v) if isinstance(v, float) else v
                            for m, v in s.as_dict().items()} for k, s in self.holdout.items()},
            "checks": self.quality_checks(run, observations),
        }

    def _locations(self) -> dict[str, str]:
        """``spec`` (and ``mdl``) of the results file: the shipped spec by name, a user's spec
        and ``.mdl`` by absolute path (so that :func:`read_results` finds them again)."""
        from clusterdyn.calibration.spec import SPEC_DIR
        from clusterdyn.sdmodels.model import MODELS_DIR

        spec = self.spec.path.resolve()
        shipped = spec.parent == SPEC_DIR.resolve()
        out = {"spec": self.spec.path.name if shipped else spec.as_posix()}
        mdl = self.model.mdl_path.resolve()
        if mdl != (MODELS_DIR / f"{self.model.name}.mdl").resolve():
            out["mdl"] = mdl.as_posix()
        return out

    def summary(self) -> str:
        """A readable table of estimates, intervals and fit statistics.

        Every column is as wide as its widest cell and columns are two spaces apart, so values
        of any magnitude stay separated; a fixed-decimal value longer than 10 characters is
        shown with 3 significant digits instead.
        """
        lines = [
            f"Calibration of {self.model.name!r}: data {self.spec.first_year}-"
            f"{self.fit_last_year}, {_count(self.n_observations, 'observation')}, "
            f"{_count(len(self.estimates), 'parameter')}, seed {self.seed}"
            + (" (quick)" if self.quick else ""),
            f"objective (0.5 * sum of squared weighted residuals): {self.objective:.6g}",
            "",
        ]
        priors = dict(zip(self.spec.names, self.spec.priors, strict=True))
        rows = [[e.name, f"{e.value:.5g}", f"[{e.lower_95:.4g}, {e.upper_95:.4g}]", e.units,
                 ", ".join(f for f, on in (("NOT IDENTIFIED", not e.identified),
                                           ("at bound", e.at_bound),
                                           (f"prior {_described(priors.get(e.name))}",
                                            priors.get(e.name) is not None)) if on)]
                for e in self.estimates]
        lines += _table(["parameter", "value", "95% interval", "units", "flags"], rows,
                        right={1, 2})
        for title, stats_ in (("in sample", self.fit), ("out of sample", self.holdout)):
            if not stats_:
                continue
            rows = [[name, str(s.n), _fixed(s.r2, 3), _fixed(s.mape, 1, percent=True),
                     f"{s.rmse:.4g}", _fixed(s.theil.u, 3), _fixed(s.theil.um, 2),
                     _fixed(s.theil.us, 2), _fixed(s.theil.uc, 2), _fixed(s.durbin_watson, 2)]
                    for name, s in stats_.items()]
            lines += ["", f"fit statistics, {title} (Theil on the transformed scale):"]
            lines += _table(["variable", "n", "R2", "MAPE", "RMSE", "U", "UM", "US", "UC", "DW"],
                            rows, right=set(range(1, 10)))
        return "\n".join(lines)


def _described(prior: Prior | None) -> str:
    return "" if prior is None else prior.describe()


def _prior_entry(prior: Prior | None) -> dict[str, str]:
    """The prior of a parameter as written in the results file (nothing without one)."""
    if prior is None:
        return {}
    return {"prior": prior.describe(), "prior_source": prior.source}


def _count(n: int, noun: str) -> str:
    """``"1 observation"``, ``"45 observations"``: ``n`` with ``noun`` in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _fixed(value: float, decimals: int, percent: bool = False) -> str:
    """``value`` with ``decimals`` decimals (times 100 with a % sign if ``percent``).

    Past 10 characters (a misfit of a wild run can be -1e12) it switches to 3 significant
    digits, so one extreme value does not widen its column by hundreds of characters.
    """
    scaled = value * 100 if percent else value
    text = f"{scaled:.{decimals}f}"
    if len(text) > 10:
        text = f"{scaled:.3g}"
    return text + ("%" if percent else "")


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Lines of a plain-text table, columns ``right`` right-aligned, the others left-aligned.

    Each column is as wide as its widest cell and columns are two spaces apart, so adjacent
    values never run together whatever their length.
    """
    widths = [max(len(row[j]) for row in [header, *rows]) for j in range(len(header))]
    return ["  ".join(cell.rjust(width) if j in right else cell.ljust(width)
                      for j, (cell, width) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in [header, *rows]]


def write_toml(data: dict[str, object], handle) -> None:  # type: ignore[no-untyped-def]
    """Serialise a result dict as TOML text into ``handle``."""
    handle.write(tomli_w.dumps(data))


def report_markdown(data: dict[str, object], run: pd.DataFrame,
                    observations: pd.DataFrame) -> str:
    """Markdown fit report: estimates, statistics, quality checks, model against data."""
    head = data["calibration"]
    out = [f"# Calibration report: {head['model']}", "",
           f"Data {head['fit_years'][0]}-{head['fit_years'][1]}, {head['n_observations']} "
           f"observations, {head['n_parameters']} parameters, seed {head['seed']}"
           + (", quick search" if head["quick"] else "") + f"; objective {head['objective']}.",
           "", "## Parameters (95% intervals)", "",
           "| parameter | value | 95% interval | units | identified | at bound |",
           "|---|---|---|---|---|---|"]
    for name, p in data["parameters"].items():
        out.append(f"| {name} | {p['value']:.4g} | [{p['lower_95']:.4g}, {p['upper_95']:.4g}] "
                   f"| {p['units']} | {'yes' if p['identified'] else '**no**'} "
                   f"| {'yes' if p['at_bound'] else ''} |")
    for title, key in (("Fit statistics, in sample", "fit"),
                       ("Fit statistics, out of sample", "holdout")):
        if not data[key]:
            continue
        out += ["", f"## {title}", "",
                "| variable | n | R² | MAPE | RMSE | U | U^M | U^S | U^C | DW |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for name, s in data[key].items():
            out.append(f"| {name} | {s['n']} | {s['r2']:.3f} | {s['mape']:.1%} | "
                       f"{s['rmse']:.4g} | {s['theil_u']:.3f} | {s['theil_um']:.2f} | "
                       f"{s['theil_us']:.2f} | {s['theil_uc']:.2f} | {s['durbin_watson']:.2f} |")
    out += ["", "## Quality checks", ""]
    out += [f"- `{k}`: {v}" for k, v in data["checks"].items()]
    if "chile_salmon_production_t" not in observations:
        return "\n".join(out + _against_data(run, observations)) + "\n"
    production = observations["chile_salmon_production_t"]
    price = observations["chile_salmon_unit_value_usd_per_kg"]
    out += ["", "## Model against data", "",
            "| year | production | FAO | error | price | FAO unit value |",
            "|---|---|---|---|---|---|"]
    for year in run.index:
        p_obs, pr_obs = production.get(year), price.get(year)
        err = f"{run.loc[year, 'Production'] / p_obs - 1:+.1%}" if p_obs else ""
        pr = "" if pr_obs is None or pd.isna(pr_obs) else f"{pr_obs:.2f}"
        out.append(f"| {year} | {run.loc[year, 'Production']:,.0f} | {p_obs:,.0f} | {err} | "
                   f"{run.loc[year, 'Price']:.2f} | {pr} |")
    return "\n".join(out) + "\n"


def target_errors(spec: CalibrationSpec, observations: pd.DataFrame, run: pd.DataFrame,
                  last_year: int) -> dict[str, object]:
    """Largest relative error ``|simulated / observed - 1|`` of every weighted target in the
    fitted years (observations of zero are left out), keyed ``<series>_max_abs_relative_error``.
    """
    checks: dict[str, object] = {}
    for target in spec.targets:
        if target.weight == 0:
            continue
        observed = observations[target.series]
        years = [y for y in observed.index if target.first_year <= y <= last_year
                 and y not in target.exclude_years and pd.notna(observed[y]) and observed[y] != 0]
        errors = (run.loc[years, target.variable] / observed.loc[years] - 1).abs()
        if len(errors):
            checks[f"{target.series}_max_abs_relative_error"] = _sig(float(errors.max()))
    return checks


def _against_data(run: pd.DataFrame, observations: pd.DataFrame) -> list[str]:
    """Markdown table of every observed column against the run (a user's model)."""
    shown = [c for c in observations.columns if c in run.columns]
    lines = ["", "## Model against data", "",
             "| time | " + " | ".join(f"{c} | observed" for c in shown) + " |",
             "|---|" + "---|---|" * len(shown)]
    for year in run.index:
        cells = []
        for column in shown:
            value = observations[column].get(year)
            observed = "" if value is None or pd.isna(value) else f"{value:.6g}"
            cells += [f"{run.loc[year, column]:.6g}", observed]
        lines.append(f"| {year} | " + " | ".join(cells) + " |")
    return lines
