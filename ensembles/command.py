"""``clusterdyn sensitivity``: Monte Carlo bands, Sobol' and Morris indices, on Dask if asked.

``add_parser(sub)`` registers the subcommand in the ``clusterdyn`` parser; :func:`main` runs it
stand-alone (``python -m clusterdyn.ensembles sensitivity ...``) with the same one-line errors.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from clusterdyn.argtypes import whole_number
from clusterdyn.errors import UsageError
from clusterdyn.io import write_atomically
from clusterdyn.sdmodels.engine_names import ENGINES
from clusterdyn.sdmodels.errors import ModelInputError, SimulationError  # light: no PySD for --help

_positive = whole_number(1, what="a positive whole number")
_seed = whole_number(0, what="a whole number of at least 0")


def _power_of_two(text: str) -> int:
    value = _positive(text)
    if value < 2 or value & (value - 1):
        raise argparse.ArgumentTypeError(
            f"expected a power of 2 of at least 2 (e.g. 256, 1024), got {text!r}: Sobol' "
            "sequences balance only at powers of 2")
    return value


def _at_least_two(text: str) -> int:
    value = _positive(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected at least 2, got {text!r}")
    return value


def _even(text: str) -> int:
    value = _at_least_two(text)
    if value % 2:
        raise argparse.ArgumentTypeError(f"expected an even number of levels, got {text!r}")
    return value


def _common(parser: argparse.ArgumentParser, seed_of: str) -> None:
    parser.add_argument("--seed", type=_seed, default=0, help=f"seed of the {seed_of} (default 0)")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="output folder (created if needed)")
    parser.add_argument("--model", default="salmon_cluster", help="model name or .mdl path")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="simulation engine: compiled (an error if it cannot run the "
                        "model), pysd (one PySD run at a time, in this process: slow) or auto "
                        "(default: compiled, else pysd with a notice)")
    parser.add_argument("--chunk-size", type=_positive, default=None, metavar="RUNS",
                        help="runs per chunk (default 8192; results do not depend on it)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the chunks on a running Dask scheduler, e.g. tcp://host:8786")
    where.add_argument("--workers", type=_positive, metavar="K",
                       help="run the chunks on a local Dask cluster of K single-thread workers")
    parser.add_argument("--threads", action="store_true",
                        help="with --workers: threads of this process instead of processes")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _factor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ranges", choices=("declared", "search"), default="declared",
                        help="bounds of the calibrated parameters: declared in the model "
                        "(default) or the calibration's search ranges; levers are in [0, 1]")
    parser.add_argument("--log-kpis", action="store_true",
                        help="analyse log10 of production and export value (heavy-tailed)")
    parser.add_argument("--resamples", type=_positive, default=100,
                        help="bootstrap resamples of the confidence intervals (default 100)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the ``sensitivity`` subcommand and its analyses."""
    parser = sub.add_parser(
        "sensitivity", help="Monte Carlo bands and global sensitivity (Sobol', Morris)",
        description="Ensembles of the model run with the vectorised runner, locally or on a "
        "Dask cluster: Monte Carlo bands over the calibrated parameters' 95% intervals, and "
        "Sobol' and Morris indices of the 2003 KPIs to the calibrated parameters and the 27 "
        "lever intensities.")
    analyses = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    bands = analyses.add_parser(
        "bands", help="50/75/95/100%% bands of the public outputs (bands.csv and a figure)",
        description="Latin hypercube over the calibrated parameters' 95% intervals, draws "
        "from the calibration's Gaussian posterior approximation, or resampled MCMC draws "
        "('clusterdyn posterior'); writes DIR/bands.csv, "
        "DIR/ranges.csv and DIR/bands.{png,svg,pdf}.")
    bands.add_argument("-n", "--runs", type=_positive, default=1000, help="runs (default 1000)")
    bands.add_argument("--sampling", choices=("lhs", "posterior", "mcmc"), default="lhs",
                       help="lhs: independent, uniform within each 95%% interval (default); "
                       "posterior: joint normal with the calibrated covariance; mcmc: the "
                       "sampled posterior (<results>_posterior.csv)")
    bands.add_argument("--results", type=Path, default=None,
                       help="calibration results TOML (default: the shipped one)")
    bands.add_argument("--save-runs", action="store_true",
                       help="also stream every run to DIR/runs/ (Parquet, one file per chunk) "
                       "and compute the bands from it, one variable at a time")
    _common(bands, "Latin hypercube")
    bands.set_defaults(func=run_command)

    sobol = analyses.add_parser(
        "sobol", help="Sobol' first-order and total indices with a convergence check",
        description="Saltelli sampling of 2N base points (N*(D+2) runs each half); indices "
        "with bootstrap 95% intervals at 2N and their change from N. Writes "
        "DIR/sobol_indices.csv, DIR/sobol_convergence.csv, DIR/sobol_problem.csv and "
        "DIR/sobol.{png,svg,pdf}.")
    sobol.add_argument("-n", "--base-samples", type=_power_of_two, default=256, metavar="N",
                       help="base samples of the first estimate, a power of 2 (default 256)")
    _factor_options(sobol)
    _common(sobol, "Sobol' sequence and the bootstrap")
    sobol.set_defaults(func=run_command)

    morris = analyses.add_parser(
        "morris", help="Morris elementary effects (mu*, sigma)",
        description="R trajectories of D+1 runs; writes DIR/morris_indices.csv, "
        "DIR/morris_problem.csv and DIR/morris.{png,svg,pdf}.")
    morris.add_argument("-r", "--trajectories", type=_at_least_two, default=20, metavar="R",
                        help="trajectories (default 20)")
    morris.add_argument("--levels", type=_even, default=4, help="grid levels (default 4)")
    _factor_options(morris)
    _common(morris, "trajectories and the bootstrap")
    morris.set_defaults(func=run_command)


def _csv(frame: Any, path: Path) -> None:
    write_atomically(path, lambda handle: frame.to_csv(handle, index=False, float_format="%.10g",
                                                       lineterminator="\n"))


def _bands(args: argparse.Namespace, model: Any, options: dict[str, Any]) -> str:
    import pandas as pd

    from clusterdyn.calibration.command import plural
    from clusterdyn.ensembles.bands import band_table, bands_samples, write_bands_csv
    from clusterdyn.ensembles.distributed import dataset_bands, stream_to_parquet
    from clusterdyn.ensembles.plots import plot_bands, save_figure_files
    from clusterdyn.ensembles.runner import plan_ensemble, run_ensemble
    from clusterdyn.sdmodels.model import PUBLIC_OUTPUTS

    samples, base, ranges = bands_samples(model, args.runs, seed=args.seed, results=args.results,
                                          sampling=args.sampling)
    plan = plan_ensemble(model, samples, base=base, variables=list(PUBLIC_OUTPUTS))
    if args.save_runs:
        folder = stream_to_parquet(plan, args.output / "runs", metadata={"seed": args.seed},
                                   **options)
        bands = dataset_bands(folder)
    else:
        result = run_ensemble(plan, **options)
        bands = band_table(result.years, {v: result.get(v) for v in result.variables})
    reference = model.run({r.name: r.value for r in ranges})
    how = {"lhs": "Latin hypercube over the calibrated 95% intervals",
           "posterior": "drawn from the calibration's Gaussian posterior approximation",
           "mcmc": "resampled from the calibration's MCMC posterior draws"}[args.sampling]
    fig = plot_bands(bands, reference, title=f"Monte Carlo bands: {plural(args.runs, 'run')}, "
                     f"{how} (seed {args.seed})")
    save_figure_files(fig, args.output, "bands")
    table = pd.DataFrame([vars(r) for r in ranges])
    _csv(table, args.output / "ranges.csv")
    write_atomically(args.output / "bands.csv", lambda handle: write_bands_csv(bands, handle))
    runs = " and runs/" if args.save_runs else ""
    return f"{plural(args.runs, 'run')}; wrote bands.csv, ranges.csv, bands.png/.svg/.pdf{runs}"


def _sobol(args: argparse.Namespace, model: Any, options: dict[str, Any]) -> str:
    from clusterdyn.calibration.command import plural
    from clusterdyn.ensembles.plots import plot_indices, save_figure_files
    from clusterdyn.ensembles.sensitivity import problem_frame, sobol_indices

    result = sobol_indices(model, args.base_samples, seed=args.seed, ranges=args.ranges,
                           log_kpis=args.log_kpis, resamples=args.resamples, **options)
    fig = plot_indices(result.indices, "ST", "ST_conf", "S1", ("total (ST)", "first order (S1)"),
                       title=f"Sobol' indices of the 2003 KPIs: {result.n_base} base samples, "
                       f"{plural(result.runs, 'run')} (seed {args.seed})", unit_range=True,
                       xlabel="share of the KPI's variance; error bars: bootstrap 95% intervals")
    save_figure_files(fig, args.output, "sobol")
    _csv(problem_frame(result.problem), args.output / "sobol_problem.csv")
    _csv(result.convergence, args.output / "sobol_convergence.csv")
    _csv(result.indices, args.output / "sobol_indices.csv")
    worst = result.convergence[["max_change_S1", "max_change_ST"]].to_numpy().max()
    return (f"{plural(result.runs, 'run')}; largest index change from N={args.base_samples} to "
            f"2N={result.n_base}: {worst:.3f}; wrote sobol_indices.csv, sobol_convergence.csv, "
            "sobol_problem.csv, sobol.png/.svg/.pdf")


def _morris(args: argparse.Namespace, model: Any, options: dict[str, Any]) -> str:
    from clusterdyn.calibration.command import plural
    from clusterdyn.ensembles.plots import plot_indices, save_figure_files
    from clusterdyn.ensembles.sensitivity import morris_indices, problem_frame

    result = morris_indices(model, args.trajectories, seed=args.seed, levels=args.levels,
                            ranges=args.ranges, log_kpis=args.log_kpis,
                            resamples=args.resamples, **options)
    fig = plot_indices(result.indices, "mu_star", "mu_star_conf", "sigma",
                       ("mu* (mean |elementary effect|)", "sigma"),
                       title=f"Morris screening of the 2003 KPIs: {result.trajectories} "
                       f"trajectories, {result.levels} levels, {plural(result.runs, 'run')} "
                       f"(seed {args.seed})",
                       xlabel="KPI change for a move across the factor's whole range; error bars: "
                       "bootstrap 95% intervals of mu*")
    save_figure_files(fig, args.output, "morris")
    _csv(problem_frame(result.problem), args.output / "morris_problem.csv")
    _csv(result.indices, args.output / "morris_indices.csv")
    return (f"{plural(result.runs, 'run')}; wrote morris_indices.csv, morris_problem.csv, "
            "morris.png/.svg/.pdf")


@contextlib.contextmanager
def _engine(args: argparse.Namespace, model: Any) -> Iterator[None]:
    """Make the chosen engine the one that runs ``model``'s chunks while the analysis runs.

    ``compiled`` (or ``auto`` when the compiler accepts the model) changes nothing. PySD (asked
    for, or ``auto``'s fallback) is placed in the ensemble runner's per-process registry for
    the analysis only, so it runs in this process (threads at most).

    Raises
    ------
    clusterdyn.calibration.runners.EngineError
        ``--engine compiled`` for a model the compiler refuses.
    UsageError
        PySD with ``--scheduler`` or with ``--workers`` processes.
    """
    from clusterdyn.calibration.runners import PysdRunner, make_runner
    from clusterdyn.ensembles import runner as ensemble_runner

    chosen = make_runner(model, args.engine, command="clusterdyn sensitivity")
    if not isinstance(chosen, PysdRunner):
        yield
        return
    if args.scheduler is not None or (args.workers is not None and not args.threads):
        raise UsageError("the PySD engine runs in this process only: drop --scheduler, or use "
                         "--workers K with --threads")
    key = (ensemble_runner.model_reference(model), model.sha256)
    with ensemble_runner._LOCK:
        before = ensemble_runner._COMPILED.get(key)
        ensemble_runner._COMPILED[key] = chosen  # type: ignore[assignment]
    try:
        yield
    finally:
        with ensemble_runner._LOCK:
            if before is None:
                ensemble_runner._COMPILED.pop(key, None)
            else:
                ensemble_runner._COMPILED[key] = before


def run_command(args: argparse.Namespace) -> int:
    """Run ``clusterdyn sensitivity <analysis>``; bad input raises :class:`UsageError`."""
    from clusterdyn.ensembles.distributed import ClusterError, dask_client
    from clusterdyn.ensembles.runner import DEFAULT_CHUNK
    from clusterdyn.sdmodels import load_model

    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"-o {args.output}: expected a folder, but it is a file")
    if args.threads and args.workers is None:
        raise UsageError("--threads applies to --workers K (a local cluster)")
    model = load_model(args.model)
    started = time.perf_counter()
    analysis = {"bands": _bands, "sobol": _sobol, "morris": _morris}[args.analysis]
    try:
        with _engine(args, model), dask_client(args.scheduler, args.workers,
                                               processes=not args.threads) as client:
            options = {"chunk_size": args.chunk_size or DEFAULT_CHUNK, "client": client,
                       "progress": not args.no_progress}
            summary = analysis(args, model, options)
    except ClusterError as exc:
        raise UsageError(str(exc)) from None
    print(f"{summary} to {args.output} in {time.perf_counter() - started:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """A ``clusterdyn`` parser holding only the ``sensitivity`` subcommand."""
    parser = argparse.ArgumentParser(prog="clusterdyn")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sensitivity`` stand-alone, with ``clusterdyn``'s one-line errors (exit status 2)."""
    from clusterdyn.calibration.spec import SpecError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, ModelInputError, SimulationError, SpecError) as exc:
        print(f"clusterdyn {args.command}: error: {exc}", file=sys.stderr)
        return 2


__all__ = ["add_parser", "build_parser", "main", "run_command"]
