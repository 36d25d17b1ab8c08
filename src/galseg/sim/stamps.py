"""Sources rendered on their own small stamps, cropped to a field.

A field of many galaxies and stars is drawn one source at a time: each is
rendered and PSF-convolved on a square stamp around its centre, just large
enough for its light, and the part of the stamp that falls on the field is
added there. Time and memory per source then depend on the source, not on the
field, and the noise-free light of each source stays known (the truth of
:mod:`galseg.sim.shreds` and :mod:`galseg.sim.detection_fields`).

Stamps are centred on the pixel nearest the source centre; the window
returned with a stamp says where on the field it goes:
``field[(slice(None), *window)] += light``.
"""

from __future__ import annotations

import numpy as np

from galseg.sim.galaxy import GalaxyModel, render_galaxy
from galseg.sim.scene import Star, convolve_psf, point_source

MAX_STAMP_HALF_PX = 160
"""Largest half-size of a galaxy's stamp before the PSF margin, in pixels (the stamp
otherwise reaches 8 bulge half-light radii or 6 disc scale lengths)."""

Stamp = tuple[np.ndarray, tuple[slice, slice]]
"""A source's light on the field, shape (3, h, w), and the field window ``(rows, cols)``
it covers."""


def stamp_window(centre_xy: tuple[float, float], half: int,
                 shape: tuple[int, int]) -> tuple[int, int, slice, slice, tuple[slice, slice]]:
    """Where a stamp of side ``2 * half + 1`` around ``centre_xy`` overlaps a field.

    Parameters
    ----------
    centre_xy : tuple of float
        Source centre, 0-based field pixels ``(x, y)`` (x = column); the stamp is
        centred on the nearest pixel.
    half : int
        Half-size of the stamp in pixels.
    shape : tuple of int
        ``(H, W)`` of the field.

    Returns
    -------
    x0, y0 : int
        Field pixel of the stamp's first column and row (may be negative).
    stamp_rows, stamp_cols : slice
        The part of the stamp on the field (empty when it misses the field).
    window : tuple of slice
        ``(rows, cols)`` of the field it covers.
    """
    x0, y0 = round(centre_xy[0]) - half, round(centre_xy[1]) - half
    size = 2 * half + 1
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + size, shape[1]), min(y0 + size, shape[0])
    stamp_rows, stamp_cols = slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0)
    return x0, y0, stamp_rows, stamp_cols, (slice(fy0, fy1), slice(fx0, fx1))


def galaxy_stamp(model: GalaxyModel, centre_xy: tuple[float, float], *, shape: tuple[int, int],
                 pixscale_arcsec: float, kernels: list[np.ndarray]) -> Stamp | None:
    """A galaxy rendered and PSF-convolved on its own stamp, cropped to the field.

    The stamp reaches 8 bulge half-light radii or 6 disc scale lengths (at most
    :data:`MAX_STAMP_HALF_PX`) plus the PSF kernel's half-size.

    Parameters
    ----------
    model : GalaxyModel
        The galaxy.
    centre_xy : tuple of float
        Its centre, 0-based field pixels ``(x, y)``; may lie off the field.
    shape : tuple of int
        ``(H, W)`` of the field.
    pixscale_arcsec : float
        Pixel scale.
    kernels : list of ndarray
        g, r, z PSF kernels (:func:`galseg.sim.scene.psf_kernels`).

    Returns
    -------
    Stamp or None
        The light (3, h, w) in nanomaggies per pixel and its field window; None if
        the stamp misses the field.
    """
    extent = 8.0 * model.bulge_half_light_radius_arcsec
    if model.has_disc:
        extent = max(extent, 6.0 * model.disc_scale_length_arcsec)
    kernel_half = max(k.shape[0] for k in kernels) // 2
    half = int(min(np.ceil(extent / pixscale_arcsec), MAX_STAMP_HALF_PX)) + kernel_half
    x0, y0, rows, cols, window = stamp_window(centre_xy, half, shape)
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return None
    light = render_galaxy(model, shape=(2 * half + 1, 2 * half + 1),
                          centre_xy=(centre_xy[0] - x0, centre_xy[1] - y0),
                          pixscale_arcsec=pixscale_arcsec).total
    return convolve_psf(light, kernels)[:, rows, cols], window


def star_stamp(star: Star, *, shape: tuple[int, int], kernels: list[np.ndarray]) -> Stamp | None:
    """A star (the PSF) on a stamp of the kernel's size plus 2 pixels, cropped to the field.

    Parameters
    ----------
    star : Star
        Position (field pixels) and g, r, z flux.
    shape : tuple of int
        ``(H, W)`` of the field.
    kernels : list of ndarray
        g, r, z PSF kernels.

    Returns
    -------
    Stamp or None
        As :func:`galaxy_stamp`.
    """
    half = max(k.shape[0] for k in kernels) // 2 + 2
    x0, y0, rows, cols, window = stamp_window(star.xy, half, shape)
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return None
    local = Star(xy=(star.xy[0] - x0, star.xy[1] - y0), flux=star.flux)
    return point_source(local, (2 * half + 1, 2 * half + 1), kernels)[:, rows, cols], window


__all__ = ["MAX_STAMP_HALF_PX", "Stamp", "galaxy_stamp", "stamp_window", "star_stamp"]
