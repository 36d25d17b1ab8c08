"""The subject of a GZ3D file: one galaxy's image, WCS, metadata and drawings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from os import PathLike
from typing import Any

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from galseg.data.gz3d.layout import RELEASE_PIXSCALE_ARCSEC, TASKS
from galseg.data.gz3d.tables import normalise_metadata
from galseg.data.gz3d.wcs import gz3d_wcs
from galseg.labels.classification import VolunteerClassification
from galseg.labels.points import cluster_points
from galseg.labels.rasterize import polygon_count_map


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
