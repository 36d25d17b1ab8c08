"""The survey galseg's models are made for: DESI Legacy Surveys-like g, r, z images.

The simulator renders its cutouts under these conditions, and
:mod:`galseg.data.images` brings a user's FITS bands to the same depth before the
colour stretch (:mod:`galseg.data.colour`), so a model sees its training survey.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galseg.data.colour import LEGACY_NATIVE_PIXSCALE_ARCSEC

BANDS = "grz"
"""The bands, in the order of every (3, H, W) band array."""


@dataclass(frozen=True)
class ObservingConditions:
    """Seeing, depth and pixel scale of a cutout.

    Attributes
    ----------
    pixscale_arcsec : float
        Pixel scale.
    psf_fwhm_arcsec : tuple of float
        Moffat PSF FWHM in g, r, z.
    sky_noise_nmgy : tuple of float
        Per-pixel sky noise (1 sigma) in g, r, z, in nanomaggies per native
        0.262 arcsec pixel; rescaled to ``pixscale_arcsec`` as a surface-brightness
        depth (so coarser pixels are less noisy per unit surface brightness).
    gain_e_per_nmgy : float
        Electrons per nanomaggy in a coadd, for the galaxies' own Poisson noise.
    psf_beta : float
        Moffat index.
    """

    pixscale_arcsec: float = LEGACY_NATIVE_PIXSCALE_ARCSEC
    psf_fwhm_arcsec: tuple[float, float, float] = (1.35, 1.2, 1.1)
    sky_noise_nmgy: tuple[float, float, float] = (0.0029, 0.0050, 0.0077)
    gain_e_per_nmgy: float = 3000.0
    psf_beta: float = 3.5

    def sky_sigma_per_pixel(self) -> np.ndarray:
        """Sky noise (g, r, z) in nanomaggies per pixel of this cutout."""
        return np.asarray(self.sky_noise_nmgy) * (self.pixscale_arcsec
                                                  / LEGACY_NATIVE_PIXSCALE_ARCSEC)
