"""Resample vote maps onto another pixel grid: a survey cutout's WCS, or a plain new size.

Two cases:

* **By WCS** (:func:`reproject_map`, :func:`reproject_vote_maps`): the maps
  carry the GZ3D image's celestial WCS; the target is any celestial WCS and
  shape (e.g. a Legacy Surveys cutout). Uses the ``reproject`` package.
* **By size** (:func:`resize_map`, :func:`resize_vote_maps`): no WCS needed;
  the field of view is kept and only the number of pixels changes.

Methods:

``'nearest'``
    Value of the input pixel containing the output pixel's centre. Keeps
    integer counts integer; for masks and counts at similar scales.
``'bilinear'``
    Linear interpolation between the four nearest input pixel centres.
    Aliases when the output pixels are much larger than the input ones.
``'adaptive'`` (WCS only)
    Anti-aliased resampling (DeForest 2004, ``reproject_adaptive``, Gaussian
    kernel): each output pixel averages the input over its footprint. The
    choice for strong downsampling of vote fractions (the 0.099 arcsec/px
    GZ3D images onto 0.262 arcsec/px survey cutouts).
``'exact'`` (WCS) / ``'area'`` (size)
    Mean of the input weighted by the exact area each input pixel shares with
    the output pixel (``reproject_exact`` on the sky; separable overlap
    weights for resizing).

Every method is a weighted mean with non-negative weights, so outputs stay
within the input's range (vote fractions stay in [0, 1]); results are clipped
to that range to remove rounding excursions. Output pixels outside the input's
footprint get ``fill_value``: 0 by default (no volunteer saw them, so no vote),
or NaN (``fill_value=np.nan``) to mark them as unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from astropy.wcs import WCS
from scipy.ndimage import map_coordinates

from galseg.labels.rasterize import FEATURES, VoteMaps, check_shape

ReprojectMethod = Literal["nearest", "bilinear", "adaptive", "exact"]
ResizeMethod = Literal["nearest", "bilinear", "area"]
_REPROJECT_METHODS = ("nearest", "bilinear", "adaptive", "exact")
_RESIZE_METHODS = ("nearest", "bilinear", "area")


def _check_map(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim != 2 or data.dtype.kind not in "biuf":
        raise ValueError(
            f"data must be a 2-D numeric (H, W) map, got shape {data.shape} and dtype {data.dtype}"
        )
    return data


def _clip_to_input_range(result: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Clip to the input's finite range (NaN stays NaN)."""
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    if finite.size:
        with np.errstate(invalid="ignore"):
            np.clip(result, finite.min(), finite.max(), out=result)
    return result


def reproject_map(
    data: np.ndarray,
    source_wcs: WCS,
    target_wcs: WCS,
    target_shape: Sequence[int],
    *,
    method: ReprojectMethod = "adaptive",
    fill_value: float = 0.0,
) -> np.ndarray:
    """Resample one map from ``source_wcs`` onto ``target_wcs`` and ``target_shape``.

    Parameters
    ----------
    data : ndarray, shape (H, W)
        The map (vote fractions, counts or a mask) on the source grid.
    source_wcs, target_wcs : astropy.wcs.WCS
        Two-axis celestial WCS of the source and target grids.
    target_shape : (int, int)
        ``(height, width)`` of the output.
    method : {'nearest', 'bilinear', 'adaptive', 'exact'}, keyword-only
        See the module docstring. Default 'adaptive' (anti-aliased).
    fill_value : float, keyword-only
        Value outside the source footprint: 0 (default) or NaN.

    Returns
    -------
    ndarray of float64, shape target_shape
        Within the input's value range, ``fill_value`` outside the footprint.
    """
    data = _check_map(data)
    target_shape = check_shape(target_shape, "target_shape")
    if method not in _REPROJECT_METHODS:
        raise ValueError(f"method must be one of {', '.join(_REPROJECT_METHODS)}, got {method!r}")
    for name, wcs in (("source_wcs", source_wcs), ("target_wcs", target_wcs)):
        if not isinstance(wcs, WCS) or wcs.naxis != 2 or not wcs.has_celestial:
            raise ValueError(f"{name} must be a two-axis celestial astropy WCS")
    # Imported here: reproject pulls in dask and zarr, which nothing else needs, so
    # `import galseg` (and every command that resamples no maps by WCS) stays light.
    from reproject import reproject_adaptive, reproject_exact, reproject_interp

    source = (data.astype(np.float64), source_wcs)
    if method in ("nearest", "bilinear"):
        order = "nearest-neighbor" if method == "nearest" else "bilinear"
        result, footprint = reproject_interp(source, target_wcs, target_shape, order=order)
    elif method == "adaptive":
        # Output pixels with more than half their kernel weight off the source
        # image are outside; the others are averaged over the part inside.
        result, footprint = reproject_adaptive(
            source,
            target_wcs,
            target_shape,
            conserve_flux=False,
            kernel="gaussian",
            boundary_mode="ignore_threshold",
            boundary_ignore_threshold=0.5,
        )
    else:
        result, footprint = reproject_exact(source, target_wcs, target_shape)
    # NaN inside the footprint can only come from NaN input (a map already
    # resampled with fill_value=nan) and is kept.
    result = _clip_to_input_range(result, data)
    return np.where(footprint > 0, result, fill_value)


def reproject_vote_maps(
    vote_maps: VoteMaps,
    target_wcs: WCS,
    target_shape: Sequence[int],
    *,
    method: ReprojectMethod = "adaptive",
    fill_value: float = 0.0,
) -> VoteMaps:
    """Vote maps resampled onto ``target_wcs`` / ``target_shape`` (e.g. a survey cutout).

    Counts are resampled (fractions follow, being counts over a fixed number
    of volunteers). 'nearest' with an integer ``fill_value`` keeps counts
    integer; other methods give the expected number of votes as float64.

    Parameters
    ----------
    vote_maps : VoteMaps
        Maps with a WCS (e.g. from :func:`galseg.labels.rasterize.vote_maps` on a subject).
    target_wcs : astropy.wcs.WCS
    target_shape : (int, int)
    method, fill_value : keyword-only
        As in :func:`reproject_map`.

    Returns
    -------
    VoteMaps
        Same volunteers, new grid and WCS.
    """
    if vote_maps.wcs is None:
        raise ValueError("vote_maps has no WCS; use resize_vote_maps to change only the size")
    counts = []
    for feature in FEATURES:
        count = vote_maps.count(feature)
        result = reproject_map(
            count, vote_maps.wcs, target_wcs, target_shape, method=method, fill_value=fill_value
        )
        counts.append(_keep_integer(result, count, method, fill_value))
    return vote_maps.with_counts(*counts, wcs=target_wcs)


def _keep_integer(
    result: np.ndarray, count: np.ndarray, method: str, fill_value: float
) -> np.ndarray:
    # Nearest-neighbour picks input values, so integer counts stay exact integers.
    if method == "nearest" and count.dtype.kind in "iu" and float(fill_value).is_integer():
        return np.rint(result).astype(count.dtype)
    return result


# ----------------------------------------------------------------------------------
# Resizing without a WCS
# ----------------------------------------------------------------------------------
def _overlap_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix: share of output pixel i's extent covered by input pixel k."""
    scale = n_in / n_out
    edges = np.arange(n_out + 1) * scale  # output pixel edges in input pixel units
    low = np.maximum(edges[:-1, None], np.arange(n_in)[None, :])
    high = np.minimum(edges[1:, None], np.arange(1, n_in + 1)[None, :])
    return np.clip(high - low, 0, None) / scale


def _centre_coordinates(n_in: int, n_out: int) -> np.ndarray:
    # Pixel k spans [k - 0.5, k + 0.5) in input pixel coordinates (centres at
    # integers); output pixel i's centre, at the same place in the field of
    # view, sits at input coordinate (i + 0.5) * n_in / n_out - 0.5.
    return (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5


def resize_map(
    data: np.ndarray, shape: Sequence[int], *, method: ResizeMethod = "area"
) -> np.ndarray:
    """Resample a map to ``shape`` pixels covering the same field of view.

    Pixel-centre convention: input pixel ``(i, j)`` is the square centred on
    ``(x, y) = (j, i)`` with side 1; the output grid divides the same
    ``H x W`` square into ``shape`` equal pixels. So output pixel ``i``'s
    centre is at input coordinate ``(i + 0.5) * H_in / H_out - 0.5`` (for
    downsampling by 2, the point between input pixels ``2i`` and ``2i + 1``).

    Parameters
    ----------
    data : ndarray, shape (H, W)
    shape : (int, int)
        Output ``(height, width)``.
    method : {'area', 'bilinear', 'nearest'}, keyword-only
        'area' (default): exact area-weighted mean of the input pixels under
        each output pixel (block mean for integer factors; pixel replication
        when upsampling). 'bilinear': linear interpolation at output centres,
        edge values extended over the outer half pixel. 'nearest': the input
        pixel containing the output centre (keeps the dtype).

    Returns
    -------
    ndarray, shape ``shape``
        float64, or the input dtype for 'nearest'.

    Examples
    --------
    >>> resize_map(np.array([[0, 1], [1, 0]]), (1, 1)).tolist()
    [[0.5]]
    """
    data = _check_map(data)
    height, width = check_shape(shape, "shape")
    if method not in _RESIZE_METHODS:
        raise ValueError(f"method must be one of {', '.join(_RESIZE_METHODS)}, got {method!r}")
    n_rows, n_cols = data.shape
    if method == "nearest":
        rows = np.minimum(np.floor((np.arange(height) + 0.5) * n_rows / height), n_rows - 1)
        cols = np.minimum(np.floor((np.arange(width) + 0.5) * n_cols / width), n_cols - 1)
        return data[np.ix_(rows.astype(np.intp), cols.astype(np.intp))]
    values = data.astype(np.float64)
    if method == "area":
        result = _overlap_weights(n_rows, height) @ values @ _overlap_weights(n_cols, width).T
    else:
        rows = _centre_coordinates(n_rows, height)
        cols = _centre_coordinates(n_cols, width)
        grid = np.meshgrid(rows, cols, indexing="ij")
        result = map_coordinates(values, grid, order=1, mode="nearest")
    return _clip_to_input_range(result, values)


def resize_wcs(wcs: WCS, input_shape: Sequence[int], output_shape: Sequence[int]) -> WCS:
    """The WCS of a grid resized by :func:`resize_map` (same field of view).

    Scales the pixel matrix by ``H_in/H_out`` and ``W_in/W_out`` and moves the
    reference pixel so that every sky position keeps its place in the field of
    view. Linear WCS only (SIP or other distortions are not rescaled).
    """
    (in_h, in_w), (out_h, out_w) = (
        check_shape(input_shape, "input_shape"),
        check_shape(output_shape, "output_shape"),
    )
    scale = np.array([in_w / out_w, in_h / out_h])
    new = wcs.deepcopy()
    # FITS 1-based pixel p maps to 0-based p - 1; the same field position has
    # 0-based coordinates x_out = (x_in + 0.5) / scale - 0.5.
    new.wcs.crpix = (np.asarray(wcs.wcs.crpix) - 0.5) / scale + 0.5
    if new.wcs.has_cd():
        new.wcs.cd = np.asarray(wcs.wcs.cd) * scale[None, :]
    else:
        new.wcs.cdelt = np.asarray(wcs.wcs.cdelt) * scale
    new.wcs.set()
    return new


def resize_vote_maps(
    vote_maps: VoteMaps, shape: Sequence[int], *, method: ResizeMethod = "area"
) -> VoteMaps:
    """Vote maps resized to ``shape`` pixels over the same field of view (WCS updated).

    See :func:`resize_map`; 'nearest' keeps integer counts.
    """
    counts = [resize_map(vote_maps.count(f), shape, method=method) for f in FEATURES]
    wcs = None
    if vote_maps.wcs is not None:
        wcs = resize_wcs(vote_maps.wcs, vote_maps.shape, shape)
    return vote_maps.with_counts(*counts, wcs=wcs)
