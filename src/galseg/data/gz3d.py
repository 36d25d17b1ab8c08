"""Galaxy Zoo: 3D (GZ3D) subject files: read the release files, write files in the same layout.

One FITS file (usually gzipped) per galaxy, eleven HDUs without EXTNAME, read
by index (Masters et al. 2021; layout in ``docs/labels.md``):

====  =====================================================================
HDU   content
====  =====================================================================
0     colour image shown to volunteers, (H, W, 3) uint8, with the WCS
1, 2  centre and foreground-star masks (cluster ellipses valued at the
      cluster's point count), float64 (H, W)
3, 4  spiral and bar masks: polygons covering each pixel, self-intersecting
      polygons dropped, float64 (H, W)
5     metadata table, one row
6, 7  centre and star cluster tables
8     classification_id, time_stamp, center_points, star_points
9     classification_id, time_stamp, spiral_paths
10    classification_id, time_stamp, bar_paths
====  =====================================================================

Path and point cells are byte strings holding JSON: ``[[[x, y], ...], ...]``
(polygons) or ``[[x, y], ...]`` (points), in pixels with x the column and y the
row of a pixel centre.

Each task (centres and stars, spiral arms, bar) was a separate Zooniverse
workflow in the release, with its own classification ids, so the rows of
HDUs 8, 9 and 10 generally belong to different classifications. galseg joins
them by ``classification_id``; files galseg writes use the same ids in all
three tables (one simulated volunteer answers every task).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping, Sequence
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from galseg.data._atomic import write_bytes_atomic
from galseg.data._fitsbytes import header_card_images, image_hdu_bytes, table_hdu_bytes
from galseg.data._fitsread import read_fits_checked
from galseg.errors import InputFileError
from galseg.labels.classification import VolunteerClassification
from galseg.labels.points import CLUSTER_DTYPE, cluster_points
from galseg.labels.rasterize import finite_vertices, polygon_count_map

N_HDUS = 11
"""Number of HDUs of a GZ3D file."""

(
    HDU_IMAGE,
    HDU_CENTER_MASK,
    HDU_STAR_MASK,
    HDU_SPIRAL_MASK,
    HDU_BAR_MASK,
    HDU_METADATA,
    HDU_CENTER_CLUSTERS,
    HDU_STAR_CLUSTERS,
    HDU_CENTER_STAR_CLASSIFICATIONS,
    HDU_SPIRAL_CLASSIFICATIONS,
    HDU_BAR_CLASSIFICATIONS,
) = range(N_HDUS)

RELEASE_PIXSCALE_ARCSEC = 0.099
"""Pixel scale of the release images (525 x 525 pixels, 52 arcsec)."""

TASKS = ("center_star", "spiral", "bar")
"""The three volunteer tasks, one classification table each (HDUs 8, 9, 10)."""

_TASK_HDU = {
    "center_star": HDU_CENTER_STAR_CLASSIFICATIONS,
    "spiral": HDU_SPIRAL_CLASSIFICATIONS,
    "bar": HDU_BAR_CLASSIFICATIONS,
}
_TASK_COLUMNS = {
    "center_star": ("center_points", "star_points"),
    "spiral": ("spiral_paths",),
    "bar": ("bar_paths",),
}
_POLYGON_COLUMNS = ("spiral_paths", "bar_paths")

# Metadata columns of the release (HDU 5) with their dtypes; string widths are
# minimums, widened when a value is longer.
METADATA_DTYPES: dict[str, str] = {
    "ra": ">f4",
    "dec": ">f4",
    "MANGAID": "S11",
    "IAUNAME": "S19",
    "IFUDESIGNSIZE": ">f8",
    "MANGA_TILEID": ">f8",
    "nsa_id": ">i8",
    "explorer_link": "S90",
    "GZ_total_classifications": ">i2",
    "GZ_bar_votes": ">i2",
    "GZ_spiral_votes": ">i2",
    "sample": "S70",
}
# Values for metadata a simulated galaxy does not have: '' for strings, -1 for
# numbers (impossible for a real MaNGA galaxy; not NaN, so that metadata dicts
# compare equal after a round trip).
_METADATA_MISSING = {"S": "", "f": -1.0, "i": -1}


_DRAWING_COLUMNS = ("center_points", "star_points", "spiral_paths", "bar_paths")


# ----------------------------------------------------------------------------------
# WCS
# ----------------------------------------------------------------------------------
def gz3d_wcs(shape: Sequence[int], ra_deg: float, dec_deg: float, *, pixscale_arcsec: float) -> WCS:
    """The WCS of a GZ3D image, written the way the release writes it.

    TAN projection centred on ``(ra_deg, dec_deg)`` at ``CRPIX = (W/2, H/2)``
    (262.5 for the 525-pixel release images; note this is half a pixel from the
    geometric centre ``(N + 1)/2`` of FITS' 1-based convention, kept for
    compatibility), ``CD = diag(-1, -1) * pixscale_arcsec / 3600``: north up
    with row 0 at the top, east left.

    Parameters
    ----------
    shape : (int, int)
        ``(height, width)`` of the image in pixels.
    ra_deg, dec_deg : float
        Sky position of the reference pixel, degrees.
    pixscale_arcsec : float, keyword-only
        Pixel scale, arcsec per pixel (0.099 in the release).

    Returns
    -------
    astropy.wcs.WCS
        Two-axis celestial WCS.
    """
    height, width = (int(n) for n in shape)
    if not (np.isfinite(pixscale_arcsec) and pixscale_arcsec > 0):
        raise ValueError(f"pixscale_arcsec must be a positive number, got {pixscale_arcsec!r}")
    if not (np.isfinite(ra_deg) and np.isfinite(dec_deg) and -90 <= dec_deg <= 90):
        raise ValueError(
            f"ra_deg and dec_deg must be finite with |dec_deg| <= 90, got ({ra_deg}, {dec_deg})"
        )
    wcs = WCS(naxis=2)
    wcs.wcs.crpix = [width / 2, height / 2]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.cd = np.array([[-1.0, 0.0], [0.0, -1.0]]) * pixscale_arcsec / 3600.0
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    return wcs


# ----------------------------------------------------------------------------------
# Metadata (HDU 5)
# ----------------------------------------------------------------------------------
def _python_value(value: Any) -> Any:
    """A FITS table cell as a plain Python value (bytes decoded and stripped)."""
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").strip()
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _metadata_array(metadata: Mapping[str, Any]) -> np.ndarray:
    """One-row structured array for HDU 5 (release columns first, then extra keys)."""
    dtype: list[tuple[str, str]] = []
    values: list[Any] = []
    for name, kind in METADATA_DTYPES.items():
        value = metadata.get(name, _METADATA_MISSING[np.dtype(kind).kind])
        if kind.startswith("S"):
            value = str(value)
            kind = f"S{max(int(kind[1:]), len(value.encode()), 1)}"
        dtype.append((name, kind))
        values.append(value)
    for name, value in metadata.items():
        if name in METADATA_DTYPES:
            continue
        if isinstance(value, bool | np.bool_):
            kind = "?"
        elif isinstance(value, int | np.integer):
            kind = ">i8"
        elif isinstance(value, float | np.floating):
            kind = ">f8"
        elif isinstance(value, str):
            kind = f"S{max(len(value.encode()), 1)}"
        else:
            raise TypeError(
                f"metadata[{name!r}] must be a str, int, float or bool to fit in a FITS table, "
                f"got {type(value).__name__}"
            )
        dtype.append((name, kind))
        values.append(value)
    try:
        return np.array([tuple(values)], dtype=dtype)
    except (ValueError, UnicodeEncodeError, OverflowError) as error:
        raise ValueError(f"metadata cannot be stored in the GZ3D metadata table: {error}") from None


def _metadata_dict(table: np.ndarray) -> dict[str, Any]:
    """First row of a metadata table (structured array or FITS_rec) as a dict."""
    return {name: _python_value(table[name][0]) for name in table.dtype.names}


def normalise_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` as it will read back from a GZ3D file (release dtypes applied).

    ``ra`` and ``dec`` are float32 in the release, strings are ASCII with
    trailing blanks removed, missing release columns get placeholder values
    ('' for strings, -1 for numbers).
    """
    return _metadata_dict(_metadata_array(metadata))


# ----------------------------------------------------------------------------------
# The subject
# ----------------------------------------------------------------------------------
class GZ3DSubject:
    """One galaxy of Galaxy Zoo 3D: its image, WCS, metadata and volunteer drawings.

    Built by :func:`read_gz3d` from a file, or by :meth:`from_drawings` from
    simulated drawings; written with :func:`write_gz3d`. Masks and cluster
    tables not given are computed on first use the way the release computed
    them. Treat instances as immutable.

    Parameters
    ----------
    image : ndarray of uint8, shape (H, W, 3)
        Colour image shown to volunteers.
    classifications : sequence of VolunteerClassification
        One per classification, joined across the three task tables.
    wcs : astropy.wcs.WCS, keyword-only
        Two-axis celestial WCS of the image.
    metadata : mapping, keyword-only
        HDU 5 columns (release names: ``ra``, ``dec``, ``MANGAID``, ...).
    task_classification_ids : mapping, keyword-only
        For each of :data:`TASKS`, the ids of the classifications in that task's
        table, in table order; default: every classification in every task.
    masks : mapping, keyword-only
        Any of ``'center'``, ``'star'``, ``'spiral'``, ``'bar'``: (H, W) arrays for
        HDUs 1-4 (as stored in a file).
    clusters : mapping, keyword-only
        ``'center'`` and/or ``'star'``: tables for HDUs 6 and 7 (structured
        arrays or astropy tables, columns :data:`~galseg.labels.points.CLUSTER_COLUMNS`).
    path : str or path-like, keyword-only
        File the subject was read from, if any.
    """

    def __init__(
        self,
        image: np.ndarray,
        classifications: Sequence[VolunteerClassification],
        *,
        wcs: WCS,
        metadata: Mapping[str, Any] | None = None,
        task_classification_ids: Mapping[str, Sequence[int]] | None = None,
        masks: Mapping[str, np.ndarray] | None = None,
        clusters: Mapping[str, np.ndarray | Table] | None = None,
        path: str | PathLike[str] | None = None,
    ) -> None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"image must be an (H, W, 3) uint8 colour image, got shape {image.shape} "
                f"and dtype {image.dtype}"
            )
        if not isinstance(wcs, WCS) or wcs.naxis != 2:
            raise ValueError("wcs must be a two-axis astropy WCS (see gz3d_wcs)")
        self._image = image
        self._classifications = tuple(classifications)
        ids = [c.classification_id for c in self._classifications]
        if len(set(ids)) != len(ids):
            raise ValueError("classification ids must be unique within a subject")
        self._wcs = wcs
        self._metadata = dict(metadata or {})
        known = set(ids)
        task_ids = dict(task_classification_ids or {})
        unknown_tasks = set(task_ids) - set(TASKS)
        if unknown_tasks:
            raise ValueError(
                f"task_classification_ids keys must be among {TASKS}, got {sorted(unknown_tasks)}"
            )
        self._task_ids: dict[str, tuple[int, ...]] = {}
        for task in TASKS:
            chosen = tuple(int(i) for i in task_ids.get(task, ids))
            if not set(chosen) <= known:
                raise ValueError(
                    f"task_classification_ids[{task!r}] names ids with no classification: "
                    f"{sorted(set(chosen) - known)[:5]}"
                )
            self._task_ids[task] = chosen
        self._given_masks = dict(masks or {})
        self._given_clusters = {
            kind: table.as_array() if isinstance(table, Table) else np.asarray(table)
            for kind, table in (clusters or {}).items()
        }
        if not set(self._given_clusters) <= {"center", "star"}:
            raise ValueError(
                f"clusters keys must be 'center' or 'star', got {sorted(self._given_clusters)}"
            )
        for name, mask in self._given_masks.items():
            if name not in ("center", "star", "spiral", "bar"):
                raise ValueError(
                    f"masks keys must be 'center', 'star', 'spiral' or 'bar', got {name!r}"
                )
            if np.shape(mask) != image.shape[:2]:
                raise ValueError(
                    f"masks[{name!r}] has shape {np.shape(mask)}, expected {image.shape[:2]}"
                )
        self._path = None if path is None else str(path)

    @classmethod
    def from_drawings(
        cls,
        image: np.ndarray,
        classifications: Sequence[VolunteerClassification],
        *,
        ra_deg: float,
        dec_deg: float,
        pixscale_arcsec: float = RELEASE_PIXSCALE_ARCSEC,
        metadata: Mapping[str, Any] | None = None,
    ) -> GZ3DSubject:
        """A subject from an image and drawings, with the release's WCS and metadata layout.

        Parameters
        ----------
        image : ndarray of uint8, shape (H, W, 3)
        classifications : sequence of VolunteerClassification
            Every classification answered every task (one volunteer each).
        ra_deg, dec_deg : float, keyword-only
            Sky position of the image centre (``CRVAL``), degrees.
        pixscale_arcsec : float, keyword-only
            Arcsec per pixel; 0.099 for release-like images.
        metadata : mapping, keyword-only
            Extra HDU 5 values (e.g. ``MANGAID``, a simulation seed); ``ra`` and
            ``dec`` are set from ``ra_deg``/``dec_deg``. Values are normalised
            to what a file holds (:func:`normalise_metadata`), so a written and
            re-read subject compares equal.
        """
        meta = dict(metadata or {})
        meta["ra"], meta["dec"] = ra_deg, dec_deg
        wcs = gz3d_wcs(np.shape(image)[:2], ra_deg, dec_deg, pixscale_arcsec=pixscale_arcsec)
        return cls(image, classifications, wcs=wcs, metadata=normalise_metadata(meta))

    # --- stored -----------------------------------------------------------------
    @property
    def path(self) -> str | None:
        """File the subject was read from (None if built in memory)."""
        return self._path

    @property
    def image(self) -> np.ndarray:
        """Colour image, uint8 (H, W, 3), row 0 at the top (north up)."""
        return self._image

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image and masks."""
        return self._image.shape[:2]

    @property
    def wcs(self) -> WCS:
        """Two-axis celestial WCS of the image (0-based pixel = FITS pixel - 1)."""
        return self._wcs

    @property
    def metadata(self) -> dict[str, Any]:
        """HDU 5 as a dict of plain Python values (a copy)."""
        return dict(self._metadata)

    @property
    def classifications(self) -> tuple[VolunteerClassification, ...]:
        """All classifications, joined across HDUs 8-10 by id (first-seen order)."""
        return self._classifications

    @property
    def name(self) -> str:
        """The MaNGA id (``MANGAID``), '' if the metadata has none."""
        return str(self._metadata.get("MANGAID", ""))

    @cached_property
    def pixscale_arcsec(self) -> float:
        """Pixel scale in arcsec per pixel (mean of the two axes)."""
        return float(np.mean(proj_plane_pixel_scales(self._wcs.celestial)) * 3600.0)

    def classification_ids(self, task: str) -> tuple[int, ...]:
        """Ids of the classifications in ``task``'s table (one of :data:`TASKS`)."""
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        return self._task_ids[task]

    @property
    def n_center_star_classifications(self) -> int:
        """Rows of HDU 8: classifications of the centre/star task."""
        return len(self._task_ids["center_star"])

    @property
    def n_spiral_classifications(self) -> int:
        """Rows of HDU 9: volunteers asked to draw spiral arms (spiral-fraction denominator)."""
        return len(self._task_ids["spiral"])

    @property
    def n_bar_classifications(self) -> int:
        """Rows of HDU 10: volunteers asked to draw the bar (bar-fraction denominator)."""
        return len(self._task_ids["bar"])

    @property
    def n_volunteers(self) -> int:
        """Number of volunteers who classified the galaxy.

        Rule: the largest number of classifications of any one task. In files
        galseg writes every volunteer answers every task, so this is the
        number of classifications; in the release each task was a separate
        workflow with its own ids (typically 15 per task), so counting distinct
        ids across tables would count a volunteer up to three times. Vote
        fractions use the per-task numbers (:attr:`n_spiral_classifications`,
        :attr:`n_bar_classifications`).
        """
        return max(len(ids) for ids in self._task_ids.values())

    # --- derived on first use ------------------------------------------------------
    def _points(self, kind: str) -> np.ndarray:
        arrays = [getattr(c, f"{kind}_points") for c in self._classifications]
        arrays = [np.asarray(a, dtype=np.float64).reshape(-1, 2) for a in arrays]
        return np.concatenate(arrays) if arrays else np.zeros((0, 2))

    @cached_property
    def _clusters(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        result = {}
        for kind in ("center", "star"):
            mask, table = self._given_masks.get(kind), self._given_clusters.get(kind)
            if mask is None or table is None:
                computed_mask, computed_table = cluster_points(
                    self._points(kind), self.shape, self._wcs.celestial
                )
                mask = computed_mask if mask is None else mask
                table = computed_table if table is None else table
            result[kind] = (mask, table)
        return result

    def cluster_array(self, kind: str) -> np.ndarray:
        """HDU 6 (``kind='center'``) or HDU 7 (``'star'``) as a structured array."""
        if kind not in ("center", "star"):
            raise ValueError(f"kind must be 'center' or 'star', got {kind!r}")
        return self._clusters[kind][1]

    def _polygon_mask(self, feature: str) -> np.ndarray:
        if feature in self._given_masks:
            return self._given_masks[feature]
        polygons = [p for c in self._classifications for p in getattr(c, f"{feature}_paths")]
        return polygon_count_map(polygons, self.shape)

    @cached_property
    def center_mask(self) -> np.ndarray:
        """HDU 1: galaxy-centre cluster ellipses valued at their point counts, (H, W)."""
        return self._clusters["center"][0]

    @cached_property
    def star_mask(self) -> np.ndarray:
        """HDU 2: foreground-star cluster ellipses valued at their point counts, (H, W)."""
        return self._clusters["star"][0]

    @cached_property
    def spiral_mask(self) -> np.ndarray:
        """HDU 3: spiral polygons covering each pixel (official rule), float64 (H, W)."""
        return self._polygon_mask("spiral")

    @cached_property
    def bar_mask(self) -> np.ndarray:
        """HDU 4: bar polygons covering each pixel (official rule), float64 (H, W)."""
        return self._polygon_mask("bar")

    @cached_property
    def center_clusters(self) -> Table:
        """HDU 6: galaxy-centre clusters (columns ``x, y, var_x, ..., count``)."""
        return Table(self.cluster_array("center"))

    @cached_property
    def star_clusters(self) -> Table:
        """HDU 7: foreground-star clusters (columns ``x, y, var_x, ..., count``)."""
        return Table(self.cluster_array("star"))

    def __repr__(self) -> str:
        return (
            f"<GZ3DSubject name={self.name!r} shape={self.shape} "
            f"n_volunteers={self.n_volunteers} pixscale_arcsec={self.pixscale_arcsec:.4g} "
            f"path={self._path!r}>"
        )


# ----------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------
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


def _parse_json_cell(
    path: Path, hdu: int, row: int, column: str, cell: Any, *, polygons: bool
) -> list[np.ndarray] | np.ndarray:
    """Decode one JSON path/point cell into polygons (list of (n, 2)) or points ((n, 2))."""
    where = f"HDU {hdu} row {row} column {column!r}"
    text = cell.decode("utf-8", errors="replace") if isinstance(cell, bytes) else str(cell)
    text = text.strip()
    try:
        value = json.loads(text) if text else []
    except json.JSONDecodeError as error:
        raise InputFileError(
            path, f"{where} holds invalid JSON ({error.msg} at char {error.pos})"
        ) from None
    if not isinstance(value, list):
        raise InputFileError(path, f"{where} holds {type(value).__name__} JSON, expected a list")
    items = value if polygons else [value]
    shapes = []
    for k, item in enumerate(items):
        try:
            vertices = np.array(item if item else np.zeros((0, 2)), dtype=np.float64)
        except (TypeError, ValueError):
            vertices = None
        if vertices is None or vertices.ndim != 2 or vertices.shape[1] != 2:
            what = f"polygon {k}" if polygons else "value"
            raise InputFileError(path, f"{where}: {what} is not a list of [x, y] pairs")
        shapes.append(finite_vertices(vertices))
    if not polygons:
        return shapes[0]
    # Polygons left with no finite vertex carry no drawing: drop them.
    return [p for p in shapes if len(p)]


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


def _native(array: np.ndarray) -> np.ndarray:
    """Native byte order copy (FITS is big-endian; numpy is faster native)."""
    return np.asarray(array, dtype=array.dtype.newbyteorder("="))


def _native_table(data: fits.FITS_rec) -> np.ndarray:
    """A FITS table as a plain structured array with native numeric columns."""
    array = np.asarray(data).view(np.ndarray)
    dtype = [(name, array.dtype[name].newbyteorder("=")) for name in array.dtype.names]
    return array.astype(dtype)


def _read_task_table(
    path: Path, hdul: fits.HDUList, task: str, records: dict[int, dict[str, Any]]
) -> tuple[int, ...]:
    index = _TASK_HDU[task]
    columns = _TASK_COLUMNS[task]
    data = _table(path, hdul, index, ("classification_id", "time_stamp", *columns))
    if data is None or len(data) == 0:
        return ()
    order: dict[int, None] = {}  # ids in table order, each once
    ids = data["classification_id"]
    stamps = data["time_stamp"]
    cells = {column: data[column] for column in columns}
    for row in range(len(data)):
        raw_id = ids[row]
        try:
            classification_id = int(raw_id)
        except (TypeError, ValueError, OverflowError):
            raise InputFileError(
                path, f"HDU {index} row {row} has classification_id {raw_id!r}, not an integer"
            ) from None
        record = records.setdefault(
            classification_id,
            {"time_stamp": str(_python_value(stamps[row])), **{c: [] for c in _DRAWING_COLUMNS}},
        )
        for column in columns:
            parsed = _parse_json_cell(
                path, index, row, column, cells[column][row], polygons=column in _POLYGON_COLUMNS
            )
            if column in _POLYGON_COLUMNS:
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
    return _native(data)


def _read_wcs(path: Path, hdul: fits.HDUList) -> WCS:
    # The masks' 2-D headers carry the WCS the way the release's tools read it;
    # HDU 0's header has it too but sits on a 3-axis cube.
    for index in (HDU_CENTER_MASK, HDU_IMAGE):
        header = hdul[index].header
        if "CTYPE1" in header:
            try:
                return WCS(header, naxis=2).celestial
            except (ValueError, KeyError, MemoryError) as error:
                raise InputFileError(
                    path, f"HDU {index} header has an invalid WCS ({error})"
                ) from None
    raise InputFileError(path, "no WCS in HDU 1 or HDU 0 headers (CTYPE1 missing)")


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
    wcs = _read_wcs(path, hdul)
    meta = _table(path, hdul, HDU_METADATA, ())
    if meta is None or len(meta) == 0:
        raise InputFileError(path, "HDU 5 metadata table has no row")
    metadata = _metadata_dict(meta)
    clusters = {}
    for kind, index in (("center", HDU_CENTER_CLUSTERS), ("star", HDU_STAR_CLUSTERS)):
        data = _table(path, hdul, index, ())
        clusters[kind] = np.zeros(0, CLUSTER_DTYPE) if data is None else _native_table(data)

    records: dict[int, dict[str, Any]] = {}
    task_ids = {task: _read_task_table(path, hdul, task, records) for task in TASKS}
    classifications = [
        VolunteerClassification(
            classification_id=cid,
            time_stamp=record["time_stamp"],
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


# ----------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------
def _json_cell(value: list) -> str:
    # json.dumps' default separators give the release's text: [[1.0, 2.0], ...].
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValueError(
            "drawings hold NaN or infinite coordinates, which JSON cannot store; "
            "drop those vertices first (galseg.labels.rasterize.finite_vertices)"
        ) from None


def _vertex_list(vertices: np.ndarray) -> list[list[float]]:
    return np.asarray(vertices, dtype=np.float64).reshape(-1, 2).tolist()


def _string_array(values: list[str]) -> np.ndarray:
    # Fixed-width ASCII, as astropy's table_to_hdu wrote the release's columns.
    encoded = [v.encode("ascii", errors="replace") for v in values]
    return np.array(encoded, dtype=f"S{max((len(v) for v in encoded), default=1) or 1}")


def _classification_table(subject: GZ3DSubject, task: str) -> bytes:
    by_id = {c.classification_id: c for c in subject.classifications}
    rows = [by_id[i] for i in subject.classification_ids(task)]
    columns = [
        ("classification_id", np.array([c.classification_id for c in rows], dtype=np.int64)),
        ("time_stamp", _string_array([c.time_stamp for c in rows])),
    ]
    for column in _TASK_COLUMNS[task]:
        if column in _POLYGON_COLUMNS:
            cells = [_json_cell([_vertex_list(p) for p in getattr(c, column)]) for c in rows]
        else:
            cells = [_json_cell(_vertex_list(getattr(c, column))) for c in rows]
        columns.append((column, _string_array(cells)))
    return table_hdu_bytes(columns)


def _cluster_table(clusters: np.ndarray) -> bytes:
    # Columns keep their dtypes (a release file's empty table has float64 count).
    return table_hdu_bytes([(name, clusters[name]) for name in clusters.dtype.names])


def _metadata_table(metadata: Mapping[str, Any]) -> bytes:
    row = _metadata_array(metadata)
    return table_hdu_bytes([(name, row[name]) for name in row.dtype.names])


def gz3d_bytes(subject: GZ3DSubject) -> bytes:
    """``subject`` as an uncompressed GZ3D FITS file: 11 HDUs in the release layout, no EXTNAME."""
    wcs_cards = header_card_images(subject.wcs.to_header())
    masks = (subject.center_mask, subject.star_mask, subject.spiral_mask, subject.bar_mask)
    parts = [image_hdu_bytes(subject.image, primary=True, extra_cards=wcs_cards)]
    parts += [
        image_hdu_bytes(
            mask if mask.dtype.kind == "f" else mask.astype(np.float64),
            primary=False,
            extra_cards=wcs_cards,
        )
        for mask in map(np.asarray, masks)
    ]
    # ra/dec are the WCS reference for a subject built without them.
    ra, dec = subject.wcs.wcs.crval
    parts.append(_metadata_table({"ra": ra, "dec": dec, **subject.metadata}))
    parts += [_cluster_table(subject.cluster_array(kind)) for kind in ("center", "star")]
    parts += [_classification_table(subject, task) for task in TASKS]
    return b"".join(parts)


def write_gz3d(
    path: str | PathLike[str],
    subject: GZ3DSubject | None = None,
    *,
    image: np.ndarray | None = None,
    classifications: Sequence[VolunteerClassification] | None = None,
    ra_deg: float | None = None,
    dec_deg: float | None = None,
    pixscale_arcsec: float = RELEASE_PIXSCALE_ARCSEC,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = True,
    compresslevel: int = 1,
) -> Path:
    """Write a GZ3D file, atomically; gzip if the name ends in ``.gz``.

    Same layout, column names and dtypes as the release. Give either a
    ``subject`` or its parts (``image``, ``classifications``, ``ra_deg``,
    ``dec_deg`` and optionally ``pixscale_arcsec`` and ``metadata``, as in
    :meth:`GZ3DSubject.from_drawings`). Masks and cluster tables (HDUs 1-4, 6,
    7) are the subject's, computed the release's way from the drawings for a
    subject built in memory. Reading the file back gives the same subject.

    Parameters
    ----------
    path : str or path-like
        Destination, e.g. ``gz3d_<MANGAID>_<IFUDESIGNSIZE>_<subject id>.fits.gz``.
    subject : GZ3DSubject, optional
    image, classifications, ra_deg, dec_deg, pixscale_arcsec, metadata : keyword-only
        The parts, when no ``subject`` is given.
    overwrite : bool, keyword-only
        Replace an existing file (default True).
    compresslevel : int, keyword-only
        gzip level 1-9. Default 1: four times faster than gzip's default 6
        (the release's) for files about 13% larger, which matters when a
        simulator writes thousands of them.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from galseg.labels.classification import VolunteerClassification
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> drawing = VolunteerClassification(1, "2024-01-01T00:00:00",
    ...                                   spiral_paths=(np.array([[2, 2], [9, 2], [9, 6]]),))
    >>> path = write_gz3d(folder / "gz3d_demo.fits.gz", image=np.zeros((16, 16, 3), np.uint8),
    ...                   classifications=[drawing], ra_deg=150.0, dec_deg=2.0)
    >>> read_gz3d(path).classifications[0].spiral_paths[0].tolist()
    [[2.0, 2.0], [9.0, 2.0], [9.0, 6.0]]
    """
    parts = {
        "image": image,
        "classifications": classifications,
        "ra_deg": ra_deg,
        "dec_deg": dec_deg,
    }
    if subject is None:
        missing = [name for name, value in parts.items() if value is None]
        if missing:
            raise ValueError(
                f"write_gz3d needs a subject or image, classifications, ra_deg and dec_deg; "
                f"missing {', '.join(missing)}"
            )
        subject = GZ3DSubject.from_drawings(
            image,
            classifications,
            ra_deg=ra_deg,
            dec_deg=dec_deg,
            pixscale_arcsec=pixscale_arcsec,
            metadata=metadata,
        )
    elif any(value is not None for value in parts.values()) or metadata is not None:
        raise ValueError(
            "give either a subject or its parts (image, classifications, ...), not both"
        )
    path = Path(path)
    if not 1 <= compresslevel <= 9:
        raise ValueError(f"compresslevel must be between 1 and 9, got {compresslevel}")
    data = gz3d_bytes(subject)
    if path.name.endswith(".gz"):
        # mtime=0 makes the bytes reproducible: same subject, same file.
        data = gzip.compress(data, compresslevel=compresslevel, mtime=0)
    return write_bytes_atomic(path, data, overwrite=overwrite)
