"""Structural variants of the model, calibrated and scored against the hold-out target.

``calibration/variants.toml`` declares each variant as exact text edits of the shipped ``.mdl``
plus the free parameters (and targets) it adds to the shipped calibration spec. This module
builds a variant in the cache folder (never next to the source), calibrates it to the data up
to 1995 and to all the data with the shipped search settings, and reports the in-sample fit,
an F test of the added parameters against the shipped structure, and the 1996-2003 forecast.
The shipped structure's own row comes from the shipped results files (the same calibrations,
already run by ``clusterdyn calibrate``).

    python -m clusterdyn.calibration.variants -o calibration/results/structure_variants.md
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w
from scipy import stats
from tqdm.auto import tqdm

from clusterdyn.calibration.fit import calibrate
from clusterdyn.calibration.objective import SparseDataWarning
from clusterdyn.calibration.results import (
    HOLDOUT_TOLERANCE,
    QUALITY_YEARS,
    RESULTS_DIR,
    read_results,
)
from clusterdyn.calibration.spec import SPEC_DIR, SpecError, load_spec
from clusterdyn.io import write_atomically
from clusterdyn.sdmodels.errors import ModelInputError
from clusterdyn.sdmodels.model import MODELS_DIR, load_model
from clusterdyn.sdmodels.translation import cache_root

VARIANTS_FILE = Path(__file__).parent / "variants.toml"
BASE_MODEL = "salmon_cluster"
HOLDOUT_LAST_FIT = 1995
PRODUCTION_SERIES = "chile_salmon_production_t"


@dataclass(frozen=True)
class Variant:
    """A structural variant: edits of the base ``.mdl`` and additions to the spec."""

    name: str
    hypothesis: str
    edits: tuple[tuple[str, str], ...]
    parameters: tuple[dict[str, Any], ...]
    targets: tuple[dict[str, Any], ...]


def load_variants(path: Path = VARIANTS_FILE) -> dict[str, Variant]:
    """Read the variants file; ``includes`` are resolved into each variant's own lists.

    Raises
    ------
    SpecError
        Naming the file and the key of a malformed entry.
    """
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except (FileNotFoundError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{path}: {exc}") from None
    variants: dict[str, Variant] = {}
    for i, item in enumerate(raw.get("variant", [])):
        where = f"{path}: variant[{i}]"
        unknown = set(item) - {"name", "hypothesis", "includes", "edit", "parameter", "target"}
        if unknown or not isinstance(item.get("name"), str) or "hypothesis" not in item:
            raise SpecError(f"{where}: expected name, hypothesis and optional includes, edit, "
                            f"parameter, target; got keys {sorted(item)}")
        edits: list[tuple[str, str]] = []
        parameters: list[dict[str, Any]] = []
        targets: list[dict[str, Any]] = []
        for included in item.get("includes", []):
            if included not in variants:
                raise SpecError(f"{where}.includes: {included!r} is not an earlier variant")
            edits += variants[included].edits
            parameters += variants[included].parameters
            targets += variants[included].targets
        for j, edit in enumerate(item.get("edit", [])):
            if set(edit) != {"replace", "with"}:
                raise SpecError(f"{where}.edit[{j}]: expected the keys replace and with")
            edits.append((edit["replace"], edit["with"]))
        parameters += item.get("parameter", [])
        targets += item.get("target", [])
        variants[item["name"]] = Variant(item["name"], item["hypothesis"], tuple(edits),
                                         tuple(parameters), tuple(targets))
    return variants


def build(variant: Variant) -> tuple[Path, Path]:
    """Write the variant's ``.mdl`` and spec into the cache folder; return both paths.

    Raises
    ------
    SpecError
        If an edit's text does not occur exactly once in the base ``.mdl``.
    """
    text = (MODELS_DIR / f"{BASE_MODEL}.mdl").read_text(encoding="utf-8")
    for k, (old, new) in enumerate(variant.edits):
        count = text.count(old)
        if count != 1:
            raise SpecError(f"{VARIANTS_FILE}: variant {variant.name!r} edit[{k}]: its replace "
                            f"text occurs {count} times in {BASE_MODEL}.mdl, expected once")
        text = text.replace(old, new)
    with (SPEC_DIR / f"{BASE_MODEL}.toml").open("rb") as handle:
        spec = tomllib.load(handle)
    spec["parameters"] = [*spec["parameters"], *variant.parameters]
    spec["targets"] = [*spec["targets"], *variant.targets]
    # The copy lives in the cache folder: its data path must not depend on where it is.
    data = SPEC_DIR / spec["calibration"]["data"]
    spec["calibration"]["data"] = data.resolve().as_posix()
    digest = hashlib.sha256((text + tomli_w.dumps(spec)).encode()).hexdigest()[:16]
    folder = cache_root() / "variants" / f"{variant.name}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    mdl, spec_path = folder / f"{BASE_MODEL}.mdl", folder / "spec.toml"
    if not mdl.exists():
        write_atomically(mdl, lambda handle: handle.write(text))
        write_atomically(spec_path, lambda handle: handle.write(tomli_w.dumps(spec)))
    return mdl, spec_path


@dataclass(frozen=True)
class Fit:
    """What the report needs of one calibration: its payoff and its degrees of freedom."""

    objective: float
    n_observations: int
    n_parameters: int


@dataclass(frozen=True)
class VariantScore:
    """A variant's two calibrations, summarised."""

    name: str
    added: tuple[str, ...]
    holdout: Fit
    full: Fit
    holdout_errors: dict[int, float]
    full_max_error: float
    sparse_data: tuple[str, ...] = ()


def _errors(runs: Sequence[pd.Series], production: pd.Series) -> tuple[dict[int, float], float]:
    """Hold-out errors of the 1995 fit's run and the largest error of the full fit's run."""
    first, last = QUALITY_YEARS
    errors = {int(y): float(runs[0][y] / production[y] - 1)
              for y in range(HOLDOUT_LAST_FIT + 1, last + 1)}
    full_error = (runs[1].loc[first:last] / production.loc[first:last] - 1).abs().max()
    return errors, float(full_error)


def score(variant: Variant, quick: bool = False) -> VariantScore:
    """Calibrate a variant to 1978-1995 and to 1978-2003 (seed 0) and measure its errors."""
    mdl, spec_path = build(variant)
    model = load_model(str(mdl))
    spec = load_spec(model, spec_path)
    # A variant that adds parameters may leave fewer than two observations per parameter: the
    # report says so under its table instead of a warning printed in the middle of the run.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SparseDataWarning)
        fits = [calibrate(model, spec, until=until, seed=0, quick=quick, progress=False)
                for until in (HOLDOUT_LAST_FIT, None)]
    sparse = []
    for warning in caught:
        if issubclass(warning.category, SparseDataWarning):
            sparse.append(str(warning.message))
        else:  # not ours to judge: pass it on unchanged
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    errors, full_error = _errors([fit.simulate()["Production"] for fit in fits],
                                 spec.observations()[PRODUCTION_SERIES])
    holdout, full = (Fit(f.objective, f.n_observations, len(f.estimates)) for f in fits)
    return VariantScore(variant.name, tuple(p["name"] for p in variant.parameters), holdout,
                        full, errors, full_error, tuple(dict.fromkeys(sparse)))


def shipped_score() -> VariantScore:
    """The shipped structure's row, read from the shipped results files.

    ``clusterdyn calibrate`` with seed 0 and the shipped search wrote them, exactly the
    calibrations :func:`score` would run (``tests/test_calibration.py`` checks that they still
    come out of it), so they are read, not repeated.
    """
    fits, runs = [], []
    for name in (f"{BASE_MODEL}_until_{HOLDOUT_LAST_FIT}.toml", f"{BASE_MODEL}.toml"):
        read = read_results(RESULTS_DIR / name)
        head = read.data["calibration"]
        fits.append(Fit(read.objective, int(head["n_observations"]), len(read.estimates)))
        runs.append(read.model.run(params=read.estimates["value"].to_dict(),
                                   variables=["Production"])["Production"])
    errors, full_error = _errors(runs, read.spec.observations()[PRODUCTION_SERIES])
    return VariantScore(f"shipped ({BASE_MODEL}.mdl)", (), fits[0], fits[1], errors, full_error)


def _f_test(base: Fit, other: Fit) -> str:
    # Nested models, same observations: F = ((SSR0 - SSR1) / k) / (SSR1 / (n - p1)); the
    # payoff is SSR / 2, so the factor cancels.
    k = other.n_parameters - base.n_parameters
    if other.n_observations != base.n_observations or k <= 0:
        return "n/a"
    dof = other.n_observations - other.n_parameters
    statistic = max(base.objective - other.objective, 0.0) / k / (other.objective / dof)
    return f"{stats.f.sf(statistic, k, dof):.2f}"


def report(base: VariantScore, scores: Sequence[VariantScore], variants: dict[str, Variant]) -> str:
    """Markdown table of every variant against the shipped structure."""
    years = sorted(base.holdout_errors)
    lines = [
        "# Structural variants against the hold-out target", "",
        f"Each variant of `{BASE_MODEL}.mdl` (declared in `calibration/variants.toml`) is "
        f"calibrated with the shipped spec plus its own parameters, seed 0, to 1978-"
        f"{HOLDOUT_LAST_FIT} and to 1978-2003 (the shipped structure's row: the shipped "
        "results files). Objectives have 4 significant digits. *p* is the F test of the added "
        "parameters against the shipped structure on the same data (small = the data ask for "
        "them); "
        f"the forecast columns are the 1995 calibration's production error, model / FAO - 1; "
        f"the target is ±{HOLDOUT_TOLERANCE:.0%} in every year.", "",
        "| variant | added parameters | objective to 1995 | p | "
        + " | ".join(str(y) for y in years)
        + " | years outside | objective to 2003 | p | max error 1985-2003 |",
        "|" + "---|" * (8 + len(years)),
    ]
    for s in [base, *scores]:
        outside = sum(abs(e) > HOLDOUT_TOLERANCE for e in s.holdout_errors.values())
        lines.append(
            f"| {s.name} | {', '.join(s.added) or '-'} | {s.holdout.objective:.4g} | "
            f"{_f_test(base.holdout, s.holdout) if s is not base else '-'} | "
            + " | ".join(f"{s.holdout_errors[y]:+.0%}" for y in years)
            + f" | {outside} | {s.full.objective:.4g} | "
            f"{_f_test(base.full, s.full) if s is not base else '-'} | {s.full_max_error:.1%} |")
    sparse = [(s.name, message) for s in [base, *scores] for message in s.sparse_data]
    if sparse:
        lines += ["", "Poorly determined fits (fewer than two observations, priors counted, "
                  "per free parameter; their p values and forecasts deserve less weight):", ""]
        lines += [f"- **{name}**: {message}" for name, message in sparse]
    lines += ["", "Hypotheses:", ""]
    lines += [f"- **{name}**: {v.hypothesis}" for name, v in variants.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m clusterdyn.calibration.variants``."""
    parser = argparse.ArgumentParser(prog="python -m clusterdyn.calibration.variants",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="variants to score")
    parser.add_argument("--quick", action="store_true", help="small search budget (tests)")
    parser.add_argument("-o", "--output", default="-", help="markdown report, or - (default)")
    args = parser.parse_args(argv)
    try:
        variants = load_variants()
        chosen = args.only or list(variants)
        unknown = [n for n in chosen if n not in variants]
        if unknown:
            raise SpecError(f"unknown variant(s) {unknown}; expected some of {list(variants)}")
        base = shipped_score()
        scores = [score(variants[n], quick=args.quick)
                  for n in tqdm(chosen, desc="variants", unit="variant", leave=False)]
    except (SpecError, ModelInputError) as exc:
        print(f"clusterdyn.calibration.variants: error: {exc}", file=sys.stderr)
        return 2
    text = report(base, scores, {n: variants[n] for n in chosen})
    write_atomically(args.output, lambda handle: handle.write(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
