"""The segmenter's arms as a second opinion on spiral vs elliptical: fitted on the GZ1
train split, scored once on the test split.

Usage::

    galseg evaluate detector --data runs/gz1/train --out runs/eval_gz1_train --no-baseline
    galseg evaluate detector --data runs/gz1/test --out runs/eval_gz1_test --no-baseline
    python benchmarks/spiral_second_opinion.py --gz1 ../shared/data/gz1_sdss \\
        --train runs/eval_gz1_train/objects.csv --test runs/eval_gz1_test/objects.csv

For every matched galaxy of the two ``objects.csv`` (:mod:`spiral_decision`), the
final ``p_spiral`` (second look) and the shipped segmenter's peak spiral vote fraction on
the cutout's central 141 px (as ``benchmarks/real_images.py``). A logistic regression on
(logit ``p_spiral``, peak spiral vote) is fitted on the train galaxies (both networks
trained on them, so the fit over-trusts them) with its cut chosen there for the best
balanced accuracy, and then today's rule and the combination are scored on the test
galaxies. Results are recorded in ``docs/experiments.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from astropy.table import Table
from PIL import Image
from scipy.optimize import minimize
from spiral_decision import THRESHOLDS, line

from galseg.data.gz1 import GZ1_SEGMENTER_CROP, central_crop
from galseg.data.images import image_from_array
from galseg.evaluate.detection_metrics import GALAXY_CLASSES, spiral_elliptical_scores
from galseg.predict.segment import Segmenter


def matched(path: Path) -> Table:
    table = Table.read(path, format="ascii.csv")
    keep = (np.asarray(table["matched"], str) == "True") & np.isin(
        np.asarray(table["class"], str), GALAXY_CLASSES)
    return table[keep]


def spiral_peaks(segmenter: Segmenter, gz1: Path, names: np.ndarray) -> np.ndarray:
    """Peak spiral vote fraction of each GZ1 cutout's central crop."""
    peaks = []
    for start in range(0, len(names), 64):
        images = []
        for name in names[start:start + 64]:
            with Image.open(gz1 / "images" / f"{name}.jpeg") as image:
                rgb = central_crop(np.asarray(image.convert("RGB")), GZ1_SEGMENTER_CROP)
            images.append(image_from_array(rgb, name=str(name)))
        peaks += [float(maps[0].max()) for maps in segmenter.predict_maps(images)]
    return np.array(peaks)


def features(p_spiral: np.ndarray, peak: np.ndarray) -> np.ndarray:
    p = np.clip(p_spiral, 1e-4, 1 - 1e-4)
    return np.column_stack([np.ones_like(p), np.log(p / (1 - p)), peak])


def fit_logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    def loss(w: np.ndarray) -> float:
        z = x @ w
        return float(np.mean(np.logaddexp(0, z) - y * z) + 1e-4 * np.sum(w[1:] ** 2))
    return minimize(loss, np.zeros(x.shape[1]), method="BFGS").x


def combined(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x @ w)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gz1", type=Path, default=Path("../shared/data/gz1_sdss"))
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None, help="segmenter (default shipped)")
    args = parser.parse_args()
    segmenter = Segmenter(args.model, device="cpu")
    sets = {}
    for split, path in (("train", args.train), ("test", args.test)):
        table = matched(path)
        names = np.asarray(table["image"], str)
        truth = np.asarray(table["class"], str)
        sets[split] = dict(truth=truth, gz1_class=np.asarray(table["gz1_class"], np.int64),
                           p=np.asarray(table["p_spiral"], float),
                           x=features(np.asarray(table["p_spiral"], float),
                                      spiral_peaks(segmenter, args.gz1, names)))
    train, test = sets["train"], sets["test"]
    weights = fit_logistic(train["x"], (train["truth"] == "spiral").astype(float))
    p_train = combined(train["x"], weights)
    balanced = [spiral_elliptical_scores(train["truth"], p_train, threshold=t)
                ["balanced_accuracy"] for t in THRESHOLDS]
    cut = float(THRESHOLDS[int(np.argmax(balanced))])
    print(f"fitted on {len(train['truth'])} train galaxies: weights {np.round(weights, 3)} "
          f"(constant, logit p_spiral, peak spiral vote); cut {cut:g} (train balanced "
          f"{max(balanced):.3f})")
    print(f"\n{len(test['truth'])} matched test galaxies\n")
    print("| rule | balanced | spirals | ellipticals | face-on spirals | edge-on | AUC |")
    print("|---|---|---|---|---|---|---|")
    for name, p, t in (("today (second look, t = 0.5)", test["p"], 0.5),
                       ("segmenter peak alone (cut chosen on train)",
                        test["x"][:, 2], float(THRESHOLDS[int(np.argmax(
                            [spiral_elliptical_scores(train["truth"], train["x"][:, 2],
                                                      threshold=u)["balanced_accuracy"]
                             for u in THRESHOLDS]))])),
                       (f"combined (cut {cut:g})", combined(test["x"], weights), cut)):
        print(line(name, spiral_elliptical_scores(test["truth"], p,
                                                  gz1_class=test["gz1_class"], threshold=t)))


if __name__ == "__main__":
    main()
