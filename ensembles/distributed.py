"""Scale-out: Dask clusters, and ensembles streamed to a Parquet dataset chunk by chunk.

:func:`dask_client` connects to a running scheduler or starts a local cluster; its client is
what :func:`clusterdyn.ensembles.runner.run_ensemble`,
:func:`clusterdyn.ensembles.bands.monte_carlo_bands` and the
sensitivity functions accept as ``client``. :func:`stream_to_parquet` writes each chunk to
its own Parquet file as soon as it is done, so the memory held stays that of a few chunks
whatever the number of runs; :func:`read_variable` and :func:`dataset_bands` read the dataset
back one variable at a time.

Dataset layout (a folder)::

    samples.parquet        run, then one column per sampled parameter
    part-00000.parquet     run, year, then one column per variable (rows: run-major)
    ...
    manifest.json          runs, years, variables, parts, model and settings (written last)

>>> with dask_client(workers=2) as client:
...     stream_to_parquet(plan, "out/runs", client=client)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from clusterdyn.ensembles.bands import band_table
from clusterdyn.ensembles.runner import DEFAULT_CHUNK, EnsemblePlan, iter_chunks
from clusterdyn.io import current_umask
from clusterdyn.sdmodels.errors import ModelInputError

MANIFEST = "manifest.json"
SAMPLES = "samples.parquet"


class ClusterError(RuntimeError):
    """The Dask scheduler could not be reached or the local cluster did not start."""


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                processes: bool = True, timeout: float = 10.0) -> Iterator[Any]:
    """A Dask client for the duration of the block (None when neither option is given).

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``. Its workers need this
        project installed (the same model version; checked by SHA-256).
    workers : int, optional
        Start a :class:`distributed.LocalCluster` with this many workers of one thread each
        (closed at the end of the block).
    processes : bool
        Local workers are processes (default) or threads of this process.
    timeout : float
        Seconds to wait for the scheduler.

    Raises
    ------
    ModelInputError
        If both or invalid options are given.
    ClusterError
        If the address is invalid or the scheduler cannot be reached.
    """
    if scheduler is not None and workers is not None:
        raise ModelInputError("give a scheduler address or a number of local workers, not both")
    if scheduler is None and workers is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=timeout)
        except ValueError as exc:
            raise ClusterError(f"invalid Dask scheduler address {scheduler!r}: {exc}") from None
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}"
                               ) from None
        try:
            yield client
        finally:
            client.close()
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ModelInputError(f"workers = {workers!r}: expected a positive whole number")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        yield client


def _staging(target: Path) -> Path:
    if target.exists() and not target.is_dir():
        raise ModelInputError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise ModelInputError(f"{target} is a folder that holds other files than an ensemble "
                              "dataset: choose a new or empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))


def _write_table(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def stream_to_parquet(plan: EnsemblePlan, folder: str | Path,
                      chunk_size: int = DEFAULT_CHUNK, client: Any = None,
                      max_in_flight: int | None = None, progress: bool = False,
                      metadata: Mapping[str, Any] | None = None) -> Path:
    """Simulate ``plan`` and write it as a Parquet dataset, one file per chunk.

    The dataset is built in a hidden folder beside ``folder`` and renamed into place when
    complete (replacing a previous dataset there), so a failure leaves ``folder`` as it was.

    Parameters
    ----------
    plan : EnsemblePlan
        From :func:`clusterdyn.ensembles.runner.plan_ensemble`.
    folder : path
        The dataset folder (new, empty, or holding a previous dataset).
    chunk_size, client, max_in_flight, progress
        As in :func:`clusterdyn.ensembles.runner.iter_chunks`.
    metadata : mapping, optional
        JSON-serialisable entries added to the manifest (e.g. the seed).

    Returns
    -------
    pathlib.Path
        ``folder``.
    """
    target = Path(folder)
    staging = _staging(target)
    try:
        samples = pa.Table.from_pandas(
            plan.samples.reset_index(drop=True).rename_axis("run").reset_index(),
            preserve_index=False)
        _write_table(samples, staging / SAMPLES)
        parts = []
        n_years = len(plan.years)
        for lo, hi, values in iter_chunks(plan, chunk_size, client, max_in_flight, progress):
            columns = {"run": np.repeat(np.arange(lo, hi, dtype=np.int64), n_years),
                       "year": np.tile(plan.years.astype(np.int32), hi - lo)}
            flat = values.reshape(-1, len(plan.variables))
            for k, name in enumerate(plan.variables):
                columns[name] = flat[:, k]
            file = f"part-{lo // chunk_size:05d}.parquet"
            _write_table(pa.table(columns), staging / file)
            parts.append({"file": file, "first_run": lo, "runs": hi - lo})
            del values, flat, columns
        parts.sort(key=lambda p: p["first_run"])
        manifest = {
            "model": plan.model.name, "model_sha256": plan.model.sha256,
            "runs": plan.n_runs, "years": [int(y) for y in plan.years],
            "variables": list(plan.variables), "until": plan.until, "dt": plan.dt,
            "base": plan.base, "chunk_size": chunk_size, "parts": parts,
            **dict(metadata or {}),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        os.chmod(staging, 0o777 & ~current_umask())  # mkdtemp's folders are private (0700)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a dataset written by :func:`stream_to_parquet`."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ModelInputError(f"{folder} is not an ensemble dataset (no {MANIFEST})")
    return json.loads(path.read_text(encoding="utf-8"))


def read_variable(folder: str | Path, name: str) -> np.ndarray:
    """One variable of every run of a dataset, read part by part.

    Returns
    -------
    numpy.ndarray
        Shape ``(n_runs, n_years)``, runs in order.
    """
    manifest = read_manifest(folder)
    if name not in manifest["variables"]:
        raise ModelInputError(f"variable {name!r} is not in the dataset {folder}; it holds "
                              + ", ".join(manifest["variables"]))
    n_years = len(manifest["years"])
    out = np.empty((manifest["runs"], n_years))
    for part in manifest["parts"]:
        lo, hi = part["first_run"], part["first_run"] + part["runs"]
        column = pq.read_table(Path(folder) / part["file"], columns=[name]).column(name)
        out[lo:hi] = column.to_numpy().reshape(hi - lo, n_years)
    return out


def read_samples(folder: str | Path) -> pd.DataFrame:
    """The parameter sets of a dataset (index ``run``)."""
    read_manifest(folder)
    return pq.read_table(Path(folder) / SAMPLES).to_pandas().set_index("run")


def dataset_bands(folder: str | Path) -> pd.DataFrame:
    """Bands of every variable of a dataset (one variable in memory at a time).

    Returns
    -------
    pandas.DataFrame
        See :func:`clusterdyn.ensembles.bands.band_table`.
    """
    manifest = read_manifest(folder)
    years = np.asarray(manifest["years"])
    frames = [band_table(years, {name: read_variable(folder, name)})
              for name in manifest["variables"]]
    return pd.concat(frames, ignore_index=True)


__all__ = [
    "ClusterError",
    "dask_client",
    "dataset_bands",
    "read_manifest",
    "read_samples",
    "read_variable",
    "stream_to_parquet",
]
