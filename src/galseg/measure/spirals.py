"""Arm count, pitch angle and winding from a spiral vote-fraction map and the galaxy's light.

Five steps (the method and its scores: ``docs/measurements.md``):

1. **Disc geometry** (:func:`measure_disc`) from the image light: the centre is the
   brightest point of the lightly smoothed grey image near the frame centre; the axis
   ratio and the major axis come from the second moments of the central object, the
   connected region above 10% of the centre's brightness over the sky (the moments of a
   filled ellipse give its axis ratio exactly; a low isophote is the disc, not the
   bulge), then are corrected once so that the light's rings between 0.3 and 0.9 times
   the region's radius are round in the disc plane (arms and noise bend the isophote;
   the rings use all the disc's light).
2. **Deprojection** of the arm map into the disc plane, sampled on a log-polar grid
   ``(u = ln r, phi)``: there a logarithmic spiral ``phi = phi0 + k u`` is a straight
   line, and because the mapping is conformal an arm is a straight band of symmetric
   width.
3. **Pitch**: the orientation of the arms' edges in the galaxy's *light*, where the map
   says the arms are. The light is sampled on the same log-polar grid and each ring is
   divided by its mean (the disc's and bulge's radial fall-off leaves, the arms stay);
   its gradients, in ``(u, phi)``, are summed into one structure tensor, each cell
   weighted by the map's vote fraction. The tensor's main axis is the arms' normal,
   ``(-k, 1)``; the pitch is ``arctan |1 / k|``. The map only says where to look: its arms
   are several times wider than the light's, and fits of the map's own shape take that
   width for pitch. The error is a jackknife over 8 azimuthal sectors, checked as a 68%
   interval on simulations.
4. **Arm count**: the azimuthal mode ``m`` (2-6) with the strongest logarithmic
   spiral in the 2D Fourier spectrum of the log-polar map (Puerari & Dottori 1992;
   P2DFFT, Davis et al. 2012).
5. **Winding**: the balance of the disc light's log-spiral power of one sense over the
   other (:func:`spiral_chirality`), given where it is clear.

Winding is given in Galaxy Zoo 1's sense (:func:`galseg.data.gz3d.image_winding`): the
image as displayed north up, east left. Pictures (PNG/JPEG) are taken as shown (row 0 at
the top); band images through their WCS (a mirrored WCS flips the winding); band images
without a WCS have no known orientation, so their winding is left empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from astropy.wcs import WCS
from scipy import ndimage
from skimage.measure import label

from galseg.data.gz3d import image_winding
from galseg.measure.arms import ArmMeasurement
from galseg.measure.bar import (
    VOTE_LEVEL_TOLERANCE,
    as_vote_fraction_map,
    sky_position_angle,
    threshold_level,
)

DEFAULT_ARM_LEVEL = "peak0.5"
"""Arm pieces of the log-polar map along which :meth:`SpiralMeasurement.spiral_xy` draws the
fitted spiral: cells at or above half the map's peak."""
DISC_ISOPHOTE_FRACTION = 0.1
"""The disc's region: light above this fraction of the centre's brightness over the sky."""
WORK_SIZE_PX = 160
"""Larger inputs are block-averaged to about this many pixels on their long side first:
the segmenter's maps hold no finer detail (it runs on a 128 px frame), and the time stays
bounded."""
DISC_RING_RADII = (0.3, 0.9)
"""Rings of the light, in units of the disc region's semi-major axis, made round by
:func:`measure_disc`'s correction (outside the bulge, inside the noisy edge)."""
DISC_RING_COUNT, DISC_RING_AZIMUTHS = 16, 64
MIN_AXIS_RATIO = 0.25
"""Discs seen flatter than this (nearly edge-on) are not deprojected: no arm geometry."""
N_RADII, N_AZIMUTHS = 48, 128
"""Log-polar grid: radii (log-spaced) and azimuths; cells are about square."""
INNER_RADIUS_FRACTION = 0.1
"""The grid starts at this fraction of the arms' outer radius (the bulge and bar inside)."""
RING_COVER = 0.8
"""Pieces present at more than this fraction of all azimuths are rings, not arms."""
MIN_PIECE_CELLS = 6
LIGHT_SMOOTH_PX = 0.5
"""Gaussian sigma (pixels of the working grid) on the light before its gradients: enough
against pixel noise, not so much that it blurs the arms' edges."""
JACKKNIFE_SECTORS = 8
"""Azimuthal sectors of the log-polar grid left out one at a time for the pitch's error."""
WINDING_MODES = (2, 3, 4)
"""Fourier modes of the disc's light whose spiral power decides the winding."""
WINDING_RADII = (0.1, 0.8)
"""Radial range of the light used for the winding, in units of the disc region's
semi-major axis (``DiscGeometry.radius_px``)."""
WINDING_MIN_CHIRALITY = 0.2
"""The winding is given only where :attr:`SpiralMeasurement.chirality` is at least this far
from 0 (chosen on the Galaxy Zoo 1 train split, ``docs/measurements.md``)."""
PITCH_ERR_SCALE = 1.05
"""Factor on the jackknife error that makes it a 68% interval (the 68th percentile of
|error| / jackknife error on the development simulations, seeds 6000 and 6100)."""
MAX_PITCH_ERR_DEG = 45.0
"""No pitch is reported where its error is larger: the sectors agree on no direction (on
the development simulations 5% of the pitches, with a median error of 15 deg)."""
ARM_MODES = (2, 3, 4, 5, 6)
"""Arm counts the Fourier spectrum can give."""
MAX_SPECTRUM_P = 60.0
"""Largest radial frequency |p| of the log-polar spectrum (pitch arctan(m / |p|): 1.9 deg
for m = 2)."""
MAX_CHIRALITY_P = 30.0
"""Largest |p| of the winding's power balance; |p| <= 1 (nearly radial or nearly circular
patterns: bars, rings, ovals) counts on neither side."""
_PHASE_STEP = 0.5
_PHASES = np.arange(-MAX_SPECTRUM_P * 2.5, MAX_SPECTRUM_P * 2.5 + _PHASE_STEP, _PHASE_STEP)
_UNIT_RADII = np.linspace(0.0, 1.0, N_RADII)
_UNIT_COS = np.cos(np.outer(_PHASES, _UNIT_RADII))
_UNIT_SIN = np.sin(np.outer(_PHASES, _UNIT_RADII))
"""exp(-i q t) = cos - i sin on a fixed grid: with t = (u - u0) / (u1 - u0) and
p = q / (u1 - u0) the same kernel serves every equally spaced radial grid of ``N_RADII``
(the phase exp(-i p u0) does not change amplitudes), so nothing is exponentiated per
galaxy. Real products: a complex matrix product was 100 times slower here (OpenBLAS)."""


def _radial_transform(values: np.ndarray, log_radius: np.ndarray,
                      max_p: float) -> tuple[np.ndarray, np.ndarray]:
    """``|sum_u values(u, m) exp(-i p u)|`` for p in [-max_p, max_p]: (p, amplitude (n_p, m))."""
    span = float(log_radius[-1] - log_radius[0])
    unit = (log_radius - log_radius[0]) / span if span > 0 else log_radius * 0
    if len(log_radius) == N_RADII and np.allclose(unit, _UNIT_RADII):
        keep = np.abs(_PHASES) <= max_p * span
        p, cos, sin = _PHASES[keep] / span, _UNIT_COS[keep], _UNIT_SIN[keep]
    else:
        p = np.arange(-max_p, max_p + _PHASE_STEP / 2.5, _PHASE_STEP / 2.5)
        cos, sin = np.cos(np.outer(p, log_radius)), np.sin(np.outer(p, log_radius))
    real, imag = np.ascontiguousarray(values.real), np.ascontiguousarray(values.imag)
    return p, np.hypot(cos @ real + sin @ imag, cos @ imag - sin @ real)


def _sample_log_polar(image: np.ndarray, log_radius: np.ndarray, disc: DiscGeometry, *,
                      mode: str = "nearest") -> np.ndarray:
    """``image`` (bilinear) at the disc-plane radii ``exp(log_radius)`` and ``N_AZIMUTHS``
    azimuths: (len(log_radius), N_AZIMUTHS); outside the frame the edge (``nearest``) or
    0 (``constant``)."""
    azimuth = np.arange(N_AZIMUTHS) * (2 * np.pi / N_AZIMUTHS)
    x, y = disc.to_image(np.exp(log_radius)[:, None], azimuth[None, :])
    return ndimage.map_coordinates(image, [y, x], order=1, mode=mode, cval=0.0)


def image_parity(image: Any) -> int:
    """+1 if ``image`` shown with row 0 on top is the sky north up, east left (up to a
    rotation), -1 if it is mirrored, 0 if unknown.

    Pictures (``source_kind == 'rgb'``) are taken as shown: +1. Band images use their
    celestial WCS (the sign of the pixel-to-sky Jacobian, longitude first): the GZ3D
    orientation (``CD = diag(-s, -s)``) gives +1, the usual FITS orientation shown with
    row 0 at the bottom (``CD = diag(-s, s)``) -1. Band images without a WCS: 0.
    """
    if getattr(image, "source_kind", "rgb") == "rgb":
        return 1
    wcs = getattr(image, "wcs", None)
    return wcs_parity(wcs) if wcs is not None else 0


def wcs_parity(wcs: WCS) -> int:
    """Parity of a celestial WCS (see :func:`image_parity`)."""
    celestial = wcs.celestial
    matrix = np.array(celestial.pixel_scale_matrix, dtype=float)
    if celestial.wcs.lng == 1:  # latitude axis first: swap the world axes
        matrix = matrix[::-1]
    det = float(np.linalg.det(matrix))
    # (d lon, d lat) / (d x, d y); east is -d(lon) on the sky as seen: GZ3D's CD has det > 0
    return 0 if det == 0 or not np.isfinite(det) else (1 if det > 0 else -1)


def _grey(light: np.ndarray) -> np.ndarray:
    array = np.asarray(light, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].mean(axis=-1)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"light must be an (H, W) or (H, W, 3) image, got shape {array.shape}")
    return np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)


def _block_mean(array: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return array
    height, width = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
    return array[:height, :width].reshape(height // factor, factor, width // factor,
                                          factor).mean(axis=(1, 3))


@dataclass(frozen=True)
class DiscGeometry:
    """Centre, axis ratio and major axis of a galaxy's disc, in image pixels.

    Attributes
    ----------
    centre_xy : tuple of float
        Centre ``(x, y)``, pixels (x = column).
    axis_ratio : float
        Minor over major axis of the disc region (1 face-on).
    angle_deg : float
        Image-plane angle of the major axis, from +x towards +y, in [0, 180).
    radius_px : float
        Semi-major axis of the disc region (the ellipse of equal second moments).
    """

    centre_xy: tuple[float, float]
    axis_ratio: float
    angle_deg: float
    radius_px: float

    def to_disc_plane(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image pixels -> disc-plane radius (pixels along the major axis) and azimuth (rad)."""
        t = np.deg2rad(self.angle_deg)
        dx, dy = x - self.centre_xy[0], y - self.centre_xy[1]
        along = dx * np.cos(t) + dy * np.sin(t)
        across = (-dx * np.sin(t) + dy * np.cos(t)) / self.axis_ratio
        return np.hypot(along, across), np.arctan2(across, along)

    def to_image(self, radius: np.ndarray, azimuth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Disc-plane radius (pixels) and azimuth (rad) -> image ``(x, y)``."""
        t = np.deg2rad(self.angle_deg)
        along, across = radius * np.cos(azimuth), radius * np.sin(azimuth) * self.axis_ratio
        return (self.centre_xy[0] + along * np.cos(t) - across * np.sin(t),
                self.centre_xy[1] + along * np.sin(t) + across * np.cos(t))

    def scaled(self, factor: float) -> DiscGeometry:
        """The same disc on a grid ``factor`` times coarser (pixel centres kept)."""
        x, y = self.centre_xy
        return DiscGeometry(((x + 0.5) / factor - 0.5, (y + 0.5) / factor - 0.5),
                            self.axis_ratio, self.angle_deg, self.radius_px / factor)


def measure_disc(light: np.ndarray, *, isophote_fraction: float = DISC_ISOPHOTE_FRACTION,
                 centre_sigma_fraction: float = 0.1, refine: bool = True) -> DiscGeometry:
    """The disc of the galaxy near the centre of ``light`` (module docstring, step 1).

    Parameters
    ----------
    light : ndarray, shape (H, W) or (H, W, 3)
        The image (a colour picture is averaged over its bands); NaN counts as 0.
    isophote_fraction : float, keyword-only
        The disc region is where the smoothed light exceeds the sky by this fraction of
        the centre's excess (and by 3 sky sigma).
    centre_sigma_fraction : float, keyword-only
        The centre is the brightest smoothed point after weighting by a Gaussian of this
        fraction of the image's short side around the frame centre (a bright star or
        neighbour off-centre does not win).
    refine : bool, keyword-only
        Correct the region's axis ratio and angle once so that the light's rings are round
        in the disc plane (:func:`_round_the_rings`); False: the region's moments alone.

    Returns
    -------
    DiscGeometry
    """
    if not 0 < isophote_fraction < 1:
        raise ValueError(f"isophote_fraction must be in (0, 1), got {isophote_fraction!r}")
    grey = _grey(light)
    height, width = grey.shape
    border = np.concatenate([grey[:2].ravel(), grey[-2:].ravel(),
                             grey[:, :2].ravel(), grey[:, -2:].ravel()])
    sky = float(np.median(border))
    noise = 1.4826 * float(np.median(np.abs(border - sky)))
    smooth = ndimage.gaussian_filter(grey, 1.0)
    sigma = max(centre_sigma_fraction * min(height, width), 1.0)
    weight = np.outer(np.exp(-0.5 * ((np.arange(height) - (height - 1) / 2) / sigma) ** 2),
                      np.exp(-0.5 * ((np.arange(width) - (width - 1) / 2) / sigma) ** 2))
    cy, cx = np.unravel_index(np.argmax((smooth - sky) * weight), smooth.shape)
    excess = float(smooth[cy, cx]) - sky
    level = sky + max(isophote_fraction * excess, 3 * noise)
    labels = label(smooth >= level)
    if excess <= 0 or labels[cy, cx] == 0:
        return DiscGeometry((float(cx), float(cy)), np.nan, np.nan, np.nan)
    rows, cols = np.nonzero(ndimage.binary_fill_holes(labels == labels[cy, cx]))
    # second moments of the region's pixels (as skimage's regionprops, without its overhead)
    ratio, angle, rms = _ellipse_of(cols.astype(float), rows.astype(float))
    major = 4.0 * rms  # full axis of the equivalent ellipse
    region = DiscGeometry((float(cx), float(cy)), ratio, angle, major / 2)
    return _round_the_rings(smooth, region) if refine else region


def _ellipse_of(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Axis ratio, major-axis angle (deg in [0, 180), from +x towards +y) and major-axis
    rms of the ellipse with the second moments of the points ``(x, y)``."""
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(np.vstack([x, y]), bias=True))
    # a region of one pixel or one line of pixels has no ellipse: NaN, which callers test
    ratio = (float(np.sqrt(max(eigenvalues[0], 0.0) / eigenvalues[1]))
             if eigenvalues[1] > 0 else float("nan"))
    angle = float(np.rad2deg(np.arctan2(eigenvectors[1, 1], eigenvectors[0, 1])) % 180.0)
    return ratio, angle, float(np.sqrt(eigenvalues[1]))


def _round_the_rings(smooth: np.ndarray, disc: DiscGeometry) -> DiscGeometry:
    """One first-order correction of ``disc``'s axis ratio and angle that makes the light's
    rings round in the disc plane (module docstring, step 1).

    Deprojected with a slightly wrong ellipse, a disc's light varies round each ring as
    ``d ln I / d ln r * eps cos 2(phi - phi0)``; the ``cos 2 phi`` and ``sin 2 phi`` parts of
    the rings between ``DISC_RING_RADII`` give ``eps`` and ``phi0`` (least squares over the
    rings), and the ellipse through the corrected circle is the new disc. Spiral arms add
    ``m = 2`` light too, but their phase turns with radius and mostly cancels.
    """
    if not (np.isfinite(disc.axis_ratio) and disc.axis_ratio >= MIN_AXIS_RATIO
            and disc.radius_px > 2):
        return disc
    inner, outer = (f * disc.radius_px for f in DISC_RING_RADII)
    radii = np.exp(np.linspace(np.log(max(inner, 1.0)), np.log(outer), DISC_RING_COUNT))
    azimuth = np.arange(DISC_RING_AZIMUTHS) * (2 * np.pi / DISC_RING_AZIMUTHS)
    x, y = disc.to_image(radii[:, None], azimuth[None, :])
    rings = ndimage.map_coordinates(smooth, [y, x], order=1, mode="nearest")
    mean = rings.mean(axis=1)
    if not np.all(mean > 0):
        return disc
    slope = np.gradient(np.log(mean), np.log(radii))  # d ln I / d ln r
    if not np.sum(slope ** 2) > 0:
        return disc
    cos2 = 2 * (rings * np.cos(2 * azimuth)).mean(axis=1) / mean
    sin2 = 2 * (rings * np.sin(2 * azimuth)).mean(axis=1) / mean
    eps_cos, eps_sin = np.array([np.sum(slope * cos2), np.sum(slope * sin2)]) / np.sum(slope ** 2)
    # the disc's true circle of radius radius_px, in the current deprojection
    circle = disc.radius_px * (1 - eps_cos * np.cos(2 * azimuth) - eps_sin * np.sin(2 * azimuth))
    ratio, angle, _ = _ellipse_of(*disc.to_image(circle, azimuth))
    return DiscGeometry(disc.centre_xy, min(ratio, 1.0), angle, disc.radius_px)


def log_spiral_spectrum(log_polar: np.ndarray, log_radius: np.ndarray,
                        modes: tuple[int, ...] = ARM_MODES) -> tuple[np.ndarray, np.ndarray]:
    """Normalised 2D Fourier amplitudes of a log-polar map in logarithmic spirals.

    ``|A(m, p)| = |sum I(u, phi) exp(-i (m phi + p u))| / sum I`` over the grid (Puerari &
    Dottori 1992), for each mode ``m`` and radial frequency ``p``.

    Parameters
    ----------
    log_polar : ndarray, shape (n_u, n_phi)
        Map sampled at ``log_radius`` (rows) and equally spaced azimuths over 2 pi.
    log_radius : ndarray, shape (n_u,)
    modes : tuple of int

    Returns
    -------
    amplitude : ndarray, shape (len(modes),)
        The largest ``|A(m, p)|`` of each mode.
    best_p : ndarray, shape (len(modes),)
        The ``p`` where it is reached; pitch ``arctan(m / |p|)``, ``du/dphi = -p / m``
        inverted: a spiral ``phi = phi0 + k u`` peaks at ``p = -m k``.
    """
    total = float(log_polar.sum())
    if total <= 0:
        return np.zeros(len(modes)), np.full(len(modes), np.nan)
    by_mode = np.fft.rfft(log_polar, axis=1)[:, list(modes)]  # (n_u, n_modes)
    p, amplitude = _radial_transform(by_mode, log_radius, MAX_SPECTRUM_P)
    amplitude /= total
    return amplitude.max(axis=0), p[amplitude.argmax(axis=0)]


def spiral_chirality(log_polar: np.ndarray, log_radius: np.ndarray,
                     modes: tuple[int, ...] = WINDING_MODES) -> float:
    """Balance of the log-spiral power of one winding over the other, in [-1, 1].

    ``(P+ - P-) / (P+ + P-)`` where ``P+`` sums ``|A(m, p)|^2`` over ``p > 1`` and the
    ``modes``, ``P-`` over ``p < -1`` (:func:`log_spiral_spectrum`'s transform). A spiral
    ``phi = phi0 + k u`` puts its power at ``p = -m k``: positive chirality means
    ``k < 0``, NaN for an empty map.
    """
    spectrum = np.fft.rfft(log_polar, axis=1)[:, list(modes)]
    p, amplitude = _radial_transform(spectrum, log_radius, MAX_CHIRALITY_P)
    power = amplitude ** 2
    positive = float(power[p > 1].sum())
    negative = float(power[p < -1].sum())
    total = positive + negative
    return (positive - negative) / total if total > 0 else np.nan


class SpiralMeasurement:
    """Arm count, pitch angle and winding of a galaxy from its spiral map and its light.

    Small result object: everything is computed on first use (module docstring for the
    method).

    Parameters
    ----------
    spiral_vote_fraction : array_like, shape (H, W)
        Spiral-arm vote fractions in [0, 1]; NaN counts as 0.
    light : array_like, shape (H, W) or (H, W, 3)
        The image on the same grid (a colour picture or one band): the disc's geometry
        is measured on it.
    parity : {1, -1, 0}, keyword-only
        Orientation of the pixel grid on the sky (:func:`image_parity`): 1 when the array
        shown with row 0 on top is north up, east left (up to a rotation), -1 mirrored,
        0 unknown (no winding is given).
    wcs : astropy.wcs.WCS or None, keyword-only
        For ``disc_pa_deg`` (east of north); without it the GZ3D orientation.
    arms : ArmMeasurement, optional, keyword-only
        The presence test (default: :class:`ArmMeasurement` of the map with its
        defaults); nothing is measured where it finds no arms.
    level : float or str, keyword-only
        Rule of the arm pieces that :meth:`spiral_xy` draws along
        (:func:`galseg.measure.bar.parse_threshold`); the pitch weights every cell by the map.

    Examples
    --------
    A map without arms gives no geometry:

    >>> spirals = SpiralMeasurement(np.zeros((64, 64)), np.zeros((64, 64, 3)))
    >>> spirals.detected, spirals.n_arms, spirals.pitch_angle_deg, spirals.winding
    (False, nan, nan, '')

    ``tests/test_spirals.py`` measures rendered spirals of known pitch and winding.
    """

    def __init__(
        self,
        spiral_vote_fraction: np.ndarray,
        light: np.ndarray,
        *,
        parity: int = 1,
        wcs: WCS | None = None,
        arms: ArmMeasurement | None = None,
        level: float | str = DEFAULT_ARM_LEVEL,
    ) -> None:
        self._map = as_vote_fraction_map(spiral_vote_fraction, "spiral_vote_fraction")
        self._light = _grey(light)
        if self._light.shape != self._map.shape:
            raise ValueError(f"light must be on the map's grid {self._map.shape}, "
                             f"got {self._light.shape}")
        if parity not in (1, -1, 0):
            raise ValueError(f"parity must be 1, -1 or 0, got {parity!r}")
        threshold_level(np.ones((1, 1)), level)  # a bad rule fails here
        self.parity = int(parity)
        self.wcs = wcs
        self.level = level
        self._arms = arms

    def __repr__(self) -> str:
        return (f"<SpiralMeasurement shape={self._map.shape} n_arms={self.n_arms} "
                f"pitch_angle_deg={self.pitch_angle_deg:.1f} winding={self.winding!r}>")

    # --- the working grid and the disc --------------------------------------------
    @cached_property
    def detected(self) -> bool:
        """Whether the presence test finds arms (nothing is measured otherwise)."""
        arms = self._arms if self._arms is not None else ArmMeasurement(self._map)
        return bool(arms.detected)

    @cached_property
    def _factor(self) -> int:
        return max(1, int(max(self._map.shape) // WORK_SIZE_PX))

    @cached_property
    def disc(self) -> DiscGeometry:
        """The disc's geometry on the input's pixel grid (:func:`measure_disc`)."""
        work = measure_disc(_block_mean(self._light, self._factor))
        if self._factor == 1:
            return work
        x, y = work.centre_xy
        f = self._factor
        return DiscGeometry(((x + 0.5) * f - 0.5, (y + 0.5) * f - 0.5), work.axis_ratio,
                            work.angle_deg, work.radius_px * f)

    @cached_property
    def deprojectable(self) -> bool:
        """Arms detected and a disc that is not close to edge-on."""
        return bool(self.detected and np.isfinite(self.disc.axis_ratio)
                    and self.disc.axis_ratio >= MIN_AXIS_RATIO)

    @cached_property
    def _log_polar(self) -> tuple[np.ndarray, np.ndarray, DiscGeometry] | None:
        """(log radius, map on the log-polar grid, disc on the working grid), or None."""
        if not self.deprojectable:
            return None
        work_map = _block_mean(self._map, self._factor)
        disc = self.disc.scaled(self._factor)
        rows, cols = np.nonzero(work_map >= 0.05)
        if rows.size == 0:
            return None
        radius, _ = disc.to_disc_plane(cols.astype(float), rows.astype(float))
        outer = float(np.percentile(radius, 97))
        inner = max(2.0, INNER_RADIUS_FRACTION * outer)
        if outer <= 1.5 * inner:
            return None
        log_radius = np.linspace(np.log(inner), np.log(outer), N_RADII)
        return log_radius, _sample_log_polar(work_map, log_radius, disc, mode="constant"), disc

    @cached_property
    def _pieces(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Arm pieces on the log-polar grid: (azimuth, log radius, area weight) of their cells."""
        if self._log_polar is None:
            return []
        log_radius, sampled, _ = self._log_polar
        cells = sampled >= threshold_level(self._map, self.level) - VOTE_LEVEL_TOLERANCE
        labels, n = ndimage.label(cells, structure=np.ones((3, 3)))
        u_grid = np.broadcast_to(log_radius[:, None], sampled.shape)
        phi_grid = np.broadcast_to(np.arange(N_AZIMUTHS) * (2 * np.pi / N_AZIMUTHS),
                                   sampled.shape)
        # each cell stands for r^2 du dphi of the disc: weight by area so that the fit
        # counts disc area, as the pixels of the map do
        weight = sampled * np.exp(2 * u_grid)
        pieces = []
        for index in range(1, n + 1):
            piece = labels == index
            if piece.sum() < MIN_PIECE_CELLS or piece.any(axis=0).mean() > RING_COVER:
                continue
            pieces.append((phi_grid[piece], u_grid[piece], weight[piece]))
        return pieces

    @cached_property
    def _orientation_tensors(self) -> np.ndarray | None:
        """Structure tensor of the ring-normalised light's gradients in ``(u, phi)``,
        weighted by the map, one per azimuthal sector: (JACKKNIFE_SECTORS, 2, 2), or None."""
        if self._log_polar is None:
            return None
        log_radius, sampled, disc = self._log_polar
        light = _sample_log_polar(
            ndimage.gaussian_filter(_block_mean(self._light, self._factor), LIGHT_SMOOTH_PX),
            log_radius, disc)
        ring = light.mean(axis=1, keepdims=True)
        if not np.all(ring > 0):
            return None
        relative = light / ring
        grad_u = np.gradient(relative, log_radius, axis=0)
        wrapped = np.concatenate([relative[:, -1:], relative, relative[:, :1]], axis=1)
        grad_phi = (wrapped[:, 2:] - wrapped[:, :-2]) / (2 * (2 * np.pi / N_AZIMUTHS))
        products = np.stack([grad_u * grad_u, grad_u * grad_phi, grad_phi * grad_phi]) * sampled
        sectors = products.reshape(3, N_RADII, JACKKNIFE_SECTORS, -1).sum(axis=(1, 3))
        return np.stack([sectors[0], sectors[1], sectors[1], sectors[2]]).T.reshape(-1, 2, 2)

    @staticmethod
    def _arm_angle(tensor: np.ndarray) -> float:
        """Signed angle (rad) of the arms in the (phi, u) plane, ``arctan(du/dphi)``, from a
        gradient structure tensor: its main axis is the normal ``(-k, 1)`` of ``phi = phi0 +
        k u``, so ``du/dphi = 1/k = -n_phi / n_u``."""
        _, vectors = np.linalg.eigh(tensor)
        normal_u, normal_phi = vectors[:, 1]
        return float(np.arctan2(-normal_phi * np.sign(normal_u), abs(normal_u)))

    @cached_property
    def _fit(self) -> tuple[float, float]:
        """Signed arm angle ``arctan(du/dphi)`` (rad) and its jackknife error over the
        azimuthal sectors (NaN, NaN without a light or a map to measure)."""
        tensors = self._orientation_tensors
        if tensors is None or not np.trace(tensors.sum(axis=0)) > 0:
            return np.nan, np.nan
        total = tensors.sum(axis=0)
        angle = self._arm_angle(total)
        # angles are axial (mod pi): differences wrapped to (-pi/2, pi/2]
        left_out = np.array([self._arm_angle(total - t) for t in tensors])
        shifts = (left_out - angle + np.pi / 2) % np.pi - np.pi / 2
        n = len(shifts)
        return angle, float(np.sqrt((n - 1) / n * np.sum((shifts - shifts.mean()) ** 2)))

    # --- results ------------------------------------------------------------------
    @cached_property
    def pitch_angle_err_deg(self) -> float:
        """Jackknife error of the pitch angle over azimuthal sectors, degrees, scaled to a
        68% interval (NaN where no pitch is measured, or where it exceeds
        ``MAX_PITCH_ERR_DEG``)."""
        error = float(np.rad2deg(self._fit[1])) * PITCH_ERR_SCALE
        if not (np.isfinite(error) and np.isfinite(self._fit[0]) and error <= MAX_PITCH_ERR_DEG):
            return np.nan
        return error

    @cached_property
    def pitch_angle_deg(self) -> float:
        """Pitch angle in the disc plane, degrees in [0, 90] (NaN when not measured: no
        arms, an edge-on disc, no light where the map's arms are, or an error over
        ``MAX_PITCH_ERR_DEG``). Filter on
        :attr:`pitch_angle_err_deg` for cleaner samples (``docs/measurements.md``)."""
        if not np.isfinite(self.pitch_angle_err_deg):
            return np.nan
        return float(np.rad2deg(abs(self._fit[0])))

    @cached_property
    def chirality(self) -> float:
        """:func:`spiral_chirality` of the disc's light (deprojected, each ring divided by
        its mean), as the array is laid out: > 0 where the spirals' image-plane azimuth
        falls outwards. NaN for a nearly edge-on or undetected disc."""
        disc = self.disc.scaled(self._factor)
        if not (np.isfinite(disc.axis_ratio) and disc.axis_ratio >= MIN_AXIS_RATIO):
            return np.nan
        inner, outer = (max(2.0, f * disc.radius_px) for f in WINDING_RADII)
        if outer <= 1.5 * inner:
            return np.nan
        log_radius = np.linspace(np.log(inner), np.log(outer), N_RADII)
        light = _sample_log_polar(_block_mean(self._light, self._factor), log_radius, disc)
        mean = light.mean(axis=1, keepdims=True)
        if not np.all(mean > 0):
            return np.nan
        return spiral_chirality(light / mean - 1.0, log_radius)

    @cached_property
    def image_twist(self) -> float:
        """Sign of the arms' image-plane azimuth growth per unit ln r, as the array is laid
        out (+1, -1; NaN when ``|chirality|`` is below ``WINDING_MIN_CHIRALITY``)."""
        if not abs(self.chirality) >= WINDING_MIN_CHIRALITY:
            return np.nan
        return -float(np.sign(self.chirality))

    @cached_property
    def winding(self) -> str:
        """``'cw'`` or ``'acw'`` in Galaxy Zoo 1's sense (north up, east left), ``''`` when
        unsure or when the image's orientation on the sky is unknown."""
        if self.parity == 0:
            return ""
        return image_winding(self.parity * self.image_twist)

    @cached_property
    def fourier_amplitudes(self) -> np.ndarray:
        """Strongest normalised log-spiral amplitude of each mode in ``ARM_MODES``
        (:func:`log_spiral_spectrum`; zeros without a log-polar map)."""
        if self._log_polar is None:
            return np.zeros(len(ARM_MODES))
        log_radius, sampled, _ = self._log_polar
        return log_spiral_spectrum(sampled, log_radius)[0]

    @cached_property
    def fourier_pitch_deg(self) -> float:
        """Pitch of the strongest Fourier mode, ``arctan(m / |p|)`` (the 2D Fourier method,
        kept for comparison: ``benchmarks/spiral_geometry.py``; NaN without a map)."""
        if self._log_polar is None:
            return np.nan
        log_radius, sampled, _ = self._log_polar
        amplitude, best_p = log_spiral_spectrum(sampled, log_radius)
        k = int(np.argmax(amplitude))
        return float(np.rad2deg(np.arctan2(ARM_MODES[k], abs(best_p[k]))))

    @cached_property
    def n_arms(self) -> float:
        """Number of arms (the strongest Fourier mode of the deprojected map), NaN without
        arms or for a nearly edge-on disc."""
        if self._log_polar is None or not self.fourier_amplitudes.any():
            return np.nan
        return float(ARM_MODES[int(np.argmax(self.fourier_amplitudes))])

    @cached_property
    def disc_axis_ratio(self) -> float:
        """Axis ratio used to deproject (NaN where no arms are detected)."""
        return self.disc.axis_ratio if self.detected else np.nan

    @cached_property
    def disc_pa_deg(self) -> float:
        """Position angle of the disc's major axis east of north, degrees in [0, 180)
        (NaN where no arms are detected)."""
        if not (self.detected and np.isfinite(self.disc.angle_deg)):
            return np.nan
        return sky_position_angle(self.disc.angle_deg, self.disc.centre_xy, self.wcs)

    def spiral_xy(self, n_points: int = 100) -> list[np.ndarray]:
        """The fitted spiral through each arm piece, as image ``(x, y)`` points (for
        figures): one (n_points, 2) array per piece, over the piece's extent along it."""
        if not np.isfinite(self.pitch_angle_deg) or self._log_polar is None:
            return []
        _, _, disc = self._log_polar
        angle, f = self._fit[0], self._factor
        curves = []
        for phi, u, w in self._pieces:
            phi0, u0 = np.average(phi, weights=w), np.average(u, weights=w)
            along = (phi - phi0) * np.cos(angle) + (u - u0) * np.sin(angle)
            t = np.linspace(along.min(), along.max(), n_points)
            x, y = disc.to_image(np.exp(u0 + t * np.sin(angle)), phi0 + t * np.cos(angle))
            curves.append(np.column_stack([(x + 0.5) * f - 0.5, (y + 0.5) * f - 0.5]))
        return curves

    def to_row(self) -> dict[str, Any]:
        """Catalog columns (plain numbers, NaN where unknown; ``arm_winding`` a string)."""
        return {
            "n_arms": self.n_arms,
            "pitch_angle_deg": self.pitch_angle_deg,
            "pitch_angle_err_deg": self.pitch_angle_err_deg,
            "arm_winding": self.winding,
            "disc_axis_ratio": float(self.disc_axis_ratio),
            "disc_pa_deg": float(self.disc_pa_deg),
        }


def measure_spirals(spiral_vote_fraction: np.ndarray, light: np.ndarray,
                    **kwargs: Any) -> SpiralMeasurement:
    """Measure the arms' count, pitch and winding (keywords as :class:`SpiralMeasurement`)."""
    return SpiralMeasurement(spiral_vote_fraction, light, **kwargs)


__all__ = ["DEFAULT_ARM_LEVEL", "DiscGeometry", "SpiralMeasurement", "image_parity",
           "log_spiral_spectrum", "measure_disc", "measure_spirals", "spiral_chirality",
           "wcs_parity"]
