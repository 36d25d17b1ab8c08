"""The helper for labelling bars by eye (protocol: docs/bar_labels.md).

Subcommands::

    # which images to look at, biggest galaxies first (writes a text list of ids)
    python scripts/label_bars.py candidates --source legacy --out runs/eye/legacy_ids.txt
    # montages with the source image's pixel grid and ids, 30 a page
    python scripts/label_bars.py montage --source legacy --ids runs/eye/legacy_ids.txt \\
        --out runs/eye/legacy --per-page 30
    # bigger crops of chosen galaxies with a finer grid, to place the bar's end points
    python scripts/label_bars.py zoom --source legacy --id 1237648702982193340 \\
        --side 64 --grid 4 --out runs/eye/zoom.png
    # notes written while looking ("source id bar x1 y1 x2 y2 [note]", "source id nobar",
    # "source id unclear - - - - why") -> the label table, split filled in, checked
    python scripts/label_bars.py build --notes runs/eye/notes.txt \
        --out eye_labels/bar_labels.csv
    # the labels drawn back on the images, to check them
    python scripts/label_bars.py check --labels eye_labels/bar_labels.csv \\
        --out runs/eye/check

Images are read from ``--data`` (the shared data folder, default ../shared/data) and
``--stellarium`` (the unpacked stellarium-data package, scripts/get_stellarium.sh).
Nothing is written into the repository unless ``--out`` points there; the figures
belong under a scratch folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from galseg.data.bar_labels import (
    EYE_SOURCES,
    bar_label_image_path,
    crop_box,
    labelling_figure,
    read_bar_labels,
    write_bar_labels,
)
from galseg.data.gz1 import central_object_mask
from galseg.data.stellarium import read_stellarium_textures

GZ1_SPIRAL_CLASSES = (1, 2)


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def candidate_ids(source: str, data: Path, stellarium: Path | None) -> list[tuple[str, int]]:
    """(id, size of the central object in pixels), biggest first; GZ1: spirals only."""
    if source == "stellarium":
        table = read_stellarium_textures(stellarium)
        return [(Path(f).stem, 0) for f in table["file"]]
    if source == "gz1_sdss":
        import csv

        with open(data / "gz1_sdss" / "labels.csv") as stream:
            ids = [r["objid"] for r in csv.DictReader(stream)
                   if int(r["gz1_class"]) in GZ1_SPIRAL_CLASSES]
    else:
        ids = sorted(p.name[:-len("_grz.png")]
                     for p in (data / "legacy_cutouts" / "images").glob("*_grz.png"))
    sized = []
    for image_id in ids:
        rgb = load_rgb(bar_label_image_path(source, image_id, data_root=data))
        sized.append((image_id, int(central_object_mask(rgb).sum())))
    return sorted(sized, key=lambda item: -item[1])


def _ids(argument: list[str]) -> list[str]:
    ids: list[str] = []
    for item in argument:
        path = Path(item)
        if path.is_file():
            ids += [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
        else:
            ids.append(item)
    return ids


def read_notes(path: Path) -> list[dict]:
    """Label notes, one a line: ``SOURCE ID bar X1 Y1 X2 Y2 [NOTE...]``, ``SOURCE ID nobar
    [NOTE...]`` or ``SOURCE ID unclear [- - - -] [NOTE...]``; a later line for the same
    image replaces an earlier one."""
    rows: dict[tuple[str, str], dict] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) < 3:
            raise SystemExit(f"{path}:{number}: give SOURCE ID LABEL ...")
        source, image_id, label = words[:3]
        row = dict(id=image_id, source=source, label=label)
        rest = words[3:]
        if label == "bar":
            if len(rest) < 4:
                raise SystemExit(f"{path}:{number}: a bar needs X1 Y1 X2 Y2")
            row.update(zip(("x1", "y1", "x2", "y2"), rest[:4], strict=True))
            rest = rest[4:]
        elif rest[:4] == ["-"] * 4:
            rest = rest[4:]
        row["note"] = " ".join(rest)
        rows[(source, image_id)] = row
    return list(rows.values())


def _crop_item(item: str) -> tuple[str, tuple[float, float] | None, int | None]:
    """``ID``, ``ID:X,Y`` or ``ID:X,Y,SIDE`` -> (id, crop centre, crop side)."""
    image_id, _, where = item.partition(":")
    if not where:
        return image_id, None, None
    numbers = [float(v) for v in where.split(",")]
    if len(numbers) not in (2, 3):
        raise SystemExit(f"{item!r}: give ID, ID:X,Y or ID:X,Y,SIDE")
    return image_id, (numbers[0], numbers[1]), int(numbers[2]) if len(numbers) == 3 else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--stellarium", type=Path, default=None,
                        help="the unpacked stellarium-data package (scripts/get_stellarium.sh)")
    sub = parser.add_subparsers(dest="command", required=True)
    cand = sub.add_parser("candidates", help="list ids to look at, biggest galaxies first")
    cand.add_argument("--source", choices=EYE_SOURCES, required=True)
    cand.add_argument("--out", type=Path, required=True)
    mont = sub.add_parser("montage", help="pages of images with a pixel grid and ids")
    zoom = sub.add_parser("zoom", help="bigger crops with a finer grid")
    for p in (mont, zoom):
        p.add_argument("--source", choices=EYE_SOURCES, required=True)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--side", type=int, default=None,
                       help="crop this many source pixels around the centre (default: "
                            "GZ1 141, others the whole image)")
        p.add_argument("--grid", type=float, default=None, help="grid step in source pixels")
    mont.add_argument("--ids", nargs="+", required=True,
                      help="ids (or ID:X,Y,SIDE) or files listing them")
    mont.add_argument("--per-page", type=int, default=30)
    mont.add_argument("--first-page", type=int, default=0)
    mont.add_argument("--ncols", type=int, default=6)
    zoom.add_argument("--id", nargs="+", required=True, dest="ids",
                      help="ID, ID:X,Y (crop centre) or ID:X,Y,SIDE")
    zoom.add_argument("--centre", type=float, nargs=2, default=None, metavar=("X", "Y"),
                      help="crop centre in source pixels (default: the image centre)")
    build = sub.add_parser("build", help="notes (one label a line) -> the label table")
    build.add_argument("--notes", type=Path, required=True)
    build.add_argument("--out", type=Path, required=True)
    check = sub.add_parser("check", help="labels drawn on their images")
    check.add_argument("--labels", type=Path, required=True)
    check.add_argument("--out", type=Path, required=True)
    check.add_argument("--label", default="bar", help="which label to draw (default bar)")
    args = parser.parse_args(argv)

    if args.command == "build":
        table = write_bar_labels(read_notes(args.notes), args.out)
        for split in ("train", "test"):
            part = table[table["split"] == split]
            print(f"{split}: " + ", ".join(f"{(part['label'] == k).sum()} {k}"
                                           for k in ("bar", "nobar", "unclear")))
        return

    if args.command == "candidates":
        found = candidate_ids(args.source, args.data, args.stellarium)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(f"{i} {n}\n" for i, n in found))
        print(f"{len(found)} ids -> {args.out}")
        return

    def image_of(source: str, image_id: str) -> np.ndarray:
        return load_rgb(bar_label_image_path(source, image_id, data_root=args.data,
                                             stellarium_root=args.stellarium))

    if args.command == "check":
        table = read_bar_labels(args.labels)
        table = table[table["label"] == args.label]
        args.out.mkdir(parents=True, exist_ok=True)
        for page, start in enumerate(range(0, len(table), 24)):
            rows = table[start:start + 24]
            images = [image_of(r["source"], r["id"]) for r in rows]
            boxes = []
            for r, rgb in zip(rows, images, strict=True):
                if r["label"] == "bar":
                    cx, cy = (r["x1"] + r["x2"]) / 2, (r["y1"] + r["y2"]) / 2
                    side = int(max(32, 2.2 * r["length_px"]))
                    boxes.append(crop_box(rgb.shape[:2], (cx, cy), side))
                else:
                    boxes.append(None)
            bars = [(r["x1"], r["y1"], r["x2"], r["y2"]) for r in rows]
            labelling_figure(images, [f"{r['source'][:3]} {r['id']} {r['split']}"
                                      for r in rows],
                             args.out / f"check_{args.label}_{page:02d}.png", boxes=boxes,
                             bars=bars, grid_step=8)
        print(f"{len(table)} {args.label} labels drawn in {args.out}")
        return

    items = [_crop_item(item) for item in _ids(args.ids)]
    ids = [image_id for image_id, _, _ in items]
    default_side = args.side or (141 if args.source == "gz1_sdss" else None)
    default_centre = tuple(args.centre) if getattr(args, "centre", None) else None
    images = [image_of(args.source, i) for i in ids]
    boxes = []
    for (_, centre, side), rgb in zip(items, images, strict=True):
        side = side or default_side
        boxes.append(crop_box(rgb.shape[:2], centre or default_centre, side) if side else None)
    if args.command == "zoom":
        grid = args.grid or 4
        labelling_figure(images, ids, args.out, boxes=boxes, grid_step=grid,
                         tick_step=grid * 2, ncols=min(2, len(ids)), tile_inches=5.5, dpi=100)
        print(f"wrote {args.out}")
        return
    grid = args.grid or 16
    args.out.mkdir(parents=True, exist_ok=True)
    for page, start in enumerate(range(0, len(ids), args.per_page)):
        if page < args.first_page:
            continue
        chunk = slice(start, start + args.per_page)
        path = labelling_figure(images[chunk], ids[chunk],
                                args.out / f"{args.source}_{page:02d}.png",
                                boxes=boxes[chunk], grid_step=grid, tick_step=grid * 2,
                                ncols=args.ncols)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
