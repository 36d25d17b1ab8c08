"""The WCS of GZ3D images and galseg's pixel-angle convention.

Release files and galseg's simulated ones share ``CD = diag(-s, -s)``: north towards
row 0, east towards column 0 (``docs/architecture.md``, "Conventions").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from galseg.data.gz3d.layout import HDU_CENTER_MASK, HDU_IMAGE
from galseg.errors import InputFileError


def gz3d_wcs(shape: Sequence[int], ra_deg: float, dec_deg: float, *, pixscale_arcsec: float) -> WCS:
    """The WCS of a GZ3D image, written the way the release writes it.

    TAN projection centred on ``(ra_deg, dec_deg)`` at ``CRPIX = (W/2, H/2)``
    (262.5 for the 525-pixel release images; note this is half a pixel from the
    geometric centre ``(N + 1)/2`` of FITS' 1-based convention, kept for
    compatibility), ``CD = diag(-1, -1) * pixscale_arcsec / 3600``: north up
    with row 0 at the top, east left.

    Parameters
    ----------
    shape : (int, int)
        ``(height, width)`` of the image in pixels.
    ra_deg, dec_deg : float
        Sky position of the reference pixel, degrees.
    pixscale_arcsec : float, keyword-only
        Pixel scale, arcsec per pixel (0.099 in the release).

    Returns
    -------
    astropy.wcs.WCS
        Two-axis celestial WCS.
    """
    height, width = (int(n) for n in shape)
    if not (np.isfinite(pixscale_arcsec) and pixscale_arcsec > 0):
        raise ValueError(f"pixscale_arcsec must be a positive number, got {pixscale_arcsec!r}")
    if not (np.isfinite(ra_deg) and np.isfinite(dec_deg) and -90 <= dec_deg <= 90):
        raise ValueError(
            f"ra_deg and dec_deg must be finite with |dec_deg| <= 90, got ({ra_deg}, {dec_deg})"
        )
    wcs = WCS(naxis=2)
    wcs.wcs.crpix = [width / 2, height / 2]
    wcs.wcs.crval = [ra_deg, dec_deg]
    wcs.wcs.cd = np.array([[-1.0, 0.0], [0.0, -1.0]]) * pixscale_arcsec / 3600.0
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    return wcs


def image_angle_to_position_angle(angle_deg: float) -> float:
    """Image-plane angle (ccw from +x) -> sky position angle east of north, in [0, 180).

    Valid for the GZ3D pixel convention galseg writes: CD = diag(-s, -s), i.e. north
    towards decreasing row and east towards decreasing column.
    """
    a = np.deg2rad(angle_deg)
    return float(np.rad2deg(np.arctan2(-np.cos(a), -np.sin(a))) % 180.0)


ARM_WINDINGS = ("cw", "acw")
"""Galaxy Zoo 1's winding classes: ``'cw'`` clockwise (Z-wise, GZ1 class 1) and ``'acw'``
anticlockwise (S-wise, GZ1 class 2), as the image is displayed north up, east left."""


def image_winding(twist: float) -> str:
    """Galaxy Zoo 1 winding of arms whose image-plane angle grows by ``twist`` per unit ln r.

    The image-plane angle is galseg's (from +x towards +y, i.e. towards increasing
    row); with the GZ3D orientation (north towards row 0, east towards column 0, so the
    array shown with row 0 on top is north up, east left) that angle turns clockwise on
    the screen. Arms that turn clockwise on the screen as they go out (``twist > 0``)
    look like an S: Galaxy Zoo 1's anticlockwise class; ``twist < 0`` is Z-wise,
    clockwise (Land et al. 2008). Tested on rendered spirals in ``tests/test_spirals.py``.

    Returns
    -------
    str
        ``'acw'`` for ``twist > 0``, ``'cw'`` for ``twist < 0``, ``''`` for 0 or NaN.
    """
    if not np.isfinite(twist) or twist == 0:
        return ""
    return "acw" if twist > 0 else "cw"


def read_wcs(path: Path, hdul: fits.HDUList) -> WCS:
    # The masks' 2-D headers carry the WCS the way the release's tools read it;
    # HDU 0's header has it too but sits on a 3-axis cube.
    for index in (HDU_CENTER_MASK, HDU_IMAGE):
        header = hdul[index].header
        if "CTYPE1" in header:
            try:
                return WCS(header, naxis=2).celestial
            except (ValueError, KeyError, MemoryError) as error:
                raise InputFileError(
                    path, f"HDU {index} header has an invalid WCS ({error})"
                ) from None
    raise InputFileError(path, "no WCS in HDU 1 or HDU 0 headers (CTYPE1 missing)")
