"""Train the spiral/bar U-Net on GZ3D vote fractions (``galseg train segmenter``).

What happens, and why:

* Targets are the volunteers' vote fractions; the loss is a masked L1: a galaxy's
  channel in which no volunteer marked anything adds no loss (Walmsley & Spindler
  2023), so an unmarked bar channel is "unknown", not "no bar".
* Augmentation keeps values exact: the 8 flips and right-angle rotations (no
  interpolation of the vote maps), plus an occasional grey image so the model also
  works on one-band FITS (:mod:`galseg.data.images` makes those grey). With
  ``degrade_probability`` > 0 some images are also blurred, re-coloured, re-stretched
  or made noisier (:func:`galseg.training.loop.degrade_images`) so that a model
  trained on simulations meets real surveys less surprised; the targets stay exact.
* With ``weak_data`` (a Galaxy Zoo 1 SDSS folder) every step also shows real spirals
  and ellipticals with only their class, and adds the image-level loss of
  :mod:`galseg.training.weak_labels` (arms somewhere in a spiral, nothing in an
  elliptical), weighted by ``weak_weight``, to the loss and to the validation loss.
* With ``eye_bar_data`` every step also shows real galaxies of the **train** split of
  galseg's bar labels by eye, half barred, and adds the loss of
  :mod:`galseg.training.eye_bars` on the bar channel (a bar along the drawn bar and
  nowhere else; none in an unbarred disc), weighted by ``eye_bar_weight``. It is not
  in the validation loss: every train label teaches, and the test labels only measure.
* With ``UNetConfig(input_normalisation='quantile_match')`` the network's reference
  quantiles are the mean quantile function of up to :data:`REFERENCE_IMAGES` clean
  train pictures, set before the first step (unless the start model has them); the
  degraded and re-stretched pictures then teach it the rest.
* Validation and test never see augmentation (a fault of the reference code).
* AdamW, gradient clipping, learning rate cut by ``lr_factor`` after ``lr_patience``
  epochs without progress (or a cosine decay, ``lr_schedule='cosine'``), early
  stopping on validation loss; the best epoch's weights are written to the model
  file. A checkpoint after every epoch makes a killed run resume where it stopped,
  with the same random stream (seeded per epoch).
* Mixed precision and the GPU are used automatically when CUDA is available.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch

from galseg.data.bar_labels import BAR_LABELS_PATH
from galseg.measure import check_rules
from galseg.models.geometry import dihedral_each
from galseg.models.input_norm import QuantileMatch
from galseg.models.unet import UNet, count_parameters
from galseg.models.weights import SegmenterMetadata, load_segmenter, save_segmenter
from galseg.training.configs import GREY_PROBABILITY, TrainConfig
from galseg.training.examples import SegmentationExamples, image_batch, load_examples
from galseg.training.eye_bars import eye_bar_loss, load_eye_bar_examples
from galseg.training.loop import (
    LoopSettings,
    augment_images,
    autocast,
    default_device,
    degrade_images,
    run_epochs,
    stable_config_json,
)
from galseg.training.weak_labels import (
    evaluate_weak_loss,
    load_gz1_weak_examples,
    weak_loss,
)

REFERENCE_IMAGES = 1000
"""Train pictures whose mean quantile function becomes the input reference."""


def masked_l1(prediction: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mean absolute error over the (galaxy, channel) pairs that have any volunteer mark.

    Returns the loss and the number of (galaxy, channel) pairs that counted; the loss is
    0 (with a gradient) when none did.
    """
    marked = target.flatten(2).amax(dim=2) > 0  # (N, C)
    per_map = (prediction - target).abs().flatten(2).mean(dim=2)
    n = int(marked.sum())
    if n == 0:
        return per_map.sum() * 0.0, 0
    return (per_map * marked).sum() / n, n


def augment(images: torch.Tensor, targets: torch.Tensor, rng: np.random.Generator,
            grey_probability: float, degrade_probability: float = 0.0,
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flips/right-angle rotations (same for image and target), grey images and
    (with ``degrade_probability``) survey-like degradations of the image alone."""
    images, ks = augment_images(images, rng, grey_probability)
    images = degrade_images(images, rng, degrade_probability)
    targets = dihedral_each(targets, ks)
    return images, targets


def _batch(examples: SegmentationExamples, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    images = image_batch(examples.images[index])
    targets = torch.from_numpy(examples.vote_fractions(index))
    return images, targets


def evaluate_loss(model: UNet, examples: SegmentationExamples, *, batch_size: int,
                  device: torch.device) -> float:
    """Masked L1 over a whole set, without augmentation."""
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            index = np.arange(start, min(start + batch_size, len(examples)))
            images, targets = _batch(examples, index)
            with autocast(device):
                prediction = model(images.to(device, memory_format=torch.channels_last))
            loss, n = masked_l1(prediction.float(), targets.to(device))
            total += float(loss) * n
            count += n
    return total / count if count else math.nan


@dataclass
class TrainResult:
    """Outcome of :func:`train_segmenter`."""

    model_path: Path
    best_epoch: int
    best_val_loss: float
    test_loss: float
    epochs_run: int
    stopped_because: str
    history: list[dict[str, float]]


def train_segmenter(
    data_dir: str | PathLike[str],
    model_path: str | PathLike[str],
    config: TrainConfig | None = None,
    *,
    run_dir: str | PathLike[str] | None = None,
    workers: int = 1,
    device: torch.device | str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Train a segmenter on the GZ3D files of ``data_dir`` and write ``model_path``.

    Parameters
    ----------
    data_dir : path
        GZ3D files (real or made by ``galseg simulate``).
    model_path : path
        Output model file (best validation epoch, fp16 weights and metadata).
    config : TrainConfig
    run_dir : path, optional
        Checkpoint, metrics log and example cache; default ``<model_path>.run/``. An
        existing checkpoint with the same configuration is resumed.
    workers : int
        Processes reading the GZ3D files.
    device : optional
        ``'cpu'``, ``'cuda'``...; default: CUDA when available.
    """
    config = config or TrainConfig()
    model_path = Path(model_path)
    run_dir = Path(run_dir) if run_dir else model_path.with_name(model_path.name + ".run")
    run_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(device) if device else default_device()
    torch.manual_seed(config.seed)

    examples = load_examples(data_dir, frame_size=config.frame_size,
                             cache=run_dir / "examples.npz", workers=workers, progress=progress)
    train, val, test = (examples.subset(s) for s in ("train", "val", "test"))
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"need galaxies in both train and validation splits; got "
                         f"{len(train)} train, {len(val)} val from {data_dir}")
    log(f"{len(train)} train, {len(val)} validation, {len(test)} test galaxies; "
        f"device {device}")
    weak_train = weak_val = None
    weak_counts: dict[str, int] = {}
    if config.weak_data is not None:
        if config.weak_weight < 0 or config.weak_batch_size < 2:
            raise ValueError(f"weak_weight must be >= 0 and weak_batch_size >= 2 (one galaxy "
                             f"of each class); got {config.weak_weight}, "
                             f"{config.weak_batch_size}")
        weak = load_gz1_weak_examples(config.weak_data, frame_size=config.frame_size,
                                      cache=run_dir / "weak_examples.npz", progress=progress,
                                      edge_on=config.weak_edge_on)
        weak_train, weak_val = weak.subset(val=False), weak.subset(val=True)
        weak_counts = {"weak_spirals": int(weak.has_arms.sum()),
                       "weak_ellipticals": int((~weak.has_arms & ~weak.edge_on).sum()),
                       "weak_edge_on": int(weak.edge_on.sum())}
        log(f"weak labels: {weak_counts['weak_spirals']} spirals, "
            f"{weak_counts['weak_ellipticals']} ellipticals, "
            f"{weak_counts['weak_edge_on']} edge-on discs from {config.weak_data} "
            f"({len(weak_val)} validate)")

    eye_bars = None
    if config.eye_bar_data is not None:
        if config.eye_bar_weight < 0 or config.eye_bar_batch_size < 2:
            raise ValueError(f"eye_bar_weight must be >= 0 and eye_bar_batch_size >= 2 (one "
                             f"galaxy of each kind); got {config.eye_bar_weight}, "
                             f"{config.eye_bar_batch_size}")
        eye_bars = load_eye_bar_examples(
            config.eye_bar_data, labels=config.eye_bar_labels or BAR_LABELS_PATH,
            stellarium_root=config.eye_bar_stellarium, frame_size=config.frame_size)
        log(f"eye bar labels: {int(eye_bars.is_bar.sum())} bars, "
            f"{int((~eye_bars.is_bar).sum())} unbarred discs (train split)")

    model = UNet(config.model)
    reference_loaded = False
    if config.init_from is not None:
        start, start_metadata = load_segmenter(config.init_from)
        # A start without the input normalisation may seed one with it (its reference is
        # then set below); every other difference is another architecture.
        same_layers = replace(start_metadata.model,
                              input_normalisation=config.model.input_normalisation)
        if same_layers != config.model or start_metadata.frame_size != config.frame_size:
            raise ValueError(f"init_from {config.init_from} is another architecture or frame "
                             f"({start_metadata.model}, {start_metadata.frame_size} px) than "
                             f"asked ({config.model}, {config.frame_size} px)")
        keys = model.load_state_dict(start.state_dict(), strict=False)
        if keys.unexpected_keys or any(not k.startswith("input_norm.")
                                       for k in keys.missing_keys):
            raise ValueError(f"init_from {config.init_from}: weights do not fit "
                             f"(missing {keys.missing_keys}, unexpected {keys.unexpected_keys})")
        reference_loaded = not keys.missing_keys
        log(f"starting from the weights of {config.init_from}")
    if isinstance(model.input_norm, QuantileMatch) and not reference_loaded:
        pick = np.random.default_rng(config.seed).permutation(len(train))[:REFERENCE_IMAGES]
        model.input_norm.set_reference(image_batch(train.images[np.sort(pick)]))
        log(f"input quantiles set from {len(pick)} train pictures")
    model = model.to(device, memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    log(f"model: {count_parameters(model):,} parameters, widths {config.model.widths}")

    def batch_loss(index: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        images, targets = _batch(train, index)
        images, targets = augment(images, targets, rng, config.grey_probability,
                                  config.degrade_probability)
        if weak_train is not None:
            # One forward pass over simulated and real galaxies together: batch norm then
            # learns statistics of the mix it is evaluated with (separate passes left
            # running statistics that fit neither and raised the simulations' loss).
            weak_images, has_arms, edge_on = weak_train.tensors(
                weak_train.balanced_batch(config.weak_batch_size, rng))
            weak_images, _ = augment_images(weak_images, rng, config.grey_probability)
            images = torch.cat([images, weak_images])
        if eye_bars is not None:
            eye_images, inside, outside, is_bar = eye_bars.tensors(
                eye_bars.balanced_batch(config.eye_bar_batch_size, rng))
            eye_images, ks = augment_images(eye_images, rng, config.grey_probability)
            inside, outside = dihedral_each(inside, ks), dihedral_each(outside, ks)
            images = torch.cat([images, eye_images])
        with autocast(device):
            prediction = model(images.to(device, memory_format=torch.channels_last)).float()
        n_sim, n_weak = len(index), 0 if weak_train is None else len(has_arms)
        loss, n = masked_l1(prediction[:n_sim], targets.to(device))
        if weak_train is not None:
            loss = loss + config.weak_weight * weak_loss(
                prediction[n_sim:n_sim + n_weak], has_arms, edge_on)
        if eye_bars is not None:
            loss = loss + config.eye_bar_weight * eye_bar_loss(
                prediction[n_sim + n_weak:, 1], inside, outside, is_bar)
        return loss, n

    def validation_loss() -> float:
        loss = evaluate_loss(model, val, batch_size=2 * config.batch_size, device=device)
        if weak_val is not None and len(weak_val):
            loss += config.weak_weight * evaluate_weak_loss(
                model, weak_val, batch_size=2 * config.batch_size, device=device)
        return loss

    outcome = run_epochs(
        model, optimiser, n_train=len(train), batch_loss=batch_loss,
        validation_loss=validation_loss,
        settings=LoopSettings(config.batch_size, config.max_epochs, config.patience,
                              config.max_minutes, config.seed, config.gradient_clip,
                              config.lr_factor, config.lr_patience, config.lr_schedule),
        run_dir=run_dir, config_json=stable_config_json(config.to_dict()), device=device,
        progress=progress, log=log)
    test_loss = (evaluate_loss(model, test, batch_size=2 * config.batch_size, device=device)
                 if len(test) else math.nan)
    metadata = SegmenterMetadata(
        model=config.model, frame_size=config.frame_size,
        pixscale_arcsec=float(np.median(examples.pixscale_arcsec)),
        training={"data": str(data_dir), "n_train": len(train), "n_val": len(val),
                  "n_test": len(test), "best_epoch": outcome.best_epoch,
                  "val_loss": outcome.best_val_loss, "test_loss": test_loss,
                  "epochs_run": outcome.epochs_run, "stopped": outcome.stopped_because,
                  "minutes": outcome.minutes, "device": str(device),
                  "config": config.to_dict()}
        | weak_counts
        | ({} if eye_bars is None else {"eye_bars": int(eye_bars.is_bar.sum()),
                                        "eye_unbarred": int((~eye_bars.is_bar).sum())}))
    save_segmenter(model, metadata, model_path)
    log(f"wrote {model_path}: best epoch {outcome.best_epoch}, val loss "
        f"{outcome.best_val_loss:.5f}, test loss {test_loss:.5f} ({outcome.stopped_because})")
    return TrainResult(model_path, outcome.best_epoch, outcome.best_val_loss, test_loss,
                       outcome.epochs_run, outcome.stopped_because, outcome.history)


def average_segmenters(
    start_path: str | PathLike[str],
    tuned_path: str | PathLike[str],
    out_path: str | PathLike[str],
    *,
    weight: float = 0.5,
) -> Path:
    """Write the segmenter whose weights are ``(1 - weight) * start + weight * tuned``.

    ``tuned`` must be a fine-tuning of ``start`` (``--init-from``), so the two lie in one
    basin of the loss and their average is a working model. Averaging a model with its
    own fine-tuning on shifted data keeps most of the fine-tuning's robustness to the
    shift and most of the start's accuracy on the original data (Wortsman et al. 2022,
    "Robust fine-tuning of zero-shot models", WiSE-FT); galseg uses it to mix the model
    trained on clean simulations with its fine-tuning on degraded ones
    (``docs/models.md``). Batch-norm statistics are averaged the same way.

    Parameters
    ----------
    start_path, tuned_path : path
        Model files of :func:`train_segmenter`, same architecture and frame.
    out_path : path
        Output model file; its metadata is ``tuned``'s, with the average recorded in
        ``training['weight_average']``.
    weight : float
        Share of ``tuned``, in [0, 1].
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], not {weight}")
    start, start_metadata = load_segmenter(start_path)
    tuned, tuned_metadata = load_segmenter(tuned_path)
    if (start_metadata.model, start_metadata.frame_size) != (tuned_metadata.model,
                                                             tuned_metadata.frame_size):
        raise ValueError(f"{start_path} and {tuned_path} are different architectures or "
                         "frames; only a model and its fine-tuning can be averaged")
    tuned_state = tuned.state_dict()
    start.load_state_dict({  # both float32 (load_segmenter); counters taken from ``tuned``
        name: value * (1.0 - weight) + tuned_state[name] * weight
        if value.is_floating_point() else tuned_state[name]
        for name, value in start.state_dict().items()})
    average = {"start": str(start_path), "tuned": str(tuned_path), "tuned_weight": weight,
               "start_training": start_metadata.training}
    metadata = replace(tuned_metadata,
                       training={**tuned_metadata.training, "weight_average": average})
    return save_segmenter(start, metadata, out_path)


def with_measure_rules(model_path: str | PathLike[str], out_path: str | PathLike[str],
                       rules: dict[str, Any], *, chosen_on: dict[str, Any] | None = None,
                       ) -> Path:
    """Write ``model_path``'s segmenter to ``out_path`` with its own measurement rules.

    Parameters
    ----------
    model_path, out_path : path
        Model files; the weights are copied unchanged (float16 both ways).
    rules : dict
        Keyword arguments of :func:`galseg.measure.measure_features`
        (``spiral_threshold``, ``spiral_detection_level``, ...); they replace the
        file's rules, and ``galseg segment`` applies them (``SegmenterMetadata.measure_rules``).
    chosen_on : dict, optional
        How they were chosen, recorded in ``training['measure_rules']``.
    """
    check_rules(**rules)  # a bad rule fails here, not in a user's run
    model, metadata = load_segmenter(model_path)
    training = {**metadata.training, "measure_rules": {"rules": rules, **(chosen_on or {})}}
    return save_segmenter(model, replace(metadata, measure_rules=dict(rules),
                                         training=training), out_path)


__all__ = ["GREY_PROBABILITY", "TrainConfig", "TrainResult", "augment", "average_segmenters",
           "evaluate_loss", "masked_l1", "train_segmenter", "with_measure_rules"]
