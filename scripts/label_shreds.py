"""Label the Legacy cutouts as shred / galaxy / star / unclear by eye (docs/shreds.md).

Two steps::

    # 1. pages to look at: 48 cutouts each, index and id above each, a 16 px grid,
    #    yellow ticks around the catalog position (the cutout centre)
    python scripts/label_shreds.py pages --data ../shared/data/legacy_cutouts \
        --out /tmp/shred_pages [--zoom 1] [--per-page 48]

    # 2. after writing one line of codes per page into CODES (see below):
    python scripts/label_shreds.py collect --data ../shared/data/legacy_cutouts \
        --codes CODES --out src/galseg/data/eye_labels/legacy_shreds.csv

CODES has one line per page, ``<page>: <code> <code> ...`` with one code per cutout
in page order: ``g`` galaxy, ``s`` shred, ``*`` star, ``u`` unclear. ``collect``
checks the counts, adds each row's sky-position split (train / calibration / test,
:func:`galseg.training.shreds.sky_split`) and writes the label CSV (ids, positions,
labels; no pixels).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
from astropy.table import Table
from PIL import Image

from galseg.labels.eye import montage, write_eye_labels
from galseg.training.shreds import REAL_LABEL_CODES, sky_split


def _catalog(data: Path) -> Table:
    table = Table.read(data / "catalog.fits")
    table.sort("objID")
    return table


def pages(data: Path, out: Path, per_page: int, zoom: int) -> None:
    table = _catalog(data)
    out.mkdir(parents=True, exist_ok=True)
    ids = [str(v) for v in table["objID"]]
    for page, start in enumerate(range(0, len(ids), per_page)):
        chunk = ids[start:start + per_page]
        images = [np.asarray(Image.open(data / "images" / f"{i}_grz.png").convert("RGB"))
                  for i in chunk]
        marks = [(im.shape[1] // 2, im.shape[0] // 2) for im in images]
        captions = [f"{k} {i[-6:]}" for k, i in enumerate(chunk)]
        picture = montage(images, captions, ncols=8, zoom=zoom, grid_px=16, mark=marks)
        Image.fromarray(picture).save(out / f"page{page:02d}.png")
    print(f"{len(ids)} cutouts on {page + 1} pages in {out}")


def collect(data: Path, codes_path: Path, out: Path, per_page: int) -> None:
    table = _catalog(data)
    ids = [str(v) for v in table["objID"]]
    labels: dict[int, str] = {}
    for line in codes_path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"(\d+)\s*:\s*(.*)", line)
        if match is None:
            raise SystemExit(f"bad line in {codes_path}: {line!r}")
        page, codes = int(match.group(1)), match.group(2).split()
        expected = len(ids[page * per_page:(page + 1) * per_page])
        if len(codes) != expected:
            raise SystemExit(f"page {page}: {len(codes)} codes, {expected} cutouts")
        for k, code in enumerate(codes):
            if code not in REAL_LABEL_CODES:
                raise SystemExit(f"page {page} cutout {k}: unknown code {code!r}")
            labels[page * per_page + k] = REAL_LABEL_CODES[code]
    split = sky_split(np.asarray(table["ra"], float), np.asarray(table["dec"], float))
    rows = [{"objID": ids[i], "ra": f"{table['ra'][i]:.6f}", "dec": f"{table['dec'][i]:.6f}",
             "label": labels[i], "split": split[i]} for i in sorted(labels)]
    write_eye_labels(out, rows, ["objID", "ra", "dec", "label", "split"], comment=(
        "Legacy DR9 cutouts (../shared/data/legacy_cutouts) labelled by eye by the\n"
        "protocol in docs/shreds.md; split by sky position (sky_split)."))
    counts = {name: sum(r["label"] == name for r in rows) for name in sorted(
        set(REAL_LABEL_CODES.values()))}
    print(f"{len(rows)} labels -> {out}: {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="step", required=True)
    for name in ("pages", "collect"):
        step = sub.add_parser(name)
        step.add_argument("--data", type=Path, default=Path("../shared/data/legacy_cutouts"))
        step.add_argument("--out", type=Path, required=True)
        step.add_argument("--per-page", type=int, default=48)
        if name == "pages":
            step.add_argument("--zoom", type=int, default=1)
        else:
            step.add_argument("--codes", type=Path, required=True)
    args = parser.parse_args()
    if args.step == "pages":
        pages(args.data, args.out, args.per_page, args.zoom)
    else:
        collect(args.data, args.codes, args.out, args.per_page)


if __name__ == "__main__":
    main()
