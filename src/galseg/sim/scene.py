"""A survey cutout: one central galaxy with neighbours, stars, PSF, noise, and its exact truth.

:class:`SceneSpec` holds everything that defines a cutout (immutable and
picklable, so worker processes can render it); :func:`render_cutout` turns
it into band images, the survey-style colour image and the truth.

Truth definitions (also in ``docs/simulator.md``):

* **spiral arm pixel**: within the half-maximum width of an arm's ridge (the
  arm's disc-plane FWHM widened by the PSF FWHM in quadrature), inside the
  arm's radial extent (envelope >= 0.5), and where the PSF-convolved light of
  the arms is at least 1 sigma of the r-band sky noise and at least 10% of all
  the light in that pixel: the part of the arm an observer could see.
* **bar pixel**: where the PSF-convolved bar light is at least half its peak
  (the flat-ended bar's edge) and at least 1 sky sigma. A bar counts as seen
  only if in at least half of those pixels it gives at least 20% of the light;
  a bar drowned in its bulge has an empty mask and ``has_bar`` False. The
  mask has no hole where the bulge dominates: the bar is there, only fainter.
* **bar length**: the projected end-to-end length of the model bar, ``2 a``
  de-projected through the disc's inclination and the bar's angle to the line
  of nodes; the truth mask's extent matches it to about the PSF width.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.signal import fftconvolve

from galseg.data.colour import LEGACY_NATIVE_PIXSCALE_ARCSEC, legacy_rgb
from galseg.data.gz3d import image_angle_to_position_angle, image_winding
from galseg.data.survey import ObservingConditions
from galseg.physical import kpc_per_arcsec
from galseg.sim import profiles
from galseg.sim.galaxy import BANDS, N_BANDS, GalaxyModel, RenderedGalaxy, render_galaxy
from galseg.sim.truth import ArmTrace, BarTrace, GalaxyTruth, StarTrace

ARM_MIN_SKY_SIGMA = 1.0
ARM_MIN_LIGHT_FRACTION = 0.10
BAR_MIN_SKY_SIGMA = 1.0
BAR_MIN_LIGHT_FRACTION = 0.2
BAR_MIN_VISIBLE_FRACTION = 0.5
MIN_TRUTH_PIXELS = 12
"""A feature with fewer truth pixels than this is not counted as present (not seeable)."""


@dataclass(frozen=True)
class Neighbour:
    """Another galaxy in the cutout (not part of the central galaxy's truth)."""

    model: GalaxyModel
    centre_xy: tuple[float, float]


@dataclass(frozen=True)
class Star:
    """A foreground star: position in pixels and flux (g, r, z) in nanomaggies."""

    xy: tuple[float, float]
    flux: tuple[float, float, float]


@dataclass(frozen=True)
class SceneSpec:
    """Everything that defines one simulated cutout.

    Attributes
    ----------
    name : str
        Galaxy name (used for files and catalog rows).
    shape : tuple of int
        ``(H, W)`` in pixels.
    galaxy : GalaxyModel
        The central galaxy.
    galaxy_centre_xy : tuple of float
        Its centre, pixels.
    galaxy_class : str
        ``elliptical``, ``lenticular``, ``spiral`` or ``edge_on``.
    arm_structure : str
        ``grand_design``, ``multi_arm``, ``flocculent`` or ``none``.
    redshift : float
        Redshift of the central galaxy.
    ra_deg, dec_deg : float
        Sky position of the cutout centre.
    conditions : ObservingConditions
        Seeing, depth, pixel scale.
    neighbours, stars : tuple
        Other galaxies and foreground stars.
    noise_seed : int
        Seed of the noise realisation.
    """

    name: str
    shape: tuple[int, int]
    galaxy: GalaxyModel
    galaxy_centre_xy: tuple[float, float]
    galaxy_class: str
    arm_structure: str
    redshift: float
    ra_deg: float
    dec_deg: float
    conditions: ObservingConditions
    neighbours: tuple[Neighbour, ...] = ()
    stars: tuple[Star, ...] = ()
    noise_seed: int = 0


@dataclass(frozen=True, eq=False)
class SimulatedCutout:
    """A rendered cutout and its truth.

    Attributes
    ----------
    spec : SceneSpec
        What was rendered.
    bands : ndarray, shape (3, H, W), float32
        g, r, z images in nanomaggies per pixel, with noise.
    truth : GalaxyTruth
        Exact truth of the central galaxy.
    """

    spec: SceneSpec
    bands: np.ndarray
    truth: GalaxyTruth

    @cached_property
    def rgb(self) -> np.ndarray:
        """Survey-style colour image, (H, W, 3) uint8 (:func:`galseg.data.colour.legacy_rgb`)."""
        return legacy_rgb(self.bands, pixscale_arcsec=self.spec.conditions.pixscale_arcsec)

    @property
    def has_spiral_arms(self) -> bool:
        return int(self.truth.spiral_mask.sum()) >= MIN_TRUTH_PIXELS

    @property
    def has_bar(self) -> bool:
        return self.truth.bar is not None and int(self.truth.bar_mask.sum()) >= MIN_TRUTH_PIXELS

    def truth_row(self) -> dict[str, Any]:
        """One catalog row of truth; NaN where a quantity does not exist (no bar, no arms)."""
        spec, model = self.spec, self.spec.galaxy
        pixscale = spec.conditions.pixscale_arcsec
        kpc_arcsec = float(kpc_per_arcsec(spec.redshift).value)
        bar = self.truth.bar if self.has_bar else None
        bar_length_px = 2 * bar.half_length_px if bar else np.nan
        main_arms = [a for a in model.arms if a.amplitude > 0]
        return {
            "name": spec.name,
            "class": spec.galaxy_class,
            "arm_structure": spec.arm_structure if self.has_spiral_arms else "none",
            "has_spiral_arms": self.has_spiral_arms,
            "has_bar": self.has_bar,
            "bar_length_px": bar_length_px,
            "bar_length_arcsec": bar_length_px * pixscale,
            "bar_length_kpc": bar_length_px * pixscale * kpc_arcsec,
            "bar_pa_deg": image_angle_to_position_angle(bar.angle_deg) if bar else np.nan,
            "bar_axis_ratio": (bar.half_width_px / bar.half_length_px) if bar else np.nan,
            "n_arms": len(main_arms) if self.has_spiral_arms else 0,
            "pitch_angle_deg": (float(np.median([a.pitch_angle_deg for a in main_arms]))
                                if self.has_spiral_arms else np.nan),
            # disc-plane azimuth grows outwards by handedness / tan(pitch) per unit ln r;
            # the projection onto the sky keeps its sense
            "arm_winding": image_winding(model.handedness) if self.has_spiral_arms else "",
            "spiral_area_px": int(self.truth.spiral_mask.sum()),
            "bar_area_px": int(self.truth.bar_mask.sum()),
            "inclination_deg": model.inclination_deg,
            "disc_pa_deg": image_angle_to_position_angle(model.disc_angle_deg),
            "disc_axis_ratio": model.apparent_disc_axis_ratio if model.has_disc else np.nan,
            "disc_scale_length_kpc": (model.disc_scale_length_arcsec * kpc_arcsec
                                      if model.has_disc else np.nan),
            "bulge_half_light_radius_kpc": model.bulge_half_light_radius_arcsec * kpc_arcsec,
            "bulge_sersic_n": model.bulge_sersic_n,
            "mag_r": _magnitude(model.bulge_flux[1] + model.disc_flux[1]),
            "centre_x": spec.galaxy_centre_xy[0],
            "centre_y": spec.galaxy_centre_xy[1],
            "ra": spec.ra_deg,
            "dec": spec.dec_deg,
            "pixscale_arcsec": pixscale,
            "redshift": spec.redshift,
            "psf_fwhm_r_arcsec": spec.conditions.psf_fwhm_arcsec[1],
            "n_neighbours": len(spec.neighbours),
            "n_stars": len(spec.stars),
        }


def _magnitude(flux_nmgy: float) -> float:
    return float(22.5 - 2.5 * np.log10(flux_nmgy)) if flux_nmgy > 0 else np.nan


def _convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return fftconvolve(image, kernel, mode="same").astype(np.float32)


def psf_kernels(conditions: ObservingConditions) -> list[np.ndarray]:
    """The g, r, z PSF kernels of ``conditions`` (Moffat, unit sum, on its pixel grid)."""
    return [profiles.moffat_kernel(f / conditions.pixscale_arcsec, beta=conditions.psf_beta)
            for f in conditions.psf_fwhm_arcsec]


def convolve_psf(light: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    """Blur ``(3, H, W)`` light with the per-band ``kernels`` (same shape out, float32)."""
    return np.stack([_convolve(light[b], kernels[b]) for b in range(N_BANDS)])


def add_noise(blurred: np.ndarray, conditions: ObservingConditions, *,
              noise_seed: int) -> np.ndarray:
    """Observe noise-free, PSF-convolved ``(3, H, W)`` light: sky and source Poisson noise.

    Gaussian sky noise of ``conditions.sky_sigma_per_pixel()`` plus the sources'
    own Poisson noise (``gain_e_per_nmgy``), drawn from ``default_rng(noise_seed)``.
    Returns float32 nanomaggies per pixel.
    """
    sky_sigma = conditions.sky_sigma_per_pixel().astype(np.float32)
    noise_rng = np.random.default_rng(noise_seed)
    # Poisson noise of the sources in electrons, in the per-native-pixel units of the gain
    per_native = (LEGACY_NATIVE_PIXSCALE_ARCSEC / conditions.pixscale_arcsec) ** 2
    variance = (sky_sigma[:, None, None] ** 2
                + np.maximum(blurred, 0) / (conditions.gain_e_per_nmgy * per_native))
    bands = blurred + noise_rng.standard_normal(blurred.shape, dtype=np.float32) * np.sqrt(
        variance).astype(np.float32)
    return bands.astype(np.float32)


def render_cutout(spec: SceneSpec) -> SimulatedCutout:
    """Render ``spec``: band images with noise, and the truth of the central galaxy."""
    cond = spec.conditions
    pixscale = cond.pixscale_arcsec
    kernels = psf_kernels(cond)

    central = render_galaxy(spec.galaxy, shape=spec.shape, centre_xy=spec.galaxy_centre_xy,
                            pixscale_arcsec=pixscale)
    light = central.total
    for neighbour in spec.neighbours:
        light = light + render_galaxy(neighbour.model, shape=spec.shape,
                                      centre_xy=neighbour.centre_xy,
                                      pixscale_arcsec=pixscale).total
    blurred = convolve_psf(light, kernels)
    for star in spec.stars:
        blurred += point_source(star, spec.shape, kernels)

    bands = add_noise(blurred, cond, noise_seed=spec.noise_seed)
    sky_sigma_r = float(cond.sky_sigma_per_pixel().astype(np.float32)[1])
    truth = _central_truth(spec, central, blurred[1], kernels[1], sky_sigma_r)
    return SimulatedCutout(spec=spec, bands=bands, truth=truth)


def point_source(star: Star, shape: tuple[int, int], kernels: list[np.ndarray]) -> np.ndarray:
    """A star: the PSF placed at a sub-pixel position (bilinear split over 4 pixels).

    Returns ``(3, H, W)`` float32, noise-free, in nanomaggies per pixel.
    """
    height, width = shape
    image = np.zeros((N_BANDS, height, width), dtype=np.float32)
    x0, y0 = int(np.floor(star.xy[0])), int(np.floor(star.xy[1]))
    fx, fy = star.xy[0] - x0, star.xy[1] - y0
    delta = np.zeros((height, width), dtype=np.float32)
    for ox, oy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        if 0 <= y0 + oy < height and 0 <= x0 + ox < width:
            delta[y0 + oy, x0 + ox] += w
    for b in range(N_BANDS):
        image[b] = _convolve(delta, kernels[b]) * star.flux[b]
    return image


def _central_truth(spec: SceneSpec, central: RenderedGalaxy, blurred_total_r: np.ndarray,
                   kernel_r: np.ndarray, sky_sigma_r: float) -> GalaxyTruth:
    model, pixscale = spec.galaxy, spec.conditions.pixscale_arcsec
    psf_fwhm_r = spec.conditions.psf_fwhm_arcsec[1]

    spiral_mask = np.zeros(spec.shape, dtype=bool)
    arms: list[ArmTrace] = []
    if model.arms:
        arm_light = _convolve(central.arms[1], kernel_r)
        visible = ((arm_light >= ARM_MIN_SKY_SIGMA * sky_sigma_r)
                   & (arm_light >= ARM_MIN_LIGHT_FRACTION * blurred_total_r))
        for k, arm in enumerate(model.arms):
            half_width = 0.5 * np.hypot(arm.width_arcsec, psf_fwhm_r)
            inside = (central.arm_distance[k] <= half_width) & (central.arm_window[k] >= 0.5)
            spiral_mask |= inside & visible
            arms.append(_arm_trace(model, arm, spec, half_width, arm_light, sky_sigma_r))

    bar_mask = np.zeros(spec.shape, dtype=bool)
    bar_trace = None
    if model.bar is not None:
        bar_light = _convolve(central.bar[1], kernel_r)
        peak = float(bar_light.max())
        bar_mask = (bar_light >= 0.5 * peak) & (bar_light >= BAR_MIN_SKY_SIGMA * sky_sigma_r)
        dominant = bar_light >= BAR_MIN_LIGHT_FRACTION * blurred_total_r
        if bar_mask.any() and dominant[bar_mask].mean() >= BAR_MIN_VISIBLE_FRACTION:
            bar_trace = _bar_trace(model, spec.galaxy_centre_xy, pixscale, peak / sky_sigma_r)
        else:
            bar_mask[:] = False

    stars = tuple(
        StarTrace(xy=s.xy, peak_snr=float(s.flux[1] * kernel_r.max() / sky_sigma_r))
        for s in spec.stars)
    disc_radius_arcsec = (max((a.end_radius_arcsec for a in model.arms), default=0.0)
                          or 3.0 * (model.disc_scale_length_arcsec if model.has_disc
                                    else model.bulge_half_light_radius_arcsec))
    return GalaxyTruth(
        spiral_mask=spiral_mask, bar_mask=bar_mask, arms=tuple(arms), bar=bar_trace,
        centre_xy=spec.galaxy_centre_xy, disc_radius_px=disc_radius_arcsec / pixscale,
        axis_ratio=(model.apparent_disc_axis_ratio if model.has_disc
                    else model.bulge_axis_ratio),
        disc_angle_deg=model.disc_angle_deg % 180.0, stars=stars)


def _arm_trace(model: GalaxyModel, arm, spec: SceneSpec, half_width_arcsec: float,
               arm_light: np.ndarray, sky_sigma_r: float) -> ArmTrace:
    pixscale = spec.conditions.pixscale_arcsec
    # the ridge over the part of the arm whose envelope is >= 0.5
    radii = np.linspace(arm.start_radius_arcsec, arm.end_radius_arcsec, 48)
    angle = model.arm_ridge_angle(arm, radii)
    dx, dy = model.disc_to_sky(radii * np.cos(angle), radii * np.sin(angle))
    ridge = np.column_stack([spec.galaxy_centre_xy[0] + dx / pixscale,
                             spec.galaxy_centre_xy[1] + dy / pixscale])
    height, width = spec.shape
    cols = np.clip(np.rint(ridge[:, 0]).astype(int), 0, width - 1)
    rows = np.clip(np.rint(ridge[:, 1]).astype(int), 0, height - 1)
    contrast = float(arm_light[rows, cols].max() / sky_sigma_r)
    width_px = np.full(len(radii), 2 * half_width_arcsec / pixscale)
    return ArmTrace(ridge_xy=ridge, width_px=width_px, contrast=contrast)


def _bar_trace(model: GalaxyModel, centre_xy: tuple[float, float], pixscale: float,
               contrast: float) -> BarTrace:
    bar = model.bar
    t = np.deg2rad(bar.angle_deg)
    # project the bar's major and minor semi-axes from the disc plane to the sky
    end_dx, end_dy = model.disc_to_sky(bar.half_length_arcsec * np.cos(t),
                                       bar.half_length_arcsec * np.sin(t))
    half_width = bar.half_length_arcsec * bar.axis_ratio
    side_dx, side_dy = model.disc_to_sky(-half_width * np.sin(t), half_width * np.cos(t))
    return BarTrace(
        centre_xy=centre_xy,
        half_length_px=float(np.hypot(end_dx, end_dy) / pixscale),
        half_width_px=float(np.hypot(side_dx, side_dy) / pixscale),
        angle_deg=float(np.rad2deg(np.arctan2(end_dy, end_dx)) % 180.0),
        contrast=contrast)


__all__ = ["BANDS", "ObservingConditions", "SceneSpec", "SimulatedCutout", "add_noise",
           "convolve_psf", "point_source", "psf_kernels", "render_cutout"]
