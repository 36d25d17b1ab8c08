"""Weak image-level labels (Galaxy Zoo 1 classes) for the segmenter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _gz1_files import gz1_folder
from conftest import TINY_UNET
from galseg.data.gz1 import central_crop, gz1_split
from galseg.models.unet import StraightThroughReLU
from galseg.models.weights import load_segmenter
from galseg.training.examples import load_examples
from galseg.training.segmenter import TrainConfig, evaluate_loss, train_segmenter
from galseg.training.weak_labels import (
    ARM_LEVEL,
    TOP_K,
    evaluate_weak_loss,
    load_gz1_weak_examples,
    smooth_maximum,
    weak_loss,
)


def _maps(n: int, spiral_level: float = 0.0, bar_level: float = 0.0,
          pixels: int = TOP_K) -> torch.Tensor:
    """(n, 2, 16, 16) maps with ``pixels`` pixels at the given levels, 0 elsewhere."""
    maps = torch.zeros(n, 2, 16, 16)
    maps[:, 0].view(n, -1)[:, :pixels] = spiral_level
    maps[:, 1].view(n, -1)[:, :pixels] = bar_level
    return maps


def test_smooth_maximum_is_the_mean_of_the_largest_values():
    maps = _maps(1, 0.5, pixels=TOP_K // 2)
    assert smooth_maximum(maps)[0, 0] == pytest.approx(0.25)
    assert smooth_maximum(maps, top_k=1)[0, 0] == pytest.approx(0.5)
    assert smooth_maximum(torch.rand(1, 2, 3, 3), top_k=100).shape == (1, 2)  # k > pixels


def test_weak_loss_known_answers():
    arms, no_arms = torch.tensor([True]), torch.tensor([False])
    # an elliptical with nothing, and a spiral with enough arm votes, cost nothing
    assert float(weak_loss(_maps(1), no_arms)) == 0.0
    assert float(weak_loss(_maps(1, ARM_LEVEL + 0.1), arms)) == 0.0
    # an elliptical pays both channels' smooth maxima; a spiral the missing arm votes
    assert float(weak_loss(_maps(1, 0.3, 0.1), no_arms)) == pytest.approx(0.4)
    assert float(weak_loss(_maps(1, 0.05, 0.9), arms)) == pytest.approx(ARM_LEVEL - 0.05)
    # classes are averaged separately: one spiral and three ellipticals weigh equally
    maps = torch.cat([_maps(1), _maps(3, 0.2)])
    labels = torch.tensor([True, False, False, False])
    assert float(weak_loss(maps, labels)) == pytest.approx((ARM_LEVEL + 0.2) / 2)


def test_weak_loss_pushes_the_maps_the_right_way():
    maps = _maps(2, 0.1, 0.1).requires_grad_(True)
    weak_loss(maps, torch.tensor([True, False])).backward()
    assert (maps.grad[0, 0].view(-1)[:TOP_K] < 0).all()  # spiral: raise the arm votes
    assert maps.grad[0, 1].abs().sum() == 0  # a spiral's bar channel is free
    assert (maps.grad[1].flatten(1)[:, :TOP_K] > 0).all()  # elliptical: lower both


def test_weak_loss_of_edge_on_discs_lowers_the_spiral_map_and_frees_the_bar():
    no_arms = torch.tensor([False, False])
    edge_on = torch.tensor([True, False])
    # an edge-on disc pays its spiral map's smooth maximum only; an elliptical both
    assert float(weak_loss(_maps(1, 0.3, 0.9), no_arms[:1], edge_on[:1])) == \
        pytest.approx(0.3)
    assert float(weak_loss(_maps(2, 0.3, 0.1), no_arms, edge_on)) == \
        pytest.approx((0.3 + 0.4) / 2)
    maps = _maps(2, 0.1, 0.1).requires_grad_(True)
    weak_loss(maps, no_arms, edge_on).backward()
    assert (maps.grad[0, 0].view(-1)[:TOP_K] > 0).all()  # edge-on: lower the arm votes
    assert maps.grad[0, 1].abs().sum() == 0  # ...and leave its bar channel free
    assert (maps.grad[1].flatten(1)[:, :TOP_K] > 0).all()
    # without edge_on every galaxy without arms lowers both maps, as before
    assert float(weak_loss(_maps(1, 0.3, 0.9), no_arms[:1])) == pytest.approx(1.2)


def test_gz1_weak_examples_with_edge_on_discs(tmp_path):
    codes = [0, 1, 2, 3] * 8
    source = gz1_folder(tmp_path / "gz1", codes)
    plain = load_gz1_weak_examples(source, frame_size=24, crop=30, progress=False)
    assert not plain.edge_on.any()
    examples = load_gz1_weak_examples(source, frame_size=24, crop=30, progress=False,
                                      edge_on=True, cache=tmp_path / "e.npz")
    code_of = {str(587722981733826700 + i): code for i, code in enumerate(codes)}
    kept = [code_of[n] for n in examples.names]
    assert 3 in kept and set(kept) <= {0, 1, 2, 3}
    np.testing.assert_array_equal(examples.edge_on, np.array(kept) == 3)
    np.testing.assert_array_equal(examples.has_arms, np.isin(kept, (1, 2)))
    # the cache keeps the flag, and a cache made without edge-on discs is not reused
    again = load_gz1_weak_examples(source, frame_size=24, crop=30, progress=False,
                                   edge_on=True, cache=tmp_path / "e.npz")
    np.testing.assert_array_equal(again.edge_on, examples.edge_on)
    without = load_gz1_weak_examples(source, frame_size=24, crop=30, progress=False,
                                     cache=tmp_path / "e.npz")
    assert len(without) == len(plain) < len(examples)
    images, has_arms, edge_on = examples.tensors(np.arange(len(examples)))
    assert has_arms.tolist() == examples.has_arms.tolist()
    assert images.shape[0] == len(examples) and edge_on.dtype == torch.bool
    assert len(examples.subset(val=False).edge_on) == len(examples.subset(val=False))


def test_weak_loss_stops_pushing_once_an_elliptical_map_is_zero():
    # The U-Net's head passes gradients straight through its ReLU; a zero map must still
    # get no gradient from an elliptical, or the logits are pushed down without end.
    logits = torch.full((1, 2, 8, 8), -3.0, requires_grad=True)
    weak_loss(StraightThroughReLU()(logits), torch.tensor([False])).backward()
    assert logits.grad.abs().sum() == 0
    # ...while a spiral's dead map is still raised
    logits = torch.full((1, 2, 8, 8), -3.0, requires_grad=True)
    weak_loss(StraightThroughReLU()(logits), torch.tensor([True])).backward()
    assert (logits.grad[0, 0] <= 0).all() and logits.grad[0, 0].sum() < 0


def test_central_crop_keeps_the_centre_and_the_shorter_side():
    image = np.arange(7 * 9).reshape(7, 9)
    np.testing.assert_array_equal(central_crop(image, 3), image[2:5, 3:6])
    np.testing.assert_array_equal(central_crop(image, 20), image[:, 1:8])  # 7 x 7


def test_gz1_weak_examples_keep_train_split_spirals_and_ellipticals(tmp_path):
    codes = [0, 1, 2, 3, 4, 5] * 8
    source = gz1_folder(tmp_path / "gz1", codes)
    broken = source / "images" / "587722981733826700.jpeg"
    broken.write_bytes(broken.read_bytes()[:40])  # truncated: skipped, not fatal
    examples = load_gz1_weak_examples(source, frame_size=24, crop=30,
                                      cache=tmp_path / "c.npz", progress=False)
    expected = {str(587722981733826700 + i): code in (1, 2) for i, code in enumerate(codes)
                if code in (0, 1, 2) and i != 0
                and gz1_split(str(587722981733826700 + i)) == "train"}
    assert dict(zip(examples.names, examples.has_arms, strict=True)) == expected
    assert examples.images.shape == (len(expected), 24, 24, 3)
    assert examples.images.dtype == np.uint8
    assert len(examples.subset(val=True)) + len(examples.subset(val=False)) == len(expected)
    # the cache is read back as it was written
    again = load_gz1_weak_examples(source, frame_size=24, crop=30, cache=tmp_path / "c.npz",
                                   progress=False)
    np.testing.assert_array_equal(again.images, examples.images)
    # balanced batches: half with arms
    batch = examples.balanced_batch(10, np.random.default_rng(1))
    assert examples.has_arms[batch].sum() == 5


def test_gz1_weak_examples_need_a_labels_file_with_the_columns(tmp_path):
    (tmp_path / "labels.csv").write_text("objid,label\n1,0\n")
    with pytest.raises(Exception, match="gz1_class"):
        load_gz1_weak_examples(tmp_path, progress=False)


def test_training_with_weak_labels_runs_and_records_them(sim_dataset, tmp_path):
    source = gz1_folder(tmp_path / "gz1", [0, 1, 2] * 10)
    config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1,
                         weak_data=str(source), weak_batch_size=4)
    messages = []
    result = train_segmenter(sim_dataset, tmp_path / "w.pt", config, device="cpu",
                             progress=False, log=messages.append)
    assert any("weak labels" in m for m in messages)
    _, metadata = load_segmenter(tmp_path / "w.pt")
    assert metadata.training["weak_spirals"] > 0 and metadata.training["weak_ellipticals"] > 0
    assert metadata.training["weak_edge_on"] == 0
    assert metadata.training["config"]["weak_data"] == str(source.resolve())
    # the validation loss is the simulations' masked L1 plus the weighted weak loss
    model, _ = load_segmenter(tmp_path / "w.pt")
    examples = load_examples(sim_dataset, frame_size=48, cache=tmp_path / "w.pt.run"
                             / "examples.npz", progress=False)
    weak = load_gz1_weak_examples(source, frame_size=48, progress=False).subset(val=True)
    cpu = torch.device("cpu")
    sim_part = evaluate_loss(model, examples.subset("val"), batch_size=8, device=cpu)
    weak_part = config.weak_weight * evaluate_weak_loss(model, weak, batch_size=8, device=cpu)
    assert weak_part > 0
    assert abs(sim_part + weak_part - result.best_val_loss) < weak_part / 10


def test_training_refuses_a_negative_weak_weight_or_a_one_galaxy_batch(sim_dataset, tmp_path):
    source = gz1_folder(tmp_path / "gz1", [0, 1] * 4)
    for bad in ({"weak_weight": -0.1}, {"weak_batch_size": 1}):
        config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1,
                             weak_data=str(source), **bad)
        with pytest.raises(ValueError, match="weak_weight"):
            train_segmenter(sim_dataset, tmp_path / "x.pt", config, device="cpu",
                            progress=False, log=lambda _: None)


def test_training_with_edge_on_discs_records_them(sim_dataset, tmp_path):
    source = gz1_folder(tmp_path / "gz1", [0, 1, 2, 3] * 8)
    config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1,
                         weak_data=str(source), weak_batch_size=4, weak_edge_on=True)
    train_segmenter(sim_dataset, tmp_path / "e.pt", config, device="cpu", progress=False,
                    log=lambda _: None)
    _, metadata = load_segmenter(tmp_path / "e.pt")
    assert metadata.training["weak_edge_on"] > 0
    assert metadata.training["config"]["weak_edge_on"] is True


def test_edge_on_discs_need_the_gz1_folder(tmp_path):
    with pytest.raises(ValueError, match="weak_edge_on needs weak_data"):
        TrainConfig(model=TINY_UNET, weak_edge_on=True)
    from galseg.cli.main import main
    with pytest.raises(SystemExit, match="error: weak_edge_on needs weak_data"):
        main(["train", "segmenter", "--data", str(tmp_path), "--out",
              str(tmp_path / "m.pt"), "--weak-edge-on"])
