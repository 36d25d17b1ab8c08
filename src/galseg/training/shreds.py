"""Train the shred classifier with k-fold cross-validation (``galseg train shreds``).

* Data: a folder made by ``galseg simulate --shred-fields`` (or any folder laid
  out the same way): ``catalog.csv`` with ``id``, ``field`` and the truth label
  ``true_is_shred``, and one colour cutout ``cutouts/<id>_grz.png`` per row.
* Folds are by **field**, not by detection: shreds of one host look alike.
* Training, resuming and calibration are those of every galseg cutout classifier
  (:mod:`galseg.training.ensemble`): one network per fold with early stopping on
  the held-out fold (Di Teodoro et al. 2023: 5 folds, patience 5), Platt scaling
  of the mean logit on the out-of-fold logits.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from galseg.errors import InputFileError
from galseg.models.weights import ShredMetadata, save_shred_classifier
from galseg.training.ensemble import (
    CutoutExamples,
    EnsembleTrainConfig,
    train_ensemble,
)

CACHE_VERSION = 2
TRUTH_COLUMN = "true_is_shred"
"""Catalog column with the truth label (1 shred, 0 not); not ``is_shred``, which is
what ``galseg shreds`` adds, so a labelled catalog can be run through it."""
SHRED_PIXSCALE_ARCSEC = 0.469
"""Pixel scale of the shred cutouts (as the paper's Legacy Surveys cutouts)."""


def load_shred_examples(
    data_dir: str | PathLike[str], *, cache: str | PathLike[str] | None = None,
    progress: bool = True,
) -> CutoutExamples:
    """Read ``data_dir/catalog.csv`` and every ``data_dir/cutouts/<id>_grz.png``.

    ``cache`` (an ``.npz`` file) keeps the arrays for the next run; it is rebuilt when
    the catalog changes.
    """
    data_dir = Path(data_dir)
    catalog_path = data_dir / "catalog.csv"
    if not catalog_path.is_file():
        raise InputFileError(catalog_path, "no shred catalog here (make one with "
                                           "'galseg simulate --shred-fields')")
    # plain csv: ids stay text exactly as written (no type guessing)
    with catalog_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames or []
    for column in ("id", "field", TRUTH_COLUMN):
        if column not in columns:
            raise InputFileError(catalog_path, f"column {column!r} is missing")
    catalog = {c: np.array([row[c] for row in rows], dtype=str) for c in columns}
    stamp = {"version": CACHE_VERSION, "catalog_bytes": catalog_path.stat().st_size,
             "catalog_mtime_ns": catalog_path.stat().st_mtime_ns, "n": len(rows)}
    if cache is not None and (cached := CutoutExamples.load(cache, stamp)) is not None:
        return cached
    ids = catalog["id"]
    images = None
    for i, name in enumerate(tqdm(ids, desc="reading cutouts", unit="cutout",
                                  disable=not progress)):
        path = data_dir / "cutouts" / f"{name}_grz.png"
        try:
            with Image.open(path) as picture:
                array = np.asarray(picture.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise InputFileError(path, f"unreadable cutout ({exc})") from None
        if images is None:
            images = np.empty((len(ids), *array.shape), np.uint8)
        if array.shape != images.shape[1:]:
            raise InputFileError(path, f"cutout shape {array.shape}, expected {images.shape[1:]}")
        images[i] = array
    if images is None:
        raise InputFileError(catalog_path, "the catalog has no rows")
    kinds = catalog.get("kind", np.full(len(ids), ""))
    is_shred = np.isin(np.char.lower(catalog[TRUTH_COLUMN]), ("1", "true", "t", "yes"))
    examples = CutoutExamples(ids, catalog["field"], kinds, images, is_shred)
    if cache is not None:
        examples.save(cache, stamp)
    return examples


ShredTrainConfig = EnsembleTrainConfig
"""Hyper-parameters of a shred-classifier run: :class:`~galseg.training.ensemble.
EnsembleTrainConfig` (its defaults are the shred classifier's)."""


@dataclass
class ShredTrainResult:
    """Outcome of :func:`train_shred_classifier`."""

    model_path: Path
    out_of_fold_auc: float
    out_of_fold_scores: dict[str, float]
    calibration: tuple[float, float]
    folds: list[dict[str, Any]]


def train_shred_classifier(
    data_dir: str | PathLike[str],
    model_path: str | PathLike[str],
    config: ShredTrainConfig | None = None,
    *,
    run_dir: str | PathLike[str] | None = None,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> ShredTrainResult:
    """Train a k-fold ensemble on the shred catalog of ``data_dir``; write ``model_path``.

    Parameters
    ----------
    data_dir : path
        ``catalog.csv`` (``id``, ``field``, ``true_is_shred``) and ``cutouts/<id>_grz.png``.
    model_path : path
        Output model file: the k fold networks (fp16), calibration and training facts.
    config : ShredTrainConfig
    run_dir : path, optional
        Per-fold checkpoints and metrics, the cutout cache; default ``<model_path>.run/``.
    device : optional
        ``'cpu'``, ``'cuda'``...; default: CUDA when available.
    """
    config = config or ShredTrainConfig()
    model_path = Path(model_path)
    run_dir = Path(run_dir) if run_dir else model_path.with_name(model_path.name + ".run")
    run_dir.mkdir(parents=True, exist_ok=True)
    examples = load_shred_examples(data_dir, cache=run_dir / "examples.npz", progress=progress)
    outcome = train_ensemble(examples, config, run_dir, device=device, progress=progress,
                             log=log, what="shreds")
    scores, calibration, infos = (outcome.out_of_fold_scores, outcome.calibration,
                                  outcome.folds)
    threshold = 0.5
    metadata = ShredMetadata(
        model=config.model, pixscale_arcsec=SHRED_PIXSCALE_ARCSEC, calibration=calibration,
        threshold=threshold,
        training={"data": str(data_dir), "n_detections": len(examples),
                  "n_fields": len(np.unique(examples.groups)),
                  "shred_fraction": float(examples.labels.mean()),
                  "out_of_fold": scores, "folds": infos, "device": str(outcome.device),
                  "minutes": outcome.minutes, "config": config.to_dict()})
    save_shred_classifier(outcome.members, metadata, model_path)
    log(f"wrote {model_path}: out-of-fold AUC {scores['auc']:.4f}, accuracy "
        f"{scores['accuracy']:.4f}, completeness {scores['completeness']:.3f}, purity "
        f"{scores['purity']:.3f}; calibration a={calibration[0]:.3f} b={calibration[1]:.3f}")
    return ShredTrainResult(model_path, scores["auc"], scores, calibration, infos)
