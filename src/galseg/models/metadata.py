"""What a model file holds besides its weights: plain, torch-free metadata objects.

One class per kind of model file (segmenter, shred classifier, morphology classifier,
detector), each written to and read from the file's ``metadata`` entry as JSON by
:mod:`galseg.models.weights`, which re-exports them. They live apart from the file
code so that what only reads them (the defaults of ``galseg train morphology --help``)
does not import torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from galseg.models.configs import CutoutNetConfig, DetectorConfig, UNetConfig


@dataclass(frozen=True)
class SegmenterMetadata:
    """What a segmenter needs besides its weights.

    Attributes
    ----------
    model : UNetConfig
    frame_size : int
        Side in pixels of the square frames the model was trained on.
    pixscale_arcsec : float
        Pixel scale of those frames (simulated galaxies: 0.262 "/px).
    training : dict
        Free-form facts about the training run (data, epochs, losses).
    measure_rules : dict
        The model's own measurement rules, keyword arguments of
        :func:`galseg.measure.measure_features` (``spiral_threshold``,
        ``spiral_detection_level``, ...), chosen for this model on calibration
        galaxies; rules not named here keep ``galseg.measure``'s defaults. Empty for a
        model that uses the defaults.
    """

    model: UNetConfig
    frame_size: int
    pixscale_arcsec: float
    training: dict[str, Any] = field(default_factory=dict)
    measure_rules: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"model": self.model.to_dict(), "frame_size": self.frame_size,
                           "pixscale_arcsec": self.pixscale_arcsec,
                           "training": self.training,
                           "measure_rules": self.measure_rules}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SegmenterMetadata:
        values = json.loads(text)
        return cls(UNetConfig.from_dict(values["model"]), int(values["frame_size"]),
                   float(values["pixscale_arcsec"]), values.get("training", {}),
                   values.get("measure_rules", {}))


@dataclass(frozen=True)
class ShredMetadata:
    """What a shred classifier needs besides its weights.

    Attributes
    ----------
    model : CutoutNetConfig
    pixscale_arcsec : float
        Pixel scale of the training cutouts (0.469 arcsec, as the paper).
    calibration : tuple of float
        ``(scale, offset)``: ``p_shred = sigmoid(scale * logit + offset)``, where
        ``logit`` is the mean logit of the ensemble members (Platt scaling fitted
        on out-of-fold predictions).
    threshold : float
        Default ``p_shred`` above which a source is called a shred.
    training : dict
        Free-form facts about the training run (data, folds, scores).
    calibrations : dict
        Every calibration the model carries, by name (``'simulated'``: fitted on
        simulated detections; ``'real'``: on eye-labelled real catalog sources);
        ``calibration`` is the one named ``calibration_name``.
    calibration_name : str
        Name of the default calibration.
    """

    model: CutoutNetConfig
    pixscale_arcsec: float = 0.469
    calibration: tuple[float, float] = (1.0, 0.0)
    threshold: float = 0.5
    training: dict[str, Any] = field(default_factory=dict)
    calibrations: dict[str, tuple[float, float]] = field(default_factory=dict)
    calibration_name: str = "simulated"

    def __post_init__(self) -> None:
        if not self.calibrations:
            object.__setattr__(self, "calibrations",
                               {self.calibration_name: tuple(self.calibration)})
        elif self.calibration_name not in self.calibrations:
            raise ValueError(f"calibration {self.calibration_name!r} is not among "
                             f"{sorted(self.calibrations)}")

    def with_calibration(self, name: str) -> ShredMetadata:
        """The same metadata with calibration ``name`` as the default."""
        if name not in self.calibrations:
            raise ValueError(f"this model has no {name!r} calibration; it has "
                             f"{sorted(self.calibrations)}")
        return replace(self, calibration=tuple(self.calibrations[name]),
                       calibration_name=name)

    def to_json(self) -> str:
        return json.dumps({"model": self.model.to_dict(), "pixscale_arcsec": self.pixscale_arcsec,
                           "calibration": list(self.calibration), "threshold": self.threshold,
                           "training": self.training,
                           "calibrations": {k: list(v) for k, v in self.calibrations.items()},
                           "calibration_name": self.calibration_name}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ShredMetadata:
        values = json.loads(text)
        calibration = tuple(float(v) for v in values["calibration"])
        name = values.get("calibration_name", "simulated")
        calibrations = {k: tuple(float(x) for x in v)
                        for k, v in values.get("calibrations", {name: calibration}).items()}
        return cls(CutoutNetConfig.from_dict(values["model"]), float(values["pixscale_arcsec"]),
                   calibration, float(values["threshold"]), values.get("training", {}),
                   calibrations, name)


@dataclass(frozen=True)
class MorphologyMetadata:
    """What a morphology classifier needs besides its weights.

    Attributes
    ----------
    model : CutoutNetConfig
    crop_context : float
        A galaxy's crop is ``crop_context`` times the longest side of its box ...
    min_crop_px : float
        ... and at least this many pixels (of the detector's model grid).
    calibration : tuple of float
        ``(scale, offset)``: ``p_spiral = sigmoid(scale * logit + offset)`` with
        ``logit`` the members' mean (Platt scaling on out-of-fold predictions).
    training : dict
        Free-form facts about the training run (data, folds, scores).
    """

    model: CutoutNetConfig
    crop_context: float = 2.5
    min_crop_px: float = 24.0
    calibration: tuple[float, float] = (1.0, 0.0)
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"model": self.model.to_dict(), "crop_context": self.crop_context,
                           "min_crop_px": self.min_crop_px,
                           "calibration": list(self.calibration), "training": self.training},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MorphologyMetadata:
        values = json.loads(text)
        return cls(CutoutNetConfig.from_dict(values["model"]), float(values["crop_context"]),
                   float(values["min_crop_px"]),
                   tuple(float(v) for v in values["calibration"]), values.get("training", {}))


@dataclass(frozen=True)
class DetectorMetadata:
    """What a galaxy detector needs besides its weights.

    Attributes
    ----------
    model : DetectorConfig
    pixscale_arcsec : float
        Reference pixel scale: images with a known pixel scale are resampled to it
        before detection (the simulated training fields' 0.396 arcsec, SDSS's).
    score_threshold : float
        Default score below which detections are not catalogued (0.4, the paper's
        minimum detection confidence).
    training : dict
        Free-form facts about the training run (data, epochs, scores).
    piece_area_ratio : float or None
        Default for dropping pieces of much bigger detections
        (:func:`galseg.predict.detect.pieces_of_bigger`); None keeps them.
    min_box_px : float or None
        Default smallest detection kept: the longer side of its box, in model pixels
        (at ``pixscale_arcsec``); None keeps every size.
    """

    model: DetectorConfig
    pixscale_arcsec: float = 0.396
    score_threshold: float = 0.4
    training: dict[str, Any] = field(default_factory=dict)
    piece_area_ratio: float | None = None
    min_box_px: float | None = None

    def to_json(self) -> str:
        values = {"model": self.model.to_dict(), "pixscale_arcsec": self.pixscale_arcsec,
                  "score_threshold": self.score_threshold, "training": self.training}
        # Absent when unset, so files and run keys made before the option stay the same.
        if self.piece_area_ratio is not None:
            values["piece_area_ratio"] = self.piece_area_ratio
        if self.min_box_px is not None:
            values["min_box_px"] = self.min_box_px
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DetectorMetadata:
        values = json.loads(text)
        ratio, min_box = values.get("piece_area_ratio"), values.get("min_box_px")
        return cls(DetectorConfig.from_dict(values["model"]), float(values["pixscale_arcsec"]),
                   float(values["score_threshold"]), values.get("training", {}),
                   None if ratio is None else float(ratio),
                   None if min_box is None else float(min_box))
