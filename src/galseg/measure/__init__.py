"""Measurements on vote-fraction maps: spiral-arm area, bar length, width and angle.

:func:`measure_maps` turns a galaxy's two maps (a model's prediction or the
volunteers' votes) into one catalog row; :class:`ArmMeasurement` and
:class:`BarMeasurement` are the result objects behind it. Column meanings,
units and the threshold rules are in ``docs/measurements.md``.
"""

from __future__ import annotations

from typing import Any

import astropy.units as u
import numpy as np
from astropy.wcs import WCS

from galseg.measure.arms import (
    DEFAULT_SPIRAL_DETECTION_LEVEL,
    DEFAULT_SPIRAL_THRESHOLD,
    ArmMeasurement,
    measure_arms,
)
from galseg.measure.bar import (
    DEFAULT_BAR_MIN_PEAK,
    DEFAULT_BAR_THRESHOLD_RULE,
    DEFAULT_MIN_PIXELS,
    BarMeasurement,
    measure_bar,
)

_RULES = {
    "spiral_threshold": ("spiral", "threshold"),
    "spiral_detection_level": ("spiral", "detection_level"),
    "spiral_min_pixels": ("spiral", "min_pixels"),
    "bar_threshold": ("bar", "threshold"),
    "bar_min_peak": ("bar", "min_peak"),
    "bar_min_pixels": ("bar", "min_pixels"),
}


def measure_features(
    spiral_vote_fraction: np.ndarray,
    bar_vote_fraction: np.ndarray,
    *,
    pixscale_arcsec: float | u.Quantity | None = None,
    redshift: float | None = None,
    wcs: WCS | None = None,
    **rules: Any,
) -> tuple[ArmMeasurement, BarMeasurement]:
    """The arm and bar result objects of a galaxy's two vote-fraction maps (arguments as
    :func:`measure_maps`); their masks are what the catalog row was measured on."""
    unknown = sorted(set(rules) - set(_RULES))
    if unknown:
        raise TypeError(
            f"unknown rule(s) {unknown}; measure_maps accepts {sorted(_RULES)}"
        )
    spiral_shape, bar_shape = np.shape(spiral_vote_fraction), np.shape(bar_vote_fraction)
    if spiral_shape != bar_shape:
        raise ValueError(
            f"spiral_vote_fraction and bar_vote_fraction must have the same shape, "
            f"got {spiral_shape} and {bar_shape}"
        )
    options: dict[str, dict[str, Any]] = {"spiral": {}, "bar": {}}
    for key, value in rules.items():
        feature, name = _RULES[key]
        options[feature][name] = value
    common = {"pixscale_arcsec": pixscale_arcsec, "redshift": redshift, "wcs": wcs}
    return (ArmMeasurement(spiral_vote_fraction, **common, **options["spiral"]),
            BarMeasurement(bar_vote_fraction, **common, **options["bar"]))


def check_rules(**rules: Any) -> None:
    """Raise now, not at a first measurement, if ``rules`` (keyword arguments of
    :func:`measure_maps`) name an unknown rule (TypeError) or a bad value (ValueError)."""
    measure_features(np.zeros((1, 1)), np.zeros((1, 1)), **rules)


def measure_maps(
    spiral_vote_fraction: np.ndarray,
    bar_vote_fraction: np.ndarray,
    *,
    pixscale_arcsec: float | u.Quantity | None = None,
    redshift: float | None = None,
    wcs: WCS | None = None,
    **rules: Any,
) -> dict[str, Any]:
    """One catalog row of arm and bar measurements from a galaxy's two vote-fraction maps.

    Parameters
    ----------
    spiral_vote_fraction, bar_vote_fraction : array_like, shape (H, W)
        Per-pixel vote fractions in [0, 1] (NaN counts as 0), on the same grid.
    pixscale_arcsec : float, Quantity or None, keyword-only
        Pixel scale; from ``wcs`` when None; angular sizes are NaN without either.
    redshift : float or None, keyword-only
        Redshift for physical sizes (Planck18); they are NaN without it.
    wcs : astropy.wcs.WCS or None, keyword-only
        Celestial WCS of the maps (sky position angle, pixel scale).
    **rules
        ``spiral_threshold``, ``spiral_detection_level``, ``spiral_min_pixels``
        (:class:`ArmMeasurement`),
        ``bar_threshold``, ``bar_min_peak``, ``bar_min_pixels`` (:class:`BarMeasurement`).

    Returns
    -------
    dict
        ``has_spiral_arms``, ``spiral_area_px``, ``spiral_area_arcsec2``,
        ``spiral_area_kpc2``, ``spiral_max_vote_fraction``, ``has_bar``,
        ``bar_length_px``, ``bar_length_arcsec``, ``bar_length_kpc``,
        ``bar_width_px``, ``bar_axis_ratio``, ``bar_pa_deg``.

    Examples
    --------
    >>> spiral, bar = np.zeros((32, 32)), np.zeros((32, 32))
    >>> bar[14:18, 6:26] = 0.8
    >>> row = measure_maps(spiral, bar, pixscale_arcsec=0.262, bar_threshold=0.5)
    >>> row["has_spiral_arms"], row["has_bar"], row["bar_length_px"], row["bar_pa_deg"]
    (False, True, 20.0, 90.0)
    """
    arms, bar = measure_features(spiral_vote_fraction, bar_vote_fraction,
                                 pixscale_arcsec=pixscale_arcsec, redshift=redshift, wcs=wcs,
                                 **rules)
    return {**arms.to_row(), **bar.to_row()}


__all__ = [
    "DEFAULT_BAR_MIN_PEAK",
    "DEFAULT_BAR_THRESHOLD_RULE",
    "DEFAULT_MIN_PIXELS",
    "DEFAULT_SPIRAL_DETECTION_LEVEL",
    "DEFAULT_SPIRAL_THRESHOLD",
    "ArmMeasurement",
    "BarMeasurement",
    "check_rules",
    "measure_arms",
    "measure_bar",
    "measure_features",
    "measure_maps",
]
