"""What a survey worker does with one partition of catalog rows.

:func:`run_partition` is the function the Dask workers run. It gets the run's
:class:`SurveySettings` and the partition's rows (only the columns the task reads),
and returns the task's columns for those rows, in order (:class:`PartitionResult`).
The models are loaded once per worker process (:func:`_cached`) and kept for every
later partition. Inside a partition, threads read and decode the images of the
next batch and measure the maps of the last one while the network runs
(:func:`_ordered_map`), so a worker's cores are not idle while files are read.

The numbers are those of the single-file commands for the same images: the same
readers (:func:`galseg.data.images.read_image`,
:class:`galseg.predict.shred_catalog.FileCutouts`), models and measurements
(``galseg segment``'s catalog columns, ``galseg shreds``' ``p_shred``,
``galseg detect``'s object rows).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from astropy.table import Table

from galseg.data.fields import STREAM_MIN_PIXELS
from galseg.errors import InputFileError
from galseg.survey.fetch import CutoutFetcher, FetchError, FetchSettings

T = TypeVar("T")
U = TypeVar("U")

TASKS = ("segment", "shreds", "morphology", "detect")
"""What ``galseg survey --task`` can do."""

FIELD_BLOCK_BATCHES = 4
"""Batches of tiles (of the detector's batch size) per task of a big field."""

MORPHOLOGY_COLUMNS = (("n_objects", np.int64), ("class", str), ("score", float),
                      ("p_spiral", float), ("p_elliptical", float), ("p_star", float),
                      ("centroid_x", float), ("centroid_y", float), ("object_ra", float),
                      ("object_dec", float), ("area_px", np.int64),
                      ("area_arcsec2", float))
"""``--task morphology`` columns: the detected object at the cutout's centre."""


@dataclass(frozen=True)
class SurveySettings:
    """Everything a worker needs to process a partition (picklable).

    Attributes are the options of ``galseg survey`` (docs/survey.md). ``maps`` asks for
    the maps; :func:`~galseg.survey.run.run_survey` sets ``maps_path`` (the Zarr store of
    segment, the segmentation-map folder of detect), ``map_shape`` and ``shard_rows``.
    """

    task: str
    images_dir: str | None = None
    pattern: str = "{id}_grz.png"
    id_column: str = "id"
    fetch: FetchSettings | None = None
    ra_column: str = "ra"
    dec_column: str = "dec"
    model: str | None = None
    morphology: str | None = "default"
    device: str | None = None
    batch_size: int = 32
    read_threads: int = 4
    torch_threads: int | None = None
    pixscale_arcsec: float | None = None
    bands: str | None = None
    bunit: str | None = None
    # segment
    scale: str = "frame"
    views: int | None = None
    redshift: float | None = None
    redshift_column: str | None = None
    # shreds
    min_coverage: float = 0.75
    threshold: float | None = None
    tta: bool = False
    # detect and morphology
    score_threshold: float | None = None
    tile_size: int = 512
    tile_overlap: int = 128
    field_min_pixels: int | None = STREAM_MIN_PIXELS
    maps: bool = False
    maps_path: str | None = None
    map_shape: tuple[int, int] | None = None
    shard_rows: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if (self.images_dir is None) == (self.fetch is None):
            raise ValueError("give either images_dir (one file per row) or fetch, not both "
                             "or neither")

    @property
    def image_pixscale(self) -> float | None:
        """Pixel scale to read images with: the user's, or the one a JPEG was fetched at."""
        if self.pixscale_arcsec is not None:
            return self.pixscale_arcsec
        if self.fetch is not None and self.fetch.spec.suffix != ".fits":
            return self.fetch.scale
        return None

    def input_columns(self, colnames: list[str]) -> list[str]:
        """The catalog columns a worker reads."""
        from galseg.predict.shred_catalog import _pattern_fields

        if self.fetch is not None:
            needed = [self.ra_column, self.dec_column]
        else:
            needed = [self.id_column if f == "id" else f
                      for f in _pattern_fields(self.pattern, colnames, self.id_column)]
        if self.task == "segment" and self.redshift_column:
            needed.append(self.redshift_column)
        return list(dict.fromkeys(needed))


@dataclass
class PartitionResult:
    """The task's columns for one partition, row for row.

    Attributes
    ----------
    index : int
        Partition number.
    columns : dict of str to list
        Column name -> one value per row (None where unknown).
    objects : astropy.table.Table or None
        ``--task detect``: one row per object, with ``row`` (the input row number).
        Big FITS fields (``field_min_pixels``) are read window by window and their
        blocks of tiles run as separate tasks on the cluster.
    n_errors : int
        Rows with a non-empty ``error``.
    """

    index: int
    columns: dict[str, list[Any]]
    objects: Table | None = None
    n_errors: int = 0
    timings: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------- workers' state

_MODELS: dict[tuple[Any, ...], Any] = {}
_MODELS_LOCK = threading.Lock()


def _cached(key: tuple[Any, ...], load: Callable[[], T]) -> T:
    """``load()`` once per worker process and key: every later partition reuses it."""
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = load()
        return _MODELS[key]


def _ordered_map(pool: ThreadPoolExecutor, function: Callable[[T], U], items: Iterable[T],
                 window: int) -> Iterator[U]:
    """``function`` over ``items`` in ``pool``'s threads, results in order, at most
    ``window`` running ahead of the consumer (bounded memory)."""
    pending: deque[Future[U]] = deque()
    for item in items:
        pending.append(pool.submit(function, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


# --------------------------------------------------------------------------- row sources


class _RowFiles:
    """Where each row's image is: a file in ``images_dir`` (pattern) or a fetched one."""

    def __init__(self, settings: SurveySettings, table: Table) -> None:
        self.settings = settings
        self.table = table
        if settings.fetch is not None:
            from galseg.predict.shred_catalog import _float_values

            rows = np.arange(len(table))
            self.ra = _float_values(table[settings.ra_column], rows)
            self.dec = _float_values(table[settings.dec_column], rows)
            self.fetcher = _cached(("fetcher", settings.fetch),
                                   lambda: CutoutFetcher(settings.fetch))
            self.names: list[Any] = []
        else:
            self.names = self._file_cutouts(size=128, model_pixscale=1.0).names(
                np.arange(len(table)))

    def _file_cutouts(self, *, size: int, model_pixscale: float) -> Any:
        from galseg.predict.shred_catalog import FileCutouts

        s = self.settings
        table = None if s.fetch is not None else self.table
        return FileCutouts(table, images_dir=Path(s.images_dir or "."), pattern=s.pattern,
                           id_column=s.id_column, size=size, model_pixscale=model_pixscale,
                           pixscale_arcsec=s.image_pixscale, bands=s.bands, bunit=s.bunit,
                           min_coverage=s.min_coverage, workers=1)

    def __len__(self) -> int:
        return len(self.table)

    def locate(self, k: int) -> str | tuple[None, str]:
        """Row ``k``'s file name (relative to ``images_dir``, or absolute), or
        ``(None, reason)``."""
        if self.settings.fetch is None:
            return self.names[k]
        try:
            return str(self.fetcher.fetch(self.ra[k], self.dec[k]))
        except FetchError as error:
            return None, f"fetch: {error.reason}"

    def path(self, name: str) -> Path:
        return Path(self.settings.images_dir or ".") / name

    def read(self, k: int, paths: list[str] | None = None) -> Any:
        """Row ``k``'s :class:`~galseg.data.images.InputImage`, or its error text; the
        file's path is written into ``paths[k]`` when given."""
        from galseg.data.images import read_image

        where = self.locate(k)
        if not isinstance(where, str):
            return where[1]
        path = self.path(where)
        if paths is not None:
            paths[k] = str(path)
        s = self.settings
        try:
            image = read_image(path, pixscale_arcsec=s.image_pixscale, bands=s.bands,
                               bunit=s.bunit)
        except InputFileError as error:
            return "missing_cutout" if not path.exists() else error.reason
        except (OSError, ValueError, MemoryError) as error:
            return str(error)
        return image


# --------------------------------------------------------------------------- the tasks


def _torch_threads(settings: SurveySettings) -> None:
    if settings.torch_threads:
        import torch

        if torch.get_num_threads() != settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)


def run_partition(settings: SurveySettings, index: int, start: int,
                  table: Table) -> PartitionResult:
    """Run the survey's task on one partition (``table``: its rows, input columns only;
    ``start``: the number of its first row in the catalog)."""
    _torch_threads(settings)
    run = {"segment": _segment, "shreds": _shreds, "morphology": _detect,
           "detect": _detect}[settings.task]
    result = run(settings, index, start, table)
    result.n_errors = sum(1 for e in result.columns["error"] if e)
    return result


def _segmenter(settings: SurveySettings) -> Any:
    from galseg.predict.segment import Segmenter

    return _cached(("segmenter", settings.model, settings.scale, settings.views,
                    settings.batch_size, settings.device),
                   lambda: Segmenter(settings.model, scale=settings.scale, views=settings.views,
                                     batch_size=settings.batch_size, device=settings.device))


def segment_columns() -> dict[str, type]:
    """The measurement columns of ``--task segment`` and their types."""
    from galseg.measure import measure_features
    from galseg.measure.spirals import SpiralMeasurement

    blank = np.zeros((8, 8), np.float32)
    arms, bar = measure_features(blank, blank, pixscale_arcsec=None, redshift=None, wcs=None)
    spirals = SpiralMeasurement(blank, blank, arms=arms)
    row = {**arms.to_row(), **bar.to_row(), **spirals.to_row()}
    return {name: type(value) for name, value in row.items()}


class _MapWriter:
    """Writes a partition's maps into the run's Zarr store, one shard at a time."""

    def __init__(self, settings: SurveySettings, start: int, n: int) -> None:
        import zarr

        self.group = zarr.open_group(settings.maps_path, mode="r+")
        self.shape = tuple(settings.map_shape or ())
        self.start, self.n = start, n
        self.shard = settings.shard_rows or n
        self.buffer = np.full((self.shard, 2, *self.shape), np.nan, np.float32)
        self.first = 0  # partition row where the buffered shard begins

    def put(self, k: int, maps: np.ndarray | None) -> bool:
        """Row ``k``'s (2, H, W) maps (None: no map); rows come in order. True if stored."""
        while k >= self.first + self.shard:
            self._flush()
        stored = maps is not None and maps.shape[1:] == self.shape
        if stored:
            self.buffer[k - self.first] = maps
        return stored

    def _flush(self) -> None:
        rows = min(self.shard, self.n - self.first)
        if rows <= 0:
            return
        begin = self.start + self.first
        self.group["spiral_vote_fraction"][begin:begin + rows] = self.buffer[:rows, 0]
        self.group["bar_vote_fraction"][begin:begin + rows] = self.buffer[:rows, 1]
        self.buffer[:] = np.nan
        self.first += self.shard

    def close(self) -> None:
        while self.first < self.n:
            self._flush()


def _segment(settings: SurveySettings, index: int, start: int, table: Table) -> PartitionResult:

    segmenter = _segmenter(settings)
    files = _RowFiles(settings, table)
    n = len(table)
    redshifts = [settings.redshift] * n
    if settings.redshift_column:
        from galseg.predict.shred_catalog import _float_values

        values = _float_values(table[settings.redshift_column], np.arange(n))
        redshifts = [float(z) if math.isfinite(z) else None for z in values]
    kinds = segment_columns()
    columns: dict[str, list[Any]] = {"file": [""] * n, **{c: [None] * n for c in kinds},
                                     "redshift": redshifts, "error": [""] * n}
    maps = _MapWriter(settings, start, n) if settings.maps_path else None
    if maps is not None:
        columns["map_stored"] = [False] * n
    window = 2 * segmenter.batch_size

    def load(k: int) -> tuple[int, Any]:
        return k, files.read(k, columns["file"])

    with ThreadPoolExecutor(max(1, settings.read_threads)) as pool:
        measured: deque[tuple[int, Future[dict[str, Any]]]] = deque()
        batch: list[tuple[int, Any]] = []

        def settle(limit: int) -> None:
            while len(measured) > limit:
                k, future = measured.popleft()
                row = future.result()
                for name in kinds:
                    columns[name][k] = row.get(name)

        def flush() -> None:
            if not batch:
                return
            images = [image for _, image in batch]
            for (k, image), m in zip(batch, segmenter.predict_maps(images), strict=True):
                result = segmenter.result(image, m, redshifts[k])
                measured.append((k, pool.submit(lambda r: r.measurements, result)))
                if maps is not None:
                    columns["map_stored"][k] = maps.put(k, m)
            batch.clear()
            settle(window)

        for k, image in _ordered_map(pool, load, range(n), window):
            if isinstance(image, str):
                columns["error"][k] = image
                continue
            batch.append((k, image))
            if len(batch) >= segmenter.batch_size:
                flush()
        flush()
        settle(0)
    if maps is not None:
        maps.close()
    return PartitionResult(index, columns)


def _shred_classifier(settings: SurveySettings) -> Any:
    from galseg.predict.shreds import ShredClassifier

    return _cached(("shreds", settings.model, settings.device, settings.batch_size, settings.tta),
                   lambda: ShredClassifier.from_file(settings.model, device=settings.device,
                                                     batch_size=settings.batch_size,
                                                     tta=settings.tta))


def _shreds(settings: SurveySettings, index: int, start: int, table: Table) -> PartitionResult:
    classifier = _shred_classifier(settings)
    files = _RowFiles(settings, table)
    cutouts = files._file_cutouts(size=classifier.cutout_size,
                                  model_pixscale=classifier.pixscale_arcsec)
    n = len(table)
    p_shred = np.full(n, np.nan)
    flags = [""] * n

    def load(k: int) -> tuple[int, Any]:
        where = files.locate(k)
        return k, (cutouts.one(where) if isinstance(where, str) else where)

    chunk: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if chunk:
            p = classifier.predict_proba(np.stack([rgb for _, rgb in chunk]))
            p_shred[[k for k, _ in chunk]] = p
            chunk.clear()

    with ThreadPoolExecutor(max(1, settings.read_threads)) as pool:
        for k, (rgb, flag) in _ordered_map(pool, load, range(n), 2 * classifier.batch_size):
            flags[k] = flag
            if rgb is not None:
                chunk.append((k, rgb))
                if len(chunk) >= classifier.batch_size:
                    flush()
        flush()
    threshold = classifier.threshold if settings.threshold is None else settings.threshold
    known = ~np.isnan(p_shred)
    columns = {
        "p_shred": [float(p) if ok else None for p, ok in zip(p_shred, known, strict=True)],
        "is_shred": [bool(p >= threshold) if ok else None
                     for p, ok in zip(p_shred, known, strict=True)],
        "shred_flag": flags,
        "error": ["" if flag == "ok" else flag for flag in flags],
    }
    return PartitionResult(index, columns)


def _detector(settings: SurveySettings) -> Any:
    from galseg.predict.detect import Detector

    return _cached(("detector", settings.model, settings.morphology, settings.device,
                    settings.score_threshold, settings.tile_size, settings.tile_overlap),
                   lambda: Detector.from_file(settings.model, morphology=settings.morphology,
                                              device=settings.device,
                                              score_threshold=settings.score_threshold,
                                              tile_size=settings.tile_size,
                                              tile_overlap=settings.tile_overlap))


def _detect(settings: SurveySettings, index: int, start: int, table: Table) -> PartitionResult:
    """``--task detect`` (every object of each row's image) and ``--task morphology`` (the
    object at the centre of each row's cutout)."""
    from astropy.table import vstack

    from galseg.predict.detect_run import _write_outputs, detections_table

    detector = _detector(settings)
    files = _RowFiles(settings, table)
    n = len(table)
    morphology = settings.task == "morphology"
    columns: dict[str, list[Any]] = {"file": [""] * n}
    if morphology:
        columns.update({name: [None] * n for name, _ in MORPHOLOGY_COLUMNS})
    else:
        columns["n_objects"] = [None] * n
    columns["error"] = [""] * n
    objects = []

    def load(k: int) -> tuple[int, Any]:
        if not morphology:
            field = _big_field(settings, files, k)
            if field is not None:
                columns["file"][k] = str(field)
                return k, field
        return k, files.read(k, columns["file"])

    with ThreadPoolExecutor(max(1, settings.read_threads)) as pool:
        for k, image in _ordered_map(pool, load, range(n), 2):
            if isinstance(image, Path):
                try:
                    rows = _detect_field(settings, detector, image, start + k)
                except (InputFileError, OSError, ValueError) as error:
                    columns["error"][k] = getattr(error, "reason", str(error))
                    continue
                columns["n_objects"][k] = len(rows)
                objects.append(rows)
                continue
            if isinstance(image, str):
                columns["error"][k] = image
                continue
            if not image.valid.any():
                columns["error"][k] = "no valid pixels (all NaN or infinite)"
                continue
            found = detector.detect(image.rgb, pixscale_arcsec=image.pixscale_arcsec,
                                    weight_image=image.flux)
            rows = detections_table(found, image, path=columns["file"][k])
            if morphology:
                _centre_object(columns, k, found, rows, image.shape)
                continue
            columns["n_objects"][k] = len(rows)
            rows["row"] = np.full(len(rows), start + k, np.int64)
            objects.append(rows)
            if settings.maps_path:
                key = f"survey-{start + k}"
                _write_outputs(Path(settings.maps_path), image, found, rows, key)
    result = PartitionResult(index, columns)
    if not morphology:
        from galseg.predict.detect_run import _catalog_table

        empty = _catalog_table({}, 0)
        empty["row"] = np.zeros(0, np.int64)
        result.objects = vstack([empty, *objects], metadata_conflicts="silent")
    return result


def _big_field(settings: SurveySettings, files: _RowFiles, k: int) -> Path | None:
    """Row ``k``'s file when it is a FITS field to read window by window, else None."""
    from galseg.data.fields import fits_field_shape

    if settings.field_min_pixels is None:
        return None
    where = files.locate(k)
    if not isinstance(where, str):
        return None
    path = files.path(where)
    shape = fits_field_shape(path)
    return path if shape and shape[0] * shape[1] >= settings.field_min_pixels else None


def _detect_field(settings: SurveySettings, detector: Any, path: Path, row: int) -> Table:
    """One big field's objects (``galseg detect``'s rows for it): its blocks of tiles
    spread over the cluster's workers (:func:`_field_tile_block`), merged here."""
    from galseg.data.fields import FitsField
    from galseg.predict.detect_run import _write_field_outputs, detections_table

    with FitsField(path, pixscale_arcsec=settings.image_pixscale, bands=settings.bands,
                   bunit=settings.bunit) as field:
        scale = field.pixscale_arcsec
        blocks = detector.tile_blocks(field.shape, pixscale_arcsec=scale,
                                      batches_per_block=FIELD_BLOCK_BATCHES)
        jobs = [(settings, str(path), field.calibration, block) for block in blocks]
        parts = _on_cluster(_field_tile_block, jobs)
        found = detector.merge_tile_blocks(field, parts, pixscale_arcsec=scale)
        rows = detections_table(found, field, path=str(path))
        rows["row"] = np.full(len(rows), row, np.int64)
        if settings.maps_path:
            _write_field_outputs(Path(settings.maps_path), field, found, rows, f"survey-{row}")
    return rows


def _field_tile_block(settings: SurveySettings, path: str, calibration: Any, block: Any) -> Any:
    """Detections of one block of a big field's tiles (run on any worker)."""
    from galseg.data.fields import FitsField

    _torch_threads(settings)
    detector = _detector(settings)
    with FitsField(path, pixscale_arcsec=settings.image_pixscale, bands=settings.bands,
                   bunit=settings.bunit, calibration=calibration) as field:
        return detector.detect_tile_block(field, block, pixscale_arcsec=field.pixscale_arcsec)


def _on_cluster(function: Callable[..., T], jobs: list[tuple[Any, ...]]) -> list[T]:
    """``function(*job)`` for every job, in order: as tasks of the Dask cluster this runs
    on (the calling task leaves its worker's thread pool while it waits), or here."""
    try:
        from distributed import get_worker, worker_client

        get_worker()
    except (ImportError, ValueError):
        return [function(*job) for job in jobs]
    with worker_client() as client:
        futures = [client.submit(function, *job, pure=False) for job in jobs]
        return client.gather(futures)


def _centre_object(columns: dict[str, list[Any]], k: int, found: Any, rows: Table,
                   shape: tuple[int, int]) -> None:
    """Fill row ``k`` of the morphology columns with the object at the image's centre:
    the one whose pixel it is in the segmentation map (the smaller of overlapping
    objects, as there)."""
    columns["n_objects"][k] = len(rows)
    height, width = shape
    label = int(found.label_map()[height // 2, width // 2]) if len(rows) else 0
    if label == 0:
        columns["error"][k] = "no object at the centre"
        return
    row = rows[label - 1]
    for name, _ in MORPHOLOGY_COLUMNS[1:]:
        source = {"object_ra": "ra", "object_dec": "dec"}.get(name, name)
        value = row[source]
        columns[name][k] = value.item() if hasattr(value, "item") else value


__all__ = ["TASKS", "PartitionResult", "SurveySettings", "run_partition", "segment_columns"]
