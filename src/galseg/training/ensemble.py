"""Train a calibrated k-fold ensemble of :class:`~galseg.models.cutout_net.CutoutNet`.

Both cutout classifiers of galseg (shreds, ``galseg train shreds``; spiral or
elliptical, ``galseg train morphology``) are trained here, the way Di Teodoro
et al. (2023) trained theirs:

* Folds are by **group** (a survey field, or the image a galaxy came from), not
  by example: examples of one group look alike, and a group split across
  training and validation would flatter the scores. A group's fold depends only
  on a hash of its name.
* Each of the k folds trains one network on the other k-1 folds, with early
  stopping on the held-out fold's loss, flips/right-angle rotations, grey images
  (so one-band frames work) and, optionally, Gaussian noise (robustness to noisy
  images). The held-out fold's logits are kept ("out-of-fold").
* The k networks are shipped together; a cutout's logit is their mean. Platt
  scaling (``sigmoid(a * logit + b)``) fitted on the out-of-fold logits makes the
  output a calibrated probability. Because each fold's held-out part also chose
  its early-stopping epoch, out-of-fold scores are slightly optimistic; honest
  figures come from a separate test set.
* A killed run resumes: finished folds are kept (``fold<k>/done.npz``), the
  running fold resumes from its last epoch (:mod:`galseg.training.loop`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galseg.data.splits import unit_hash
from galseg.models.cutout_net import CutoutNet, platt_probability
from galseg.models.geometry import box_crops
from galseg.scores import binary_scores, roc_auc
from galseg.training.configs import EnsembleTrainConfig
from galseg.training.loop import (
    LoopSettings,
    augment_images,
    autocast,
    default_device,
    run_epochs,
    stable_config_json,
)


def fold_of(group: str, n_folds: int) -> int:
    """The fixed cross-validation fold (0..n_folds-1) of the group ``group``."""
    return min(int(unit_hash(f"fold:{group}") * n_folds), n_folds - 1)


@dataclass(frozen=True)
class CutoutExamples:
    """Cutouts with a yes/no truth label.

    Attributes
    ----------
    ids, groups, kinds : ndarray of str, shape (N,)
        Example id, the group that decides its fold (field or image), and a free
        text kind (truth kind of a shred-catalog detection, data source...).
    images : ndarray, shape (N, S, S, 3), uint8
        Colour cutouts.
    labels : ndarray of bool, shape (N,)
    zooms : ndarray of float, shape (N,), optional
        Source-image pixels per cutout pixel (None: 1, cutouts at the source's scale).
        Training noise is made at the source's scale and resampled as the cutout was,
        so it looks like the noise of a real image seen through the same crop.
    """

    ids: np.ndarray
    groups: np.ndarray
    kinds: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    zooms: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def concatenate(cls, parts: list[CutoutExamples]) -> CutoutExamples:
        """All examples of ``parts``, in order (zooms of parts without them are 1)."""
        zooms = None
        if any(p.zooms is not None for p in parts):
            zooms = np.concatenate([np.ones(len(p)) if p.zooms is None else p.zooms
                                    for p in parts])
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("ids", "groups", "kinds", "images", "labels")), zooms)

    def subset(self, index: np.ndarray) -> CutoutExamples:
        return CutoutExamples(self.ids[index], self.groups[index], self.kinds[index],
                              self.images[index], self.labels[index],
                              None if self.zooms is None else self.zooms[index])

    def save(self, path: str | Path, stamp: dict[str, Any]) -> None:
        """Cache the arrays in the ``.npz`` file ``path`` with ``stamp`` (what they were
        made from); written whole or not at all."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        extra = {} if self.zooms is None else {"zooms": self.zooms}
        np.savez(tmp, stamp=json.dumps(stamp), ids=self.ids, groups=self.groups,
                 kinds=self.kinds, images=self.images, labels=self.labels, **extra)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, stamp: dict[str, Any]) -> CutoutExamples | None:
        """The examples cached in ``path`` by :meth:`save` with the same ``stamp``, or
        None (no cache, or one made from other inputs)."""
        if not Path(path).is_file():
            return None
        with np.load(path, allow_pickle=False) as stored:
            if json.loads(str(stored["stamp"])) != stamp:
                return None
            return cls(stored["ids"], stored["groups"], stored["kinds"], stored["images"],
                       stored["labels"], stored["zooms"] if "zooms" in stored.files else None)

    def folds(self, n_folds: int) -> np.ndarray:
        """Fold of every example (by its group)."""
        lookup = {name: fold_of(name, n_folds) for name in np.unique(self.groups)}
        return np.array([lookup[name] for name in self.groups], dtype=np.int64)


def _images(examples: CutoutExamples, index: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(examples.images[index]).permute(0, 3, 1, 2).float() / 255.0


def add_noise(images: torch.Tensor, rng: np.random.Generator, sigma_max: float,
              zooms: np.ndarray | None = None) -> torch.Tensor:
    """Gaussian noise of sigma uniform in [0, ``sigma_max``] counts (of 255) on a random
    half of ``images`` (N, 3, S, S in [0, 1]), clipped back to [0, 1].

    With ``zooms`` (source pixels per image pixel) each crop gets its noise the way a
    crop of a noisy 8-bit picture has it (what the detector's second look sees): the
    crop is resampled to its source size, the noise is added per source pixel and
    rounded and clipped to 0..255 there, and only then resampled by the crop's own
    sampling (:func:`~galseg.models.geometry.box_crops`). The order matters on a dark
    sky: clipping before the crop averages brightens the sky by about
    ``0.4 * sigma`` and leaves less noise than clipping after it."""
    if sigma_max <= 0:
        return images
    n, size = len(images), images.shape[-1]
    sigma = rng.uniform(0, sigma_max, n) * (rng.random(n) < 0.5) / 255.0
    if zooms is None:
        noise = torch.from_numpy(rng.standard_normal(images.shape).astype(np.float32))
        return (images + torch.from_numpy(sigma.astype(np.float32))[:, None, None, None]
                * noise).clamp_(0.0, 1.0)
    out = images.clone()
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    for i in np.flatnonzero(sigma > 0):
        side = float(size * zooms[i])
        source = torch.nn.functional.interpolate(
            images[i:i + 1].float(), size=(math.ceil(side),) * 2, mode="bilinear",
            align_corners=False)[0]
        noise = torch.randn(source.shape, generator=generator).mul_(float(sigma[i]))
        # What the noise and 8-bit clipping change, resampled: the crop's own detail
        # is kept exactly instead of being blurred by the round trip.
        change = (source + noise).mul_(255).round_().clamp_(0, 255).div_(255).sub_(source)
        box = torch.tensor([[0.0, 0.0, side, side]])
        out[i] += box_crops(change, box, size, context=1.0, min_side=0.0)[0]
    return out.clamp_(0.0, 1.0)


def predict_logits(model: CutoutNet, examples: CutoutExamples, *, batch_size: int = 256,
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


def train_fold(fold: int, examples: CutoutExamples, folds: np.ndarray,
               config: EnsembleTrainConfig, run_dir: Path, device: torch.device,
               progress: bool, log: Callable[[str], None], *,
               init_member: CutoutNet | None = None,
               ) -> tuple[CutoutNet, dict[str, Any], np.ndarray]:
    """Train (or, when ``done.npz`` exists, reload) one member of the ensemble.

    Public so that one fold can be trained alone to compare recipes at a fifth of
    the cost of a whole ensemble (``benchmarks/morphology_one_fold.py``).

    Parameters
    ----------
    fold : int
        The held-out fold; the network trains on ``folds != fold``.
    examples : CutoutExamples
        All examples.
    folds : numpy.ndarray
        Each example's fold (:meth:`CutoutExamples.folds`).
    config : EnsembleTrainConfig
        The recipe.
    run_dir : pathlib.Path
        Checkpoints go to ``run_dir / f"fold{fold}"``; a finished fold is reloaded.
    device : torch.device
    progress : bool
        Show a progress bar.
    log : callable
        Receives one line per epoch and a summary.
    init_member : CutoutNet, optional
        Start from this network's weights (``config.init_from`` names its file).

    Returns
    -------
    model : CutoutNet
        The best epoch's network, in eval mode.
    info : dict
        The fold's facts (best epoch, validation loss, AUC, minutes, ...).
    logits : numpy.ndarray
        Its logits for the held-out examples (``folds == fold``), in their order.
    """
    fold_dir = run_dir / f"fold{fold}"
    done_path = fold_dir / "done.npz"
    train = examples.subset(np.flatnonzero(folds != fold))
    val_index = np.flatnonzero(folds == fold)
    val = examples.subset(val_index)
    torch.manual_seed(config.seed * 1000 + fold)
    model = CutoutNet(config.model).to(device, memory_format=torch.channels_last)
    if init_member is not None:
        model.load_state_dict(init_member.state_dict())
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
    labels = torch.from_numpy(train.labels.astype(np.float32))
    val_labels = torch.from_numpy(val.labels.astype(np.float32))

    def batch_loss(index: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        images, _ = augment_images(_images(train, index), rng, config.grey_probability)
        images = add_noise(images, rng, config.noise_sigma,
                           None if train.zooms is None else train.zooms[index])
        with autocast(device):
            logits = model(images.to(device, memory_format=torch.channels_last))
        return _bce(logits.float(), labels[index].to(device)), len(index)

    def validation_loss() -> float:
        logits = torch.from_numpy(predict_logits(model, val, device=device))
        return float(_bce(logits, val_labels))

    log(f"fold {fold}: {len(train)} train, {len(val)} held-out examples "
        f"({int(val.labels.sum())} positive)")
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
            "auc": roc_auc(logits, val.labels) if 0 < val.labels.sum() < len(val)
            else math.nan, "config": config_json}
    np.savez(done_path, info=json.dumps(info), logits=logits)
    log(f"fold {fold}: best epoch {outcome.best_epoch}, val loss "
        f"{outcome.best_val_loss:.4f}, AUC {info['auc']:.4f}")
    return model.eval(), info, logits


@dataclass
class EnsembleOutcome:
    """What :func:`train_ensemble` leaves.

    Attributes
    ----------
    members : list of CutoutNet
        One network per fold (eval mode).
    calibration : (float, float)
        Platt ``(a, b)`` fitted on the out-of-fold logits.
    out_of_fold_logits : ndarray, shape (N,)
    out_of_fold_scores : dict
        AUC and :func:`~galseg.scores.binary_scores` of the calibrated
        out-of-fold probabilities at 0.5.
    folds : list of dict
        Per-fold facts (best epoch, losses, minutes...).
    device : torch.device
    """

    members: list[CutoutNet]
    calibration: tuple[float, float]
    out_of_fold_logits: np.ndarray
    out_of_fold_scores: dict[str, float]
    folds: list[dict[str, Any]]
    device: torch.device

    @property
    def minutes(self) -> float:
        return round(sum(info["minutes"] for info in self.folds), 1)


def train_ensemble(
    examples: CutoutExamples,
    config: EnsembleTrainConfig,
    run_dir: str | Path,
    *,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    what: str = "positive",
    init_members: list[CutoutNet] | None = None,
) -> EnsembleOutcome:
    """Train one :class:`CutoutNet` per fold of ``examples`` and calibrate their mean.

    ``run_dir`` receives ``config.json`` and one ``fold<k>/`` folder per fold
    (checkpoints, metrics, ``done.npz``); a run started again resumes from them.
    ``what`` names the positive class in messages. ``init_members`` (one per fold)
    start the folds from trained networks instead of from scratch.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device) if device else default_device()
    size = config.model.input_size
    if examples.images.shape[1:3] != (size, size):
        raise ValueError(f"cutouts are {examples.images.shape[1:3]}, the model takes "
                         f"{size}x{size}")
    if init_members is not None and len(init_members) != config.n_folds:
        raise ValueError(f"{len(init_members)} starting networks for {config.n_folds} folds")
    folds = examples.folds(config.n_folds)
    for fold in range(config.n_folds):
        held_out = examples.labels[folds == fold]
        if len(held_out) == 0 or held_out.all() or not held_out.any():
            raise ValueError(f"fold {fold} needs both classes; use more groups or fewer folds")
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    log(f"{len(examples)} cutouts from {len(np.unique(examples.groups))} groups, "
        f"{examples.labels.mean():.1%} {what}; {config.n_folds} folds; device {device}")
    members, infos = [], []
    oof = np.full(len(examples), np.nan, np.float32)
    for fold in range(config.n_folds):
        member, info, logits = train_fold(
            fold, examples, folds, config, run_dir, device, progress, log,
            init_member=None if init_members is None else init_members[fold])
        oof[folds == fold] = logits
        members.append(member)
        infos.append({k: v for k, v in info.items() if k != "config"})
    calibration = fit_platt(oof, examples.labels)
    p_oof = platt_probability(oof, calibration)
    scores = {"auc": roc_auc(oof, examples.labels),
              **binary_scores(p_oof >= 0.5, examples.labels)}
    return EnsembleOutcome(members, calibration, oof, scores, infos, device)


__all__ = ["CutoutExamples", "EnsembleOutcome", "EnsembleTrainConfig", "add_noise", "fit_platt",
           "fold_of", "predict_logits", "train_ensemble", "train_fold"]
