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

The package holds one concept per module: :mod:`~galseg.data.gz3d.layout` (HDU
indices, tasks, columns), :mod:`~galseg.data.gz3d.wcs` (the images' WCS),
:mod:`~galseg.data.gz3d.tables` (metadata and JSON cells),
:mod:`~galseg.data.gz3d.subject` (:class:`GZ3DSubject`),
:mod:`~galseg.data.gz3d.reading` (:func:`read_gz3d`) and
:mod:`~galseg.data.gz3d.writing` (:func:`write_gz3d`); every public name is
importable from ``galseg.data.gz3d``.
"""

from __future__ import annotations

from galseg.data.gz3d.layout import (
    HDU_BAR_CLASSIFICATIONS,
    HDU_BAR_MASK,
    HDU_CENTER_CLUSTERS,
    HDU_CENTER_MASK,
    HDU_CENTER_STAR_CLASSIFICATIONS,
    HDU_IMAGE,
    HDU_METADATA,
    HDU_SPIRAL_CLASSIFICATIONS,
    HDU_SPIRAL_MASK,
    HDU_STAR_CLUSTERS,
    HDU_STAR_MASK,
    N_HDUS,
    RELEASE_PIXSCALE_ARCSEC,
    TASKS,
)
from galseg.data.gz3d.reading import read_gz3d
from galseg.data.gz3d.subject import GZ3DSubject
from galseg.data.gz3d.tables import METADATA_DTYPES, normalise_metadata
from galseg.data.gz3d.wcs import (
    ARM_WINDINGS,
    gz3d_wcs,
    image_angle_to_position_angle,
    image_winding,
)
from galseg.data.gz3d.writing import gz3d_bytes, write_gz3d

__all__ = [
    "ARM_WINDINGS",
    "HDU_BAR_CLASSIFICATIONS",
    "HDU_BAR_MASK",
    "HDU_CENTER_CLUSTERS",
    "HDU_CENTER_MASK",
    "HDU_CENTER_STAR_CLASSIFICATIONS",
    "HDU_IMAGE",
    "HDU_METADATA",
    "HDU_SPIRAL_CLASSIFICATIONS",
    "HDU_SPIRAL_MASK",
    "HDU_STAR_CLUSTERS",
    "HDU_STAR_MASK",
    "METADATA_DTYPES",
    "N_HDUS",
    "RELEASE_PIXSCALE_ARCSEC",
    "TASKS",
    "GZ3DSubject",
    "gz3d_bytes",
    "gz3d_wcs",
    "image_angle_to_position_angle",
    "image_winding",
    "normalise_metadata",
    "read_gz3d",
    "write_gz3d",
]
