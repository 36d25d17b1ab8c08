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
