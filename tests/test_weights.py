"""Model files: round trip, damaged files, and the shipped default with its checksum."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import TINY_UNET
from galseg.errors import InputFileError
from galseg.models import weights
from galseg.models.detector import DetectorConfig
from galseg.models.unet import UNet
from galseg.models.weights import (
    SegmenterMetadata,
    default_segmenter_card,
    default_segmenter_path,
    load_segmenter,
    save_segmenter,
    sha256_of,
)


def test_round_trip_in_fp16_changes_predictions_little(tmp_path):
    torch.manual_seed(0)
    model = UNet(TINY_UNET).eval()
    path = save_segmenter(model, SegmenterMetadata(TINY_UNET, 64, 0.262, {"a": 1}),
                          tmp_path / "m.pt")
    loaded, metadata = load_segmenter(path)
    assert metadata.training == {"a": 1} and metadata.frame_size == 64
    x = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(model(x), loaded(x), atol=2e-3)


def test_bad_model_files_are_named(tmp_path):
    with pytest.raises(InputFileError, match="no such model file"):
        load_segmenter(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(InputFileError, match=r"junk\.pt"):
        load_segmenter(tmp_path / "junk.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(InputFileError, match="not a galseg segmenter"):
        load_segmenter(tmp_path / "other.pt")


def shipped_card(name: str) -> dict:
    """The card of a default model shipped in the package, after checking its file:
    present, at most 25 MB, and the checksum the card states."""
    path = weights.default_model_path(name)
    assert path.is_file(), "the default weights must ship inside the package"
    assert path.stat().st_size <= 25 * 2**20
    card = weights.default_model_card(name)
    assert card["sha256"] == sha256_of(path) and card["bytes"] == path.stat().st_size
    return card


def test_shipped_default_loads_and_matches_its_card():
    card = shipped_card(weights.DEFAULT_SEGMENTER)
    assert default_segmenter_path() == weights.default_model_path(weights.DEFAULT_SEGMENTER)
    assert default_segmenter_card() == card
    model, metadata = load_segmenter()
    assert metadata.frame_size == card["frame_size"]
    with torch.inference_mode():
        out = model(torch.rand(1, 3, metadata.frame_size, metadata.frame_size))
    assert out.shape[1] == 2 and bool(torch.isfinite(out).all())


def test_shipped_shred_classifier_loads_and_matches_its_card():
    card = shipped_card(weights.DEFAULT_SHRED_CLASSIFIER)
    members, metadata = weights.load_shred_classifier()
    assert len(members) == card["members"] and metadata.pixscale_arcsec == 0.469
    assert list(metadata.calibration) == card["calibration"]
    with torch.inference_mode():
        out = members[0](torch.rand(2, 3, 128, 128))
    assert out.shape == (2,) and bool(torch.isfinite(out).all())


@pytest.mark.parametrize(("name", "load"), [
    (weights.DEFAULT_SEGMENTER, load_segmenter),
    (weights.DEFAULT_SHRED_CLASSIFIER, weights.load_shred_classifier),
    (weights.DEFAULT_DETECTOR, weights.load_detector),
])
def test_damaged_shipped_default_is_refused(tmp_path, monkeypatch, name, load):
    copy = tmp_path / f"{name}.pt"
    data = bytearray(weights.default_model_path(name).read_bytes())
    data[len(data) // 3] ^= 0xFF
    copy.write_bytes(bytes(data))
    (tmp_path / f"{name}.json").write_text(json.dumps(weights.default_model_card(name)))
    monkeypatch.setattr(weights, "default_model_path", lambda _: copy)
    with pytest.raises(InputFileError, match="checksum"):
        load()


def test_shipped_detector_loads_and_matches_its_card():
    card = shipped_card(weights.DEFAULT_DETECTOR)
    model, metadata = weights.load_detector()
    assert metadata.model == DetectorConfig.from_dict(card["architecture"])
    assert "from scratch" in card["pretrained"]
    with torch.inference_mode():
        out = model([torch.rand(3, 64, 64)])[0]
    assert set(out) >= {"boxes", "scores", "labels", "masks", "class_probs"}
