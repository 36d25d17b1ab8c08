"""Bar length, width and position angle from a bar vote-fraction map.

The map (a model's prediction or the volunteers' votes) is thresholded, the
connected region that holds the map's peak is kept (holes filled), and
measured: length and width are the sides of the minimum-area rectangle around
the region's pixel *corners* (a run of n pixels is n long; the maximum Feret
diameter would be the rectangle's diagonal), the angle is the major axis of
the region's second moments. Rules, defaults and the measurements behind
them: ``docs/measurements.md``.
"""

from __future__ import annotations

import contextlib
from functools import cached_property
from typing import Any, NamedTuple

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from scipy.ndimage import binary_fill_holes
from scipy.spatial import ConvexHull
from skimage.measure import label, regionprops

from galseg.data.gz3d import image_angle_to_position_angle
from galseg.physical import kpc_per_arcsec

DEFAULT_BAR_THRESHOLD_RULE: float | str = "median-nonzero"
"""Threshold of the bar map: the median of its non-zero pixels, the rule of Walmsley &
Spindler (2023); chosen on the shipped model's validation maps (``docs/measurements.md``)."""
NONZERO_PERCENTILE_RULES = {"median-nonzero": 50.0, "p80-nonzero": 80.0}
"""Per-map rules: this percentile of the map's non-zero pixels (the paper's median and
the reference code's 80th percentile)."""
DEFAULT_BAR_MIN_PEAK = 0.5
"""A bar is detected only where at least this vote fraction is reached somewhere."""
DEFAULT_MIN_PIXELS = 12
"""Smallest region counted as a feature (the simulator's ``MIN_TRUTH_PIXELS``)."""

# A float32 map of k/n votes compared with the float64 level k/n may fall a few
# ulp short of it; this slack (far below 1/n for any crowd) lets it through.
VOTE_LEVEL_TOLERANCE = 1e-6


# --------------------------------------------------------------------------------
# Input checks shared with galseg.measure.arms
# --------------------------------------------------------------------------------
def as_vote_fraction_map(vote_fraction: Any, name: str) -> np.ndarray:
    """``vote_fraction`` as a float64 (H, W) array with NaN (no data) set to 0."""
    if np.asarray(vote_fraction).dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric (H, W) array, got {type(vote_fraction)!r}")
    array = np.array(vote_fraction, dtype=float)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty 2-D (H, W) array, got shape {array.shape}")
    array[~np.isfinite(array)] = 0.0
    return array


def check_pixscale(pixscale_arcsec: float | u.Quantity | None, wcs: WCS | None) -> float:
    """Pixel scale in arcsec (NaN if unknown); a Quantity is converted, a WCS is used if None."""
    if pixscale_arcsec is None:
        if wcs is None:
            return np.nan
        return float(np.mean(proj_plane_pixel_scales(wcs.celestial)) * 3600.0)
    if isinstance(pixscale_arcsec, u.Quantity):
        pixscale_arcsec = pixscale_arcsec.to_value(u.arcsec)
    value = float(pixscale_arcsec)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"pixscale_arcsec must be a positive number or None, got {value!r}")
    return value


def check_redshift(redshift: float | None) -> float:
    """Redshift as a float (NaN if None); it must be finite and > 0."""
    if redshift is None:
        return np.nan
    value = float(redshift)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"redshift must be a positive number or None, got {redshift!r}")
    return value


def kpc_per_arcsec_or_nan(redshift: float) -> float:
    """kpc per arcsec at ``redshift`` (Planck18), NaN if the redshift is NaN."""
    return float(kpc_per_arcsec(redshift).to_value(u.kpc / u.arcsec)) if redshift > 0 else np.nan


class ThresholdRule(NamedTuple):
    """A parsed mask rule (:func:`parse_threshold`)."""

    kind: str
    """``'absolute'``, ``'peak'`` or ``'nonzero-percentile'``."""
    value: float
    """The level, the fraction F of ``'peakF^G'`` or the percentile."""
    exponent: float = 1.0
    """G of ``'peakF^G'`` (1 for every other rule)."""


MAX_PEAK_EXPONENT = 4.0
"""Largest G of a ``'peakF^G'`` rule."""
MAX_PEAK_FRACTION = 10.0
"""Largest F of a ``'peakF^G'`` rule with G > 1 (its level ``F * peak**G`` stays below
the peak only where ``peak < F**(-1 / (G - 1))``)."""


def parse_threshold(threshold: float | str) -> ThresholdRule:
    """Split a threshold rule into its kind, value and exponent.

    Parameters
    ----------
    threshold : float or str
        A vote fraction in (0, 1] (``kind='absolute'``); ``'peakF'`` with F in (0, 1]
        (``'peak0.5'``: half the map's peak) or ``'peakF^G'`` (level ``F * peak**G``, G in
        (0, 4]; F in (0, 1] for G <= 1, else in (0, 10]) (``kind='peak'``);
        ``'median-nonzero'`` (the median of the map's non-zero pixels) or ``'p80-nonzero'``
        (their 80th percentile) (``kind='nonzero-percentile'``).

    Returns
    -------
    ThresholdRule

    Examples
    --------
    >>> parse_threshold("peak0.3^1.5")
    ThresholdRule(kind='peak', value=0.3, exponent=1.5)
    """
    if isinstance(threshold, str) and threshold in NONZERO_PERCENTILE_RULES:
        return ThresholdRule("nonzero-percentile", NONZERO_PERCENTILE_RULES[threshold])
    is_peak = isinstance(threshold, str) and threshold.startswith("peak")
    kind = "peak" if is_peak else "absolute"
    value, exponent = np.nan, 1.0
    if is_peak:
        fraction, caret, power = str(threshold)[4:].partition("^")
        with contextlib.suppress(ValueError):
            value, exponent = float(fraction), float(power) if caret else 1.0
    elif isinstance(threshold, int | float | np.number) and not isinstance(threshold, bool):
        value = float(threshold)
    max_value = MAX_PEAK_FRACTION if exponent > 1 else 1.0
    if not (0 < value <= max_value and 0 < exponent <= MAX_PEAK_EXPONENT):
        raise ValueError(
            f"threshold must be a vote fraction in (0, 1], 'peakF' with F in (0, 1] "
            f"such as 'peak0.5', 'peakF^G' (level F * peak**G, 0 < G <= "
            f"{MAX_PEAK_EXPONENT:g}, F <= {MAX_PEAK_FRACTION:g}) such as 'peak0.3^1.5', "
            f"or one of {sorted(NONZERO_PERCENTILE_RULES)}; got {threshold!r}"
        )
    return ThresholdRule(kind, value, exponent)


def threshold_level(vote_fraction: np.ndarray, threshold: float | str) -> float:
    """The vote-fraction level that the rule ``threshold`` gives on this map.

    NaN pixels count as 0. A map with no positive pixel gives its peak (0 or less), at
    which nothing is detected.
    """
    kind, value, exponent = parse_threshold(threshold)
    finite = np.nan_to_num(np.asarray(vote_fraction, dtype=float), nan=0.0)
    peak = float(finite.max()) if finite.size else 0.0
    if kind == "absolute":
        return value
    if kind == "peak":
        return value * peak ** exponent if peak > 0 else peak
    positive = finite[finite > 0]
    return float(np.percentile(positive, value)) if positive.size else peak


def minimum_area_rectangle(mask: np.ndarray) -> tuple[float, float, float]:
    """Long side, short side and angle of the smallest rectangle enclosing the pixel corners.

    Rotating calipers over the convex hull (scikit-image has no minimum-area
    rectangle; the smallest rectangle has a side on a hull edge).

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
        A non-empty region.

    Returns
    -------
    length_px, width_px, angle_deg : float
        Sides in pixels; image-plane angle of the long side, ccw from +x, in [0, 180).
    """
    rows, cols = np.nonzero(mask)
    offsets = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])
    corners = np.unique((np.column_stack([cols, rows])[:, None, :] + offsets).reshape(-1, 2),
                        axis=0)
    hull = corners[ConvexHull(corners).vertices]
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.arctan2(edges[:, 1], edges[:, 0])
    cos, sin = np.cos(angles), np.sin(angles)
    along = np.ptp(hull[:, :1] * cos + hull[:, 1:] * sin, axis=0)  # extent along each edge
    across = np.ptp(-hull[:, :1] * sin + hull[:, 1:] * cos, axis=0)
    k = int(np.argmin(along * across))
    angle = np.rad2deg(angles[k]) + (0.0 if along[k] >= across[k] else 90.0)
    return float(max(along[k], across[k])), float(min(along[k], across[k])), float(angle % 180)


def axis_end_points(centre_xy: tuple[float, float], angle_deg: float,
                    half_length: float) -> tuple[float, float, float, float]:
    """``(x1, y1, x2, y2)``: the ends of a segment of ``2 * half_length`` pixels through
    ``centre_xy`` at the image-plane angle ``angle_deg`` (ccw from +x)."""
    (x0, y0), angle = centre_xy, np.deg2rad(angle_deg)
    dx, dy = half_length * np.cos(angle), half_length * np.sin(angle)
    return (x0 - dx, y0 - dy, x0 + dx, y0 + dy)


def sky_position_angle(angle_deg: float, centre_xy: tuple[float, float],
                       wcs: WCS | None) -> float:
    """The image-plane axis angle ``angle_deg`` at ``centre_xy`` as a position angle east
    of north in [0, 180): through the WCS (a one-pixel step along the axis, right even
    with a distorted WCS), else the GZ3D orientation (north towards row 0, east towards
    column 0)."""
    if wcs is None:
        return image_angle_to_position_angle(angle_deg)
    (x0, y0), angle = centre_xy, np.deg2rad(angle_deg)
    start, end = wcs.celestial.pixel_to_world([x0, x0 + np.cos(angle)],
                                              [y0, y0 + np.sin(angle)])
    if not isinstance(start, SkyCoord):
        raise ValueError("wcs must be a celestial WCS (RA/Dec axes)")
    return float(start.position_angle(end).to_value(u.deg) % 180.0)


# --------------------------------------------------------------------------------
# The measurement
# --------------------------------------------------------------------------------
class BarMeasurement:
    """Bar length, width, axis ratio and position angle from a bar vote-fraction map.

    Small result object: everything is computed on first use.

    Parameters
    ----------
    bar_vote_fraction : array_like, shape (H, W)
        Fraction of volunteers (or a model's estimate of it) marking each pixel
        as bar, in [0, 1]; NaN counts as 0. Pixel ``(i, j)`` is centred on
        ``(x, y) = (j, i)``.
    pixscale_arcsec : float, Quantity or None, keyword-only
        Pixel scale; taken from ``wcs`` when None; lengths in arcsec and kpc are
        NaN when neither is given.
    redshift : float or None, keyword-only
        Redshift for kpc (Planck18 angular-diameter distance).
    threshold : float or str, keyword-only
        A vote fraction (``0.4``: pixels where at least 40% voted) or ``'peakF'``
        (``'peak0.5'``: at least half the map's peak). Pixels ``>=`` the level count.
    min_peak : float, keyword-only
        No bar unless the map reaches this vote fraction somewhere.
    min_pixels : int, keyword-only
        No bar unless the region has at least this many pixels.
    wcs : astropy.wcs.WCS or None, keyword-only
        Celestial WCS of the map for the sky position angle; without it the GZ3D
        orientation (north towards row 0, east towards column 0) is assumed.

    Examples
    --------
    >>> vote_fraction = np.zeros((32, 32))
    >>> vote_fraction[14:18, 6:26] = 0.8
    >>> bar = BarMeasurement(vote_fraction, pixscale_arcsec=0.262)
    >>> bar.detected, bar.length_px, bar.width_px, bar.position_angle_deg
    (True, 20.0, 4.0, 0.0)
    >>> bar.length_arcsec.round(2)
    <Quantity 5.24 arcsec>
    """

    def __init__(
        self,
        bar_vote_fraction: np.ndarray,
        *,
        pixscale_arcsec: float | u.Quantity | None = None,
        redshift: float | None = None,
        threshold: float | str = DEFAULT_BAR_THRESHOLD_RULE,
        min_peak: float = DEFAULT_BAR_MIN_PEAK,
        min_pixels: int = DEFAULT_MIN_PIXELS,
        wcs: WCS | None = None,
    ) -> None:
        self._map = as_vote_fraction_map(bar_vote_fraction, "bar_vote_fraction")
        parse_threshold(threshold)  # a bad rule fails here, not at first use
        if not (np.isfinite(min_peak) and 0 <= min_peak <= 1):
            raise ValueError(f"min_peak must be a vote fraction in [0, 1], got {min_peak!r}")
        if isinstance(min_pixels, bool) or not isinstance(min_pixels, int | np.integer) \
                or min_pixels < 1:
            raise ValueError(f"min_pixels must be a positive integer, got {min_pixels!r}")
        self.threshold = threshold
        self.min_peak = float(min_peak)
        self.min_pixels = int(min_pixels)
        self.wcs = wcs
        self.pixscale_arcsec = check_pixscale(pixscale_arcsec, wcs)
        self.redshift = check_redshift(redshift)

    def __repr__(self) -> str:
        return (f"<BarMeasurement shape={self._map.shape} threshold={self.threshold!r} "
                f"detected={self.detected} length_px={self.length_px:.2f}>")

    # --- the region --------------------------------------------------------------
    @cached_property
    def peak_vote_fraction(self) -> float:
        """Largest value of the map (NaN counted as 0)."""
        return float(self._map.max())

    @cached_property
    def threshold_value(self) -> float:
        """The vote-fraction level used (the rule applied to this map)."""
        return threshold_level(self._map, self.threshold)

    @cached_property
    def _candidate(self) -> np.ndarray:
        """Component of the thresholded map with the highest peak (ties: most votes), filled."""
        if self.peak_vote_fraction <= 0:
            return np.zeros(self._map.shape, dtype=bool)
        above = self._map >= self.threshold_value - VOTE_LEVEL_TOLERANCE
        labels = label(above, connectivity=2)
        if labels.max() == 0:
            return above
        regions = regionprops(labels, intensity_image=self._map)
        best = max(regions, key=lambda r: (r.intensity_max, r.intensity_mean * r.area))
        return binary_fill_holes(labels == best.label)

    @cached_property
    def detected(self) -> bool:
        """True when the map's peak reaches ``min_peak`` and the region ``min_pixels``."""
        return bool(self.peak_vote_fraction >= self.min_peak - VOTE_LEVEL_TOLERANCE
                    and self._candidate.sum() >= self.min_pixels)

    @cached_property
    def mask(self) -> np.ndarray:
        """The bar region, bool (H, W); all False when no bar is detected."""
        mask = self._candidate.copy() if self.detected else np.zeros(self._map.shape, bool)
        mask.flags.writeable = False
        return mask

    @cached_property
    def area_px(self) -> int:
        """Pixels in :attr:`mask`."""
        return int(self.mask.sum())

    @cached_property
    def _props(self):
        return regionprops(self.mask.astype(np.uint8))[0] if self.detected else None

    @cached_property
    def centroid_xy(self) -> tuple[float, float]:
        """Centre ``(x, y)`` of the region in pixels (NaN if not detected)."""
        if self._props is None:
            return (np.nan, np.nan)
        row, col = self._props.centroid
        return (float(col), float(row))

    @cached_property
    def _rectangle(self) -> tuple[float, float, float]:
        return minimum_area_rectangle(self.mask) if self.detected else (np.nan,) * 3

    # --- lengths and angles ------------------------------------------------------
    @cached_property
    def length_px(self) -> float:
        """End-to-end length: long side of the minimum-area rectangle, pixels (NaN if none)."""
        return self._rectangle[0]

    @cached_property
    def width_px(self) -> float:
        """Short side of the minimum-area rectangle, pixels (NaN if none)."""
        return self._rectangle[1]

    @cached_property
    def axis_ratio(self) -> float:
        """``width_px / length_px`` (NaN if none)."""
        return self.width_px / self.length_px if self.detected else np.nan

    @cached_property
    def position_angle_deg(self) -> float:
        """Image-plane angle of the long axis (second moments), ccw from +x, in [0, 180)."""
        if self._props is None:
            return np.nan
        # skimage's orientation is measured from the row axis towards the column axis
        return float((90.0 - np.rad2deg(self._props.orientation)) % 180.0)

    @cached_property
    def end_points(self) -> tuple[float, float, float, float]:
        """``(x1, y1, x2, y2)``: the ends of a line of :attr:`length_px` through the region's
        centroid along :attr:`position_angle_deg` (NaN if none); for figures and for
        comparing with bars marked by hand."""
        if not self.detected:
            return (np.nan,) * 4
        return axis_end_points(self.centroid_xy, self.position_angle_deg, 0.5 * self.length_px)

    @cached_property
    def sky_position_angle_deg(self) -> float:
        """Position angle of the long axis east of north, degrees in [0, 180) (NaN if none)."""
        if not self.detected:
            return np.nan
        return sky_position_angle(self.position_angle_deg, self.centroid_xy, self.wcs)

    @cached_property
    def length_arcsec(self) -> u.Quantity:
        """Length in arcsec (NaN if no bar or no pixel scale)."""
        return self.length_px * self.pixscale_arcsec * u.arcsec

    @cached_property
    def length_kpc(self) -> u.Quantity:
        """Length in kpc at ``redshift`` (NaN if no bar, pixel scale or redshift)."""
        scale = kpc_per_arcsec_or_nan(self.redshift) * u.kpc / u.arcsec
        return (self.length_arcsec * scale).to(u.kpc)

    def to_row(self) -> dict[str, Any]:
        """Catalog columns (plain floats, NaN where unknown; ``has_bar`` bool)."""
        return {
            "has_bar": self.detected,
            "bar_length_px": float(self.length_px),
            "bar_length_arcsec": float(self.length_arcsec.to_value(u.arcsec)),
            "bar_length_kpc": float(self.length_kpc.to_value(u.kpc)),
            "bar_width_px": float(self.width_px),
            "bar_axis_ratio": float(self.axis_ratio),
            "bar_pa_deg": float(self.sky_position_angle_deg),
        }


def measure_bar(bar_vote_fraction: np.ndarray, **kwargs: Any) -> BarMeasurement:
    """Measure the bar in ``bar_vote_fraction``; keyword arguments as :class:`BarMeasurement`."""
    return BarMeasurement(bar_vote_fraction, **kwargs)


__all__ = ["DEFAULT_BAR_MIN_PEAK", "DEFAULT_BAR_THRESHOLD_RULE", "NONZERO_PERCENTILE_RULES",
           "BarMeasurement", "ThresholdRule", "measure_bar", "minimum_area_rectangle",
           "parse_threshold", "sky_position_angle", "threshold_level"]
