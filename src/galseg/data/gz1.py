"""Galaxy Zoo 1 SDSS cutouts -> detection examples with automatic masks.

Farias et al. (2020) made the mask of each training galaxy automatically: an Otsu
threshold of the grey image, keeping the object at the centre of the cutout (the
catalog position). :func:`central_object_mask` does that with scikit-image; the
object that contains the centre pixel is kept (or, when the centre pixel is below
the threshold, the object nearest to it within ``max_offset_px``), with holes
filled. Classes from the Galaxy Zoo 1 label (``labels.csv``):

====  =====================  =============
code  Galaxy Zoo 1           galseg class
====  =====================  =============
0     elliptical             elliptical
1     spiral (clockwise)     spiral
2     spiral (anticlockwise) spiral
3     edge-on disc           spiral
4     don't know             left out
5     merger                 left out
====  =====================  =============

as the paper (spiral = the disc classes). Only the central galaxy is labelled;
other objects in a cutout stay unlabelled, as in the paper.

:func:`write_gz1_examples` writes two detection example folders
(:mod:`galseg.data.detection_examples`), ``train`` and ``test``, split by a hash
of the objID (so the split never depends on file order). Images are referenced
where they lie, not copied.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

import numpy as np
from astropy.table import Table
from PIL import Image
from scipy import ndimage
from skimage.color import rgb2gray
from skimage.filters import threshold_otsu
from tqdm import tqdm

from galseg.data.catalogs import read_catalog
from galseg.data.detection_examples import write_example_tables, write_masks
from galseg.data.splits import unit_hash
from galseg.errors import InputFileError

GZ1_CLASSES = {0: "elliptical", 1: "spiral", 2: "spiral", 3: "spiral"}
"""Galaxy Zoo 1 class code -> galseg class; codes 4 (don't know) and 5 (merger) are left out."""
GZ1_CODE_NAMES = {0: "elliptical", 1: "clockwise spiral", 2: "anticlockwise spiral",
                  3: "edge-on disc", 4: "don't know", 5: "merger"}
"""What each Galaxy Zoo 1 class code means."""
GZ1_FACE_ON_SPIRALS = (1, 2)
"""GZ1 codes of face-on spirals (arms wound clockwise or anticlockwise)."""

DEFAULT_TEST_FRACTION = 0.2
GZ1_SEGMENTER_CROP = 141
"""Central pixels of a 423 px GZ1 cutout shown to the segmenter (the galaxies are tens of
pixels across in these frames): by ``benchmarks/real_images.py`` and by the weak labels
of :mod:`galseg.training.weak_labels`, so both see the same frames."""
MIN_MASK_PIXELS = 10


def central_object_mask(rgb: np.ndarray, *, max_offset_px: float = 10.0) -> np.ndarray:
    """Otsu mask of the object at the centre of a cutout (module docstring).

    Parameters
    ----------
    rgb : ndarray, (H, W, 3)
        The cutout (any numeric type).
    max_offset_px : float
        How far from the centre the object may start when the centre pixel itself
        is below the threshold.

    Returns
    -------
    ndarray, (H, W) bool
        Empty when no object is near the centre.
    """
    grey = rgb2gray(np.asarray(rgb))
    if not np.isfinite(grey).all() or grey.max() <= grey.min():
        return np.zeros(grey.shape, bool)
    objects, n = ndimage.label(grey > threshold_otsu(grey))
    if n == 0:
        return np.zeros(grey.shape, bool)
    cy, cx = (grey.shape[0] - 1) / 2, (grey.shape[1] - 1) / 2
    label = objects[round(cy), round(cx)]
    if label == 0:
        yy, xx = np.nonzero(objects)
        distance = np.hypot(yy - cy, xx - cx)
        nearest = int(np.argmin(distance))
        if distance[nearest] > max_offset_px:
            return np.zeros(grey.shape, bool)
        label = objects[yy[nearest], xx[nearest]]
    return ndimage.binary_fill_holes(objects == label)


def central_crop(rgb: np.ndarray, side: int = GZ1_SEGMENTER_CROP) -> np.ndarray:
    """The central ``side`` x ``side`` pixels of an (H, W, ...) image (the central square
    of the shorter side when the image is smaller)."""
    height, width = rgb.shape[:2]
    side = min(side, height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return np.ascontiguousarray(rgb[top:top + side, left:left + side])


def gz1_split(objid: str, test_fraction: float = DEFAULT_TEST_FRACTION) -> str:
    """``'test'`` or ``'train'`` for a Galaxy Zoo 1 objID (fixed by its hash)."""
    return "test" if unit_hash(f"gz1:{objid}") < test_fraction else "train"


def read_gz1_labels(folder: str | PathLike[str]) -> Table:
    """The ``labels.csv`` of a Galaxy Zoo 1 SDSS folder, every row, with its ``objid`` and
    ``gz1_class`` columns checked (a missing column names the file in the error)."""
    path = Path(folder) / "labels.csv"
    labels, _ = read_catalog(path)
    for column in ("objid", "gz1_class"):
        if column not in labels.colnames:
            raise InputFileError(path, f"no {column!r} column")
    return labels


def write_gz1_examples(
    source: str | PathLike[str], out_dir: str | PathLike[str], *,
    test_fraction: float = DEFAULT_TEST_FRACTION, limit: int | None = None,
    progress: bool = True,
) -> dict[str, int]:
    """Make detection examples of a Galaxy Zoo 1 SDSS folder.

    Parameters
    ----------
    source : path
        Folder with ``labels.csv`` (``objid``, ``gz1_class``) and ``images/<objid>.jpeg``.
    out_dir : path
        Receives ``train/`` and ``test/`` example folders.
    test_fraction : float
        Share of galaxies held back for evaluation.
    limit : int, optional
        Use only the first ``limit`` labelled rows (for quick tests).
    progress : bool

    Returns
    -------
    dict
        Counts: ``train``, ``test``, ``left_out_class`` (codes 4, 5),
        ``no_image``, ``no_mask`` (nothing at the centre).
    """
    source, out_dir = Path(source), Path(out_dir)
    labels = read_gz1_labels(source)
    counts = dict(train=0, test=0, left_out_class=0, no_image=0, no_mask=0)
    tables: dict[str, tuple[list[dict], list[dict]]] = {"train": ([], []), "test": ([], [])}
    rows: Iterable = labels if limit is None else labels[:limit]
    for row in tqdm(rows, desc="gz1 masks", unit="image", disable=not progress):
        objid, code = str(row["objid"]), int(row["gz1_class"])
        galaxy_class = GZ1_CLASSES.get(code)
        if galaxy_class is None:
            counts["left_out_class"] += 1
            continue
        image_path = (source / "images" / f"{objid}.jpeg").resolve()
        try:
            with Image.open(image_path) as image:
                rgb = np.asarray(image.convert("RGB"))
        except (OSError, ValueError):
            counts["no_image"] += 1
            continue
        mask = central_object_mask(rgb)
        if mask.sum() < MIN_MASK_PIXELS:
            counts["no_mask"] += 1
            continue
        split = gz1_split(objid, test_fraction)
        folder = out_dir / split
        examples, objects = tables[split]
        height, width = mask.shape
        examples.append(dict(name=objid, image=str(image_path),
                             masks=write_masks(folder, objid, mask[None]),
                             source="gz1", height=height, width=width))
        # The truth position is the catalog position: the cutout's centre.
        objects.append({"name": objid, "index": 0, "class": galaxy_class,
                        "x": (width - 1) / 2, "y": (height - 1) / 2,
                        "gz1_class": code, "npix": int(mask.sum())})
        counts[split] += 1
    for split, (examples, objects) in tables.items():
        write_example_tables(out_dir / split, examples, objects)
    return counts


GZ1_COMPACT_SIDE = 359
"""Side of :func:`write_gz1_compact`'s cutouts: 32 px trimmed from each side of a 423 px
cutout, a whole number of 16 px JPEG blocks, so the crop is re-encoded on the source's own
block grid with its own quantisation tables (mean change 0.004 counts on the SDSS
JPEGs); 359 px keeps the whole central mask of 99.7% of the train galaxies and leaves
the detector's 256 px training crops room to move."""


def write_gz1_compact(
    examples_dir: str | PathLike[str], out_dir: str | PathLike[str], *,
    side: int = GZ1_COMPACT_SIDE, progress: bool = True,
) -> int:
    """A compact copy of a Galaxy Zoo 1 detection example folder (``galseg gz1-masks``):
    each cutout's central ``side`` pixels, its masks and positions cut the same way.

    The copy is a detection example folder (``galseg train detector --data``) and, with
    its ``labels.csv`` (``objid``, ``gz1_class``) and ``images/<objid>.jpeg``, also a
    Galaxy Zoo 1 folder (``galseg train segmenter --weak-gz1``; its 141 px central crop
    is the same pixels as the original's for an odd ``side``). The 3,861 train cutouts
    shrink from 54 MB of JPEGs and 16 MB of masks to about 38 MB in all, small enough to
    travel to a lent GPU machine, whose transfer limit the original folder exceeds.
    The masks are the originals cut, not remade from the crops (Otsu's threshold would
    change with the histogram). Galaxies whose central mask :func:`write_gz1_examples`
    found empty are absent here, as in the detection folder.

    Parameters
    ----------
    examples_dir : path
        A folder written by :func:`write_gz1_examples` (``train`` or ``test``).
    out_dir : path
        The copy (created).
    side : int
        Pixels kept on each axis (the whole image where it is smaller).
    progress : bool

    Returns
    -------
    int
        Cutouts written.
    """
    from galseg.data.detection_examples import read_detection_examples

    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    examples, objects, labels = [], [], []
    source = read_detection_examples(examples_dir)
    if len(source) and "gz1_class" not in source.objects.colnames:
        raise InputFileError(Path(examples_dir) / "objects.csv",
                             "no 'gz1_class' column: not a galseg gz1-masks folder")
    for example in tqdm(source, desc="gz1 compact", unit="image", disable=not progress):
        height, width = example.shape
        top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
        box = (left, top, min(width, left + side), min(height, top + side))
        image_name = f"images/{example.name}.jpeg"
        _write_crop(example.image_path, box, out_dir / image_name)
        masks = example.masks()[:, box[1]:box[3], box[0]:box[2]]
        examples.append(dict(name=example.name, image=image_name,
                             masks=write_masks(out_dir, example.name, masks),
                             source=example.source, height=box[3] - box[1],
                             width=box[2] - box[0], pixscale_arcsec=example.pixscale_arcsec))
        for row in example.objects:
            values = {column: row[column] for column in row.colnames}
            values["x"], values["y"] = float(row["x"]) - left, float(row["y"]) - top
            values["npix"] = int(masks[int(row["index"])].sum())
            objects.append(values)
        labels.append(f"{example.name},{int(example.objects['gz1_class'][0])}")
    write_example_tables(out_dir, examples, objects)
    (out_dir / "labels.csv").write_text("\n".join(["objid,gz1_class", *labels]) + "\n")
    return len(examples)


def _write_crop(image_path: Path, box: tuple[int, int, int, int], out_path: Path) -> None:
    """Crop a picture to ``box`` (left, top, right, bottom) as JPEG; a JPEG source keeps
    its quantisation tables and chroma subsampling (near-lossless on its block grid)."""
    from PIL import JpegImagePlugin

    with Image.open(image_path) as image:
        options: dict = {"quality": 95}
        if image.format == "JPEG" and image.mode == "RGB":
            options = {"qtables": image.quantization,
                       "subsampling": JpegImagePlugin.get_sampling(image)}
        crop = image.convert("RGB").crop(box)
        tmp = out_path.with_name(out_path.stem + ".tmp.jpeg")
        crop.save(tmp, "JPEG", optimize=True, **options)
        tmp.replace(out_path)
