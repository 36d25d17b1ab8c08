"""Train the galaxy detector (``galseg train detector``).

What happens, and why:

* Data: one or more detection example folders (:mod:`galseg.data.detection_examples`):
  real SDSS cutouts with Galaxy Zoo 1 classes and Otsu masks (``galseg gz1-masks``)
  and simulated multi-galaxy fields (``galseg simulate --detection-fields``).
  A fixed share of each folder's images (by a hash of the name) is kept for
  validation (early stopping); held-out test folders are never read here.
* Crops: images larger than ``crop_size`` are cropped at random positions that
  keep the labelled objects inside where possible (so large frames cost no more
  than small ones, and objects do not always sit at the centre). An object cut by
  the crop is kept if at least half of its mask remains, else dropped.
* Augmentation as Farias et al. (2020): random flips and right-angle rotations
  (exact), additive per-pixel noise uniform in +-``noise_amplitude`` counts on the
  8-bit scale, and grey images (so one-band FITS work). With ``noise_sigma`` > 0 the
  noisy share of the crops also gets Gaussian per-pixel, per-channel ("chroma") noise
  of a standard deviation drawn uniformly in [0, ``noise_sigma``] counts: the noise of
  the paper's robustness test (scales up to 76.5), which a network trained from
  scratch does not otherwise learn to see through.
* ``init_from``: start from the weights of an earlier model file (same architecture)
  instead of random ones, so a second stage can fine-tune with other augmentation.
* ``balance_classes``: the single-galaxy cutouts (Galaxy Zoo 1) are 71% elliptical, and
  a detector trained on them calls most real face-on spirals elliptical. With this
  option each epoch repeats the cutouts of the rarer classes until every class has as
  many as the most common one (:func:`balance_single_object_classes`); multi-object
  fields are used once each.
* Optimiser AdamW (from scratch, AdamW converges faster than the paper's SGD,
  which fine-tuned COCO weights), gradient clipping at 5 (the paper's), learning
  rate cut on validation plateaus, early stopping, time limit, resume, progress
  bar and ``metrics.csv``: the shared epoch loop, :mod:`galseg.training.loop`.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import masks_to_boxes

from galseg.data.detection_examples import DetectionExample, read_detection_examples
from galseg.data.splits import unit_hash
from galseg.models.detector import GalaxyMaskRCNN, build_detector
from galseg.models.geometry import dihedral
from galseg.models.weights import DetectorMetadata, load_detector, save_detector
from galseg.training.configs import DetectorTrainConfig
from galseg.training.loop import (
    LoopSettings,
    autocast,
    default_device,
    run_epochs,
    stable_config_json,
)

MIN_KEPT_FRACTION = 0.5
"""An object cut by a training crop is kept when this share of its mask remains."""


@dataclass(frozen=True)
class DetectorTrainingResult:
    """What a training run leaves: the model file and the run's facts."""

    model_path: Path
    run_dir: Path
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_because: str
    minutes: float
    n_train: int
    n_val: int


def _examples(folders: tuple[str, ...], val_fraction: float
              ) -> tuple[list[DetectionExample], list[DetectionExample]]:
    train, val = [], []
    for folder in folders:
        for example in read_detection_examples(folder):
            if len(example.objects) == 0:
                continue
            # Salted so it is independent of how the folder itself was split off.
            key = f"detector-val:{example.source}:{example.name}"
            (val if unit_hash(key) < val_fraction else train).append(example)
    return train, val


def balance_single_object_classes(examples: list[DetectionExample]
                                  ) -> list[DetectionExample]:
    """``examples`` with the single-object examples of the rarer classes repeated.

    Every class of the examples that hold exactly one object is brought to the count
    of the most common one: whole repeats, then a share of the class chosen by a hash
    of the example's name (so the list is the same on every run and on resume).
    Examples with several objects (simulated fields) are kept once, in place.
    """
    by_class: dict[str, list[DetectionExample]] = {}
    for example in examples:
        if len(example.objects) == 1:
            by_class.setdefault(str(example.objects["class"][0]), []).append(example)
    if len(by_class) < 2:
        return list(examples)
    target = max(len(group) for group in by_class.values())
    balanced = list(examples)
    for group in by_class.values():
        whole, share = divmod(target, len(group))
        balanced += group * (whole - 1)
        ranked = sorted(group, key=lambda e: unit_hash(f"balance:{e.source}:{e.name}"))
        balanced += ranked[:share]
    return balanced


def _crop_window(shape: tuple[int, int], masks: np.ndarray, size: int,
                 rng: np.random.Generator | None) -> tuple[int, int]:
    """Top-left corner of a ``size`` crop keeping the objects' union box inside where
    possible; random (or centred when ``rng`` is None) among the allowed corners."""
    corners = []
    occupied = masks.any(axis=0)
    for axis, extent in enumerate(shape):
        if extent <= size:
            corners.append(0)
            continue
        covered = np.nonzero(occupied.any(axis=1 - axis))[0]
        low, high = 0, extent - size
        if len(covered):
            low = max(low, min(int(covered[-1]) + 1 - size, high))
            high = min(high, max(int(covered[0]), low))
        corners.append(int(rng.integers(low, high + 1)) if rng is not None
                       else (low + high) // 2)
    return corners[0], corners[1]


def add_pixel_noise(rgb: np.ndarray, rng: np.random.Generator, *, amplitude: float,
                    sigma: float = 0.0) -> np.ndarray:
    """``rgb`` (8-bit counts, float) plus per-pixel, per-channel noise, clipped to 0..255:
    uniform in +-``amplitude``, plus Gaussian of a standard deviation drawn uniformly
    in [0, ``sigma``] when ``sigma`` > 0."""
    noise = rng.uniform(-amplitude, amplitude, rgb.shape) if amplitude > 0 else 0.0
    if sigma > 0:
        noise = noise + rng.uniform(0.0, sigma) * rng.standard_normal(rgb.shape)
    return np.clip(rgb + noise, 0, 255)


def load_training_item(example: DetectionExample, *, crop_size: int,
                       rng: np.random.Generator | None, classes: tuple[str, ...],
                       noise_amplitude: float = 0.0, noise_probability: float = 0.0,
                       noise_sigma: float = 0.0, grey_probability: float = 0.0
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One example as the detector's training input: a (3, h, w) float image in [0, 1]
    and targets ``boxes``, ``labels``, ``masks``. ``rng`` None: centred crop, no
    augmentation (validation)."""
    rgb = example.rgb().astype(np.float32)
    masks = example.masks()
    class_index = np.array([classes.index(c) + 1 for c in example.classes], np.int64)
    y0, x0 = _crop_window(rgb.shape[:2], masks, crop_size, rng)
    window = (slice(y0, y0 + crop_size), slice(x0, x0 + crop_size))
    rgb = rgb[window]
    full_area = masks.reshape(len(masks), -1).sum(axis=1)
    masks = masks[(slice(None), *window)]
    kept = masks.reshape(len(masks), -1).sum(axis=1) >= MIN_KEPT_FRACTION * full_area
    kept &= masks.reshape(len(masks), -1).any(axis=1)
    masks, class_index = masks[kept], class_index[kept]
    if (rng is not None and (noise_amplitude > 0 or noise_sigma > 0)
            and rng.random() < noise_probability):
        rgb = add_pixel_noise(rgb, rng, amplitude=noise_amplitude, sigma=noise_sigma)
    image = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)) / 255.0).float()
    mask_tensor = torch.from_numpy(masks.astype(np.uint8))
    if rng is not None:
        k = int(rng.integers(0, 8))
        image, mask_tensor = dihedral(image, k), dihedral(mask_tensor, k)
        if rng.random() < grey_probability:
            image = image.mean(dim=0, keepdim=True).expand(3, -1, -1)
    image = image.contiguous()
    mask_tensor = mask_tensor.contiguous()
    boxes = masks_to_boxes(mask_tensor) if len(mask_tensor) else torch.zeros((0, 4))
    # masks_to_boxes gives inclusive pixel edges; Mask R-CNN boxes are exclusive.
    boxes[:, 2:] += 1
    return image, {"boxes": boxes.float(), "labels": torch.from_numpy(class_index),
                   "masks": mask_tensor}


def _set_batchnorm_eval(model: torch.nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()


def train_detector(config: DetectorTrainConfig, out: str | PathLike[str], *,
                   run_dir: str | PathLike[str] | None = None, workers: int = 1,
                   progress: bool = True, log=print) -> DetectorTrainingResult:
    """Train a detector and write it to ``out`` (module docstring).

    ``run_dir`` (default ``<out>.run``) holds the checkpoint a killed run resumes
    from and ``metrics.csv``. ``workers`` threads prepare the training crops (the
    result does not depend on their number).
    """
    out = Path(out)
    run_dir = Path(run_dir) if run_dir is not None else out.with_name(out.name + ".run")
    device = torch.device(config.device) if config.device else default_device()
    torch.manual_seed(config.seed)
    train, val = _examples(config.data, config.val_fraction)
    if not train or not val:
        raise ValueError(f"need labelled examples for training and validation; got "
                         f"{len(train)} and {len(val)} from {list(config.data)}")
    classes = config.model.classes
    log(f"detector: {len(train)} training and {len(val)} validation images "
        f"({', '.join(config.data)})")
    n_distinct = len(train)
    if config.balance_classes:
        train = balance_single_object_classes(train)
        log(f"detector: {len(train)} training images per epoch with the single-galaxy "
            f"cutouts balanced by class")
    model: GalaxyMaskRCNN = build_detector(config.model)
    if config.init_from is not None:
        start, start_metadata = load_detector(config.init_from)
        if start_metadata.model != config.model:
            raise ValueError(f"init_from {config.init_from} is another architecture "
                             f"({start_metadata.model}) than asked ({config.model})")
        model.load_state_dict(start.state_dict())
        log(f"detector: starting from the weights of {config.init_from}")
    model = model.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay)

    def training_item(i: int, seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return load_training_item(
            train[i], crop_size=config.crop_size, rng=np.random.default_rng(seed),
            classes=classes, noise_amplitude=config.noise_amplitude,
            noise_probability=config.noise_probability, noise_sigma=config.noise_sigma,
            grey_probability=config.grey_probability)

    # Reading, cropping and augmenting a cutout takes about 10 ms of one core: on a GPU
    # that, not the network, sets the pace unless several threads share it (image
    # decoding, decompression and the array work release the GIL).
    pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def batch_loss(index: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        # One random stream per item, drawn in order: the crops and augmentations do
        # not depend on how many threads make them.
        seeds = rng.integers(0, 2**63, size=len(index)).tolist()
        items = list((pool.map if pool else map)(training_item, index.tolist(), seeds))
        images = [image.to(device) for image, _ in items]
        targets = [{k: v.to(device) for k, v in target.items()} for _, target in items]
        with autocast(device):
            losses = model(images, targets)
        return sum(loss.float() for loss in losses.values()), len(index)

    val_items = [load_training_item(e, crop_size=config.crop_size, rng=None, classes=classes)
                 for e in val]

    def validation_loss() -> float:
        # torchvision's detection models give losses only in training mode; BatchNorm
        # is switched to its running statistics and the RoI sampling seeded so the
        # number is repeatable.
        model.train()
        _set_batchnorm_eval(model)
        state = torch.get_rng_state()
        torch.manual_seed(config.seed)
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(val_items), config.batch_size):
                chunk = val_items[start:start + config.batch_size]
                with autocast(device):
                    losses = model([im.to(device) for im, _ in chunk],
                                   [{k: v.to(device) for k, v in t.items()} for _, t in chunk])
                total += float(sum(loss.float() for loss in losses.values())) * len(chunk)
        torch.set_rng_state(state)
        return total / len(val_items)

    settings = LoopSettings(batch_size=config.batch_size, max_epochs=config.max_epochs,
                            patience=config.patience, max_minutes=config.max_minutes,
                            seed=config.seed, gradient_clip=config.gradient_clip,
                            lr_factor=0.3, lr_patience=2)
    config_values = config.to_dict()
    config_values.pop("device")
    try:
        outcome = run_epochs(model, optimiser, n_train=len(train), batch_loss=batch_loss,
                             validation_loss=validation_loss, settings=settings,
                             run_dir=run_dir, config_json=stable_config_json(config_values),
                             device=device, progress=progress, log=log)
    finally:
        if pool is not None:
            pool.shutdown()
    # n_train counts distinct images; with balance_classes an epoch sees more.
    training = {"config": config_values, "n_train": n_distinct,
                "n_train_per_epoch": len(train), "n_val": len(val),
                "best_epoch": outcome.best_epoch, "best_val_loss": outcome.best_val_loss,
                "epochs_run": outcome.epochs_run, "stopped_because": outcome.stopped_because,
                "minutes": outcome.minutes}
    save_detector(model, DetectorMetadata(config.model, training=training), out)
    (run_dir / "training.json").write_text(json.dumps(training, indent=1) + "\n")
    return DetectorTrainingResult(out, run_dir, outcome.best_epoch, outcome.best_val_loss,
                                  outcome.epochs_run, outcome.stopped_because, outcome.minutes,
                                  n_distinct, len(val))


__all__ = ["DetectorTrainConfig", "DetectorTrainingResult", "balance_single_object_classes",
           "load_training_item", "train_detector"]
