"""Detector evaluation: matching, COCO AP, classification, centroids, completeness, noise,
figures and the command, on tiny synthetic truths with a fake colour-blob detector."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from PIL import Image
from scipy import ndimage

from galseg.cli.main import main
from galseg.data.detection_examples import (
    write_example_tables,
    write_masks,
)
from galseg.evaluate.detection_metrics import (
    TruthObjects,
    centroid_offsets,
    classification_scores,
    coco_average_precision,
    found_radius_px,
    match_centroids,
    match_objects,
)
from galseg.evaluate.detector import (
    DetectorEvaluation,
    add_gaussian_noise,
    evaluate_detector,
    noise_curve,
    read_r_band,
    spiral_elliptical_scores,
)
from galseg.evaluate.detector_figures import write_figures
from galseg.evaluate.metrics import class_scores, confusion_matrix, median_absolute_deviation
from galseg.predict.detections import Detections

SIZE = 64
PIXSCALE = 0.396
COLOURS = {"spiral": (220, 40, 40), "elliptical": (40, 40, 220), "star": (230, 230, 230)}
# class, x, y, radius, overlap flag; the star is drawn only in the g band of the FITS field
FIELD = [("spiral", 16, 16, 7, True), ("elliptical", 46, 18, 7, True),
         ("spiral", 18, 46, 6, False), ("star", 46, 46, 3, False)]


def disc(x: float, y: float, r: float, size: int = SIZE) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return (xx - x) ** 2 + (yy - y) ** 2 <= r * r


def write_folder(root: Path, images: list[dict]) -> Path:
    """A detection example folder; each image: name, source, objects (class, x, y, r,
    overlap), optional unlabelled discs (in the picture and the FITS field), fits (bool),
    unlisted (bool: the unlabelled discs are the image's unlisted mask)."""
    example_rows, object_rows = [], []
    for image in images:
        name, objects = image["name"], image["objects"]
        rgb = np.full((SIZE, SIZE, 3), 10, np.uint8)
        for cls, x, y, r in [o[:4] for o in objects] + image.get("unlabelled", []):
            rgb[disc(x, y, r)] = COLOURS[cls]
        (root / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(root / "images" / f"{name}.png")
        masks = np.array([disc(x, y, r) for _, x, y, r, _ in objects]).reshape(-1, SIZE, SIZE)
        fits_name = ""
        if image.get("fits"):
            fits_name = f"fields/{name}.fits"
            (root / "fields").mkdir(exist_ok=True)
            bands = np.random.default_rng(1).normal(0, 1, (3, SIZE, SIZE)).astype(np.float32)
            yy, xx = np.mgrid[0:SIZE, 0:SIZE]
            for cls, x, y, *_ in objects + image.get("unlabelled", []):
                blob = 60 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0 ** 2))
                planes = (0,) if cls == "star" else (0, 1, 2)
                for b in planes:
                    bands[b] += blob.astype(np.float32)
            hdu = fits.PrimaryHDU(bands)
            hdu.header["BANDS"] = "grz"
            hdu.writeto(root / fits_name)
        unlisted = None
        if image.get("unlisted"):
            unlisted = np.zeros((SIZE, SIZE), bool)
            for _, x, y, r in image.get("unlabelled", []):
                unlisted |= disc(x, y, r)
        example_rows.append({"name": name, "image": f"images/{name}.png",
                             "masks": write_masks(root, name, masks, unlisted=unlisted),
                             "source": image["source"],
                             "height": SIZE, "width": SIZE, "pixscale_arcsec": PIXSCALE,
                             "fits": fits_name})
        for i, (cls, x, y, r, overlap) in enumerate(objects):
            row = {"name": name, "index": i, "class": cls, "x": float(x), "y": float(y)}
            if image["source"] == "sim":
                row.update(overlap=overlap, kind=cls, npix=int(disc(x, y, r).sum()))
            if "gz1_class" in image:
                row["gz1_class"] = image["gz1_class"]
            object_rows.append(row)
    write_example_tables(root, example_rows, object_rows)
    return root


class FakeDetector:
    """Finds bright discs and calls red ones spiral, blue ones elliptical, white ones stars.

    ``swap`` exchanges spiral and elliptical, ``all_stars`` calls everything a star,
    ``drop`` leaves out blobs (raster order),
    ``shift`` = (dx, dy) moves every mask; masks of fewer than 5 pixels are noise."""

    def __init__(self, *, swap: bool = False, drop: tuple[int, ...] = (),
                 shift: tuple[int, int] = (0, 0), crop: int = 0, all_stars: bool = False
                 ) -> None:
        self.swap, self.drop, self.shift, self.crop = swap, drop, shift, crop
        self.all_stars = all_stars
        self.calls = 0
        self.score_threshold = 0.4
        self.piece_area_ratio = None
        self.min_box_px = None
        self.scales = (1.0,)

    def detect(self, rgb: np.ndarray, *, pixscale_arcsec: float | None = None,
               weight_image: np.ndarray | None = None) -> Detections:
        self.calls += 1
        labels, n = ndimage.label(rgb.max(axis=2) > 128)
        masks, probs = [], []
        for k in range(1, n + 1):
            mask = labels == k
            if k - 1 in self.drop or mask.sum() < 5:
                continue
            r, _, b = rgb[mask].mean(axis=0)
            cls = "star" if abs(r - b) < 60 else ("spiral" if r > b else "elliptical")
            if self.swap and cls != "star":
                cls = "elliptical" if cls == "spiral" else "spiral"
            cls = "star" if self.all_stars else cls
            p = np.full(3, 0.05)
            p[("spiral", "elliptical", "star").index(cls)] = 0.9
            masks.append(np.roll(mask, (self.shift[1], self.shift[0]), axis=(0, 1)))
            probs.append(p)
        masks = np.array(masks, bool).reshape(-1, *rgb.shape[:2])[:, self.crop:, self.crop:]
        boxes = []
        for mask in masks:
            rows, cols = np.nonzero(mask)
            boxes.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
        scores = 0.9 - 0.01 * np.arange(len(masks))
        return Detections(np.array(boxes, float).reshape(-1, 4), scores,
                          np.array(probs).reshape(-1, 3), masks)


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sim_examples")
    return write_folder(root, [
        {"name": "field0", "source": "sim", "objects": FIELD, "fits": True},
        {"name": "field1", "source": "sim", "fits": False,
         "objects": [("elliptical", 20, 30, 8, False), ("spiral", 44, 30, 8, False)]}])


@pytest.fixture(scope="module")
def gz1_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gz1_examples")
    return write_folder(root, [
        {"name": "gz1a", "source": "gz1", "objects": [("spiral", 32, 32, 8, False)],
         "unlabelled": [("elliptical", 8, 8, 5)]},
        {"name": "gz1b", "source": "gz1", "objects": [("elliptical", 32, 32, 8, False)]}])


def evaluate(detector: FakeDetector, data: Path | list[Path], **kwargs) -> DetectorEvaluation:
    kwargs.setdefault("noise_scales", ())
    return evaluate_detector(detector, data, progress=False, **kwargs)


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------
def test_metric_helpers_known_answers():
    assert median_absolute_deviation([1.0, 2.0, 4.0, 10.0]) == 1.5  # median 3 -> 2,1,1,7
    assert np.isnan(median_absolute_deviation([]))
    assert confusion_matrix(["a", "b", "b", "c"], ["a", "a", "b", "x"], true_labels=["a", "b"],
                            predicted_labels=["a", "b"]).tolist() == [[1, 0], [1, 1]]
    with pytest.raises(ValueError, match="one length"):
        confusion_matrix(["a"], [], true_labels=["a"], predicted_labels=["a"])
    scores = class_scores(["s", "s", "e", "e"], ["s", "e", "e", "e"], ["s", "e"])
    assert scores["s"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
                           "support": 2}
    assert scores["e"]["precision"] == pytest.approx(2 / 3) and scores["e"]["recall"] == 1.0


def test_match_objects_greedy_by_score_and_class_agnostic():
    truth = np.array([disc(20, 20, 6), disc(44, 44, 6)])
    near = np.roll(truth[0], 1, axis=1)  # IoU with truth 0 high but below 1
    masks = np.array([near, truth[0], disc(44, 44, 2)])
    detections = Detections(np.zeros((3, 4)), np.array([0.9, 0.5, 0.8]),
                            np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]], float), masks)
    matching = match_objects(detections, truth)
    # the higher-scoring shifted mask takes truth 0; the exact one is left over;
    # the small disc has IoU 13/113 < 0.5 with truth 1
    assert matching.pairs.tolist() == [[0, 0]]
    assert matching.truth_to_detection.tolist() == [0, -1]
    assert matching.unmatched_detections.tolist() == [1, 2]
    assert matching.unmatched_truths.tolist() == [1]
    assert matching.ious[0] == pytest.approx(matching.iou_matrix[0, 0]) and matching.ious[0] < 1
    assert matching.iou_matrix[2, 1] == pytest.approx(disc(44, 44, 2).sum() / truth[1].sum())
    assert match_objects(detections, truth, iou_threshold=0.1).pairs.tolist() == [[0, 0], [2, 1]]
    with pytest.raises(ValueError, match="iou_threshold"):
        match_objects(detections, truth, iou_threshold=0)
    with pytest.raises(ValueError, match="truth_masks"):
        match_objects(detections, truth[:, :10])


def test_match_centroids_rule():
    masks = np.array([disc(20, 20, 10), disc(40, 20, 4)])
    xy = np.array([[20.0, 20.0], [40.0, 20.0]])
    npix = masks.reshape(2, -1).sum(axis=1)
    # radius: 0.5 sqrt(npix/pi) ~ 5 px for the big disc, the 3 px floor for the small one
    assert found_radius_px(npix)[1] == 3.0 and 4.5 < found_radius_px(npix)[0] < 5.5
    centroids = np.array([[27.0, 20.0],   # on the big disc but 7 px out: too far
                          [20.0, 23.0],   # found the big one
                          [20.0, 21.0],   # closer still: takes it first
                          [37.5, 20.0],   # found the small one
                          [np.nan, 1.0]])
    found = match_centroids(centroids, masks, xy)
    assert found.tolist() == [2, 3]
    assert match_centroids(centroids[:2], masks, xy).tolist() == [1, -1]
    # on neither mask: the pixel holding (44.6, 20) is column 45, outside the small disc
    assert match_centroids(np.array([[44.6, 20.0]]), masks, xy, truth_npix=[1e6, 1e6]).tolist() \
        == [-1, -1]
    allowed = np.ones((5, 2), bool)
    allowed[2] = False
    assert match_centroids(centroids, masks, xy, allowed=allowed).tolist() == [1, 3]
    assert match_centroids(np.zeros((0, 2)), masks, xy).tolist() == [-1, -1]
    with pytest.raises(ValueError, match="truth_xy"):
        match_centroids(centroids, masks, xy[:1])


def _detections(masks: np.ndarray, classes: list[str], scores: list[float]) -> Detections:
    probs = np.array([[0.9 if c == name else 0.05 for name in ("spiral", "elliptical", "star")]
                      for c in classes]).reshape(-1, 3)
    boxes = np.array([[*np.nonzero(m)[1][[0]], 0, 0, 0] for m in masks], float).reshape(-1, 4)
    for box, m in zip(boxes, masks, strict=True):
        rows, cols = np.nonzero(m)
        box[:] = cols.min(), rows.min(), cols.max() + 1, rows.max() + 1
    return Detections(boxes, np.array(scores, float), probs, masks)


def test_coco_average_precision_known_answer():
    truth = TruthObjects(np.array([disc(16, 16, 6), disc(48, 48, 6), disc(16, 48, 3)]),
                         ("spiral", "spiral", "star"))
    # a false positive ranked first, then one of the two spirals; a star detection that
    # does not count; one elliptical on the second spiral
    masks = np.array([disc(48, 16, 6), disc(16, 16, 6), disc(16, 48, 3)])
    detections = _detections(masks, ["spiral", "spiral", "star"], [0.95, 0.9, 0.99])
    result = coco_average_precision([detections], [truth])
    # precision 1/2 up to recall 1/2: 51 of COCO's 101 recall points
    assert result["ap50"]["spiral"] == pytest.approx(51 * 0.5 / 101, abs=1e-6)
    assert np.isnan(result["ap50"]["elliptical"])  # no elliptical truth: left out
    assert result["map50"] == pytest.approx(result["ap50"]["spiral"])
    assert result["n_truth"] == {"spiral": 2, "elliptical": 0}
    assert result["n_detections"] == {"spiral": 2, "elliptical": 0}
    boxes = coco_average_precision([detections], [truth], iou_type="bbox")
    assert boxes["map50"] == pytest.approx(result["map50"], abs=1e-6)
    # with stars as a class, the star detection is a perfect star
    with_stars = coco_average_precision([detections], [truth], classes=("spiral", "star"))
    assert with_stars["ap50"]["star"] == pytest.approx(1.0, abs=1e-6)
    perfect = coco_average_precision([_detections(truth.masks[:2], ["spiral"] * 2, [0.9, 0.8])],
                                     [truth])
    assert perfect["map50"] == pytest.approx(1.0, abs=1e-6)
    assert perfect["map"] == pytest.approx(1.0, abs=1e-6)
    empty = Detections(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 3)),
                       np.zeros((0, SIZE, SIZE), bool))
    assert coco_average_precision([empty], [truth])["map50"] == 0.0
    with pytest.raises(ValueError, match="iou_type"):
        coco_average_precision([detections], [truth], iou_type="keypoints")
    with pytest.raises(ValueError, match="one entry per image"):
        coco_average_precision([detections], [])


def test_coco_average_precision_is_silent(capsys):
    truth = TruthObjects(np.array([disc(16, 16, 6)]), ("elliptical",))
    coco_average_precision([_detections(truth.masks, ["elliptical"], [0.5])], [truth])
    assert capsys.readouterr().out == ""


def test_truth_objects_checks_inputs():
    with pytest.raises(ValueError, match="classes has 1"):
        TruthObjects(np.zeros((2, 4, 4), bool), ("spiral",))
    with pytest.raises(ValueError, match=r"\(M, H, W\)"):
        TruthObjects(np.zeros((4, 4), bool), ())
    truth = TruthObjects(np.array([disc(3, 5, 1, size=10)]), ("star",))
    assert truth.xy.tolist() == [[3.0, 5.0]]


def test_classification_and_centroid_helpers():
    scores = classification_scores(["spiral", "spiral", "elliptical", "star"],
                                   ["spiral", "missed", "star", "star"])
    assert scores["n"] == 3 and scores["n_matched"] == 2
    assert scores["accuracy"] == 0.5 and scores["detected_correct"] == pytest.approx(1 / 3)
    assert scores["confusion"]["rows"] == ["spiral", "elliptical", "star"]
    assert scores["confusion"]["columns"] == ["spiral", "elliptical", "star", "missed"]
    assert scores["confusion"]["counts"] == [[1, 0, 0, 1], [0, 0, 1, 0], [0, 0, 1, 0]]
    offsets = centroid_offsets([1.0, 2.0, 4.0, np.nan], [0.0, 0.0, 1.0, 5.0],
                               pixscale_arcsec=[0.5, 0.5, np.nan, 0.5])
    assert offsets["n"] == 3 and offsets["median_dx_px"] == 2.0 and offsets["mad_dx_px"] == 1.0
    assert offsets["n_arcsec"] == 2 and offsets["median_dx_arcsec"] == 0.75


# --------------------------------------------------------------------------------------
# Whole evaluations with the fake detector
# --------------------------------------------------------------------------------------
def test_perfect_detector(sim_dir):
    evaluation = evaluate(FakeDetector(), sim_dir)
    summary = evaluation.summary()
    ap = summary["average_precision"]
    assert ap["segm"]["map50"] == pytest.approx(1.0, abs=1e-6)
    assert ap["segm"]["map"] == pytest.approx(1.0, abs=1e-6)
    assert ap["bbox"]["map50"] == pytest.approx(1.0, abs=1e-6)
    assert "segm_all_detections" not in ap  # every image fully labelled
    cls = summary["classification"]
    assert cls["accuracy"] == 1.0 and cls["detected_correct"] == 1.0
    assert cls["accuracy_p_spiral"] == 1.0
    assert cls["confusion"]["counts"] == [[3, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0]]
    assert summary["detection"]["recall_galaxies"] == 1.0
    assert summary["detection"]["precision_complete_images"] == 1.0
    assert summary["centroids"]["n"] == 5
    assert summary["centroids"]["median_dx_px"] == 0.0 and summary["centroids"]["mad_dy_px"] == 0.0
    galseg = summary["completeness"]["galseg"]
    assert galseg["n_images"] == 2 and galseg["all"]["completeness"] == 1.0
    assert galseg["purity"]["all"]["purity"] == 1.0 and galseg["stars"]["found"] == 1
    assert evaluation.setup["n_images"] == 2


def test_swapped_classes_give_accuracy_zero(sim_dir):
    summary = evaluate(FakeDetector(swap=True), sim_dir, baseline=False).summary()
    assert summary["classification"]["accuracy"] == 0.0
    assert summary["classification"]["detected_correct"] == 0.0
    assert summary["classification"]["confusion"]["counts"][:2] == [[0, 3, 0, 0], [2, 0, 0, 0]]
    assert summary["average_precision"]["segm"]["map50"] == 0.0
    assert summary["detection"]["recall_galaxies"] == 1.0  # matching ignores classes
    # a galaxy called the wrong morphology is still a galaxy found
    assert summary["completeness"]["galseg"]["galaxies"]["completeness"] == 1.0
    assert "classical" not in summary["completeness"]


def test_galaxies_called_stars_are_found_only_without_classes(sim_dir):
    evaluation = evaluate(FakeDetector(all_stars=True), sim_dir, baseline=False)
    completeness = evaluation.summary()["completeness"]
    assert completeness["galseg"]["galaxies"]["completeness"] == 0.0
    assert completeness["galseg"]["stars"]["completeness"] == 1.0
    any_class = completeness["galseg_any_class"]
    assert any_class["all"]["completeness"] == 1.0
    assert any_class["purity"]["all"]["purity"] == 1.0
    assert all(evaluation.to_table()["found_galseg_any_class"])
    assert "galseg_any_class" in evaluation.to_markdown()


@pytest.mark.parametrize("unlisted", [True, False])
def test_detections_of_unlisted_sources_are_left_out_of_purity(tmp_path, unlisted):
    # a galaxy cut by the frame's edge: in the picture and the FITS field, not in the truth
    root = write_folder(tmp_path, [{
        "name": "edge", "source": "sim", "fits": True, "unlisted": unlisted,
        "objects": [("spiral", 20, 20, 6, False), ("elliptical", 44, 44, 6, False)],
        "unlabelled": [("elliptical", 62, 8, 5)]}])
    evaluation = evaluate(FakeDetector(), root)
    completeness = evaluation.summary()["completeness"]
    for method in ("galseg", "galseg_any_class", "classical"):
        purity = completeness[method]["purity"]["all"]
        assert completeness[method]["all"]["completeness"] == 1.0
        assert purity["n"] == 3 and purity["matched"] == 2
        assert purity["purity"] == pytest.approx(2 / 3)
        assert purity["n_unlisted"] == (1 if unlisted else 0)
        assert purity["purity_listed"] == pytest.approx(1.0 if unlisted else 2 / 3)
    assert ("listed" in evaluation.to_markdown()) == unlisted


def test_truth_objects_on_unlisted():
    masks = disc(20, 20, 6)[None]
    unlisted = disc(24, 20, 6)  # overlaps the object's mask
    truth = TruthObjects(masks, ("spiral",), unlisted=unlisted)
    positions = np.array([[20, 20], [29, 20], [50, 50], [np.nan, np.nan]])
    assert truth.on_unlisted(positions).tolist() == [False, True, False, False]
    assert not TruthObjects(masks, ("spiral",)).on_unlisted(positions).any()
    with pytest.raises(ValueError, match="unlisted"):
        TruthObjects(masks, ("spiral",), unlisted=np.zeros((3, 3), bool))


def test_missing_detection_lowers_recall_and_completeness(sim_dir):
    evaluation = evaluate(FakeDetector(drop=(0,)), sim_dir, limit=1)  # field0's first spiral
    summary = evaluation.summary()
    assert summary["detection"]["recall_galaxies"] == pytest.approx(2 / 3)
    cls = summary["classification"]
    assert cls["accuracy"] == 1.0 and cls["detected_correct"] == pytest.approx(2 / 3)
    assert cls["confusion"]["counts"][0] == [1, 0, 0, 1]
    assert cls["per_class"]["spiral"]["recall"] == 1.0  # of the matched ones
    assert summary["average_precision"]["segm"]["ap50"]["spiral"] < 0.6
    galseg = summary["completeness"]["galseg"]
    assert galseg["all"] == {"n": 4, "found": 3, "completeness": 0.75}
    assert galseg["overlapping"]["completeness"] == 0.5
    assert galseg["isolated_galaxies"]["completeness"] == 1.0
    table = evaluation.to_table()
    assert table["matched"].tolist() == [False, True, True, True]
    assert table["predicted_class"][0] == "" and np.isnan(table["score"][0])
    assert table["found_galseg"].tolist() == [False, True, True, True]


def test_centroid_offset_exact_on_known_shift(sim_dir):
    evaluation = evaluate(FakeDetector(shift=(2, -1)), sim_dir, baseline=False)
    stats = evaluation.summary()["centroids"]
    assert stats["n"] == 5
    assert stats["median_dx_px"] == 2.0 and stats["median_dy_px"] == -1.0
    assert stats["mad_dx_px"] == 0.0 and stats["mad_dy_px"] == 0.0
    assert stats["median_dx_arcsec"] == pytest.approx(2 * PIXSCALE)
    assert stats["median_offset_px"] == pytest.approx(np.sqrt(5))
    table = evaluation.to_table()
    galaxy = np.asarray(table["class"]) != "star"  # the small star no longer matches (IoU)
    assert not table["matched"][~galaxy].any()
    assert np.allclose(table["dx_px"][galaxy], 2.0)
    assert np.allclose(table["dy_arcsec"][galaxy], -PIXSCALE)
    # Against the truth mask's own centroid the shift is the whole error too ...
    against_mask = stats["against_truth_mask"]
    assert against_mask["n"] == 5
    assert against_mask["median_dx_px"] == 2.0 and against_mask["median_dy_px"] == -1.0
    assert np.allclose(table["dx_mask_px"][galaxy], 2.0)
    assert np.allclose(table["dy_mask_px"][galaxy], -1.0)
    # ... and a perfect mask has none.
    perfect = evaluate(FakeDetector(), sim_dir, baseline=False).summary()["centroids"]
    assert perfect["against_truth_mask"]["median_dx_px"] == 0.0
    assert perfect["against_truth_mask"]["mad_dy_px"] == 0.0


def test_baseline_completeness_on_synthetic_fits_field(sim_dir):
    bands = read_r_band(sim_dir / "fields" / "field0.fits")
    assert bands.shape == (SIZE, SIZE) and bands[46, 46] < 10  # the star is in g only
    evaluation = evaluate(FakeDetector(), sim_dir)
    classical = evaluation.summary()["completeness"]["classical"]
    assert classical["n_images"] == 1  # field1 has no FITS file
    assert classical["all"] == {"n": 4, "found": 3, "completeness": 0.75}
    assert classical["galaxies"]["completeness"] == 1.0
    assert classical["stars"]["completeness"] == 0.0
    assert classical["purity"]["all"]["matched"] == 3
    assert 0.5 <= classical["purity"]["all"]["purity"] <= 1.0
    table = evaluation.to_table()
    field1 = np.asarray(table["image"]) == "field1"
    assert table["found_classical"].mask[field1].all()
    assert table["found_classical"][~field1].tolist() == [True, True, True, False]
    assert evaluation.overlay is not None and evaluation.overlay.name == "field0"


def test_partially_labelled_images(gz1_dir):
    evaluation = evaluate(FakeDetector(), gz1_dir)
    ap = evaluation.average_precision()
    # the unlabelled elliptical in gz1a is set aside, unless every detection counts
    assert ap["segm"]["map50"] == pytest.approx(1.0, abs=1e-6)
    assert ap["segm_all_detections"]["ap50"]["elliptical"] < 0.9
    assert evaluation.detection()["n_complete_images"] == 0
    assert np.isnan(evaluation.detection()["precision_complete_images"])
    assert evaluation.completeness == {}
    assert evaluation.classification()["accuracy"] == 1.0


def test_spiral_elliptical_scores_known_answers():
    truth = ["spiral", "spiral", "spiral", "elliptical", "elliptical", "star", "spiral"]
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.7, 0.9, np.nan])
    codes = np.array([1, 2, 3, 0, 0, -1, 1])
    out = spiral_elliptical_scores(truth, p, gz1_class=codes)
    assert out["n"] == 5  # the star and the NaN left out
    assert out["spiral_recall"] == pytest.approx(2 / 3)
    assert out["elliptical_recall"] == 0.5
    assert out["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["auc"] == pytest.approx(4 / 6)  # of 6 spiral-elliptical pairs, 0.4, 0.6 < 0.7
    assert out["face_on_n"] == 2 and out["face_on_spiral_accuracy"] == 0.5
    assert {k: (v["name"], v["n"], v["accuracy"]) for k, v in out["by_gz1_class"].items()} == {
        0: ("elliptical", 2, 0.5), 1: ("clockwise spiral", 1, 1.0),
        2: ("anticlockwise spiral", 1, 0.0), 3: ("edge-on disc", 1, 1.0)}
    low = spiral_elliptical_scores(truth, p, threshold=0.3)
    assert low["spiral_recall"] == 1.0 and low["auc"] == out["auc"]
    assert "by_gz1_class" not in low
    with pytest.raises(ValueError, match="one length"):
        spiral_elliptical_scores(truth, p[:3])
    with pytest.raises(ValueError, match="threshold"):
        spiral_elliptical_scores(truth, p, threshold=1.5)


class SecondLookDetector(FakeDetector):
    """FakeDetector whose own ``p_spiral`` (kept beside the final one) is always wrong."""

    def detect(self, rgb: np.ndarray, **kwargs) -> Detections:
        found = super().detect(rgb, **kwargs)
        return Detections(found.boxes, found.scores, found.class_probs, found.masks,
                          detector_p_spiral=1.0 - found.p_spiral)


def test_spiral_elliptical_by_gz1_class_and_detector_alone(tmp_path):
    folder = write_folder(tmp_path, [
        {"name": "a", "source": "gz1", "gz1_class": 1, "objects": [("spiral", 32, 32, 8, False)]},
        {"name": "b", "source": "gz1", "gz1_class": 3, "objects": [("spiral", 32, 32, 8, False)]},
        {"name": "c", "source": "gz1", "gz1_class": 0,
         "objects": [("elliptical", 32, 32, 8, False)]}])
    evaluation = evaluate(SecondLookDetector(), folder)
    table = evaluation.to_table()
    assert list(table["gz1_class"]) == [1, 3, 0]
    np.testing.assert_allclose(table["p_spiral_detector"], 1 - table["p_spiral"])
    cls = evaluation.classification()
    final, own = cls["spiral_elliptical"], cls["spiral_elliptical_detector"]
    assert final["balanced_accuracy"] == 1.0 and final["auc"] == 1.0
    assert final["face_on_spiral_accuracy"] == 1.0
    assert own["balanced_accuracy"] == 0.0 and own["auc"] == 0.0
    assert [v["n"] for v in final["by_gz1_class"].values()] == [1, 1, 1]
    report = evaluation.to_markdown()
    assert "| face-on spirals (GZ1 1, 2) | 1.000 | 0.000 |" in report
    assert "| GZ1 3 edge-on disc (1) | 1.000 | 0.000 |" in report
    # without a second look, the detector's own p_spiral is the final one
    plain = evaluate(FakeDetector(), folder).classification()
    assert plain["spiral_elliptical_detector"] == plain["spiral_elliptical"]


def test_several_folders_and_sources(sim_dir, gz1_dir):
    evaluation = evaluate(FakeDetector(), [sim_dir, gz1_dir], limit=1, baseline=False)
    assert [i.name for i in evaluation.images] == ["field0", "gz1a"]
    summary = evaluation.summary()
    assert set(summary["by_source"]) == {"gz1", "sim"}
    assert summary["by_source"]["gz1"]["detection"]["n_truth_galaxies"] == 1
    assert summary["by_source"]["sim"]["classification"]["accuracy"] == 1.0


def test_evaluate_detector_checks_inputs(sim_dir, tmp_path):
    with pytest.raises(ValueError, match="limit"):
        evaluate(FakeDetector(), sim_dir, limit=0)
    with pytest.raises(ValueError, match="noise scales"):
        evaluate(FakeDetector(), sim_dir, noise_scales=(-1.0,))
    with pytest.raises(ValueError, match="iou_threshold"):
        evaluate(FakeDetector(), sim_dir, iou_threshold=1.5)
    with pytest.raises(ValueError, match="masks of shape"):
        evaluate(FakeDetector(crop=4), sim_dir)
    with pytest.raises(FileNotFoundError, match=r"examples\.csv"):
        evaluate(FakeDetector(), tmp_path)
    with pytest.raises(TypeError, match="examples must be"):
        evaluate(FakeDetector(), 3)
    with pytest.raises(ValueError, match="no detection examples"):
        evaluate(FakeDetector(), [])


# --------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------
def test_add_gaussian_noise():
    rgb = np.full((8, 8, 3), 128, np.uint8)
    assert np.array_equal(add_gaussian_noise(rgb, 0.0), rgb)
    one = add_gaussian_noise(rgb, 10.0, seed=3, key="a")
    assert np.array_equal(one, add_gaussian_noise(rgb, 10.0, seed=3, key="a"))
    assert not np.array_equal(one, add_gaussian_noise(rgb, 10.0, seed=3, key="b"))
    two = add_gaussian_noise(rgb, 20.0, seed=3, key="a").astype(int) - 128
    # one standard-normal field, scaled: twice the sigma, twice the offset (to rounding)
    assert np.all(np.abs(two - 2 * (one.astype(int) - 128)) <= 1)
    loud = add_gaussian_noise(rgb, 1000.0)
    assert loud.dtype == np.uint8 and {0, 255} <= set(np.unique(loud).tolist())
    with pytest.raises(ValueError, match="sigma"):
        add_gaussian_noise(rgb, -1.0)
    with pytest.raises(ValueError, match="uint8"):
        add_gaussian_noise(rgb.astype(float), 1.0)


def test_noise_curve(sim_dir):
    detector = FakeDetector()
    table = noise_curve(detector, sim_dir, scales=(0, 25.5, 76.5), seed=1)
    assert table["scale"].tolist() == [0.0, 25.5, 76.5] and detector.calls == 6
    assert table["accuracy"][0] == 1.0 and table["map50"][0] == pytest.approx(1.0, abs=1e-6)
    assert table["n_galaxies"].tolist() == [5, 5, 5]
    for column in ("accuracy", "detected_correct", "map50"):
        values = np.asarray(table[column], float)
        assert np.all((values[np.isfinite(values)] >= 0) & (values[np.isfinite(values)] <= 1))
    assert table["mean_score_correct"][0] == pytest.approx(np.mean([0.9, 0.89, 0.88, 0.9, 0.89]))


def test_evaluation_reuses_the_clean_run_for_scale_zero(sim_dir):
    detector = FakeDetector()
    evaluation = evaluate(detector, sim_dir, noise_scales=(0, 12.75), noise_limit=1,
                          baseline=False)
    assert detector.calls == 2 + 1  # two clean images, one noisy
    assert evaluation.noise["n_images"].tolist() == [1, 1]
    assert evaluation.summary()["noise"][0]["accuracy"] == 1.0


# --------------------------------------------------------------------------------------
# Outputs, figures, command
# --------------------------------------------------------------------------------------
def test_write_summary_table_markdown_and_figures(sim_dir, tmp_path):
    evaluation = evaluate(FakeDetector(drop=(1,)), sim_dir, noise_scales=(0, 51.0))
    written = evaluation.write(tmp_path) + write_figures(evaluation, tmp_path)
    assert [p.name for p in written] == ["summary.json", "objects.csv", "confusion.png",
                                         "centroids.png", "noise.png", "overlay.png"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["paper"]["map50"] == 0.93
    assert summary["average_precision"]["segm"]["ap50"]["elliptical"] is not None
    table = Table.read(tmp_path / "objects.csv", format="ascii.csv")
    assert len(table) == 6 and "found_classical" in table.colnames
    for name in ("confusion.png", "centroids.png", "noise.png", "overlay.png"):
        with Image.open(tmp_path / name) as image:
            assert image.size[0] > 200 and image.size[1] > 150
    report = evaluation.to_markdown()
    assert "mAP@0.5 (masks)" in report and "classical" in report and "noise sigma" in report


def test_figures_need_their_data(gz1_dir, tmp_path):
    from galseg.evaluate.detector_figures import noise_figure, overlay_figure

    evaluation = evaluate(FakeDetector(), gz1_dir)
    with pytest.raises(ValueError, match="noise"):
        noise_figure(evaluation)
    with pytest.raises(ValueError, match="overlay"):
        overlay_figure(evaluation)
    assert [p.name for p in write_figures(evaluation, tmp_path)] == ["confusion.png",
                                                                      "centroids.png"]


@pytest.fixture
def fake_detect_module(monkeypatch):
    """``galseg.predict.detect`` with a ``Detector.from_file`` that makes a FakeDetector."""
    loaded = []

    class Detector:
        @classmethod
        def from_file(cls, path: str | None = None, *, morphology: str = "default",
                      score_threshold: float | None = None,
                      piece_area_ratio: float | None = None,
                      min_box_px: float | None = None,
                      scales: tuple[float, ...] = (1.0,)) -> FakeDetector:
            loaded.append(path if morphology == "default" else (path, morphology))
            detector = FakeDetector()
            if score_threshold is not None:
                detector.score_threshold = score_threshold
            detector.piece_area_ratio = piece_area_ratio
            detector.min_box_px = min_box_px
            detector.scales = scales
            return detector

    module = types.ModuleType("galseg.predict.detect")
    module.Detector = Detector
    monkeypatch.setitem(sys.modules, "galseg.predict.detect", module)
    return loaded


def test_cli_writes_summary_objects_and_figures(sim_dir, gz1_dir, tmp_path, capsys,
                                                fake_detect_module):
    out = tmp_path / "eval"
    status = main(["evaluate", "detector", "--data", str(sim_dir), "--data", str(gz1_dir),
                   "--model", str(tmp_path / "m.pt"), "--out", str(out), "--noise-scales", "0",
                   "12.75", "--quiet"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert fake_detect_module == [str(tmp_path / "m.pt")]
    assert "mAP@0.5 (masks)" in captured.out and "objects.csv" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["setup"]["model"] == str(tmp_path / "m.pt")
    assert summary["setup"]["morphology"] == "default"
    assert summary["setup"]["data"] == [str(sim_dir), str(gz1_dir)]
    assert [row["scale"] for row in summary["noise"]] == [0.0, 12.75]
    assert len(Table.read(out / "objects.csv", format="ascii.csv")) == 8
    for name in ("confusion.png", "centroids.png", "noise.png", "overlay.png"):
        assert (out / name).is_file()


def test_cli_options_and_errors(sim_dir, tmp_path, capsys, fake_detect_module):
    out = tmp_path / "eval"
    assert main(["evaluate", "detector", "--data", str(sim_dir), "--out", str(out), "--limit",
                 "1", "--noise-scales", "--no-baseline", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert fake_detect_module == [None]
    assert main(["evaluate", "detector", "--data", str(sim_dir), "--out", str(out), "--limit",
                 "1", "--noise-scales", "--no-baseline", "--morphology", "none", "--quiet"]) == 0
    assert fake_detect_module == [None, (None, "none")]
    assert summary["setup"]["n_images"] == 1 and "noise" not in summary
    assert summary["setup"]["score_threshold"] == 0.4  # the model's own
    assert main(["evaluate", "detector", "--data", str(sim_dir), "--out", str(out), "--limit",
                 "1", "--noise-scales", "--no-baseline", "--score-threshold", "0.6",
                 "--piece-area-ratio", "10", "--min-box-px", "8", "--scales", "1,0.5",
                 "--quiet"]) == 0
    setup = json.loads((out / "summary.json").read_text())["setup"]
    assert setup["score_threshold"] == 0.6 and setup["piece_area_ratio"] == 10.0
    assert setup["min_box_px"] == 8.0 and "min_box_px" not in summary["setup"]
    assert setup["scales"] == [1.0, 0.5] and "scales" not in summary["setup"]
    assert "classical" not in summary["completeness"]
    assert not (out / "noise.png").exists() and not (out / "overlay.png").exists()
    capsys.readouterr()
    assert main(["evaluate", "detector", "--data", str(tmp_path / "missing"), "--out",
                 str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "examples.csv" in err
    with pytest.raises(SystemExit):
        main(["evaluate", "detector", "--data", str(sim_dir), "--noise-scales", "-3"])
