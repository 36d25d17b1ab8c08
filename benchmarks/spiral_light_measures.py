"""Classical light measures (colour, concentration, asymmetry, Gini) beside the second look
on Galaxy Zoo 1 spiral vs elliptical: a classical baseline, and whether they add to it.

Usage::

    python benchmarks/spiral_light_measures.py --gz1 ../shared/data/gz1_sdss \\
        --train runs/gz1/train --test runs/gz1/test [--score-test]

For every spiral or elliptical of the ``galseg gz1-masks`` folders:

* the second look's logit on the crop around its true (Otsu) box, the crop the
  members trained on: **out-of-fold** on the train folder (the member whose fold held
  the galaxy out, :func:`galseg.training.ensemble.fold_of`), the ensemble's mean on
  the test folder;
* classical measures of the central galaxy in its Otsu mask on the 423 px JPEG:
  colour (flux-weighted mean of log(R/B)), concentration 5 log10(r80/r20), asymmetry
  under a 180-degree turn about the light's centre, Gini coefficient
  (``photutils.morphology.gini``).

Prints, on the train split, the 5-fold cross-validated AUC (same folds) of the
out-of-fold logit, of the classical measures alone and of both stacked (logistic
regressions); with ``--score-test`` the models fitted on all train galaxies (cuts chosen
on the cross-validated train predictions for the best balanced accuracy) are scored on
the test split. The rule that decides whether the test split is scored is in
``docs/experiments.md`` (2026-12-06 night).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from astropy.table import Table
from photutils.morphology import gini
from PIL import Image
from scipy import ndimage
from spiral_decision import THRESHOLDS, line
from spiral_second_opinion import combined, fit_logistic

from galseg.data.gz1 import central_object_mask
from galseg.evaluate.detection_metrics import spiral_elliptical_scores
from galseg.models.cutout_net import ensemble_logit, platt_probability
from galseg.predict.morphology import MorphologyClassifier
from galseg.scores import roc_auc
from galseg.training.ensemble import fold_of
from galseg.training.morphology import morphology_examples

FEATURES = ("colour", "concentration", "asymmetry", "gini")


def light_measures(rgb: np.ndarray) -> tuple[float, float, float, float]:
    """Colour, concentration, asymmetry and Gini of the central galaxy (NaN without one)."""
    mask = central_object_mask(rgb)
    if mask.sum() < 10:
        return (np.nan,) * 4
    rgb = rgb.astype(np.float64)
    grey = rgb.mean(axis=2)
    sky = np.median(grey[~mask])
    light = np.clip(grey - sky, 0, None) * mask
    total = light.sum()
    colour = float(np.sum(light * np.log((rgb[..., 0] + 1) / (rgb[..., 2] + 1))) / total)
    cy, cx = ndimage.center_of_mass(light)
    yy, xx = np.nonzero(mask)
    radius = np.hypot(yy - cy, xx - cx)
    order = np.argsort(radius)
    cumulative = np.cumsum(light[yy, xx][order]) / total
    r20, r80 = (radius[order][np.searchsorted(cumulative, f)] for f in (0.2, 0.8))
    concentration = float(5 * np.log10(max(r80, 0.5) / max(r20, 0.5)))
    # the turn about the light's centre: shift the centre to the frame's, rotate by 180
    centre = (np.array(light.shape) - 1) / 2
    centred = ndimage.shift(light, centre - (cy, cx), order=1)
    asymmetry = float(np.abs(centred - centred[::-1, ::-1]).sum() / (2 * centred.sum()))
    return colour, concentration, asymmetry, float(gini(light, mask=~mask))


def second_look_logits(folder: Path, classifier: MorphologyClassifier, out_of_fold: bool
                       ) -> dict[str, np.ndarray]:
    """Labels, GZ1 classes, fold and second-look logit of a folder's galaxies (module
    docstring), with the ``CutoutExamples`` they came from under ``examples``."""
    meta = classifier.metadata
    examples = morphology_examples([folder], input_size=meta.model.input_size,
                                   crop_context=meta.crop_context,
                                   min_crop_px=meta.min_crop_px, progress=False)
    objects = Table.read(folder / "objects.csv", format="ascii.csv")
    gz1_class = {f"{name}:{index}": int(code) for name, index, code
                 in zip(objects["name"], objects["index"], objects["gz1_class"], strict=True)}
    crops = torch.from_numpy(examples.images).permute(0, 3, 1, 2).float() / 255.0
    folds = np.array([fold_of(g, len(classifier.members)) for g in examples.groups])
    with torch.inference_mode():
        if out_of_fold:
            logit = np.zeros(len(crops))
            for k, member in enumerate(classifier.members):
                held_out = folds == k
                logit[held_out] = ensemble_logit([member], crops[held_out]).float().numpy()
        else:
            logit = np.concatenate([ensemble_logit(classifier.members, crops[i:i + 256])
                                    .float().numpy() for i in range(0, len(crops), 256)])
    return {"spiral": examples.labels, "gz1_class": np.array([gz1_class[i] for i in examples.ids]),
            "logit": logit, "folds": folds, "examples": examples}


def galaxies(folder: Path, gz1: Path, classifier: MorphologyClassifier,
             out_of_fold: bool) -> dict[str, np.ndarray]:
    """Labels, GZ1 classes, second-look logits and light measures of a folder's galaxies."""
    found = second_look_logits(folder, classifier, out_of_fold)
    examples = found.pop("examples")
    measures = []
    for example_id in examples.ids:
        name = example_id.split(":")[0]
        with Image.open(gz1 / "images" / f"{name}.jpeg") as image:
            measures.append(light_measures(np.asarray(image.convert("RGB"))))
    return {**found, "measures": np.array(measures)}


def design(logit: np.ndarray | None, measures: np.ndarray | None,
           scale: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    columns = [np.ones(len(logit if logit is not None else measures))]
    if logit is not None:
        columns.append(logit)
    if measures is not None:
        columns += list(((measures - scale[0]) / scale[1]).T)
    return np.column_stack(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gz1", type=Path, default=Path("../shared/data/gz1_sdss"))
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--model", type=Path, default=None, help="second look (default shipped)")
    parser.add_argument("--score-test", action="store_true")
    args = parser.parse_args()
    classifier = MorphologyClassifier.from_file(args.model, device="cpu")
    train = galaxies(args.train, args.gz1, classifier, out_of_fold=True)
    ok = np.isfinite(train["measures"]).all(axis=1)
    print(f"train: {len(ok)} galaxies, {int(ok.sum())} with light measures")
    train = {k: v[ok] for k, v in train.items()}
    scale = (train["measures"].mean(axis=0), train["measures"].std(axis=0))
    y = train["spiral"].astype(float)
    variants = {"second look (out-of-fold logit)": (True, False),
                "classical: colour, C, A, Gini": (False, True),
                "stacked": (True, True)}
    cross_validated = {}
    for name, (use_logit, use_measures) in variants.items():
        x = design(train["logit"] if use_logit else None,
                   train["measures"] if use_measures else None, scale)
        p = np.zeros(len(y))
        for k in np.unique(train["folds"]):
            held = train["folds"] == k
            p[held] = combined(x[held], fit_logistic(x[~held], y[~held]))
        cross_validated[name] = p
        print(f"  {name:34s} cross-validated AUC {roc_auc(p, train['spiral']):.4f}")
    for i, feature in enumerate(FEATURES):
        print(f"  {feature:14s} alone: AUC {roc_auc(train['measures'][:, i], train['spiral']):.3f}")
    if not args.score_test:
        return
    test = galaxies(args.test, args.gz1, classifier, out_of_fold=False)
    missing = ~np.isfinite(test["measures"]).all(axis=1)
    test["measures"][missing] = scale[0]  # no light measures: the train mean (counted)
    print(f"\ntest: {len(missing)} galaxies ({int(missing.sum())} without light measures)\n")
    truth_train = np.where(train["spiral"], "spiral", "elliptical")
    truth_test = np.where(test["spiral"], "spiral", "elliptical")
    print("| rule | balanced | spirals | ellipticals | face-on spirals | edge-on | AUC |")
    print("|---|---|---|---|---|---|---|")
    for name, (use_logit, use_measures) in variants.items():
        x_train = design(train["logit"] if use_logit else None,
                         train["measures"] if use_measures else None, scale)
        x_test = design(test["logit"] if use_logit else None,
                        test["measures"] if use_measures else None, scale)
        balanced = [spiral_elliptical_scores(truth_train, cross_validated[name], threshold=t)
                    ["balanced_accuracy"] for t in THRESHOLDS]
        cut = float(THRESHOLDS[int(np.argmax(balanced))])
        p = combined(x_test, fit_logistic(x_train, y))
        print(line(f"{name} (cut {cut:g})", spiral_elliptical_scores(
            truth_test, p, gz1_class=test["gz1_class"], threshold=cut)))
    p_second = platt_probability(test["logit"], classifier.metadata.calibration)
    print(line("second look as shipped (Platt, cut 0.5)", spiral_elliptical_scores(
        truth_test, p_second, gz1_class=test["gz1_class"], threshold=0.5)))


if __name__ == "__main__":
    main()
