"""Galaxies marked by eye on real images: the marks table and the tiles to mark them on.

No pixel labels of real fields can be downloaded here, so real fields are marked by
looking at them (the protocol is in ``docs/detection_marks.md``): every galaxy at least
:data:`MIN_MARK_SIZE_PX` across gets one row with its centre, its size and a class.
:func:`marking_tiles` cuts a picture into zoomed tiles with a labelled pixel grid (and,
to check them, the marks already made), which a file viewer shows.

Marks table (CSV, one row per mark; :func:`read_marks`, :func:`write_marks`):

============  =====================================================================
column        meaning
============  =====================================================================
``field``     name of the picture (``hdf``, ``m51``, ``gz1_field_3``, ...)
``id``        number of the mark in its field (1, 2, ...)
``x``, ``y``  centre of the galaxy's light, 0-based pixels of the field as marked
              (x = column; pixel ``(i, j)`` is centred at ``x = j, y = i``)
``size_px``   the galaxy's extent across its longest axis, to where its light
              meets the sky, in the same pixels
``class``     ``spiral``, ``elliptical``, ``unclear`` (a galaxy whose class the eye
              cannot tell), ``star`` (a bright star or an artefact marked so that
              a detection of it is neither right nor wrong), or ``small`` (a galaxy
              below the marking size; a detection of it is neither right nor wrong,
              and completeness does not count it)
``part``      ``tune`` or ``test``: which marks may be used to choose settings
``note``      free text (empty allowed)
============  =====================================================================
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike

import numpy as np
from astropy.table import Table
from PIL import Image, ImageDraw

MIN_MARK_SIZE_PX = 15.0
"""Galaxies at least this many pixels across are marked."""
MARK_CLASSES = ("spiral", "elliptical", "unclear", "star", "small")
GALAXY_MARK_CLASSES = ("spiral", "elliptical", "unclear")
"""Marks that are galaxies (completeness counts them)."""
PARTS = ("tune", "test")
MARK_COLUMNS = ("field", "id", "x", "y", "size_px", "class", "part", "note")
MARK_COLOURS = {"spiral": (80, 170, 255), "elliptical": (255, 170, 60),
                "unclear": (120, 255, 120), "star": (230, 230, 230),
                "small": (150, 150, 150)}


def check_marks(marks: Table) -> Table:
    """The marks table with typed columns; ValueError naming the first bad row."""
    missing = [c for c in MARK_COLUMNS if c not in marks.colnames and c != "note"]
    if missing:
        raise ValueError(f"marks table lacks columns {missing}")
    out = Table()
    out["field"] = np.asarray(marks["field"], dtype=str)
    out["id"] = np.asarray(marks["id"], dtype=np.int64)
    for name in ("x", "y", "size_px"):
        out[name] = np.asarray(marks[name], dtype=np.float64)
    out["class"] = np.char.strip(np.char.lower(np.asarray(marks["class"], dtype=str)))
    out["part"] = np.char.strip(np.char.lower(np.asarray(marks["part"], dtype=str)))
    notes = [""] * len(marks)
    if "note" in marks.colnames:  # empty cells read back as masked
        hidden = np.ma.getmaskarray(marks["note"])
        notes = ["" if h else str(v) for v, h in zip(marks["note"], hidden, strict=True)]
    out["note"] = np.array(notes, dtype=str) if notes else np.zeros(0, dtype=str)
    for i, row in enumerate(out):
        where = f"marks row {i + 1} ({row['field']} #{int(row['id'])})"
        if row["class"] not in MARK_CLASSES:
            raise ValueError(f"{where}: class {str(row['class'])!r} is not one of {MARK_CLASSES}")
        if row["part"] not in PARTS:
            raise ValueError(f"{where}: part {str(row['part'])!r} is not one of {PARTS}")
        if not (np.isfinite(row["x"]) and np.isfinite(row["y"])
                and np.isfinite(row["size_px"]) and row["size_px"] > 0):
            raise ValueError(f"{where}: x, y and a positive size_px are needed")
    keys = [(f, int(i)) for f, i in zip(out["field"], out["id"], strict=True)]
    if len(set(keys)) != len(keys):
        raise ValueError("marks table repeats a (field, id) pair")
    return out


def read_marks(path: str | PathLike[str]) -> Table:
    """Read and check a marks CSV (module docstring)."""
    return check_marks(Table.read(path, format="ascii.csv"))


def write_marks(marks: Table, path: str | PathLike[str]) -> None:
    """Write a marks table as CSV, columns in the documented order."""
    checked = check_marks(marks)
    checked[list(MARK_COLUMNS)].write(path, format="ascii.csv", overwrite=True)


def field_marks(marks: Table, field: str, *, part: str | None = None) -> Table:
    """The rows of one field (and one part, if given)."""
    keep = np.asarray(marks["field"]) == field
    if part is not None:
        keep &= np.asarray(marks["part"]) == part
    return marks[keep]


@dataclass(frozen=True)
class MarkingTile:
    """One zoomed tile: its top-left pixel in the field and the picture to look at."""

    x0: int
    y0: int
    image: Image.Image

    @property
    def name(self) -> str:
        return f"x{self.x0:05d}_y{self.y0:05d}"


def display_uint8(rgb: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """The picture as 8-bit RGB for looking at: uint8 kept, float in [0, 1] scaled, NaN
    black; ``gain`` > 1 brightens faint light (asinh)."""
    array = np.asarray(rgb)
    picture = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    if gain != 1.0:  # asinh brightening of faint light, 0 and 1 kept
        picture = np.arcsinh(gain * picture) / np.arcsinh(gain)
    return (np.clip(np.nan_to_num(picture), 0, 1) * 255 + 0.5).astype(np.uint8)


def marking_tiles(rgb: np.ndarray, *, tile: int = 200, zoom: int = 3, grid: int = 10,
                  label_every: int = 50, gain: float = 1.0, marks: Table | None = None,
                  boxes: Sequence[Sequence[float]] | None = None,
                  overlap: int = 20) -> Iterator[MarkingTile]:
    """Cut a picture into zoomed tiles with a labelled pixel grid, for marking by eye.

    Parameters
    ----------
    rgb : ndarray, (H, W, 3)
        uint8, or float in [0, 1].
    tile : int
        Tile side in field pixels; neighbouring tiles overlap by ``overlap``.
    zoom : int
        Screen pixels per field pixel (nearest neighbour: pixels stay visible).
    grid, label_every : int
        A faint line through the centres of every ``grid``-th column and row, a brighter
        one with its coordinate written in the margin every ``label_every``.
    gain : float
        Asinh brightening of faint light (1: the picture as it is).
    marks : Table, optional
        Marks to draw (circle of diameter ``size_px`` in the class colour, with the id).
    boxes : (N, 4), optional
        Boxes ``x0, y0, x1, y1`` (e.g. detections) drawn as thin red rectangles.
    overlap : int

    Yields
    ------
    MarkingTile
    """
    picture = display_uint8(rgb, gain)
    if picture.ndim != 3 or picture.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got shape {picture.shape}")
    if tile < 1 or zoom < 1 or grid < 1 or not 0 <= overlap < tile:
        raise ValueError("tile, zoom and grid must be positive and overlap in [0, tile)")
    height, width = picture.shape[:2]
    margin = 34
    step = tile - overlap
    for y0 in range(0, max(height - overlap, 1), step):
        for x0 in range(0, max(width - overlap, 1), step):
            crop = picture[y0:y0 + tile, x0:x0 + tile]
            h, w = crop.shape[:2]
            canvas = Image.new("RGB", (w * zoom + margin, h * zoom + margin), (40, 40, 40))
            canvas.paste(Image.fromarray(crop).resize((w * zoom, h * zoom), Image.NEAREST),
                         (margin, margin))
            draw = ImageDraw.Draw(canvas)

            def screen(x: float, y: float, x0: int = x0, y0: int = y0) -> tuple[float, float]:
                return margin + (x - x0 + 0.5) * zoom, margin + (y - y0 + 0.5) * zoom

            for value in range(x0 + (-x0) % grid, x0 + w, grid):
                sx, _ = screen(value, 0)
                strong = value % label_every == 0
                draw.line([(sx, margin), (sx, margin + h * zoom)],
                          fill=(110, 110, 160) if strong else (55, 55, 80))
                if strong:
                    draw.text((sx - 8, 4), str(value), fill=(255, 255, 255))
            for value in range(y0 + (-y0) % grid, y0 + h, grid):
                _, sy = screen(0, value)
                strong = value % label_every == 0
                draw.line([(margin, sy), (margin + w * zoom, sy)],
                          fill=(110, 110, 160) if strong else (55, 55, 80))
                if strong:
                    draw.text((2, sy - 5), str(value), fill=(255, 255, 255))
            for box in boxes if boxes is not None else ():
                bx0, by0 = screen(box[0] - 0.5, box[1] - 0.5)
                bx1, by1 = screen(box[2] - 0.5, box[3] - 0.5)
                draw.rectangle([bx0, by0, bx1, by1], outline=(255, 60, 60))
            if marks is not None:
                for row in marks:
                    x, y, r = float(row["x"]), float(row["y"]), float(row["size_px"]) / 2
                    if not (x0 - r <= x < x0 + w + r and y0 - r <= y < y0 + h + r):
                        continue
                    sx, sy = screen(x, y)
                    colour = MARK_COLOURS.get(str(row["class"]), (255, 255, 255))
                    draw.ellipse([sx - r * zoom, sy - r * zoom, sx + r * zoom, sy + r * zoom],
                                 outline=colour)
                    draw.line([(sx - 3, sy), (sx + 3, sy)], fill=colour)
                    draw.line([(sx, sy - 3), (sx, sy + 3)], fill=colour)
                    draw.text((sx + r * zoom * 0.7 + 2, sy - r * zoom * 0.7 - 10),
                              str(int(row["id"])), fill=colour)
            yield MarkingTile(x0, y0, canvas)
