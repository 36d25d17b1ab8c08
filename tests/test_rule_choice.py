"""A segmenter's own measurement rules: stored in its file, applied to its results, chosen
on calibration galaxies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from _gz1_files import FIRST_OBJID, gz1_folder
from galseg.data.gz1 import gz1_split
from galseg.data.images import image_from_array
from galseg.errors import InputFileError
from galseg.evaluate.metrics import RULE_FAMILIES, iou_column
from galseg.evaluate.rule_choice import (
    GZ1_GROUPS,
    choose_arm_detection_level,
    choose_arm_rule,
    detection_rates,
    gz1_spiral_maps,
)
from galseg.evaluate.segmentation import evaluate_segmenter
from galseg.measure import DEFAULT_SPIRAL_THRESHOLD
from galseg.models.weights import SegmenterMetadata, load_segmenter
from galseg.predict.segment import Segmenter
from galseg.training.segmenter import with_measure_rules

ROOT = Path(__file__).resolve().parents[1]


def _ramp_maps() -> np.ndarray:
    """(2, 32, 32) maps: a spiral ramp 0..0.8 across the columns, no bar."""
    maps = np.zeros((2, 32, 32), np.float32)
    maps[0] = np.linspace(0, 0.8, 32, dtype=np.float32)[None, :]
    return maps


def test_metadata_keeps_its_rules_and_reads_files_without_them():
    metadata = SegmenterMetadata.from_json(
        '{"model": {"widths": [4, 8], "dropout": [0, 0]}, "frame_size": 48,'
        ' "pixscale_arcsec": 0.262}')
    assert metadata.measure_rules == {}
    ruled = SegmenterMetadata(metadata.model, 48, 0.262,
                              measure_rules={"spiral_threshold": "peak0.3^2"})
    assert SegmenterMetadata.from_json(ruled.to_json()) == ruled


def test_a_model_files_rules_reach_its_results_unless_overridden(tiny_segmenter_path, tmp_path):
    ruled_path = with_measure_rules(tiny_segmenter_path, tmp_path / "ruled.pt",
                                    {"spiral_threshold": 0.6, "spiral_detection_level": 0.7},
                                    chosen_on={"arm_rule_on": "test"})
    model, metadata = load_segmenter(ruled_path)
    original, _ = load_segmenter(tiny_segmenter_path)
    for name, value in original.state_dict().items():  # the weights are copied unchanged
        torch.testing.assert_close(model.state_dict()[name], value, rtol=0, atol=0)
    assert metadata.training["measure_rules"]["arm_rule_on"] == "test"

    image = image_from_array(np.zeros((32, 32, 3), np.uint8), name="ramp")
    ruled, default = Segmenter(ruled_path), Segmenter(ruled_path, measure_rules={})
    assert ruled.measure_rules == {"spiral_threshold": 0.6, "spiral_detection_level": 0.7}
    ruled_arms, default_arms = (s.result(image, _ramp_maps()).arms for s in (ruled, default))
    # the ramp reaches 0.6 in its last quarter and 0.7 in its last eighth (4 columns)
    assert ruled_arms.area_px == 32 * int(np.sum(np.linspace(0, 0.8, 32) >= 0.6 - 1e-6))
    assert ruled_arms.detected  # 4 x 32 pixels >= 0.7
    assert default_arms.threshold == DEFAULT_SPIRAL_THRESHOLD
    assert default_arms.area_px > ruled_arms.area_px
    # segment() uses the same rules
    assert next(ruled.segment_many([image])).arms.threshold == 0.6


def test_bad_rules_fail_when_stored_or_given(tiny_segmenter_path, tmp_path):
    with pytest.raises(TypeError, match="unknown rule"):
        with_measure_rules(tiny_segmenter_path, tmp_path / "x.pt", {"arm_level": 0.2})
    with pytest.raises(ValueError):
        Segmenter(tiny_segmenter_path, measure_rules={"spiral_threshold": "peak7"})
    assert not (tmp_path / "x.pt").exists()


def test_detection_rates_and_the_chosen_level():
    def maps(peaks):
        out = []
        for peak in peaks:
            m = np.zeros((16, 16), np.float32)
            m[4:12, 4:12] = peak  # 64 pixels, more than min_pixels
            out.append(m)
        return out
    groups = {"face-on spiral": maps([0.5, 0.5, 0.35, 0.12]),
              "elliptical": maps([0.12, 0.0, 0.0, 0.0]),
              "edge-on disc": maps([0.3, 0.12, 0.12, 0.0])}
    table = detection_rates(groups, (0.1, 0.2, 0.4))
    np.testing.assert_allclose(table["face-on spiral"], [1.0, 0.75, 0.5])
    np.testing.assert_allclose(table["elliptical"], [0.75, 1.0, 1.0])
    np.testing.assert_allclose(table["edge-on disc"], [0.25, 0.75, 1.0])
    level, chosen_from = choose_arm_detection_level(groups, (0.1, 0.2, 0.4))
    assert level == 0.2  # mean 0.833 against 0.667 and 0.833: the lowest of equals
    assert len(chosen_from) == 3


def test_gz1_maps_read_train_galaxies_of_each_group(tiny_segmenter_path, tmp_path):
    codes = [0, 1, 2, 3, 4, 5] * 6
    source = gz1_folder(tmp_path / "gz1", codes)
    (source / "images" / f"{FIRST_OBJID + 1}.jpeg").write_bytes(b"broken")
    segmenter = Segmenter(tiny_segmenter_path)
    maps = gz1_spiral_maps(segmenter, source, n=100, crop=30)
    for group, classes in GZ1_GROUPS.items():
        expected = sum(1 for i, code in enumerate(codes) if code in classes and i != 1
                       and gz1_split(str(FIRST_OBJID + i)) == "train")
        assert len(maps[group]) == expected
        assert all(m.shape == (30, 30) for m in maps[group])
    assert sum(len(m) for m in gz1_spiral_maps(segmenter, source, n=1, crop=30).values()) == 3
    with pytest.raises(InputFileError, match="edge-on"):
        gz1_spiral_maps(segmenter, gz1_folder(tmp_path / "no_edge_on", [0, 1, 2] * 4), crop=30)


def test_the_chosen_arm_rule_is_the_best_on_its_galaxies(tiny_segmenter_path, sim_dataset):
    segmenter = Segmenter(tiny_segmenter_path, measure_rules={})
    choice = choose_arm_rule(segmenter, sim_dataset, progress=False)
    evaluation = evaluate_segmenter(sim_dataset, segmenter, progress=False,
                                    calibration_names=[])
    rows = evaluation.feature_rows("spiral", calibration=False)  # every galaxy here
    assert choice.n_galaxies == int(rows.sum()) > 0
    best = max(np.mean(evaluation.table[iou_column("spiral", "model", family)][rows],
                       axis=0).max() for family in RULE_FAMILIES)
    assert choice.mean_iou == pytest.approx(best)


def test_the_script_writes_a_model_with_its_rules(tiny_segmenter_path, sim_dataset, tmp_path):
    source = gz1_folder(tmp_path / "gz1", [0, 1, 2, 3] * 6)
    out = tmp_path / "ruled.pt"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "choose_segmenter_rules.py"),
                          str(tiny_segmenter_path), "--sims", str(sim_dataset), "--gz1",
                          str(source), "--n-gz1", "5", "--out", str(out)],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "arm mask rule" in run.stdout and "arm detection level" in run.stdout
    _, metadata = load_segmenter(out)
    assert set(metadata.measure_rules) == {"spiral_threshold", "spiral_detection_level"}
    setup = evaluate_segmenter(sim_dataset, Segmenter(out), limit=4, progress=False).setup
    assert setup["arm_rule"] == metadata.measure_rules["spiral_threshold"]


def test_galseg_segment_writes_the_models_rules_and_redoes_inputs_when_they_change(
        tiny_segmenter_path, tmp_path):
    from astropy.io import fits

    from galseg.predict.run import run_segment

    picture = tmp_path / "in" / "galaxy.png"
    picture.parent.mkdir()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 40, 3), np.uint8)).save(
        picture)
    ruled_path = with_measure_rules(tiny_segmenter_path, tmp_path / "ruled.pt",
                                    {"spiral_threshold": "peak0.3"})
    out = tmp_path / "out"
    run_segment([picture], out, segmenter=Segmenter(ruled_path), progress=False)
    with fits.open(out / "galaxy_masks.fits") as hdul:
        assert hdul["SPIRAL_MASK"].header["RULE"] == "peak0.3"
    # the same model told to use the defaults is another run: the input is redone
    run_segment([picture], out, segmenter=Segmenter(ruled_path, measure_rules={}),
                progress=False)
    with fits.open(out / "galaxy_masks.fits") as hdul:
        assert hdul["SPIRAL_MASK"].header["RULE"] == DEFAULT_SPIRAL_THRESHOLD
