"""Train the shred classifier with k-fold cross-validation (``galseg train shreds``).

What happens, and why:

* Data: a folder made by ``galseg simulate --shred-fields`` (or any folder laid
  out the same way): ``catalog.csv`` with ``id``, ``field`` and the truth label
  ``true_is_shred``, and one colour cutout ``cutouts/<id>_grz.png`` per row.
* Folds are by **field**, not by detection: shreds of one host look alike, and a
  host split across training and validation would flatter the scores. A field's
  fold depends only on a hash of its name.
* Each of the k folds trains one network on the other k-1 folds, with early
  stopping on the held-out fold's loss (Di Teodoro et al. 2023: 5 folds,
  patience 5), flips/right-angle rotations and grey images (so one-band frames
  work). The held-out fold's logits are kept ("out-of-fold").
* The k networks are shipped together; a source's logit is their mean. Platt
  scaling (``sigmoid(a * logit + b)``) fitted on the out-of-fold logits makes
  ``p_shred`` a calibrated probability. Because each fold's held-out part also
  chose its early-stopping epoch, out-of-fold scores are slightly optimistic;
  the honest figures come from a separate simulated set (``galseg evaluate shreds``).
* A killed run resumes: finished folds are kept (``fold<k>/done.npz``), the
  running fold resumes from its last epoch (:mod:`galseg.training.loop`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from galseg.errors import InputFileError
from galseg.evaluate.metrics import binary_scores, roc_auc
from galseg.models.shrednet import ShredNet, ShredNetConfig
from galseg.models.weights import ShredMetadata, save_shred_classifier
from galseg.training.examples import unit_hash
from galseg.training.loop import (
    LoopSettings,
    augment_images,
    autocast,
    default_device,
    run_epochs,
    stable_config_json,
)

CACHE_VERSION = 1
TRUTH_COLUMN = "true_is_shred"
"""Catalog column with the truth label (1 shred, 0 not); not ``is_shred``, which is
what ``galseg shreds`` adds, so a labelled catalog can be run through it."""
SHRED_PIXSCALE_ARCSEC = 0.469
"""Pixel scale of the shred cutouts (as the paper's Legacy Surveys cutouts)."""


def fold_of(field_name: str, n_folds: int) -> int:
    """The fixed cross-validation fold (0..n_folds-1) of the field ``field_name``."""
    return min(int(unit_hash(f"fold:{field_name}") * n_folds), n_folds - 1)


@dataclass(frozen=True)
class ShredExamples:
    """Cutouts and truth labels of catalog detections.

    Attributes
    ----------
    ids, fields, kinds : ndarray of str, shape (N,)
        Detection id, the field it came from, and its truth kind.
    images : ndarray, shape (N, S, S, 3), uint8
        Colour cutouts.
    is_shred : ndarray of bool, shape (N,)
    """

    ids: np.ndarray
    fields: np.ndarray
    kinds: np.ndarray
    images: np.ndarray
    is_shred: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> ShredExamples:
        return ShredExamples(self.ids[index], self.fields[index], self.kinds[index],
                             self.images[index], self.is_shred[index])

    def folds(self, n_folds: int) -> np.ndarray:
        """Fold of every example (by its field)."""
        lookup = {name: fold_of(name, n_folds) for name in np.unique(self.fields)}
        return np.array([lookup[name] for name in self.fields], dtype=np.int64)


def load_shred_examples(
    data_dir: str | PathLike[str], *, cache: str | PathLike[str] | None = None,
    progress: bool = True,
) -> ShredExamples:
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
    if cache is not None and Path(cache).is_file():
        with np.load(cache, allow_pickle=False) as stored:
            if json.loads(str(stored["stamp"])) == stamp:
                return ShredExamples(stored["ids"], stored["fields"], stored["kinds"],
                                     stored["images"], stored["is_shred"])
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
    examples = ShredExamples(ids, catalog["field"], kinds, images, is_shred)
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(cache).with_name(Path(cache).name + ".tmp.npz")
        np.savez(tmp, stamp=json.dumps(stamp), ids=examples.ids, fields=examples.fields,
                 kinds=examples.kinds, images=examples.images, is_shred=examples.is_shred)
        tmp.replace(cache)
    return examples


@dataclass(frozen=True)
class ShredTrainConfig:
    """Hyper-parameters of a shred-classifier training run (stored with the run)."""

    model: ShredNetConfig = field(default_factory=ShredNetConfig)
    n_folds: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    gradient_clip: float = 1.0
    max_epochs: int = 30
    patience: int = 5
    max_minutes: float | None = None
    """Time limit per fold."""
    seed: int = 0
    grey_probability: float = 0.15
    lr_factor: float = 0.3
    lr_patience: int = 2

    def __post_init__(self) -> None:
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds!r}")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["model"] = self.model.to_dict()
        return values


def _images(examples: ShredExamples, index: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(examples.images[index]).permute(0, 3, 1, 2).float() / 255.0


def predict_logits(model: ShredNet, examples: ShredExamples, *, batch_size: int = 256,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Logits of one network for every example, without augmentation."""
    model.eval()
    device = torch.device(device)
    out = []
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            index = np.arange(start, min(start + batch_size, len(examples)))
            images = _images(examples, index).to(device, memory_format=torch.channels_last)
            with autocast(device):
                out.append(model(images).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def _bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt scaling: ``(a, b)`` minimising the log loss of ``sigmoid(a * logit + b)``."""
    x = torch.as_tensor(np.asarray(logits, np.float64))
    y = torch.as_tensor(np.asarray(labels, np.float64))
    params = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([params], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = _bce(params[0] * x + params[1], y)
        loss.backward()
        return loss

    optimiser.step(closure)
    a, b = (float(v) for v in params.detach())
    return a, b


@dataclass
class ShredTrainResult:
    """Outcome of :func:`train_shred_classifier`."""

    model_path: Path
    out_of_fold_auc: float
    out_of_fold_scores: dict[str, float]
    calibration: tuple[float, float]
    folds: list[dict[str, Any]]


def _train_fold(fold: int, examples: ShredExamples, folds: np.ndarray,
                config: ShredTrainConfig, run_dir: Path, device: torch.device,
                progress: bool, log: Callable[[str], None],
                ) -> tuple[ShredNet, dict[str, Any], np.ndarray]:
    """Train (or, when ``done.npz`` exists, reload) fold ``fold``'s network; returns it,
    the fold's facts and its logits for the held-out detections (``folds == fold``)."""
    fold_dir = run_dir / f"fold{fold}"
    done_path = fold_dir / "done.npz"
    train = examples.subset(np.flatnonzero(folds != fold))
    val_index = np.flatnonzero(folds == fold)
    val = examples.subset(val_index)
    torch.manual_seed(config.seed * 1000 + fold)
    model = ShredNet(config.model).to(device, memory_format=torch.channels_last)
    config_json = stable_config_json(config.to_dict())
    if done_path.is_file():
        with np.load(done_path) as stored:
            info = json.loads(str(stored["info"]))
            logits = stored["logits"]
        if info["config"] != config_json or len(logits) != len(val_index):
            raise ValueError(f"{done_path} was made with another configuration; "
                             "delete the run folder or use the same options")
        model.load_state_dict(torch.load(fold_dir / "best_state.pt", map_location=device,
                                         weights_only=True))
        log(f"fold {fold}: already trained (best epoch {info['best_epoch']})")
        return model.eval(), info, logits
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    labels = torch.from_numpy(train.is_shred.astype(np.float32))
    val_labels = torch.from_numpy(val.is_shred.astype(np.float32))

    def batch_loss(index: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        images, _ = augment_images(_images(train, index), rng, config.grey_probability)
        with autocast(device):
            logits = model(images.to(device, memory_format=torch.channels_last))
        return _bce(logits.float(), labels[index].to(device)), len(index)

    def validation_loss() -> float:
        logits = torch.from_numpy(predict_logits(model, val, device=device))
        return float(_bce(logits, val_labels))

    log(f"fold {fold}: {len(train)} train, {len(val)} held-out detections "
        f"({int(val.is_shred.sum())} shreds)")
    outcome = run_epochs(
        model, optimiser, n_train=len(train), batch_loss=batch_loss,
        validation_loss=validation_loss,
        settings=LoopSettings(config.batch_size, config.max_epochs, config.patience,
                              config.max_minutes, config.seed * 1000 + fold,
                              config.gradient_clip, config.lr_factor, config.lr_patience),
        run_dir=fold_dir, config_json=config_json, device=device,
        progress=progress, log=log, label=f"fold {fold} epoch")
    logits = predict_logits(model, val, device=device)
    info = {"fold": fold, "best_epoch": outcome.best_epoch,
            "val_loss": outcome.best_val_loss, "epochs_run": outcome.epochs_run,
            "stopped": outcome.stopped_because, "minutes": outcome.minutes,
            "n_train": len(train), "n_val": len(val),
            "auc": roc_auc(logits, val.is_shred) if 0 < val.is_shred.sum() < len(val)
            else math.nan, "config": config_json}
    np.savez(done_path, info=json.dumps(info), logits=logits)
    log(f"fold {fold}: best epoch {outcome.best_epoch}, val loss "
        f"{outcome.best_val_loss:.4f}, AUC {info['auc']:.4f}")
    return model.eval(), info, logits


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
    device = torch.device(device) if device else default_device()
    examples = load_shred_examples(data_dir, cache=run_dir / "examples.npz", progress=progress)
    size = config.model.input_size
    if examples.images.shape[1:3] != (size, size):
        raise ValueError(f"cutouts are {examples.images.shape[1:3]}, the model takes "
                         f"{size}x{size}")
    folds = examples.folds(config.n_folds)
    for fold in range(config.n_folds):
        held_out = examples.is_shred[folds == fold]
        if len(held_out) == 0 or held_out.all() or not held_out.any():
            raise ValueError(f"fold {fold} needs both shreds and galaxies; use more fields "
                             f"or fewer folds")
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    log(f"{len(examples)} detections from {len(np.unique(examples.fields))} fields, "
        f"{examples.is_shred.mean():.1%} shreds; {config.n_folds} folds; device {device}")

    members, infos = [], []
    oof = np.full(len(examples), np.nan, np.float32)
    for fold in range(config.n_folds):
        member, info, logits = _train_fold(fold, examples, folds, config, run_dir, device,
                                           progress, log)
        oof[folds == fold] = logits
        members.append(member)
        infos.append({k: v for k, v in info.items() if k != "config"})

    calibration = fit_platt(oof, examples.is_shred)
    p_oof = 1.0 / (1.0 + np.exp(-(calibration[0] * oof.astype(np.float64) + calibration[1])))
    threshold = 0.5
    scores = {"auc": roc_auc(oof, examples.is_shred),
              **binary_scores(p_oof >= threshold, examples.is_shred)}
    metadata = ShredMetadata(
        model=config.model, pixscale_arcsec=SHRED_PIXSCALE_ARCSEC, calibration=calibration,
        threshold=threshold,
        training={"data": str(data_dir), "n_detections": len(examples),
                  "n_fields": len(np.unique(examples.fields)),
                  "shred_fraction": float(examples.is_shred.mean()),
                  "out_of_fold": scores, "folds": infos, "device": str(device),
                  "minutes": round(sum(i["minutes"] for i in infos), 1),
                  "config": config.to_dict()})
    save_shred_classifier(members, metadata, model_path)
    log(f"wrote {model_path}: out-of-fold AUC {scores['auc']:.4f}, accuracy "
        f"{scores['accuracy']:.4f}, completeness {scores['completeness']:.3f}, purity "
        f"{scores['purity']:.3f}; calibration a={calibration[0]:.3f} b={calibration[1]:.3f}")
    return ShredTrainResult(model_path, scores["auc"], scores, calibration, infos)
