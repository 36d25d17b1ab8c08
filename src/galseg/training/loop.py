"""The epoch loop shared by every galseg training command.

One loop does what all training runs need: shuffled batches from a seeded
per-epoch random stream, gradient clipping, mixed precision on CUDA, a learning
rate cut on validation plateaus (or a cosine decay over ``max_epochs``), early
stopping on validation loss, a time limit, a progress bar, ``metrics.csv``, and a
checkpoint after every epoch from which a killed run resumes exactly (same random
stream, the metrics log never repeats a row). What differs between models (how a
batch becomes a loss, how validation is scored) comes in as two functions.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2.functional import gaussian_blur
from tqdm import tqdm

from galseg.models.geometry import dihedral_each


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def mixed_precision_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast type on ``device``: bfloat16 on CUDA GPUs that have it (Ampere and
    later), float16 on older ones, None (full float32) elsewhere.

    bfloat16 has float32's range. Under float16 (largest value 65504) an activation can
    overflow in the forward pass and batch norm's running statistics then keep the NaN for
    every later epoch, which loss scaling cannot prevent (it guards the gradients only);
    the paper-size U-Net did this on a GPU (``docs/experiments.md``).
    """
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device) -> torch.autocast:
    """Mixed precision on CUDA (:func:`mixed_precision_dtype`), a no-op elsewhere."""
    dtype = mixed_precision_dtype(device)
    return torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def augment_images(images: torch.Tensor, rng: np.random.Generator,
                   grey_probability: float) -> tuple[torch.Tensor, np.ndarray]:
    """Random flips/right-angle rotations (exact, no interpolation) of (N, 3, H, W)
    images, and grey images (luminance in all three channels) with probability
    ``grey_probability`` so models also work on one-band FITS. Returns the images
    and the dihedral element ``k`` applied to each (to move targets the same way)."""
    ks = rng.integers(0, 8, size=len(images))
    images = dihedral_each(images, ks)
    grey = torch.from_numpy(rng.random(len(images)) < grey_probability)
    if grey.any():
        luminance = images[grey].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        images = images.clone()
        images[grey] = luminance
    return images, ks


def degrade_images(images: torch.Tensor, rng: np.random.Generator,
                   probability: float) -> torch.Tensor:
    """Make some of the (N, 3, H, W) images in [0, 1] look as if taken by another survey.

    Each image is degraded with probability ``probability``; a degraded image gets each
    of these, independently with probability 1/2 (at least one):

    * **seeing**: a Gaussian blur of sigma 0.5-2 px (SDSS seeing at the frame scale is
      about 1.4 px sigma; the simulated Legacy-like images are sharper);
    * **colour**: the red band's gain times exp(t), the blue band's times exp(-t), with
      t in [-0.3, 0.3], and 5% jitter per band, since surveys and their colour
      stretches differ and simulated arms are bluer than real ones;
    * **stretch**: ``image ** gamma`` with gamma 0.7-1.4 (other asinh or JPEG stretches);
    * **noise**: Gaussian noise of sigma 0.005-0.04 (shallower images), clipped to [0, 1].

    The targets are not moved (no pixel changes place), so the vote maps stay exact:
    the model is taught that arms are where the volunteers saw them in the clean image.
    """
    if probability <= 0:
        return images
    chosen = np.flatnonzero(rng.random(len(images)) < probability)
    if len(chosen) == 0:
        return images
    images = images.clone()
    for i in chosen:
        steps = rng.random(4) < 0.5
        if not steps.any():
            steps[rng.integers(4)] = True
        image = images[i]
        if steps[0]:
            sigma = float(rng.uniform(0.5, 2.0))
            size = 2 * int(np.ceil(3 * sigma)) + 1
            image = gaussian_blur(image, [size, size], [sigma, sigma])
        if steps[1]:
            # A red-blue tilt (other filters and colour stretches) and a little jitter;
            # a free gain per band would make green galaxies, which no survey shows.
            tilt = rng.uniform(-0.3, 0.3) * np.array([1.0, 0.0, -1.0])
            gains = np.exp(tilt + rng.normal(0.0, 0.05, size=3))
            image = image * torch.from_numpy(gains).to(image)[:, None, None]
        if steps[2]:
            image = image.clamp(0, 1) ** float(rng.uniform(0.7, 1.4))
        if steps[3]:
            noise = torch.from_numpy(rng.standard_normal(image.shape)).to(image)
            image = image + float(rng.uniform(0.005, 0.04)) * noise
        images[i] = image.clamp(0, 1)
    return images


@dataclass(frozen=True)
class LoopSettings:
    """Stopping rules and optimiser details of :func:`run_epochs`."""

    batch_size: int
    max_epochs: int
    patience: int
    max_minutes: float | None
    seed: int
    gradient_clip: float
    lr_factor: float
    lr_patience: int
    lr_schedule: str = "plateau"
    """``'plateau'``: cut the rate by ``lr_factor`` after ``lr_patience`` epochs without
    progress; ``'cosine'``: decay it to zero over ``max_epochs`` (half a cosine, one step
    per epoch), for runs of a planned length such as a fine-tuning."""


@dataclass
class LoopOutcome:
    """What :func:`run_epochs` leaves: the best weights are loaded into the model."""

    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_because: str
    minutes: float
    history: list[dict[str, float]]


BatchLoss = Callable[[np.ndarray, np.random.Generator], tuple[torch.Tensor, int]]
"""``(sorted train indices, rng) -> (mean loss with gradient, number of items it averages)``."""


def run_epochs(
    model: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    *,
    n_train: int,
    batch_loss: BatchLoss,
    validation_loss: Callable[[], float],
    settings: LoopSettings,
    run_dir: Path,
    config_json: str,
    device: torch.device,
    progress: bool = True,
    log: Callable[[str], None] = print,
    label: str = "epoch",
) -> LoopOutcome:
    """Train ``model`` until early stopping, ``max_epochs`` or ``max_minutes``.

    ``run_dir`` receives ``checkpoint.pt`` (resumed when present and made with the
    same ``config_json``; stopping rules may differ), ``best_state.pt`` and
    ``metrics.csv``. On return the model holds the best validation epoch's weights.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    # Loss scaling only where float16 needs it (bfloat16 and float32 do not underflow).
    scaler = torch.amp.GradScaler(device.type,
                                  enabled=mixed_precision_dtype(device) == torch.float16)
    scheduler = _scheduler(optimiser, settings)
    state: dict[str, Any] = {"epoch": 0, "best_val_loss": math.inf, "best_epoch": 0,
                             "bad_epochs": 0, "elapsed_s": 0.0, "history": []}
    checkpoint_path = run_dir / "checkpoint.pt"
    if checkpoint_path.is_file():
        checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if checkpoint["config"] != config_json:
            raise ValueError(f"{checkpoint_path} was made with another configuration; "
                             "delete the run folder or use the same options")
        model.load_state_dict(checkpoint["model"])
        optimiser.load_state_dict(checkpoint["optimiser"])
        scaler.load_state_dict(checkpoint["scaler"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        state = checkpoint["state"]
        log(f"resuming after {label} {state['epoch']} (best val loss "
            f"{state['best_val_loss']:.5f} at epoch {state['best_epoch']})")

    stopped = "max_epochs"
    while state["epoch"] < settings.max_epochs:
        if state["bad_epochs"] >= settings.patience:
            stopped = "early_stopping"
            break
        if settings.max_minutes is not None and state["elapsed_s"] / 60 >= settings.max_minutes:
            stopped = "time_limit"
            break
        epoch = state["epoch"] + 1
        started = time.perf_counter()
        rng = np.random.default_rng([settings.seed, epoch])
        order = rng.permutation(n_train)
        model.train()
        running, seen, skipped = 0.0, 0, 0
        bar = tqdm(range(0, len(order), settings.batch_size), desc=f"{label} {epoch}",
                   unit="batch", disable=not progress, leave=False)
        for start in bar:
            index = np.sort(order[start:start + settings.batch_size])
            loss, n = batch_loss(index, rng)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                # Left out rather than stepped on: on the CPU (no loss scaler) one
                # non-finite gradient would make every weight NaN.
                skipped += 1
                continue
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimiser)
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.gradient_clip)
            scaler.step(optimiser)
            scaler.update()
            running += loss_value * n
            seen += n
            bar.set_postfix(loss=f"{running / max(seen, 1):.4f}")
        bar.close()
        val_loss = validation_loss()
        if seen == 0 or not math.isfinite(val_loss):
            # Diverged: more epochs cannot recover, and the best epoch is already saved.
            log(f"{label} {epoch}: training diverged (validation loss {val_loss}, "
                f"{skipped} of {math.ceil(n_train / settings.batch_size)} batches with a "
                f"non-finite loss); keeping epoch {state['best_epoch']}. Try a lower "
                "learning rate.")
            stopped = "diverged"
            break
        if skipped:
            log(f"{label} {epoch}: {skipped} batches left out for a non-finite loss")
        state["elapsed_s"] += time.perf_counter() - started
        row = {"epoch": epoch, "train_loss": running / max(seen, 1), "val_loss": val_loss,
               "lr": optimiser.param_groups[0]["lr"],
               "seconds": round(time.perf_counter() - started, 1)}
        state["history"].append(row)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        else:
            scheduler.step()
        improved = val_loss < state["best_val_loss"]
        if improved:
            state.update(best_val_loss=val_loss, best_epoch=epoch, bad_epochs=0)
            torch.save(model.state_dict(), run_dir / "best_state.pt")
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        _write_csv(run_dir / "metrics.csv", state["history"])
        _save_atomic({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                      "scaler": scaler.state_dict(), "scheduler": scheduler.state_dict(),
                      "state": state, "config": config_json},
                     checkpoint_path)
        log(f"{label} {epoch}: train {row['train_loss']:.5f}  val {val_loss:.5f}"
            f"{'  (best)' if improved else ''}  {row['seconds']:.0f} s")

    if not (run_dir / "best_state.pt").is_file():
        raise RuntimeError(f"training diverged in its first {label} (non-finite loss): "
                           "no weights to keep; try a lower learning rate")
    model.load_state_dict(torch.load(run_dir / "best_state.pt", map_location=device,
                                     weights_only=True))
    return LoopOutcome(state["best_epoch"], state["best_val_loss"], state["epoch"], stopped,
                       round(state["elapsed_s"] / 60, 1), state["history"])


def _scheduler(optimiser: torch.optim.Optimizer, settings: LoopSettings) -> Any:
    if settings.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=settings.max_epochs)
    if settings.lr_schedule == "plateau":
        # Lower the learning rate when validation stalls, before early stopping gives up.
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimiser, factor=settings.lr_factor, patience=settings.lr_patience)
    raise ValueError(f"lr_schedule must be 'plateau' or 'cosine', not {settings.lr_schedule!r}")


def stable_config_json(config: dict[str, Any]) -> str:
    """The configuration a checkpoint must match: everything but the stopping rules,
    which may change between a run and its resumption."""
    return json.dumps({k: v for k, v in config.items()
                       if k not in ("max_epochs", "patience", "max_minutes")}, sort_keys=True)


def _write_csv(path: Path, rows: list[dict[str, float]]) -> None:
    # Rewritten whole from the checkpointed history, so a resumed run never repeats a row.
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _save_atomic(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
