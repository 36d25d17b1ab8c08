"""Shred networks, their model files and the calibrated classifier."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TINY_SHREDNET
from galseg.errors import InputFileError
from galseg.models.cutout_net import PAPER_SHRED_CONFIG, CutoutNet, CutoutNetConfig
from galseg.models.weights import (
    ShredMetadata,
    load_shred_classifier,
    save_segmenter,
    save_shred_classifier,
)
from galseg.predict.shreds import ShredClassifier


def test_paper_network_has_the_papers_parameter_count():
    model = CutoutNet(PAPER_SHRED_CONFIG)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(10.58e6, rel=0.001)
    assert model(torch.zeros(2, 3, 128, 128)).shape == (2,)


def test_lean_network_is_one_logit_per_image_and_checks_shape():
    model = CutoutNet(CutoutNetConfig()).eval()
    assert model(torch.rand(3, 3, 128, 128)).shape == (3,)
    with pytest.raises(ValueError, match="shape"):
        model(torch.rand(1, 3, 64, 64))


@pytest.mark.parametrize("kwargs", [dict(architecture="vgg"), dict(widths=(8, 8)),
                                    dict(dropout=1.0), dict(input_size=16),
                                    dict(convs_per_stage=0)])
def test_bad_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        CutoutNetConfig(**kwargs)


def test_model_file_round_trip_and_calibration(tmp_path):
    torch.manual_seed(1)
    members = [CutoutNet(TINY_SHREDNET).eval() for _ in range(3)]
    metadata = ShredMetadata(TINY_SHREDNET, calibration=(2.0, -0.5), threshold=0.7,
                             training={"folds": 3})
    path = save_shred_classifier(members, metadata, tmp_path / "s.pt")
    loaded, meta = load_shred_classifier(path)
    assert meta == metadata and len(loaded) == 3
    cutouts = np.random.default_rng(0).integers(0, 256, (5, 128, 128, 3), dtype=np.uint8)
    with torch.inference_mode():
        x = torch.from_numpy(cutouts).permute(0, 3, 1, 2).float() / 255
        expected = torch.stack([m(x) for m in members]).mean(0).numpy()
    classifier = ShredClassifier(loaded, meta, device="cpu", batch_size=2)
    assert np.allclose(classifier.logits(cutouts), expected, atol=2e-2)
    p = classifier.predict_proba(cutouts)
    assert np.allclose(p, 1 / (1 + np.exp(-(2.0 * classifier.logits(cutouts) - 0.5))))
    # uint8 and float inputs are the same cutouts
    assert np.allclose(classifier.predict_proba(cutouts.astype(np.float32) / 255), p)
    assert classifier.predict_proba(np.zeros((0, 128, 128, 3), np.uint8)).shape == (0,)


def test_classifier_refuses_wrong_shapes_and_nan(tiny_shred_model_path):
    classifier = ShredClassifier.from_file(tiny_shred_model_path, device="cpu")
    with pytest.raises(ValueError, match="shape"):
        classifier.predict_proba(np.zeros((1, 64, 64, 3), np.uint8))
    bad = np.zeros((1, 128, 128, 3), np.float32)
    bad[0, 3, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        classifier.predict_proba(bad)


def test_a_segmenter_file_is_not_a_shred_classifier(tmp_path):
    from conftest import TINY_UNET
    from galseg.models.unet import UNet
    from galseg.models.weights import SegmenterMetadata

    path = save_segmenter(UNet(TINY_UNET), SegmenterMetadata(TINY_UNET, 64, 0.262),
                          tmp_path / "seg.pt")
    with pytest.raises(InputFileError, match="shred classifier"):
        load_shred_classifier(path)


def test_tta_averages_the_eight_views(tiny_shred_model_path):
    cutouts = np.random.default_rng(2).integers(0, 256, (3, 128, 128, 3), dtype=np.uint8)
    plain = ShredClassifier.from_file(tiny_shred_model_path, device="cpu")
    tta = ShredClassifier.from_file(tiny_shred_model_path, device="cpu", tta=True)
    views = [np.rot90(cutouts[:, :, ::-1] if k >= 4 else cutouts, k % 4, axes=(1, 2))
             for k in range(8)]
    expected = np.mean([plain.logits(np.ascontiguousarray(v)) for v in views], axis=0)
    assert np.allclose(tta.logits(cutouts), expected, atol=1e-5)
    # a rotated cutout gets the same TTA answer
    assert np.allclose(tta.logits(np.ascontiguousarray(np.rot90(cutouts, 1, axes=(1, 2)))),
                       tta.logits(cutouts), atol=1e-5)
