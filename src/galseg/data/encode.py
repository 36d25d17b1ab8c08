"""Output files as bytes: PNG pictures, FITS files and g-r-z band cubes.

galseg writes every output file whole and atomically
(:func:`galseg.data._atomic.write_bytes_atomic`), so files are first encoded
in memory. These are the encoders shared by the simulators, the prediction
runs and the label writers.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image
from PIL.PngImagePlugin import PngInfo


def png_bytes(image: np.ndarray, *, info: PngInfo | None = None) -> bytes:
    """``image`` as a PNG file.

    Parameters
    ----------
    image : ndarray
        (H, W, 3) uint8 RGB, or (H, W) greyscale (uint8, or uint16 for 16 bits).
    info : PngInfo, optional
        Text chunks to store.

    Returns
    -------
    bytes
    """
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def fits_bytes(hdus: fits.HDUList | Sequence[Any]) -> bytes:
    """``hdus`` (an HDUList, or a sequence of HDUs, the primary first) as a FITS file."""
    buffer = io.BytesIO()
    (hdus if isinstance(hdus, fits.HDUList) else fits.HDUList(list(hdus))).writeto(buffer)
    return buffer.getvalue()


def band_cube_fits_bytes(bands: np.ndarray, wcs: WCS, *, field_name: str | None = None) -> bytes:
    """g, r, z images as one FITS cube, the layout :func:`galseg.data.images.read_image` reads.

    Like the Legacy Surveys cutout service: a primary HDU holding a (3, H, W)
    float32 cube with the celestial WCS, ``BUNIT = 'nanomaggy'`` and ``BANDS =
    'grz'``.

    Parameters
    ----------
    bands : ndarray, shape (3, H, W)
        g, r, z images in nanomaggies per pixel (written as float32).
    wcs : astropy.wcs.WCS
        Two-axis celestial WCS of the pixel grid.
    field_name : str, optional
        Written as ``FIELD``.

    Returns
    -------
    bytes
    """
    cube = fits.PrimaryHDU(np.asarray(bands).astype(np.float32), header=wcs.to_header())
    cube.header["BUNIT"] = "nanomaggy"
    cube.header["BANDS"] = ("grz", "band of each plane")
    if field_name is not None:
        cube.header["FIELD"] = field_name
    return fits_bytes([cube])


__all__ = ["band_cube_fits_bytes", "fits_bytes", "png_bytes"]
