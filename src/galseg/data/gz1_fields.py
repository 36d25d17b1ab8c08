"""Fields composed of real galaxies: Galaxy Zoo 1 cutouts pasted into real SDSS sky.

Real fields with many galaxies at many scales are where users point the detector, and
no labelled ones can be downloaded. :func:`compose_gz1_field` makes one from real
pixels only: a background of the sky of real SDSS cutouts, with their sources replaced
by sky pixels of the same cutout, and real galaxies (the central galaxy of a GZ1
cutout with its own sky, blended in through a soft edge around its Otsu mask) at sizes
drawn from 15 to 120 px, in the eight orientations of the square, where they do not
touch each other. The positions,
sizes and classes of the pasted galaxies are known, so the field comes with its marks
(:mod:`galseg.labels.eye_marks` format) without marking by eye.

``size_px`` of a pasted galaxy is the longest extent (maximum Feret diameter) of its
Otsu mask, scaled; ``x, y`` is the mask's centroid in the green channel, moved
with the galaxy. Classes are Galaxy Zoo 1's, as :mod:`galseg.data.gz1` maps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from astropy.table import Table
from PIL import Image
from scipy import ndimage
from skimage.measure import regionprops
from skimage.transform import rescale

from galseg.data.detection_examples import mask_centroid
from galseg.data.gz1 import GZ1_CLASSES, central_object_mask

SKY_CLIP_SIGMA = 2.0
"""Pixels brighter than the sky by this many sky sigmas (grown by :data:`SKY_GROW_PX`)
are sources, replaced in the background."""
SKY_GROW_PX = 4


@dataclass(frozen=True)
class ComposedField:
    """A composed field: the picture and one mark per pasted galaxy."""

    rgb: np.ndarray
    marks: Table


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _sky(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel sky level, and the mask of source pixels (sky clipped, grown)."""
    grey = rgb.astype(np.float32).mean(axis=2)
    level = np.median(grey)
    sigma = 1.4826 * np.median(np.abs(grey - level))
    sources = grey > level + SKY_CLIP_SIGMA * max(sigma, 1.0)
    sources = ndimage.binary_dilation(sources, iterations=SKY_GROW_PX)
    channels = np.median(rgb[~sources].reshape(-1, 3), axis=0) if (~sources).any() \
        else np.median(rgb.reshape(-1, 3), axis=0)
    return channels.astype(np.float32), sources


def sky_background(donors: Sequence[np.ndarray], shape: tuple[int, int],
                   rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) float32 sky: the donor cutouts laid edge to edge, each with its sources
    replaced by sky pixels drawn from the same cutout."""
    if not donors:
        raise ValueError("at least one donor cutout is needed for the sky")
    out = np.zeros((*shape, 3), np.float32)
    k = 0
    side = min(min(d.shape[:2]) for d in donors)
    # One sky level for the whole field (each donor's is moved to the median of all), so
    # the donors' edges do not show.
    levels = [_sky(d)[0] for d in donors]
    common = np.median(levels, axis=0)
    for y0 in range(0, shape[0], side):
        for x0 in range(0, shape[1], side):
            donor = donors[k % len(donors)][:side, :side].astype(np.float32)
            _, sources = _sky(donors[k % len(donors)][:side, :side])
            donor += common - levels[k % len(donors)]
            k += 1
            sky_pixels = donor[~sources]
            if len(sky_pixels):
                donor = donor.copy()
                donor[sources] = sky_pixels[rng.integers(0, len(sky_pixels), sources.sum())]
            h, w = min(side, shape[0] - y0), min(side, shape[1] - x0)
            out[y0:y0 + h, x0:x0 + w] = donor[:h, :w]
    return out


def galaxy_stamp(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                           np.ndarray]:
    """The central galaxy with a soft edge: ``(pixels, alpha, mask)`` cut to the mask's
    box grown by a quarter of its size; ``pixels`` (h, w, 3) float32 as in the cutout,
    ``alpha`` (h, w) in [0, 1]: the mask grown by 3 px and blurred (sigma 2 px), so the
    galaxy's faint wings and its own sky blend into the field's sky."""
    rows, cols = np.nonzero(mask)
    grow = int(max(np.ptp(rows), np.ptp(cols))) // 4 + 8
    y0, y1 = max(rows.min() - grow, 0), min(rows.max() + grow + 1, mask.shape[0])
    x0, x1 = max(cols.min() - grow, 0), min(cols.max() + grow + 1, mask.shape[1])
    window = mask[y0:y1, x0:x1]
    alpha = ndimage.gaussian_filter(ndimage.binary_dilation(window, iterations=3)
                                    .astype(np.float32), 2.0)
    return rgb[y0:y1, x0:x1].astype(np.float32), np.clip(alpha, 0, 1), window


def _dihedral(array: np.ndarray, k: int) -> np.ndarray:
    out = np.rot90(array, k % 4, axes=(0, 1))
    return out[:, ::-1] if k >= 4 else out


def compose_gz1_field(
    gz1_dir: str | PathLike[str], objids: Sequence[str], *, seed: int,
    shape: tuple[int, int] = (1024, 1024), size_range: tuple[float, float] = (15.0, 120.0),
    n_donors: int = 9, field: str = "gz1_field", part: str = "test",
    max_tries: int = 200,
) -> ComposedField:
    """Compose a field of real galaxies on real sky (module docstring).

    Parameters
    ----------
    gz1_dir : path
        A Galaxy Zoo 1 folder (``labels.csv`` with ``objid``, ``gz1_class``;
        ``images/<objid>.jpeg``).
    objids : sequence of str
        Galaxies to paste, in order, while they fit; the first ``n_donors`` of the others
        in ``labels.csv`` order after a shuffle by ``seed`` give the sky.
    seed : int
        Sets the shuffle, scales, orientations and positions.
    shape : (H, W)
    size_range : (low, high)
        Sizes (``size_px``) drawn log-uniformly; each galaxy is scaled to its size.
    n_donors : int
    field, part : str
        Written into the marks.
    max_tries : int
        Random positions tried per galaxy before it is left out.

    Returns
    -------
    ComposedField
        ``rgb`` uint8 (H, W, 3); ``marks`` with the marks columns and ``objid``,
        ``gz1_class``, ``scale``.
    """
    root = Path(gz1_dir)
    labels = Table.read(root / "labels.csv", format="ascii.csv")
    code_of = {str(o): int(c) for o, c in zip(labels["objid"], labels["gz1_class"],
                                               strict=True)}
    rng = np.random.default_rng(seed)
    chosen = [str(o) for o in objids]
    others = [str(o) for o in labels["objid"] if str(o) not in set(chosen)]
    donors = [_read_rgb(root / "images" / f"{o}.jpeg")
              for o in rng.permutation(others)[:n_donors]]
    canvas = sky_background(donors, shape, rng)
    sky_sigma = float(np.median([1.4826 * np.median(np.abs(d[..., 1] - np.median(d[..., 1])))
                                 for d in donors]))
    taken = np.zeros(shape, bool)
    rows = []
    for objid in chosen:
        code = code_of.get(objid)
        if code not in GZ1_CLASSES:
            continue
        rgb = _read_rgb(root / "images" / f"{objid}.jpeg")
        mask = central_object_mask(rgb)
        if mask.sum() < 10:
            continue
        pixels, alpha, window = galaxy_stamp(rgb, mask)
        extent = float(regionprops(window.astype(np.uint8))[0].feret_diameter_max)
        size = float(np.exp(rng.uniform(*np.log(size_range))))
        scale = size / extent
        k = int(rng.integers(8))
        pixels, alpha, window = (_dihedral(a, k) for a in (pixels, alpha, window))
        if scale != 1.0:
            pixels = rescale(pixels, scale, channel_axis=2, order=1, anti_aliasing=scale < 1,
                             preserve_range=True).astype(np.float32)
            alpha = rescale(alpha, scale, order=1, anti_aliasing=scale < 1).astype(np.float32)
            window = rescale(window.astype(np.float32), scale, order=1) >= 0.5
        if scale < 1:
            # Shrinking averages the cutout's sky noise away; put back what the field's
            # sky has, so the galaxy does not sit in a smooth patch.
            pixels += rng.normal(0.0, sky_sigma * np.sqrt(1 - scale ** 2), pixels.shape)
        h, w = window.shape
        if h >= shape[0] or w >= shape[1] or not window.any():
            continue
        footprint = ndimage.binary_dilation(window, iterations=6)
        for _ in range(max_tries):
            y0, x0 = int(rng.integers(0, shape[0] - h)), int(rng.integers(0, shape[1] - w))
            if not (taken[y0:y0 + h, x0:x0 + w] & footprint).any():
                break
        else:
            continue
        taken[y0:y0 + h, x0:x0 + w] |= footprint
        patch = canvas[y0:y0 + h, x0:x0 + w]
        canvas[y0:y0 + h, x0:x0 + w] = patch * (1 - alpha[..., None]) + pixels * alpha[..., None]
        x, y = mask_centroid(window, pixels[..., 1] - np.median(pixels[..., 1][~window]))
        rows.append((field, len(rows) + 1, round(x0 + x, 2), round(y0 + y, 2),
                     round(size, 1), GZ1_CLASSES[code], part,
                     f"gz1 {objid}", objid, code, round(scale, 3)))
    picture = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    marks = Table(rows=rows or None,
                  names=("field", "id", "x", "y", "size_px", "class", "part", "note",
                         "objid", "gz1_class", "scale"),
                  dtype=(str, int, float, float, float, str, str, str, str, int, float))
    return ComposedField(picture, marks)
