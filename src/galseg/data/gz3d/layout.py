"""The GZ3D file layout: HDU indices, volunteer tasks and their table columns."""

from __future__ import annotations

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

TASK_HDU = {
    "center_star": HDU_CENTER_STAR_CLASSIFICATIONS,
    "spiral": HDU_SPIRAL_CLASSIFICATIONS,
    "bar": HDU_BAR_CLASSIFICATIONS,
}
TASK_COLUMNS = {
    "center_star": ("center_points", "star_points"),
    "spiral": ("spiral_paths",),
    "bar": ("bar_paths",),
}
POLYGON_COLUMNS = ("spiral_paths", "bar_paths")
"""Columns of HDUs 9 and 10 that hold polygons (the others hold points)."""

DRAWING_COLUMNS = ("center_points", "star_points", "spiral_paths", "bar_paths")
"""Every drawing column of the three classification tables."""
