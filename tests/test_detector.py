"""The galaxy detector: model, GZ1 masks, training, tiled detection, `galseg detect`."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.wcs import WCS
from PIL import Image

from galseg.cli.main import main
from galseg.data.detection_examples import (
    read_detection_examples,
    write_example_tables,
    write_masks,
)
from galseg.data.gz1 import (
    central_object_mask,
    gz1_split,
    write_gz1_compact,
    write_gz1_examples,
)
from galseg.errors import InputFileError
from galseg.models.detector import (
    PAPER_DETECTOR_CONFIG,
    DetectorConfig,
    build_detector,
    count_parameters,
)
from galseg.models.weights import DetectorMetadata, load_detector, save_detector
from galseg.predict.detect import Detector, _tile_starts, fills_gaps, pieces_of_bigger
from galseg.predict.detect_run import run_detect
from galseg.predict.detections import Detections
from galseg.training.detector import (
    DetectorTrainConfig,
    add_pixel_noise,
    balance_single_object_classes,
    load_training_item,
    train_detector,
)
from galseg.training.weak_labels import load_gz1_weak_examples

TINY = DetectorConfig(lean_widths=(8, 8, 16, 16), fpn_channels=16, box_head_dim=32,
                      mask_head_channels=8, mask_head_layers=1, score_threshold=0.0)


def _disc_picture(shape, centres, radius, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = rng.normal(10, 3, (*shape, 3))
    masks = []
    for cx, cy in centres:
        r = np.hypot(xx - cx, yy - cy)
        image += (200 * np.exp(-0.5 * (r / (radius / 2)) ** 2))[..., None]
        masks.append(r <= radius)
    return np.clip(image, 0, 255).astype(np.uint8), np.array(masks)


def _example_folder(root, n=6, shape=(64, 64)):
    examples, objects = [], []
    for i in range(n):
        rgb, masks = _disc_picture(shape, [(20 + i, 30), (45, 40 - i)], 6, seed=i)
        name = f"e{i}"
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(root / "images" / f"{name}.png")
        examples.append(dict(name=name, image=f"images/{name}.png",
                             masks=write_masks(root, name, masks), source="sim",
                             height=shape[0], width=shape[1], pixscale_arcsec=0.396))
        objects += [{"name": name, "index": 0, "class": "spiral", "x": 20.0 + i, "y": 30.0},
                    {"name": name, "index": 1, "class": "elliptical", "x": 45.0, "y": 40.0 - i}]
    write_example_tables(root, examples, objects)
    return root


def _tiny_model(config: DetectorConfig = TINY):
    """An untrained tiny detector whose masks fill their boxes (a random mask head
    would give empty masks, which are dropped)."""
    torch.manual_seed(0)
    model = build_detector(config)
    with torch.no_grad():
        model.roi_heads.mask_predictor.mask_fcn_logits.bias.fill_(5.0)
    return model


def _tiny_detector(config: DetectorConfig = TINY, **options) -> Detector:
    options.setdefault("score_threshold", 0.0)
    return Detector(_tiny_model(config), DetectorMetadata(config), device="cpu", **options)


# ---------------------------------------------------------------------------- model


def test_configs_build_and_paper_architecture_is_resnet101():
    assert count_parameters(build_detector(TINY)) < 200_000
    assert PAPER_DETECTOR_CONFIG.backbone == "resnet101"
    with pytest.raises(ValueError, match="backbone"):
        DetectorConfig(backbone="vgg")
    assert DetectorConfig.from_dict(TINY.to_dict()) == TINY


def test_model_returns_one_class_per_detection_with_probabilities():
    torch.manual_seed(0)
    model = build_detector(TINY).eval()
    with torch.inference_mode():
        out = model([torch.rand(3, 70, 90)])[0]
    n = len(out["boxes"])
    assert n > 0
    assert out["class_probs"].shape == (n, 3)
    torch.testing.assert_close(out["class_probs"].sum(1), torch.ones(n))
    assert out["masks"].shape == (n, 1, 70, 90)  # never resized
    assert out["labels"].min() >= 1 and out["labels"].max() <= 3
    # the score is the probability of the chosen class
    chosen = out["class_probs"].gather(1, (out["labels"] - 1)[:, None])[:, 0]
    assert torch.all(out["scores"] <= chosen + 1e-6)


def test_masks_are_pasted_where_their_targets_were_cut():
    # A mask target made the way torchvision trains (roi_align, aligned=False) and pasted
    # back by the model's postprocessing lands on the original mask, not half a pixel off.
    from scipy import ndimage
    from torchvision.ops import roi_align

    yy, xx = np.mgrid[:80, :90]
    truth = ((xx - 41.3) / 17) ** 2 + ((yy - 36.8) / 11) ** 2 <= 1
    rows, cols = np.nonzero(truth)
    box = torch.tensor([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]],
                       dtype=torch.float32)
    target = roi_align(torch.from_numpy(truth.astype(np.float32))[None, None],
                       torch.cat([torch.zeros(1, 1), box], 1), (28, 28), 1.0)
    transform = build_detector(TINY).eval().transform
    pasted = transform.postprocess([{"boxes": box, "masks": target}], [(80, 90)], [(80, 90)])
    mask = pasted[0]["masks"][0, 0].numpy() >= 0.5
    assert torch.equal(pasted[0]["boxes"], box)  # boxes are left as predicted
    offset = np.subtract(ndimage.center_of_mass(mask), ndimage.center_of_mass(truth))
    assert np.all(np.abs(offset) < 0.15), offset  # torchvision's own paste: -0.5 px
    assert (mask & truth).sum() / (mask | truth).sum() > 0.93


def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = build_detector(TINY)
    path = save_detector(model, DetectorMetadata(TINY, training={"x": 1}), tmp_path / "d.pt")
    loaded, metadata = load_detector(path)
    assert metadata.model == TINY and metadata.training == {"x": 1}
    assert not loaded.training


# ---------------------------------------------------------------------------- GZ1 masks


def test_central_object_mask_keeps_only_the_centre_object():
    rgb, masks = _disc_picture((81, 81), [(40, 40), (10, 70)], 8)
    mask = central_object_mask(rgb)
    assert mask[40, 40] and not mask[70, 10]
    assert abs(int(mask.sum()) - int(masks[0].sum())) < 0.5 * masks[0].sum()
    assert not central_object_mask(np.zeros((20, 20, 3))).any()


def _gz1_source(source, codes=(0, 1, 2, 3, 4, 5, 0, 3), missing=(7,)):
    """A Galaxy Zoo 1 folder of 64 px JPEGs with one disc at the centre."""
    (source / "images").mkdir(parents=True)
    rows = ["objid,gz1_class,gz1_label"]
    for i, code in enumerate(codes):
        objid = 587722981733826700 + i
        rows.append(f"{objid},{code},x")
        rgb, _ = _disc_picture((64, 64), [(31.5, 31.5)], 6, seed=i)
        if i not in missing:
            Image.fromarray(rgb).save(source / "images" / f"{objid}.jpeg")
    (source / "labels.csv").write_text("\n".join(rows) + "\n")
    return source


def test_gz1_examples(tmp_path):
    source = _gz1_source(tmp_path / "gz1")
    counts = write_gz1_examples(source, tmp_path / "out", progress=False)
    assert counts["left_out_class"] == 2 and counts["no_image"] == 1
    assert counts["train"] + counts["test"] == 5
    total = 0
    for split in ("train", "test"):
        examples = read_detection_examples(tmp_path / "out" / split)
        for example in examples:
            assert gz1_split(example.name) == split
            assert example.classes[0] in ("spiral", "elliptical")
            assert example.masks().shape == (1, 64, 64)
            assert example.objects["x"][0] == 31.5
            total += 1
    assert total == 5


def test_gz1_compact_copy_is_the_central_crop_for_detector_and_weak_labels(tmp_path):
    source = _gz1_source(tmp_path / "gz1", codes=(0, 1, 2, 3) * 5, missing=())
    write_gz1_examples(source, tmp_path / "out", test_fraction=0.0, progress=False)
    original = read_detection_examples(tmp_path / "out" / "train")
    # 31 px: 16 px off each side, one whole 16 px block of the 4:2:0 JPEG
    n = write_gz1_compact(tmp_path / "out" / "train", tmp_path / "compact", side=31,
                          progress=False)
    compact = read_detection_examples(tmp_path / "compact")
    assert n == len(compact) == len(original) == 20
    for small, full in zip(compact, original, strict=True):
        assert small.name == full.name and small.shape == (31, 31)
        assert small.image_path.parent == tmp_path / "compact" / "images"
        np.testing.assert_array_equal(small.masks(), full.masks()[:, 16:47, 16:47])
        assert small.objects["x"][0] == small.objects["y"][0] == 15.5
        assert small.objects["npix"][0] == full.masks().sum()  # the disc is inside
        assert small.classes == full.classes
        difference = small.rgb().astype(float) - full.rgb()[16:47, 16:47]
        assert np.abs(difference).mean() < 0.5
    image, target = load_training_item(compact[0], crop_size=24,
                                       rng=np.random.default_rng(0), classes=TINY.classes)
    assert image.shape == (3, 24, 24) and len(target["masks"]) == 1
    # ... and the weak labels read the same galaxies, class and central pixels
    weak = [load_gz1_weak_examples(folder, frame_size=16, crop=21, progress=False)
            for folder in (source, tmp_path / "compact")]
    assert len(weak[0]) > 0 and list(weak[0].names) == list(weak[1].names)
    np.testing.assert_array_equal(weak[0].has_arms, weak[1].has_arms)
    assert np.abs(weak[0].images.astype(float) - weak[1].images).mean() < 0.5
    with pytest.raises(InputFileError, match="gz1_class"):  # a simulated folder
        write_gz1_compact(_example_folder(tmp_path / "sim", n=1), tmp_path / "no",
                          progress=False)


# ---------------------------------------------------------------------------- training


def test_training_item_augmented_targets_follow_the_image(tmp_path):
    example = read_detection_examples(_example_folder(tmp_path / "d", n=1))[0]
    rng = np.random.default_rng(3)
    for _ in range(5):
        image, target = load_training_item(example, crop_size=48, rng=rng,
                                           classes=TINY.classes, noise_amplitude=25,
                                           noise_probability=1.0)
        assert image.shape == (3, 48, 48) and image.min() >= 0 and image.max() <= 1
        for box, mask in zip(target["boxes"], target["masks"], strict=True):
            ys, xs = torch.nonzero(mask, as_tuple=True)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            # the object's light is under its mask
            assert image.mean(0)[mask.bool()].mean() > image.mean() + 0.1


def test_train_detector_runs_and_resumes(tmp_path):
    data = _example_folder(tmp_path / "d", n=12)
    config = DetectorTrainConfig(data=(str(data),), model=TINY, crop_size=64, batch_size=4,
                                 max_epochs=1, val_fraction=0.3, seed=1)
    result = train_detector(config, tmp_path / "m.pt", progress=False, log=lambda s: None)
    assert result.epochs_run == 1 and result.n_val > 0
    again = train_detector(DetectorTrainConfig(**{**config.__dict__, "max_epochs": 2}),
                           tmp_path / "m.pt", progress=False, log=lambda s: None)
    assert again.epochs_run == 2
    _, metadata = load_detector(tmp_path / "m.pt")
    assert metadata.training["epochs_run"] == 2
    # fields hold two objects each, so balancing would repeat none: one pass each
    assert metadata.training["n_train"] == metadata.training["n_train_per_epoch"] == again.n_train


def test_train_detector_does_not_depend_on_the_number_of_workers(tmp_path):
    data = _example_folder(tmp_path / "d", n=8)
    config = DetectorTrainConfig(data=(str(data),), model=TINY, crop_size=48, batch_size=4,
                                 max_epochs=1, val_fraction=0.3, seed=2)
    states = []
    for workers in (1, 3):
        result = train_detector(config, tmp_path / f"w{workers}.pt", workers=workers,
                                progress=False, log=lambda s: None)
        states.append(load_detector(result.model_path)[0].state_dict())
    for name, value in states[0].items():
        torch.testing.assert_close(value, states[1][name], msg=name)


def test_pixel_noise_has_the_asked_scale():
    flat = np.full((64, 64, 3), 128.0)
    rng = np.random.default_rng(0)
    uniform = add_pixel_noise(flat, rng, amplitude=25.0) - 128
    assert np.abs(uniform).max() <= 25 and uniform.std() == pytest.approx(25 / np.sqrt(3), 0.05)
    spreads = [(add_pixel_noise(flat, rng, amplitude=0.0, sigma=60.0) - 128).std()
               for _ in range(30)]
    assert 0 <= min(spreads) < 20 and 40 < max(spreads) <= 61  # sigma drawn in [0, 60]
    assert add_pixel_noise(np.zeros((4, 4, 3)), rng, amplitude=0, sigma=60).min() == 0


def test_balancing_repeats_rare_single_galaxy_cutouts_only(tmp_path):
    from dataclasses import replace

    from astropy.table import Table

    field = read_detection_examples(_example_folder(tmp_path / "d", n=1))[0]  # 2 objects

    def cutout(name, cls):
        one = Table(field.objects[:1], copy=True)
        one["class"] = [cls]
        return replace(field, name=name, objects=one)

    examples = ([cutout(f"e{i}", "elliptical") for i in range(7)]
                + [cutout(f"s{i}", "spiral") for i in range(3)] + [field])
    balanced = balance_single_object_classes(examples)
    classes = [str(e.objects["class"][0]) for e in balanced if len(e.objects) == 1]
    assert classes.count("elliptical") == 7 and classes.count("spiral") == 7
    assert sum(e is field for e in balanced) == 1 and balanced[:len(examples)] == examples
    spirals = [e.name for e in balanced if e.name.startswith("s")]
    assert sorted(set(spirals)) == ["s0", "s1", "s2"]  # 2 whole copies + 1 chosen by hash
    assert balanced == balance_single_object_classes(examples)  # same list every run
    only_one_class = [*examples[:7], field]
    assert balance_single_object_classes(only_one_class) == only_one_class


def test_train_detector_starts_from_given_weights(tmp_path, monkeypatch):
    import galseg.training.detector as training

    data = _example_folder(tmp_path / "d", n=12)
    config = DetectorTrainConfig(data=(str(data),), model=TINY, crop_size=64, batch_size=4,
                                 max_epochs=1, val_fraction=0.3, seed=1)
    train_detector(config, tmp_path / "a.pt", progress=False, log=lambda s: None)
    first, _ = load_detector(tmp_path / "a.pt")
    seen = {}

    class Stop(Exception):
        pass

    def first_epoch(model, *args, config_json, **kwargs):  # what the epoch loop is given
        seen["state"], seen["config"] = model.state_dict(), config_json
        raise Stop

    monkeypatch.setattr(training, "run_epochs", first_epoch)
    second = DetectorTrainConfig(**{**config.__dict__, "init_from": str(tmp_path / "a.pt"),
                                    "noise_sigma": 50.0})
    with pytest.raises(Stop):
        train_detector(second, tmp_path / "b.pt", progress=False, log=lambda s: None)
    for (name, a), b in zip(first.state_dict().items(), seen["state"].values(), strict=True):
        assert torch.equal(a, b), name
    assert str((tmp_path / "a.pt").resolve()) in seen["config"]  # resumes only the same start
    other = DetectorConfig(**{**TINY.to_dict(), "fpn_channels": TINY.fpn_channels * 2})
    with pytest.raises(ValueError, match="architecture"):
        train_detector(DetectorTrainConfig(**{**second.__dict__, "model": other}),
                       tmp_path / "c.pt", progress=False, log=lambda s: None)


# ---------------------------------------------------------------------------- detection


def test_tiles_cover_the_image():
    assert _tile_starts(100, 512, 128) == [0]
    starts = _tile_starts(1000, 512, 128)
    assert starts[0] == 0 and starts[-1] == 1000 - 512
    assert all(b - a <= 512 - 128 for a, b in itertools.pairwise(starts))


def test_detections_in_input_pixels_whatever_the_scale_and_tiling():
    rgb, _ = _disc_picture((150, 130), [(60, 70)], 10)
    whole = _tiny_detector().detect(rgb)
    tiled = _tiny_detector(tile_size=64, tile_overlap=32).detect(rgb)
    half = _tiny_detector().detect(rgb, scale=0.5)
    for det in (whole, tiled, half):
        assert det.shape == (150, 130)
        assert len(det) and (det.area_px > 0).all()
        assert (det.boxes[:, [0, 2]] <= 130 + 1e-6).all()
        assert (det.boxes[:, [1, 3]] <= 150 + 1e-6).all()
        # every mask lies inside (or on the edge of) its box
        for box, (y0, x0), crop in zip(det.boxes, det.mask_offsets, det.mask_crops,
                                       strict=True):
            ys, xs = np.nonzero(crop)
            # (masks are pasted a pixel beyond the box, two input pixels at scale 0.5)
            assert xs.min() + x0 >= box[0] - 3 and xs.max() + x0 <= box[2] + 3
            assert ys.min() + y0 >= box[1] - 3 and ys.max() + y0 <= box[3] + 3
    assert np.all(np.diff(whole.scores) <= 0)


def test_tiling_does_not_duplicate_objects_on_tile_edges(monkeypatch):
    """A fake model that 'finds' one object at a fixed field position in every tile
    that contains it: the merged result has it once."""
    detector = _tiny_detector(tile_size=64, tile_overlap=32)
    target = (70.0, 50.0, 80.0, 60.0)  # x0, y0, x1, y1 in the field

    class Fake(torch.nn.Module):
        def forward(self, images):
            outs = []
            for image in images:
                outs.append(dict(boxes=torch.zeros((0, 4)), scores=torch.zeros(0),
                                 class_probs=torch.zeros((0, 3)),
                                 masks=torch.zeros((0, 1, *image.shape[1:]))))
            return outs

    calls = []

    def fake_model(images):
        outs = Fake()(images)
        calls.append(len(images))
        return outs

    # locate the tile offsets through the detector's own tiling
    tiles = list(detector._tiles((130, 150)))
    per_tile = []
    for y0, x0, _ in tiles:
        box = torch.tensor([[target[0] - x0, target[1] - y0, target[2] - x0, target[3] - y0]])
        inside = box[0, 0] >= 0 and box[0, 1] >= 0 and box[0, 2] <= 64 and box[0, 3] <= 64
        mask = torch.zeros((1, 1, 64, 64))
        if inside:
            x, y = int(box[0, 0]), int(box[0, 1])
            mask[0, 0, y:y + 10, x:x + 10] = 1
        per_tile.append(dict(boxes=box if inside else torch.zeros((0, 4)),
                             scores=torch.tensor([0.9]) if inside else torch.zeros(0),
                             class_probs=torch.tensor([[0.9, 0.1, 0.0]]) if inside
                             else torch.zeros((0, 3)),
                             masks=mask if inside else torch.zeros((0, 1, 64, 64))))
    assert sum(len(t["scores"]) for t in per_tile) >= 2  # seen by several tiles
    queue = iter(per_tile)
    detector.model = lambda images: [next(queue) for _ in images]  # type: ignore[assignment]
    det = detector.detect(np.zeros((130, 150, 3), np.uint8))
    assert len(det) == 1
    np.testing.assert_allclose(det.boxes[0], target)
    np.testing.assert_allclose(det.pixel_centres[0], (74.5, 54.5))


def _square(shape, y0, x0, size):
    mask = np.zeros(shape, bool)
    mask[y0:y0 + size, x0:x0 + size] = True
    return mask


def test_pieces_of_bigger_drops_knots_inside_a_big_mask_only():
    shape = (100, 100)
    masks = [_square(shape, 10, 10, 60),   # the big galaxy (3600 px)
             _square(shape, 30, 30, 8),    # a knot inside it (64 px)
             _square(shape, 66, 66, 10),   # a neighbour mostly outside it (16 of 100 in)
             _square(shape, 20, 20, 40),   # a bright core (1600 px): not 4 times smaller
             _square(shape, 80, 5, 6)]     # far away
    det = Detections(np.zeros((5, 4)), np.ones(5), np.full((5, 3), 1 / 3), masks=np.array(masks))
    piece = pieces_of_bigger(det.mask_crops, det.mask_offsets, area_ratio=4)
    assert piece.tolist() == [False, True, False, False, False]
    # the bright core is a piece once the ratio allows it; the big one never is
    piece = pieces_of_bigger(det.mask_crops, det.mask_offsets, area_ratio=2)
    assert piece.tolist() == [False, True, False, True, False]
    assert not pieces_of_bigger(det.mask_crops[:1], det.mask_offsets[:1], 4).any()


def test_detector_drops_pieces_only_when_asked():
    size = 64
    boxes = torch.tensor([[4.0, 4.0, 60.0, 60.0], [20.0, 20.0, 28.0, 28.0]])
    masks = torch.zeros((2, 1, size, size))
    masks[0, 0, 4:60, 4:60] = 1
    masks[1, 0, 20:28, 20:28] = 1
    output = dict(boxes=boxes, scores=torch.tensor([0.9, 0.8]),
                  class_probs=torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1]]), masks=masks)
    found = {}
    for ratio in (None, 4.0):
        detector = _tiny_detector(tile_size=size, tile_overlap=0, piece_area_ratio=ratio)
        detector.model = lambda images: [output for _ in images]  # type: ignore[assignment]
        found[ratio] = detector.detect(np.zeros((size, size, 3), np.uint8))
    assert len(found[None]) == 2
    assert len(found[4.0]) == 1
    np.testing.assert_allclose(found[4.0].boxes[0], boxes[0].numpy())
    with pytest.raises(ValueError, match="piece_area_ratio"):
        _tiny_detector(piece_area_ratio=0.5)
    # The model file's setting is the default; inf keeps every piece.
    metadata = DetectorMetadata(TINY, piece_area_ratio=4.0)
    assert DetectorMetadata.from_json(metadata.to_json()) == metadata
    assert "piece_area_ratio" not in DetectorMetadata(TINY).to_json()
    assert Detector(_tiny_model(), metadata, device="cpu").piece_area_ratio == 4.0
    assert Detector(_tiny_model(), metadata, device="cpu",
                    piece_area_ratio=float("inf")).piece_area_ratio is None


def test_min_box_drops_small_detections_before_the_mask_head():
    model = _tiny_model()
    heads = model.roi_heads
    heads.score_thresh = 0.0
    # A small round source, a thin edge-on disc (short side 4, long 20) and a big galaxy;
    # no box regression, so the boxes are the proposals.
    proposals = [torch.tensor([[0.0, 0.0, 5.0, 5.0], [30.0, 0.0, 50.0, 4.0],
                               [10.0, 10.0, 40.0, 40.0]])]
    n_classes = len(TINY.classes) + 1
    logits = torch.full((3, n_classes), -5.0)
    logits[:, 1] = 5.0
    regression = torch.zeros((3, 4 * n_classes))
    kept = {}
    for side in (0.0, 10.0, 25.0):
        heads.min_box_side = side
        boxes, _, _ = heads.postprocess_detections(logits, regression, proposals, [(64, 64)])
        kept[side] = sorted(float(b[2] - b[0]) for b in boxes[0])
    assert kept == {0.0: [5.0, 20.0, 30.0], 10.0: [20.0, 30.0], 25.0: [30.0]}
    # The Detector sets it from its option or the model file's setting (absent when off).
    metadata = DetectorMetadata(TINY, min_box_px=6.0)
    assert DetectorMetadata.from_json(metadata.to_json()) == metadata
    assert "min_box_px" not in DetectorMetadata(TINY).to_json()
    detector = Detector(_tiny_model(), metadata, device="cpu")
    assert detector.min_box_px == 6.0 and detector.model.roi_heads.min_box_side == 6.0
    detector = Detector(_tiny_model(), metadata, device="cpu", min_box_px=0)
    assert detector.min_box_px is None and detector.model.roi_heads.min_box_side == 0.0
    with pytest.raises(ValueError, match="min_box_px"):
        _tiny_detector(min_box_px=-1)
    # End to end: nothing smaller comes out of a (random) network.
    found = _tiny_detector(min_box_px=12, score_threshold=0.0).detect(
        np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert (np.max(found.boxes[:, 2:] - found.boxes[:, :2], axis=1) >= 12 - 1e-6).all()


def test_heads_skip_detections_under_the_score_threshold_with_the_same_result():
    picture = np.random.default_rng(3).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    every = _tiny_detector(score_threshold=0.0).detect(picture)
    assert len(every) > 2
    threshold = float(np.median(every.scores))  # half of the (random) network's detections
    found = {}
    for heads_threshold in (None, 0.0):
        detector = _tiny_detector(score_threshold=threshold)
        assert detector.model.roi_heads.score_thresh == pytest.approx(threshold, abs=1e-5)
        if heads_threshold is not None:  # every proposal through the mask head, as before
            detector.model.roi_heads.score_thresh = heads_threshold
        found[heads_threshold] = detector.detect(picture)
    assert 0 < len(found[None]) < len(every)
    assert len(found[None]) == len(found[0.0])
    np.testing.assert_array_equal(found[None].boxes, found[0.0].boxes)
    np.testing.assert_array_equal(found[None].scores, found[0.0].scores)
    for a, b in zip(found[None].mask_crops, found[0.0].mask_crops, strict=True):
        np.testing.assert_array_equal(a, b)


def test_extra_passes_only_fill_gaps():
    boxes = [torch.tensor(b, dtype=torch.float64) for b in (
        [10, 10, 20, 20], [40, 10, 50, 20],    # first pass: two neighbours
        [8, 8, 52, 22],                        # half pass: both as one box -> dropped
        [100, 100, 160, 170],                  # half pass: a big galaxy the first missed
        [12, 12, 18, 18])]                     # half pass: inside a first-pass box only
    keep = fills_gaps(boxes, [0, 0, 1, 1, 1])
    assert keep.tolist() == [True, True, False, True, False]
    assert fills_gaps(boxes[2:], [1, 1, 1]).all()  # no first pass: nothing to fill
    assert fills_gaps([], []).size == 0


def test_half_pass_adds_what_the_full_pass_missed():
    size = 64
    # the same network output at both passes: at half size its box covers twice the
    # input pixels, so the half pass's copy holds the full pass's centre and is dropped
    output = dict(boxes=torch.tensor([[8.0, 8.0, 24.0, 24.0]]), scores=torch.tensor([0.9]),
                  class_probs=torch.tensor([[0.8, 0.1, 0.1]]),
                  masks=torch.ones((1, 1, size, size)))
    detector = _tiny_detector(tile_size=size, tile_overlap=0, scales=(1.0, 0.5))
    detector.model = lambda images: [output for _ in images]  # type: ignore[assignment]
    found = detector.detect(np.zeros((size, size, 3), np.uint8))
    assert len(found) == 1
    np.testing.assert_allclose(found.boxes[0], [8, 8, 24, 24])
    # a box only the half pass sees is added, in input pixels
    calls = []

    def model(images):
        calls.append(images[0].shape[-1])
        full = images[0].shape[-1] == size
        box = [[8.0, 8.0, 24.0, 24.0]] if full else [[20.0, 20.0, 30.0, 30.0]]
        return [dict(output, boxes=torch.tensor(box)) for _ in images]

    detector.model = model  # type: ignore[assignment]
    found = detector.detect(np.zeros((size, size, 3), np.uint8))
    assert calls == [size, size // 2]
    assert sorted(found.boxes[:, 0].tolist()) == [8.0, 40.0]


def test_run_detect_outputs_wcs_resume_and_bad_files(tmp_path):
    rgb, _ = _disc_picture((96, 96), [(40, 50)], 8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [48, 48]
    wcs.wcs.cdelt = [-0.396 / 3600, 0.396 / 3600]
    bands = np.stack([rgb[..., i].astype(np.float32) / 255 * 0.5 for i in (2, 1, 0)])
    bands[1, 5, 5] = np.nan
    header = wcs.to_header()
    header["BANDS"] = "grz"
    header["BUNIT"] = "nanomaggy"
    fits.PrimaryHDU(bands, header=header).writeto(tmp_path / "b.fits")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    inputs = [tmp_path / "a.png", tmp_path / "b.fits", tmp_path / "bad.png"]
    errors = []
    run = run_detect(inputs, tmp_path / "out", detector=_tiny_detector(), progress=False,
                     on_error=lambda p, r: errors.append(p))
    assert errors == [tmp_path / "bad.png"] and run.n_failed == 1
    catalog = run.catalog
    assert list(catalog["id"]) == list(range(1, len(catalog) + 1))
    for column in ("id", "image", "x", "y", "ra", "dec", "class", "score", "p_spiral",
                   "area_px", "bbox", "centroid_x", "centroid_y"):
        assert column in catalog.colnames
    from_fits = catalog[catalog["name"] == "b"]
    assert len(from_fits) and np.isfinite(from_fits["ra"]).all()
    assert not np.isfinite(np.asarray(catalog[catalog["name"] == "a"]["ra"], float)).any()
    with fits.open(tmp_path / "out" / "b_segmap.fits") as hdul:
        assert hdul[0].header["CTYPE1"] == "RA---TAN"
        assert hdul[0].data.shape == (96, 96)
        assert set(np.unique(hdul[0].data)) <= set(range(len(from_fits) + 1))
        assert len(hdul["OBJECTS"].data) == len(from_fits)
    assert (tmp_path / "out" / "a_overlay.png").is_file()
    again = run_detect(inputs[:2], tmp_path / "out", detector=_tiny_detector(), progress=False)
    assert again.n_reused == 2 and len(again.catalog) == len(catalog)


def test_run_detect_weights_centroids_by_the_band_flux_of_fits_input(tmp_path):
    # The 8-bit picture saturates on a bright core and would pull a centroid towards the
    # geometric centre; for band images the centroid is weighted by their linear light.
    rgb, masks = _disc_picture((64, 64), [(30, 30)], 8)
    flux = np.zeros((64, 64), np.float32)
    flux[30:33, 36:39] = 100.0  # a bright knot right of the disc's centre
    flux += rgb[..., 1] / 255 * 0.5
    fits.PrimaryHDU(np.stack([flux, flux, flux]),
                    header=fits.Header({"BANDS": "grz", "BUNIT": "nanomaggy"})
                    ).writeto(tmp_path / "knot.fits")
    detector, seen = _tiny_detector(), []
    plain_detect = detector.detect

    def spy(rgb, **options):
        seen.append(options.get("weight_image"))
        return plain_detect(rgb, **options)

    detector.detect = spy
    run_detect([tmp_path / "knot.fits"], tmp_path / "o", detector=detector, progress=False)
    assert len(seen) == 1 and np.allclose(seen[0], flux)
    weighted = Detections(np.array([[20.0, 20, 44, 44]]), np.array([0.9]),
                          np.array([[0.8, 0.1, 0.1]]), masks,
                          weight_image=seen[0])
    assert weighted.centroids[0, 0] > 36  # pulled to the knot at x = 37


def test_detections_from_crops_match_full_masks():
    masks = np.zeros((2, 20, 30), bool)
    masks[0, 2:5, 3:9] = True
    masks[1, 4:12, 4:9] = True
    weights = np.random.default_rng(0).random((20, 30))
    det = Detections(np.zeros((2, 4)), np.array([0.9, 0.5]),
                     np.array([[0.8, 0.2, 0], [0.1, 0.9, 0]]), masks=masks,
                     weight_image=weights)
    assert (det.masks == masks).all()
    assert list(det.area_px) == [18, 40]
    from scipy import ndimage
    y, x = ndimage.center_of_mass(np.where(masks[1], weights, 0))
    np.testing.assert_allclose(det.centroids[1], (x, y))
    assert det.labels == ["spiral", "elliptical"]
    label_map = det.label_map()
    assert label_map[3, 5] == 1 and label_map[10, 5] == 2
    assert label_map[4, 5] == 1  # the overlap goes to the smaller object


def test_cli_detect(tmp_path, capsys):
    model = tmp_path / "m.pt"
    save_detector(_tiny_model(), DetectorMetadata(TINY, score_threshold=0.0), model)
    rgb, _ = _disc_picture((64, 80), [(40, 30)], 8)
    Image.fromarray(rgb).save(tmp_path / "x.jpg")
    status = main(["detect", str(tmp_path / "x.jpg"), "--out", str(tmp_path / "o"),
                   "--model", str(model), "--quiet", "--fits-catalog",
                   "--piece-area-ratio", "4", "--min-box-px", "6", "--scales", "1,0.5"])
    assert status == 0
    assert (tmp_path / "o" / "catalog.csv").is_file()
    assert (tmp_path / "o" / "catalog.fits").is_file()
    assert main(["detect", str(tmp_path / "none*.png"), "--out", str(tmp_path / "o2"),
                 "--model", str(model)]) == 2
    with pytest.raises(SystemExit):  # argparse refuses a bad list of passes
        main(["detect", str(tmp_path / "x.jpg"), "--out", str(tmp_path / "o3"),
              "--scales", "1,-0.5"])


def test_no_proposals_gives_no_detections():
    """An image with no proposals (e.g. a random network on a blank frame) must not
    crash the one-class post-processing."""
    model = build_detector(TINY).eval()
    boxes, scores, labels = model.roi_heads.postprocess_detections(
        torch.zeros((0, 4)), torch.zeros((0, 16)), [torch.zeros((0, 4))], [(64, 64)])
    assert boxes[0].shape == (0, 4) and len(scores[0]) == 0 and len(labels[0]) == 0


def test_unknown_sky_values_are_empty_cells(tmp_path):
    rgb, _ = _disc_picture((64, 64), [(30, 30)], 8)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    run_detect([tmp_path / "p.png"], tmp_path / "o", detector=_tiny_detector(), progress=False)
    lines = (tmp_path / "o" / "catalog.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert len(lines) > 1 and "nan" not in lines[1]
    assert lines[1].split(",")[header.index("ra")] == ""


def test_ship_script_stores_only_the_threshold_it_was_scored_at(tmp_path, monkeypatch):
    import json
    import runpy
    import sys
    from pathlib import Path

    model_file = save_detector(build_detector(TINY), DetectorMetadata(TINY), tmp_path / "d.pt")
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "summary.json").write_text(json.dumps({"setup": {"score_threshold": 0.6}}))
    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts/ship_detector.py"))
    shipped = []

    def fake_ship(source, name, card):  # never overwrite the package's own weights
        shipped.append((load_detector(source)[1].score_threshold, card["score_threshold"]))
        target = tmp_path / "shipped.pt"
        target.write_bytes(Path(source).read_bytes())
        return target

    main = script["main"]
    monkeypatch.setitem(main.__globals__, "ship_model", fake_ship)
    monkeypatch.setattr(sys, "argv", ["ship", str(model_file), str(eval_dir)])
    with pytest.raises(SystemExit):  # scored at 0.6, the file says 0.4
        main()
    monkeypatch.setattr(sys, "argv", ["ship", str(model_file), str(eval_dir),
                                      "--score-threshold", "0.6"])
    main()
    assert shipped == [(0.6, 0.6)]
    # The suppression of pieces likewise: only the one the evaluation used.
    (eval_dir / "summary.json").write_text(json.dumps(
        {"setup": {"score_threshold": 0.6, "piece_area_ratio": 10.0}}))
    with pytest.raises(SystemExit):  # scored with pieces dropped, the file keeps them
        main()
    monkeypatch.setattr(sys, "argv", ["ship", str(model_file), str(eval_dir),
                                      "--score-threshold", "0.6", "--piece-area-ratio", "10"])
    main()
    assert shipped[-1] == (0.6, 0.6)
    assert load_detector(tmp_path / "shipped.pt")[1].piece_area_ratio == 10.0
    # And the smallest detection size.
    (eval_dir / "summary.json").write_text(json.dumps(
        {"setup": {"score_threshold": 0.6, "piece_area_ratio": 10.0, "min_box_px": 8.0}}))
    with pytest.raises(SystemExit):
        main()
    monkeypatch.setattr(sys, "argv", ["ship", str(model_file), str(eval_dir), "--score-threshold",
                                      "0.6", "--piece-area-ratio", "10", "--min-box-px", "8"])
    main()
    assert load_detector(tmp_path / "shipped.pt")[1].min_box_px == 8.0


def test_mask_windows_equal_torchvisions_full_pasted_masks():
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    from galseg.models.detector import paste_mask_crops
    torch.manual_seed(1)
    masks = torch.rand(6, 1, 28, 28)
    # inside, on each edge, beyond the corner, sub-pixel, and entirely outside
    boxes = torch.tensor([[10.3, 12.7, 40.1, 30.0], [-5.0, 3.2, 8.9, 20.0],
                          [50.5, 55.0, 70.0, 66.4], [30.0, -3.0, 45.0, 5.0],
                          [20.2, 20.4, 20.6, 20.9], [80.0, 80.0, 90.0, 95.0]])
    shape = (60, 64)
    full = paste_masks_in_image(masks, boxes, shape)[:, 0]
    for k, (window, (y0, x0)) in enumerate(paste_mask_crops(masks, boxes, shape)):
        rebuilt = torch.zeros(shape)
        rebuilt[y0:y0 + window.shape[0], x0:x0 + window.shape[1]] = window
        torch.testing.assert_close(rebuilt, full[k], rtol=0, atol=0)
    assert paste_mask_crops(masks[:0], boxes[:0], shape) == []


def test_detector_masks_are_those_of_the_full_pasted_masks():
    # The detector pastes each mask's window only; the objects are those of full masks.
    config = DetectorConfig(**{**TINY.to_dict(), "score_threshold": 0.0})
    rgb, _ = _disc_picture((150, 170), [(40, 50), (120, 100)], 9, seed=3)
    found = []
    for windows_only in (True, False):
        detector = _tiny_detector(config, tile_size=96, tile_overlap=32)
        detector.model.transform.paste_masks = not windows_only
        found.append(detector.detect(rgb))
    assert len(found[0]) > 0 and len(found[0]) == len(found[1])
    np.testing.assert_array_equal(found[0].boxes, found[1].boxes)
    assert (found[0].masks == found[1].masks).all()


def test_run_key_names_every_setting_that_changes_the_catalog():
    from galseg.predict.detect_run import _run_key

    keys = {_run_key(_tiny_detector()), _run_key(_tiny_detector(scales=(1.0, 0.5))),
            _run_key(_tiny_detector(min_box_px=8)), _run_key(_tiny_detector(piece_area_ratio=4))}
    assert len(keys) == 4
    assert _run_key(_tiny_detector()) == _run_key(_tiny_detector(scales=(1.0,)))
