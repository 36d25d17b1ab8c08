"""Hyper-parameters of every galseg training run: plain, torch-free objects.

Each training module (:mod:`~galseg.training.segmenter`, :mod:`~galseg.training.ensemble`
for the shred and morphology classifiers, :mod:`~galseg.training.morphology`,
:mod:`~galseg.training.detector`) takes one of these and re-exports it; a run stores
it with its results. They live apart from the training code so that the options and
defaults of ``galseg train --help`` are read from them without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from galseg.models.configs import CutoutNetConfig, DetectorConfig, UNetConfig

GREY_PROBABILITY = 0.15
"""Fraction of the segmenter's training images shown in grey (luminance in all three channels)."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a segmenter training run (stored with the run)."""

    model: UNetConfig = field(default_factory=UNetConfig)
    frame_size: int = 128
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.075
    gradient_clip: float = 0.5
    max_epochs: int = 60
    patience: int = 6
    max_minutes: float | None = None
    seed: int = 0
    grey_probability: float = GREY_PROBABILITY
    lr_factor: float = 0.3
    lr_patience: int = 2
    lr_schedule: str = "plateau"
    degrade_probability: float = 0.0
    init_from: str | None = None
    """An earlier model file (same architecture and frame) whose weights start the run."""
    weak_data: str | None = None
    """A Galaxy Zoo 1 SDSS folder whose spirals and ellipticals add the image-level loss of
    :mod:`galseg.training.weak_labels` (train split only)."""
    weak_weight: float = 0.1
    """Weight of that loss against the masked L1 of the simulated galaxies."""
    weak_edge_on: bool = False
    """Also the edge-on discs of ``weak_data``: no visible arms, bar channel free."""
    weak_batch_size: int = 16
    """Real galaxies per step (half spirals, half without arms: ellipticals, and edge-on
    discs with ``weak_edge_on``)."""
    eye_bar_data: str | None = None
    """The shared data folder (``gz1_sdss/``, ``legacy_cutouts/``) whose train-split bar
    labels by eye add the loss of :mod:`galseg.training.eye_bars`."""
    eye_bar_labels: str | None = None
    """Bar label table; default the committed ``eye_labels/bar_labels.csv``."""
    eye_bar_stellarium: str | None = None
    """The unpacked ``stellarium-data`` package (its labelled textures); without it those
    labels are skipped."""
    eye_bar_weight: float = 0.1
    """Weight of the eye-bar loss against the masked L1 of the simulated galaxies."""
    eye_bar_batch_size: int = 8
    """Eye-labelled galaxies per step (half barred, half not)."""

    def __post_init__(self) -> None:
        if self.weak_edge_on and self.weak_data is None:
            raise ValueError("weak_edge_on needs weak_data, the Galaxy Zoo 1 folder whose "
                             "edge-on discs it adds (galseg train segmenter --weak-gz1)")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["model"] = self.model.to_dict()
        for name in ("init_from", "weak_data", "eye_bar_data", "eye_bar_labels",
                     "eye_bar_stellarium"):
            if values[name] is not None:
                values[name] = str(Path(values[name]).resolve())
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        values["model"] = UNetConfig.from_dict(values["model"])
        return cls(**values)


@dataclass(frozen=True)
class EnsembleTrainConfig:
    """Hyper-parameters of a cutout-classifier ensemble training run (stored with the run;
    :mod:`galseg.training.ensemble`)."""

    model: CutoutNetConfig = field(default_factory=CutoutNetConfig)
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
    noise_sigma: float = 0.0
    """Gaussian noise on half the training cutouts, sigma uniform in [0, noise_sigma]
    counts of an 8-bit image (0: none)."""
    lr_factor: float = 0.3
    lr_patience: int = 2
    init_from: str = ""
    """Model file whose members start the folds (fine-tuning; empty: from scratch)."""

    def __post_init__(self) -> None:
        if self.n_folds < 2:
            raise ValueError(f"n_folds must be >= 2, got {self.n_folds!r}")
        if self.noise_sigma < 0:
            raise ValueError(f"noise_sigma must be >= 0, got {self.noise_sigma!r}")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["model"] = self.model.to_dict()
        return values


DEFAULT_MORPHOLOGY_CONFIG = EnsembleTrainConfig(
    model=CutoutNetConfig(input_size=64, dropout=0.3), learning_rate=2e-3,
    weight_decay=0.05, max_epochs=60, patience=8, noise_sigma=80.0)
"""The shipped morphology classifier's recipe (``galseg train morphology``): 64 px crops,
dropout 0.3, Gaussian noise up to 80 counts (the noise test goes to 76.5), five folds, up to
60 epochs per fold."""


@dataclass(frozen=True)
class DetectorTrainConfig:
    """Options of ``galseg train detector`` (see :mod:`galseg.training.detector`)."""

    data: tuple[str, ...]
    model: DetectorConfig = field(default_factory=DetectorConfig)
    crop_size: int = 256
    val_fraction: float = 0.1
    batch_size: int = 4
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 40
    patience: int = 5
    max_minutes: float | None = None
    seed: int = 0
    noise_amplitude: float = 25.0
    noise_probability: float = 0.5
    noise_sigma: float = 0.0
    grey_probability: float = 0.1
    gradient_clip: float = 5.0
    init_from: str | None = None
    balance_classes: bool = False
    device: str | None = None

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["model"] = self.model.to_dict()
        values["data"] = [str(Path(d).resolve()) for d in self.data]
        if self.init_from is not None:
            values["init_from"] = str(Path(self.init_from).resolve())
        return values
