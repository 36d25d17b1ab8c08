"""Exact truth of a simulated galaxy, as the simulated volunteers and the truth files see it.

Pixel convention everywhere in galseg: arrays are indexed ``[row, column]``;
a point is ``(x, y)`` with ``x`` the 0-based column and ``y`` the 0-based row,
and pixel ``(i, j)`` has its centre at ``x = j, y = i`` (the GZ3D polygon
convention). Angles in the image plane (``angle_deg``) are counter-clockwise
from the +x axis towards +y; sky position angles (``pa_deg``) are east of
north, converted through the image's WCS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class ArmTrace:
    """One spiral arm (or armlet) of a simulated galaxy, in image pixels.

    Attributes
    ----------
    ridge_xy : ndarray, shape (n, 2), float
        Points along the arm's ridge line from its inner to its outer end, ``(x, y)``.
    width_px : ndarray, shape (n,), float
        Full width of the arm across the ridge at each point (the width of the
        truth mask there), in pixels.
    contrast : float
        How visible the arm is: peak arm surface brightness over the per-pixel sky
        noise in the r band (after the PSF). Volunteers miss low-contrast arms.
    """

    ridge_xy: np.ndarray
    width_px: np.ndarray
    contrast: float


@dataclass(frozen=True)
class BarTrace:
    """The bar of a simulated galaxy as projected on the image.

    Attributes
    ----------
    centre_xy : tuple of float
        Bar centre ``(x, y)`` in pixels.
    half_length_px : float
        Projected semi-major axis (half the end-to-end length), pixels.
    half_width_px : float
        Projected semi-minor axis, pixels.
    angle_deg : float
        Image-plane angle of the bar's major axis, counter-clockwise from +x, in [0, 180).
    contrast : float
        Peak bar surface brightness over the per-pixel r-band sky noise.
    """

    centre_xy: tuple[float, float]
    half_length_px: float
    half_width_px: float
    angle_deg: float
    contrast: float


@dataclass(frozen=True)
class StarTrace:
    """A foreground star: position in pixels and r-band flux over sky noise (peak S/N)."""

    xy: tuple[float, float]
    peak_snr: float


@dataclass(frozen=True, eq=False)
class GalaxyTruth:
    """Everything the simulation knows about the central galaxy of a cutout.

    Attributes
    ----------
    spiral_mask, bar_mask : ndarray of bool, shape (H, W)
        Exact truth masks (definition in ``docs/simulator.md``).
    arms : tuple of ArmTrace
        Every arm or armlet; empty for galaxies without arms.
    bar : BarTrace or None
        The bar, or None when the galaxy has none.
    centre_xy : tuple of float
        The galaxy centre, pixels.
    disc_radius_px : float
        Radius on the major axis that encloses the visible disc (where arms fade),
        pixels; sets the scale of what volunteers draw.
    axis_ratio : float
        Apparent minor/major axis ratio of the disc (cos(inclination) with thickness).
    disc_angle_deg : float
        Image-plane angle of the disc's major axis, counter-clockwise from +x.
    stars : tuple of StarTrace
        Foreground stars in the cutout.
    """

    spiral_mask: np.ndarray
    bar_mask: np.ndarray
    arms: tuple[ArmTrace, ...]
    bar: BarTrace | None
    centre_xy: tuple[float, float]
    disc_radius_px: float
    axis_ratio: float
    disc_angle_deg: float
    stars: tuple[StarTrace, ...] = field(default_factory=tuple)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.spiral_mask.shape)  # type: ignore[return-value]
