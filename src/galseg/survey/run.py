"""``galseg survey``: a catalog of any size through a task, on a Dask cluster.

The client (this process) reads the catalog a partition at a time
(:class:`~galseg.data.catalogs.CatalogPartitions`, or a HATS catalog through
:mod:`galseg.survey.hats`), sends each partition's few input columns to a worker
(:func:`galseg.survey.tasks.run_partition`), and writes what comes back, joined to
the partition's full rows, as one part file (:class:`~galseg.survey.output.SurveyOutput`).
At most ``2 x workers + 1`` partitions are in flight, so the client's memory does not
grow with the catalog. Workers are those of an existing cluster (``scheduler``) or
of a local one started here (``workers`` threads of this process, or processes).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from tqdm import tqdm

from galseg.errors import GalsegError, InputFileError
from galseg.survey.output import (
    CATALOG_NAME,
    MAPS_NAME,
    OBJECTS_NAME,
    SurveyOutput,
    create_maps_store,
    shard_rows,
    task_column,
    write_map_ids,
)
from galseg.survey.tasks import MORPHOLOGY_COLUMNS, SurveySettings, run_partition, segment_columns


@dataclass
class SurveyResult:
    """What :func:`run_survey` did.

    Attributes
    ----------
    catalog : Path
        ``DIR/catalog.parquet`` (None while partitions are missing).
    n_rows : int
        Rows in the catalog.
    n_done_before : int
        Rows already done by an earlier run (not computed again).
    n_errors : int
        Rows computed by this call with a non-empty ``error``.
    errors : dict of str to int
        Rows per error reason (first word), this call.
    failed_partitions : dict of int to str
        Partitions whose task raised (run again to retry them).
    elapsed_s : float
    dashboard : str or None
        The Dask dashboard's address, when it runs.
    """

    catalog: Path | None
    n_rows: int
    n_done_before: int = 0
    n_errors: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    failed_partitions: dict[int, str] = field(default_factory=dict)
    elapsed_s: float = 0.0
    dashboard: str | None = None

    @property
    def rows_per_s(self) -> float:
        """Rows computed by this call per second."""
        done = self.n_rows - self.n_done_before
        return done / self.elapsed_s if self.elapsed_s > 0 and self.catalog else 0.0


def task_column_types(settings: SurveySettings) -> dict[str, type]:
    """The columns ``settings.task`` adds, in order, and their types."""
    if settings.task == "segment":
        kinds = {"file": str, **segment_columns(), "redshift": float, "error": str}
        if settings.maps:
            kinds["map_stored"] = bool
        return kinds
    if settings.task == "shreds":
        return {"p_shred": float, "is_shred": bool, "shred_flag": str, "error": str}
    if settings.task == "morphology":
        return {"file": str, **{n: (int if t is np.int64 else t) for n, t in MORPHOLOGY_COLUMNS},
                "error": str}
    return {"file": str, "n_objects": int, "error": str}


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    if path.is_dir():  # a HATS catalog: its files' names, sizes and times
        for item in sorted(path.rglob("*")):
            if item.is_file():
                stat = item.stat()
                digest.update(f"{item.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}"
                              .encode())
        return digest.hexdigest()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _model_digest(settings: SurveySettings) -> dict[str, str | None]:
    from galseg.models.weights import default_model_path

    defaults = {"segment": "segmenter_default", "shreds": "shreds_default",
                "morphology": "detector_default", "detect": "detector_default"}
    model = Path(settings.model) if settings.model else default_model_path(
        defaults[settings.task])
    out = {"model": _file_digest(model) if model.is_file() else str(model)}
    if settings.task in ("morphology", "detect") and settings.morphology not in (None, "none"):
        classifier = (default_model_path("morphology_default")
                      if settings.morphology == "default" else Path(settings.morphology))
        out["morphology"] = _file_digest(classifier) if classifier.is_file() else str(classifier)
    return out


def run_key(catalog: Path, settings: SurveySettings, partition_rows: int) -> str:
    """Hash of what decides a survey's results: the catalog's bytes, the model files and
    every setting that changes a number (not the device, threads or batch size)."""
    options = asdict(settings)
    for name in ("device", "batch_size", "read_threads", "torch_threads", "maps_path",
                 "map_shape", "shard_rows"):
        options.pop(name)
    if settings.fetch is not None:
        fetch = options["fetch"]
        for name in ("cache_dir", "url", "retries", "backoff_s", "rate_per_s", "timeout_s"):
            fetch.pop(name)
    if settings.images_dir is not None:
        options["images_dir"] = str(Path(settings.images_dir).resolve())
    options.update(catalog=_file_digest(catalog), models=_model_digest(settings),
                   partition_rows=partition_rows)
    return hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()


def open_partitions(catalog: Path) -> Any:
    """The catalog as partitions: a file (FITS, CSV, ECSV, Parquet) or a HATS folder."""
    if catalog.is_dir():
        from galseg.survey.hats import HatsPartitions

        return HatsPartitions(catalog)
    from galseg.data.catalogs import CatalogPartitions

    return CatalogPartitions(catalog)


@contextmanager
def dask_client(scheduler: str | None, workers: int | None, *, processes: bool = True,
                threads_per_worker: int = 1) -> Iterator[Any]:
    """A ``distributed.Client`` of the cluster at ``scheduler``, or of a local cluster of
    ``workers`` processes (threads with ``processes=False``) closed afterwards."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="60s")
        except OSError as error:
            raise GalsegError(f"cannot reach the Dask scheduler at {scheduler} ({error})") \
                from None
        try:
            yield client
        finally:
            client.close()
        return
    where = {"host": "127.0.0.1"} if processes else {}  # threads talk in-process
    cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=threads_per_worker,
                           processes=processes, dashboard_address="127.0.0.1:0",
                           silence_logs=logging.ERROR, **where)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _dashboard(client: Any) -> str | None:
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # an old or busy scheduler: no address, nothing else lost
        return None
    if "dashboard" not in services:
        return None
    try:
        import bokeh  # noqa: F401  the dashboard's plots need it
    except ImportError:
        return f"{client.dashboard_link} (its plots need bokeh: pip install bokeh)"
    return client.dashboard_link


def _first_image_shape(catalog: Any, settings: SurveySettings) -> tuple[int, int]:
    """The map shape of ``--maps``: the fetched size, or the first readable cutout's."""
    if settings.fetch is not None:
        return settings.fetch.size, settings.fetch.size
    from galseg.survey.tasks import _RowFiles

    for table in catalog.partitions(256):
        files = _RowFiles(settings, table[settings.input_columns(table.colnames)])
        for k in range(len(files)):
            image = files.read(k)
            if not isinstance(image, str):
                return image.shape
    raise GalsegError("--maps: no row has a readable image to size the maps store by")


def run_survey(
    catalog: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: SurveySettings,
    *,
    partition_rows: int = 1000,
    scheduler: str | None = None,
    workers: int | None = None,
    processes: bool = False,
    restart: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    client: Any = None,
) -> SurveyResult:
    """Run ``settings.task`` over every row of ``catalog`` into ``out_dir``.

    Parameters
    ----------
    catalog : path
        FITS, CSV, ECSV or Parquet file, or a HATS catalog folder (needs ``lsdb``).
    out_dir : path
        Output folder (:mod:`galseg.survey.output`); reused by a run of the same key.
    settings : SurveySettings
        The task and its options.
    partition_rows : int
        Rows per partition: the unit of work, of resuming and of memory.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    workers : int, optional
        Workers of the local cluster when no scheduler is given (default: cores).
    processes : bool
        Local cluster of worker processes, or (default) of threads in this process:
        no worker start-up, one copy of the model.
    restart : bool
        Discard an earlier run with other settings in ``out_dir``.
    client : distributed.Client, optional
        Use this client instead of making one.

    Returns
    -------
    SurveyResult
    """
    start_time = time.perf_counter()
    log = log or (lambda text: print(text, file=sys.stderr))
    catalog, out_dir = Path(catalog), Path(out_dir)
    if isinstance(partition_rows, bool) or not isinstance(partition_rows, int) \
            or partition_rows < 1:
        raise ValueError(f"partition_rows must be a positive integer, got {partition_rows!r}")
    if not catalog.exists():
        raise InputFileError(catalog, "catalog does not exist")
    if settings.images_dir is not None and not Path(settings.images_dir).is_dir():
        raise InputFileError(Path(settings.images_dir), "image folder does not exist")
    partitions = open_partitions(catalog)
    n_rows = partitions.n_rows
    first = next(iter(partitions.partitions(1)))
    columns = task_column_types(settings)
    clash = [c for c in columns if c in first.colnames]
    if clash:
        raise GalsegError(f"{catalog}: the catalog already has column(s) {', '.join(clash)} "
                          f"that --task {settings.task} adds; rename them")
    missing = [c for c in settings.input_columns(first.colnames) if c not in first.colnames]
    if missing:
        raise GalsegError(f"{catalog}: no column {', '.join(map(repr, missing))} (columns: "
                          f"{', '.join(first.colnames)})")
    if settings.maps and settings.task not in ("segment", "detect"):
        raise GalsegError("--maps is for --task segment (vote-fraction maps) and --task "
                          "detect (segmentation maps)")
    key = run_key(catalog, settings, partition_rows)
    output = SurveyOutput(out_dir, key=key, n_rows=n_rows, partition_rows=partition_rows,
                          task=settings.task, restart=restart)
    detect = settings.task == "detect"
    if output.complete:
        log(f"{out_dir / CATALOG_NAME} is complete (same catalog and settings); nothing to do")
        return SurveyResult(out_dir / CATALOG_NAME, n_rows, n_done_before=n_rows,
                            elapsed_s=time.perf_counter() - start_time)
    if settings.maps:
        settings = _with_maps(settings, output, partitions, n_rows, partition_rows)

    done = output.done()
    n_before = sum(output.rows_in(i) for i in done)
    if done:
        log(f"resuming: {len(done)} of {output.n_partitions} partitions ({n_before} rows) "
            "already done")
    result = SurveyResult(None, n_rows, n_done_before=n_before)
    errors: Counter[str] = Counter()
    bar = tqdm(total=n_rows, initial=n_before, unit="row", desc=f"survey {settings.task}",
               disable=not progress, smoothing=0.1, dynamic_ncols=True)
    try:
        with (_given(client) if client is not None
              else dask_client(scheduler, workers, processes=processes)) as dask:
            result.dashboard = _dashboard(dask)
            if result.dashboard:
                log(f"Dask dashboard: {result.dashboard}")
            n_workers = max(1, len(dask.scheduler_info().get("workers", {})))
            if settings.fetch is not None and settings.fetch.rate_per_s:
                # --rate is for all workers together: each worker process gets its share
                share = settings.fetch.rate_per_s / n_workers
                settings = replace(settings, fetch=replace(settings.fetch, rate_per_s=share))
            _process(dask, partitions, settings, output, partition_rows, done, columns,
                     bar, errors, result, in_flight=2 * n_workers + 1)
    finally:
        bar.close()
    result.errors = dict(errors.most_common())
    result.n_errors = sum(errors.values())
    if not result.failed_partitions:
        result.catalog = output.finish(objects=detect)
    result.elapsed_s = time.perf_counter() - start_time
    return result


@contextmanager
def _given(client: Any) -> Iterator[Any]:
    yield client


def _with_maps(settings: SurveySettings, output: SurveyOutput, partitions: Any, n_rows: int,
               partition_rows: int) -> SurveySettings:
    if settings.task == "detect":
        folder = output.dir / "segmaps"
        folder.mkdir(exist_ok=True)
        return replace(settings, maps_path=str(folder))
    store = output.dir / MAPS_NAME
    if not (store / "zarr.json").is_file() or not output.done():
        shape = _first_image_shape(partitions, settings)
        create_maps_store(store, n_rows=n_rows, shape=shape, partition_rows=partition_rows,
                          id_column=settings.id_column,
                          attrs={"galseg_task": settings.task, "key": output.key})
    import zarr

    shape = tuple(zarr.open_group(store, mode="r").attrs["map_shape"])
    return replace(settings, maps_path=str(store), map_shape=shape,
                   shard_rows=shard_rows(partition_rows))


def _process(client: Any, partitions: Any, settings: SurveySettings, output: SurveyOutput,
             partition_rows: int, done: set[int], columns: dict[str, type], bar: tqdm,
             errors: Counter[str], result: SurveyResult, *, in_flight: int) -> None:
    from distributed import as_completed

    pending: dict[Any, tuple[int, int, Table]] = {}
    queue = as_completed()

    def handle(future: Any) -> None:
        index, start, table = pending.pop(future)
        try:
            part = future.result()
        except Exception as error:  # the task raised on the worker: retried by a rerun
            result.failed_partitions[index] = f"{type(error).__name__}: {error}"
            bar.write(f"error: partition {index} (rows {start}-{start + len(table) - 1}) "
                      f"failed: {type(error).__name__}: {error}")
            return
        finally:
            future.release()
        joined = table.copy(copy_data=False)
        for name, kind in columns.items():
            joined[name] = task_column(part.columns[name], kind, name)
        if settings.maps and settings.task == "segment":
            ids = (table[settings.id_column] if settings.id_column in table.colnames
                   else np.arange(start, start + len(table)))
            write_map_ids(Path(settings.maps_path), start, list(ids))
        output.write_partition(index, joined, part.objects)
        errors.update(str(e).split(":", 1)[0] for e in part.columns["error"] if e)
        bar.update(len(table))

    start = 0
    for index, table in enumerate(partitions.partitions(partition_rows)):
        if index not in done:
            inputs = table[settings.input_columns(table.colnames)]
            future = client.submit(run_partition, settings, index, start, inputs, pure=False,
                                   key=f"galseg-survey-{output.key[:12]}-{index}")
            pending[future] = (index, start, table)
            queue.add(future)
            while len(pending) >= in_flight:
                handle(next(queue))
        start += len(table)
    for future in queue:
        handle(future)


__all__ = ["CATALOG_NAME", "OBJECTS_NAME", "SurveyResult", "dask_client", "open_partitions",
           "run_key", "run_survey", "task_column_types"]
