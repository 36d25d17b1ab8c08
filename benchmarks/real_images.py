"""The segmenter on real images (../shared/data): numbers and a figure of good and bad cases.

Usage::

    python benchmarks/real_images.py [--data ../shared/data] [--model MODEL]
        [--out docs/images] [--n-gz1 300] [--crop 141] [--gz1-split test]
        [--baseline OTHER_MODEL]

1. Galaxy Zoo 1 SDSS cutouts (labelled): how often the model finds spiral arms (and a
   bar) in volunteer-classified spirals and in ellipticals, and how well the peak of the
   spiral vote map alone separates them (ROC AUC), on the held-back test split by
   default (``--baseline``: paired comparison with another model). The galaxies are small in
   the 423 px frames, so the central ``--crop`` pixels are used (the frame rule then
   resizes that crop to the model's 128 px frame).
2. The 1,000 Legacy Surveys cutouts (unlabelled): fraction with arms; a grid of the
   cutouts with the largest arm area, and random ones.
3. The nearby galaxies M51 (one-band KPNO FITS), M101, M83, M61 (colour PNG), which
   fill their frames.

Writes ``OUT/real_gz1.png``, ``OUT/real_legacy.png``, ``OUT/real_nearby.png`` and prints
the numbers for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from astropy.table import Table
from PIL import Image

from galseg.data.gz1 import GZ1_SEGMENTER_CROP, central_crop, gz1_split
from galseg.data.images import image_from_array, read_image
from galseg.models.geometry import DIHEDRAL_VIEWS
from galseg.predict.segment import Segmenter
from galseg.scores import roc_auc
from galseg.visualize import overlay_maps


def _grid(results, titles, path: Path, ncols: int = 6) -> None:
    nrows = int(np.ceil(len(results) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.35 * nrows))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, result, title in zip(np.ravel(axes), results, titles, strict=False):
        ax.imshow(overlay_maps(result.image.rgb, result.spiral_vote_fraction,
                               result.bar_vote_fraction,
                               outline_masks=(result.arms.mask, result.bar.mask)))
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def _row_title(result, prefix: str = "") -> str:
    m = result.measurements
    bar = (f" bar {m['bar_length_px']:.0f}px" if m["has_bar"] else "")
    return f"{prefix}arms {m['spiral_area_px']}px{bar}"


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """ROC AUC of a score that should be larger for ``positive`` than for ``negative``."""
    labels = np.r_[np.ones(len(positive), bool), np.zeros(len(negative), bool)]
    return roc_auc(np.r_[positive, negative], labels)


def _paired_auc_difference(new: dict[str, np.ndarray], old: dict[str, np.ndarray],
                           n_resamples: int = 1000) -> tuple[float, float, float]:
    """AUC(new) - AUC(old), spirals vs ellipticals, on the same galaxies, and its 95%
    paired bootstrap interval (galaxies resampled within each class)."""
    rng = np.random.default_rng(0)
    differences = []
    for _ in range(n_resamples):
        s = rng.integers(0, len(new["spiral"]), len(new["spiral"]))
        e = rng.integers(0, len(new["elliptical"]), len(new["elliptical"]))
        differences.append(_auc(new["spiral"][s], new["elliptical"][e])
                           - _auc(old["spiral"][s], old["elliptical"][e]))
    low, high = np.percentile(differences, [2.5, 97.5])
    return (_auc(new["spiral"], new["elliptical"]) - _auc(old["spiral"], old["elliptical"]),
            float(low), float(high))


def gz1(segmenter: Segmenter, data: Path, out: Path, n: int, crop: int, split: str,
        baseline: Segmenter | None = None) -> None:
    labels = Table.read(data / "gz1_sdss" / "labels.csv", format="ascii.csv")
    rng = np.random.default_rng(0)
    shown = []
    peaks: dict[str, np.ndarray] = {}
    baseline_peaks: dict[str, np.ndarray] = {}
    print("\nGalaxy Zoo 1 SDSS cutouts (central crop "
          f"{crop} px, split {split}): fraction with arms / with a bar")
    for label, title in (((0,), "elliptical"), ((1, 2), "spiral"), ((3,), "edge-on")):
        rows = [r for r in labels if int(r[labels.colnames[1]]) in label
                and (split == "all" or gz1_split(str(r[labels.colnames[0]])) == split)]
        pick = rng.choice(len(rows), size=min(n, len(rows)), replace=False)
        images = []
        for i in pick:
            objid = rows[i][labels.colnames[0]]
            rgb = np.asarray(Image.open(data / "gz1_sdss" / "images" / f"{objid}.jpeg")
                             .convert("RGB"))
            images.append(image_from_array(central_crop(rgb, crop), name=str(objid)))
        results = list(segmenter.segment_many(images))
        arms = np.mean([r.measurements["has_spiral_arms"] for r in results])
        bars = np.mean([r.measurements["has_bar"] for r in results])
        print(f"  {title:10s} N={len(results):4d}  arms {arms:.2f}  bar {bars:.2f}")
        peaks[title] = np.array([float(r.spiral_vote_fraction.max()) for r in results])
        if baseline is not None:
            baseline_peaks[title] = np.array(
                [float(m[0].max()) for m in baseline.predict_maps(images)])
        shown += [(r, f"GZ1 {title}: " + _row_title(r)) for r in results[:6]]
    # How well the strongest arm vote alone tells the classes apart (1 = perfectly).
    for other in ("spiral", "edge-on"):
        print(f"  AUC of the peak spiral vote fraction, {other} vs elliptical: "
              f"{_auc(peaks[other], peaks['elliptical']):.3f}")
    if baseline is not None:
        difference, low, high = _paired_auc_difference(peaks, baseline_peaks)
        print(f"  baseline AUC spiral vs elliptical "
              f"{_auc(baseline_peaks['spiral'], baseline_peaks['elliptical']):.3f}; "
              f"difference {difference:+.3f} (95% paired bootstrap {low:+.3f} to {high:+.3f})")
    _grid([r for r, _ in shown], [t for _, t in shown], out / "real_gz1.png")
    print(f"  (the labels column is {labels.colnames[1]!r})")


def legacy(segmenter: Segmenter, data: Path, out: Path) -> None:
    files = sorted((data / "legacy_cutouts" / "images").glob("*.png"))
    results = list(segmenter.segment_many(
        [read_image(f, pixscale_arcsec=0.469) for f in files]))
    arms = np.array([r.measurements["has_spiral_arms"] for r in results])
    bars = np.array([r.measurements["has_bar"] for r in results])
    print(f"\nLegacy cutouts: N={len(results)}, with arms {arms.mean():.3f}, "
          f"with a bar {bars.mean():.3f}")
    area = np.array([r.measurements["spiral_area_px"] for r in results])
    top = np.argsort(-area)[:12]
    rand = np.random.default_rng(1).choice(len(results), size=12, replace=False)
    picks = list(top) + list(rand)
    titles = [("largest arms: " if k < 12 else "random: ") + _row_title(results[i])
              for k, i in enumerate(picks)]
    _grid([results[i] for i in picks], titles, out / "real_legacy.png")


def nearby(segmenter: Segmenter, data: Path, out: Path) -> None:
    folder = data / "real_images"
    files = [folder / n for n in ("m51_kpno_B.fits", "m101.png", "m83.png", "m61.png")]
    results = [segmenter.segment(f) for f in files if f.exists()]
    print("\nNearby galaxies (frame rule):")
    for r in results:
        m = r.measurements
        print(f"  {r.name:12s} arms {m['has_spiral_arms']!s:5s} area {m['spiral_area_px']:6d} px"
              f"  bar {m['has_bar']!s:5s} length {m['bar_length_px']:.0f} px")
    _grid(results, [f"{r.name}: " + _row_title(r) for r in results], out / "real_nearby.png",
          ncols=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument("--n-gz1", type=int, default=300)
    parser.add_argument("--crop", type=int, default=GZ1_SEGMENTER_CROP)
    parser.add_argument("--gz1-split", choices=("test", "train", "all"), default="test",
                        help="GZ1 galaxies drawn from (default: the held-back test split, "
                             "which no shipped model was trained on)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="MODEL",
                        help="also run this model on the same GZ1 galaxies and print the "
                             "paired AUC difference")
    parser.add_argument("--views", type=int, choices=sorted(DIHEDRAL_VIEWS), default=None,
                        help="test-time views (default: the segmenter's default)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    segmenter = Segmenter(args.model, device="cpu", views=args.views)
    baseline = (Segmenter(args.baseline, device="cpu", views=args.views) if args.baseline
                else None)
    gz1(segmenter, args.data, args.out, args.n_gz1, args.crop, args.gz1_split, baseline)
    legacy(segmenter, args.data, args.out)
    nearby(segmenter, args.data, args.out)


if __name__ == "__main__":
    main()
