"""Bar labels made by eye on real images: the label table, its split, and the figures
(montages and zoomed crops with the source image's pixel coordinates on the axes, and
bars drawn) that bars are labelled and checked on.

The protocol (what counts as a bar, where its ends are, when to say ``unclear``) is in
``docs/bar_labels.md``; the labels are ``eye_labels/bar_labels.csv``
(read them with :func:`read_bar_labels`). ``scripts/label_bars.py`` is the helper that
draws the figures.

Label table columns
-------------------
``id``
    The image's id within its source (GZ1 / Legacy objID, Stellarium texture file stem).
``source``
    ``'gz1_sdss'``, ``'legacy'`` or ``'stellarium'`` (:data:`EYE_SOURCES`).
``label``
    ``'bar'``, ``'nobar'`` or ``'unclear'`` (:data:`EYE_LABELS`).
``x1, y1, x2, y2``
    The bar's two end points in the pixels of the source image as it lies on disk
    (x the 0-based column, y the 0-based row, the centre of pixel (i, j) at x = j,
    y = i); empty unless ``label == 'bar'``.
``split``
    ``'train'`` or ``'test'``, fixed by a hash of ``source:id`` (:func:`bar_label_split`):
    train labels may teach or tune, test labels only measure.
``note``
    Free text (why unclear, what else is seen).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from PIL import Image

from galseg.data.gz1 import GZ1_SEGMENTER_CROP, central_crop
from galseg.data.splits import unit_hash
from galseg.errors import InputFileError
from galseg.labels.eye import read_eye_labels, write_eye_labels

EYE_LABELS = ("bar", "nobar", "unclear")
EYE_SOURCES = ("gz1_sdss", "legacy", "stellarium")
BAR_LABEL_COLUMNS = ("id", "source", "label", "x1", "y1", "x2", "y2", "split", "note")
BAR_LABEL_TEST_FRACTION = 0.5
"""Share of labelled galaxies held back to measure (half: the test figures need numbers)."""
BAR_LABELS_PATH = Path(__file__).parents[3] / "eye_labels" / "bar_labels.csv"
"""The committed labels in a galseg source checkout (``eye_labels/bar_labels.csv``; not
installed with the package, like the shred labels beside them)."""


def bar_label_split(source: str, image_id: str,
                    test_fraction: float = BAR_LABEL_TEST_FRACTION) -> str:
    """``'test'`` or ``'train'`` for one labelled image, fixed by a hash of ``source:id``."""
    return "test" if unit_hash(f"eye-bar:{source}:{image_id}") < test_fraction else "train"


def read_bar_labels(path: str | PathLike[str] = BAR_LABELS_PATH) -> Table:
    """Read and check a bar label table (module docstring).

    Returns
    -------
    astropy.table.Table
        The columns of :data:`BAR_LABEL_COLUMNS` (end points float, NaN where empty)
        plus ``length_px``, the distance between the end points (NaN unless a bar).

    Raises
    ------
    galseg.errors.InputFileError
        A missing column, an unknown source or label, a bar without both end points,
        end points on a galaxy that is not a bar, a repeated ``source:id`` or a split
        that disagrees with :func:`bar_label_split`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file does not exist")
    records = read_eye_labels(path, allowed=EYE_LABELS, label_column="label")
    columns = list(records[0]) if records else []
    missing = [c for c in BAR_LABEL_COLUMNS if c not in columns]
    if missing:
        raise InputFileError(path, f"no column(s) {missing}; columns are {columns}")

    def number(text: str | None, where: str) -> float:
        try:
            return float(text) if text not in (None, "") else np.nan
        except ValueError:
            raise InputFileError(path, f"{where}: {text!r} is not a number") from None

    table = Table(
        {c: np.array([(r[c] or "").strip() for r in records], dtype=str)
         for c in ("id", "source", "label", "split", "note")}
        | {c: np.array([number(r[c], f"line {n}") for n, r in enumerate(records, start=2)],
                       dtype=float) for c in ("x1", "y1", "x2", "y2")})
    table = table[list(BAR_LABEL_COLUMNS)]
    seen: set[tuple[str, str]] = set()
    for n, row in enumerate(table, start=2):
        where = f"line {n} ({row['source']}:{row['id']})"
        if row["source"] not in EYE_SOURCES:
            raise InputFileError(path, f"{where}: source must be one of {EYE_SOURCES}")
        if row["label"] not in EYE_LABELS:
            raise InputFileError(path, f"{where}: label must be one of {EYE_LABELS}")
        ends = np.array([row["x1"], row["y1"], row["x2"], row["y2"]], dtype=float)
        if row["label"] == "bar" and not np.isfinite(ends).all():
            raise InputFileError(path, f"{where}: a bar needs both end points x1, y1, x2, y2")
        if row["label"] != "bar" and np.isfinite(ends).any():
            raise InputFileError(path, f"{where}: end points given for a {row['label']!r}")
        key = (row["source"], row["id"])
        if key in seen:
            raise InputFileError(path, f"{where}: labelled twice")
        seen.add(key)
        if row["split"] != bar_label_split(*key):
            raise InputFileError(path, f"{where}: split {row['split']!r} is not the fixed "
                                       f"split {bar_label_split(*key)!r}")
    table["length_px"] = np.hypot(table["x2"] - table["x1"], table["y2"] - table["y1"])
    return table


def bar_label_image_path(source: str, image_id: str, *, data_root: str | PathLike[str],
                         stellarium_root: str | PathLike[str] | None = None) -> Path:
    """Where a labelled image lies: ``data_root`` is the shared data folder (with
    ``gz1_sdss/`` and ``legacy_cutouts/``), ``stellarium_root`` the unpacked
    ``stellarium-data`` package (``scripts/get_stellarium.sh``)."""
    from galseg.data.stellarium import TEXTURES_SUBDIR

    data_root = Path(data_root)
    if source == "gz1_sdss":
        return data_root / "gz1_sdss" / "images" / f"{image_id}.jpeg"
    if source == "legacy":
        return data_root / "legacy_cutouts" / "images" / f"{image_id}_grz.png"
    if source == "stellarium":
        if stellarium_root is None:
            raise ValueError("stellarium images need stellarium_root (the unpacked package)")
        return Path(stellarium_root) / TEXTURES_SUBDIR / f"{image_id}.png"
    raise ValueError(f"source must be one of {EYE_SOURCES}, got {source!r}")


def read_bar_label_image(row: Mapping[str, Any], *, data_root: str | PathLike[str],
                         stellarium_root: str | PathLike[str] | None = None,
                         ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The picture of one label row as the bar finders and the segmenter's training see it,
    and the row's bar end points in that picture's pixels.

    Parameters
    ----------
    row : mapping
        A row of :func:`read_bar_labels` (``source``, ``id``, ``x1`` ... ``y2``).
    data_root, stellarium_root : path
        As for :func:`bar_label_image_path`.

    Returns
    -------
    rgb : ndarray, shape (H, W, 3), uint8
        The image on disk; for GZ1 SDSS its central
        :data:`~galseg.data.gz1.GZ1_SEGMENTER_CROP` pixels (the galaxy is small in the
        423 px frame; the crop ``benchmarks/real_images.py`` and the weak labels use).
    ends : (x1, y1, x2, y2)
        In ``rgb``'s pixels (NaN unless the label is ``bar``).
    """
    path = bar_label_image_path(str(row["source"]), str(row["id"]), data_root=data_root,
                                stellarium_root=stellarium_root)
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise InputFileError(path, f"cannot read the labelled image: {error}") from error
    offset = 0.0
    if row["source"] == "gz1_sdss":
        offset = float((min(rgb.shape[:2]) - GZ1_SEGMENTER_CROP) // 2)
        rgb = central_crop(rgb, GZ1_SEGMENTER_CROP)
    x1, y1, x2, y2 = (float(row[c]) - offset for c in ("x1", "y1", "x2", "y2"))
    return rgb, (x1, y1, x2, y2)


def write_bar_labels(rows: Sequence[dict], path: str | PathLike[str]) -> Table:
    """Write label rows (dicts with :data:`BAR_LABEL_COLUMNS`; ``split`` is filled in from
    the hash when missing) sorted by source and id, and read them back (checked)."""
    records = []
    for row in rows:
        record = {c: row.get(c, "") for c in BAR_LABEL_COLUMNS}
        record["split"] = record["split"] or bar_label_split(record["source"], str(record["id"]))
        for c in ("x1", "y1", "x2", "y2"):
            value = record[c]
            record[c] = "" if value is None or value == "" or not np.isfinite(float(value)) \
                else f"{float(value):.1f}"
        records.append(record)
    records.sort(key=lambda r: (r["source"], str(r["id"])))
    write_eye_labels(path, records, BAR_LABEL_COLUMNS,
                     comment="bar labels by eye (protocol: docs/bar_labels.md)")
    return read_bar_labels(path)


# ---------------------------------------------------------------------------------------
# Figures to label on
# ---------------------------------------------------------------------------------------
def _draw_tile(ax, rgb: np.ndarray, title: str, *, origin: tuple[float, float],
               grid_step: float | None, tick_step: float | None = None,
               bar: tuple[float, float, float, float] | None = None,
               extra_bars: Sequence[tuple[tuple[float, float, float, float], str]] = ()) -> None:
    """One image with its own pixel coordinates on the axes (``origin``: the (x, y) of the
    crop's first pixel in the source image), a grid every ``grid_step`` pixels and bars."""
    height, width = rgb.shape[:2]
    x0, y0 = origin
    ax.imshow(rgb, extent=(x0 - 0.5, x0 + width - 0.5, y0 + height - 0.5, y0 - 0.5),
              interpolation="nearest")
    if grid_step is None:  # a figure to look at, not to label on: no grid, no ticks
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        tick_step = tick_step or grid_step
        first = np.ceil((x0 - 0.5) / grid_step) * grid_step
        for value in np.arange(first, x0 + width, grid_step):
            ax.axvline(value, color="white", lw=0.3, alpha=0.45)
        first = np.ceil((y0 - 0.5) / grid_step) * grid_step
        for value in np.arange(first, y0 + height, grid_step):
            ax.axhline(value, color="white", lw=0.3, alpha=0.45)
        ax.set_xticks(np.arange(np.ceil(x0 / tick_step) * tick_step, x0 + width, tick_step))
        ax.set_yticks(np.arange(np.ceil(y0 / tick_step) * tick_step, y0 + height, tick_step))
        ax.tick_params(labelsize=5, length=2, pad=1)
    for ends, colour in ([(bar, "yellow")] if bar is not None else []) + list(extra_bars):
        if ends is not None and np.isfinite(ends).all():
            ax.plot([ends[0], ends[2]], [ends[1], ends[3]], color=colour, lw=1.0, marker="o",
                    ms=2.5, mfc="none")
    ax.set_xlim(x0 - 0.5, x0 + width - 0.5)
    ax.set_ylim(y0 + height - 0.5, y0 - 0.5)
    ax.set_title(title, fontsize=6, pad=2)


def crop_box(shape: tuple[int, int], centre: tuple[float, float] | None,
             side: int | None) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` of a ``side`` px square around ``centre`` (x, y),
    clipped to the image; the whole image when ``side`` is None."""
    height, width = shape
    if side is None:
        return 0, 0, width, height
    cx, cy = ((width - 1) / 2, (height - 1) / 2) if centre is None else centre
    left = int(np.clip(round(cx - side / 2), 0, max(0, width - side)))
    top = int(np.clip(round(cy - side / 2), 0, max(0, height - side)))
    return left, top, min(width, left + side), min(height, top + side)


def labelling_figure(
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    path: str | PathLike[str],
    *,
    boxes: Sequence[tuple[int, int, int, int] | None] | None = None,
    grid_step: float | None = 16,
    tick_step: float | None = None,
    bars: Sequence[tuple[float, float, float, float] | None] | None = None,
    extra_bars: Sequence[Sequence[tuple[tuple[float, float, float, float], str]]] | None = None,
    ncols: int = 6,
    tile_inches: float = 2.4,
    dpi: int = 110,
) -> Path:
    """A montage of images (or crops of them) with their source pixel coordinates on the
    axes and a grid: the figure bars are labelled on (``scripts/label_bars.py``).

    Parameters
    ----------
    images : sequence of ndarray (H, W, 3)
        Whole source images (uint8 or float in [0, 1]).
    titles : sequence of str
        One per image (the id).
    path : path
        PNG written.
    boxes : sequence of (left, top, right, bottom) or None
        The crop shown of each image (:func:`crop_box`); None: all of it. Axis
        coordinates stay those of the whole source image.
    grid_step, tick_step : float
        Grid lines and labelled ticks every this many source pixels; ``grid_step=None``:
        neither (a figure to look at).
    bars : sequence of (x1, y1, x2, y2) or None
        Bars drawn in yellow (labels being checked).
    extra_bars : sequence of lists of ((x1, y1, x2, y2), colour)
        More lines per image (e.g. measured bars in other colours).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    if n == 0 or len(titles) != n:
        raise ValueError("give one title per image and at least one image")
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(tile_inches * ncols,
                                                    (tile_inches + 0.15) * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (image, title) in enumerate(zip(images, titles, strict=True)):
        ax = axes.ravel()[k]
        ax.axis("on")
        rgb = np.asarray(image)
        box = (boxes[k] if boxes is not None else None) or (0, 0, rgb.shape[1], rgb.shape[0])
        left, top, right, bottom = box
        _draw_tile(ax, rgb[top:bottom, left:right], title, origin=(left, top),
                   grid_step=grid_step, tick_step=tick_step,
                   bar=bars[k] if bars is not None else None,
                   extra_bars=extra_bars[k] if extra_bars is not None else ())
    fig.tight_layout(pad=0.3, h_pad=0.4, w_pad=0.2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


__all__ = ["BAR_LABELS_PATH", "BAR_LABEL_COLUMNS", "EYE_LABELS", "EYE_SOURCES",
           "bar_label_image_path", "bar_label_split", "crop_box", "labelling_figure",
           "read_bar_label_image", "read_bar_labels", "write_bar_labels"]
