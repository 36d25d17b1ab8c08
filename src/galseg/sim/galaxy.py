"""A physically parameterised galaxy and its rendering into g, r, z component images.

A :class:`GalaxyModel` is immutable (GalSim style): sizes in arcsec, fluxes in
nanomaggies per band (g, r, z), angles in degrees. :func:`render_galaxy`
evaluates it on a pixel grid and returns the noise-free, PSF-free light of
each component, plus the per-arm geometry the truth masks are made from.

Geometry. Sky offsets ``(dx, dy)`` in arcsec are measured along the image
axes (x = column, y = row). The disc's line of nodes (its apparent major
axis) is at ``disc_angle_deg`` counter-clockwise from +x. Disc-plane
coordinates are ``u`` (along the line of nodes) and ``v`` (perpendicular,
de-projected by 1/cos i). Spiral arms, knots, dust lanes and the bar live in
the disc plane; the bulge is a sky-plane Sersic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galseg.data.survey import BANDS
from galseg.sim import profiles

N_BANDS = len(BANDS)
# Extinction per unit g-band optical depth in g, r, z (roughly A_lambda/A_g for
# a Milky Way-like law); dust reddens what it dims.
DUST_BAND_RATIOS = np.array([1.0, 0.72, 0.45], dtype=np.float32)


@dataclass(frozen=True)
class SpiralArm:
    """One logarithmic spiral arm (or short armlet) in the disc plane.

    Attributes
    ----------
    start_angle_deg : float
        Disc-plane azimuth of the ridge at ``start_radius_arcsec``, from the line of nodes.
    start_radius_arcsec, end_radius_arcsec : float
        Radial extent of the arm in the disc plane (light falls smoothly outside).
    pitch_angle_deg : float
        Angle between the arm and a circle (5-40 deg; small = tightly wound).
    width_arcsec : float
        Full width at half maximum of the arm across its ridge, in the disc plane.
    amplitude : float
        Ridge surface brightness relative to the underlying disc at the same point.
    """

    start_angle_deg: float
    start_radius_arcsec: float
    end_radius_arcsec: float
    pitch_angle_deg: float
    width_arcsec: float
    amplitude: float


BAR_PROFILES = ("flat", "ferrers")


@dataclass(frozen=True)
class Bar:
    """A bar in the disc plane: flat-ended or Ferrers, optionally with ansae.

    Attributes
    ----------
    half_length_arcsec : float
        Disc-plane semi-major axis (half the end-to-end length): where the bar's
        light falls to half its peak, for either profile.
    axis_ratio : float
        Disc-plane minor/major axis ratio (0.15-0.4 for strong bars).
    angle_deg : float
        Disc-plane angle of the bar from the line of nodes.
    relative_brightness : float
        Peak surface brightness relative to the disc's central surface brightness.
    profile : {'flat', 'ferrers'}
        :func:`~galseg.sim.profiles.flat_bar` (early-type discs) or
        :func:`~galseg.sim.profiles.ferrers_bar` (centrally concentrated).
    ferrers_index : float
        Exponent of the Ferrers profile (ignored for a flat bar).
    ansae_brightness : float
        Peak of the two blobs at the bar's ends ("ansae", Martinez-Valpuesta et
        al. 2007) relative to the bar's peak; 0 for none.
    """

    half_length_arcsec: float
    axis_ratio: float
    angle_deg: float
    relative_brightness: float
    profile: str = "flat"
    ferrers_index: float = 1.0
    ansae_brightness: float = 0.0

    def __post_init__(self) -> None:
        if self.profile not in BAR_PROFILES:
            raise ValueError(f"profile must be one of {BAR_PROFILES}, got {self.profile!r}")
        if not self.ferrers_index > 0:
            raise ValueError(f"ferrers_index must be > 0, got {self.ferrers_index!r}")
        if self.ansae_brightness < 0:
            raise ValueError(f"ansae_brightness must be >= 0, got {self.ansae_brightness!r}")


@dataclass(frozen=True)
class Lens:
    """A lens or oval: a plateau of disc light with a soft edge, in the disc plane.

    Lenses (nearly round) and ovals (elongated, fatter than bars) are common in
    unbarred and barred discs (Kormendy 1979; Kormendy & Kennicutt 2004). They are
    disc light, disc-coloured, and neither arm nor bar in the truth masks: what a
    model must learn not to call a bar.

    Attributes
    ----------
    semi_major_arcsec : float
        Disc-plane semi-major axis, where the plateau falls to half.
    axis_ratio : float
        Disc-plane minor/major axis ratio (0.5-0.75 ovals, 0.8-1 lenses).
    angle_deg : float
        Disc-plane angle from the line of nodes.
    relative_brightness : float
        Plateau surface brightness relative to the disc's central surface brightness.
    """

    semi_major_arcsec: float
    axis_ratio: float
    angle_deg: float
    relative_brightness: float


@dataclass(frozen=True)
class InnerRing:
    """A ring of disc light in the disc plane, such as the inner rings round bar ends.

    The disc's surface brightness is multiplied by ``1 + amplitude * exp(-(r -
    radius)^2 / (2 sigma^2))`` with ``sigma = width_arcsec / 2.3548``; the ring
    has the disc's colour and is neither arm nor bar in the truth masks.
    """

    radius_arcsec: float
    width_arcsec: float
    amplitude: float


@dataclass(frozen=True)
class Knot:
    """A star-forming knot on a spiral arm: Gaussian blob, flux in r (nanomaggies).

    ``azimuth_offset_deg`` moves the knot in the disc plane away from its arm's
    ridge by that azimuth at the same radius: inter-arm HII regions and the
    clumps of flocculent discs (0, on the ridge, by default).
    """

    arm_index: int
    radius_arcsec: float
    sigma_arcsec: float
    flux_r: float
    azimuth_offset_deg: float = 0.0


@dataclass(frozen=True)
class GalaxyModel:
    """An immutable galaxy: bulge, disc, arms, bar, knots and dust.

    Fluxes are ``(g, r, z)`` tuples in nanomaggies; a component with zero flux is
    absent (an elliptical has no disc). ``arm_colour`` and ``knot_colour`` are
    g, r, z multipliers of the arm/knot light relative to the r band (>1 in g:
    bluer than the disc, as star-forming arms are). ``bar_colour`` is the same
    for the bar; its default, 0.85 in g (g - r = 0.18), makes a bar bluer than
    a typical disc (g - r about 0.5). Real bars are old stars, about as red as
    bulges (g - r about 0.75, g multiplier 0.5); :mod:`galseg.sim.population`
    draws such colours for the bar families (``PopulationMix.old_bar_colour_fraction``).

    ``inner_ring`` (an :class:`InnerRing`) brightens the disc in a ring, as the
    inner rings round many bars' ends; ``lens`` (a :class:`Lens`) adds a lens or
    oval to the disc.

    ``lopsidedness`` is the amplitude A1 of an m = 1 distortion of the disc
    (and the arms on it): surface brightness x ``1 + A1 cos(phi - phi1)
    r / (r + h)`` in the disc plane, growing outwards as in real lopsided
    discs (Rix & Zaritsky 1995), brightest towards disc-plane azimuth
    ``lopsided_angle_deg`` from the line of nodes; it moves light, not flux.
    0 (default) is a symmetric disc.
    """

    bulge_flux: tuple[float, float, float]
    bulge_half_light_radius_arcsec: float
    bulge_sersic_n: float
    bulge_axis_ratio: float
    disc_flux: tuple[float, float, float] = (0.0, 0.0, 0.0)
    disc_scale_length_arcsec: float = 1.0
    inclination_deg: float = 0.0
    disc_angle_deg: float = 0.0
    disc_thickness: float = 0.15
    arms: tuple[SpiralArm, ...] = ()
    handedness: int = 1
    arm_colour: tuple[float, float, float] = (1.3, 1.0, 0.85)
    bar: Bar | None = None
    bar_colour: tuple[float, float, float] = (0.85, 1.0, 1.1)
    knots: tuple[Knot, ...] = ()
    knot_colour: tuple[float, float, float] = (1.5, 1.0, 0.7)
    arm_dust_opacity: float = 0.0
    midplane_dust_opacity: float = 0.0
    lopsidedness: float = 0.0
    lopsided_angle_deg: float = 0.0
    inner_ring: InnerRing | None = None
    lens: Lens | None = None

    def __post_init__(self) -> None:
        if self.handedness not in (-1, 1):
            raise ValueError(f"handedness must be +1 or -1, got {self.handedness!r}")
        if not 0 <= self.inclination_deg <= 90:
            raise ValueError(f"inclination_deg must be in [0, 90], got {self.inclination_deg!r}")
        for name in ("bulge_half_light_radius_arcsec", "disc_scale_length_arcsec",
                     "bulge_sersic_n", "bulge_axis_ratio"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.lopsidedness < 1:
            raise ValueError(f"lopsidedness must be in [0, 1), got {self.lopsidedness!r}")

    @property
    def has_disc(self) -> bool:
        return self.disc_flux[1] > 0

    @property
    def cos_inclination(self) -> float:
        return float(np.cos(np.deg2rad(self.inclination_deg)))

    @property
    def apparent_disc_axis_ratio(self) -> float:
        """Minor/major axis ratio of the disc on the sky (Hubble 1926 with thickness)."""
        cos_i = self.cos_inclination
        return float(np.sqrt(cos_i**2 + self.disc_thickness**2 * (1 - cos_i**2)))

    def disc_to_sky(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Disc-plane (u, v) in arcsec -> sky offsets (dx, dy) in arcsec along the image axes."""
        t = np.deg2rad(self.disc_angle_deg)
        along, across = u, v * self.cos_inclination
        return along * np.cos(t) - across * np.sin(t), along * np.sin(t) + across * np.cos(t)

    def sky_to_major_minor(self, dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sky offsets (dx, dy) -> offsets along and across the apparent major axis (arcsec)."""
        return _along_across(dx, dy, self.disc_angle_deg)

    def sky_to_disc(self, dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sky offsets (dx, dy) in arcsec -> disc-plane (u, v) in arcsec."""
        along, across = self.sky_to_major_minor(dx, dy)
        # a thin disc de-projects by cos i; clip so edge-on discs stay finite
        return along, across / max(self.cos_inclination, 0.05)

    def arm_ridge_angle(self, arm: SpiralArm, r_disc: np.ndarray) -> np.ndarray:
        """Disc-plane azimuth (rad) of ``arm``'s ridge at radius ``r_disc``."""
        return profiles.log_spiral_angle(
            r_disc, start_angle_rad=np.deg2rad(arm.start_angle_deg),
            start_radius=arm.start_radius_arcsec, pitch_angle_deg=arm.pitch_angle_deg,
            handedness=self.handedness,
        )

    def arm_window(self, arm: SpiralArm, r_disc: np.ndarray) -> np.ndarray:
        """Radial envelope (0..1) of ``arm``: arms grow out of the centre and fade at their end."""
        softness = 0.08 * (arm.end_radius_arcsec - arm.start_radius_arcsec) + 0.1
        return profiles.smooth_window(r_disc, arm.start_radius_arcsec, arm.end_radius_arcsec,
                                      softness)


@dataclass(frozen=True, eq=False)
class RenderedGalaxy:
    """Noise-free light of one galaxy on a pixel grid, before the PSF.

    Every image is ``(3, H, W)`` float32 in nanomaggies per pixel (g, r, z),
    already dimmed by the galaxy's own dust.

    Attributes
    ----------
    bulge, disc, arms, bar : ndarray
        Component light; ``arms`` includes the knots along them.
    arm_distance : ndarray, shape (n_arms, H, W)
        Disc-plane distance (arcsec) of each pixel from each arm's ridge.
    arm_window : ndarray, shape (n_arms, H, W)
        Radial envelope of each arm at each pixel.
    """

    bulge: np.ndarray
    disc: np.ndarray
    arms: np.ndarray
    bar: np.ndarray
    arm_distance: np.ndarray
    arm_window: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.bulge + self.disc + self.arms + self.bar


def _along_across(x: np.ndarray, y: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets ``(x, y)`` -> offsets along and across an axis at ``angle_deg`` from +x."""
    t = np.deg2rad(angle_deg)
    return x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)


def _bands(flux: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    return np.asarray(flux, dtype=np.float32)[:, None, None]


def render_galaxy(
    model: GalaxyModel,
    *,
    shape: tuple[int, int],
    centre_xy: tuple[float, float],
    pixscale_arcsec: float,
) -> RenderedGalaxy:
    """Evaluate ``model`` on a pixel grid.

    Parameters
    ----------
    model : GalaxyModel
        The galaxy.
    shape : tuple of int
        ``(H, W)`` of the image.
    centre_xy : tuple of float
        Galaxy centre in pixels ``(x, y)``; pixel ``(i, j)`` has its centre at ``x=j, y=i``.
    pixscale_arcsec : float
        Pixel scale.

    Returns
    -------
    RenderedGalaxy
    """
    height, width = shape
    pixel_area = pixscale_arcsec**2
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    dx = (xs - centre_xy[0]) * pixscale_arcsec
    dy = (ys - centre_xy[1]) * pixscale_arcsec
    zeros = np.zeros((N_BANDS, height, width), dtype=np.float32)

    bulge = _render_bulge(model, dx, dy, centre_xy, pixscale_arcsec) * _bands(model.bulge_flux)

    n_arms = len(model.arms)
    arm_distance = np.full((n_arms, height, width), np.inf, dtype=np.float32)
    arm_window = np.zeros((n_arms, height, width), dtype=np.float32)
    if not model.has_disc:
        return RenderedGalaxy(bulge, zeros, zeros.copy(), zeros.copy(), arm_distance, arm_window)

    u, v = model.sky_to_disc(dx, dy)
    r_disc = np.hypot(u, v)
    theta = np.arctan2(v, u)
    # the disc itself, projected on the sky with its thickness (per pixel, r-band units of 1)
    q_sky = model.apparent_disc_axis_ratio
    along, across = model.sky_to_major_minor(dx, dy)
    r_sky_disc = np.hypot(along, across / q_sky)
    disc_unit = profiles.exponential_disc(r_sky_disc, scale_length=model.disc_scale_length_arcsec,
                                          axis_ratio=q_sky) * pixel_area

    def disc_relative(brightness: float) -> float:
        """r-band light per pixel at ``brightness`` times the disc's central surface brightness."""
        return brightness * model.disc_flux[1] * pixel_area / (
            2 * np.pi * model.disc_scale_length_arcsec**2 * q_sky)

    if model.lopsidedness > 0:
        r_over_h = r_disc / model.disc_scale_length_arcsec
        disc_unit = disc_unit * (1.0 + model.lopsidedness * r_over_h / (1.0 + r_over_h) * np.cos(
            theta - np.deg2rad(model.lopsided_angle_deg)))
    if model.inner_ring is not None:
        ring = model.inner_ring
        disc_unit = disc_unit * (1.0 + ring.amplitude * np.exp(
            -0.5 * ((r_disc - ring.radius_arcsec) / (ring.width_arcsec / 2.3548)) ** 2))
    disc = disc_unit * _bands(model.disc_flux)
    if model.lens is not None:
        lens = model.lens
        shape = profiles.flat_bar(*_along_across(u, v, lens.angle_deg),
                                  half_length=lens.semi_major_arcsec,
                                  half_width=lens.semi_major_arcsec * lens.axis_ratio,
                                  boxiness=2.0, edge_softness=0.12)
        # disc-coloured: the disc's g, r, z ratios
        disc = disc + (shape * disc_relative(lens.relative_brightness))[None] * (
            _bands(model.disc_flux) / model.disc_flux[1])

    arm_light_r = np.zeros((height, width), dtype=np.float32)
    dust_tau = np.zeros((height, width), dtype=np.float32)
    for k, arm in enumerate(model.arms):
        ridge = model.arm_ridge_angle(arm, r_disc)
        offset = profiles.wrap_angle(theta - ridge)
        sin_pitch = np.sin(np.deg2rad(arm.pitch_angle_deg))
        signed_distance = r_disc * offset * sin_pitch
        window = model.arm_window(arm, r_disc)
        arm_distance[k] = np.abs(signed_distance)
        arm_window[k] = window
        sigma = arm.width_arcsec / 2.3548
        arm_light_r += (arm.amplitude * window * np.exp(-0.5 * (signed_distance / sigma) ** 2)
                        * disc_unit * model.disc_flux[1])
        if model.arm_dust_opacity > 0:
            # dust lanes lie on the inner (concave) side of trailing arms
            inner = model.handedness * signed_distance
            dust_tau += model.arm_dust_opacity * window * np.exp(
                -0.5 * ((inner - 0.7 * sigma) / (0.45 * sigma)) ** 2)
    arms = arm_light_r[None] * _bands(model.arm_colour)
    if model.knots:
        arms = arms + _render_knots(model, dx, dy, pixel_area)

    bar = zeros.copy()
    if model.bar is not None:
        b = model.bar
        p, q = _along_across(u, v, b.angle_deg)
        half_width = b.half_length_arcsec * b.axis_ratio
        if b.profile == "ferrers":
            shape = profiles.ferrers_bar(p, q, half_length=b.half_length_arcsec,
                                         half_width=half_width, index=b.ferrers_index)
        else:
            shape = profiles.flat_bar(p, q, half_length=b.half_length_arcsec,
                                      half_width=half_width)
        if b.ansae_brightness > 0:
            # round blobs just inside each end, as wide as the bar
            for end in (-0.85, 0.85):
                shape = shape + b.ansae_brightness * np.exp(
                    -0.5 * (np.hypot(p - end * b.half_length_arcsec, q) / (0.7 * half_width)) ** 2)
        bar = (shape * disc_relative(b.relative_brightness))[None] * _bands(model.bar_colour)

    if model.midplane_dust_opacity > 0:
        # edge-on dust lane: thin layer in the mid-plane, as long as the visible disc
        height_arcsec = 0.25 * model.disc_scale_length_arcsec * max(q_sky, 0.05)
        dust_tau += (model.midplane_dust_opacity * np.exp(-0.5 * (across / height_arcsec) ** 2)
                     * profiles.smooth_window(np.abs(along), -1.0,
                                              3.0 * model.disc_scale_length_arcsec,
                                              0.3 * model.disc_scale_length_arcsec))
    if np.any(dust_tau > 0):
        transmission = np.exp(-dust_tau[None] * DUST_BAND_RATIOS[:, None, None])
        disc, arms, bar = disc * transmission, arms * transmission, bar * transmission
        # the bulge sits partly behind the disc: half of its light is dimmed
        bulge = bulge * (0.5 + 0.5 * transmission)
    return RenderedGalaxy(bulge, disc, arms.astype(np.float32), bar, arm_distance, arm_window)


def _render_bulge(model: GalaxyModel, dx: np.ndarray, dy: np.ndarray,
                  centre_xy: tuple[float, float], pixscale_arcsec: float) -> np.ndarray:
    """Unit-flux Sersic per pixel, with the cusp integrated on a 5x finer grid near the centre."""
    kwargs = dict(half_light_radius=model.bulge_half_light_radius_arcsec, n=model.bulge_sersic_n,
                  axis_ratio=model.bulge_axis_ratio, angle_deg=model.disc_angle_deg)
    image = profiles.sersic(dx, dy, **kwargs) * pixscale_arcsec**2
    height, width = dx.shape
    cx, cy = round(centre_xy[0]), round(centre_xy[1])
    half, fine = 3, 5
    x0, x1 = max(cx - half, 0), min(cx + half + 1, width)
    y0, y1 = max(cy - half, 0), min(cy + half + 1, height)
    if x1 > x0 and y1 > y0:
        sub = (np.arange(fine) + 0.5) / fine - 0.5
        fy = (np.arange(y0, y1)[:, None] + sub[None, :]).ravel()
        fx = (np.arange(x0, x1)[:, None] + sub[None, :]).ravel()
        fxx, fyy = np.meshgrid((fx - centre_xy[0]) * pixscale_arcsec,
                               (fy - centre_xy[1]) * pixscale_arcsec)
        fine_image = profiles.sersic(fxx, fyy, **kwargs) * (pixscale_arcsec / fine) ** 2
        image[y0:y1, x0:x1] = fine_image.reshape(y1 - y0, fine, x1 - x0, fine).sum(axis=(1, 3))
    return image.astype(np.float32)


def _render_knots(model: GalaxyModel, dx: np.ndarray, dy: np.ndarray,
                  pixel_area: float) -> np.ndarray:
    light = np.zeros((N_BANDS, *dx.shape), dtype=np.float32)
    for knot in model.knots:
        arm = model.arms[knot.arm_index]
        angle = float(model.arm_ridge_angle(arm, np.asarray(knot.radius_arcsec)))
        angle += np.deg2rad(knot.azimuth_offset_deg)
        kx, ky = model.disc_to_sky(knot.radius_arcsec * np.cos(angle),
                                   knot.radius_arcsec * np.sin(angle))
        blob = np.exp(-0.5 * ((dx - kx) ** 2 + (dy - ky) ** 2) / knot.sigma_arcsec**2)
        blob *= knot.flux_r * pixel_area / (2 * np.pi * knot.sigma_arcsec**2)
        light += blob[None] * _bands(model.knot_colour)
    return light
