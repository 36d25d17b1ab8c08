"""Weak labels from real galaxies for the segmenter: a class per image, no pixel truth.

The segmenter learns where arms and bars are from simulated GZ3D galaxies, whose pixel
truth is exact but whose look is not quite a real survey's (``docs/benchmarks.md``:
trained on simulations alone it finds arms in 39% of SDSS spirals and in 13% of
ellipticals). Real galaxies that carry only a class still constrain the maps:

* a smooth **elliptical** has no arm and no bar anywhere: the strongest pixels of both
  maps should be 0;
* a **spiral** whose winding Galaxy Zoo 1 volunteers saw (classes 1 and 2; edge-on
  discs are left out, their arms are not visible) has arms somewhere: the strongest
  pixels of the spiral map should reach at least ``arm_level``. Where and how the arms
  run is left to the simulations; the bar channel is left free;
* optionally (``edge_on=True``), an **edge-on disc** (class 3) shows no arms, though it
  has them: the strongest pixels of the spiral map should be 0, and the bar channel is
  left free (a bar seen edge-on is a box or peanut, not a bar the maps draw).

:func:`weak_loss` turns this into a loss on the mean of each map's ``top_k`` largest
values (a smooth maximum: one hot pixel is not enough, and the gradient reaches
several pixels). It is a multiple-instance loss: the image is the bag, the pixels the
instances. :func:`galseg.training.segmenter.train_segmenter` adds it, weighted, to
the masked L1 loss of the simulated galaxies (``weak_data`` in its configuration).

Only galaxies of the Galaxy Zoo 1 *train* split (:func:`galseg.data.gz1.gz1_split`)
are used, so the held-back test split, which also scores the detector, stays unseen;
one in eight of them (by a hash of the objID) validates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from galseg.data.gz1 import GZ1_SEGMENTER_CROP, central_crop, gz1_split, read_gz1_labels
from galseg.data.splits import unit_hash
from galseg.errors import InputFileError
from galseg.training.examples import (
    frame_image,
    image_batch,
    read_cache,
    write_cache,
)

WEAK_CLASSES = {0: False, 1: True, 2: True}
"""Galaxy Zoo 1 class code -> has arms; edge-on discs (3), don't know (4) and mergers (5)
are left out."""

VAL_FRACTION = 0.125
TOP_K = 32
"""Pixels of a 128 px map whose mean is the smooth maximum (a short arm segment)."""

ARM_LEVEL = 0.2
"""Smooth maximum of the spiral vote fraction asked of a spiral: twice the level at which
``galseg.measure`` calls arms present (0.1), so a spiral passes with a margin."""

EDGE_ON_CLASS = 3
"""Galaxy Zoo 1 code of edge-on discs: no visible arms, bar left free (``edge_on=True``)."""

CACHE_VERSION = 2


@dataclass(frozen=True)
class WeakExamples:
    """Real galaxy images with an image-level arms / no-arms label.

    Attributes
    ----------
    names : ndarray of str, shape (N,)
    images : ndarray, shape (N, S, S, 3), uint8
        The central ``crop`` pixels of each cutout, resized to the frame.
    has_arms : ndarray of bool, shape (N,)
    is_val : ndarray of bool, shape (N,)
        The validation galaxies (fixed by a hash of the name).
    edge_on : ndarray of bool, shape (N,)
        Galaxies without visible arms whose bar channel is left free (edge-on discs).
    """

    names: np.ndarray
    images: np.ndarray
    has_arms: np.ndarray
    is_val: np.ndarray
    edge_on: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, val: bool) -> WeakExamples:
        """The validation (``val=True``) or training galaxies."""
        keep = self.is_val == val
        return WeakExamples(self.names[keep], self.images[keep], self.has_arms[keep],
                            self.is_val[keep], self.edge_on[keep])

    def tensors(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (n, 3, S, S) float in [0, 1], ``has_arms`` and ``edge_on`` (n,) bool of
        ``index``."""
        return (image_batch(self.images[index]), torch.from_numpy(self.has_arms[index]),
                torch.from_numpy(self.edge_on[index]))

    def balanced_batch(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Sorted indices of ``size`` galaxies, half with arms and half without (drawn
        with replacement, so the rarer class is not starved)."""
        with_arms = np.flatnonzero(self.has_arms)
        without = np.flatnonzero(~self.has_arms)
        if len(with_arms) == 0 or len(without) == 0:
            raise ValueError("weak examples need galaxies with and without arms")
        half = size // 2
        return np.sort(np.concatenate([rng.choice(with_arms, half),
                                       rng.choice(without, size - half)]))


def smooth_maximum(maps: torch.Tensor, top_k: int = TOP_K) -> torch.Tensor:
    """Mean of the ``top_k`` largest values of each map: (N, C, H, W) -> (N, C)."""
    flat = maps.flatten(2)
    return flat.topk(min(top_k, flat.shape[-1]), dim=-1).values.mean(dim=-1)


def weak_loss(prediction: torch.Tensor, has_arms: torch.Tensor,
              edge_on: torch.Tensor | None = None, *, top_k: int = TOP_K,
              arm_level: float = ARM_LEVEL) -> torch.Tensor:
    """Image-level loss of (N, 2, H, W) spiral/bar maps (module docstring).

    Galaxies without arms: the smooth maxima of both maps (of the spiral map alone where
    ``edge_on``); with arms: ``max(0, arm_level - smooth maximum of the spiral map)``. The
    two groups are averaged separately and then together, so the loss does not depend on
    the batch's class mix.

    The U-Net's output ReLU passes gradients straight through
    (:class:`~galseg.models.unet.StraightThroughReLU`), which lets a spiral's dead map be
    raised; the maps of galaxies without arms go through ``torch.relu`` first, whose
    gradient is 0 where a map is already 0. Without that the push towards 0 never stops:
    it drove the logits down without bound and the training diverged.
    """
    has_arms = has_arms.to(prediction.device)
    smooth_peaks = smooth_maximum(torch.relu(prediction[~has_arms]), top_k)
    if edge_on is not None:
        smooth_peaks = _free_bars(smooth_peaks, edge_on.to(prediction.device)[~has_arms])
    return _loss_of_peaks(smooth_maximum(prediction[has_arms, :1], top_k)[:, 0],
                          smooth_peaks, arm_level, empty=prediction)


def _free_bars(smooth_peaks: torch.Tensor, edge_on: torch.Tensor) -> torch.Tensor:
    """(N, 2) smooth maxima of galaxies without arms with the bar column of the edge-on
    ones zeroed (their bar channel is left free)."""
    keep = torch.ones_like(smooth_peaks)
    keep[edge_on, 1] = 0.0
    return smooth_peaks * keep


def _loss_of_peaks(spiral_peaks: torch.Tensor, smooth_peaks: torch.Tensor, arm_level: float,
                   *, empty: torch.Tensor) -> torch.Tensor:
    """Mean over the two groups of the spirals' missing arm votes (``spiral_peaks``: their
    spiral maps' smooth maxima) and the smooth galaxies' summed (N, 2) smooth maxima;
    ``empty * 0`` (keeping a gradient) without galaxies."""
    parts = []
    if len(spiral_peaks):
        parts.append((arm_level - spiral_peaks).clamp(min=0).mean())
    if len(smooth_peaks):
        parts.append(smooth_peaks.sum(dim=1).mean())
    if not parts:
        return empty.sum() * 0.0
    return torch.stack(parts).mean()


def _read_crop(path: Path, crop: int, frame_size: int) -> np.ndarray:
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))
    return frame_image(central_crop(rgb, crop), frame_size)


def load_gz1_weak_examples(
    gz1_dir: str | PathLike[str],
    *,
    frame_size: int = 128,
    crop: int = GZ1_SEGMENTER_CROP,
    cache: str | PathLike[str] | None = None,
    progress: bool = True,
    edge_on: bool = False,
) -> WeakExamples:
    """Weak examples from a Galaxy Zoo 1 SDSS folder (``labels.csv``, ``images/``).

    Parameters
    ----------
    gz1_dir : path
        Folder with ``labels.csv`` (``objid``, ``gz1_class``) and
        ``images/<objid>.jpeg``.
    frame_size : int
        Side of the model's frame.
    crop : int
        Central pixels of each cutout kept before resizing (the galaxies are small in
        the 423 px SDSS frames; the same crop as ``benchmarks/real_images.py``).
    cache : path, optional
        ``.npz`` file reused when made from the same galaxies, crop and frame.
    progress : bool
    edge_on : bool
        Also the edge-on discs (class 3), as galaxies without visible arms whose bar
        channel is left free.

    Returns
    -------
    WeakExamples
        Train-split galaxies of classes 0, 1 and 2 (and 3 with ``edge_on``) whose image
        could be read.
    """
    gz1_dir = Path(gz1_dir)
    labels = read_gz1_labels(gz1_dir)
    classes = {**WEAK_CLASSES, EDGE_ON_CLASS: False} if edge_on else WEAK_CLASSES
    chosen = [(str(row["objid"]), classes[int(row["gz1_class"])],
               int(row["gz1_class"]) == EDGE_ON_CLASS) for row in labels
              if int(row["gz1_class"]) in classes and gz1_split(str(row["objid"])) == "train"]
    key = json.dumps({"version": CACHE_VERSION, "frame": frame_size, "crop": crop,
                      "galaxies": chosen})
    stored = read_cache(cache, key)
    if stored is not None:
        return WeakExamples(stored["names"], stored["images"], stored["has_arms"],
                            stored["is_val"], stored["edge_on"])
    names, images, has_arms, edge = [], [], [], []
    for objid, arms, is_edge_on in tqdm(chosen, desc="reading GZ1 cutouts", unit="image",
                                        disable=not progress):
        try:
            images.append(_read_crop(gz1_dir / "images" / f"{objid}.jpeg", crop, frame_size))
        except (OSError, ValueError):  # a missing or broken JPEG costs one galaxy, not the run
            continue
        names.append(objid)
        has_arms.append(arms)
        edge.append(is_edge_on)
    if not names:
        raise InputFileError(gz1_dir, "no readable spiral or elliptical cutouts in the "
                             "Galaxy Zoo 1 train split")
    examples = WeakExamples(
        names=np.array(names), images=np.stack(images),
        has_arms=np.array(has_arms, dtype=bool),
        is_val=np.array([unit_hash(f"weak-val:{n}") < VAL_FRACTION for n in names]),
        edge_on=np.array(edge, dtype=bool))
    if cache is not None:
        write_cache(cache, key, names=examples.names, images=examples.images,
                    has_arms=examples.has_arms, is_val=examples.is_val,
                    edge_on=examples.edge_on)
    return examples


def evaluate_weak_loss(model: torch.nn.Module, examples: WeakExamples, *, batch_size: int,
                       device: torch.device) -> float:
    """:func:`weak_loss` over a whole set without augmentation (each class averaged
    separately, then the two averaged, as in training)."""
    model.eval()
    peaks = []
    with torch.inference_mode():
        for start in range(0, len(examples), batch_size):
            images, _, _ = examples.tensors(
                np.arange(start, min(start + batch_size, len(examples))))
            prediction = model(images.to(device, memory_format=torch.channels_last)).float()
            peaks.append(smooth_maximum(prediction).cpu())
    if not peaks:
        return float("nan")
    peak = torch.cat(peaks)
    has_arms = torch.from_numpy(examples.has_arms)
    smooth_peaks = _free_bars(peak[~has_arms], torch.from_numpy(examples.edge_on)[~has_arms])
    return float(_loss_of_peaks(peak[has_arms, 0], smooth_peaks, ARM_LEVEL, empty=peak))
