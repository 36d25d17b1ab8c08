"""Clustering of volunteers' clicks (galaxy centres, foreground stars), the GZ3D way.

Volunteers click on galaxy centres and foreground stars. The GZ3D release
groups all clicks on one image with DBSCAN (5-pixel radius, at least 3 clicks),
and for each cluster stores a table row (HDUs 6 and 7) and paints the
cluster's 2-sigma covariance ellipse, valued at its number of clicks, into a
mask (HDUs 1 and 2). This module does the same with numpy and scipy (a few
dozen clicks per image, so brute-force distances are fine).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.wcs import WCS
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from galseg.labels.rasterize import finite_vertices

CLUSTER_COLUMNS = (
    "x", "y", "var_x", "var_y", "var_x_y", "ra", "dec", "var_ra", "var_dec", "var_ra_dec", "count",
)  # fmt: skip
"""Columns of the centre and star cluster tables (GZ3D HDUs 6 and 7).

``x, y`` mean click position in pixels; ``var_*`` the covariance of the clicks
(pixels squared, degrees squared); ``ra, dec`` degrees; ``count`` clicks.
"""


CLUSTER_DTYPE = np.dtype(
    [(name, np.int64 if name == "count" else np.float64) for name in CLUSTER_COLUMNS]
)
"""Structured dtype of cluster rows (float64 columns, int64 ``count``, as in the release)."""


def _dbscan(points: np.ndarray, eps_px: float, min_samples: int) -> np.ndarray:
    """DBSCAN cluster labels (-1 for noise) of a few points, by brute-force distances."""
    n = len(points)
    near = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1) <= eps_px**2
    core = near.sum(axis=1) >= min_samples
    labels = np.full(n, -1, dtype=np.int64)
    if not core.any():
        return labels
    core_index = np.flatnonzero(core)
    _, core_labels = connected_components(csr_matrix(near[np.ix_(core, core)]), directed=False)
    labels[core_index] = core_labels
    # A border point joins the cluster of its first core neighbour, as in
    # scikit-learn's DBSCAN (which the release used).
    for i in np.flatnonzero(~core):
        neighbours = core_index[near[i, core_index]]
        if len(neighbours):
            labels[i] = labels[neighbours[0]]
    return labels


def cluster_points(
    points: np.ndarray,
    shape: Sequence[int],
    wcs: WCS,
    *,
    eps_px: float = 5.0,
    min_samples: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster volunteers' clicks the way the release did (HDUs 1/2 and 6/7).

    DBSCAN with ``eps_px`` and ``min_samples`` (release: 5 pixels, 3 points);
    each cluster gives a table row (mean position and covariance in pixels and
    in RA/Dec, number of points) and paints its 2-sigma covariance ellipse in
    the mask with the value of its point count (overlapping ellipses add up).

    RA/Dec use 0-based pixel coordinates (the release passed origin 1, which
    shifts them by one pixel).

    Parameters
    ----------
    points : ndarray, shape (n, 2)
        ``(x, y)`` clicks in pixels from all volunteers; non-finite rows dropped.
    shape : (int, int)
        ``(height, width)`` of the mask.
    wcs : astropy.wcs.WCS
        Celestial WCS of the image.
    eps_px : float, keyword-only
        Neighbourhood radius in pixels.
    min_samples : int, keyword-only
        Points within ``eps_px`` (itself included) that make a core point.

    Returns
    -------
    mask : ndarray of float64, shape (height, width)
    clusters : structured ndarray, dtype :data:`CLUSTER_DTYPE`, shape (n_clusters,)
        One row per cluster (``astropy.table.Table(clusters)`` to display).

    Examples
    --------
    >>> from galseg.data.gz3d import gz3d_wcs
    >>> clicks = np.array([[10, 10], [11, 10], [10, 11], [40, 40]], float)
    >>> wcs = gz3d_wcs((64, 64), 150.0, 2.0, pixscale_arcsec=0.262)
    >>> mask, clusters = cluster_points(clicks, (64, 64), wcs)
    >>> clusters["count"].tolist(), float(mask.max())
    ([3], 3.0)
    """
    height, width = (int(n) for n in shape)
    mask = np.zeros((height, width))
    points = finite_vertices(points)
    if len(points) == 0:
        return mask, np.zeros(0, CLUSTER_DTYPE)
    labels = _dbscan(points, eps_px, min_samples)
    n_clusters = int(labels.max()) + 1
    if n_clusters == 0:
        return mask, np.zeros(0, CLUSTER_DTYPE)
    sky = wcs.wcs_pix2world(points, 0)
    clusters = np.zeros(n_clusters, CLUSTER_DTYPE)
    for k in range(n_clusters):
        members = labels == k
        xy, radec = points[members], sky[members]
        count = int(members.sum())
        cov_xy = np.cov(xy.T) if count > 1 else np.zeros((2, 2))
        cov_radec = np.cov(radec.T) if count > 1 else np.zeros((2, 2))
        clusters[k] = (
            *xy.mean(axis=0), cov_xy[0, 0], cov_xy[1, 1], cov_xy[0, 1],
            *radec.mean(axis=0), cov_radec[0, 0], cov_radec[1, 1], cov_radec[0, 1],
            count,
        )  # fmt: skip
        _paint_ellipse(mask, xy.mean(axis=0), cov_xy, count)
    return mask, clusters


def _paint_ellipse(mask: np.ndarray, centre: np.ndarray, cov: np.ndarray, value: int) -> None:
    """Add ``value`` inside the 2-sigma ellipse of ``cov`` (skipped if degenerate)."""
    eigenvalues = np.linalg.eigvalsh(cov)
    if eigenvalues.min() <= 0:
        # The release skips clusters whose ellipse has a zero axis (collinear clicks).
        return
    half_x, half_y = 2 * np.sqrt(cov[0, 0]), 2 * np.sqrt(cov[1, 1])
    height, width = mask.shape
    row0, row1 = max(int(np.ceil(centre[1] - half_y)), 0), min(int(centre[1] + half_y) + 1, height)
    col0, col1 = max(int(np.ceil(centre[0] - half_x)), 0), min(int(centre[0] + half_x) + 1, width)
    if row0 >= row1 or col0 >= col1:
        return
    dy, dx = np.mgrid[row0:row1, col0:col1].astype(np.float64)
    dx -= centre[0]
    dy -= centre[1]
    inverse = np.linalg.inv(cov)
    # Mahalanobis distance <= 2 is the 2-sigma ellipse of the release.
    distance2 = inverse[0, 0] * dx**2 + 2 * inverse[0, 1] * dx * dy + inverse[1, 1] * dy**2
    mask[row0:row1, col0:col1] += (distance2 <= 4.0) * value
