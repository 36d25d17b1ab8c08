"""Can the spiral/elliptical decision be made better without training? A lever chosen on
the GZ1 train split, then scored once on the test split.

Usage:
    galseg evaluate detector --data runs/gz1/train --out runs/eval_gz1_train --noise-scales
    galseg evaluate detector --data runs/gz1/test --out runs/eval_gz1_test --noise-scales
    python benchmarks/spiral_decision.py --train runs/eval_gz1_train/objects.csv \\
        --test runs/eval_gz1_test/objects.csv

Both tables are the ``objects.csv`` of ``galseg evaluate detector`` (matched galaxies, the
final ``p_spiral`` after the second look and the detector's own ``p_spiral_detector``).
The lever: ``p = w * p_spiral + (1 - w) * p_spiral_detector`` (``w = 1`` is today's second
look alone, ``w = 0`` the detector alone) called spiral iff ``p >= t``. ``w`` and ``t``
are chosen on the train table only, for the best balanced accuracy (ties: nearest to
``w = 1, t = 0.5``), and then both today's rule and the chosen one are scored on the test
table (:func:`galseg.evaluate.detection_metrics.spiral_elliptical_scores`). The train
galaxies trained both networks, so their ``p_spiral`` is more sure than on unseen ones;
that bias is part of what this measures. Results are recorded in ``docs/experiments.md``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from astropy.table import Table

from galseg.evaluate.detection_metrics import GALAXY_CLASSES, spiral_elliptical_scores

WEIGHTS = np.round(np.arange(0.0, 1.01, 0.1), 2)
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 2)


def matched_galaxies(path: str) -> dict[str, np.ndarray]:
    table = Table.read(path, format="ascii.csv")
    classes = np.asarray(table["class"], str)
    keep = np.asarray(table["matched"], str) == "True"
    keep &= np.isin(classes, GALAXY_CLASSES)
    return {"truth": classes[keep], "final": np.asarray(table["p_spiral"], float)[keep],
            "detector": np.asarray(table["p_spiral_detector"], float)[keep],
            "gz1_class": np.asarray(table["gz1_class"], np.int64)[keep]}


def score(data: dict[str, np.ndarray], weight: float, threshold: float) -> dict:
    p = weight * data["final"] + (1 - weight) * data["detector"]
    return spiral_elliptical_scores(data["truth"], p, gz1_class=data["gz1_class"],
                                    threshold=threshold)


def choose(train: dict[str, np.ndarray]) -> tuple[float, float, float]:
    best = None
    for w in WEIGHTS:
        for t in THRESHOLDS:
            balanced = score(train, w, t)["balanced_accuracy"]
            key = (round(balanced, 6), -abs(1 - w) - abs(t - 0.5))
            if best is None or key > best[0]:
                best = (key, float(w), float(t), balanced)
    return best[1], best[2], best[3]


def line(name: str, s: dict) -> str:
    edge_on = s["by_gz1_class"].get(3, {"accuracy": float("nan")})["accuracy"]
    return (f"| {name} | {s['balanced_accuracy']:.3f} | {s['spiral_recall']:.3f} | "
            f"{s['elliptical_recall']:.3f} | {s['face_on_spiral_accuracy']:.3f} | "
            f"{edge_on:.3f} | {s['auc']:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", required=True, help="objects.csv on the GZ1 train split")
    parser.add_argument("--test", required=True, help="objects.csv on the GZ1 test split")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    train, test = matched_galaxies(args.train), matched_galaxies(args.test)
    weight, threshold, train_balanced = choose(train)
    print(f"chosen on {len(train['truth'])} train galaxies: w = {weight:g}, t = {threshold:g} "
          f"(train balanced accuracy {train_balanced:.3f}; today "
          f"{score(train, 1.0, 0.5)['balanced_accuracy']:.3f})")
    print(f"\n{len(test['truth'])} matched test galaxies\n")
    print("| rule | balanced | spirals | ellipticals | face-on spirals | edge-on | AUC |")
    print("|---|---|---|---|---|---|---|")
    rows = {"today (second look, t = 0.5)": score(test, 1.0, 0.5),
            "detector alone (t = 0.5)": score(test, 0.0, 0.5),
            f"chosen (w = {weight:g}, t = {threshold:g})": score(test, weight, threshold)}
    for name, s in rows.items():
        print(line(name, s))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"weight": weight, "threshold": threshold, "test": rows}, handle,
                      indent=1, default=float)


if __name__ == "__main__":
    main()
