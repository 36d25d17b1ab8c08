"""Segmenter training: loss, augmentation, split, checkpoints and resume."""

from __future__ import annotations

import collections
import csv

import numpy as np
import pytest
import torch

from conftest import TINY_UNET
from galseg.models.geometry import dihedral, inverse_dihedral
from galseg.models.weights import load_segmenter
from galseg.training.examples import load_examples, split_of
from galseg.training.loop import augment_images, degrade_images
from galseg.training.segmenter import (
    TrainConfig,
    augment,
    average_segmenters,
    masked_l1,
    train_segmenter,
)


def test_masked_l1_ignores_unmarked_channels():
    target = torch.zeros(2, 2, 4, 4)
    target[0, 0, 1, 1] = 0.6  # galaxy 0 has spiral marks; nobody marked a bar anywhere
    prediction = torch.full_like(target, 0.5)
    loss, n = masked_l1(prediction, target)
    assert n == 1
    expected = (torch.full((4, 4), 0.5) - target[0, 0]).abs().mean()
    assert torch.isclose(loss, expected)
    zero, n0 = masked_l1(prediction, torch.zeros_like(target))
    assert n0 == 0 and float(zero) == 0.0


def test_dihedral_group_is_value_preserving_and_complete():
    x = torch.arange(16.0).reshape(1, 4, 4)
    images = {tuple(dihedral(x, k).flatten().tolist()) for k in range(8)}
    assert len(images) == 8
    for k in range(8):
        assert sorted(dihedral(x, k).flatten().tolist()) == sorted(x.flatten().tolist())
        assert torch.equal(inverse_dihedral(dihedral(x, k), k), x)


def test_augment_moves_image_and_target_together():
    rng = np.random.default_rng(0)
    image = torch.zeros(6, 3, 8, 8)
    image[:, :, 1, 2] = 1.0
    target = torch.zeros(6, 2, 8, 8)
    target[:, :, 1, 2] = 1.0
    aug_image, aug_target = augment(image, target, rng, grey_probability=0.0)
    assert torch.equal(aug_image[:, 0] > 0, aug_target[:, 0] > 0)


def test_split_is_fixed_by_name_and_about_70_10_20():
    names = [f"galaxy-{i}" for i in range(4000)]
    counts = collections.Counter(split_of(n) for n in names)
    assert abs(counts["train"] / 4000 - 0.7) < 0.03
    assert abs(counts["val"] / 4000 - 0.1) < 0.02
    assert [split_of(n) for n in names[:50]] == [split_of(n) for n in names[:50]]


def test_examples_match_vote_maps(sim_dataset, tmp_path):
    from galseg.data.gz3d import read_gz3d
    from galseg.labels.rasterize import vote_maps
    from galseg.training.examples import gz3d_files

    examples = load_examples(sim_dataset, frame_size=48, cache=tmp_path / "c.npz",
                             progress=False)
    first = read_gz3d(gz3d_files(sim_dataset)[0])
    maps = vote_maps(first)
    assert examples.names[0] == first.name
    assert np.array_equal(examples.images[0], first.image)
    np.testing.assert_allclose(examples.vote_fractions(0)[0], maps.vote_fraction("spiral"))
    again = load_examples(sim_dataset, frame_size=48, cache=tmp_path / "c.npz", progress=False)
    assert np.array_equal(again.counts, examples.counts)


def test_train_writes_model_metrics_and_resumes(sim_dataset, tmp_path):
    model_path = tmp_path / "m.pt"
    config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1)
    first = train_segmenter(sim_dataset, model_path, config, device="cpu", progress=False,
                            log=lambda _: None)
    assert first.epochs_run == 1 and model_path.is_file()
    _model, metadata = load_segmenter(model_path)
    assert metadata.frame_size == 48 and metadata.model == TINY_UNET
    assert metadata.training["n_train"] > 0
    with pytest.raises(ValueError, match="another configuration"):
        train_segmenter(sim_dataset, model_path, TrainConfig(model=TINY_UNET, frame_size=48,
                        batch_size=4), device="cpu", progress=False, log=lambda _: None)
    # same configuration, more epochs allowed: continues after epoch 1, no repeated rows
    messages = []
    second = train_segmenter(sim_dataset, model_path, TrainConfig(
        model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=2), device="cpu",
        progress=False, log=messages.append)
    assert any("resuming after epoch 1" in m for m in messages)
    assert second.epochs_run == 2
    with (tmp_path / "m.pt.run" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(np.isfinite(float(r["val_loss"])) for r in rows)


def test_training_is_deterministic(sim_dataset, tmp_path):
    config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1, seed=3)
    a = train_segmenter(sim_dataset, tmp_path / "a.pt", config, device="cpu", progress=False,
                        log=lambda _: None)
    b = train_segmenter(sim_dataset, tmp_path / "b.pt", config, device="cpu", progress=False,
                        log=lambda _: None)
    assert a.best_val_loss == b.best_val_loss


def test_degrade_images_changes_only_the_chosen_images_and_stays_in_range():
    rng = np.random.default_rng(0)
    images = torch.rand(16, 3, 24, 24) * 0.5 + 0.25
    original = images.clone()
    assert degrade_images(images, rng, 0.0) is images
    degraded = degrade_images(images, np.random.default_rng(1), 1.0)
    assert degraded.shape == images.shape
    assert float(degraded.min()) >= 0.0 and float(degraded.max()) <= 1.0
    changed = (degraded - images).abs().flatten(1).amax(dim=1) > 1e-4
    assert bool(changed.all())
    assert torch.equal(images, original)  # the input is left untouched
    again = degrade_images(images, np.random.default_rng(1), 1.0)
    assert torch.equal(again, degraded)
    half = degrade_images(images, np.random.default_rng(2), 0.5)
    some = (half - images).abs().flatten(1).amax(dim=1) > 1e-4
    assert 0 < int(some.sum()) < len(images)


def test_degrading_moves_no_target():
    image = torch.rand(8, 3, 16, 16)
    target = torch.zeros(8, 2, 16, 16)
    target[:, 0, 3, 5] = 0.8
    target[:, 1, 10, 2] = 0.4
    _, plain = augment(image, target, np.random.default_rng(5), 0.0, 0.0)
    degraded_image, degraded_target = augment(image, target, np.random.default_rng(5), 0.0, 1.0)
    assert torch.equal(plain, degraded_target)
    _, ks = augment_images(image, np.random.default_rng(5), 0.0)
    moved = torch.stack([dihedral(im, int(k)) for im, k in zip(image, ks, strict=True)])
    assert not torch.equal(degraded_image, moved)


def test_cosine_schedule_decays_the_rate_over_the_epochs(sim_dataset, tmp_path):
    config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=2,
                         learning_rate=1e-3, lr_schedule="cosine", degrade_probability=0.5)
    train_segmenter(sim_dataset, tmp_path / "c.pt", config, device="cpu", progress=False,
                    log=lambda _: None)
    with (tmp_path / "c.pt.run" / "metrics.csv").open() as handle:
        rates = [float(r["lr"]) for r in csv.DictReader(handle)]
    np.testing.assert_allclose(rates, [1e-3, 5e-4])
    with pytest.raises(ValueError, match="lr_schedule"):
        train_segmenter(sim_dataset, tmp_path / "d.pt", TrainConfig(
            model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1, lr_schedule="step"),
            device="cpu", progress=False, log=lambda _: None)


def test_init_from_starts_from_the_given_weights(sim_dataset, tmp_path):
    first = tmp_path / "first.pt"
    config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1)
    train_segmenter(sim_dataset, first, config, device="cpu", progress=False, log=lambda _: None)
    # With a learning rate of zero no weight moves (batch-norm statistics still do).
    frozen = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1,
                         learning_rate=0.0, init_from=str(first))
    messages = []
    train_segmenter(sim_dataset, tmp_path / "second.pt", frozen, device="cpu", progress=False,
                    log=messages.append)
    assert any("starting from the weights" in m for m in messages)
    old, _ = load_segmenter(first)
    new, metadata = load_segmenter(tmp_path / "second.pt")
    new_parameters = dict(new.named_parameters())
    for name, tensor in old.named_parameters():
        assert torch.equal(tensor, new_parameters[name]), name
    assert metadata.training["config"]["init_from"] == str(first.resolve())
    with pytest.raises(ValueError, match="another architecture"):
        train_segmenter(sim_dataset, tmp_path / "third.pt", TrainConfig(
            model=TINY_UNET, frame_size=32, batch_size=8, max_epochs=1, init_from=str(first)),
            device="cpu", progress=False, log=lambda _: None)


def test_average_segmenters_mixes_a_model_with_its_fine_tuning(sim_dataset, tmp_path):
    start, tuned = tmp_path / "start.pt", tmp_path / "tuned.pt"
    config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1)
    train_segmenter(sim_dataset, start, config, device="cpu", progress=False, log=lambda _: None)
    train_segmenter(sim_dataset, tuned, TrainConfig(
        model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1, init_from=str(start),
        degrade_probability=1.0), device="cpu", progress=False, log=lambda _: None)
    states = {}
    for weight in (0.0, 0.5, 1.0):
        path = average_segmenters(start, tuned, tmp_path / f"avg{weight}.pt", weight=weight)
        model, metadata = load_segmenter(path)
        states[weight] = model.state_dict()
        assert metadata.training["weight_average"]["tuned_weight"] == weight
    start_state = load_segmenter(start)[0].state_dict()
    tuned_state = load_segmenter(tuned)[0].state_dict()
    name = next(iter(dict(load_segmenter(start)[0].named_parameters())))  # the first weight
    assert torch.equal(states[0.0][name], start_state[name])
    assert torch.equal(states[1.0][name], tuned_state[name])
    assert not torch.equal(start_state[name], tuned_state[name])
    # the fp16 file rounds the mean to half precision
    torch.testing.assert_close(states[0.5][name], (start_state[name] + tuned_state[name]) / 2,
                               atol=2e-3, rtol=2e-3)
    with pytest.raises(ValueError, match="weight"):
        average_segmenters(start, tuned, tmp_path / "bad.pt", weight=1.5)
    other = tmp_path / "other.pt"
    train_segmenter(sim_dataset, other, TrainConfig(model=TINY_UNET, frame_size=32,
                    batch_size=8, max_epochs=1), device="cpu", progress=False,
                    log=lambda _: None)
    with pytest.raises(ValueError, match="different architectures"):
        average_segmenters(start, other, tmp_path / "bad.pt")


def test_a_model_without_input_normalisation_can_seed_one_with_it(sim_dataset, tmp_path):
    from dataclasses import replace

    first = tmp_path / "first.pt"
    train_segmenter(sim_dataset, first, TrainConfig(model=TINY_UNET, frame_size=48,
                                                    batch_size=8, max_epochs=1),
                    device="cpu", progress=False, log=lambda _: None)
    normalised = replace(TINY_UNET, input_normalisation="quantile_match")
    messages = []
    train_segmenter(sim_dataset, tmp_path / "second.pt", TrainConfig(
        model=normalised, frame_size=48, batch_size=8, max_epochs=1, learning_rate=0.0,
        init_from=str(first)), device="cpu", progress=False, log=messages.append)
    assert any("input quantiles set from" in m for m in messages)
    old, _ = load_segmenter(first)
    new, metadata = load_segmenter(tmp_path / "second.pt")
    assert metadata.model.input_normalisation == "quantile_match"
    reference = new.input_norm.reference
    assert not torch.allclose(reference, torch.linspace(0, 1, len(reference)))
    new_parameters = dict(new.named_parameters())
    for name, tensor in old.named_parameters():
        assert torch.equal(tensor, new_parameters[name]), name
    # the other way round is another architecture: its reference would be dropped
    with pytest.raises(ValueError, match="do not fit"):
        train_segmenter(sim_dataset, tmp_path / "third.pt", TrainConfig(
            model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1,
            init_from=str(tmp_path / "second.pt")), device="cpu", progress=False,
            log=lambda _: None)
