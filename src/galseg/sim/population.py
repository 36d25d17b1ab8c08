"""Random draws of galaxies, neighbours, stars and observing conditions.

The mix and ranges aim at what DESI Legacy Surveys cutouts of nearby
(z < 0.15) galaxies show, the population of Galaxy Zoo 3D / MaNGA: central
galaxies that fill a good part of the frame, about 55% with spiral arms
(GZ3D has ~24% with marked arms; we over-sample spirals so models get
training signal, and document it), a third of discs barred, ellipticals,
lenticulars (some barred) and edge-on discs. Every number below is a
choice; ``docs/simulator.md`` lists them with reasons and limits.

Sizes are physical: a disc scale length in kpc and a redshift give the
angular size through the Planck18 cosmology. We first draw how much of the
frame the galaxy fills (as MaNGA's selection effectively does), then a
physical size, and solve for the redshift; if that redshift falls outside
0.005-0.15 it is clipped and the physical size follows from it, so sizes,
redshifts and angular sizes are always mutually consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from galseg.physical import distance_modulus, kpc_per_arcsec, redshift_at_kpc_per_arcsec
from galseg.sim.galaxy import Bar, GalaxyModel, InnerRing, Knot, Lens, SpiralArm
from galseg.sim.scene import Neighbour, ObservingConditions, SceneSpec, Star

REDSHIFT_RANGE = (0.005, 0.15)


@dataclass(frozen=True)
class PopulationMix:
    """Fractions of each kind of central galaxy (they need not sum to 1; they are normalised)."""

    elliptical: float = 0.17
    lenticular: float = 0.15
    spiral: float = 0.58
    edge_on: float = 0.10
    barred_spiral_fraction: float = 0.40
    barred_lenticular_fraction: float = 0.30
    grand_design_fraction: float = 0.35
    multi_arm_fraction: float = 0.30  # the rest are flocculent
    # bar families (all 0 by default: every bar flat-ended and bluish, as the
    # shipped segmenter was trained; BAR_FAMILIES below sets them)
    ferrers_bar_fraction: float = 0.0
    bar_ansae_fraction: float = 0.0
    inner_ring_fraction: float = 0.0
    old_bar_colour_fraction: float = 0.0
    # lenses and ovals in discs (0 by default; galseg simulate --lenses sets LENS_FRACTION)
    lens_fraction: float = 0.0

    def classes(self) -> tuple[tuple[str, ...], np.ndarray]:
        names = ("elliptical", "lenticular", "spiral", "edge_on")
        weights = np.array([getattr(self, n) for n in names], dtype=float)
        return names, weights / weights.sum()

    @property
    def has_bar_families(self) -> bool:
        return any(f > 0 for f in (self.ferrers_bar_fraction, self.bar_ansae_fraction,
                                   self.inner_ring_fraction, self.old_bar_colour_fraction))


BAR_FAMILIES = PopulationMix(ferrers_bar_fraction=0.5, bar_ansae_fraction=0.2,
                             inner_ring_fraction=0.3, old_bar_colour_fraction=0.8)
"""The default mix with varied bars (``galseg simulate --bar-families``): half of the bars
Ferrers (centrally concentrated, brighter peaks), a fifth with ansae, inner rings round
the bar ends in 30% of barred discs, and 80% of bars as red as an old population."""

LENS_FRACTION = 0.3
"""``lens_fraction`` of ``galseg simulate --lenses``: a lens or an oval in 30% of the
spiral and lenticular discs, barred or not."""


def _flux_grz(flux_r: float, g_minus_r: float, r_minus_z: float) -> tuple[float, float, float]:
    return (flux_r * 10 ** (-0.4 * g_minus_r), flux_r, flux_r * 10 ** (0.4 * r_minus_z))


def _draw_bar_family(rng: np.random.Generator, bar: Bar, mix: PopulationMix,
                     ) -> tuple[Bar, tuple[float, float, float], InnerRing | None]:
    """Profile, ansae, colour and inner ring of a bar (``PopulationMix`` bar-family fractions)."""
    if rng.random() < mix.ferrers_bar_fraction:
        # a concentrated profile peaks higher for the same visible bar
        bar = replace(bar, profile="ferrers", ferrers_index=rng.uniform(0.5, 1.5),
                      relative_brightness=rng.uniform(1.0, 3.0))
    if rng.random() < mix.bar_ansae_fraction:
        bar = replace(bar, ansae_brightness=rng.uniform(0.3, 0.8))
    colour = GalaxyModel.bar_colour
    if rng.random() < mix.old_bar_colour_fraction:
        # old stars, as bulges (g - r ~ 0.72, r - z ~ 0.40), as multipliers of the r-band light
        colour = (float(10 ** (-0.4 * rng.normal(0.72, 0.06))), 1.0,
                  float(10 ** (0.4 * rng.normal(0.40, 0.05))))
    ring = None
    if rng.random() < mix.inner_ring_fraction:
        radius = bar.half_length_arcsec * rng.uniform(1.0, 1.3)
        ring = InnerRing(radius_arcsec=radius, width_arcsec=radius * rng.uniform(0.12, 0.25),
                         amplitude=rng.uniform(0.3, 1.2))
    return bar, colour, ring


def _draw_lens(rng: np.random.Generator, scale_length: float) -> Lens:
    """Half ovals (fatter than any bar: axis ratio 0.5-0.75), half nearly round lenses."""
    oval = rng.random() < 0.5
    return Lens(semi_major_arcsec=scale_length * rng.uniform(0.6, 1.6),
                axis_ratio=rng.uniform(0.5, 0.75) if oval else rng.uniform(0.8, 1.0),
                angle_deg=rng.uniform(0, 180), relative_brightness=rng.uniform(0.2, 0.6))


def _draw_arms(rng: np.random.Generator, structure: str, *, start_radius: float,
               end_radius: float, scale_length: float) -> tuple[SpiralArm, ...]:
    if structure == "flocculent":
        n_armlets = int(rng.integers(6, 16))
        arms = []
        for _ in range(n_armlets):
            r0 = rng.uniform(start_radius, 0.75 * end_radius)
            length = rng.uniform(0.25, 0.6) * (end_radius - start_radius)
            arms.append(SpiralArm(
                start_angle_deg=rng.uniform(0, 360), start_radius_arcsec=r0,
                end_radius_arcsec=min(r0 + length, end_radius),
                pitch_angle_deg=rng.uniform(18, 35),
                width_arcsec=rng.uniform(0.12, 0.22) * scale_length,
                amplitude=rng.uniform(0.8, 2.0)))
        return tuple(arms)
    n_arms = 2 if structure == "grand_design" else int(rng.choice([2, 3, 3, 4, 4, 5]))
    pitch = rng.uniform(10, 30) if structure == "grand_design" else rng.uniform(12, 35)
    phase0 = rng.uniform(0, 360)
    amplitude = rng.uniform(1.2, 3.0) if structure == "grand_design" else rng.uniform(0.8, 2.0)
    width = rng.uniform(0.2, 0.35) * scale_length
    return tuple(
        SpiralArm(
            start_angle_deg=phase0 + 360.0 * k / n_arms + rng.normal(0, 8),
            start_radius_arcsec=start_radius * rng.uniform(0.9, 1.15),
            end_radius_arcsec=end_radius * rng.uniform(0.75, 1.1),
            pitch_angle_deg=float(np.clip(pitch + rng.normal(0, 2), 6, 40)),
            width_arcsec=width * rng.uniform(0.85, 1.15),
            amplitude=amplitude * rng.uniform(0.7, 1.3))
        for k in range(n_arms))


def draw_central_galaxy(
    rng: np.random.Generator, *, field_radius_arcsec: float, galaxy_class: str | None = None,
    mix: PopulationMix = PopulationMix(),  # frozen, so a safe default
) -> tuple[GalaxyModel, str, str, float]:
    """Draw one central galaxy.

    Parameters
    ----------
    rng : Generator
        Random numbers.
    field_radius_arcsec : float
        Half the cutout's width; the galaxy's visible extent is drawn as a fraction of it.
    galaxy_class : str, optional
        Force a class (``elliptical``, ``lenticular``, ``spiral``, ``edge_on``).
    mix : PopulationMix
        Class fractions.

    Returns
    -------
    model, galaxy_class, arm_structure, redshift
    """
    names, weights = mix.classes()
    if galaxy_class is None:
        galaxy_class = str(rng.choice(names, p=weights))
    elif galaxy_class not in names:
        raise ValueError(f"galaxy_class must be one of {names}, got {galaxy_class!r}")

    # apparent size: the visible disc (3.5 scale lengths, or 2.5 R_e for spheroids)
    # spans 35-95% of the half-width of the frame
    visible_radius = rng.uniform(0.35, 0.95) * field_radius_arcsec
    if galaxy_class == "elliptical":
        size_arcsec = visible_radius / 2.5
        size_kpc = float(np.exp(rng.normal(np.log(3.0), 0.4)))
    else:
        size_arcsec = visible_radius / 3.5
        size_kpc = float(np.exp(rng.normal(np.log(3.2), 0.35)))
    scale_range = [float(kpc_per_arcsec(z).value) for z in REDSHIFT_RANGE]
    scale = size_kpc / size_arcsec
    if scale_range[0] <= scale <= scale_range[1]:
        redshift = redshift_at_kpc_per_arcsec(scale)
    else:
        # tiny or huge frames: the nearest allowed redshift, and the size that follows
        redshift = REDSHIFT_RANGE[0] if scale < scale_range[0] else REDSHIFT_RANGE[1]
        size_kpc = size_arcsec * float(kpc_per_arcsec(redshift).value)
    # luminosity grows with size (Shen et al. 2003 slope ~ 0.25-0.4 in log R per mag/2.5)
    abs_mag_r = -19.8 - 5.0 * np.log10(size_kpc / 3.0) + rng.normal(0, 0.4)
    flux_r = 10 ** (-0.4 * (abs_mag_r + distance_modulus(redshift) - 22.5))
    disc_angle = rng.uniform(0, 180)

    if galaxy_class == "elliptical":
        model = GalaxyModel(
            bulge_flux=_flux_grz(flux_r, rng.normal(0.78, 0.05), rng.normal(0.45, 0.04)),
            bulge_half_light_radius_arcsec=size_arcsec, bulge_sersic_n=rng.uniform(3.0, 5.5),
            bulge_axis_ratio=rng.uniform(0.45, 1.0), disc_angle_deg=disc_angle)
        return model, galaxy_class, "none", redshift

    scale_length = size_arcsec
    if galaxy_class == "edge_on":
        inclination = rng.uniform(80, 89)
        bulge_fraction = rng.uniform(0.03, 0.25)
    elif galaxy_class == "lenticular":
        inclination = np.rad2deg(np.arccos(rng.uniform(0.3, 1.0)))
        bulge_fraction = rng.uniform(0.25, 0.6)
    else:
        inclination = np.rad2deg(np.arccos(rng.uniform(0.35, 1.0)))
        bulge_fraction = rng.uniform(0.03, 0.4)
    bulge_re = scale_length * rng.uniform(0.12, 0.3)
    red = galaxy_class == "lenticular"
    bulge_flux = _flux_grz(flux_r * bulge_fraction, rng.normal(0.75, 0.05), rng.normal(0.42, 0.04))
    disc_flux = _flux_grz(flux_r * (1 - bulge_fraction),
                          rng.normal(0.70 if red else 0.50, 0.06),
                          rng.normal(0.40 if red else 0.30, 0.05))

    bar = None
    barred_fraction = {"spiral": mix.barred_spiral_fraction,
                       "lenticular": mix.barred_lenticular_fraction}.get(galaxy_class, 0.0)
    bar_colour, inner_ring = GalaxyModel.bar_colour, None
    if rng.random() < barred_fraction:
        bar = Bar(half_length_arcsec=scale_length * rng.uniform(0.8, 2.0),
                  axis_ratio=rng.uniform(0.18, 0.4), angle_deg=rng.uniform(0, 180),
                  relative_brightness=rng.uniform(0.6, 1.5))
        if mix.has_bar_families:
            bar, bar_colour, inner_ring = _draw_bar_family(rng, bar, mix)

    lens = None
    if mix.lens_fraction > 0 and galaxy_class != "edge_on" and rng.random() < mix.lens_fraction:
        lens = _draw_lens(rng, scale_length)

    arms: tuple[SpiralArm, ...] = ()
    knots: tuple[Knot, ...] = ()
    structure = "none"
    if galaxy_class == "spiral":
        u = rng.random()
        structure = ("grand_design" if u < mix.grand_design_fraction else
                     "multi_arm" if u < mix.grand_design_fraction + mix.multi_arm_fraction
                     else "flocculent")
        start = bar.half_length_arcsec if bar else bulge_re * rng.uniform(1.5, 3.0)
        arms = _draw_arms(rng, structure, start_radius=start,
                          end_radius=scale_length * rng.uniform(3.0, 4.2),
                          scale_length=scale_length)
        if rng.random() < 0.6:
            knots = tuple(
                Knot(arm_index=int(k), radius_arcsec=rng.uniform(
                    arms[k].start_radius_arcsec, arms[k].end_radius_arcsec),
                    sigma_arcsec=rng.uniform(0.2, 0.5),
                    flux_r=flux_r * rng.uniform(0.001, 0.005))
                for k in rng.integers(0, len(arms), size=int(rng.integers(3, 20))))
    model = GalaxyModel(
        bulge_flux=bulge_flux, bulge_half_light_radius_arcsec=bulge_re,
        bulge_sersic_n=rng.uniform(1.0, 4.0), bulge_axis_ratio=rng.uniform(0.7, 1.0),
        disc_flux=disc_flux, disc_scale_length_arcsec=scale_length,
        inclination_deg=float(inclination), disc_angle_deg=disc_angle,
        disc_thickness=rng.uniform(0.08, 0.2), arms=arms,
        handedness=int(rng.choice([-1, 1])), bar=bar, bar_colour=bar_colour, knots=knots,
        inner_ring=inner_ring, lens=lens,
        arm_dust_opacity=rng.uniform(0.2, 0.8) if arms and rng.random() < 0.5 else 0.0,
        midplane_dust_opacity=rng.uniform(0.5, 2.0) if galaxy_class == "edge_on" else 0.0)
    return model, galaxy_class, structure, redshift


def draw_conditions(rng: np.random.Generator, *, pixscale_arcsec: float) -> ObservingConditions:
    """Seeing and depth spread like DR9: r-band FWHM 0.9-1.7 arcsec, depth x0.7-1.4 about median."""
    fwhm_r = rng.uniform(0.9, 1.7)
    depth = rng.uniform(0.7, 1.4)
    base = ObservingConditions()
    return ObservingConditions(
        pixscale_arcsec=pixscale_arcsec,
        psf_fwhm_arcsec=(fwhm_r * 1.1, fwhm_r, fwhm_r * 0.92),
        sky_noise_nmgy=tuple(float(s * depth) for s in base.sky_noise_nmgy))


def draw_neighbours(rng: np.random.Generator, shape: tuple[int, int], pixscale: float, *,
                    density_per_arcmin2: float = 10.0) -> tuple[Neighbour, ...]:
    """Field galaxies (r < 23) at random positions in a ``shape`` frame of ``pixscale`` arcsec/px.

    The default density, ~10 galaxies per arcmin^2 brighter than r = 23, is the depth of DR9.
    """
    area_arcmin2 = shape[0] * shape[1] * (pixscale / 60.0) ** 2
    n = rng.poisson(density_per_arcmin2 * area_arcmin2)
    neighbours = []
    for _ in range(n):
        mag_r = max(23.0 - rng.exponential(1.6), 16.5)
        small = max(mag_r - 17.0, 0.0)
        g_minus_r = rng.uniform(0.3, 1.3)
        neighbours.append(Neighbour(
            model=GalaxyModel(
                # colours of real galaxies are correlated: red in g-r is red in r-z
                bulge_flux=_flux_grz(10 ** (-0.4 * (mag_r - 22.5)), g_minus_r,
                                     0.5 * g_minus_r + rng.uniform(0.0, 0.3)),
                bulge_half_light_radius_arcsec=float(np.clip(
                    rng.lognormal(np.log(2.5 * 0.7**small), 0.4), 0.25, 8.0)),
                bulge_sersic_n=rng.uniform(0.8, 4.0), bulge_axis_ratio=rng.uniform(0.3, 1.0),
                disc_angle_deg=rng.uniform(0, 180)),
            centre_xy=(rng.uniform(0, shape[1] - 1), rng.uniform(0, shape[0] - 1))))
    return tuple(neighbours)


def draw_stars(rng: np.random.Generator, shape: tuple[int, int], pixscale: float,
               centre_xy: tuple[float, float], keep_clear_px: float, *,
               density_per_arcmin2: float = 2.5) -> tuple[Star, ...]:
    """Foreground stars (r 15-22), kept ``keep_clear_px`` from ``centre_xy`` where possible.

    The default density is high-latitude star counts to r ~ 22.
    """
    area_arcmin2 = shape[0] * shape[1] * (pixscale / 60.0) ** 2
    n = rng.poisson(density_per_arcmin2 * area_arcmin2)
    stars = []
    for _ in range(n):
        # stars do not sit on the galaxy's centre, where no volunteer could tell them apart
        for _attempt in range(10):
            xy = (rng.uniform(0, shape[1] - 1), rng.uniform(0, shape[0] - 1))
            if np.hypot(xy[0] - centre_xy[0], xy[1] - centre_xy[1]) > keep_clear_px:
                break
        mag_r = rng.uniform(15.0, 22.0)
        g_minus_r = rng.uniform(0.2, 1.4)  # along the stellar locus
        stars.append(Star(xy=xy, flux=_flux_grz(10 ** (-0.4 * (mag_r - 22.5)), g_minus_r,
                                                0.45 * g_minus_r + rng.uniform(-0.05, 0.2))))
    return tuple(stars)


def draw_scene(
    rng: np.random.Generator,
    *,
    name: str,
    size: int = 128,
    pixscale_arcsec: float = 0.262,
    galaxy_class: str | None = None,
    mix: PopulationMix = PopulationMix(),  # frozen, so a safe default
) -> SceneSpec:
    """Draw a complete cutout: central galaxy, neighbours, stars, seeing, depth and sky position.

    Parameters
    ----------
    rng : Generator
        Random numbers; the same state gives the same scene.
    name : str
        Name of the galaxy.
    size : int
        Width and height of the cutout in pixels (>= 16).
    pixscale_arcsec : float
        Pixel scale.
    galaxy_class : str, optional
        Force the class of the central galaxy.
    mix : PopulationMix
        Class fractions.
    """
    if size < 16:
        raise ValueError(f"size must be >= 16 pixels, got {size!r}")
    if not pixscale_arcsec > 0:
        raise ValueError(f"pixscale_arcsec must be > 0, got {pixscale_arcsec!r}")
    shape = (size, size)
    centre = ((size - 1) / 2 + rng.uniform(-1, 1), (size - 1) / 2 + rng.uniform(-1, 1))
    model, galaxy_class, structure, redshift = draw_central_galaxy(
        rng, field_radius_arcsec=size * pixscale_arcsec / 2, galaxy_class=galaxy_class, mix=mix)
    return SceneSpec(
        name=name, shape=shape, galaxy=model, galaxy_centre_xy=centre,
        galaxy_class=galaxy_class, arm_structure=structure, redshift=redshift,
        # uniform on the sphere, away from the poles where TAN cutouts are awkward
        ra_deg=float(rng.uniform(0, 360)),
        dec_deg=float(np.rad2deg(np.arcsin(rng.uniform(-0.95, 0.95)))),
        conditions=draw_conditions(rng, pixscale_arcsec=pixscale_arcsec),
        neighbours=draw_neighbours(rng, shape, pixscale_arcsec),
        stars=draw_stars(rng, shape, pixscale_arcsec, centre, keep_clear_px=0.15 * size),
        noise_seed=int(rng.integers(0, 2**63 - 1)))
