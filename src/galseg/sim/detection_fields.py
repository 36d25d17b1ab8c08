"""Simulated multi-galaxy fields for the galaxy detector, with exact instance masks and classes.

The detector (Mask R-CNN, :mod:`galseg.models.detector`) finds every galaxy in a
picture, outlines it and calls it spiral, elliptical or star
(:data:`galseg.data.detection_examples.DETECTION_CLASSES`). This module makes
training and test fields for it at SDSS-like pixel scale, seeing and depth.

A field (:class:`DetectionFieldSpec`, drawn by :func:`draw_detection_field`) holds,
per ``REFERENCE_SIZE_PX`` x ``REFERENCE_SIZE_PX`` (256 x 256) pixels of its area,

* 1-8 **galaxies** from the population draw (``population.draw_central_galaxy``,
  class fractions :class:`~galseg.sim.population.PopulationMix`): spirals
  (grand-design, multi-arm and flocculent, 40% barred), edge-on discs,
  lenticulars (30% barred) and ellipticals, with model radii (3.5 disc scale
  lengths or the arms' end; 2.5 R_e for ellipticals) from ``MIN_RADIUS_ARCSEC``
  to a quarter of the field's side (of 256 pixels in larger fields). Without
  overlapping pairs the first galaxy lies in the inner 80% of the field; pairs
  lie anywhere on it; the others anywhere their light reaches the field
  (centres up to one visible radius beyond the edge);
* with probability ``OVERLAP_PAIR_PROBABILITY`` a deliberately **overlapping
  pair**: galaxies 0 and 1 (then 2 and 3, ...) with centres
  ``OVERLAP_SEPARATION_RANGE`` (0.3-1.2) times the sum of their visible radii
  apart, both centres in the field;
* 0-4 foreground **stars** (``population.draw_stars``, r 15-22; Poisson, mean 2);
* SDSS-like observing conditions (:func:`draw_sdss_conditions`).

Field size
----------
The counts scale with the field's area ``A`` in reference fields
(:func:`field_scale`, ``H W / 256**2``), so a large field is a survey field with
the surface density of the 256 px fields: ``round(A)`` to ``round(8 A)``
galaxies (at least 1), one chance of a pair per whole reference field (and a
proportional one for the remainder), Poisson ``2 A`` stars (at most
``max(1, round(4 A))``). For a 256 px field ``A = 1`` and the draws are
those of fixed counts (1 to 8 galaxies, Poisson 2 stars, at most 4); smaller fields hold
fewer objects. Galaxy sizes do not
grow beyond those of a 256 px field, each source is rendered on its own stamp
(:mod:`galseg.sim.stamps`) and overlaps are measured on mask bounding boxes, so
time and memory grow with the number of objects, not with the field: a 2048 px
field (about 370 truth objects) is drawn and rendered in 1-6 s. Only its
(N, H, W) truth masks, the format of the detection example folders, take N H W
bytes (1.1-2.3 GB).

:func:`render_detection_field` renders each source PSF-convolved and noise-free
on its own stamp (:mod:`galseg.sim.stamps`), adds them, and observes the sum
with sky and source noise (``scene.add_noise``).

Truth
-----
* An object's **mask** is where its own noise-free, PSF-convolved r-band light
  exceeds ``TRUTH_MASK_SKY_SIGMA`` (1) times the r-band sky noise per pixel.
  Galaxies are transparent, so masks may overlap.
* An object is a **truth object** if its centre lies on the image and its mask
  has at least ``MIN_TRUTH_PIXELS`` (20) pixels. Objects whose centre is off the
  image, or too faint to show, are not truth objects; their light stays, and the
  pixels where it passes the mask threshold form the field's **unlisted** mask
  (a galaxy cut by the frame's edge is a real source that the truth does not
  list, so the evaluation does not count a detection of it as false).
* **Classes**: spiral and edge-on discs are ``spiral``; ellipticals *and
  lenticulars* are ``elliptical``, because Galaxy Zoo 1 volunteers, whose
  labels the real training set carries, call most S0s elliptical (Lintott et
  al. 2008; GZ1 has no S0 option); stars are ``star``. ``kind`` keeps the finer
  class.
* A galaxy's **visible radius** is the semi-major axis of its truth isophote
  before the PSF (:func:`isophotal_radius_arcsec`); it sets the pair separation.

Observing conditions
--------------------
``draw_conditions`` draws DESI Legacy Surveys depth, about 1.4 magnitudes
deeper than SDSS (3.6 times less sky noise), so SDSS conditions are set here:
0.396 arcsec/px, r-band seeing FWHM 1.0-1.6 arcsec (g 8% broader, z 5%
narrower), and sky noise of ``SDSS_SKY_NOISE_NMGY`` times 0.85-1.25 (sigma_r =
0.027 nanomaggies per 0.396 arcsec pixel at the median, a 5-sigma point-source
depth of r ~ 22.7 in 1.3 arcsec seeing, as SDSS imaging). The third band is
called z, as everywhere in galseg, but is given the depth of SDSS i (which
fills the red channel of SDSS colour pictures) rather than that of the much
shallower SDSS z.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from math import ceil

import numpy as np
from astropy.table import Table

from galseg.data.colour import LEGACY_NATIVE_PIXSCALE_ARCSEC, legacy_rgb
from galseg.sim.galaxy import GalaxyModel, render_galaxy
from galseg.sim.population import PopulationMix, draw_central_galaxy, draw_stars
from galseg.sim.scene import ObservingConditions, Star, add_noise, psf_kernels
from galseg.sim.stamps import MAX_STAMP_HALF_PX, Stamp, galaxy_stamp, star_stamp

SDSS_PIXSCALE_ARCSEC = 0.396
"""Pixel scale of SDSS imaging."""
SDSS_SKY_NOISE_NMGY = (0.0125, 0.018, 0.028)
"""Median sky noise (g, r, z) per native 0.262 arcsec pixel, the unit of
``ObservingConditions.sky_noise_nmgy``: 0.019, 0.027, 0.042 nanomaggies per SDSS
pixel (r: sky 20.9 mag/arcsec^2, 940 electrons per nanomaggy; z at SDSS i depth)."""
SDSS_GAIN_E_PER_NMGY = 940.0
"""Photo-electrons per nanomaggy in an SDSS r frame (about 200 counts of 4.7 e-)."""
SEEING_RANGE_ARCSEC = (1.0, 1.6)
"""r-band PSF FWHM, drawn uniformly (SDSS median about 1.3 arcsec)."""
DEPTH_RANGE = (0.85, 1.25)
"""Sky noise relative to ``SDSS_SKY_NOISE_NMGY``, drawn uniformly."""
TRUTH_MASK_SKY_SIGMA = 1.0
"""A pixel is in an object's mask where its own blurred r light exceeds this many sky sigma."""
MIN_TRUTH_PIXELS = 20
"""Objects with fewer mask pixels are not truth objects (too faint or too small to see)."""
REFERENCE_SIZE_PX = 256
"""Side of the reference field: the counts below are per ``REFERENCE_SIZE_PX**2`` pixels
and scale with the field's area (module docstring, 'Field size')."""
N_GALAXIES_RANGE = (1, 8)
"""Galaxies per reference field (drawn uniformly, both ends included), on or near the image."""
MIN_RADIUS_ARCSEC = 3.0
"""Smallest model radius of a galaxy (3.5 disc scale lengths or the arms' end; 2.5 R_e)."""
MAX_RADIUS_FRACTION = 0.25
"""Largest model radius as a fraction of the field's shorter side, or of the reference
field's side in larger fields."""
OVERLAP_PAIR_PROBABILITY = 0.4
"""Deliberately overlapping pairs of galaxies per reference field (one pair in this
fraction of reference fields)."""
OVERLAP_SEPARATION_RANGE = (0.3, 1.2)
"""Separation of the pair's centres in units of the sum of their visible radii."""
MEAN_STARS = 2.0
"""Mean number of stars per reference field (Poisson, at most ``MAX_STARS`` per reference
field)."""
MAX_STARS = 4
DETECTION_CLASS = {"spiral": "spiral", "edge_on": "spiral", "elliptical": "elliptical",
                   "lenticular": "elliptical", "star": "star"}
"""Detector class of each population class (``kind``); see the module docstring."""
OBJECT_COLUMNS = ("name", "index", "class", "kind", "x", "y", "flux_r", "flux_r_image",
                  "radius_px", "npix", "overlap", "overlap_fraction", "arm_structure", "barred")
"""Columns of :attr:`SimulatedDetectionField.objects`."""


@dataclass(frozen=True)
class DetectionGalaxy:
    """One galaxy of a detection field.

    Attributes
    ----------
    model : GalaxyModel
        The galaxy.
    centre_xy : tuple of float
        Its centre, 0-based pixels ``(x, y)`` (x = column); may lie off the image.
    kind : str
        Population class: ``spiral``, ``edge_on``, ``lenticular`` or ``elliptical``.
    radius_arcsec : float
        Visible radius: the semi-major axis of the truth isophote (where the
        galaxy's own r light exceeds ``TRUTH_MASK_SKY_SIGMA`` sky sigma), before the PSF.
    arm_structure : str
        ``grand_design``, ``multi_arm``, ``flocculent`` or ``none``.
    redshift : float
    """

    model: GalaxyModel
    centre_xy: tuple[float, float]
    kind: str
    radius_arcsec: float
    arm_structure: str = "none"
    redshift: float = 0.05


@dataclass(frozen=True)
class DetectionFieldSpec:
    """Everything that defines one simulated detection field.

    Attributes
    ----------
    name : str
        Field name (``d000012``).
    shape : tuple of int
        ``(H, W)`` in pixels.
    conditions : ObservingConditions
        Seeing, depth, pixel scale.
    galaxies : tuple of DetectionGalaxy
        The galaxies, on the image or near it.
    stars : tuple of Star
        Foreground stars.
    overlap_pairs : tuple of (int, int)
        Indices into ``galaxies`` of the deliberately overlapping pairs: ``(0, 1)``,
        ``(2, 3)``, ...
    ra_deg, dec_deg : float
        Sky position of the field centre (``CRPIX = (W/2, H/2)``, see ``gz3d_wcs``).
    noise_seed : int
        Seed of the noise realisation.
    """

    name: str
    shape: tuple[int, int]
    conditions: ObservingConditions
    galaxies: tuple[DetectionGalaxy, ...] = ()
    stars: tuple[Star, ...] = ()
    overlap_pairs: tuple[tuple[int, int], ...] = ()
    ra_deg: float = 180.0
    dec_deg: float = 0.0
    noise_seed: int = 0


# ----------------------------------------------------------------------------------
# Drawing a field
# ----------------------------------------------------------------------------------


def draw_sdss_conditions(rng: np.random.Generator, *,
                         pixscale_arcsec: float = SDSS_PIXSCALE_ARCSEC) -> ObservingConditions:
    """SDSS-like seeing and depth (module docstring, 'Observing conditions')."""
    if not pixscale_arcsec > 0:
        raise ValueError(f"pixscale_arcsec must be > 0, got {pixscale_arcsec!r}")
    fwhm_r = float(rng.uniform(*SEEING_RANGE_ARCSEC))
    depth = float(rng.uniform(*DEPTH_RANGE))
    # ObservingConditions counts gain per native-pixel flux (scene.add_noise): rescale so
    # the true gain is SDSS's at this pixel scale
    per_native = (LEGACY_NATIVE_PIXSCALE_ARCSEC / pixscale_arcsec) ** 2
    return ObservingConditions(
        pixscale_arcsec=pixscale_arcsec,
        psf_fwhm_arcsec=(fwhm_r * 1.08, fwhm_r, fwhm_r * 0.95),
        sky_noise_nmgy=tuple(float(s * depth) for s in SDSS_SKY_NOISE_NMGY),
        gain_e_per_nmgy=SDSS_GAIN_E_PER_NMGY / per_native)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def isophotal_radius_arcsec(model: GalaxyModel, *, threshold_nmgy: float,
                            pixscale_arcsec: float) -> float:
    """Semi-major axis of the isophote where ``model``'s r light per pixel is ``threshold_nmgy``.

    Measured on a 5-pixel strip along the apparent major axis (so a thin dust lane
    does not hide an edge-on disc), before the PSF, out to the largest stamp a
    galaxy is rendered on; 0 if the galaxy is fainter than the threshold everywhere.
    """
    half = MAX_STAMP_HALF_PX
    light = render_galaxy(replace(model, disc_angle_deg=0.0), shape=(5, 2 * half + 1),
                          centre_xy=(float(half), 2.0), pixscale_arcsec=pixscale_arcsec).total[1]
    along = light.max(axis=0)
    # brighter side at each whole-pixel distance 0..half from the centre
    profile = np.maximum(along[half:], along[half::-1])
    above = np.flatnonzero(profile > threshold_nmgy)
    if above.size == 0:
        return 0.0
    k = int(above.max())
    if k == half:
        return float(k * pixscale_arcsec)
    # linear interpolation to the crossing between pixel k (above) and k + 1 (not above)
    step = (profile[k] - threshold_nmgy) / (profile[k] - profile[k + 1])
    return float((k + min(step, 1.0)) * pixscale_arcsec)


def _draw_galaxy(rng: np.random.Generator, max_radius_arcsec: float, mix: PopulationMix,
                 conditions: ObservingConditions) -> DetectionGalaxy:
    """A population galaxy whose model radius (3.5 h, arms' end, 2.5 R_e) is in
    [MIN_RADIUS_ARCSEC, max_radius_arcsec]; centred at (0, 0) for now."""
    # draw_central_galaxy makes the visible radius 0.35-0.95 of its field radius
    low, high = MIN_RADIUS_ARCSEC / 0.35, max_radius_arcsec / 0.95
    field_radius = _log_uniform(rng, min(low, high), high)
    model, kind, structure, redshift = draw_central_galaxy(
        rng, field_radius_arcsec=field_radius, mix=mix)
    threshold = TRUTH_MASK_SKY_SIGMA * float(conditions.sky_sigma_per_pixel()[1])
    radius = isophotal_radius_arcsec(model, threshold_nmgy=threshold,
                                     pixscale_arcsec=conditions.pixscale_arcsec)
    return DetectionGalaxy(model=model, centre_xy=(0.0, 0.0), kind=kind, radius_arcsec=radius,
                           arm_structure=structure, redshift=float(redshift))


def _pair_centres(rng: np.random.Generator, radii_px: tuple[float, float],
                  shape: tuple[int, int]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Centres of an overlapping pair, both on the image."""
    height, width = shape
    separation = rng.uniform(*OVERLAP_SEPARATION_RANGE) * (radii_px[0] + radii_px[1])
    angle = rng.uniform(0.0, 2.0 * np.pi)
    dx, dy = separation * np.cos(angle), separation * np.sin(angle)
    # only fields smaller than the pair need this: keep both centres on the image
    shrink = min(1.0, 0.9 * (width - 1) / max(abs(dx), 1e-9),
                 0.9 * (height - 1) / max(abs(dy), 1e-9))
    dx, dy = dx * shrink, dy * shrink
    x0 = rng.uniform(max(0.0, -dx), min(width - 1.0, width - 1.0 - dx))
    y0 = rng.uniform(max(0.0, -dy), min(height - 1.0, height - 1.0 - dy))
    return (float(x0), float(y0)), (float(x0 + dx), float(y0 + dy))


def field_scale(shape: tuple[int, int]) -> float:
    """Area of a field of ``shape`` ``(H, W)`` in reference fields (``REFERENCE_SIZE_PX**2``)."""
    return shape[0] * shape[1] / REFERENCE_SIZE_PX**2


def _draw_n_galaxies(rng: np.random.Generator, scale: float) -> int:
    """Galaxies of a field of ``scale`` reference fields: uniform in ``N_GALAXIES_RANGE``
    times ``scale`` (a reference field draws ``rng.integers(1, 9)``)."""
    low = max(1, round(N_GALAXIES_RANGE[0] * scale))
    high = max(low, round(N_GALAXIES_RANGE[1] * scale))
    return int(rng.integers(low, high + 1))


def _draw_n_pairs(rng: np.random.Generator, scale: float) -> int:
    """Overlapping pairs of a field of ``scale`` reference fields: one chance of
    ``OVERLAP_PAIR_PROBABILITY`` per whole reference field, and a proportionally smaller
    chance for the part of one left over (a reference field draws one ``rng.random()``)."""
    chances = [OVERLAP_PAIR_PROBABILITY * min(1.0, scale - k) for k in range(ceil(scale))]
    return sum(bool(rng.random() < p) for p in chances)


def draw_detection_field(
    rng: np.random.Generator,
    *,
    name: str = "d000000",
    shape: tuple[int, int] = (REFERENCE_SIZE_PX, REFERENCE_SIZE_PX),
    pixscale_arcsec: float = SDSS_PIXSCALE_ARCSEC,
    n_galaxies: int | None = None,
    n_overlap_pairs: int | None = None,
    mix: PopulationMix | None = None,
) -> DetectionFieldSpec:
    """Draw one detection field: galaxies, overlapping pairs in some fields, stars.

    The numbers of galaxies, pairs and stars scale with the field's area
    (:func:`field_scale`; module docstring, 'Field size').

    Parameters
    ----------
    rng : Generator
        Random numbers; the same state gives the same field.
    name : str
        Field name.
    shape : tuple of int
        ``(H, W)`` in pixels, each at least 32.
    pixscale_arcsec : float
        Pixel scale (0.396, SDSS).
    n_galaxies : int, optional
        Number of galaxies (default: drawn from ``N_GALAXIES_RANGE`` times the
        field's area in reference fields); at least 2 per overlapping pair.
    n_overlap_pairs : int, optional
        Number of deliberately overlapping pairs (default: drawn, on average
        ``OVERLAP_PAIR_PROBABILITY`` per reference field); 0 for none.
    mix : PopulationMix, optional
        Galaxy class fractions (default: ``PopulationMix()``).

    Returns
    -------
    DetectionFieldSpec
    """
    height, width = (int(n) for n in shape)
    if height < 32 or width < 32:
        raise ValueError(f"shape must be at least (32, 32) pixels, got {tuple(shape)!r}")
    if not pixscale_arcsec > 0:
        raise ValueError(f"pixscale_arcsec must be > 0, got {pixscale_arcsec!r}")
    if n_galaxies is not None and n_galaxies < 1:
        raise ValueError(f"n_galaxies must be >= 1, got {n_galaxies!r}")
    if n_overlap_pairs is not None and n_overlap_pairs < 0:
        raise ValueError(f"n_overlap_pairs must be >= 0, got {n_overlap_pairs!r}")
    shape = (height, width)
    scale = field_scale(shape)
    mix = PopulationMix() if mix is None else mix
    conditions = draw_sdss_conditions(rng, pixscale_arcsec=pixscale_arcsec)
    if n_galaxies is None:
        n_galaxies = _draw_n_galaxies(rng, scale)
    n_pairs = _draw_n_pairs(rng, scale) if n_overlap_pairs is None else n_overlap_pairs
    n_galaxies = max(n_galaxies, 2 * n_pairs)

    # galaxy sizes do not grow with the field beyond the reference field's
    max_radius = MAX_RADIUS_FRACTION * min(*shape, REFERENCE_SIZE_PX) * pixscale_arcsec
    galaxies = [_draw_galaxy(rng, max_radius, mix, conditions) for _ in range(n_galaxies)]
    radii_px = [g.radius_arcsec / pixscale_arcsec for g in galaxies]
    centres: list[tuple[float, float]] = []
    for k in range(n_pairs):
        centres.extend(_pair_centres(rng, (radii_px[2 * k], radii_px[2 * k + 1]), shape))
    if not n_pairs:
        centres.append((float(rng.uniform(0.1, 0.9) * (width - 1)),
                        float(rng.uniform(0.1, 0.9) * (height - 1))))
    for radius in radii_px[len(centres):]:
        # anywhere its light reaches the image: the centre up to a visible radius off it
        centres.append((float(rng.uniform(-radius, width - 1 + radius)),
                        float(rng.uniform(-radius, height - 1 + radius))))
    galaxies = [replace(g, centre_xy=c) for g, c in zip(galaxies, centres, strict=True)]

    reference_area_arcmin2 = REFERENCE_SIZE_PX**2 * (pixscale_arcsec / 60.0) ** 2
    stars = draw_stars(rng, shape, pixscale_arcsec, ((width - 1) / 2, (height - 1) / 2),
                       keep_clear_px=0.0,
                       density_per_arcmin2=MEAN_STARS / reference_area_arcmin2)
    return DetectionFieldSpec(
        name=name, shape=shape, conditions=conditions, galaxies=tuple(galaxies),
        stars=stars[:max(1, round(MAX_STARS * scale))],
        overlap_pairs=tuple((2 * k, 2 * k + 1) for k in range(n_pairs)),
        # uniform on the sphere, away from the poles where TAN images are awkward
        ra_deg=float(rng.uniform(0, 360)),
        dec_deg=float(np.rad2deg(np.arcsin(rng.uniform(-0.95, 0.95)))),
        noise_seed=int(rng.integers(0, 2**63 - 1)))


# ----------------------------------------------------------------------------------
# Rendering and truth
# ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SimulatedDetectionField:
    """A rendered detection field and its truth objects.

    Attributes
    ----------
    spec : DetectionFieldSpec
        What was rendered.
    bands : ndarray, shape (3, H, W), float32
        g, r, z images in nanomaggies per pixel, with noise.
    masks : ndarray, shape (N, H, W), bool
        Instance masks of the N truth objects; plane ``i`` is object ``index == i``.
        Masks may overlap.
    objects : astropy.table.Table
        One row per truth object (columns :data:`OBJECT_COLUMNS`): ``name`` (the
        field), ``index`` (plane of ``masks``), ``class`` (in ``DETECTION_CLASSES``),
        ``kind`` (population class or ``star``), ``x``, ``y`` (true centre, 0-based
        pixels, x = column), ``flux_r`` (total r flux in nanomaggies: bulge + disc
        of the model, or the star's), ``flux_r_image`` (its noise-free r light on
        the image, with arms, bar, knots and dust), ``radius_px`` (visible radius;
        for stars the radius of a disc of the mask's area), ``npix`` (mask area),
        ``overlap`` (the mask shares a pixel with another truth object's),
        ``overlap_fraction`` (largest fraction of the mask shared with one other
        truth object), ``arm_structure``, ``barred``.
    unlisted : ndarray, shape (H, W), bool
        Where the light of sources that are not truth objects (centre off the image,
        or fewer than ``MIN_TRUTH_PIXELS`` mask pixels) passes the truth mask threshold.
    """

    spec: DetectionFieldSpec
    bands: np.ndarray
    masks: np.ndarray
    objects: Table
    unlisted: np.ndarray

    @cached_property
    def rgb(self) -> np.ndarray:
        """Survey-style colour image, (H, W, 3) uint8 (:func:`galseg.data.colour.legacy_rgb`)."""
        return legacy_rgb(self.bands, pixscale_arcsec=self.spec.conditions.pixscale_arcsec)


def _on_image(xy: tuple[float, float], shape: tuple[int, int]) -> bool:
    """Whether the pixel holding ``xy`` is on the image."""
    return -0.5 <= xy[0] < shape[1] - 0.5 and -0.5 <= xy[1] < shape[0] - 0.5


_Crop = tuple[int, int, np.ndarray]
"""A mask as ``(y0, x0, crop)``: the bool ``crop`` is the mask's bounding box, whose
first pixel is field row ``y0``, column ``x0``."""


def _crop(mask: np.ndarray, y0: int = 0, x0: int = 0) -> _Crop:
    """``mask``, whose first pixel is field row ``y0``, column ``x0``, cut to its bounding box."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return y0, x0, mask[:0, :0]
    return (y0 + int(rows[0]), x0 + int(cols[0]),
            mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])


def _crop_overlaps(crops: list[_Crop]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`overlap_statistics` of masks given as crops: only pairs whose bounding
    boxes meet are compared, so the cost grows with the overlaps, not the field."""
    n = len(crops)
    area = np.array([np.count_nonzero(c) for _, _, c in crops], dtype=np.float64)
    largest = np.zeros(n)
    y0 = np.array([c[0] for c in crops], dtype=np.int64)
    x0 = np.array([c[1] for c in crops], dtype=np.int64)
    y1 = y0 + np.array([c[2].shape[0] for c in crops], dtype=np.int64)
    x1 = x0 + np.array([c[2].shape[1] for c in crops], dtype=np.int64)
    meet = ((y0[:, None] < y1[None, :]) & (y0[None, :] < y1[:, None])
            & (x0[:, None] < x1[None, :]) & (x0[None, :] < x1[:, None]))
    for i, j in zip(*np.nonzero(np.triu(meet, k=1)), strict=True):
        top, bottom = max(y0[i], y0[j]), min(y1[i], y1[j])
        left, right = max(x0[i], x0[j]), min(x1[i], x1[j])
        a = crops[i][2][top - y0[i]:bottom - y0[i], left - x0[i]:right - x0[i]]
        b = crops[j][2][top - y0[j]:bottom - y0[j], left - x0[j]:right - x0[j]]
        shared = float(np.count_nonzero(a & b))
        largest[i], largest[j] = max(largest[i], shared), max(largest[j], shared)
    return largest > 0, np.divide(largest, area, out=np.zeros(n), where=area > 0)


def overlap_statistics(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per mask: whether it overlaps another, and the largest fraction shared with one other.

    Parameters
    ----------
    masks : ndarray, shape (N, H, W), bool

    Returns
    -------
    overlap : ndarray, shape (N,), bool
    overlap_fraction : ndarray, shape (N,), float64
    """
    return _crop_overlaps([_crop(np.asarray(m, dtype=bool)) for m in masks])


def render_detection_field(spec: DetectionFieldSpec) -> SimulatedDetectionField:
    """Render ``spec``: band images with noise, truth masks and objects (module docstring).

    Parameters
    ----------
    spec : DetectionFieldSpec
        The field.

    Returns
    -------
    SimulatedDetectionField
    """
    cond = spec.conditions
    pixscale = cond.pixscale_arcsec
    kernels = psf_kernels(cond)
    height, width = spec.shape
    threshold = TRUTH_MASK_SKY_SIGMA * float(cond.sky_sigma_per_pixel()[1])
    blurred = np.zeros((3, height, width), dtype=np.float32)

    # masks are kept as crops until the end: a large field holds many objects
    crops: list[_Crop] = []
    rows: list[dict] = []
    unlisted = np.zeros((height, width), dtype=bool)

    def add(stamp: Stamp | None, xy: tuple[float, float], row: dict) -> None:
        if stamp is None:
            return
        light, window = stamp
        blurred[(slice(None), *window)] += light
        above = light[1] > threshold
        npix = int(np.count_nonzero(above))
        if npix < MIN_TRUTH_PIXELS or not _on_image(xy, spec.shape):
            unlisted[window] |= above
            return
        crops.append(_crop(above, window[0].start, window[1].start))
        rows.append({**row, "x": float(xy[0]), "y": float(xy[1]),
                     "flux_r_image": float(light[1].sum(dtype=np.float64)), "npix": npix})

    for galaxy in spec.galaxies:
        model = galaxy.model
        stamp = galaxy_stamp(model, galaxy.centre_xy, shape=spec.shape,
                             pixscale_arcsec=pixscale, kernels=kernels)
        add(stamp, galaxy.centre_xy, {
            "kind": galaxy.kind, "flux_r": float(model.bulge_flux[1] + model.disc_flux[1]),
            "radius_px": galaxy.radius_arcsec / pixscale,
            "arm_structure": galaxy.arm_structure, "barred": model.bar is not None})
    for star in spec.stars:
        add(star_stamp(star, shape=spec.shape, kernels=kernels), star.xy, {
            "kind": "star", "flux_r": float(star.flux[1]), "radius_px": np.nan,
            "arm_structure": "none", "barred": False})

    bands = add_noise(blurred, cond, noise_seed=spec.noise_seed)
    stack = np.zeros((len(crops), height, width), dtype=bool)
    for plane, (y0, x0, crop) in zip(stack, crops, strict=True):
        plane[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
    overlap, overlap_fraction = _crop_overlaps(crops)
    for i, row in enumerate(rows):
        if row["kind"] == "star":
            row["radius_px"] = float(np.sqrt(row["npix"] / np.pi))
        row.update(name=spec.name, index=i, overlap=bool(overlap[i]),
                   overlap_fraction=float(overlap_fraction[i]))
        row["class"] = DETECTION_CLASS[row["kind"]]
    return SimulatedDetectionField(spec=spec, bands=bands, masks=stack,
                                   objects=objects_table(rows), unlisted=unlisted)


def objects_table(rows: list[dict]) -> Table:
    """Object rows (dicts) -> a table with :data:`OBJECT_COLUMNS`, also when empty."""
    dtypes = {"name": str, "index": np.int64, "class": str, "kind": str, "npix": np.int64,
              "overlap": bool, "arm_structure": str, "barred": bool}
    return Table({c: np.array([r[c] for r in rows], dtype=dtypes.get(c, np.float64))
                  for c in OBJECT_COLUMNS})


__all__ = ["DETECTION_CLASS", "MIN_TRUTH_PIXELS", "OBJECT_COLUMNS", "REFERENCE_SIZE_PX",
           "SDSS_PIXSCALE_ARCSEC", "TRUTH_MASK_SKY_SIGMA", "DetectionFieldSpec",
           "DetectionGalaxy", "SimulatedDetectionField", "draw_detection_field",
           "draw_sdss_conditions", "field_scale", "isophotal_radius_arcsec", "objects_table",
           "overlap_statistics", "render_detection_field"]
