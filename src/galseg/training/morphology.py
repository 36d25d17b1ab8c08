"""Train the detector's spiral-or-elliptical classifier (``galseg train morphology``).

* Data: detection example folders (:mod:`galseg.data.detection_examples`), the
  same ones the detector trains on: GZ1 SDSS cutouts with their automatic masks
  (``galseg gz1-masks``) and simulated fields. Every spiral or elliptical object
  gives one crop around the box of its true mask, cut with the rule the
  detector applies to its own boxes (:class:`~galseg.predict.morphology.
  MorphologyClassifier`): ``crop_context`` times the box's longest side, at least
  ``min_crop_px``, resampled to the network's input. Stars are left out (the
  detector tells stars from galaxies).
* Folds are by **image**, so objects of one simulated field never sit on both
  sides; training, noise augmentation, resuming and calibration are those of
  every galseg cutout classifier (:mod:`galseg.training.ensemble`).
* The crops are cached in ``<run_dir>/examples.npz`` (rebuilt when the folders
  or the crop rule change).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from galseg.data.detection_examples import read_detection_examples
from galseg.models.cutout_net import platt_probability
from galseg.models.geometry import box_crops, crop_sides
from galseg.models.weights import MorphologyMetadata, save_morphology_classifier
from galseg.training.configs import DEFAULT_MORPHOLOGY_CONFIG
from galseg.training.ensemble import CutoutExamples, EnsembleTrainConfig, train_ensemble

CACHE_VERSION = 3
MORPHOLOGY_CLASSES = ("spiral", "elliptical")

def morphology_examples(
    data_dirs: Sequence[str | PathLike[str]], *, input_size: int, crop_context: float,
    min_crop_px: float, cache: str | PathLike[str] | None = None, progress: bool = True,
) -> CutoutExamples:
    """Crops of every spiral and elliptical object of ``data_dirs``.

    Returns :class:`~galseg.training.ensemble.CutoutExamples` with ``ids``
    ``<image>:<object index>``, ``groups`` the image name (prefixed by its folder,
    so folders may repeat names), ``kinds`` the example's source (``gz1``, ``sim``)
    and ``labels`` True for spirals.
    """
    dirs = [Path(d) for d in data_dirs]
    stamp = {"version": CACHE_VERSION, "dirs": [str(d.resolve()) for d in dirs],
             "sizes": [(d / "objects.csv").stat().st_size for d in dirs],
             "input_size": input_size, "crop_context": crop_context, "min_crop_px": min_crop_px}
    if cache is not None and (cached := CutoutExamples.load(cache, stamp)) is not None:
        return cached
    ids, groups, kinds, images, labels, zooms = [], [], [], [], [], []
    for folder in dirs:
        examples = read_detection_examples(folder)
        for example in tqdm(examples, desc=f"crops from {folder.name}", unit="image",
                            disable=not progress):
            wanted = [i for i, c in enumerate(example.classes) if c in MORPHOLOGY_CLASSES]
            if not wanted:
                continue
            masks = example.masks()
            boxes = []
            for i in wanted:
                rows, cols = np.nonzero(masks[i])
                boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
                             if rows.size else [np.nan] * 4)
            keep = [k for k, box in enumerate(boxes) if np.isfinite(box[0])]
            if not keep:
                continue
            picture = torch.from_numpy(np.array(example.rgb())).permute(2, 0, 1)
            kept = torch.tensor([boxes[k] for k in keep], dtype=torch.float32)
            crops = box_crops(picture.float() / 255.0, kept, input_size, context=crop_context,
                              min_side=min_crop_px)
            images.append((crops.permute(0, 2, 3, 1).numpy() * 255 + 0.5)
                          .clip(0, 255).astype(np.uint8))
            zooms += (crop_sides(kept, context=crop_context, min_side=min_crop_px)
                      / input_size).tolist()
            for k in keep:
                i = wanted[k]
                ids.append(f"{example.name}:{i}")
                groups.append(f"{folder.name}/{example.name}")
                kinds.append(example.source)
                labels.append(example.classes[i] == "spiral")
    if not ids:
        raise ValueError(f"no spiral or elliptical objects in {', '.join(map(str, dirs))}")
    result = CutoutExamples(np.array(ids), np.array(groups), np.array(kinds),
                            np.concatenate(images), np.array(labels, bool),
                            np.array(zooms, np.float64))
    if cache is not None:
        result.save(cache, stamp)
    return result


@dataclass
class MorphologyTrainResult:
    """Outcome of :func:`train_morphology_classifier`."""

    model_path: Path
    out_of_fold_scores: dict[str, float]
    calibration: tuple[float, float]
    folds: list[dict[str, Any]]


def train_morphology_classifier(
    data_dirs: Sequence[str | PathLike[str]],
    model_path: str | PathLike[str],
    config: EnsembleTrainConfig = DEFAULT_MORPHOLOGY_CONFIG,
    *,
    crop_context: float = MorphologyMetadata.crop_context,
    min_crop_px: float = MorphologyMetadata.min_crop_px,
    run_dir: str | PathLike[str] | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> MorphologyTrainResult:
    """Train a k-fold ensemble on the galaxies of ``data_dirs``; write ``model_path``.

    Parameters
    ----------
    data_dirs : paths
        Detection example folders (``galseg gz1-masks``, ``galseg simulate
        --detection-fields``).
    model_path : path
        Output model file: the fold networks (fp16), crop rule, calibration, facts.
    config : EnsembleTrainConfig
    crop_context, min_crop_px : float
        The crop rule (module docstring), stored with the model.
    run_dir : path, optional
        Per-fold checkpoints and metrics, the crop cache; default ``<model_path>.run/``.
    device : optional
        ``'cpu'``, ``'cuda'``...; default: CUDA when available.
    """
    model_path = Path(model_path)
    run_dir = Path(run_dir) if run_dir else model_path.with_name(model_path.name + ".run")
    run_dir.mkdir(parents=True, exist_ok=True)
    examples = morphology_examples(
        data_dirs, input_size=config.model.input_size, crop_context=crop_context,
        min_crop_px=min_crop_px, cache=run_dir / "examples.npz", progress=progress)
    outcome = train_ensemble(examples, config, run_dir, device=device, progress=progress,
                             log=log, what="spirals")
    scores = outcome.out_of_fold_scores
    by_source = {}
    p_oof = platt_probability(outcome.out_of_fold_logits, outcome.calibration)
    for source in np.unique(examples.kinds):
        chosen = examples.kinds == source
        by_source[str(source)] = {
            "n": int(chosen.sum()), "spiral_fraction": float(examples.labels[chosen].mean()),
            "accuracy": float(np.mean((p_oof[chosen] >= 0.5) == examples.labels[chosen]))}
    metadata = MorphologyMetadata(
        model=config.model, crop_context=crop_context, min_crop_px=min_crop_px,
        calibration=outcome.calibration,
        training={"data": [str(d) for d in data_dirs], "n_galaxies": len(examples),
                  "n_images": len(np.unique(examples.groups)),
                  "spiral_fraction": float(examples.labels.mean()),
                  "out_of_fold": scores, "out_of_fold_by_source": by_source,
                  "folds": outcome.folds, "device": str(outcome.device),
                  "minutes": outcome.minutes, "config": config.to_dict()})
    save_morphology_classifier(outcome.members, metadata, model_path)
    log(f"wrote {model_path}: out-of-fold AUC {scores['auc']:.4f}, accuracy "
        f"{scores['accuracy']:.4f} ("
        + ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in by_source.items()) + ")")
    return MorphologyTrainResult(model_path, scores, outcome.calibration, outcome.folds)


__all__ = ["CACHE_VERSION", "DEFAULT_MORPHOLOGY_CONFIG", "MORPHOLOGY_CLASSES",
           "MorphologyTrainResult", "morphology_examples", "train_morphology_classifier"]
