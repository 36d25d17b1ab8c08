"""Real bars by eye teaching the segmenter's bar channel (galseg.training.eye_bars)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY_UNET
from galseg.data.bar_labels import bar_label_split, read_bar_label_image, write_bar_labels
from galseg.errors import InputFileError
from galseg.models.geometry import dihedral, dihedral_each
from galseg.models.weights import load_segmenter
from galseg.training.eye_bars import (
    BAR_LEVEL,
    bar_regions,
    eye_bar_loss,
    frame_with_points,
    load_eye_bar_examples,
)
from galseg.training.segmenter import TrainConfig, train_segmenter


def _ids(split: str, n: int, source: str = "legacy") -> list[str]:
    """``n`` made-up ids that the fixed hash puts in ``split``."""
    found, k = [], 0
    while len(found) < n:
        if bar_label_split(source, str(1000 + k)) == split:
            found.append(str(1000 + k))
        k += 1
    return found


def _barred_picture(shape: tuple[int, int], ends: tuple[float, float, float, float]
                    ) -> np.ndarray:
    """Dark sky with a bright line from (x1, y1) to (x2, y2)."""
    rgb = np.full((*shape, 3), 20, np.uint8)
    x1, y1, x2, y2 = ends
    for t in np.linspace(0, 1, 200):
        rgb[round(y1 + t * (y2 - y1)), round(x1 + t * (x2 - x1))] = 250
    return rgb


def _data_folder(root, n_bar: int = 3, n_nobar: int = 4, test_rows: int = 2):
    """A shared-data-like folder with Legacy PNGs and a label table (train and test)."""
    (root / "legacy_cutouts" / "images").mkdir(parents=True)
    rows = []
    train_ids = _ids("train", n_bar + n_nobar)
    for k, image_id in enumerate(train_ids):
        is_bar = k < n_bar
        ends = (20.0, 30.0, 44.0, 34.0) if is_bar else (np.nan,) * 4
        picture = _barred_picture((64, 64), ends) if is_bar else np.full((64, 64, 3), 30,
                                                                         np.uint8)
        Image.fromarray(picture).save(root / "legacy_cutouts" / "images" / f"{image_id}_grz.png")
        rows.append(dict(id=image_id, source="legacy", label="bar" if is_bar else "nobar",
                         x1=ends[0], y1=ends[1], x2=ends[2], y2=ends[3]))
    for image_id in _ids("test", test_rows):  # no pictures: test labels must not be read
        rows.append(dict(id=image_id, source="legacy", label="bar", x1=1, y1=1, x2=5, y2=5))
    rows.append(dict(id=_ids("train", n_bar + n_nobar + 1)[-1], source="legacy",
                     label="unclear"))  # no picture either: unclear labels are not read
    labels = write_bar_labels(rows, root / "labels.csv")
    return root, labels


def test_framing_moves_the_end_points_with_the_picture():
    ends = (10.0, 40.0, 70.0, 52.0)
    rgb = _barred_picture((90, 120), ends)  # wide: padded above and below, then shrunk
    frame, moved = frame_with_points(rgb, ends, 60)
    assert frame.shape == (60, 60, 3) and frame.dtype == np.uint8
    x1, y1, x2, y2 = moved
    scale = 60 / 120
    assert (x1, x2) == pytest.approx(((10 + 0.5) * scale - 0.5, (70 + 0.5) * scale - 0.5))
    assert y1 == pytest.approx((40 + 15 + 0.5) * scale - 0.5)  # 15 rows of padding on top
    # the moved line lies on the bright pixels of the framed picture
    for t in np.linspace(0.1, 0.9, 9):
        x, y = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
        assert frame[round(y), round(x)].max() > 60, (x, y)
    assert frame[5, 5].max() < 40


def test_bar_regions_cover_the_drawn_bar_and_keep_its_surroundings_free():
    inside, outside = bar_regions((10.0, 20.0, 30.0, 20.0), 40)
    assert inside[20, 10:31].all() and not inside[20, :8].any()
    assert not (inside & outside).any()
    assert outside[5, 20] and outside[20, 0] and not outside[22, 20]  # near the bar: free
    assert outside.sum() == pytest.approx(40 * 40 - (20 * 16 + np.pi * 8**2), rel=0.05)
    none_inside, all_outside = bar_regions((np.nan,) * 4, 40)
    assert not none_inside.any() and all_outside.all()


def _maps_for(inside: np.ndarray, along: float, elsewhere: float) -> torch.Tensor:
    bar = torch.full(inside.shape, elsewhere)
    bar[torch.from_numpy(inside)] = along
    return bar[None]


def test_eye_bar_loss_known_answers_and_direction():
    inside, outside = bar_regions((10.0, 20.0, 30.0, 20.0), 40)
    inside_t, outside_t = torch.from_numpy(inside)[None], torch.from_numpy(outside)[None]
    bar, no_bar = torch.tensor([True]), torch.tensor([False])
    # a bar drawn where the eye drew it, nothing elsewhere: no loss
    good = _maps_for(inside, BAR_LEVEL + 0.1, 0.0)
    assert float(eye_bar_loss(good, inside_t, outside_t, bar)) == 0.0
    # a missing bar costs the missing level; a bar everywhere costs the level away from it
    assert float(eye_bar_loss(_maps_for(inside, 0.1, 0.0), inside_t, outside_t, bar)) \
        == pytest.approx(BAR_LEVEL - 0.1)
    assert float(eye_bar_loss(_maps_for(inside, 0.5, 0.3), inside_t, outside_t, bar)) \
        == pytest.approx(0.3)
    # an unbarred disc pays its map's smooth maximum, wherever the bar is
    nothing = torch.zeros(1, 40, 40)
    assert float(eye_bar_loss(nothing, inside_t * False, ~inside_t | True, no_bar)) == 0.0
    assert float(eye_bar_loss(good, inside_t * False, ~inside_t | True, no_bar)) \
        == pytest.approx(BAR_LEVEL + 0.1)
    # gradients: raise the bar along the drawn bar, lower it elsewhere; a dead map of an
    # unbarred disc is not pushed further down (relu)
    maps = torch.cat([_maps_for(inside, 0.0, 0.2), torch.full((1, 40, 40), -0.5)])
    maps.requires_grad_(True)
    eye_bar_loss(maps, torch.cat([inside_t, inside_t * False]),
                 torch.cat([outside_t, outside_t | True]), torch.tensor([True, False])).backward()
    assert (maps.grad[0][torch.from_numpy(inside)] < 0).all()
    assert maps.grad[0][torch.from_numpy(outside)].max() >= 0
    assert maps.grad[0][torch.from_numpy(outside)].sum() > 0
    assert maps.grad[1].abs().sum() == 0


def test_loading_reads_the_train_split_only_and_frames_the_bars(tmp_path):
    root, _ = _data_folder(tmp_path)
    examples = load_eye_bar_examples(root, labels=root / "labels.csv", frame_size=32)
    assert len(examples) == 7 and examples.is_bar.sum() == 3
    assert examples.images.shape == (7, 32, 32, 3)
    for k in np.flatnonzero(examples.is_bar):  # the drawn line, halved, lies on the axis
        assert examples.inside[k, 16, 12:21].all()
        assert examples.images[k][examples.inside[k]].mean() > \
            examples.images[k][examples.outside[k]].mean() + 20
    assert not examples.inside[~examples.is_bar].any()
    # the regions turn with the pictures
    index = np.array([0, 1])
    images, inside, _, is_bar = examples.tensors(index)
    turned = dihedral_each(inside, np.array([1, 5]))  # as the training step turns them
    assert torch.equal(turned[1], dihedral(torch.from_numpy(examples.inside[1]), 5))
    assert torch.equal(is_bar, torch.from_numpy(examples.is_bar[index]))
    assert images.shape == (2, 3, 32, 32) and float(images.max()) <= 1.0
    batch = examples.balanced_batch(6, np.random.default_rng(0))
    assert examples.is_bar[batch].sum() == 3


def test_loading_refuses_a_missing_picture_or_a_one_kind_table(tmp_path):
    root, labels = _data_folder(tmp_path / "a")
    (root / "legacy_cutouts" / "images" / f"{labels['id'][0]}_grz.png").unlink()
    with pytest.raises(InputFileError, match="cannot read"):
        load_eye_bar_examples(root, labels=root / "labels.csv", frame_size=32)
    root, _ = _data_folder(tmp_path / "b", n_bar=0)
    with pytest.raises(ValueError, match="both 'bar' and 'nobar'"):
        load_eye_bar_examples(root, labels=root / "labels.csv", frame_size=32)


def test_gz1_pictures_are_cropped_and_their_ends_moved(tmp_path):
    (tmp_path / "gz1_sdss" / "images").mkdir(parents=True)
    Image.fromarray(np.zeros((423, 423, 3), np.uint8)).save(
        tmp_path / "gz1_sdss" / "images" / "42.jpeg")
    row = dict(source="gz1_sdss", id="42", x1=200.0, y1=210.0, x2=220.0, y2=212.0)
    rgb, ends = read_bar_label_image(row, data_root=tmp_path)
    assert rgb.shape == (141, 141, 3)
    assert ends == pytest.approx((59.0, 69.0, 79.0, 71.0))


def test_training_with_eye_bars_runs_and_records_them(sim_dataset, tmp_path):
    root, _ = _data_folder(tmp_path / "data")
    config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1,
                         eye_bar_data=str(root), eye_bar_labels=str(root / "labels.csv"),
                         eye_bar_batch_size=4)
    messages = []
    train_segmenter(sim_dataset, tmp_path / "e.pt", config, device="cpu", progress=False,
                    log=messages.append)
    assert any("eye bar labels: 3 bars, 4 unbarred" in m for m in messages)
    _, metadata = load_segmenter(tmp_path / "e.pt")
    assert metadata.training["eye_bars"] == 3 and metadata.training["eye_unbarred"] == 4
    assert metadata.training["config"]["eye_bar_data"] == str(root.resolve())
    with pytest.raises(ValueError, match="eye_bar_weight"):
        train_segmenter(sim_dataset, tmp_path / "x.pt", TrainConfig(
            model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=1,
            eye_bar_data=str(root), eye_bar_labels=str(root / "labels.csv"),
            eye_bar_batch_size=1), device="cpu", progress=False, log=lambda _: None)
