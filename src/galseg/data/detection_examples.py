"""Detection examples on disk: images with instance masks and classes.

One folder format serves every source of detection training and evaluation data
(real SDSS cutouts with Galaxy Zoo 1 classes, :mod:`galseg.data.gz1`, and
simulated multi-galaxy fields, :mod:`galseg.sim.detection_fields`), so training
(:mod:`galseg.training.detector`) and evaluation (:mod:`galseg.evaluate.detector`)
read one thing::

    DIR/examples.csv   one row per image: name, image, masks, source,
                       height, width, pixscale_arcsec (may be empty), fits (may be empty)
    DIR/objects.csv    one row per object: name, index, class, x, y, plus
                       source-specific columns (kept, not interpreted)
    DIR/masks/<name>.npz
                       ``masks``: bool (N, H, W), object ``index`` is plane ``index``;
                       optional ``unlisted``: bool (H, W), light of real sources that
                       are not objects of the image (simulated fields: galaxies whose
                       centre is off the image, or too faint to list)

``image`` and ``fits`` are paths relative to DIR, or absolute (the GZ1 set points at
the real JPEGs where they lie instead of copying them). ``x``, ``y`` are the true
centre of the object, 0-based pixels of the image (x = column). Masks may overlap:
galaxies are transparent, so a pixel can belong to two objects. The evaluation does
not count a detection on ``unlisted`` light (and on no object) as a false one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from os import PathLike
from pathlib import Path

import numpy as np
from astropy.table import Table
from PIL import Image
from scipy import ndimage

from galseg.data.catalogs import read_catalog, write_catalog
from galseg.data.detection_classes import DETECTION_CLASSES

EXAMPLES_FILE = "examples.csv"
OBJECTS_FILE = "objects.csv"
MASKS_DIR = "masks"


@dataclass(frozen=True, eq=False)
class DetectionExample:
    """One image with its objects.

    Attributes
    ----------
    name : str
        Unique name in its folder.
    image_path : pathlib.Path
        The RGB picture (PNG/JPEG) the detector sees.
    masks_path : pathlib.Path
        ``.npz`` with the (N, H, W) boolean instance masks.
    source : str
        ``'gz1'`` or ``'sim'``.
    shape : tuple of int
        ``(H, W)``.
    pixscale_arcsec : float or None
    fits_path : pathlib.Path or None
        Band images (g, r, z FITS with WCS) where the source has them.
    objects : astropy.table.Table
        This image's rows of ``objects.csv``, sorted by ``index``.
    """

    name: str
    image_path: Path
    masks_path: Path
    source: str
    shape: tuple[int, int]
    pixscale_arcsec: float | None
    fits_path: Path | None
    objects: Table

    def rgb(self) -> np.ndarray:
        """The picture as (H, W, 3) uint8."""
        with Image.open(self.image_path) as image:
            return np.asarray(image.convert("RGB"))

    def masks(self) -> np.ndarray:
        """Instance masks, (N, H, W) bool, plane ``i`` is object ``index == i``."""
        with np.load(self.masks_path) as data:
            return data["masks"].astype(bool)

    def unlisted_mask(self) -> np.ndarray | None:
        """(H, W) bool: light of sources that are not objects of this image (module
        docstring); None where the folder does not say (Galaxy Zoo 1 cutouts, and
        simulated folders written before the mask existed)."""
        with np.load(self.masks_path) as data:
            return data["unlisted"].astype(bool) if "unlisted" in data.files else None

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.objects["class"]]


@dataclass(frozen=True, eq=False)
class DetectionExampleSet:
    """A folder of detection examples (module docstring); read lazily."""

    root: Path

    @cached_property
    def table(self) -> Table:
        return read_catalog(self.root / EXAMPLES_FILE)[0]

    @cached_property
    def objects(self) -> Table:
        return read_catalog(self.root / OBJECTS_FILE)[0]

    def __len__(self) -> int:
        return len(self.table)

    @cached_property
    def _objects_by_name(self) -> dict[str, Table]:
        objects = self.objects
        if len(objects) == 0:
            return {}
        names = np.asarray(objects["name"]).astype(str)
        order = np.lexsort((np.asarray(objects["index"]), names))
        groups: dict[str, list[int]] = {}
        for i in order:
            groups.setdefault(names[i], []).append(int(i))
        return {name: objects[rows] for name, rows in groups.items()}

    def _path(self, value: object) -> Path | None:
        text = "" if value is None or np.ma.is_masked(value) else str(value).strip()
        if not text:
            return None
        path = Path(text)
        return path if path.is_absolute() else self.root / path

    def __getitem__(self, i: int) -> DetectionExample:
        row = self.table[i]
        name = str(row["name"])
        objects = self._objects_by_name.get(name, self.objects[:0])
        pixscale = _optional_float(row["pixscale_arcsec"]) if "pixscale_arcsec" in row.colnames \
            else None
        fits_path = self._path(row["fits"]) if "fits" in row.colnames else None
        return DetectionExample(
            name=name, image_path=self._path(row["image"]), masks_path=self._path(row["masks"]),
            source=str(row["source"]), shape=(int(row["height"]), int(row["width"])),
            pixscale_arcsec=pixscale, fits_path=fits_path, objects=objects)

    def __iter__(self) -> Iterator[DetectionExample]:
        for i in range(len(self)):
            yield self[i]

    @property
    def names(self) -> list[str]:
        return [str(n) for n in self.table["name"]]


def _optional_float(value: object) -> float | None:
    """A table cell as a float; None for an empty, masked or non-finite cell."""
    if value is None or np.ma.is_masked(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def read_detection_examples(root: str | PathLike[str]) -> DetectionExampleSet:
    """Open a detection example folder (module docstring)."""
    root = Path(root)
    for required in (EXAMPLES_FILE, OBJECTS_FILE):
        if not (root / required).is_file():
            raise FileNotFoundError(f"{root} is not a detection example folder: "
                                    f"{required} is missing")
    return DetectionExampleSet(root)


def write_masks(root: str | PathLike[str], name: str, masks: np.ndarray, *,
                unlisted: np.ndarray | None = None) -> str:
    """Write one image's (N, H, W) masks (and its (H, W) ``unlisted`` mask, if given) to
    ``root/masks/<name>.npz``; returns the path relative to ``root`` for ``examples.csv``."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {masks.shape}")
    arrays = {"masks": masks}
    if unlisted is not None:
        arrays["unlisted"] = np.asarray(unlisted, dtype=bool)
        if arrays["unlisted"].shape != masks.shape[1:]:
            raise ValueError(f"unlisted must be (H, W) = {masks.shape[1:]}, "
                             f"got shape {arrays['unlisted'].shape}")
    relative = f"{MASKS_DIR}/{name}.npz"
    path = Path(root) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return relative


def write_example_tables(root: str | PathLike[str], examples: Sequence[dict],
                         objects: Sequence[dict]) -> None:
    """Write ``examples.csv`` and ``objects.csv`` (rows as dicts; module docstring)."""
    root = Path(root)
    example_columns = ("name", "image", "masks", "source", "height", "width",
                       "pixscale_arcsec", "fits")
    rows = [{c: ("" if r.get(c) is None else r.get(c)) for c in example_columns}
            for r in examples]
    table = Table(rows=[[r[c] for c in example_columns] for r in rows],
                  names=example_columns) if rows else Table(names=example_columns)
    root.mkdir(parents=True, exist_ok=True)
    write_catalog(table, root / EXAMPLES_FILE)
    if objects:
        columns = ["name", "index", "class", "x", "y"]
        columns += [c for c in objects[0] if c not in columns]
        obj_table = Table(rows=[[o.get(c) for c in columns] for o in objects], names=columns)
    else:
        obj_table = Table(names=("name", "index", "class", "x", "y"),
                          dtype=(str, int, str, float, float))
    write_catalog(obj_table, root / OBJECTS_FILE)


def mask_centroid(mask: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """``x, y`` of a (H, W) bool ``mask``: the centre of mass of ``weights`` (same shape,
    clipped at 0) inside it (``scipy.ndimage.center_of_mass``, as Farias et al. 2020);
    the unweighted centre of its pixels without weights or positive flux; NaN if empty."""
    rows, columns = np.nonzero(mask)
    if not len(rows):
        return np.nan, np.nan
    if weights is not None:
        light = np.where(mask, np.clip(weights, 0, None), 0.0)
        if light.sum() > 0:
            y, x = ndimage.center_of_mass(light)
            return float(x), float(y)
    return float(columns.mean()), float(rows.mean())


__all__ = ["DETECTION_CLASSES", "EXAMPLES_FILE", "MASKS_DIR", "OBJECTS_FILE", "DetectionExample",
           "DetectionExampleSet", "mask_centroid", "read_detection_examples",
           "write_example_tables", "write_masks"]
