"""The asinh colour stretch of DESI Legacy Surveys colour JPEGs.

Survey colour cutouts (the images volunteers classify and the models see)
are made from g, r, z images in nanomaggies with the Lupton et al. (2004)
asinh stretch as implemented by the Legacy Surveys viewer (legacypipe's
``sdss_rgb``): each band is scaled (g 6.0, r 3.4, z 2.2), offset by
``m = 0.03``, the mean intensity ``I`` goes through ``asinh(Q I)/sqrt(Q)``
with ``Q = 20``, and z, r, g map to red, green, blue. The offset is why
survey JPEG backgrounds are dark grey (about 32/255), not black.

galseg uses this one function for the simulator, for training and for
inference on multi-band FITS, so a model sees the same stretch everywhere.
"""

from __future__ import annotations

import numpy as np

LEGACY_BAND_SCALES = {"g": 6.0, "r": 3.4, "z": 2.2}
"""Per-band multipliers of the Legacy Surveys viewer (nanomaggies -> stretch units)."""

LEGACY_NATIVE_PIXSCALE_ARCSEC = 0.262
"""Native pixel scale of Legacy Surveys images; stretch constants refer to it."""

_RGB_PLANE = {"z": 0, "r": 1, "g": 2}


def legacy_rgb(
    images: np.ndarray,
    *,
    bands: str = "grz",
    pixscale_arcsec: float = LEGACY_NATIVE_PIXSCALE_ARCSEC,
    q: float = 20.0,
    m: float = 0.03,
) -> np.ndarray:
    """Make a survey-style colour image from g, r, z images.

    Parameters
    ----------
    images : ndarray, shape (3, H, W)
        Band images in nanomaggies per pixel, in the order given by ``bands``.
        NaNs are treated as zero flux (shown as background).
    bands : str
        Band names of the three planes; a permutation of ``"grz"``.
    pixscale_arcsec : float
        Pixel scale of ``images``. Values are converted to nanomaggies per
        native 0.262 arcsec pixel first, as the survey's cutout service does,
        so a galaxy looks the same at any cutout scale.
    q, m : float
        Asinh softening and background offset of the stretch.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
        RGB image (red = z, green = r, blue = g).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or images.shape[0] != 3:
        raise ValueError(f"images must have shape (3, H, W), got {images.shape}")
    if sorted(bands) != sorted("grz"):
        raise ValueError(f"bands must be a permutation of 'grz', got {bands!r}")
    if not pixscale_arcsec > 0:
        raise ValueError(f"pixscale_arcsec must be > 0, got {pixscale_arcsec!r}")
    per_native_pixel = (LEGACY_NATIVE_PIXSCALE_ARCSEC / pixscale_arcsec) ** 2
    scaled = np.empty_like(images)
    rgb = np.empty((*images.shape[1:], 3), dtype=np.float32)
    for i, band in enumerate(bands):
        plane = np.nan_to_num(images[i], nan=0.0) * (per_native_pixel * LEGACY_BAND_SCALES[band])
        scaled[i] = plane + m
    intensity = np.maximum(scaled, 0).mean(axis=0)
    # asinh(Q I)/sqrt(Q) / I, with the I -> 0 limit sqrt(Q) where I vanishes
    safe = np.where(intensity > 0, intensity, 1.0)
    gain = np.where(intensity > 0, np.arcsinh(q * safe) / np.sqrt(q) / safe, np.sqrt(q))
    for i, band in enumerate(bands):
        rgb[..., _RGB_PLANE[band]] = scaled[i] * gain
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
