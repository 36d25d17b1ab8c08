"""Shred probabilities for batches of source cutouts.

:class:`ShredClassifier` wraps a trained ensemble (:mod:`galseg.models.cutout_net`,
one member per cross-validation fold): it averages the members' logits and
maps the mean through a calibration stored with the model, so ``p_shred`` is
a calibrated probability for the population that calibration was fitted on
(``'real'``: eye-labelled Legacy Surveys catalog sources near nearby galaxies;
``'simulated'``: galseg's simulated fields; ``docs/shreds.md``).

Inputs are colour cutouts as the survey makes them: ``(N, S, S, 3)`` RGB, uint8
or float in [0, 1], S = 128 pixels at 0.469 arcsec/px for the default model.
Cutouts at another scale are made with :func:`galseg.data.cutouts.cutout_rgb`
(``zoom = model pixscale / image pixscale``).
"""

from __future__ import annotations

from collections.abc import Iterator
from os import PathLike

import numpy as np
import torch

from galseg.models.cutout_net import (
    CutoutNet,
    ensemble_logit,
    members_on_device,
    platt_probability,
)
from galseg.models.weights import ShredMetadata, load_shred_classifier


class ShredClassifier:
    """A trained shred classifier.

    Parameters
    ----------
    members : list of CutoutNet
        Member networks (eval mode).
    metadata : ShredMetadata
        Calibration, threshold and the cutout format the members were trained on.
    device : torch device, optional
        Default: CUDA when available, else CPU.
    batch_size : int
        Cutouts per forward pass (bounds memory).
    tta : bool
        Also average over the 8 flips and right-angle rotations of each cutout
        (test-time augmentation; 8 times slower).
    calibration : str, optional
        Which of the model's calibrations maps logits to ``p_shred``
        (``metadata.calibrations``: ``'real'``, fitted on eye-labelled real catalog
        sources, or ``'simulated'``); default: the model's default.
    """

    def __init__(self, members: list[CutoutNet], metadata: ShredMetadata, *,
                 device: torch.device | str | None = None, batch_size: int = 256,
                 tta: bool = False, calibration: str | None = None) -> None:
        if not members:
            raise ValueError("a shred classifier needs at least one member network")
        self.device, self.members = members_on_device(members, device)
        self.metadata = metadata if calibration is None else metadata.with_calibration(
            calibration)
        self.batch_size = int(batch_size)
        self.tta = bool(tta)

    @classmethod
    def from_file(cls, path: str | PathLike[str] | None = None, *,
                  device: torch.device | str | None = None,
                  batch_size: int = 256, tta: bool = False,
                  calibration: str | None = None) -> ShredClassifier:
        """Load a model file (default: the classifier shipped with galseg)."""
        members, metadata = load_shred_classifier(path)
        return cls(members, metadata, device=device, batch_size=batch_size, tta=tta,
                   calibration=calibration)

    @property
    def cutout_size(self) -> int:
        """Side of the cutouts the model takes, in pixels."""
        return self.metadata.model.input_size

    @property
    def pixscale_arcsec(self) -> float:
        """Pixel scale of the cutouts the model takes."""
        return self.metadata.pixscale_arcsec

    @property
    def threshold(self) -> float:
        """Default ``p_shred`` threshold stored with the model."""
        return self.metadata.threshold

    def _batches(self, cutouts: np.ndarray) -> Iterator[torch.Tensor]:
        cutouts = np.asarray(cutouts)
        size = self.cutout_size
        if cutouts.ndim != 4 or cutouts.shape[1:] != (size, size, 3):
            raise ValueError(f"cutouts must have shape (N, {size}, {size}, 3), "
                             f"got {cutouts.shape}")
        scale = 1.0 / 255.0 if cutouts.dtype == np.uint8 else 1.0
        for start in range(0, len(cutouts), self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(cutouts[start:start + self.batch_size]))
            images = chunk.to(self.device).float().mul_(scale).permute(0, 3, 1, 2)
            if not torch.isfinite(images).all():
                raise ValueError("cutouts contain NaN or infinite values")
            yield images.clamp_(0.0, 1.0).contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def logits(self, cutouts: np.ndarray) -> np.ndarray:
        """Mean member logit per cutout, shape (N,), before calibration."""
        out = [ensemble_logit(self.members, images, tta=self.tta).float().cpu()
               for images in self._batches(cutouts)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def calibrate(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated ``p_shred`` from mean logits."""
        return platt_probability(logits, self.metadata.calibration)

    def predict_proba(self, cutouts: np.ndarray) -> np.ndarray:
        """Calibrated probability that each cutout's central source is a shred.

        Parameters
        ----------
        cutouts : ndarray, shape (N, S, S, 3)
            uint8 or float RGB in [0, 1] (see the module docstring).

        Returns
        -------
        ndarray, shape (N,), float64 in [0, 1]
        """
        return self.calibrate(self.logits(cutouts))
