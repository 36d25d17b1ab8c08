"""Reading GZ3D files: :func:`read_gz3d`."""

from __future__ import annotations

import gzip
import warnings
import zlib
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from galseg.data._fitsread import read_fits_checked
from galseg.data.gz3d.layout import (
    DRAWING_COLUMNS,
    HDU_BAR_MASK,
    HDU_CENTER_CLUSTERS,
    HDU_CENTER_MASK,
    HDU_IMAGE,
    HDU_METADATA,
    HDU_SPIRAL_MASK,
    HDU_STAR_CLUSTERS,
    HDU_STAR_MASK,
    N_HDUS,
    POLYGON_COLUMNS,
    TASK_COLUMNS,
    TASK_HDU,
    TASKS,
)
from galseg.data.gz3d.subject import GZ3DSubject
from galseg.data.gz3d.tables import (
    metadata_dict,
    native,
    native_table,
    parse_json_cell,
    python_value,
)
from galseg.data.gz3d.wcs import read_wcs
from galseg.errors import InputFileError, InputFileWarning
from galseg.labels.classification import VolunteerClassification
from galseg.labels.points import CLUSTER_DTYPE


def _load_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(path, "file does not exist") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a GZ3D FITS file") from None
    except OSError as error:
        raise InputFileError(path, f"cannot be read ({error.strerror or error})") from None
    if raw[:2] == b"\x1f\x8b":  # gzip magic number, whatever the file name says
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise InputFileError(
                path, f"truncated or corrupt gzip data ({error}); download the file again"
            ) from None
    if not raw:
        raise InputFileError(path, "file is empty")
    return raw


def _table(
    path: Path, hdul: fits.HDUList, index: int, required: Sequence[str]
) -> np.ndarray | None:
    hdu = hdul[index]
    if not isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
        raise InputFileError(
            path, f"HDU {index} is a {type(hdu).__name__}, expected a table (GZ3D layout)"
        )
    names = hdu.columns.names
    missing = [c for c in required if c not in names]
    if missing:
        raise InputFileError(path, f"HDU {index} lacks column(s) {', '.join(missing)}")
    return hdu.data


OPTIONAL_TASKS = ("center_star",)
"""Tasks whose table may lack columns: vote maps need only the spiral and bar tables
(HDUs 9 and 10), so a centre/star table (HDU 8) without some of its columns is read
without them, with an :class:`~galseg.errors.InputFileWarning`."""


def _task_columns(path: Path, hdul: fits.HDUList, task: str) -> tuple[str, ...]:
    """The columns of ``task``'s table to read: all of them, or for an optional task
    those present (a warning names the others)."""
    index = TASK_HDU[task]
    required = ("classification_id", "time_stamp", *TASK_COLUMNS[task])
    hdu = hdul[index]
    if task not in OPTIONAL_TASKS or not isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
        return required
    missing = [c for c in required if c not in hdu.columns.names]
    if missing:
        left_out = ("the table is left out" if "classification_id" in missing
                    else "read without them")
        warnings.warn(InputFileWarning(
            path, f"HDU {index} lacks column(s) {', '.join(missing)}; {left_out} (vote maps "
                  "need only the spiral and bar tables, HDUs 9 and 10)"), stacklevel=2)
        if "classification_id" in missing:
            return ()
    return tuple(c for c in required if c not in missing)


def _read_task_table(
    path: Path, hdul: fits.HDUList, task: str, records: dict[int, dict[str, Any]]
) -> tuple[int, ...]:
    index = TASK_HDU[task]
    present = _task_columns(path, hdul, task)
    if not present:
        return ()
    columns = tuple(c for c in TASK_COLUMNS[task] if c in present)
    data = _table(path, hdul, index, present)
    if data is None or len(data) == 0:
        return ()
    order: dict[int, None] = {}  # ids in table order, each once
    ids = data["classification_id"]
    stamps = data["time_stamp"] if "time_stamp" in present else None
    cells = {column: data[column] for column in columns}
    for row in range(len(data)):
        raw_id = ids[row]
        try:
            classification_id = int(raw_id)
        except (TypeError, ValueError, OverflowError):
            raise InputFileError(
                path, f"HDU {index} row {row} has classification_id {raw_id!r}, not an integer"
            ) from None
        stamp = None if stamps is None else str(python_value(stamps[row]))
        record = records.setdefault(
            classification_id, {"time_stamp": stamp, **{c: [] for c in DRAWING_COLUMNS}})
        if record["time_stamp"] is None:  # the first table with time stamps gives them
            record["time_stamp"] = stamp
        for column in columns:
            parsed = parse_json_cell(
                path, index, row, column, cells[column][row], polygons=column in POLYGON_COLUMNS
            )
            if column in POLYGON_COLUMNS:
                record[column].extend(parsed)
            else:
                record[column].append(parsed)
        order[classification_id] = None
    return tuple(order)


def _check_image_hdu(
    path: Path, hdul: fits.HDUList, index: int, shape: tuple[int, ...]
) -> np.ndarray:
    hdu = hdul[index]
    if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU) or hdu.data is None:
        raise InputFileError(path, f"HDU {index} holds no image, expected an {shape} array")
    data = hdu.data
    if data.shape != shape:
        raise InputFileError(path, f"HDU {index} has shape {data.shape}, expected {shape}")
    return native(data)


def read_gz3d(path: str | PathLike[str]) -> GZ3DSubject:
    """Read a GZ3D subject file (``.fits`` or ``.fits.gz``; gzip detected from content).

    Tolerates what release files hold: empty cells (``'[]'`` or blank),
    one- and two-vertex polygons, self-intersecting polygons, any number of
    classifications, NaN coordinates (non-finite vertices dropped, polygons
    left empty dropped), and task tables with different rows (joined by
    ``classification_id``; a classification absent from a task's table has no
    drawings for that task and does not count among that task's volunteers).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    GZ3DSubject

    Raises
    ------
    galseg.errors.InputFileError
        Missing file, truncated or corrupt gzip/FITS data, fewer than 11 HDUs,
        an image of the wrong shape, a missing table column or invalid JSON in a
        path cell (the message names the HDU, row and column).
    """
    path = Path(path)
    return read_fits_checked(path, lambda hdul: _read_hdul(path, hdul),
                             content=_load_bytes(path))


def _read_hdul(path: Path, hdul: fits.HDUList) -> GZ3DSubject:
    if len(hdul) < N_HDUS:
        raise InputFileError(
            path,
            f"has {len(hdul)} HDUs, a GZ3D file has {N_HDUS} (image, 4 masks, metadata, "
            "2 cluster tables, 3 classification tables); the file may be truncated",
        )
    image_hdu = hdul[HDU_IMAGE]
    if image_hdu.data is None or image_hdu.data.ndim != 3 or image_hdu.data.shape[2] != 3:
        shape = None if image_hdu.data is None else image_hdu.data.shape
        raise InputFileError(
            path, f"HDU 0 image has shape {shape}, expected (H, W, 3) colour pixels"
        )
    if image_hdu.data.dtype != np.uint8:
        raise InputFileError(path, f"HDU 0 image has dtype {image_hdu.data.dtype}, expected uint8")
    image = np.array(image_hdu.data)
    shape = image.shape[:2]
    masks = {
        name: _check_image_hdu(path, hdul, index, shape)
        for name, index in (
            ("center", HDU_CENTER_MASK),
            ("star", HDU_STAR_MASK),
            ("spiral", HDU_SPIRAL_MASK),
            ("bar", HDU_BAR_MASK),
        )
    }
    wcs = read_wcs(path, hdul)
    meta = _table(path, hdul, HDU_METADATA, ())
    if meta is None or len(meta) == 0:
        raise InputFileError(path, "HDU 5 metadata table has no row")
    metadata = metadata_dict(meta)
    clusters = {}
    for kind, index in (("center", HDU_CENTER_CLUSTERS), ("star", HDU_STAR_CLUSTERS)):
        data = _table(path, hdul, index, ())
        clusters[kind] = np.zeros(0, CLUSTER_DTYPE) if data is None else native_table(data)

    records: dict[int, dict[str, Any]] = {}
    task_ids = {task: _read_task_table(path, hdul, task, records) for task in TASKS}
    classifications = [
        VolunteerClassification(
            classification_id=cid,
            time_stamp=record["time_stamp"] or "",
            spiral_paths=tuple(record["spiral_paths"]),
            bar_paths=tuple(record["bar_paths"]),
            center_points=_stack(record["center_points"]),
            star_points=_stack(record["star_points"]),
        )
        for cid, record in records.items()
    ]
    return GZ3DSubject(
        image,
        classifications,
        wcs=wcs,
        metadata=metadata,
        task_classification_ids=task_ids,
        masks=masks,
        clusters=clusters,
        path=path,
    )


def _stack(point_arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(point_arrays) if point_arrays else np.zeros((0, 2))
