"""The shapes of galseg's networks: plain configuration objects, without torch.

Each network module (:mod:`~galseg.models.unet`, :mod:`~galseg.models.cutout_net`,
:mod:`~galseg.models.detector`) builds its network from one of these and re-exports
it. They live apart from the networks so that what only reads a shape (model-file
metadata, training recipes, the options and defaults of ``galseg train --help``)
does not import torch, which takes seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from galseg.data.detection_classes import DETECTION_CLASSES

INPUT_NORMALISATIONS = ("none", "quantile_match")
"""Values of :attr:`UNetConfig.input_normalisation`."""


@dataclass(frozen=True)
class UNetConfig:
    """Shape of a :class:`~galseg.models.unet.UNet`.

    Parameters
    ----------
    widths : tuple of int
        Channels of each encoder level, from full resolution down; ``len(widths)`` is
        the depth (number of halvings).
    blocks_per_level : int
        Residual blocks in each encoder and decoder level (the paper: 2).
    middle_blocks : int
        Residual blocks at the bottom (the paper: 2).
    dropout : tuple of float
        Dropout probability after each encoder level (one per level).
    in_channels : int
        Input channels (3 for RGB).
    input_normalisation : {'none', 'quantile_match'}
        What the network does to its input first: nothing, or
        :class:`~galseg.models.input_norm.QuantileMatch` (each picture's values replaced
        by reference values at their ranks, so any monotonic re-stretch gives the same
        maps).
    """

    widths: tuple[int, ...] = (16, 32, 64, 128)
    blocks_per_level: int = 1
    middle_blocks: int = 1
    dropout: tuple[float, ...] = (0.0, 0.1, 0.1, 0.1)
    in_channels: int = 3
    input_normalisation: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        object.__setattr__(self, "dropout", tuple(float(p) for p in self.dropout))
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths must be positive channel counts, got {self.widths}")
        if len(self.dropout) != len(self.widths):
            raise ValueError(
                f"need one dropout per level: {len(self.widths)} widths, "
                f"{len(self.dropout)} dropouts"
            )
        if any(not 0 <= p < 1 for p in self.dropout):
            raise ValueError(f"dropout probabilities must be in [0, 1), got {self.dropout}")
        if self.blocks_per_level < 1 or self.middle_blocks < 0:
            raise ValueError("blocks_per_level must be >= 1 and middle_blocks >= 0")
        if self.input_normalisation not in INPUT_NORMALISATIONS:
            raise ValueError(f"input_normalisation must be one of {INPUT_NORMALISATIONS}, "
                             f"got {self.input_normalisation!r}")

    @property
    def depth(self) -> int:
        return len(self.widths)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> UNetConfig:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: tuple(v) if isinstance(v, list) else v
                      for k, v in values.items() if k in known})


#: The configuration of the paper's published model (their default widths), for
#: speed and score comparisons (``benchmarks/segment_speed.py``).
PAPER_CONFIG = UNetConfig(widths=(32, 64, 128, 256), blocks_per_level=2, middle_blocks=2,
                          dropout=(0.0, 0.1, 0.25, 0.13))


ARCHITECTURES = ("lean", "paper")


@dataclass(frozen=True)
class CutoutNetConfig:
    """Shape of a :class:`~galseg.models.cutout_net.CutoutNet`.

    Parameters
    ----------
    architecture : {'lean', 'paper'}
    widths : tuple of int
        Channels of the four stages of the lean network (ignored by ``paper``).
    convs_per_stage : int
        3x3 convolutions in each lean stage (ignored by ``paper``).
    dropout : float
        Dropout before the output layer (and, for ``paper``, after every stage).
    input_size : int
        Side of the square input cutouts in pixels.
    """

    architecture: str = "lean"
    widths: tuple[int, ...] = (16, 32, 64, 128)
    convs_per_stage: int = 2
    dropout: float = 0.2
    input_size: int = 128

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, "
                             f"got {self.architecture!r}")
        if self.architecture == "lean" and (len(self.widths) != 4 or min(self.widths) < 1):
            raise ValueError(f"widths must be four positive ints, got {self.widths!r}")
        if self.convs_per_stage < 1:
            raise ValueError(f"convs_per_stage must be >= 1, got {self.convs_per_stage!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        smallest = 32 if self.architecture == "lean" else 96
        if self.input_size < smallest:
            raise ValueError(f"input_size must be >= {smallest} for {self.architecture!r}, "
                             f"got {self.input_size!r}")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["widths"] = list(self.widths)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> CutoutNetConfig:
        return cls(**{**values, "widths": tuple(values.get("widths", cls.widths))})


PAPER_SHRED_CONFIG = CutoutNetConfig(architecture="paper", dropout=0.2)
"""The network of Di Teodoro et al. (2023)."""


BACKBONES = ("lean", "resnet50", "resnet101")


@dataclass(frozen=True)
class DetectorConfig:
    """Architecture of a galaxy detector.

    Attributes
    ----------
    backbone : {'lean', 'resnet50', 'resnet101'}
    lean_widths : tuple of int
        Channels of the lean backbone's four stages (strides 4, 8, 16, 32).
    lean_blocks : int
        Residual blocks per lean stage.
    fpn_channels : int
        FPN width (256 for the ResNets, as torchvision).
    anchor_sizes : tuple of int
        One anchor size in pixels per FPN level (strides 4..64).
    aspect_ratios : tuple of float
    box_head_dim : int
        Width of the two fully connected layers of the box head (1024 in torchvision).
    mask_head_channels, mask_head_layers : int
        The mask head's convolutions (256 x 4 in torchvision).
    classes : tuple of str
        Object classes (class index ``i + 1``).
    rpn_nms : float
        IoU of the RPN's non-maximum suppression.
    rois_per_image : int
        RoIs sampled per image for the heads' training loss (128 in the paper).
    box_nms : float
        IoU above which the weaker of two detections is suppressed (class-agnostic).
    detections_per_image : int
    score_threshold : float
        Detections below this score are not returned by the network (catalogs apply
        their own, higher, threshold; evaluation keeps low scores for mAP).
    """

    backbone: str = "lean"
    lean_widths: tuple[int, int, int, int] = (24, 48, 96, 160)
    lean_blocks: int = 1
    fpn_channels: int = 64
    anchor_sizes: tuple[int, ...] = (8, 16, 32, 64, 128)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    box_head_dim: int = 256
    mask_head_channels: int = 64
    mask_head_layers: int = 2
    classes: tuple[str, ...] = DETECTION_CLASSES
    rpn_nms: float = 0.7
    rois_per_image: int = 128
    box_nms: float = 0.4
    detections_per_image: int = 200
    score_threshold: float = 0.05

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        if len(self.anchor_sizes) != 5:
            raise ValueError("anchor_sizes needs one size per FPN level (5)")
        if len(self.lean_widths) != 4:
            raise ValueError("lean_widths needs four stage widths")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DetectorConfig:
        tuples = ("lean_widths", "anchor_sizes", "aspect_ratios", "classes")
        return cls(**{k: (tuple(v) if k in tuples else v) for k, v in values.items()})


PAPER_DETECTOR_CONFIG = DetectorConfig(backbone="resnet101", fpn_channels=256, box_head_dim=1024,
                                       mask_head_channels=256, mask_head_layers=4)
"""The paper's architecture (ResNet-101 FPN and torchvision's full-width heads)."""
