"""Cut a picture into zoomed, grid-labelled tiles for marking galaxies by eye.

Usage::

    python scripts/mark_tiles.py PICTURE --out DIR [--field NAME] [--tile 250] [--zoom 3]
        [--gain 1] [--marks MARKS.csv] [--propose DRAFT.csv --min-size 12]
        [--detections CATALOG.csv]
    python scripts/mark_tiles.py PICTURE --out DIR --field NAME --propose DRAFT.csv
        --min-size 8 --max-size 18 --unmarked MARKS.csv --montage

PICTURE is any image galseg reads (JPEG/PNG/FITS) or ``hdf`` for scikit-image's Hubble
deep field. Writes ``DIR/<field>_x<x0>_y<y0>.png``: each tile at ``--zoom`` screen pixels
per field pixel, a faint grid line through every 10th pixel centre and a labelled one
every 50 (coordinates are 0-based field pixels, x = column). With ``--marks``, the
field's marks are drawn (circle of the marked size in the class colour, and the id) so
they can be checked; with ``--detections`` (a ``galseg detect`` catalog), the boxes.

``--propose`` writes a draft marks CSV for the field from a classical extraction (sep,
3 sigma, sources whose segment spans at least ``--min-size`` px), every row class
``unclear``, part ``tune``: a list to check tile by tile, not marks. The protocol
(docs/detection_marks.md) says what to keep, fix and add. ``--max-size`` caps the
sources' extent and ``--unmarked MARKS.csv`` leaves out sources inside a mark already made
(the circle of its size): the draft of the `small` class. ``--montage`` also writes
``DIR/<field>_candidates_<k>.png``: each draft source in its own numbered square (its
circle drawn, zoomed), 48 a sheet, to judge one by one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy import ndimage

from galseg.data.images import read_image
from galseg.evaluate.real_fields import inside_mark_circles
from galseg.labels.eye_marks import (
    display_uint8,
    field_marks,
    marking_tiles,
    read_marks,
    write_marks,
)


def load_picture(source: str) -> np.ndarray:
    if source == "hdf":
        from skimage.data import hubble_deep_field
        return hubble_deep_field()
    return read_image(source).rgb


def propose(rgb: np.ndarray, field: str, min_size: float) -> Table:
    """Draft marks from sep: one row per source whose segment spans >= ``min_size`` px."""
    from galseg.predict.classical import extract_sources
    grey = np.asarray(rgb, np.float32).mean(axis=2)
    found = extract_sources(grey, threshold_sigma=3.0, min_area=8)
    slices = ndimage.find_objects(found.segmentation)
    rows = []
    for source in found.catalog:
        window = slices[int(source["label"]) - 1]
        extent = max(window[0].stop - window[0].start, window[1].stop - window[1].start)
        if extent >= min_size:
            rows.append((field, len(rows) + 1, round(float(source["x"]), 1),
                         round(float(source["y"]), 1), float(extent), "unclear", "tune", ""))
    return Table(rows=rows or None, names=("field", "id", "x", "y", "size_px", "class",
                                           "part", "note"),
                 dtype=(str, int, float, float, float, str, str, str))


def unmarked(draft: Table, marks: Table) -> Table:
    """The draft rows whose centre is outside every mark's circle (as the scoring's
    neutral marks: :func:`galseg.evaluate.real_fields.inside_mark_circles`)."""
    if not len(marks) or not len(draft):
        return draft
    xy = np.column_stack([np.asarray(draft["x"], float), np.asarray(draft["y"], float)])
    kept = draft[~inside_mark_circles(xy, marks)]
    kept["id"] = np.arange(1, len(kept) + 1)
    return kept


def montage(rgb: np.ndarray, draft: Table, out: Path, field: str, *, cell: int = 160,
            half_width: int = 20, per_sheet: int = 48) -> list[Path]:
    """Sheets of numbered squares, one per draft row, centred on it (module docstring)."""
    from PIL import Image, ImageDraw
    height, width = rgb.shape[:2]
    padded = np.pad(display_uint8(rgb),
                    ((half_width, half_width), (half_width, half_width), (0, 0)))
    scale = cell / (2 * half_width)
    written = []
    for first in range(0, len(draft), per_sheet):
        rows = draft[first:first + per_sheet]
        columns = 8
        sheet = Image.new("RGB", (columns * (cell + 4), -(-len(rows) // columns) * (cell + 4)))
        for k, row in enumerate(rows):
            x, y = int(np.rint(row["x"])), int(np.rint(row["y"]))
            x, y = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
            square = Image.fromarray(padded[y:y + 2 * half_width, x:x + 2 * half_width]
                                     ).resize((cell, cell), Image.NEAREST)
            draw = ImageDraw.Draw(square)
            r = row["size_px"] / 2 * scale
            c = cell / 2 + (row["x"] - x) * scale, cell / 2 + (row["y"] - y) * scale
            draw.ellipse((c[0] - r, c[1] - r, c[0] + r, c[1] + r), outline=(255, 255, 0))
            draw.text((3, 2), f"{int(row['id'])}  {row['size_px']:.0f}px", fill=(255, 255, 0))
            sheet.paste(square, ((k % columns) * (cell + 4), (k // columns) * (cell + 4)))
        path = out / f"{field}_candidates_{first // per_sheet + 1}.png"
        sheet.save(path)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("picture")
    parser.add_argument("--out", required=True)
    parser.add_argument("--field", default=None, help="field name (default: the file stem)")
    parser.add_argument("--tile", type=int, default=250)
    parser.add_argument("--zoom", type=int, default=3)
    parser.add_argument("--gain", type=float, default=1.0)
    parser.add_argument("--marks", default=None)
    parser.add_argument("--detections", default=None)
    parser.add_argument("--propose", default=None)
    parser.add_argument("--min-size", type=float, default=12.0)
    parser.add_argument("--max-size", type=float, default=np.inf)
    parser.add_argument("--unmarked", default=None,
                        help="leave sources inside these marks out of the draft")
    parser.add_argument("--montage", action="store_true",
                        help="also write numbered squares of the draft sources")
    args = parser.parse_args()

    field = args.field or Path(args.picture).stem
    rgb = load_picture(args.picture)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.propose:
        draft = propose(rgb, field, args.min_size)
        draft = draft[np.asarray(draft["size_px"]) < args.max_size]
        if args.unmarked:
            draft = unmarked(draft, field_marks(read_marks(args.unmarked), field))
        write_marks(draft, args.propose)
        print(f"{len(draft)} draft marks -> {args.propose}")
        if args.montage:
            for path in montage(rgb, draft, out, field):
                print(f"candidates -> {path}")
    marks = field_marks(read_marks(args.marks), field) if args.marks else None
    boxes = None
    if args.detections:
        catalog = Table.read(args.detections, format="ascii.csv")
        catalog = catalog[np.asarray(catalog["name"], str) == field]
        boxes = np.column_stack([catalog[c] for c in ("bbox_x0", "bbox_y0", "bbox_x1",
                                                      "bbox_y1")])
    n = 0
    for tile in marking_tiles(rgb, tile=args.tile, zoom=args.zoom, gain=args.gain,
                              marks=marks, boxes=boxes):
        tile.image.save(out / f"{field}_{tile.name}.png")
        n += 1
    print(f"{n} tiles -> {out}")


if __name__ == "__main__":
    main()
