"""Spiral-arm presence, mask and area from a spiral vote-fraction map.

Two levels, as for the bar (``galseg.measure.bar``):

* **Presence.** A galaxy has arms when at least ``min_pixels`` pixels reach the
  vote fraction ``detection_level`` (0.1, 1.5 of 15 volunteers).
* **Mask.** The arms are every pixel at or above the level that the rule
  ``threshold`` gives on this map, all connected regions together (arms come in many
  separate pieces, unlike a bar). The default, ``'peak0.5^2'`` (level ``0.5 * peak**2``),
  scales with the map's own peak, so it follows the arms' extent whether a galaxy's
  arms are obvious (high vote fractions all along them) or faint (low ones); a fixed
  level cuts faint arms short and lets obvious ones spread. The square makes the cut a
  larger fraction of the peak on strong maps (0.3 of a peak of 0.6) than on weak ones
  (0.1 of a peak of 0.2): a fixed fraction such as ``'peak0.15'`` leaves the masks of
  strong maps about 1.8 times the true arms' area.
  Measured against simulated truth on the shipped model's validation maps:
  ``docs/measurements.md``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import astropy.units as u
import numpy as np
from astropy.wcs import WCS

from galseg.measure.bar import (
    DEFAULT_MIN_PIXELS,
    VOTE_LEVEL_TOLERANCE,
    as_vote_fraction_map,
    check_pixscale,
    check_redshift,
    kpc_per_arcsec_or_nan,
    parse_threshold,
    threshold_level,
)

DEFAULT_SPIRAL_THRESHOLD: float | str = "peak0.5^2"
"""Rule of the arm mask: pixels at or above ``0.5 * peak**2`` of the map's peak vote fraction
(chosen on the shipped model's validation maps, ``docs/measurements.md``)."""
DEFAULT_SPIRAL_DETECTION_LEVEL = 0.1
"""Vote fraction that ``min_pixels`` pixels must reach for a galaxy to have arms."""


class ArmMeasurement:
    """Spiral-arm presence and area from a spiral vote-fraction map.

    Small result object: everything is computed on first use.

    Parameters
    ----------
    spiral_vote_fraction : array_like, shape (H, W)
        Fraction of volunteers (or a model's estimate of it) marking each pixel
        as spiral arm, in [0, 1]; NaN counts as 0.
    pixscale_arcsec : float, Quantity or None, keyword-only
        Pixel scale; taken from ``wcs`` when None.
    redshift : float or None, keyword-only
        Redshift for kpc^2 (Planck18 angular-diameter distance).
    threshold : float or str, keyword-only
        Rule of the arm mask, as for :class:`~galseg.measure.BarMeasurement`: a vote
        fraction in (0, 1], ``'peakF'`` (F times the map's peak) or ``'median-nonzero'``
        / ``'p80-nonzero'``; pixels ``>=`` its level are arm.
    detection_level : float, keyword-only
        Vote fraction in (0, 1] that ``min_pixels`` pixels must reach for arms to be
        detected.
    min_pixels : int, keyword-only
        Fewer pixels than this at ``detection_level`` means no arms.
    wcs : astropy.wcs.WCS or None, keyword-only
        Used only for the pixel scale when ``pixscale_arcsec`` is None.

    Examples
    --------
    >>> vote_fraction = np.zeros((20, 20))
    >>> vote_fraction[2:6, 2:10] = 0.6
    >>> vote_fraction[2:6, 10:14] = 0.05
    >>> arms = ArmMeasurement(vote_fraction, pixscale_arcsec=0.5)
    >>> arms.detected, arms.area_px, arms.area_arcsec2
    (True, 32, <Quantity 8. arcsec2>)
    >>> ArmMeasurement(vote_fraction, threshold=0.05).area_px
    48
    """

    def __init__(
        self,
        spiral_vote_fraction: np.ndarray,
        *,
        pixscale_arcsec: float | u.Quantity | None = None,
        redshift: float | None = None,
        threshold: float | str = DEFAULT_SPIRAL_THRESHOLD,
        detection_level: float = DEFAULT_SPIRAL_DETECTION_LEVEL,
        min_pixels: int = DEFAULT_MIN_PIXELS,
        wcs: WCS | None = None,
    ) -> None:
        self._map = as_vote_fraction_map(spiral_vote_fraction, "spiral_vote_fraction")
        parse_threshold(threshold)  # a bad rule fails here, not at first use
        if isinstance(detection_level, bool) \
                or not isinstance(detection_level, int | float | np.number) \
                or not 0 < detection_level <= 1:
            raise ValueError(f"detection_level must be a vote fraction in (0, 1], "
                             f"got {detection_level!r}")
        if isinstance(min_pixels, bool) or not isinstance(min_pixels, int | np.integer) \
                or min_pixels < 1:
            raise ValueError(f"min_pixels must be a positive integer, got {min_pixels!r}")
        self.threshold = threshold
        self.detection_level = float(detection_level)
        self.min_pixels = int(min_pixels)
        self.pixscale_arcsec = check_pixscale(pixscale_arcsec, wcs)
        self.redshift = check_redshift(redshift)

    def __repr__(self) -> str:
        return (f"<ArmMeasurement shape={self._map.shape} threshold={self.threshold!r} "
                f"detected={self.detected} area_px={self.area_px}>")

    @cached_property
    def threshold_value(self) -> float:
        """The vote-fraction level of the mask (the rule applied to this map)."""
        return threshold_level(self._map, self.threshold)

    @cached_property
    def detected(self) -> bool:
        """True when at least ``min_pixels`` pixels reach ``detection_level``."""
        above = self._map >= self.detection_level - VOTE_LEVEL_TOLERANCE
        return bool(above.sum() >= self.min_pixels)

    @property
    def has_spiral_arms(self) -> bool:
        """Alias of :attr:`detected`."""
        return self.detected

    @cached_property
    def mask(self) -> np.ndarray:
        """Arm pixels, bool (H, W); all False when no arms are detected."""
        if not self.detected:
            mask = np.zeros(self._map.shape, bool)
        else:  # the map is positive somewhere, so a per-map level is too
            mask = self._map >= self.threshold_value - VOTE_LEVEL_TOLERANCE
        mask.flags.writeable = False
        return mask

    @cached_property
    def area_px(self) -> int:
        """Number of arm pixels (0 when not detected)."""
        return int(self.mask.sum())

    @cached_property
    def area_arcsec2(self) -> u.Quantity:
        """Arm area in arcsec^2 (NaN without a pixel scale)."""
        return self.area_px * self.pixscale_arcsec**2 * u.arcsec**2

    @cached_property
    def area_kpc2(self) -> u.Quantity:
        """Arm area in kpc^2, projected on the sky (NaN without pixel scale or redshift)."""
        scale = kpc_per_arcsec_or_nan(self.redshift) * u.kpc / u.arcsec
        return (self.area_arcsec2 * scale**2).to(u.kpc**2)

    @cached_property
    def max_vote_fraction(self) -> float:
        """Largest value of the map (0 for an empty or all-NaN map)."""
        return float(self._map.max())

    def to_row(self) -> dict[str, Any]:
        """Catalog columns (plain numbers, NaN where unknown)."""
        return {
            "has_spiral_arms": self.detected,
            "spiral_area_px": self.area_px,
            "spiral_area_arcsec2": float(self.area_arcsec2.to_value(u.arcsec**2)),
            "spiral_area_kpc2": float(self.area_kpc2.to_value(u.kpc**2)),
            "spiral_max_vote_fraction": self.max_vote_fraction,
        }


def measure_arms(spiral_vote_fraction: np.ndarray, **kwargs: Any) -> ArmMeasurement:
    """Measure the arms in ``spiral_vote_fraction`` (keywords as :class:`ArmMeasurement`)."""
    return ArmMeasurement(spiral_vote_fraction, **kwargs)


__all__ = ["DEFAULT_SPIRAL_DETECTION_LEVEL", "DEFAULT_SPIRAL_THRESHOLD", "ArmMeasurement",
           "measure_arms"]
