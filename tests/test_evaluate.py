"""Evaluation of the segmenter against exact truth (galseg.evaluate, galseg evaluate)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.table import Table
from PIL import Image

from galseg.cli.main import main
from galseg.errors import InputFileError
from galseg.evaluate import SegmenterEvaluation, evaluate_segmenter, read_catalog
from galseg.evaluate.figures import pick_examples
from galseg.evaluate.metrics import (
    BASIC_RULE_FAMILIES,
    CONSENSUS_VOTES,
    MODEL_VOTES,
    PEAK_FRACTIONS,
    PEAK_POWER_FRACTIONS,
    RULE_FAMILIES,
    angle_difference_deg,
    best_threshold,
    detection_scores,
    fraction_with_error,
    iou,
    iou_column,
    iou_curve,
    length_agreement,
    peak_iou_curve,
    pixel_scores,
    rule_label,
)
from galseg.evaluate.report import _model_vs_consensus
from galseg.evaluate.segmentation import read_truth_galaxy
from galseg.models.unet import UNet, UNetConfig
from galseg.models.weights import SegmenterMetadata, save_segmenter
from galseg.predict.segment import Segmenter
from galseg.sim.dataset import SimulationConfig, simulate_dataset

N_GALAXIES = 12


# --------------------------------------------------------------------------------
# Fixtures: a small simulated data set and stand-in segmenters with known answers
# --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    simulate_dataset(out, SimulationConfig(n=N_GALAXIES, size=48, seed=3), workers=1,
                     progress=False)
    return out


class _LookupSegmenter(Segmenter):
    """Stand-in for Segmenter: answers each image (by name) with maps made from its galaxy
    (no network; measured with galseg.measure's default rules)."""

    scale, views = "frame", 1

    def __init__(self, data_dir, maps_of):  # not Segmenter's: no model to load
        catalog = read_catalog(data_dir)
        self.galaxies = {str(row["name"]): read_truth_galaxy(data_dir, row) for row in catalog}
        self.maps_of = maps_of
        self.measure_rules = {}

    def predict_maps(self, images):
        return [self.maps_of(self.galaxies[image.name]) for image in images]


def _truth_maps(galaxy):
    return np.stack([galaxy.truth_spiral, galaxy.truth_bar]).astype(np.float32)


def _volunteer_maps(galaxy):
    return np.stack([galaxy.votes.spiral_vote_fraction, galaxy.votes.bar_vote_fraction])


@pytest.fixture(scope="module")
def oracle(sim_dir):
    """A perfect model: predicts the truth masks as vote fractions of 1."""
    return evaluate_segmenter(sim_dir, _LookupSegmenter(sim_dir, _truth_maps), progress=False)


@pytest.fixture(scope="module")
def copycat(sim_dir):
    """A model that predicts exactly the volunteers' vote fractions."""
    return evaluate_segmenter(sim_dir, _LookupSegmenter(sim_dir, _volunteer_maps),
                              progress=False)


# --------------------------------------------------------------------------------
# Pure scores, hand-computed answers
# --------------------------------------------------------------------------------
def test_iou_and_pixel_scores_by_hand():
    mask = np.array([[1, 1, 0], [0, 1, 0]], bool)
    reference = np.array([[1, 0, 0], [0, 1, 1]], bool)
    assert iou(mask, reference) == pytest.approx(2 / 4)
    accuracy, precision, jaccard = pixel_scores(mask, reference)
    assert (accuracy, precision, jaccard) == pytest.approx((4 / 6, 2 / 3, 2 / 4))
    empty = np.zeros_like(mask)
    assert np.isnan(iou(empty, empty))
    accuracy, precision, jaccard = pixel_scores(empty, reference)
    assert accuracy == pytest.approx(3 / 6) and np.isnan(precision) and jaccard == 0.0


def test_iou_curve_counts_votes_at_each_threshold():
    votes = np.array([[0.0, 1.0, 2.0, 3.0]])
    truth = np.array([[False, False, True, True]])
    # >= 1 vote: 3 pixels, 2 true -> 2/3; >= 2: exact -> 1; >= 3: 1 of 2 -> 1/2; >= 4: 0
    assert iou_curve(votes, truth, (1, 2, 3, 4)) == pytest.approx([2 / 3, 1.0, 0.5, 0.0])


@pytest.mark.parametrize("k", range(1, 16))
def test_iou_curve_counts_a_float32_fraction_of_k_votes_as_k(k):
    votes = np.full((2, 2), np.float32(k / 15), dtype=np.float32) * 15
    truth = np.ones((2, 2), bool)
    assert iou_curve(votes, truth, (k,))[0] == 1.0


def test_detection_scores_by_hand():
    detected = np.array([True, True, False, False, True])
    true = np.array([True, False, True, False, True])
    scores = detection_scores(detected, true)
    assert scores["completeness"] == pytest.approx(2 / 3)
    assert scores["purity"] == pytest.approx(2 / 3)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    none = detection_scores(np.zeros(3, bool), np.zeros(3, bool))
    assert np.isnan(none["completeness"]) and np.isnan(none["purity"])
    assert none["accuracy"] == 1.0


def test_angle_difference_wraps_at_180_degrees():
    assert angle_difference_deg(np.array([179.0, 10.0, 30.0]), np.array([1.0, 100.0, 20.0])) \
        == pytest.approx([2.0, 90.0, 10.0])


def test_length_agreement_by_hand():
    true = np.array([10.0, 20.0, 40.0])
    scores = length_agreement(true * 1.1, true)
    assert scores["pearson_r"] == pytest.approx(1.0)
    assert scores["median_abs_fractional_error"] == pytest.approx(0.1)
    assert scores["mean_abs_error_px"] == pytest.approx(7.0 / 3)
    assert scores["n"] == 3
    empty = length_agreement(np.array([]), np.array([]))
    assert empty["n"] == 0 and np.isnan(empty["pearson_r"])
    assert np.isnan(empty["median_abs_fractional_error"])


def test_best_threshold_maximises_the_mean_curve():
    curves = np.array([[0.1, 0.5, 0.2], [0.3, 0.4, 0.1]])
    assert best_threshold(curves, (1, 2, 3)) == 2
    assert best_threshold(np.empty((0, 3)), (1, 2, 3)) is None
    assert best_threshold(np.array([[0.4, 0.4, 0.1]]), (0.5, 1, 2)) == 0.5  # ties: lowest


def test_fraction_with_error():
    assert fraction_with_error(np.array([True, False, True, True])) == pytest.approx(
        (0.75, np.sqrt(0.75 * 0.25 / 4)))
    assert all(np.isnan(fraction_with_error(np.array([], bool))))


# --------------------------------------------------------------------------------
# Thresholds are chosen on calibration galaxies, compared on the others
# --------------------------------------------------------------------------------
def _threshold_table():
    """Calibration rows prefer 0.5 votes for the model and 1 vote for the consensus; test
    rows would prefer 2 votes for both: the chosen thresholds must follow the calibration
    rows."""
    model = np.zeros((4, len(MODEL_VOTES)))
    consensus = np.zeros((4, len(CONSENSUS_VOTES)))
    half, two = MODEL_VOTES.index(0.5), MODEL_VOTES.index(2)
    model[:2, half], model[2:, two] = 0.6, 0.9
    model[2:, half] = [0.5, 0.2]
    consensus[:2, 0], consensus[2:, 1] = 0.5, 0.8
    consensus[2:, 0] = [0.4, 0.3]
    # per-map rules: the model's peak0.2 beats its best fixed votes on calibration (0.7 >
    # 0.6), the consensus's peak0.5 does not (0.45 < 0.5)
    model_peak = np.zeros((4, len(PEAK_FRACTIONS)))
    consensus_peak = np.zeros((4, len(PEAK_FRACTIONS)))
    model_peak[:, PEAK_FRACTIONS.index(0.2)] = [0.7, 0.7, 0.35, 0.1]
    consensus_peak[:, PEAK_FRACTIONS.index(0.5)] = [0.45, 0.45, 0.9, 0.9]
    table = Table({"name": ["a", "b", "c", "d"], "calibration": [True, True, False, False],
                   "truth_has_spiral_arms": [True, True, True, True],
                   "spiral_iou_model": model, "spiral_iou_consensus": consensus,
                   "spiral_iou_model_peak": model_peak,
                   "spiral_iou_consensus_peak": consensus_peak})
    for family in RULE_FAMILIES[2:]:  # the 'peak^G' families: never better here
        for source in ("model", "consensus"):
            table[iou_column("spiral", source, family)] = np.zeros((4, len(PEAK_POWER_FRACTIONS)))
    return SegmenterEvaluation(table)


def test_a_peak_power_rule_is_chosen_when_it_does_best_on_calibration():
    evaluation = _threshold_table()
    column = iou_column("spiral", "model", "peak^2")
    assert column == "spiral_iou_model_peak_pow2"
    curves = np.zeros((4, len(PEAK_POWER_FRACTIONS)))
    curves[:, PEAK_POWER_FRACTIONS.index(0.5)] = [0.8, 0.8, 0.6, 0.55]
    evaluation.table[column] = curves
    assert evaluation.chosen_rule("spiral", "model") == ("peak^2", 0.5)
    assert rule_label("peak^2", 0.5) == "peak0.5^2"
    model, _ = evaluation.test_ious("spiral")
    assert model == pytest.approx([0.6, 0.55])
    # restricted to the basic families the earlier choice stands
    assert evaluation.chosen_rule("spiral", "model", BASIC_RULE_FAMILIES) == ("peak", 0.2)
    versus = _model_vs_consensus(evaluation, "spiral")
    assert versus["model_rule"] == "peak0.5^2" and versus["consensus_rule"] == "1 votes"
    assert versus["votes_and_peak"]["model_rule"] == "peak0.2"
    assert versus["votes_and_peak"]["mean_iou_model"] == pytest.approx(0.225)
    assert versus["fraction_model_better"] == 1.0
    assert versus["votes_and_peak"]["fraction_model_better"] == 0.0


def test_the_default_rule_comparison_scores_the_model_at_measures_rule(monkeypatch):
    from galseg.evaluate import report

    evaluation = _threshold_table()
    curves = np.zeros((4, len(PEAK_POWER_FRACTIONS)))
    curves[2:, PEAK_POWER_FRACTIONS.index(0.5)] = [0.45, 0.25]  # test rows only: not chosen
    evaluation.table[iou_column("spiral", "model", "peak^2")] = curves
    monkeypatch.setattr(report, "DEFAULT_SPIRAL_THRESHOLD", "peak0.5^2")
    versus = _model_vs_consensus(evaluation, "spiral")
    assert versus["model_rule"] == "peak0.2"  # chosen on calibration, unlike the default
    default = versus["default_rule"]
    assert default["model_rule"] == "peak0.5^2" and default["consensus_rule"] == "1 votes"
    assert default["mean_iou_model"] == pytest.approx(0.35)  # (0.45 + 0.25) / 2
    assert default["mean_iou_consensus"] == pytest.approx(0.35)  # (0.4 + 0.3) / 2
    assert default["fraction_model_better"] == 0.5
    monkeypatch.setattr(report, "DEFAULT_SPIRAL_THRESHOLD", 0.4 / 15)  # 0.4 votes: on no grid
    assert _model_vs_consensus(evaluation, "spiral")["default_rule"] is None
    monkeypatch.setattr(report, "DEFAULT_SPIRAL_THRESHOLD", 2 / 15)  # 2 votes
    assert _model_vs_consensus(evaluation, "spiral")["default_rule"]["mean_iou_model"] == (
        pytest.approx((0.9 + 0.9) / 2))
    assert report._default_rule_comparison(evaluation, "bar", ("votes", 1)) is None


def test_thresholds_come_from_the_calibration_galaxies_only():
    evaluation = _threshold_table()
    assert evaluation.chosen_votes("spiral") == (0.5, 1)
    assert evaluation.chosen_rule("spiral", "model") == ("peak", 0.2)
    assert evaluation.chosen_rule("spiral", "consensus") == ("votes", 1)
    model, consensus = evaluation.test_ious("spiral")
    assert model == pytest.approx([0.35, 0.1])
    assert consensus == pytest.approx([0.4, 0.3])
    model, consensus = evaluation.test_ious("spiral", model_families=("votes",))
    assert model == pytest.approx([0.5, 0.2])


def test_peak_iou_curve_masks_a_fraction_of_each_maps_peak():
    fraction = np.zeros((4, 4))
    fraction[0, :2] = 0.6
    fraction[1, :2] = 0.2  # a third of the peak
    truth = np.zeros((4, 4), bool)
    truth[:2, :2] = True
    curve = peak_iou_curve(fraction, truth, (0.3, 0.5))
    assert curve == pytest.approx([1.0, 0.5])
    assert peak_iou_curve(fraction * 0.1, truth, (0.3,)) == pytest.approx([1.0])  # scale-free
    assert peak_iou_curve(np.zeros((4, 4)), truth, (0.3,)) == pytest.approx([0.0])
    assert rule_label("peak", 0.15) == "peak0.15" and rule_label("votes", 2) == "2 votes"
    # F * peak**G: a strong map is cut at a larger fraction of its peak than a faint one
    assert peak_iou_curve(fraction, truth, (0.5,), exponent=2.0) == pytest.approx([1.0])
    assert peak_iou_curve(fraction, truth, (1.0,), exponent=2.0) == pytest.approx([0.5])
    assert peak_iou_curve(fraction / 2, truth, (1.0,), exponent=2.0) == pytest.approx([1.0])
    assert rule_label("votes", None) is None


def test_default_calibration_is_the_first_half_of_the_sorted_names(oracle):
    table = oracle.table
    names = list(table["name"])
    assert names == sorted(names) and len(names) == N_GALAXIES
    assert list(table["calibration"]) == [True] * 6 + [False] * 6


def test_calibration_names_and_limit(sim_dir):
    segmenter = _LookupSegmenter(sim_dir, _truth_maps)
    names = sorted(segmenter.galaxies)
    evaluation = evaluate_segmenter(sim_dir, segmenter, names=names[::-1], limit=4,
                                    calibration_names=[names[3]], progress=False)
    assert list(evaluation.table["name"]) == names[:4]
    assert list(evaluation.table["calibration"]) == [False, False, False, True]


# --------------------------------------------------------------------------------
# Known answers on simulated galaxies
# --------------------------------------------------------------------------------
def test_a_perfect_model_beats_the_volunteers_everywhere(oracle):
    table, summary = oracle.table, oracle.summary
    truth_arms = np.asarray(table["truth_has_spiral_arms"])
    assert truth_arms.sum() >= 3 and np.asarray(table["truth_has_bar"]).sum() >= 1
    assert np.all(table["spiral_iou_model"][truth_arms] == 1.0)
    assert np.all(np.isnan(table["spiral_iou_model"][~truth_arms]))
    versus = summary["model_vs_consensus"]["spiral"]
    assert versus["mean_iou_model"] == 1.0
    assert versus["fraction_model_better"] == 1.0
    assert versus["majority"]["fraction_model_better"] == 1.0
    assert versus["n_test"] == int(truth_arms[~np.asarray(table["calibration"])].sum())
    for feature in ("spiral", "bar"):
        model = summary["detection"][feature]["model"]
        assert model["completeness"] == 1.0 and model["purity"] == 1.0
        assert model["accuracy"] == 1.0
    rd_truth = summary["rey_deutsch_spiral"]["model_vs_truth"]
    assert rd_truth["jaccard_mean"] == [1.0] * 6 and rd_truth["n"] == [truth_arms.sum()] * 6
    lengths = summary["bar_length"]["model"]
    assert lengths["n"] == int(np.sum(table["truth_has_bar"]))
    # the truth masks of these small (10-15 px) bars measure 1-2 px short of the bar
    assert lengths["median_abs_fractional_error"] < 0.25
    assert lengths["median_abs_pa_error_deg"] < 10
    assert summary["vote_fraction_l1"]["spiral"]["all"] > 0


def test_a_model_that_copies_the_volunteers_ties_with_them(copycat):
    table, summary = copycat.table, copycat.summary
    assert np.all(table["spiral_l1"] == 0) and np.all(table["bar_l1"] == 0)
    assert summary["vote_fraction_l1"]["bar"]["marked"] == 0.0
    for feature in ("spiral", "bar"):
        model = np.asarray(table[f"{feature}_iou_model"])
        consensus = np.asarray(table[f"{feature}_iou_consensus"])
        whole = MODEL_VOTES.index(1)
        # a copy of k/15 fractions: the same masks at whole votes; below one vote, 1 vote's
        np.testing.assert_array_equal(model[:, whole:], consensus)
        np.testing.assert_array_equal(model[:, :whole], np.repeat(consensus[:, :1], whole, 1))
        for family in RULE_FAMILIES[1:]:
            np.testing.assert_array_equal(table[iou_column(feature, "model", family)],
                                          table[iou_column(feature, "consensus", family)])
        versus = summary["model_vs_consensus"][feature]
        fixed = versus["fixed_votes"]
        if fixed["consensus_votes"] is None:  # no calibration galaxy has the feature
            assert fixed["model_votes"] is None and versus["n_test"] == 0
            assert versus["model_rule"] is None
        else:
            assert max(fixed["model_votes"], 1) == fixed["consensus_votes"]
        if versus["n_test"]:
            for entry in (versus, fixed):
                assert entry["fraction_model_better"] == 0.0 and entry["fraction_tied"] == 1.0
        assert summary["detection"][feature]["model"] == summary["detection"][feature][
            "volunteers"]
    rd = summary["rey_deutsch_spiral"]["model_vs_volunteers"]
    assert rd["jaccard_mean"] == [1.0] * 6 and rd["precision_mean"] == [1.0] * 6
    # the copy finds arms wherever the volunteers do, with or without true arms
    assert np.all(np.array(rd["n"]) >= summary["rey_deutsch_spiral"]["volunteers_vs_truth"]["n"])


def test_summary_is_strict_json_and_markdown_has_every_table(copycat):
    text = json.dumps(copycat.summary, allow_nan=False)
    assert json.loads(text)["setup"]["n_galaxies"] == N_GALAXIES
    markdown = copycat.to_markdown()
    for heading in ("Vote-fraction L1", "Mean IoU with truth", "Rey Deutsch",
                    "consensus mask", "Detection", "Bar length"):
        assert heading in markdown
    assert markdown.count("| model vs volunteers |") == 6


def test_flat_table_splits_threshold_columns(copycat, tmp_path):
    flat = copycat.flat_table()
    assert all(flat[name].ndim == 1 for name in flat.colnames)
    assert "spiral_iou_model_th15" in flat.colnames
    assert "spiral_model_vs_truth_jaccard_th6" in flat.colnames
    assert "spiral_model_vs_truth_jaccard_th7" not in flat.colnames
    metrics, per_galaxy = copycat.write(tmp_path / "out")
    assert len(Table.read(per_galaxy, format="ascii.csv")) == N_GALAXIES
    assert json.loads(metrics.read_text())["detection"]["spiral"]["model"]["n"] == N_GALAXIES


def test_pick_examples(oracle):
    names = pick_examples(oracle, 3, seed=1)
    table = oracle.table
    chosen = np.isin(table["name"], names)
    assert len(names) == 3 and names == sorted(names)
    assert not np.any(table["calibration"][chosen])
    assert np.all(table["truth_has_spiral_arms"][chosen] | table["truth_has_bar"][chosen])
    assert pick_examples(oracle, 3, seed=1) == names
    with pytest.raises(ValueError, match="n_galaxies"):
        pick_examples(oracle, 0)


# --------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------
def test_errors_name_the_problem(sim_dir, tmp_path):
    segmenter = _LookupSegmenter(sim_dir, _truth_maps)
    with pytest.raises(InputFileError, match=r"catalog\.csv"):
        evaluate_segmenter(tmp_path, segmenter, progress=False)
    with pytest.raises(ValueError, match="names not in"):
        evaluate_segmenter(sim_dir, segmenter, names=["nope"], progress=False)
    with pytest.raises(ValueError, match="limit"):
        evaluate_segmenter(sim_dir, segmenter, limit=0, progress=False)
    with pytest.raises(ValueError, match="no galaxies"):
        evaluate_segmenter(sim_dir, segmenter, names=[], progress=False)


# --------------------------------------------------------------------------------
# The command, with a real (tiny, untrained) U-Net
# --------------------------------------------------------------------------------
def test_cli_writes_metrics_table_and_figures(sim_dir, tmp_path, capsys):
    config = UNetConfig(widths=(4, 8), dropout=(0.0, 0.0))
    model_path = save_segmenter(UNet(config), SegmenterMetadata(config, 48, 0.262, {}),
                                tmp_path / "tiny.pt")
    out = tmp_path / "eval"
    status = main(["evaluate", "segmenter", "--data", str(sim_dir), "--model", str(model_path),
                   "--out", str(out), "--examples", "2", "--device", "cpu", "--quiet"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "Rey Deutsch" in captured.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["setup"]["model"] == str(model_path)
    assert metrics["setup"]["n_galaxies"] == N_GALAXIES
    assert len(Table.read(out / "per_galaxy.csv", format="ascii.csv")) == N_GALAXIES
    for name in ("figure_examples.png", "bar_length.png", "iou_vs_consensus.png"):
        with Image.open(out / name) as image:
            assert image.size[0] > 100 and image.size[1] > 100


def test_cli_reports_a_bad_data_folder(tmp_path, capsys):
    config = UNetConfig(widths=(4,), dropout=(0.0,))
    model_path = save_segmenter(UNet(config), SegmenterMetadata(config, 48, 0.262, {}),
                                tmp_path / "tiny.pt")
    status = main(["evaluate", "segmenter", "--data", str(tmp_path / "missing"),
                   "--model", str(model_path), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("error:") and "catalog.csv" in err
