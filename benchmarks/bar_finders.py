"""The network's bar and the classical isophote bar, side by side, on simulated truth and
on the bar labels made by eye (docs/bar_labels.md).

Usage::

    python benchmarks/bar_finders.py --sim runs/sim5100 --data ../shared/data \\
        --stellarium runs/stellarium/extract --split test --out runs/bar_finders \\
        [--figure docs/images/real_bars.png] [--model MODEL] [--max-sim 300]

Simulations (``--sim``, a ``galseg simulate`` folder the model never saw): truth
``has_bar`` and ``bar_length_px``. Eye labels (``--labels``, default the committed CSV):
``bar`` against ``nobar`` (``unclear`` left out) of one split (``--split test`` by
default: test labels only measure). For each bar finder:

* AUC, bar against no bar, of its score: the network's peak bar vote fraction; the
  classical finder's peak ellipticity where it finds a bar, else 0;
* ``has_bar``: share of bars found and of non-bars claimed;
* length: Pearson r and median absolute fractional error against the true (simulated)
  or eye (end to end, in the image's pixels) length, on the bars each finder found.

GZ1 SDSS images are given to both finders as their central 141 px (as
``benchmarks/real_images.py`` does); Legacy cutouts at 0.469"/px; Stellarium textures
whole. Prints a Markdown table and writes ``OUT/bar_finders_<set>.csv`` (one row per
galaxy) and, with ``--figure``, the labelled barred galaxies with the eye bar (yellow),
the network's bar (cyan) and the classical bar (magenta).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from astropy.table import Table

from galseg.data.bar_labels import BAR_LABELS_PATH, read_bar_label_image, read_bar_labels
from galseg.data.images import image_from_array
from galseg.evaluate.metrics import length_agreement, roc_auc
from galseg.evaluate.segmentation import read_catalog, read_truth_galaxy
from galseg.measure.isophote_bar import IsophoteBar
from galseg.predict.segment import Segmenter

LEGACY_PIXSCALE_ARCSEC = 0.469


def _score_rows(segmenter: Segmenter, items: list[dict]) -> list[dict]:
    """Run both finders on ``items`` (dicts with ``rgb`` uint8, ``pixscale``) in place."""
    images = [image_from_array(item["rgb"], name=str(item["name"]),
                               pixscale_arcsec=item.get("pixscale")) for item in items]
    for start in range(0, len(images), 32):
        chunk = images[start:start + 32]
        for image, maps, item in zip(chunk, segmenter.predict_maps(chunk),
                                     items[start:start + 32], strict=True):
            result = segmenter.result(image, maps)
            iso = IsophoteBar(item["rgb"])
            item.update(
                net_peak=float(result.bar.peak_vote_fraction), net_has_bar=result.bar.detected,
                net_length_px=result.bar.length_px, net_ends=result.bar.end_points,
                iso_has_bar=iso.detected, iso_length_px=iso.length_px,
                iso_score=iso.ellipticity if iso.detected else 0.0, iso_ends=iso.end_points)
    return items


def summary(items: list[dict], name: str) -> list[str]:
    truth = np.array([item["is_bar"] for item in items], bool)
    lines = []
    for finder, score_key in (("network", "net_peak"), ("classical (isophotes)", "iso_score")):
        prefix = "net" if finder == "network" else "iso"
        score = np.array([item[score_key] for item in items], float)
        found = np.array([item[f"{prefix}_has_bar"] for item in items], bool)
        auc = roc_auc(score, truth) if truth.any() and (~truth).any() else np.nan
        both = truth & found
        length = length_agreement(
            np.array([item[f"{prefix}_length_px"] for item in items])[both],
            np.array([item["true_length_px"] for item in items])[both])
        lines.append(
            f"| {name} | {finder} | {truth.sum()} / {(~truth).sum()} | {auc:.3f} | "
            f"{found[truth].mean():.0%} ({found[truth].sum()}) | "
            f"{found[~truth].mean():.0%} ({found[~truth].sum()}) | "
            f"{length['pearson_r']:.3f} / {length['median_abs_fractional_error']:.0%} "
            f"({length['n']}) |")
    return lines


def load_simulated(sim: Path, limit: int | None = None) -> list[dict]:
    """One dict per simulated galaxy: ``rgb``, ``is_bar``, ``true_length_px``, ..."""
    catalog = read_catalog(sim)
    rows = catalog if limit is None else catalog[:limit]
    items = []
    for row in rows:
        galaxy = read_truth_galaxy(sim, row)
        items.append(dict(name=galaxy.name, rgb=np.asarray(galaxy.image),
                          pixscale=galaxy.pixscale_arcsec, is_bar=bool(row["has_bar"]),
                          true_length_px=float(row["bar_length_px"]), source="sim",
                          label="bar" if row["has_bar"] else "nobar"))
    return items


def load_eye_labelled(labels: Path, data: Path, stellarium: Path | None,
                      split: str) -> list[dict]:
    """One dict per ``bar`` or ``nobar`` label of ``split``: ``rgb`` (what both finders
    see), ``is_bar``, ``true_length_px`` (eye), ``eye_ends`` (in ``rgb``'s pixels)."""
    table = read_bar_labels(labels)
    keep = np.isin(table["label"], ("bar", "nobar"))
    if split != "all":
        keep &= table["split"] == split
    items = []
    for row in table[keep]:
        if row["source"] == "stellarium" and stellarium is None:
            continue
        rgb, ends = read_bar_label_image(row, data_root=data, stellarium_root=stellarium)
        items.append(dict(name=f"{row['source']}:{row['id']}", rgb=rgb, source=row["source"],
                          pixscale=LEGACY_PIXSCALE_ARCSEC if row["source"] == "legacy" else None,
                          is_bar=row["label"] == "bar", label=row["label"],
                          true_length_px=float(row["length_px"]), eye_ends=ends))
    return items


def _write(items: list[dict], path: Path) -> None:
    columns = ["name", "source", "label", "true_length_px", "net_peak", "net_has_bar",
               "net_length_px", "iso_has_bar", "iso_length_px", "iso_score"]
    Table(rows=[[item[c] for c in columns] for item in items], names=columns).write(
        path, format="ascii.csv", overwrite=True)
    print(f"wrote {path}")


def figure(items: list[dict], path: Path) -> None:
    from galseg.data.bar_labels import crop_box, labelling_figure

    bars = [item for item in items if item["is_bar"]]
    boxes = []
    for item in bars:
        x1, y1, x2, y2 = item["eye_ends"]
        side = int(max(48, 2.6 * np.hypot(x2 - x1, y2 - y1)))
        boxes.append(crop_box(item["rgb"].shape[:2], ((x1 + x2) / 2, (y1 + y2) / 2), side))
    labelling_figure(
        [item["rgb"] for item in bars],
        [f"{item['name'].split(':')[1][:19]}: net {'yes' if item['net_has_bar'] else 'no'}"
         f" (peak {item['net_peak']:.2f}), iso {'yes' if item['iso_has_bar'] else 'no'}"
         for item in bars],
        path, boxes=boxes, bars=[item["eye_ends"] for item in bars],
        extra_bars=[[(item["net_ends"], "cyan"), (item["iso_ends"], "magenta")]
                    for item in bars],
        grid_step=None, ncols=6, tile_inches=2.3)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim", type=Path, default=None,
                        help="a galseg simulate folder no model was trained on")
    parser.add_argument("--max-sim", type=int, default=None)
    parser.add_argument("--labels", type=Path, default=BAR_LABELS_PATH)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--stellarium", type=Path, default=None,
                        help="the unpacked stellarium-data package (scripts/get_stellarium.sh)")
    parser.add_argument("--split", choices=("test", "train", "all"), default="test")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/bar_finders"))
    parser.add_argument("--figure", type=Path, default=None)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    segmenter = Segmenter(args.model, device="cpu")
    lines = ["| set | bar finder | bars / no bars | AUC | bars found | non-bars claimed | "
             "length r / median error (n) |", "|---|---|---|---|---|---|---|"]
    if args.labels is not None and args.data.exists():
        start = time.perf_counter()
        items = _score_rows(segmenter, load_eye_labelled(args.labels, args.data,
                                                         args.stellarium, args.split))
        print(f"eye labels ({args.split}): {len(items)} galaxies, "
              f"{time.perf_counter() - start:.0f} s")
        _write(items, args.out / f"bar_finders_eye_{args.split}.csv")
        lines += summary(items, f"eye labels, {args.split}")
        for source in ("stellarium", "legacy", "gz1_sdss"):
            part = [item for item in items if item["source"] == source]
            if any(i["is_bar"] for i in part) and not all(i["is_bar"] for i in part):
                lines += summary(part, f"  {source}")
        if args.figure is not None:
            figure(items, args.figure)
    if args.sim is not None:
        start = time.perf_counter()
        items = _score_rows(segmenter, load_simulated(args.sim, args.max_sim))
        print(f"simulations {args.sim}: {len(items)} galaxies, "
              f"{time.perf_counter() - start:.0f} s")
        _write(items, args.out / "bar_finders_sim.csv")
        lines += summary(items, f"simulated ({args.sim.name})")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
