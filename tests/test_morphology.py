"""The detector's second look: crops around boxes, the spiral/elliptical ensemble, its
training (resumes), and how the detector uses it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TINY_SHREDNET
from galseg.cli.main import main
from galseg.errors import InputFileError
from galseg.models import weights
from galseg.models.cutout_net import CutoutNet, CutoutNetConfig
from galseg.models.geometry import box_crops
from galseg.models.weights import (
    MorphologyMetadata,
    load_morphology_classifier,
    save_morphology_classifier,
)
from galseg.predict.morphology import MorphologyClassifier, split_galaxy_probability
from galseg.training.ensemble import EnsembleTrainConfig
from galseg.training.morphology import morphology_examples, train_morphology_classifier
from test_detector import _example_folder, _tiny_detector

TINY_MORPH = CutoutNetConfig(**{**TINY_SHREDNET.to_dict(), "widths": (2, 4, 4, 8),
                                "input_size": 32})


def test_box_crops_centre_the_box_and_follow_the_side_rule():
    yy, xx = torch.meshgrid(torch.arange(100.0), torch.arange(100.0), indexing="ij")
    # A blob on pixel (row 40, column 60), whose centre is at (60.5, 40.5) in box units.
    image = torch.exp(-((xx - 60) ** 2 + (yy - 40) ** 2) / 8.0)[None]
    boxes = torch.tensor([[58.5, 38.5, 62.5, 42.5],    # 4 px box: side max(2.5*4, 20) = 20
                          [50.5, 30.5, 70.5, 50.5]])   # 20 px box: side 50
    crops = box_crops(image, boxes, 10, context=2.5, min_side=20.0)
    assert crops.shape == (2, 1, 10, 10)
    for crop in crops[:, 0]:
        row, col = np.unravel_index(int(crop.argmax()), crop.shape)
        assert (row, col) in {(4, 4), (4, 5), (5, 4), (5, 5)}
    # The same blob in a 2.5x bigger crop covers fewer of its pixels.
    assert int((crops[0] > 0.5).sum()) > 3 * int((crops[1] > 0.5).sum())
    outside = box_crops(image, torch.tensor([[-30.0, -30.0, -20.0, -20.0]]), 8, context=1.0,
                        min_side=1.0)
    assert float(outside.abs().max()) == 0.0


def test_split_galaxy_probability_keeps_galaxy_and_star_mass():
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    out = split_galaxy_probability(probs, ("spiral", "elliptical", "star"), np.array([0.2, 1.0]))
    np.testing.assert_allclose(out, [[0.18, 0.72, 0.1], [0.2, 0.0, 0.8]])
    np.testing.assert_allclose(out.sum(1), 1.0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _example_folder(tmp_path_factory.mktemp("morph"), n=8)


def test_examples_are_one_crop_per_galaxy_grouped_by_image(folder, tmp_path):
    cache = tmp_path / "examples.npz"
    examples = morphology_examples([folder], input_size=32, crop_context=2.5, min_crop_px=8,
                                   cache=cache, progress=False)
    assert len(examples) == 16 and examples.images.shape == (16, 32, 32, 3)
    assert examples.labels.sum() == 8 and set(examples.kinds) == {"sim"}
    assert len(set(examples.groups)) == 8 and cache.is_file()
    assert examples.zooms.shape == (16,) and np.all(examples.zooms > 0)
    # A galaxy sits at the centre of its crop (bright disc on a dark sky).
    centre = examples.images[:, 14:18, 14:18].mean()
    corner = examples.images[:, :3, :3].mean()
    assert centre > corner + 100
    again = morphology_examples([folder], input_size=32, crop_context=2.5, min_crop_px=8,
                                cache=cache, progress=False)
    assert np.array_equal(again.images, examples.images)


def test_training_writes_a_classifier_and_resumes(folder, tmp_path):
    config = EnsembleTrainConfig(model=TINY_MORPH, n_folds=2, batch_size=8, max_epochs=2,
                                 noise_sigma=20.0)
    path = tmp_path / "morph.pt"
    result = train_morphology_classifier([folder], path, config, min_crop_px=8.0,
                                         progress=False, log=lambda _: None)
    members, metadata = load_morphology_classifier(path)
    assert len(members) == 2 and metadata.min_crop_px == 8.0 and metadata.crop_context == 2.5
    assert metadata.calibration == pytest.approx(result.calibration)
    assert metadata.training["out_of_fold_by_source"]["sim"]["n"] == 16
    messages = []
    train_morphology_classifier([folder], path, config, min_crop_px=8.0, progress=False,
                                log=messages.append)
    assert sum("already trained" in m for m in messages) == 2
    classifier = MorphologyClassifier.from_file(path, device="cpu")
    picture = torch.rand(3, 64, 64)
    p = classifier.p_spiral(picture, np.array([[10, 10, 20, 20], [30, 30, 50, 44]]))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    assert classifier.p_spiral(picture, np.zeros((0, 4))).shape == (0,)


def test_detector_splits_galaxy_probability_with_the_classifier(tmp_path):
    torch.manual_seed(1)
    members = [CutoutNet(TINY_MORPH).eval() for _ in range(2)]
    path = save_morphology_classifier(members, MorphologyMetadata(TINY_MORPH, min_crop_px=8.0),
                                      tmp_path / "m.pt")
    classifier = MorphologyClassifier.from_file(path, device="cpu")
    rgb = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    plain = _tiny_detector().detect(rgb)
    second = _tiny_detector(morphology=classifier).detect(rgb)
    assert len(plain) == len(second) > 0
    np.testing.assert_allclose(second.boxes, plain.boxes)
    np.testing.assert_allclose(second.scores, plain.scores)
    picture = torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1) / 255)
    np.testing.assert_allclose(second.p_spiral, classifier.p_spiral(picture, plain.boxes),
                               rtol=1e-5)
    galaxy = plain.class_probs[:, :2].sum(1)
    np.testing.assert_allclose(second.class_probs[:, :2].sum(1), galaxy, rtol=1e-6)
    # the detector's own spiral share is kept beside the second look's
    assert plain.detector_p_spiral is None
    np.testing.assert_allclose(second.detector_p_spiral, plain.p_spiral, rtol=1e-6)


def test_shipped_morphology_classifier_loads_and_is_refused_when_damaged(tmp_path, monkeypatch):
    from test_weights import shipped_card

    card = shipped_card(weights.DEFAULT_MORPHOLOGY)
    members, metadata = load_morphology_classifier()
    assert len(members) == card["members"]
    assert list(metadata.calibration) == card["calibration"]
    copy = tmp_path / "m.pt"
    data = bytearray(weights.default_model_path(weights.DEFAULT_MORPHOLOGY).read_bytes())
    data[len(data) // 3] ^= 0xFF
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(weights, "default_model_path", lambda _: copy)
    monkeypatch.setattr(weights, "default_model_card", lambda _: card)
    with pytest.raises(InputFileError, match="checksum"):
        load_morphology_classifier()


def test_shipped_spiral_cut_is_at_one_half():
    """The shipped calibration is the trained one moved so that its old cut (chosen for
    equal priors out of fold) is p_spiral = 0.5: the decision is the same either way."""
    from galseg.models.cutout_net import platt_probability

    _, metadata = load_morphology_classifier()
    cut = metadata.training["spiral_cut"]
    logits = np.linspace(-6, 6, 2001)
    before = platt_probability(logits, tuple(cut["calibration_before"]))
    after = platt_probability(logits, metadata.calibration)
    assert 0.05 <= cut["cut"] <= 0.95
    np.testing.assert_array_equal(after >= 0.5, before >= cut["cut"] - 1e-12)
    # the ranking is unchanged
    assert np.all(np.diff(after) > 0) and np.all(np.diff(before) > 0)


def test_cli_train_morphology(folder, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    code = main(["train", "morphology", "--data", str(folder), "--out", str(out),
                 "--input-size", "32", "--widths", "2", "4", "4", "8", "--folds", "2",
                 "--epochs", "1", "--min-crop", "8", "--quiet"])
    assert code == 0 and out.is_file()
    _, metadata = load_morphology_classifier(out)
    assert metadata.model.input_size == 32 and metadata.training["config"]["n_folds"] == 2


def test_training_noise_is_made_at_the_source_scale():
    from galseg.training.ensemble import add_noise

    images = torch.full((40, 3, 32, 32), 0.5)

    def neighbour_correlation(noisy):
        d = noisy - 0.5
        return float((d[..., :, 1:] * d[..., :, :-1]).mean() / (d**2).mean())

    rng = np.random.default_rng(0)
    plain = add_noise(images, rng, 40.0)
    upsampled = add_noise(images, rng, 40.0, zooms=np.full(40, 0.25))  # 8 px -> 32 px
    assert abs(neighbour_correlation(plain)) < 0.05
    assert neighbour_correlation(upsampled) > 0.7
    noisy = (plain - 0.5).abs().flatten(1).amax(1) > 0
    assert 5 < int(noisy.sum()) < 35  # about half the images get noise


def test_training_noise_is_clipped_before_the_crop_averages_it():
    # A noisy 8-bit picture is clipped at 0 pixel by pixel; a crop that averages four
    # source pixels per pixel then has a sky brighter by about sigma / sqrt(2 pi).
    from galseg.training.ensemble import add_noise

    images = torch.zeros((64, 3, 16, 16))
    rng = np.random.default_rng(1)
    noisy = add_noise(images, rng, 60.0, zooms=np.full(64, 4.0))
    sigmas = []
    for image in noisy:
        if image.abs().amax() > 0:
            sigmas.append(image)
    mean = torch.stack(sigmas).mean().item() * 255
    # sigma ~ U(0, 60): expected mean 30 / sqrt(2 pi) = 12.0 counts
    assert 9.0 < mean < 15.0
