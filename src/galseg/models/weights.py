"""Model files (segmenter, shred and morphology classifiers, detector): save, load, verify,
shipped defaults.

A model file is a ``torch.save`` dictionary readable with ``weights_only=True`` (no
pickled code): ``format``, ``metadata`` (JSON text: architecture, the frame the model
was trained on, training facts) and ``state_dict`` with float16 tensors (half the size;
the weights are cast back to float32 on load, the predictions change by < 1e-3).

A cutout classifier file (shreds, morphology) holds ``members`` (a list of state dicts:
the ensemble of the cross-validation folds) instead of ``state_dict``.

Each default model ``galseg/models/weights/<name>.pt`` comes with ``<name>.json``
holding its SHA-256 checksum and the measured scores; the checksum is verified
every time the default is loaded. The model cards are in ``docs/models.md``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from galseg.errors import InputFileError
from galseg.models.cutout_net import CutoutNet, CutoutNetConfig, members_on_device
from galseg.models.detector import GalaxyMaskRCNN, build_detector
from galseg.models.metadata import (
    DetectorMetadata,
    MorphologyMetadata,
    SegmenterMetadata,
    ShredMetadata,
)
from galseg.models.unet import UNet

FORMAT = "galseg-segmenter-1"
DEFAULT_SEGMENTER = "segmenter_default"
SHRED_FORMAT = "galseg-shreds-1"
DEFAULT_SHRED_CLASSIFIER = "shreds_default"
MORPHOLOGY_FORMAT = "galseg-morphology-1"
DEFAULT_MORPHOLOGY = "morphology_default"
DETECTOR_FORMAT = "galseg-detector-1"
DEFAULT_DETECTOR = "detector_default"


def _half_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
            for k, v in model.state_dict().items()}


def _full_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _write_model_file(path: str | PathLike[str], payload: dict[str, Any]) -> Path:
    """``torch.save`` ``payload`` to ``path`` atomically (a killed job leaves no half file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def _read_model_file(path: str | PathLike[str] | None, file_format: str,
                     default_name: str, what: str) -> dict[str, Any]:
    """Read a model file of ``file_format``; ``None`` means the shipped default
    ``default_name``, whose checksum is verified against its card first."""
    if path is None:
        path = default_model_path(default_name)
        if not path.is_file():
            raise InputFileError(path, f"the default {what} weights are missing from this "
                                       "installation; reinstall galseg")
        if sha256_of(path) != default_model_card(default_name)["sha256"]:
            raise InputFileError(path, "checksum mismatch: the default weights are damaged; "
                                       "reinstall galseg")
    path = Path(path)
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputFileError(path, "no such model file") from None
    except Exception as exc:  # torch raises several types for damaged files
        raise InputFileError(path, f"not a readable model file ({exc})") from None
    if not isinstance(stored, dict) or stored.get("format") != file_format:
        raise InputFileError(path, f"not a galseg {what} file (format {file_format!r} expected)")
    return stored


def sha256_of(path: str | PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_model_path(name: str) -> Path:
    """Path of the shipped model file ``name`` (e.g. ``'segmenter_default'``)."""
    return Path(str(resources.files("galseg.models") / "weights" / f"{name}.pt"))


def default_model_card(name: str) -> dict[str, Any]:
    """The JSON card of a shipped model (checksum, training command, scores)."""
    return json.loads(default_model_path(name).with_suffix(".json").read_text())


MAX_SHIPPED_BYTES = 25 * 2**20
"""Largest model file shipped inside the package."""


def ship_model(source: str | PathLike[str], name: str, card: dict[str, Any]) -> Path:
    """Copy a trained model file into the package as the default ``name`` and write its
    card (``card`` plus ``name``, ``sha256`` and ``bytes``). For the release scripts in
    ``scripts/``; the checksum is what :func:`_read_model_file` verifies."""
    source = Path(source)
    if source.stat().st_size > MAX_SHIPPED_BYTES:
        raise ValueError(f"{source} is over {MAX_SHIPPED_BYTES // 2**20} MB")
    target = default_model_path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    card = {"name": name, "sha256": sha256_of(target), "bytes": target.stat().st_size, **card}
    target.with_suffix(".json").write_text(json.dumps(card, indent=1, default=str) + "\n")
    return target


def default_segmenter_path() -> Path:
    """Path of the default segmenter file inside the installed package."""
    return default_model_path(DEFAULT_SEGMENTER)


def default_segmenter_card() -> dict[str, Any]:
    """The JSON card of the default segmenter (checksum, training command, scores)."""
    return default_model_card(DEFAULT_SEGMENTER)


def save_segmenter(model: UNet, metadata: SegmenterMetadata, path: str | PathLike[str]) -> Path:
    """Write ``model`` (weights as float16) and ``metadata`` to ``path`` atomically."""
    return _write_model_file(path, {"format": FORMAT, "metadata": metadata.to_json(),
                                    "state_dict": _half_state(model)})


def load_segmenter(
    path: str | PathLike[str] | None = None, *, device: torch.device | str = "cpu"
) -> tuple[UNet, SegmenterMetadata]:
    """Load a segmenter in evaluation mode.

    Parameters
    ----------
    path : path, optional
        A model file written by :func:`save_segmenter` (``galseg train segmenter``);
        default: the weights shipped with galseg, checked against their checksum.
    device : torch device

    Returns
    -------
    model : UNet (eval mode, float32, channels-last)
    metadata : SegmenterMetadata
    """
    stored = _read_model_file(path, FORMAT, DEFAULT_SEGMENTER, "segmenter")
    metadata = SegmenterMetadata.from_json(stored["metadata"])
    model = UNet(metadata.model)
    model.load_state_dict(_full_state(stored["state_dict"]))
    model = model.to(device, memory_format=torch.channels_last).eval()
    return model, metadata


def save_shred_classifier(members: Sequence[CutoutNet], metadata: ShredMetadata,
                          path: str | PathLike[str]) -> Path:
    """Write an ensemble of :class:`CutoutNet` (weights as float16) and its metadata."""
    if not members:
        raise ValueError("a shred classifier needs at least one member network")
    return _write_model_file(path, {"format": SHRED_FORMAT, "metadata": metadata.to_json(),
                                    "members": [_half_state(m) for m in members]})


def load_shred_classifier(
    path: str | PathLike[str] | None = None, *, device: torch.device | str = "cpu"
) -> tuple[list[CutoutNet], ShredMetadata]:
    """Load the member networks of a shred classifier in evaluation mode.

    Parameters
    ----------
    path : path, optional
        A file written by :func:`save_shred_classifier` (``galseg train shreds``);
        default: the weights shipped with galseg, checked against their checksum.
    device : torch device

    Returns
    -------
    members : list of CutoutNet (eval mode, float32, channels-last)
    metadata : ShredMetadata
    """
    stored = _read_model_file(path, SHRED_FORMAT, DEFAULT_SHRED_CLASSIFIER, "shred classifier")
    metadata = ShredMetadata.from_json(stored["metadata"])
    return _members(stored, metadata.model, device), metadata


def _members(stored: dict[str, Any], config: CutoutNetConfig,
             device: torch.device | str) -> list[CutoutNet]:
    members = []
    for state in stored["members"]:
        member = CutoutNet(config)
        member.load_state_dict(_full_state(state))
        members.append(member)
    return members_on_device(members, device)[1]


def save_morphology_classifier(members: Sequence[CutoutNet], metadata: MorphologyMetadata,
                               path: str | PathLike[str]) -> Path:
    """Write an ensemble of morphology :class:`CutoutNet` (float16) and its metadata."""
    if not members:
        raise ValueError("a morphology classifier needs at least one member network")
    return _write_model_file(path, {"format": MORPHOLOGY_FORMAT,
                                    "metadata": metadata.to_json(),
                                    "members": [_half_state(m) for m in members]})


def load_morphology_classifier(
    path: str | PathLike[str] | None = None, *, device: torch.device | str = "cpu"
) -> tuple[list[CutoutNet], MorphologyMetadata]:
    """Load the member networks of a morphology classifier in evaluation mode.

    ``path``: a file written by :func:`save_morphology_classifier` (``galseg train
    morphology``); default the weights shipped with galseg, checked against their
    checksum.
    """
    stored = _read_model_file(path, MORPHOLOGY_FORMAT, DEFAULT_MORPHOLOGY,
                              "morphology classifier")
    metadata = MorphologyMetadata.from_json(stored["metadata"])
    return _members(stored, metadata.model, device), metadata


def save_detector(model: GalaxyMaskRCNN, metadata: DetectorMetadata,
                  path: str | PathLike[str]) -> Path:
    """Write a detector's weights (float16) and metadata."""
    return _write_model_file(path, {"format": DETECTOR_FORMAT, "metadata": metadata.to_json(),
                                    "state_dict": _half_state(model)})


def load_detector(
    path: str | PathLike[str] | None = None, *, device: torch.device | str = "cpu"
) -> tuple[GalaxyMaskRCNN, DetectorMetadata]:
    """Load a galaxy detector in evaluation mode.

    Parameters
    ----------
    path : path, optional
        A file written by :func:`save_detector` (``galseg train detector``); default:
        the weights shipped with galseg, checked against their checksum.
    device : torch device

    Returns
    -------
    model : GalaxyMaskRCNN (eval mode, float32)
    metadata : DetectorMetadata
    """
    stored = _read_model_file(path, DETECTOR_FORMAT, DEFAULT_DETECTOR, "detector")
    metadata = DetectorMetadata.from_json(stored["metadata"])
    model = build_detector(metadata.model)
    model.load_state_dict(_full_state(stored["state_dict"]))
    return model.to(device).eval(), metadata


__all__ = ["DEFAULT_DETECTOR", "DEFAULT_MORPHOLOGY", "DEFAULT_SEGMENTER",
           "DEFAULT_SHRED_CLASSIFIER", "DETECTOR_FORMAT", "FORMAT", "MAX_SHIPPED_BYTES",
           "MORPHOLOGY_FORMAT", "SHRED_FORMAT", "DetectorMetadata", "MorphologyMetadata",
           "SegmenterMetadata", "ShredMetadata", "default_model_card", "default_model_path",
           "default_segmenter_card", "default_segmenter_path", "load_detector",
           "load_morphology_classifier", "load_segmenter", "load_shred_classifier",
           "save_detector", "save_morphology_classifier", "save_segmenter",
           "save_shred_classifier", "sha256_of", "ship_model"]
