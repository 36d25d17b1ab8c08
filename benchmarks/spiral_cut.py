"""A spiral/elliptical cut for equal class priors, chosen on out-of-fold GZ1 train
predictions of the second look, then scored on evaluation tables.

Usage::

    python benchmarks/spiral_cut.py --train runs/gz1/train \\
        [--score runs/eval_gz1_test/objects.csv runs/eval_sim/objects.csv] [--json OUT]
        [--write-model OUT.pt]

The second look trains on GZ1 galaxies (29% spirals) beside simulated ones (66%), and its
calibrated ``p_spiral`` carries GZ1's class balance: at 0.5, GZ1-like spirals are called
elliptical far more often than ellipticals spiral. The cut: every GZ1 train galaxy's
``p_spiral`` from the one member that did not train on it (Platt-calibrated as shipped),
on the crop around its true box (the crop the members trained on); the cut of
``spiral_decision.THRESHOLDS`` with the best balanced accuracy (ties: nearest 0.5). Each
``--score`` table (``objects.csv`` of ``galseg evaluate detector``: matched galaxies, their
final ``p_spiral``) is then scored at 0.5 and at the cut. ``--write-model`` writes the
classifier with its Platt offset moved by ``-logit(cut)``, so that its ``p_spiral >= 0.5``
is the cut (``p_spiral`` then reads as the probability for equal priors): a candidate to
evaluate with ``galseg evaluate detector --morphology OUT.pt`` and to ship with
``scripts/ship_morphology.py``. Results are recorded in ``docs/experiments.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
from spiral_decision import THRESHOLDS, line, matched_galaxies
from spiral_light_measures import second_look_logits

from galseg.evaluate.detection_metrics import spiral_elliptical_scores
from galseg.models.cutout_net import platt_probability
from galseg.models.weights import save_morphology_classifier
from galseg.predict.morphology import MorphologyClassifier


def balanced_cut(truth: np.ndarray, p_spiral: np.ndarray) -> tuple[float, float]:
    """The cut of ``THRESHOLDS`` with the best balanced accuracy (ties: nearest 0.5)."""
    best = max(THRESHOLDS, key=lambda t: (round(spiral_elliptical_scores(
        truth, p_spiral, threshold=float(t))["balanced_accuracy"], 6), -abs(t - 0.5)))
    return float(best), spiral_elliptical_scores(truth, p_spiral,
                                                 threshold=float(best))["balanced_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, required=True,
                        help="the GZ1 train folder of `galseg gz1-masks`")
    parser.add_argument("--model", type=Path, default=None, help="second look (default shipped)")
    parser.add_argument("--score", nargs="*", default=[], help="objects.csv tables to score")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--write-model", type=Path, default=None,
                        help="write the classifier with the cut moved to 0.5 here")
    args = parser.parse_args()
    classifier = MorphologyClassifier.from_file(args.model, device="cpu")
    train = second_look_logits(args.train, classifier, out_of_fold=True)
    truth = np.where(train["spiral"], "spiral", "elliptical")
    p_spiral = platt_probability(train["logit"], classifier.metadata.calibration)
    cut, balanced = balanced_cut(truth, p_spiral)
    at_half = spiral_elliptical_scores(truth, p_spiral, gz1_class=train["gz1_class"])
    print(f"GZ1 train, out of fold ({len(truth)} galaxies, {train['spiral'].mean():.3f} "
          f"spirals): balanced accuracy {at_half['balanced_accuracy']:.3f} at 0.5, "
          f"{balanced:.3f} at the cut {cut:g}; AUC {at_half['auc']:.4f}")
    result = {"cut": cut, "train_balanced_at_cut": balanced, "train_auc": at_half["auc"],
              "train_balanced_at_half": at_half["balanced_accuracy"], "tables": {}}
    print("\n| table, cut | balanced | spirals | ellipticals | face-on spirals | edge-on | AUC |")
    print("|---|---|---|---|---|---|---|")
    for path in args.score:
        data = matched_galaxies(path)
        for threshold in (0.5, cut):
            scores = spiral_elliptical_scores(data["truth"], data["final"],
                                              gz1_class=data["gz1_class"], threshold=threshold)
            print(line(f"{path}, {threshold:g}", scores))
            result["tables"].setdefault(path, {})[str(threshold)] = {
                key: scores[key] for key in ("n", "accuracy", "balanced_accuracy",
                                             "spiral_recall", "elliptical_recall", "auc")}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.write_model:
        members, metadata = classifier.members, classifier.metadata
        scale, offset = metadata.calibration
        moved = offset - math.log(cut / (1 - cut))
        training = {**metadata.training, "spiral_cut": {
            "cut": cut, "calibration_before": [scale, offset],
            "chosen_on": f"out-of-fold p_spiral of {len(truth)} galaxies of {args.train}, "
                         "best balanced accuracy (benchmarks/spiral_cut.py)"}}
        save_morphology_classifier(members, dataclasses.replace(
            metadata, calibration=(scale, moved), training=training), args.write_model)
        print(f"wrote {args.write_model}: Platt offset {offset:.4f} -> {moved:.4f}")


if __name__ == "__main__":
    main()
