"""Classical source extraction: what a survey pipeline's catalog makes of an image.

:func:`extract_sources` runs SExtractor's algorithm (Bertin & Arnouts 1996)
through ``sep`` (Barbary 2016) with SExtractor's defaults: a mesh background
(64 px boxes, 3x3 median filter) is estimated and subtracted, the image is
smoothed with the 3x3 pyramid kernel (``default.conv``), pixels above
``threshold_sigma`` times the local background rms form objects of at least
``min_area`` pixels, each object is deblended over ``deblend_nthresh``
exponentially spaced levels (a branch becomes its own source when it holds at
least ``deblend_cont`` of the object's flux), and spurious detections in the
wings of bright ones are cleaned away. The result is a catalog and a
segmentation map: the baseline that detection models are compared with, and
the catalog whose fragments of big galaxies ("shreds") the shred classifier
learns to recognise.

Conventions: pixel ``(i, j)`` has its centre at ``x = j, y = i`` (0-based);
``theta`` is counter-clockwise from +x towards +y, in radians; fluxes are in
the units of the image after background subtraction.

Examples
--------
>>> import numpy as np
>>> from galseg.predict.classical import extract_sources
>>> yy, xx = np.mgrid[0:64, 0:64]
>>> image = 50 * np.exp(-((xx - 20.0) ** 2 + (yy - 40.0) ** 2) / 8)
>>> image += np.random.default_rng(0).normal(0, 1, image.shape)
>>> result = extract_sources(image, background=0.0, background_rms=1.0)
>>> len(result.catalog), round(float(result.catalog["x"][0])), round(float(result.catalog["y"][0]))
(1, 20, 40)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import astropy.units as u
import numpy as np
import sep
from astropy.table import Table
from numpy.typing import ArrayLike

DEFAULT_FILTER_KERNEL = np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]],
                                 dtype=np.float32)
"""SExtractor's ``default.conv``: a 3x3 pyramid, for seeing of about 2-3 pixels FWHM."""
DEFAULT_FILTER_KERNEL.setflags(write=False)

# sep keeps at most this many sub-objects while deblending one object; a nearby
# spiral at 32 levels can exceed sep's default of 1024 (error "object deblending overflow").
_SUB_OBJECT_LIMIT = 8192


class NoDetectionsWarning(UserWarning):
    """Nothing in the image rose above the detection threshold."""


@dataclass(frozen=True, eq=False)
class SourceExtraction:
    """Sources found in one image.

    Attributes
    ----------
    catalog : astropy.table.Table
        One row per source, in ``sep``'s order: ``label`` (its value in
        ``segmentation``), ``x``, ``y`` (barycentre, 0-based pixels), ``flux``
        (sum over the segment, background subtracted), ``flux_err`` (from the
        background rms only), ``snr``, ``peak``, ``a``, ``b`` (pixels),
        ``theta`` (radians, ccw from +x towards +y), ``npix``, ``flag`` (sep
        flags, e.g. ``sep.OBJ_MERGED``).
    segmentation : ndarray of int32, shape (H, W)
        0 where no source; ``k`` on the pixels of the source with ``label == k``.
    background : ndarray of float32, shape (H, W)
        The background that was subtracted.
    background_rms : ndarray of float32, shape (H, W)
        The 1-sigma background noise the threshold was set from.
    """

    catalog: Table
    segmentation: np.ndarray
    background: np.ndarray
    background_rms: np.ndarray

    @cached_property
    def global_rms(self) -> float:
        """Median background rms over the image (one number for the depth)."""
        return float(np.nanmedian(self.background_rms))

    def __len__(self) -> int:
        return len(self.catalog)


def _native_float(image: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    dtype = np.float32 if array.dtype.kind == "f" and array.dtype.itemsize <= 4 else np.float64
    # sep needs C-contiguous arrays in the machine's byte order (FITS data are big-endian)
    return np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("="))


def _full_map(value: ArrayLike, shape: tuple[int, int], dtype: np.dtype, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    if array.ndim not in (0, 2) or (array.ndim == 2 and array.shape != shape):
        raise ValueError(f"{name} must be a number or an array of shape {shape}, "
                         f"got shape {array.shape}")
    return np.ascontiguousarray(np.broadcast_to(array, shape), dtype=dtype)


def extract_sources(
    image: ArrayLike,
    *,
    threshold_sigma: float = 1.5,
    min_area: int = 5,
    deblend_nthresh: int = 32,
    deblend_cont: float = 0.005,
    mask: ArrayLike | None = None,
    background: ArrayLike | None = None,
    background_rms: ArrayLike | None = None,
    background_box: int = 64,
    background_filter: int = 3,
    filter_kernel: ArrayLike | None = DEFAULT_FILTER_KERNEL,
    clean: bool = True,
    clean_param: float = 1.0,
) -> SourceExtraction:
    """Detect and deblend sources in a 2-D image, SExtractor style.

    Parameters
    ----------
    image : array_like, shape (H, W)
        The image (any float or integer dtype, either byte order). NaN and
        infinite pixels are masked.
    threshold_sigma : float
        Detection threshold in units of the background rms (SExtractor
        ``DETECT_THRESH``), applied to the filtered image.
    min_area : int
        Minimum number of pixels above threshold (``DETECT_MINAREA``).
    deblend_nthresh : int
        Number of deblending levels (``DEBLEND_NTHRESH``).
    deblend_cont : float
        Minimum flux fraction of a branch to become its own source
        (``DEBLEND_MINCONT``); 1 switches deblending off.
    mask : array_like of bool, shape (H, W), optional
        True where pixels must be ignored (no background estimate, no detection).
    background : float or array_like, optional
        Background to subtract; by default estimated on a mesh of
        ``background_box`` pixels smoothed over ``background_filter`` boxes.
        Pass 0 for an image that is already sky subtracted.
    background_rms : float or array_like, optional
        1-sigma noise per pixel; by default the mesh estimate, floored at half
        its median (the mesh spline undershoots next to bright galaxies).
    background_box, background_filter : int
        Mesh size in pixels and median filter size in boxes (``BACK_SIZE``,
        ``BACK_FILTERSIZE``).
    filter_kernel : array_like or None
        Smoothing kernel before thresholding (``FILTER_NAME``); None: no smoothing.
    clean, clean_param : bool, float
        Remove detections that are only the wings of brighter ones (``CLEAN``).

    Returns
    -------
    SourceExtraction
        The catalog (empty, with a :class:`NoDetectionsWarning`, if nothing
        is found), segmentation map, background and its rms.

    Raises
    ------
    ValueError
        If a parameter is out of range, shapes disagree, or no pixel is valid.
    """
    data = _native_float(image, "image")
    shape = data.shape
    if not (np.isfinite(threshold_sigma) and threshold_sigma > 0):
        raise ValueError(f"threshold_sigma must be > 0, got {threshold_sigma!r}")
    for name, value in (("min_area", min_area), ("deblend_nthresh", deblend_nthresh),
                        ("background_box", background_box),
                        ("background_filter", background_filter)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0 <= deblend_cont <= 1:
        raise ValueError(f"deblend_cont must be in [0, 1], got {deblend_cont!r}")

    invalid = ~np.isfinite(data)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != shape:
            raise ValueError(f"mask must have the image's shape {shape}, got {mask.shape}")
        invalid |= mask
    if invalid.all():
        raise ValueError("image has no valid pixels (all NaN, infinite or masked)")
    data[invalid] = 0.0

    mesh = None
    if background is None or background_rms is None:
        mesh = sep.Background(data, mask=invalid, bw=background_box, bh=background_box,
                              fw=background_filter, fh=background_filter)
    back = mesh.back() if background is None else _full_map(background, shape, data.dtype,
                                                            "background")
    if background_rms is None:
        rms = mesh.rms()
        # The spline between mesh boxes can undershoot, even below 0, next to a box
        # inflated by a bright galaxy; the sky noise is nowhere far below its median.
        rms = np.maximum(rms, 0.5 * np.median(rms[~invalid])).astype(data.dtype)
    else:
        rms = _full_map(background_rms, shape, data.dtype, "background_rms")
        if not np.all(rms[~invalid] > 0):
            raise ValueError("background_rms must be > 0 on every valid pixel")
    subtracted = data - back
    subtracted[invalid] = 0.0
    rms = np.where(invalid, np.inf, rms).astype(data.dtype)

    kernel = None if filter_kernel is None else np.asarray(filter_kernel, dtype=np.float32)
    sep.set_extract_pixstack(max(sep.get_extract_pixstack(), data.size + 1024))
    sep.set_sub_object_limit(max(sep.get_sub_object_limit(), _SUB_OBJECT_LIMIT))
    objects, segmentation = sep.extract(
        subtracted, threshold_sigma, err=rms, mask=invalid, minarea=min_area,
        filter_kernel=kernel, filter_type="conv", deblend_nthresh=deblend_nthresh,
        deblend_cont=deblend_cont, clean=clean, clean_param=clean_param,
        segmentation_map=True)
    segmentation = segmentation.astype(np.int32)

    n = len(objects)
    if n == 0:
        warnings.warn(f"no sources above threshold_sigma={threshold_sigma} with "
                      f"min_area={min_area}; try a lower threshold or area, or check the "
                      "background", NoDetectionsWarning, stacklevel=2)
    variance = np.where(invalid, 0.0, rms.astype(np.float64) ** 2)
    flux_var = np.bincount(segmentation.ravel(), weights=variance.ravel(), minlength=n + 1)[1:]
    flux_err = np.sqrt(flux_var)
    flux = objects["flux"].astype(np.float64)
    catalog = Table()
    catalog["label"] = np.arange(1, n + 1, dtype=np.int32)
    catalog["x"] = objects["x"].astype(np.float64) * u.pix
    catalog["y"] = objects["y"].astype(np.float64) * u.pix
    catalog["flux"] = flux
    catalog["flux_err"] = flux_err
    catalog["snr"] = np.divide(flux, flux_err, out=np.zeros(n), where=flux_err > 0)
    catalog["peak"] = objects["peak"].astype(np.float64)
    catalog["a"] = objects["a"].astype(np.float64) * u.pix
    catalog["b"] = objects["b"].astype(np.float64) * u.pix
    catalog["theta"] = objects["theta"].astype(np.float64) * u.rad
    catalog["npix"] = objects["npix"].astype(np.int64)
    catalog["flag"] = objects["flag"].astype(np.int32)
    return SourceExtraction(catalog=catalog, segmentation=segmentation,
                            background=np.asarray(back, dtype=np.float32),
                            background_rms=np.where(invalid, np.nan, rms).astype(np.float32))


__all__ = ["DEFAULT_FILTER_KERNEL", "NoDetectionsWarning", "SourceExtraction", "extract_sources"]
