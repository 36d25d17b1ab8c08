"""Fields composed of real galaxies: Galaxy Zoo 1 cutouts pasted into real SDSS sky.

Real fields with many galaxies at many scales are where users point the detector, and
no labelled ones can be downloaded. :func:`compose_gz1_field` makes one from real
pixels only: a background of the sky of real SDSS cutouts, with their sources replaced
by sky pixels of the same cutout, and real galaxies (the central galaxy of a GZ1
cutout with its own sky, blended in through a soft edge around its Otsu mask) at sizes
drawn from 15 to 120 px, in the eight orientations of the square, where they do not
touch each other. The positions,
sizes, masks and classes of the pasted galaxies are known, so the field comes with its
marks (:mod:`galseg.labels.eye_marks` format) without marking by eye, and
:func:`write_gz1_field_examples` turns many small ones into detector training examples
(copy-paste augmentation with real galaxies at many scales).

``size_px`` of a pasted galaxy is the longest extent (maximum Feret diameter) of its
Otsu mask, scaled; ``x, y`` is the mask's centroid in the green channel, moved
with the galaxy. Classes are Galaxy Zoo 1's, as :mod:`galseg.data.gz1` maps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from os import PathLike
from pathlib import Path

import numpy as np
from astropy.table import Table
from PIL import Image
from scipy import ndimage
from skimage.measure import regionprops
from skimage.transform import rescale
from tqdm.auto import tqdm

from galseg.data._atomic import write_bytes_atomic
from galseg.data.detection_examples import (
    mask_centroid,
    read_detection_examples,
    write_example_tables,
    write_masks,
)
from galseg.data.gz1 import GZ1_CLASSES, central_object_mask, gz1_split

SKY_CLIP_SIGMA = 2.0
"""Pixels brighter than the sky by this many sky sigmas (grown by :data:`SKY_GROW_PX`)
are sources, replaced in the background."""
SKY_GROW_PX = 4


@dataclass(frozen=True)
class ComposedField:
    """A composed field: the picture, one mark per pasted galaxy, and where each
    galaxy's mask lies (``windows[i]`` = ``(y0, x0, mask)`` of ``marks[i]``: its Otsu
    mask, scaled and turned as pasted, with its top-left pixel at row ``y0``, column
    ``x0``)."""

    rgb: np.ndarray
    marks: Table
    windows: tuple[tuple[int, int, np.ndarray], ...] = ()

    def instance_masks(self) -> np.ndarray:
        """(N, H, W) bool: the pasted galaxies' masks on the field, in ``marks`` order."""
        out = np.zeros((len(self.windows), *self.rgb.shape[:2]), bool)
        for i, (y0, x0, window) in enumerate(self.windows):
            h, w = window.shape
            out[i, y0:y0 + h, x0:x0 + w] = window
        return out


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
    max_tries: int = 200, donor_objids: Sequence[str] | None = None,
) -> ComposedField:
    """Compose a field of real galaxies on real sky (module docstring).

    Parameters
    ----------
    gz1_dir : path
        A Galaxy Zoo 1 folder (``labels.csv`` with ``objid``, ``gz1_class``;
        ``images/<objid>.jpeg``).
    objids : sequence of str
        Galaxies to paste, in order, while they fit; the first ``n_donors`` of the others
        in ``labels.csv`` order (or of ``donor_objids``) after a shuffle by ``seed`` give
        the sky.
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
    donor_objids : sequence of str, optional
        Cutouts the sky may come from (default: every galaxy of ``labels.csv`` not
        pasted); a training field takes its sky from training galaxies only.

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
    pool = labels["objid"] if donor_objids is None else donor_objids
    pasted = set(chosen)
    others = [str(o) for o in pool if str(o) not in pasted]
    donors = [_read_rgb(root / "images" / f"{o}.jpeg")
              for o in rng.permutation(others)[:n_donors]]
    canvas = sky_background(donors, shape, rng)
    sky_sigma = float(np.median([1.4826 * np.median(np.abs(d[..., 1] - np.median(d[..., 1])))
                                 for d in donors]))
    taken = np.zeros(shape, bool)
    rows, windows = [], []
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
        windows.append((y0, x0, window))
        rows.append((field, len(rows) + 1, round(x0 + x, 2), round(y0 + y, 2),
                     round(size, 1), GZ1_CLASSES[code], part,
                     f"gz1 {objid}", objid, code, round(scale, 3)))
    picture = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    marks = Table(rows=rows or None,
                  names=("field", "id", "x", "y", "size_px", "class", "part", "note",
                         "objid", "gz1_class", "scale"),
                  dtype=(str, int, float, float, float, str, str, str, str, int, float))
    return ComposedField(picture, marks, tuple(windows))


GZ1_FIELD_SOURCE = "gz1_field"
"""``source`` of composed fields in a detection example folder."""


def _split_by_class(labels: Table, split: str) -> dict[str, list[str]]:
    """The objIDs of ``split``'s spirals (codes 1-3) and ellipticals (0)."""
    by_class: dict[str, list[str]] = {"spiral": [], "elliptical": []}
    for objid, code in zip(labels["objid"], labels["gz1_class"], strict=True):
        if int(code) in GZ1_CLASSES and gz1_split(str(objid)) == split:
            by_class[GZ1_CLASSES[int(code)]].append(str(objid))
    if not all(by_class.values()):
        raise ValueError(f"the {split} split needs both spirals and ellipticals")
    return by_class


def _draw_galaxies(by_class: dict[str, list[str]], rng: np.random.Generator,
                   n: int) -> list[str]:
    """``n`` galaxies drawn with spirals and ellipticals equally likely, so the pasted
    fields are balanced whatever GZ1's mix."""
    pools = [by_class["spiral"], by_class["elliptical"]]
    return [pools[k][int(rng.integers(len(pools[k])))] for k in rng.integers(0, 2, n)]


def write_gz1_field_examples(
    gz1_dir: str | PathLike[str], out_dir: str | PathLike[str], n_fields: int, *,
    seed: int, split: str = "train", shape: tuple[int, int] = (256, 256),
    size_range: tuple[float, float] = (10.0, 120.0), galaxies_per_field: int = 8,
    progress: bool = True,
):
    """Compose ``n_fields`` fields of real GZ1 galaxies on real sky and write them as a
    detection example folder (:mod:`galseg.data.detection_examples`, ``source``
    :data:`GZ1_FIELD_SOURCE`): pictures ``images/<name>.png``, instance masks, classes.

    Galaxies and sky come from one split of :func:`galseg.data.gz1.gz1_split` only, so
    ``split='train'`` fields never show a test galaxy. Field ``i`` is composed with
    seed ``[seed, i]``; a field already written is kept, so a killed run resumes.

    Parameters
    ----------
    gz1_dir : path
        A Galaxy Zoo 1 folder (``labels.csv``, ``images/<objid>.jpeg``).
    out_dir : path
    n_fields : int
    seed : int
    split : {'train', 'test'}
    shape : (H, W)
    size_range : (low, high)
        Galaxy sizes in pixels (longest extent), drawn log-uniformly.
    galaxies_per_field : int
        Galaxies tried per field (those that do not fit are left out).
    progress : bool

    Returns
    -------
    DetectionExampleSet
        The folder, read back.
    """
    if n_fields < 1:
        raise ValueError(f"n_fields must be >= 1, got {n_fields!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root, out = Path(gz1_dir), Path(out_dir)
    labels = Table.read(root / "labels.csv", format="ascii.csv")
    donors = [str(o) for o in labels["objid"] if gz1_split(str(o)) == split]
    by_class = _split_by_class(labels, split)
    for folder in ("images", "marks"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    examples, objects = [], []
    for i in tqdm(range(n_fields), desc="gz1 fields", unit="field", disable=not progress):
        name = f"f{seed}_{i:06d}"
        image_rel, masks_rel = f"images/{name}.png", f"masks/{name}.npz"
        # The marks are kept beside the masks so a resumed run lists the objects of
        # fields it does not compose again.
        marks_path = out / "marks" / f"{name}.ecsv"
        if (out / masks_rel).is_file() and (out / image_rel).is_file():
            marks = Table.read(marks_path, format="ascii.ecsv")
        else:
            rng = np.random.default_rng([seed, i])
            chosen = _draw_galaxies(by_class, rng, galaxies_per_field)
            field = compose_gz1_field(root, chosen, seed=int(rng.integers(2 ** 31)),
                                      shape=shape, size_range=size_range, n_donors=2,
                                      field=name, part=split, donor_objids=donors)
            buffer = BytesIO()
            Image.fromarray(field.rgb).save(buffer, format="PNG")
            write_bytes_atomic(out / image_rel, buffer.getvalue())
            field.marks.write(marks_path, format="ascii.ecsv", overwrite=True)
            # Masks last: their file marks the field as complete.
            write_masks(out, name, field.instance_masks())
            marks = field.marks
        examples.append(dict(name=name, image=image_rel, masks=masks_rel,
                             source=GZ1_FIELD_SOURCE, height=shape[0], width=shape[1]))
        objects += [{"name": name, "index": k, "class": str(m["class"]),
                     "x": float(m["x"]), "y": float(m["y"]), "gz1_class": int(m["gz1_class"]),
                     "objid": str(m["objid"]), "size_px": float(m["size_px"])}
                    for k, m in enumerate(marks)]
    write_example_tables(out, examples, objects)
    return read_detection_examples(out)

