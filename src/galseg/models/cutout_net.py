"""Small CNNs that answer one yes/no question about the source at a cutout's centre.

galseg asks two such questions: is this catalog source a shred of a bigger
galaxy (:mod:`galseg.predict.shreds`, Di Teodoro et al. 2023), and is this
detected galaxy a spiral (:mod:`galseg.predict.morphology`, the second look the
detector takes at each galaxy). Both are ensembles of :class:`CutoutNet`
trained the same way (:mod:`galseg.training.ensemble`).

Two architectures:

* ``"paper"``: the network of Di Teodoro et al. (2023; public code CNN_shreds),
  layer for layer: three stages of [3x3 conv "same", 3x3 conv "valid", 2x2 max
  pool, dropout 0.2] with 32, 64 and 128 filters, then [5x5 conv "same", 5x5
  conv "valid", 4x4 max pool, dropout 0.2] with 512 filters, a 1024-unit dense
  layer with dropout 0.2 and the output: 10.58 M parameters for 128x128 inputs.
  ReLU everywhere, as in Keras' usual setup.
* ``"lean"`` (galseg's default): a stride-2 stem, four stages of (by default)
  two 3x3 conv + batch norm + ReLU and a 2x2 max pool, then three pooled summaries of the last
  feature map: global mean, global max, and the mean of its central 2x2 cells.
  The central summary says what sits on the source (a knot or a nucleus); the
  global ones say what surrounds it (a big disc or empty sky). About 0.3 M
  parameters; it trains about 20 times faster than the paper's network on a CPU
  (channels-last; ``benchmarks/shreds_speed.py``).

Both return one logit per image. The paper's two-way softmax is the same model
(``softmax([a, b])[1] == sigmoid(b - a)``), so one logit trained with binary
cross-entropy is equivalent and half the output layer. The probability
(``p_shred``, ``p_spiral``) is a calibrated function of the logit, applied by
:class:`galseg.predict.shreds.ShredClassifier` and
:class:`galseg.predict.morphology.MorphologyClassifier`.

Tensor contract
---------------
input : float tensor (N, 3, S, S), RGB in [0, 1], S = ``config.input_size``
    (shreds: Legacy Surveys g-r-z colour cutouts, red = z, 128 px at 0.469
    arcsec/px; morphology: 64 px crops scaled to the detection's box).
output : float tensor (N,), logit of "yes" (a shred; a spiral).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from galseg.models.configs import ARCHITECTURES, PAPER_SHRED_CONFIG, CutoutNetConfig
from galseg.models.geometry import DIHEDRAL_VIEWS, dihedral


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class _LeanCutoutNet(nn.Module):
    def __init__(self, config: CutoutNetConfig) -> None:
        super().__init__()
        widths = config.widths
        layers: list[nn.Module] = [_conv_bn_relu(3, widths[0], stride=2)]
        previous = widths[0]
        for width in widths:
            layers += [_conv_bn_relu(previous if i == 0 else width, width)
                       for i in range(config.convs_per_stage)]
            layers.append(nn.MaxPool2d(2))
            previous = width
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(3 * previous, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)
        height, width = features.shape[-2:]
        r0, c0 = max(height // 2 - 1, 0), max(width // 2 - 1, 0)
        centre = features[..., r0:r0 + 2, c0:c0 + 2].mean(dim=(-2, -1))
        summary = torch.cat([features.mean(dim=(-2, -1)), features.amax(dim=(-2, -1)), centre],
                            dim=1)
        return self.head(self.dropout(summary)).squeeze(1)


class _PaperCutoutNet(nn.Module):
    def __init__(self, config: CutoutNetConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous, size = 3, config.input_size
        for width, kernel, pool in ((32, 3, 2), (64, 3, 2), (128, 3, 2), (512, 5, 4)):
            layers += [nn.Conv2d(previous, width, kernel, padding=kernel // 2), nn.ReLU(True),
                       nn.Conv2d(width, width, kernel), nn.ReLU(True),  # Keras "valid"
                       nn.MaxPool2d(pool), nn.Dropout(config.dropout)]
            previous, size = width, (size - (kernel - 1)) // pool
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(previous * size * size, 1024), nn.ReLU(True),
            nn.Dropout(config.dropout), nn.Linear(1024, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images)).squeeze(1)


class CutoutNet(nn.Module):
    """One-logit cutout classifier (see the module docstring for the tensor contract)."""

    def __init__(self, config: CutoutNetConfig = CutoutNetConfig()) -> None:  # frozen default
        super().__init__()
        self.config = config
        self.body = (_LeanCutoutNet(config) if config.architecture == "lean"
                     else _PaperCutoutNet(config))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.input_size
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (size, size):
            raise ValueError(f"expected images of shape (N, 3, {size}, {size}), "
                             f"got {tuple(images.shape)}")
        return self.body(images)


def members_on_device(members: list[CutoutNet], device: torch.device | str | None = None
                      ) -> tuple[torch.device, list[CutoutNet]]:
    """The device (default: CUDA when present, else CPU) and ``members`` moved there in
    evaluation mode, channels-last (what every ensemble runs as)."""
    device = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")
    return device, [m.to(device, memory_format=torch.channels_last).eval() for m in members]


def ensemble_logit(members: list[CutoutNet], images: torch.Tensor, *,
                   tta: bool = False) -> torch.Tensor:
    """Mean logit of ``members`` for a batch (N, 3, S, S); with ``tta`` also averaged
    over the 8 flips and right-angle rotations of each image."""
    views = DIHEDRAL_VIEWS[8 if tta else 1]
    return torch.stack([m(dihedral(images, k)) for m in members for k in views]).mean(0)


def platt_probability(logits: np.ndarray, calibration: tuple[float, float]) -> np.ndarray:
    """Calibrated probability ``sigmoid(scale * logit + offset)``."""
    scale, offset = calibration
    return 1.0 / (1.0 + np.exp(-(scale * np.asarray(logits, np.float64) + offset)))


__all__ = ["ARCHITECTURES", "PAPER_SHRED_CONFIG", "CutoutNet", "CutoutNetConfig",
           "ensemble_logit", "members_on_device", "platt_probability"]
