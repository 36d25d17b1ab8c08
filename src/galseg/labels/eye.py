"""Labels made by eye: montages to look at, and the CSV files the labels live in.

Real galaxies come without pixel truth, so galseg's real-image scores rest on
labels made by looking at the images, as the papers' authors did. This module
makes what a labeller looks at and reads back what they wrote:

* :func:`montage` puts many images in one picture, each with its index, a faint
  pixel grid (every ``grid_px`` pixels, to read positions off) and optionally tick
  marks around a position of interest (the catalog position of a cutout), drawn
  so that they never cover the pixels they point at.
* :func:`read_eye_labels` / :func:`write_eye_labels` keep labels as a plain CSV of
  ids and labels (never images), checked against the allowed label values.

The protocols for each kind of label are in ``docs/`` (``docs/shreds.md`` for
shred labels).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from galseg.errors import InputFileError


def montage(
    images: Sequence[np.ndarray],
    captions: Sequence[str],
    *,
    ncols: int = 8,
    zoom: int = 1,
    grid_px: int | None = 16,
    mark: Sequence[tuple[float, float] | None] | None = None,
    mark_gap_px: float = 6.0,
    caption_height: int = 14,
    pad: int = 4,
) -> np.ndarray:
    """Lay images out in a grid, each with a caption above it.

    Parameters
    ----------
    images : sequence of ndarray, each (H, W, 3) uint8 or float in [0, 1]
        The pictures; they may differ in size (each cell is as big as the largest).
    captions : sequence of str
        One caption per image (its index or id).
    ncols : int
        Images per row.
    zoom : int
        Each image pixel becomes ``zoom x zoom`` montage pixels (nearest neighbour,
        so single pixels stay visible).
    grid_px : int or None
        Draw a faint grid line every ``grid_px`` image pixels (None: no grid).
    mark : sequence of (x, y) or None, optional
        A position to point at in each image, in that image's pixels (x column,
        y row, pixel centres at integers): four ticks around it with a gap of
        ``mark_gap_px`` image pixels, so the marked pixels stay visible.
    mark_gap_px : float
        Radius left free around the marked position.
    caption_height, pad : int
        Montage pixels for the caption line and between cells.

    Returns
    -------
    ndarray, shape (rows * cell_h, ncols * cell_w, 3), uint8
    """
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions")
    if mark is not None and len(mark) != len(images):
        raise ValueError(f"{len(images)} images but {len(mark)} marks")
    if not images:
        raise ValueError("no images to lay out")
    zoom = int(zoom)
    if zoom < 1:
        raise ValueError(f"zoom must be >= 1, got {zoom}")
    pictures = [_as_uint8(image) for image in images]
    cell_h = max(p.shape[0] for p in pictures) * zoom
    cell_w = max(p.shape[1] for p in pictures) * zoom
    ncols = max(1, min(int(ncols), len(pictures)))
    nrows = -(-len(pictures) // ncols)
    height = nrows * (cell_h + caption_height + pad) + pad
    width = ncols * (cell_w + pad) + pad
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for k, (picture, caption) in enumerate(zip(pictures, captions, strict=True)):
        row, col = divmod(k, ncols)
        x0 = pad + col * (cell_w + pad)
        y0 = pad + row * (cell_h + caption_height + pad) + caption_height
        enlarged = picture.repeat(zoom, axis=0).repeat(zoom, axis=1)
        if grid_px:
            enlarged = _with_grid(enlarged, grid_px * zoom)
        canvas.paste(Image.fromarray(enlarged), (x0, y0))
        draw.text((x0 + 1, y0 - caption_height + 1), str(caption), fill=(0, 0, 0))
        position = None if mark is None else mark[k]
        if position is not None:
            _ticks(draw, x0, y0, position, zoom, mark_gap_px)
    return np.asarray(canvas)


def _as_uint8(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"images must be (H, W, 3) or (H, W), got {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(array.astype(np.float32)) * 255.0 + 0.5, 0, 255)
        array = array.astype(np.uint8)
    return array


def _with_grid(picture: np.ndarray, step: int) -> np.ndarray:
    # faint: a 35% blend towards grey keeps the pixels under the line readable
    out = picture.astype(np.float32)
    grey = np.float32(128.0)
    out[::step, :] = 0.65 * out[::step, :] + 0.35 * grey
    out[:, ::step] = 0.65 * out[:, ::step] + 0.35 * grey
    return out.astype(np.uint8)


def _ticks(draw: ImageDraw.ImageDraw, x0: int, y0: int, position: tuple[float, float],
           zoom: int, gap: float) -> None:
    # pixel (x, y) covers montage pixels [x*zoom, (x+1)*zoom): its centre is (x+0.5)*zoom
    cx = x0 + (float(position[0]) + 0.5) * zoom
    cy = y0 + (float(position[1]) + 0.5) * zoom
    inner, outer = gap * zoom, (gap + 5) * zoom
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        draw.line([(cx + dx * inner, cy + dy * inner), (cx + dx * outer, cy + dy * outer)],
                  fill=(255, 255, 0), width=max(1, zoom // 2))


def read_eye_labels(path: str | PathLike[str], *, allowed: Sequence[str],
                    label_column: str = "label") -> list[dict[str, str]]:
    """Read an eye-label CSV: one row per labelled object, ids kept as text.

    Parameters
    ----------
    path : path-like
        CSV with a header line; lines starting with ``#`` are comments.
    allowed : sequence of str
        The label values the protocol allows; any other value is an error.
    label_column : str
        The column holding the label.

    Returns
    -------
    list of dict
        One dict per row, column name -> text.
    """
    path = Path(path)
    try:
        with path.open(newline="") as handle:
            lines = [line for line in handle if not line.lstrip().startswith("#")]
    except OSError as exc:
        raise InputFileError(path, f"cannot read eye labels ({exc.strerror})") from None
    rows = list(csv.DictReader(lines))
    if rows and label_column not in rows[0]:
        raise InputFileError(path, f"no {label_column!r} column")
    bad = sorted({row[label_column] for row in rows} - set(allowed))
    if bad:
        raise InputFileError(path, f"labels {bad} are not among {list(allowed)}")
    return rows


def write_eye_labels(path: str | PathLike[str], rows: Sequence[dict[str, object]],
                     columns: Sequence[str], *, comment: str = "") -> Path:
    """Write eye labels as CSV (``comment`` lines first, prefixed with ``#``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        for line in comment.splitlines():
            handle.write(f"# {line}\n".replace("# \n", "#\n"))
        writer = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path
