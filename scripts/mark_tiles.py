"""Cut a picture into zoomed, grid-labelled tiles for marking galaxies by eye.

Usage::

    python scripts/mark_tiles.py PICTURE --out DIR [--field NAME] [--tile 250] [--zoom 3]
        [--gain 1] [--marks MARKS.csv] [--propose DRAFT.csv --min-size 12]
        [--detections CATALOG.csv]

PICTURE is any image galseg reads (JPEG/PNG/FITS) or ``hdf`` for scikit-image's Hubble
deep field. Writes ``DIR/<field>_x<x0>_y<y0>.png``: each tile at ``--zoom`` screen pixels
per field pixel, a faint grid line through every 10th pixel centre and a labelled one
every 50 (coordinates are 0-based field pixels, x = column). With ``--marks``, the
field's marks are drawn (circle of the marked size in the class colour, and the id) so
they can be checked; with ``--detections`` (a ``galseg detect`` catalog), the boxes.

``--propose`` writes a draft marks CSV for the field from a classical extraction (sep,
3 sigma, sources whose segment spans at least ``--min-size`` px), every row class
``unclear``, part ``tune``: a list to check tile by tile, not marks. The protocol
(docs/detection_marks.md) says what to keep, fix and add.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy import ndimage

from galseg.data.images import read_image
from galseg.labels.eye_marks import field_marks, marking_tiles, read_marks, write_marks


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
    args = parser.parse_args()

    field = args.field or Path(args.picture).stem
    rgb = load_picture(args.picture)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.propose:
        draft = propose(rgb, field, args.min_size)
        write_marks(draft, args.propose)
        print(f"{len(draft)} draft marks -> {args.propose}")
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
