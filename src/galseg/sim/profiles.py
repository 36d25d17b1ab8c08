"""Surface-brightness profiles of galaxy components, evaluated on coordinate grids.

All functions take coordinates in arcsec and return surface brightness
normalised as documented (total flux 1 unless stated), so that
:mod:`galseg.sim.galaxy` sets fluxes in physical units (nanomaggies) in one
place. Disc-plane coordinates ``(u, v)`` have ``u`` along the line of nodes
(the apparent major axis) and ``v`` the de-projected minor-axis coordinate.
"""

from __future__ import annotations

import numpy as np
from astropy.modeling.models import Sersic2D
from scipy.special import expit, gamma, gammaincinv


def sersic_b(n: float) -> float:
    """The Sersic constant b_n for which the effective radius encloses half the light."""
    return float(gammaincinv(2.0 * n, 0.5))


def sersic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    half_light_radius: float,
    n: float,
    axis_ratio: float,
    angle_deg: float,
) -> np.ndarray:
    """Sersic profile of unit total flux (per arcsec^2), centred on (0, 0).

    ``angle_deg`` is the major-axis angle counter-clockwise from +x. The centre
    cusp is under-sampled on the pixel grid for n > 2; the PSF (>= 3 px FWHM
    at the scales galseg simulates) makes that error small.
    """
    b = sersic_b(n)
    total = (2 * np.pi * n * half_light_radius**2 * axis_ratio * np.exp(b) * gamma(2 * n)
             / b ** (2 * n))
    return Sersic2D.evaluate(x, y, 1.0 / total, half_light_radius, n, 0.0, 0.0,
                             1.0 - axis_ratio, np.deg2rad(angle_deg))


def exponential_disc(r_disc: np.ndarray, *, scale_length: float, axis_ratio: float) -> np.ndarray:
    """Exponential disc of unit total flux as seen on the sky (per arcsec^2).

    ``r_disc`` is the disc-plane radius; ``axis_ratio`` the apparent one, which
    carries the projection (the surface brightness rises as 1/axis_ratio when
    the disc is tilted, conserving flux).
    """
    return np.exp(-r_disc / scale_length) / (2 * np.pi * scale_length**2 * axis_ratio)


def flat_bar(
    p: np.ndarray,
    q: np.ndarray,
    *,
    half_length: float,
    half_width: float,
    boxiness: float = 2.5,
    edge_softness: float = 0.06,
) -> np.ndarray:
    """Flat-ended bar: constant brightness inside a boxy ellipse, sharp fall at its end.

    Peak value 1 (not unit flux). ``(p, q)`` are coordinates along and across
    the bar in the disc plane. The profile is 1 / (1 + exp((rho - 1) / s)) with
    rho the generalised-ellipse radius of exponent ``boxiness``, so the light
    stays flat along the bar and drops to half exactly at ``half_length``:
    the truth bar length is where the light ends, as for strong bars in
    early-type discs (Elmegreen & Elmegreen 1985).
    """
    rho = (np.abs(p / half_length) ** boxiness + np.abs(q / half_width) ** boxiness) ** (
        1.0 / boxiness
    )
    # mild gradient so the bar is not a perfect plateau
    return (1.0 - 0.25 * np.minimum(rho, 1.0) ** 2) * expit((1.0 - rho) / edge_softness)


def ferrers_bar(
    p: np.ndarray,
    q: np.ndarray,
    *,
    half_length: float,
    half_width: float,
    index: float,
) -> np.ndarray:
    """Ferrers bar: ``(1 - m^2)^index`` inside an ellipse, 0 outside; peak value 1.

    The light is centrally concentrated (the bars of late-type discs, Elmegreen &
    Elmegreen 1985), not flat. So that ``half_length`` means what it means for
    :func:`flat_bar` (where the light falls to half its peak, the truth bar
    length), the ellipse that bounds the profile is larger by
    ``1 / sqrt(1 - 0.5 ** (1 / index))``: a faint tail runs past the half-light end.
    """
    if not index > 0:
        raise ValueError(f"index must be > 0, got {index!r}")
    stretch = 1.0 / np.sqrt(1.0 - 0.5 ** (1.0 / index))
    m2 = (p / (half_length * stretch)) ** 2 + (q / (half_width * stretch)) ** 2
    return np.clip(1.0 - m2, 0.0, None) ** index


def log_spiral_angle(
    r_disc: np.ndarray, *, start_angle_rad: float, start_radius: float, pitch_angle_deg: float,
    handedness: int,
) -> np.ndarray:
    """Azimuth (rad) of a logarithmic spiral's ridge at disc-plane radius ``r_disc``."""
    return start_angle_rad + handedness * np.log(np.maximum(r_disc, 1e-6) / start_radius) / np.tan(
        np.deg2rad(pitch_angle_deg)
    )


def wrap_angle(angle: np.ndarray) -> np.ndarray:
    """Wrap angles (rad) to [-pi, pi)."""
    return (angle + np.pi) % (2 * np.pi) - np.pi


def smooth_window(r: np.ndarray, r_in: float, r_out: float, softness: float) -> np.ndarray:
    """1 between ``r_in`` and ``r_out``, falling smoothly (logistic, width ``softness``) outside."""
    return expit((r - r_in) / softness) * expit((r_out - r) / softness)


def moffat_kernel(fwhm_px: float, *, beta: float = 3.5, oversample: int = 4) -> np.ndarray:
    """Moffat PSF integrated over pixels, normalised to unit sum.

    Parameters
    ----------
    fwhm_px : float
        Full width at half maximum in pixels.
    beta : float
        Moffat index; 3.5 matches ground-based seeing wings (Trujillo et al. 2001).
    oversample : int
        Sub-pixels per pixel side used to integrate over each pixel.

    Returns
    -------
    ndarray, shape (K, K), float32, K odd
        Kernel out to 4 FWHM from the centre, where a beta = 3.5 Moffat is 1e-4 of its peak.
    """
    if not fwhm_px > 0:
        raise ValueError(f"fwhm_px must be > 0, got {fwhm_px!r}")
    half = max(2, int(np.ceil(4.0 * fwhm_px)))
    size = 2 * half + 1
    alpha = fwhm_px / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    sub = (np.arange(size * oversample) + 0.5) / oversample - size / 2.0
    xx, yy = np.meshgrid(sub, sub)
    fine = (1.0 + (xx**2 + yy**2) / alpha**2) ** (-beta)
    kernel = fine.reshape(size, oversample, size, oversample).sum(axis=(1, 3))
    return (kernel / kernel.sum()).astype(np.float32)
