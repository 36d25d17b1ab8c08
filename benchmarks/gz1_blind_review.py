"""A blind look at GZ1 galaxies the second look gets wrong, mixed with ones it gets right.

Usage::

    python benchmarks/gz1_blind_review.py sheet --objects EVAL/objects.csv \
        --images ../shared/data/gz1_sdss/images --out DIR [--n 22] [--seed 7]
    # look at DIR/blind.png and write DIR/ratings.txt: "<number> S|U|E" per line
    python benchmarks/gz1_blind_review.py score --out DIR

``sheet`` takes, from the objects table of ``galseg evaluate detector`` on GZ1 cutouts,
the face-on spirals (GZ1 codes 1, 2) called elliptical (``missed``, the first ``n`` in
the table's order), as many face-on
spirals called spiral (``right``) and ellipticals called elliptical (``elliptical``),
shuffles them and draws each cutout's central 150 px under a number only; the key
(which group each number is) goes to ``DIR/key.csv``, to be opened only by ``score``.
The rater marks each number ``S`` (arms or a disc visible), ``E`` (smooth, no disc) or
``U`` (unclear). ``score`` prints the ratings by group and writes ``DIR/review.csv``
(objID, group, rating): how many of the missed spirals show arms to an eye that does
not know the model's call.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
from astropy.table import Table

GROUPS = ("missed", "right", "elliptical")
RATINGS = ("S", "U", "E")


def make_sheet(objects: Path, images: Path, out: Path, n: int, seed: int) -> None:
    """Write the numbered sheet and its key (module docstring)."""
    from PIL import Image, ImageDraw
    table = Table.read(objects, format="ascii.csv")
    table = table[(np.asarray(table["source"], str) == "gz1")
                  & (np.asarray(table["matched"], str) == "True")]
    code = np.asarray(table["gz1_class"], int)
    spiral_call = np.asarray(table["p_spiral"], float) >= 0.5
    face_on = (code == 1) | (code == 2)
    ids = np.asarray(table["image"], str)
    rng = np.random.default_rng(seed)
    missed = ids[face_on & ~spiral_call]
    chosen = {"missed": missed[:n]}
    for group, pool in (("right", ids[face_on & spiral_call]),
                        ("elliptical", ids[(code == 0) & ~spiral_call])):
        chosen[group] = rng.choice(pool, min(len(chosen["missed"]), len(pool)),
                                   replace=False)
    items = [(objid, group) for group in GROUPS for objid in chosen[group]]
    items = [items[k] for k in rng.permutation(len(items))]
    out.mkdir(parents=True, exist_ok=True)
    Table(rows=[(k + 1, objid, group) for k, (objid, group) in enumerate(items)],
          names=("number", "objid", "group")).write(out / "key.csv", format="ascii.csv",
                                                     overwrite=True)
    cell, columns = 150, 11
    sheet = Image.new("RGB", (columns * (cell + 2), -(-len(items) // columns) * (cell + 2)))
    for k, (objid, _) in enumerate(items):
        with Image.open(images / f"{objid}.jpeg") as picture:
            picture = picture.convert("RGB")
            cx, cy = picture.width // 2, picture.height // 2
            square = picture.crop((cx - 75, cy - 75, cx + 75, cy + 75)).resize(
                (cell, cell), Image.LANCZOS)
        ImageDraw.Draw(square).text((3, 2), str(k + 1), fill=(255, 255, 0))
        sheet.paste(square, ((k % columns) * (cell + 2), (k // columns) * (cell + 2)))
    sheet.save(out / "blind.png")
    print(f"{len(items)} galaxies -> {out / 'blind.png'}; rate them in {out / 'ratings.txt'}")


def score(out: Path) -> None:
    """Ratings by group (module docstring)."""
    key = Table.read(out / "key.csv", format="ascii.csv")
    ratings = {}
    for line in (out / "ratings.txt").read_text().splitlines():
        if line.strip():
            number, rating = line.split()
            if rating not in RATINGS:
                raise ValueError(f"rating {rating!r} of {number}: use one of {RATINGS}")
            ratings[int(number)] = rating
    missing = set(int(k) for k in key["number"]) - set(ratings)
    if missing:
        raise ValueError(f"no rating for {sorted(missing)}")
    counts = Counter((str(g), ratings[int(k)]) for k, g in zip(key["number"], key["group"],
                                                                strict=True))
    for group in GROUPS:
        print(group, {r: counts[(group, r)] for r in RATINGS})
    review = Table({"objid": key["objid"], "group": key["group"],
                    "rating": [ratings[int(k)] for k in key["number"]]})
    review.sort("objid")
    review.write(out / "review.csv", format="ascii.csv", overwrite=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("sheet", "score"))
    parser.add_argument("--objects", type=Path)
    parser.add_argument("--images", type=Path, default=Path("../shared/data/gz1_sdss/images"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=22)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.step == "sheet":
        if args.objects is None:
            parser.error("sheet needs --objects")
        make_sheet(args.objects, args.images, args.out, args.n, args.seed)
    else:
        score(args.out)


if __name__ == "__main__":
    main()
