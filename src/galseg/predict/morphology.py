"""A second, closer look at each detected galaxy: spiral or elliptical.

Mask R-CNN classifies an object from a 7x7 grid of pooled features of its box
(:mod:`galseg.models.detector`). In survey cutouts a galaxy is tens of pixels
across, so those 49 cells hold little of the arms or the smooth light that tell
a spiral from an elliptical. :class:`MorphologyClassifier` looks again: it cuts
a square crop around each galaxy's box from the picture the detector saw
(``crop_context`` times the box's longest side, at least ``min_crop_px``),
resamples it to the network's input size, and returns a calibrated ``p_spiral``
from an ensemble of :class:`~galseg.models.cutout_net.CutoutNet` (one per
cross-validation fold, ``galseg train morphology``).

:class:`~galseg.predict.detect.Detector` uses it (by default) to split each
object's galaxy probability between spiral and elliptical; the detector still
decides what is an object, where it is, its mask, and galaxy against star.
"""

from __future__ import annotations

import math
from os import PathLike
from typing import Any

import numpy as np
import torch

from galseg.models.cutout_net import (
    CutoutNet,
    ensemble_logit,
    members_on_device,
    platt_probability,
)
from galseg.models.geometry import box_crops, crop_sides
from galseg.models.weights import MorphologyMetadata, load_morphology_classifier


class MorphologyClassifier:
    """A trained spiral-or-elliptical classifier for detected galaxies.

    Parameters
    ----------
    members : list of CutoutNet
        Member networks (eval mode).
    metadata : MorphologyMetadata
        Crop rule and calibration the members were trained with.
    device : torch device, optional
        Default: CUDA when available, else CPU.
    batch_size : int
        Crops per forward pass (bounds memory).
    """

    def __init__(self, members: list[CutoutNet], metadata: MorphologyMetadata, *,
                 device: torch.device | str | None = None, batch_size: int = 256) -> None:
        if not members:
            raise ValueError("a morphology classifier needs at least one member network")
        self.device, self.members = members_on_device(members, device)
        self.metadata = metadata
        self.batch_size = int(batch_size)

    @classmethod
    def from_file(cls, path: str | PathLike[str] | None = None, *,
                  device: torch.device | str | None = None,
                  batch_size: int = 256) -> MorphologyClassifier:
        """Load a model file (default: the classifier shipped with galseg)."""
        members, metadata = load_morphology_classifier(path)
        return cls(members, metadata, device=device, batch_size=batch_size)

    def crops(self, picture: torch.Tensor | Any, boxes: torch.Tensor | np.ndarray
              ) -> torch.Tensor:
        """The network's input for each box: (N, 3, S, S) crops of ``picture`` (3, H, W),
        values in [0, 1], boxes ``x0, y0, x1, y1`` in the picture's pixels.

        ``picture`` may also be a picture read window by window (``shape`` (H, W) and
        ``window(y0, y1, x0, x1)`` -> (3, h, w), as a big field's in
        :meth:`galseg.predict.detect.Detector.detect_windows`): each crop is then cut
        from a window just larger than it, with the same samples as from the whole."""
        boxes = torch.as_tensor(np.asarray(boxes, np.float32)).reshape(-1, 4)
        size, context = self.metadata.model.input_size, self.metadata.crop_context
        min_side = self.metadata.min_crop_px
        if isinstance(picture, torch.Tensor):
            return box_crops(picture, boxes, size, context=context, min_side=min_side)
        half = crop_sides(boxes, context=context, min_side=min_side).double() / 2
        centres = ((boxes[:, :2] + boxes[:, 2:]) / 2).double()
        out = []
        for box, (cx, cy), h in zip(boxes, centres.tolist(), half.tolist(), strict=True):
            # two pixels beyond the crop: bilinear samples use the next pixel; the image's
            # own edges stay edges (samples past them are 0 as in the whole picture)
            y0, x0 = max(math.floor(cy - h) - 2, 0), max(math.floor(cx - h) - 2, 0)
            y1 = min(math.ceil(cy + h) + 3, picture.shape[0])
            x1 = min(math.ceil(cx + h) + 3, picture.shape[1])
            shift = torch.tensor([x0, y0, x0, y0], dtype=torch.float32)
            out.append(box_crops(picture.window(y0, y1, x0, x1), box[None] - shift, size,
                                 context=context, min_side=min_side))
        return torch.cat(out) if out else torch.zeros((0, 3, size, size))

    @torch.inference_mode()
    def p_spiral(self, picture: torch.Tensor, boxes: torch.Tensor | np.ndarray) -> np.ndarray:
        """Calibrated probability that the galaxy in each box is a spiral.

        Parameters
        ----------
        picture : tensor (3, H, W), or a picture read window by window
            RGB in [0, 1] on the detector's model grid (what the detector saw); see
            :meth:`crops`.
        boxes : (N, 4)
            ``x0, y0, x1, y1`` in ``picture`` pixels.

        Returns
        -------
        ndarray (N,), float64 in [0, 1]
        """
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        logits = []
        for start in range(0, len(boxes), self.batch_size):
            crops = self.crops(picture, boxes[start:start + self.batch_size])
            crops = crops.to(self.device).contiguous(memory_format=torch.channels_last)
            logits.append(ensemble_logit(self.members, crops).float().cpu())
        if not logits:
            return np.zeros(0)
        return platt_probability(torch.cat(logits).numpy(), self.metadata.calibration)


def split_galaxy_probability(class_probs: np.ndarray, class_names: tuple[str, ...],
                             p_spiral: np.ndarray) -> np.ndarray:
    """Class probabilities with each object's galaxy probability (spiral + elliptical)
    split between the two as ``p_spiral``; the other classes are kept."""
    out = np.array(class_probs, dtype=np.float64, copy=True).reshape(-1, len(class_names))
    spiral, elliptical = class_names.index("spiral"), class_names.index("elliptical")
    galaxy = out[:, spiral] + out[:, elliptical]
    out[:, spiral] = galaxy * p_spiral
    out[:, elliptical] = galaxy * (1.0 - p_spiral)
    return out
