"""Segmenter model files: save, load, verify, and the default weights shipped in galseg.

A model file is a ``torch.save`` dictionary readable with ``weights_only=True`` (no
pickled code): ``format``, ``metadata`` (JSON text: architecture, the frame the model
was trained on, training facts) and ``state_dict`` with float16 tensors (half the size;
the weights are cast back to float32 on load, the predictions change by < 1e-3).

The default model ``galseg/models/weights/segmenter_default.pt`` comes with
``segmenter_default.json`` holding its SHA-256 checksum and the measured scores; the
checksum is verified every time the default is loaded. The model card is
``docs/models.md``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from galseg.errors import InputFileError
from galseg.models.unet import UNet, UNetConfig

FORMAT = "galseg-segmenter-1"
DEFAULT_SEGMENTER = "segmenter_default"


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
    """

    model: UNetConfig
    frame_size: int
    pixscale_arcsec: float
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"model": self.model.to_dict(), "frame_size": self.frame_size,
                           "pixscale_arcsec": self.pixscale_arcsec,
                           "training": self.training}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SegmenterMetadata:
        values = json.loads(text)
        return cls(UNetConfig.from_dict(values["model"]), int(values["frame_size"]),
                   float(values["pixscale_arcsec"]), values.get("training", {}))


def save_segmenter(model: UNet, metadata: SegmenterMetadata, path: str | PathLike[str]) -> Path:
    """Write ``model`` (weights as float16) and ``metadata`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, "metadata": metadata.to_json(), "state_dict": state}, tmp)
    tmp.replace(path)
    return path


def sha256_of(path: str | PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_segmenter_path() -> Path:
    """Path of the default model file inside the installed package."""
    return Path(str(resources.files("galseg.models") / "weights" / f"{DEFAULT_SEGMENTER}.pt"))


def default_segmenter_card() -> dict[str, Any]:
    """The JSON card of the default model (checksum, training command, scores)."""
    card = default_segmenter_path().with_suffix(".json")
    return json.loads(card.read_text())


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
    if path is None:
        path = default_segmenter_path()
        if not path.is_file():
            raise InputFileError(path, "the default segmenter weights are missing from this "
                                       "installation; reinstall galseg")
        expected = default_segmenter_card()["sha256"]
        if sha256_of(path) != expected:
            raise InputFileError(path, "checksum mismatch: the default weights are damaged; "
                                       "reinstall galseg")
    path = Path(path)
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputFileError(path, "no such model file") from None
    except Exception as exc:  # torch raises several types for damaged files
        raise InputFileError(path, f"not a readable model file ({exc})") from None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        raise InputFileError(path, f"not a galseg segmenter file (format {FORMAT!r} expected)")
    metadata = SegmenterMetadata.from_json(stored["metadata"])
    model = UNet(metadata.model)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v
                           for k, v in stored["state_dict"].items()})
    model = model.to(device, memory_format=torch.channels_last).eval()
    return model, metadata
