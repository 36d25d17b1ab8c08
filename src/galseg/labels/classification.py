"""One volunteer's classification of one galaxy: the polygons and points they drew.

This is the unit of crowd labelling in Galaxy Zoo 3D (one table row per
classification in HDUs 8-10 of a GZ3D file). Coordinates are pixel
coordinates on the subject image, ``(x, y)`` with x the 0-based column and y
the 0-based row index, as in the GZ3D release.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Polygon = np.ndarray
"""A polygon: float array of shape (n, 2) holding ``(x, y)`` vertices, n >= 1.

Polygons are implicitly closed (last vertex joins the first). Degenerate
polygons (n < 3) are kept as drawn, because real GZ3D files hold them; they
enclose no pixel.
"""


@dataclass(frozen=True, eq=False)
class VolunteerClassification:
    """What one volunteer drew on one galaxy.

    Attributes
    ----------
    classification_id : int
        Identifier of the classification (unique within a galaxy).
    time_stamp : str
        When it was made, as stored in the file (ISO 8601 for files galseg writes).
    spiral_paths : tuple of Polygon
        Polygons drawn around spiral arms; empty if the volunteer drew none.
    bar_paths : tuple of Polygon
        Polygons drawn around the bar; empty if none.
    center_points : ndarray, shape (k, 2)
        Points clicked as galaxy centres.
    star_points : ndarray, shape (m, 2)
        Points clicked as foreground stars.
    """

    classification_id: int
    time_stamp: str
    spiral_paths: tuple[Polygon, ...] = ()
    bar_paths: tuple[Polygon, ...] = ()
    center_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    star_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def marked_spiral(self) -> bool:
        """True if the volunteer drew at least one spiral polygon."""
        return len(self.spiral_paths) > 0

    @property
    def marked_bar(self) -> bool:
        """True if the volunteer drew at least one bar polygon."""
        return len(self.bar_paths) > 0
