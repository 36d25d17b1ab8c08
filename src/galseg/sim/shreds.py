"""Simulated fields around big nearby galaxies, with the truth of every catalog detection.

A photometric pipeline breaks a big nearby galaxy into many "sources":
star-forming knots, pieces of arms, halves of an edge-on disc. Di Teodoro et
al. (2023) call these catalog entries *shreds* and train a CNN on 128 x 128
g-r-z Legacy Surveys cutouts centred on each source to tell them from real
galaxies. This module makes the training fields for that classifier.

A field (:class:`ShredFieldSpec`, drawn by :func:`draw_shred_field`) holds

* one big **host** (visible radius 19-100 arcsec, median 42, at 0.469
  arcsec/px; r ~ 12-16, z ~ 0.005-0.03 from the population's size-luminosity
  relation): mostly
  star-forming spirals with bright knots on and between their arms, arm dust
  and lopsided discs; clumpy flocculent discs; edge-on discs with a dust lane;
  and hosts that should not shred (smooth discs, lenticulars, ellipticals);
* **dwarf** satellites near the host, some of them knotty irregulars;
* compact, reddened **background** galaxies seen through the host's disc;
* ordinary **field** galaxies (``population.draw_neighbours``) and **stars**.

:func:`render_shred_field` renders every one of these PSF-convolved and
noise-free (so each detection's origin is known), adds them, adds sky and
source noise (``scene.add_noise``), and runs the survey-style extraction of
:func:`galseg.predict.classical.extract_sources` (SExtractor defaults: 1.5
sigma, 5 pixels, 32 deblending levels, contrast 0.005, 64 px background mesh)
on the r band.

Labelling rule
--------------
A detection is judged by what makes the light peak at its catalog position,
because that is what a cross-match uses and what the centred cutout shows.
In the noise-free, PSF-convolved r band:

1. For each truth component ``c`` (host, each other galaxy, each star),
   ``B_c`` is its **centre bump**: its flux inside the core (radius one r-band
   PSF FWHM around the detection's ``x``, ``y``) minus the core's area times
   its mean light in the ring out to twice that radius plus one pixel. A
   smooth disc under a compact galaxy hardly adds to ``B``; a knot, an arm
   crossing the core or a star does.
2. If the segment holds less real light than noise, ``sum F < 2 sigma
   sqrt(npix)`` (``F_c`` the flux of ``c`` in the detection's segment,
   ``sigma`` the r-band sky noise per pixel), the detection is ``spurious``.
3. The **dominant component** is the one with the largest ``B``, and
   ``dominant_fraction`` its share of ``sum B``. Where the centre bumps are
   weaker than the noise (``sum B < sigma sqrt(npix_core)``: a noise peak or a
   smooth stretch of light), the whole segment decides instead: the
   component with the largest flux above its own minimum in the segment,
   ``E_c = F_c - npix * min(c)`` (or the largest ``F`` when ``sum E <
   sigma sqrt(npix)``).
4. A star-dominated detection is a ``star``. A galaxy-dominated detection is
   that galaxy's *own* detection, of kind ``host``, ``dwarf``,
   ``background`` or ``field``, if its segment contains the galaxy's centre
   pixel or its centre lies within the galaxy's nucleus radius
   ``max(2 FWHM_r, bulge half-light radius)`` of the galaxy's centre;
   otherwise it is a **shred** of that galaxy. Shreds are nearly always of the
   host (``source_kind`` says of which galaxy); a knotty dwarf is
   occasionally shredded too.

Why the centre and not the whole segment: in a large segment the host's arm
light outweighs a star or compact galaxy sitting at the catalog position, so
the largest ``E`` over the segment would call such detections shreds although
the cutout's centre shows the star or galaxy (``docs/simulator.md``).

``true_is_shred`` is 1 for ``shred`` and 0 for every other kind.

Catalog rows (``SimulatedShredField.catalog``) are the detections within
the host's visible radius of its centre (where the shreds are) with r-band
S/N >= 5 and r <= 21 (the SAGA-like cut of Di Teodoro et al.), see
:class:`CatalogPipeline`; the field is made large enough that each of them
has a complete 128 px cutout.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from astropy.table import Table
from scipy import ndimage

from galseg.data.colour import legacy_rgb
from galseg.physical import kpc_per_arcsec
from galseg.predict.classical import NoDetectionsWarning, SourceExtraction, extract_sources
from galseg.sim.galaxy import DUST_BAND_RATIOS, GalaxyModel, Knot, SpiralArm, render_galaxy
from galseg.sim.population import (
    PopulationMix,
    draw_central_galaxy,
    draw_conditions,
    draw_neighbours,
    draw_stars,
)
from galseg.sim.scene import ObservingConditions, Star, add_noise, convolve_psf, psf_kernels
from galseg.sim.stamps import galaxy_stamp, star_stamp

SHRED_PIXSCALE_ARCSEC = 0.469
"""Pixel scale of the shred classifier's cutouts (as ``../shared/data/legacy_cutouts``)."""
KINDS = ("host", "shred", "dwarf", "background", "field", "star", "spurious")
"""Truth kinds of a detection; only ``shred`` has ``true_is_shred = 1``."""
HOST_RADIUS_RANGE_ARCSEC = (20.0, 90.0)
"""Typical visible radius of the host, drawn log-uniformly (the population draw spreads it
by a factor 0.55-1.45: ``draw_central_galaxy``)."""
SELECTION_RADIUS_FACTOR = 1.0
"""Catalog rows are detections within this many host visible radii of the host centre."""
STAR_DENSITY_PER_ARCMIN2 = 1.0
"""Stars r 15-22 per arcmin^2: hosts of shred studies lie at high Galactic latitude."""
SPURIOUS_SKY_SIGMA = 2.0
"""A segment with less truth light than this many sigma sqrt(npix) is ``spurious`` (rule 2)."""
BUMP_SKY_SIGMA = 1.0
"""Below this many sigma sqrt(npix) of bump light, the whole segment decides (rule 3)."""
CORE_RADIUS_FWHM = 1.0
"""Radius of a detection's core, in r-band PSF FWHM (rule 1)."""
_POPULATION_CLASS = {"spiral": "spiral", "clumpy": "spiral", "smooth_disc": "spiral",
                     "edge_on": "edge_on", "lenticular": "lenticular",
                     "elliptical": "elliptical"}


@dataclass(frozen=True)
class HostMix:
    """Fractions of each kind of host (normalised when drawn).

    ``spiral``: arms with bright knots on and between them, often dusty and
    lopsided; ``clumpy``: flocculent, nearly bulgeless discs full of clumps;
    ``edge_on``: dust-laned discs with knots along them; ``smooth_disc``,
    ``lenticular``, ``elliptical``: hosts that hardly shred.
    """

    spiral: float = 0.45
    clumpy: float = 0.20
    edge_on: float = 0.12
    smooth_disc: float = 0.08
    lenticular: float = 0.08
    elliptical: float = 0.07

    def classes(self) -> tuple[tuple[str, ...], np.ndarray]:
        names = tuple(_POPULATION_CLASS)
        weights = np.array([getattr(self, n) for n in names], dtype=float)
        if np.any(weights < 0) or not weights.sum() > 0:
            raise ValueError(f"HostMix fractions must be >= 0 and not all 0, got {weights}")
        return names, weights / weights.sum()


@dataclass(frozen=True)
class FieldGalaxy:
    """A galaxy of the field other than the host: ``kind`` dwarf, background or field."""

    model: GalaxyModel
    centre_xy: tuple[float, float]
    kind: str


@dataclass(frozen=True)
class CatalogPipeline:
    """How the survey catalog is made from a field, and which detections become rows.

    Detection settings are those of :func:`galseg.predict.classical.extract_sources`
    (SExtractor's defaults), run on the r band. Rows: detections within
    ``SELECTION_RADIUS_FACTOR`` host radii with ``snr >= min_snr`` and
    ``mag_r <= max_mag_r`` (isophotal r magnitude).
    """

    threshold_sigma: float = 1.5
    min_area: int = 5
    deblend_nthresh: int = 32
    deblend_cont: float = 0.005
    background_box: int = 64
    min_snr: float = 5.0
    max_mag_r: float = 21.0


@dataclass(frozen=True)
class ShredFieldSpec:
    """Everything that defines one simulated shred field.

    Attributes
    ----------
    name : str
        Field name (``f000012``).
    shape : tuple of int
        ``(H, W)`` in pixels.
    host : GalaxyModel
        The big galaxy.
    host_centre_xy : tuple of float
        Its centre, pixels.
    host_class : str
        ``spiral``, ``clumpy``, ``edge_on``, ``smooth_disc``, ``lenticular`` or ``elliptical``.
    host_arm_structure : str
        Arm structure from the population draw (``none`` for armless hosts).
    host_redshift : float
        Redshift of the host.
    host_radius_arcsec : float
        Visible radius of the host (3.5 disc scale lengths or the arms' end, 2.5 R_e).
    ra_deg, dec_deg : float
        Sky position of the field centre (``CRPIX = (W/2, H/2)``, see ``gz3d_wcs``).
    conditions : ObservingConditions
        Seeing, depth, pixel scale.
    galaxies : tuple of FieldGalaxy
        Dwarfs, background and field galaxies.
    stars : tuple of Star
        Foreground stars.
    selection_radius_px : float
        Detections this close to the host centre are catalog rows.
    noise_seed : int
        Seed of the noise realisation.
    """

    name: str
    shape: tuple[int, int]
    host: GalaxyModel
    host_centre_xy: tuple[float, float]
    host_class: str
    host_arm_structure: str
    host_redshift: float
    host_radius_arcsec: float
    ra_deg: float
    dec_deg: float
    conditions: ObservingConditions
    galaxies: tuple[FieldGalaxy, ...] = ()
    stars: tuple[Star, ...] = ()
    selection_radius_px: float = 0.0
    noise_seed: int = 0

    @property
    def host_scale_length_arcsec(self) -> float:
        """Disc scale length of the host; its half-light radius if it has no disc."""
        return (self.host.disc_scale_length_arcsec if self.host.has_disc
                else self.host.bulge_half_light_radius_arcsec)


def nucleus_radius_arcsec(model: GalaxyModel, psf_fwhm_arcsec: float) -> float:
    """Radius within which a galaxy's detection is the galaxy itself: max(2 FWHM, bulge R_e)."""
    return max(2.0 * psf_fwhm_arcsec, model.bulge_half_light_radius_arcsec)


# ----------------------------------------------------------------------------------
# Drawing a field
# ----------------------------------------------------------------------------------


def _flux_grz(flux_r: float, g_minus_r: float, r_minus_z: float) -> tuple[float, float, float]:
    return (flux_r * 10 ** (-0.4 * g_minus_r), flux_r, flux_r * 10 ** (0.4 * r_minus_z))


def _log_uniform(rng: np.random.Generator, low: float, high: float, size=None):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def _carrier_arm(end_radius_arcsec: float) -> SpiralArm:
    """An arm of zero amplitude: no light, only a disc-plane anchor for knots off the arms."""
    return SpiralArm(start_angle_deg=0.0, start_radius_arcsec=0.1 * end_radius_arcsec,
                     end_radius_arcsec=end_radius_arcsec, pitch_angle_deg=30.0,
                     width_arcsec=1.0, amplitude=0.0)


def _draw_knots(rng: np.random.Generator, model: GalaxyModel, *, n: int, on_arm_fraction: float,
                flux_fraction_range: tuple[float, float], max_total_fraction: float,
                radius_range_arcsec: tuple[float, float],
                sigma_range_arcsec: tuple[float, float]) -> tuple[Knot, ...]:
    """Star-forming knots: ``on_arm_fraction`` on arm ridges, the rest anywhere in the disc."""
    flux_r = model.disc_flux[1] + model.bulge_flux[1]
    real_arms = [k for k, a in enumerate(model.arms) if a.amplitude > 0]
    fractions = _log_uniform(rng, *flux_fraction_range, size=n)
    fractions *= min(1.0, max_total_fraction / max(fractions.sum(), 1e-12))
    knots = []
    for fraction in fractions:
        if real_arms and rng.random() < on_arm_fraction:
            index = int(rng.choice(real_arms))
            arm = model.arms[index]
            radius = rng.uniform(arm.start_radius_arcsec, arm.end_radius_arcsec)
            offset = rng.normal(0.0, 4.0)
        else:
            index = int(rng.integers(len(model.arms)))
            radius = rng.uniform(*radius_range_arcsec)
            offset = rng.uniform(0.0, 360.0)
        knots.append(Knot(arm_index=index, radius_arcsec=float(radius),
                          sigma_arcsec=float(rng.uniform(*sigma_range_arcsec)),
                          flux_r=float(flux_r * fraction), azimuth_offset_deg=float(offset)))
    return tuple(knots)


def _star_forming_disc(rng: np.random.Generator, model: GalaxyModel, *,
                       clumpy: bool) -> GalaxyModel:
    """Broader, softer arms and knots with the colours of star-forming regions.

    ``arm_colour`` and ``knot_colour`` multiply the r-band light, so these are
    absolute colours: arms g - r ~ 0.2-0.4 and knots (HII complexes) g - r ~
    0.05-0.4, against a disc of g - r ~ 0.55-0.7 (0.35-0.45 in clumpy late types).
    """
    arms = tuple(replace(a, width_arcsec=a.width_arcsec * float(rng.uniform(1.0, 1.5)),
                         amplitude=a.amplitude * float(rng.uniform(0.6, 1.0)))
                 for a in model.arms)
    # the smooth disc carries the old stars (redder); arms and knots the young ones
    colours = ((rng.uniform(0.35, 0.45), rng.uniform(0.15, 0.3)) if clumpy
               else (rng.uniform(0.55, 0.7), rng.uniform(0.3, 0.4)))
    model = replace(model, disc_flux=_flux_grz(model.disc_flux[1], *colours))
    return replace(
        model, arms=arms,
        arm_colour=(float(rng.uniform(0.7, 0.85)), 1.0, float(rng.uniform(1.0, 1.15))),
        knot_colour=(float(rng.uniform(0.7, 0.95)), 1.0, float(rng.uniform(0.85, 1.1))))


def _draw_host(rng: np.random.Generator, host_class: str,
               radius_arcsec: float) -> tuple[GalaxyModel, str, float]:
    """The host: a population draw (sizes, redshift, luminosity, arms, bar), then star formation.

    Knots come in two sets: a few bright star-forming complexes (0.2-2.5% of
    the galaxy's r flux each in spirals, 0.3-3% in clumpy discs) that the
    pipeline may split off, and many faint HII regions that give the disc its
    texture.
    """
    population_class = _POPULATION_CLASS[host_class]
    mix = (PopulationMix(grand_design_fraction=0.0, multi_arm_fraction=0.0)
           if host_class == "clumpy" else PopulationMix())
    # draw_central_galaxy makes the visible radius 0.35-0.95 of its "field radius"
    model, _, structure, redshift = draw_central_galaxy(
        rng, field_radius_arcsec=radius_arcsec / 0.65, galaxy_class=population_class, mix=mix)
    if host_class in ("elliptical", "lenticular"):
        return model, structure, redshift
    h = model.disc_scale_length_arcsec
    lopsided = dict(lopsidedness=float(rng.uniform(0.08, 0.35)),
                    lopsided_angle_deg=float(rng.uniform(0, 360)))
    if host_class == "smooth_disc":
        model = replace(model, arms=(), knots=(), arm_dust_opacity=0.0,
                        **(lopsided if rng.random() < 0.3 else {}))
        return model, "none", redshift

    def knots(n: tuple[int, int], on_arm: float, fractions: tuple[float, float], cap: float,
              sigma: tuple[float, float], inner: float = 0.4) -> tuple[Knot, ...]:
        return _draw_knots(rng, model, n=int(rng.integers(*n)), on_arm_fraction=on_arm,
                           flux_fraction_range=fractions, max_total_fraction=cap,
                           radius_range_arcsec=(inner * h, 3.3 * h), sigma_range_arcsec=sigma)

    if host_class == "edge_on":
        model = replace(_star_forming_disc(rng, model, clumpy=False),
                        arms=(_carrier_arm(3.5 * h),),
                        midplane_dust_opacity=float(rng.uniform(0.8, 3.0)))
        model = replace(model, knots=(
            knots((4, 15), 0.0, (0.002, 0.015), 0.2, (0.3, 0.9), 0.3)
            + knots((10, 40), 0.0, (0.0002, 0.001), 0.04, (0.2, 0.6), 0.3)
            if rng.random() < 0.8 else ()))
        return model, "none", redshift
    if host_class == "clumpy":
        # late-type, nearly bulgeless, clumps everywhere
        model = replace(_star_forming_disc(rng, model, clumpy=True),
                        bulge_flux=tuple(0.3 * f for f in model.bulge_flux),
                        arm_dust_opacity=0.0, **(lopsided if rng.random() < 0.6 else {}))
        model = replace(model, knots=(
            knots((10, 35), 0.4, (0.003, 0.03), 0.4, (0.3, 1.2), 0.2)
            + knots((20, 50), 0.5, (0.0002, 0.001), 0.05, (0.2, 0.6), 0.2)))
        return model, structure, redshift
    model = replace(_star_forming_disc(rng, model, clumpy=False),
                    arm_dust_opacity=(float(rng.uniform(0.3, 1.0)) if rng.random() < 0.6
                                      else 0.0),
                    **(lopsided if rng.random() < 0.4 else {}))
    model = replace(model, knots=(
        knots((10, 35), 0.7, (0.002, 0.025), 0.3, (0.3, 1.0)) if rng.random() < 0.9 else ())
        + knots((20, 60), 0.6, (0.0002, 0.001), 0.05, (0.2, 0.6)))
    return model, structure, redshift


def _visible_radius_arcsec(model: GalaxyModel) -> float:
    if not model.has_disc:
        return 2.5 * model.bulge_half_light_radius_arcsec
    arm_end = max((a.end_radius_arcsec for a in model.arms if a.amplitude > 0), default=0.0)
    return max(3.5 * model.disc_scale_length_arcsec, arm_end)


def _draw_dwarfs(rng: np.random.Generator, *, host: GalaxyModel, centre_xy: tuple[float, float],
                 radius_arcsec: float, redshift: float, pixscale: float,
                 shape: tuple[int, int]) -> list[FieldGalaxy]:
    host_flux = host.bulge_flux[1] + host.disc_flux[1]
    kpc_arcsec = float(kpc_per_arcsec(redshift).value)
    dwarfs = []
    for _ in range(rng.poisson(1.2)):
        angle = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(0.4, 1.6) * radius_arcsec / pixscale
        xy = (float(np.clip(centre_xy[0] + distance * np.cos(angle), 0, shape[1] - 1)),
              float(np.clip(centre_xy[1] + distance * np.sin(angle), 0, shape[0] - 1)))
        flux_r = host_flux * 10 ** (-0.4 * rng.uniform(2.5, 6.5))
        size = float(np.clip(rng.lognormal(np.log(0.8), 0.35) / kpc_arcsec, 1.0, 12.0))
        colours = (rng.uniform(0.25, 0.55), rng.uniform(0.1, 0.35))
        angle_deg = float(rng.uniform(0, 180))
        if rng.random() < 0.4:
            # a knotty irregular: faint core, exponential disc, a few star-forming clumps
            scale = size / 1.68
            model = GalaxyModel(
                bulge_flux=_flux_grz(0.15 * flux_r, *colours),
                bulge_half_light_radius_arcsec=0.3 * size, bulge_sersic_n=1.0,
                bulge_axis_ratio=float(rng.uniform(0.6, 1.0)),
                disc_flux=_flux_grz(0.85 * flux_r, *colours), disc_scale_length_arcsec=scale,
                inclination_deg=float(np.rad2deg(np.arccos(rng.uniform(0.4, 1.0)))),
                disc_angle_deg=angle_deg, arms=(_carrier_arm(2.5 * scale),),
                knot_colour=(0.8, 1.0, 0.95))
            model = replace(model, knots=_draw_knots(
                rng, model, n=int(rng.integers(2, 7)), on_arm_fraction=0.0,
                flux_fraction_range=(0.03, 0.1), max_total_fraction=0.3,
                radius_range_arcsec=(0.2 * scale, 2.5 * scale), sigma_range_arcsec=(0.3, 0.8)))
        else:
            model = GalaxyModel(
                bulge_flux=_flux_grz(flux_r, *colours), bulge_half_light_radius_arcsec=size,
                bulge_sersic_n=float(rng.uniform(0.6, 1.3)),
                bulge_axis_ratio=float(rng.uniform(0.4, 1.0)), disc_angle_deg=angle_deg)
        dwarfs.append(FieldGalaxy(model=model, centre_xy=xy, kind="dwarf"))
    return dwarfs


def _draw_background(rng: np.random.Generator, *, host: GalaxyModel,
                     centre_xy: tuple[float, float], radius_arcsec: float,
                     pixscale: float) -> list[FieldGalaxy]:
    """Compact distant galaxies behind the host's disc, dimmed and reddened by its dust."""
    q = host.apparent_disc_axis_ratio if host.has_disc else host.bulge_axis_ratio
    galaxies = []
    for _ in range(rng.poisson(4.0)):
        r = np.sqrt(rng.uniform(0.02, 1.0)) * 1.1 * radius_arcsec
        phi = rng.uniform(0, 2 * np.pi)
        along, across = r * np.cos(phi), r * q * np.sin(phi)
        t = np.deg2rad(host.disc_angle_deg)
        dx, dy = along * np.cos(t) - across * np.sin(t), along * np.sin(t) + across * np.cos(t)
        tau_g = rng.uniform(0.0, 1.2) * np.exp(-r / radius_arcsec)
        transmission = np.exp(-tau_g * DUST_BAND_RATIOS)
        flux = np.asarray(_flux_grz(10 ** (-0.4 * (rng.uniform(18.0, 22.0) - 22.5)),
                                    rng.uniform(0.9, 1.8), rng.uniform(0.5, 1.1)))
        galaxies.append(FieldGalaxy(
            model=GalaxyModel(
                bulge_flux=tuple(float(f) for f in flux * transmission),
                bulge_half_light_radius_arcsec=float(rng.uniform(0.25, 1.0)),
                bulge_sersic_n=float(rng.uniform(0.5, 4.0)),
                bulge_axis_ratio=float(rng.uniform(0.4, 1.0)),
                disc_angle_deg=float(rng.uniform(0, 180))),
            centre_xy=(float(centre_xy[0] + dx / pixscale), float(centre_xy[1] + dy / pixscale)),
            kind="background"))
    return galaxies


def draw_shred_field(
    rng: np.random.Generator,
    *,
    name: str,
    pixscale_arcsec: float = SHRED_PIXSCALE_ARCSEC,
    cutout_size: int = 128,
    host_class: str | None = None,
    mix: HostMix = HostMix(),  # frozen, so a safe default
) -> ShredFieldSpec:
    """Draw one field: a big host, its satellites, background and field galaxies, stars.

    Parameters
    ----------
    rng : Generator
        Random numbers; the same state gives the same field.
    name : str
        Field name.
    pixscale_arcsec : float
        Pixel scale (0.469, the shred classifier's).
    cutout_size : int
        Side of the cutouts to be cut around detections; the field is made
        large enough for every catalog row to have a complete one.
    host_class : str, optional
        Force the host class (see :class:`HostMix`).
    mix : HostMix
        Host class fractions.

    Returns
    -------
    ShredFieldSpec
    """
    if not pixscale_arcsec > 0:
        raise ValueError(f"pixscale_arcsec must be > 0, got {pixscale_arcsec!r}")
    if cutout_size < 16:
        raise ValueError(f"cutout_size must be >= 16 pixels, got {cutout_size!r}")
    names, weights = mix.classes()
    if host_class is None:
        host_class = str(rng.choice(names, p=weights))
    elif host_class not in names:
        raise ValueError(f"host_class must be one of {names}, got {host_class!r}")

    conditions = draw_conditions(rng, pixscale_arcsec=pixscale_arcsec)
    target_radius = float(_log_uniform(rng, *HOST_RADIUS_RANGE_ARCSEC))
    host, structure, redshift = _draw_host(rng, host_class, target_radius)
    radius_arcsec = _visible_radius_arcsec(host)
    selection_px = SELECTION_RADIUS_FACTOR * radius_arcsec / pixscale_arcsec
    half = int(np.ceil(selection_px + cutout_size / 2 + 2))
    size = 8 * int(np.ceil(2 * half / 8))
    shape = (size, size)
    centre = ((size - 1) / 2 + rng.uniform(-1, 1), (size - 1) / 2 + rng.uniform(-1, 1))

    galaxies = _draw_dwarfs(rng, host=host, centre_xy=centre, radius_arcsec=radius_arcsec,
                            redshift=redshift, pixscale=pixscale_arcsec, shape=shape)
    galaxies += _draw_background(rng, host=host, centre_xy=centre, radius_arcsec=radius_arcsec,
                                 pixscale=pixscale_arcsec)
    galaxies += [FieldGalaxy(model=n.model, centre_xy=n.centre_xy, kind="field")
                 for n in draw_neighbours(rng, shape, pixscale_arcsec)]
    nucleus_px = nucleus_radius_arcsec(host, conditions.psf_fwhm_arcsec[1]) / pixscale_arcsec
    stars = draw_stars(rng, shape, pixscale_arcsec, centre, keep_clear_px=nucleus_px,
                       density_per_arcmin2=STAR_DENSITY_PER_ARCMIN2)
    return ShredFieldSpec(
        name=name, shape=shape, host=host, host_centre_xy=centre, host_class=host_class,
        host_arm_structure=structure, host_redshift=float(redshift),
        host_radius_arcsec=float(radius_arcsec),
        ra_deg=float(rng.uniform(0, 360)),
        dec_deg=float(np.rad2deg(np.arcsin(rng.uniform(-0.95, 0.95)))),
        conditions=conditions, galaxies=tuple(galaxies), stars=stars,
        selection_radius_px=float(selection_px),
        noise_seed=int(rng.integers(0, 2**63 - 1)))


# ----------------------------------------------------------------------------------
# Rendering and labelling
# ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Component:
    """One truth component's noise-free, PSF-convolved r-band light on a field window."""

    kind: str
    centre_xy: tuple[float, float]
    nucleus_radius_px: float
    window: tuple[slice, slice]
    light_r: np.ndarray


@dataclass(frozen=True, eq=False)
class SimulatedShredField:
    """A rendered shred field, its extraction and the truth of every detection.

    Attributes
    ----------
    spec : ShredFieldSpec
        What was rendered.
    bands : ndarray, shape (3, H, W), float32
        g, r, z images in nanomaggies per pixel, with noise.
    extraction : SourceExtraction
        The survey-style extraction on the r band (catalog and segmentation map).
    detections : astropy.table.Table
        One row per detection (``extraction.catalog`` order): ``label``, ``x``,
        ``y`` (0-based field pixels), ``flux_r``, ``flux_r_err``, ``snr``,
        ``mag_r``, ``a_px``, ``b_px``, ``theta_deg``, ``npix``, ``kind``,
        ``true_is_shred``, ``source_kind``, ``host_distance_arcsec``,
        ``host_distance_scale_lengths``, ``dominant_fraction``,
        ``host_flux_fraction`` (the host's share of the segment's truth flux),
        ``bump_snr`` (``sum E / (sigma sqrt(npix))``: below 1 the detection is a
        noise peak on smooth light), ``selected`` (a catalog row, see the module
        docstring).
    """

    spec: ShredFieldSpec
    bands: np.ndarray
    extraction: SourceExtraction
    detections: Table

    @cached_property
    def rgb(self) -> np.ndarray:
        """Survey-style colour image, (H, W, 3) uint8 (:func:`galseg.data.colour.legacy_rgb`)."""
        return legacy_rgb(self.bands, pixscale_arcsec=self.spec.conditions.pixscale_arcsec)

    @property
    def catalog(self) -> Table:
        """The selected detections: the rows a survey catalog cut would keep near the host."""
        return self.detections[self.detections["selected"]]


def render_shred_field(spec: ShredFieldSpec, *,
                       pipeline: CatalogPipeline = CatalogPipeline()) -> SimulatedShredField:
    """Render ``spec``, extract its catalog and label every detection (module docstring).

    Parameters
    ----------
    spec : ShredFieldSpec
        The field.
    pipeline : CatalogPipeline
        Extraction settings and the catalog cut.

    Returns
    -------
    SimulatedShredField
    """
    cond = spec.conditions
    pixscale = cond.pixscale_arcsec
    fwhm_r = cond.psf_fwhm_arcsec[1]
    kernels = psf_kernels(cond)
    everywhere = (slice(0, spec.shape[0]), slice(0, spec.shape[1]))

    blurred = convolve_psf(render_galaxy(spec.host, shape=spec.shape,
                                         centre_xy=spec.host_centre_xy,
                                         pixscale_arcsec=pixscale).total, kernels)
    components = [_Component("host", spec.host_centre_xy,
                             nucleus_radius_arcsec(spec.host, fwhm_r) / pixscale, everywhere,
                             blurred[1].copy())]
    for galaxy in spec.galaxies:
        stamp = galaxy_stamp(galaxy.model, galaxy.centre_xy, shape=spec.shape,
                             pixscale_arcsec=pixscale, kernels=kernels)
        if stamp is None:
            continue
        light, window = stamp
        blurred[(slice(None), *window)] += light
        components.append(_Component(galaxy.kind, galaxy.centre_xy,
                                     nucleus_radius_arcsec(galaxy.model, fwhm_r) / pixscale,
                                     window, light[1]))
    for star in spec.stars:
        stamp = star_stamp(star, shape=spec.shape, kernels=kernels)
        if stamp is None:
            continue
        light, window = stamp
        blurred[(slice(None), *window)] += light
        components.append(_Component("star", star.xy, 2.0 * fwhm_r / pixscale, window, light[1]))

    bands = add_noise(blurred, cond, noise_seed=spec.noise_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        extraction = extract_sources(
            bands[1], threshold_sigma=pipeline.threshold_sigma, min_area=pipeline.min_area,
            deblend_nthresh=pipeline.deblend_nthresh, deblend_cont=pipeline.deblend_cont,
            background_box=pipeline.background_box)
    sky_sigma_r = float(cond.sky_sigma_per_pixel()[1])
    detections = _label_detections(spec, extraction, components, sky_sigma_r, pipeline)
    return SimulatedShredField(spec=spec, bands=bands, extraction=extraction,
                               detections=detections)


def _centre_bumps(components: list[_Component], x: np.ndarray, y: np.ndarray,
                  core_radius_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Per component and detection: centre bump ``B`` (rule 1), and each core's pixel count."""
    outer = 2.0 * core_radius_px + 1.0
    half = int(np.ceil(outer))
    dy, dx = np.mgrid[:2 * half + 1, :2 * half + 1]
    bumps = np.zeros((len(components), len(x)))
    core_npix = np.zeros(len(x))
    for k, (xk, yk) in enumerate(zip(x.tolist(), y.tolist(), strict=True)):
        col0, row0 = round(xk) - half, round(yk) - half
        radius = np.hypot(dx + col0 - xk, dy + row0 - yk)
        core = radius <= core_radius_px
        ring = (radius > core_radius_px) & (radius <= outer)
        core_npix[k] = core.sum()
        for c, component in enumerate(components):
            rows, cols = component.window
            # the component's light on the box; 0 outside its stamp, like the field's
            r0, r1 = max(row0, rows.start), min(row0 + 2 * half + 1, rows.stop)
            c0, c1 = max(col0, cols.start), min(col0 + 2 * half + 1, cols.stop)
            if r0 >= r1 or c0 >= c1:
                continue
            box = np.zeros(core.shape)
            box[r0 - row0:r1 - row0, c0 - col0:c1 - col0] = component.light_r[
                r0 - rows.start:r1 - rows.start, c0 - cols.start:c1 - cols.start]
            bumps[c, k] = box[core].sum() - core_npix[k] * box[ring].mean()
    return np.maximum(bumps, 0.0), core_npix


def _segment_sums(components: list[_Component], segmentation: np.ndarray,
                  n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per component and segment: flux ``F`` and flux above the component's minimum ``E``."""
    npix = np.bincount(segmentation.ravel(), minlength=n + 1)
    flux = np.zeros((len(components), n + 1))
    excess = np.zeros((len(components), n + 1))
    index = np.arange(1, n + 1)
    for c, component in enumerate(components):
        seg = segmentation[component.window]
        light = component.light_r.astype(np.float64)
        flux[c] = np.bincount(seg.ravel(), weights=light.ravel(), minlength=n + 1)
        inside = np.bincount(seg.ravel(), minlength=n + 1)
        present = np.flatnonzero(inside[1:] > 0) + 1
        if present.size == 0:
            continue
        # a segment reaching outside the stamp sees the component's 0 there
        minima = np.zeros(n + 1)
        minima[present] = ndimage.minimum(light, labels=seg, index=present)
        minima[inside < npix] = 0.0
        excess[c] = flux[c] - npix * np.maximum(minima, 0.0)
    return flux[:, index], np.maximum(excess[:, index], 0.0)


def _label_detections(spec: ShredFieldSpec, extraction: SourceExtraction,
                      components: list[_Component], sky_sigma_r: float,
                      pipeline: CatalogPipeline) -> Table:
    catalog, segmentation = extraction.catalog, extraction.segmentation
    n = len(catalog)
    pixscale = spec.conditions.pixscale_arcsec
    x = np.asarray(catalog["x"], dtype=float)
    y = np.asarray(catalog["y"], dtype=float)
    npix = np.asarray(catalog["npix"], dtype=float)
    flux, excess = _segment_sums(components, segmentation, n)
    noise = sky_sigma_r * np.sqrt(np.maximum(npix, 1.0))
    total_flux, total_excess = flux.sum(axis=0), excess.sum(axis=0)
    segment_score = np.where((total_excess >= BUMP_SKY_SIGMA * noise)[None, :], excess, flux)
    core_radius = max(CORE_RADIUS_FWHM * spec.conditions.psf_fwhm_arcsec[1] / pixscale, 1.0)
    bumps, core_npix = _centre_bumps(components, x, y, core_radius)
    use_centre = bumps.sum(axis=0) >= BUMP_SKY_SIGMA * sky_sigma_r * np.sqrt(core_npix)
    score = np.where(use_centre[None, :], bumps, segment_score)
    dominant = np.argmax(score, axis=0) if n else np.zeros(0, int)
    score_total = score.sum(axis=0)
    dominant_fraction = np.divide(score[dominant, np.arange(n)], score_total,
                                  out=np.zeros(n), where=score_total > 0)

    kinds, source_kinds = [], []
    height, width = spec.shape
    for k in range(n):
        if total_flux[k] < SPURIOUS_SKY_SIGMA * noise[k]:
            kinds.append("spurious")
            source_kinds.append("none")
            continue
        component = components[dominant[k]]
        source_kinds.append(component.kind)
        if component.kind == "star":
            kinds.append("star")
            continue
        cx, cy = component.centre_xy
        row, col = round(cy), round(cx)
        holds_centre = (0 <= row < height and 0 <= col < width
                        and segmentation[row, col] == catalog["label"][k])
        near_centre = np.hypot(x[k] - cx, y[k] - cy) <= component.nucleus_radius_px
        kinds.append(component.kind if holds_centre or near_centre else "shred")

    hx, hy = spec.host_centre_xy
    distance_arcsec = np.hypot(x - hx, y - hy) * pixscale
    host_total = np.divide(flux[0], total_flux, out=np.zeros(n), where=total_flux > 0)
    flux_r = np.asarray(catalog["flux"], dtype=float)
    table = Table()
    table["label"] = np.asarray(catalog["label"], dtype=np.int32)
    table["x"] = x
    table["y"] = y
    table["flux_r"] = flux_r
    table["flux_r_err"] = np.asarray(catalog["flux_err"], dtype=float)
    table["snr"] = np.asarray(catalog["snr"], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["mag_r"] = np.where(flux_r > 0, 22.5 - 2.5 * np.log10(flux_r), np.nan)
    table["a_px"] = np.asarray(catalog["a"], dtype=float)
    table["b_px"] = np.asarray(catalog["b"], dtype=float)
    table["theta_deg"] = np.rad2deg(np.asarray(catalog["theta"], dtype=float))
    table["npix"] = np.asarray(catalog["npix"], dtype=np.int64)
    table["kind"] = np.array(kinds, dtype="<U10")
    table["true_is_shred"] = (table["kind"] == "shred").astype(np.int8)
    table["source_kind"] = np.array(source_kinds, dtype="<U10")
    table["host_distance_arcsec"] = distance_arcsec
    table["host_distance_scale_lengths"] = distance_arcsec / spec.host_scale_length_arcsec
    table["dominant_fraction"] = dominant_fraction
    table["host_flux_fraction"] = host_total
    table["bump_snr"] = total_excess / noise
    table["selected"] = ((np.hypot(x - hx, y - hy) <= spec.selection_radius_px)
                         & (table["snr"] >= pipeline.min_snr)
                         & (table["mag_r"] <= pipeline.max_mag_r))
    return table


__all__ = ["KINDS", "SHRED_PIXSCALE_ARCSEC", "CatalogPipeline", "FieldGalaxy", "HostMix",
           "ShredFieldSpec", "SimulatedShredField", "draw_shred_field", "nucleus_radius_arcsec",
           "render_shred_field"]
