"""Measurement rules chosen for one segmenter on calibration galaxies.

A segmenter's arm masks and its "has arms" call depend on two rules of
:mod:`galseg.measure` that suit one model and not another: the arm mask level
(``spiral_threshold``) and the vote fraction that marks a galaxy as having arms
(``spiral_detection_level``). A model file can carry its own
(``SegmenterMetadata.measure_rules``); this module chooses them:

* :func:`choose_arm_rule`: the mask rule with the highest mean arm IoU with the
  simulator's truth on a simulated set, among the grids of ``galseg evaluate
  segmenter`` (fixed votes, ``peakF``, ``peakF^G``);
* :func:`choose_arm_detection_level`: the level that best tells real Galaxy Zoo 1
  face-on spirals (arms seen) from ellipticals and edge-on discs (no arms seen) on the
  **train** split, as the mean of the three groups' rates of being called right.

Choose them on galaxies that none of the scores to be reported uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from astropy.table import Table
from PIL import Image

from galseg.data.gz1 import GZ1_SEGMENTER_CROP, central_crop, gz1_split, read_gz1_labels
from galseg.data.images import image_from_array
from galseg.errors import InputFileError
from galseg.evaluate.metrics import N_VOLUNTEERS, family_exponent, peak_rule
from galseg.evaluate.segmentation import evaluate_segmenter, read_catalog
from galseg.measure import ArmMeasurement
from galseg.predict.segment import Segmenter

DETECTION_LEVELS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
"""Arm detection levels tried by :func:`choose_arm_detection_level`."""
GZ1_GROUPS = {"face-on spiral": (1, 2), "elliptical": (0,), "edge-on disc": (3,)}
"""Galaxy Zoo 1 classes of each group; arms are expected in the first only."""


@dataclass(frozen=True)
class ArmRuleChoice:
    """The chosen arm mask rule and its calibration score.

    Attributes
    ----------
    rule : float or str
        ``galseg.measure``'s rule: a vote fraction, ``'peakF'`` or ``'peakF^G'``.
    mean_iou : float
        Mean arm IoU with truth at that rule on the calibration galaxies.
    n_galaxies : int
        Calibration galaxies with true arms.
    """

    rule: float | str
    mean_iou: float
    n_galaxies: int


def choose_arm_rule(segmenter: Segmenter, data_dir: str | PathLike[str], *,
                    limit: int | None = None, progress: bool = True) -> ArmRuleChoice:
    """The arm mask rule of ``segmenter``'s maps closest to the truth on a simulated set.

    Parameters
    ----------
    segmenter : Segmenter
    data_dir : path
        A set made by ``galseg simulate``; every galaxy in it calibrates.
    limit : int, optional
        Only the first ``limit`` galaxies.
    progress : bool

    Returns
    -------
    ArmRuleChoice
    """
    names = [str(n) for n in read_catalog(data_dir)["name"]]
    evaluation = evaluate_segmenter(data_dir, segmenter, limit=limit, progress=progress,
                                    calibration_names=names)
    family, threshold = evaluation.chosen_rule("spiral", "model")
    if threshold is None:
        raise ValueError(f"{data_dir}: no galaxy with true arms to choose an arm rule on")
    exponent = family_exponent(family)
    rule: float | str = (threshold / N_VOLUNTEERS if exponent is None
                         else peak_rule(threshold, exponent))
    rows = evaluation.feature_rows("spiral", calibration=True)
    iou = evaluation.iou_at("spiral", "model", threshold, rows, family)
    return ArmRuleChoice(rule, float(np.mean(iou)), int(rows.sum()))


def gz1_spiral_maps(segmenter: Segmenter, gz1_dir: str | PathLike[str], *, n: int = 200,
                    split: str = "train", crop: int = GZ1_SEGMENTER_CROP, seed: int = 0,
                    ) -> dict[str, list[np.ndarray]]:
    """Spiral vote-fraction maps of up to ``n`` random Galaxy Zoo 1 cutouts per group of
    :data:`GZ1_GROUPS` from ``split``, each the central ``crop`` pixels (as the weak labels
    and ``benchmarks/real_images.py`` show them)."""
    gz1_dir = Path(gz1_dir)
    labels = read_gz1_labels(gz1_dir)
    rng = np.random.default_rng(seed)
    maps: dict[str, list[np.ndarray]] = {}
    for group, classes in GZ1_GROUPS.items():
        ids = [str(row["objid"]) for row in labels if int(row["gz1_class"]) in classes
               and gz1_split(str(row["objid"])) == split]
        chosen = rng.choice(len(ids), size=min(n, len(ids)), replace=False)
        images = []
        for i in sorted(chosen):
            try:
                with Image.open(gz1_dir / "images" / f"{ids[i]}.jpeg") as image:
                    rgb = np.asarray(image.convert("RGB"))
            except (OSError, ValueError):  # a missing or broken JPEG costs one galaxy
                continue
            images.append(image_from_array(central_crop(rgb, crop), name=ids[i]))
        if not images:
            raise InputFileError(gz1_dir, f"no readable {group} cutouts (GZ1 classes "
                                          f"{classes}) in the {split} split")
        maps[group] = [m[0] for m in segmenter.predict_maps(images)]
    return maps


def detection_rates(maps: dict[str, list[np.ndarray]],
                    levels: Sequence[float] = DETECTION_LEVELS) -> Table:
    """For each level, the rate of each group of :data:`GZ1_GROUPS` called right (arms
    in face-on spirals, none in the others) and their mean (column ``score``)."""
    rows = []
    for level in levels:
        row: dict[str, float] = {"level": level}
        for group, spiral_maps in maps.items():
            found = np.mean([ArmMeasurement(m, detection_level=level).detected
                             for m in spiral_maps])
            row[group] = float(found if group == "face-on spiral" else 1 - found)
        row["score"] = float(np.mean([row[g] for g in maps]))
        rows.append(row)
    return Table(rows=rows)


def choose_arm_detection_level(maps: dict[str, list[np.ndarray]],
                               levels: Sequence[float] = DETECTION_LEVELS) -> tuple[float, Table]:
    """The level of ``levels`` with the best :func:`detection_rates` score (the lowest of
    equals), and the table it was chosen from."""
    table = detection_rates(maps, levels)
    best = int(np.argmax(np.round(np.asarray(table["score"]), 9)))
    return float(table["level"][best]), table
