"""Shred classifier training: folds by field, resume, calibration, the model file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from conftest import TINY_SHREDNET
from galseg.evaluate.metrics import binary_scores, roc_auc, roc_curve
from galseg.models.weights import load_shred_classifier
from galseg.predict.shreds import ShredClassifier
from galseg.training.ensemble import fit_platt, fold_of
from galseg.training.shreds import (
    ShredTrainConfig,
    load_shred_examples,
    train_shred_classifier,
)


def test_folds_depend_only_on_the_field_name():
    assert fold_of("f000123", 5) == fold_of("f000123", 5)
    folds = [fold_of(f"f{i:06d}", 5) for i in range(2000)]
    counts = np.bincount(folds, minlength=5)
    assert counts.min() > 330 and counts.max() < 470


def test_examples_load_and_cache(shred_data, tmp_path):
    cache = tmp_path / "c.npz"
    first = load_shred_examples(shred_data, cache=cache, progress=False)
    assert first.images.shape == (48, 128, 128, 3) and first.images.dtype == np.uint8
    assert first.labels.sum() == 24 and cache.is_file()
    again = load_shred_examples(shred_data, cache=cache, progress=False)
    assert np.array_equal(again.images, first.images) and list(again.ids) == list(first.ids)
    # every detection of a field is in one fold
    folds = first.folds(3)
    for name in np.unique(first.groups):
        assert len(set(folds[first.groups == name])) == 1


def test_training_writes_a_calibrated_ensemble_and_resumes(shred_data, tmp_path):
    config = ShredTrainConfig(model=TINY_SHREDNET, n_folds=3, batch_size=16, max_epochs=2,
                              learning_rate=3e-3)
    path = tmp_path / "shreds.pt"
    result = train_shred_classifier(shred_data, path, config, device="cpu", progress=False,
                                    log=lambda _: None)
    members, metadata = load_shred_classifier(path)
    assert len(members) == 3 and metadata.pixscale_arcsec == pytest.approx(0.469)
    assert metadata.training["n_detections"] == 48
    assert np.isfinite(result.out_of_fold_auc)
    assert len(result.folds) == 3 and all(f["epochs_run"] == 2 for f in result.folds)
    for fold in range(3):
        assert (tmp_path / "shreds.pt.run" / f"fold{fold}" / "metrics.csv").is_file()

    # a killed run: fold 2 unfinished; rerunning gives the same model
    shutil.rmtree(tmp_path / "shreds.pt.run" / "fold2")
    path.unlink()
    again = train_shred_classifier(shred_data, path, config, device="cpu", progress=False,
                                   log=lambda _: None)
    assert again.out_of_fold_auc == pytest.approx(result.out_of_fold_auc)
    assert again.calibration == pytest.approx(result.calibration, abs=1e-6)

    classifier = ShredClassifier.from_file(path, device="cpu")
    examples = load_shred_examples(shred_data, progress=False)
    p = classifier.predict_proba(examples.images)
    assert p.shape == (48,) and np.all((p >= 0) & (p <= 1))

    with pytest.raises(ValueError, match="another configuration"):
        train_shred_classifier(shred_data, path, ShredTrainConfig(
            model=TINY_SHREDNET, n_folds=3, batch_size=8, max_epochs=2), device="cpu",
            progress=False, log=lambda _: None)


def test_platt_scaling_recovers_a_known_calibration():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, 20000)
    labels = rng.random(20000) < 1 / (1 + np.exp(-(0.5 * logits - 1.0)))
    a, b = fit_platt(logits, labels)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(-1.0, abs=0.07)


def test_roc_auc_and_binary_scores_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.55, 0.4])
    labels = np.array([1, 1, 0, 1, 0, 0], bool)
    # pairs (pos, neg) ranked right: 3 + 3 + 2 of 9
    assert roc_auc(scores, labels) == pytest.approx(8 / 9)
    assert roc_auc(np.ones(4), np.array([1, 0, 1, 0], bool)) == pytest.approx(0.5)
    fpr, tpr, _ = roc_curve(scores, labels)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    s = binary_scores(scores >= 0.6, labels)
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (3, 1, 0, 2)
    assert s["completeness"] == 1.0 and s["purity"] == 0.75
    assert s["accuracy"] == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="both"):
        roc_auc(scores, np.ones(6, bool))


def test_evaluate_shreds_cli_writes_scores_and_figures(shred_data, tiny_shred_model_path,
                                                       tmp_path, capsys):
    from galseg.cli.main import main

    out = tmp_path / "eval"
    assert main(["evaluate", "shreds", "--data", str(shred_data), "--model",
                 str(tiny_shred_model_path), "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "AUC" in text and "| shred |" in text
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 48 and 0 <= metrics["auc"] <= 1
    assert metrics["tp"] + metrics["fp"] + metrics["fn"] + metrics["tn"] == 48
    for name in ("predictions.csv", "roc.png", "reliability.png"):
        assert (out / name).is_file()
    assert main(["evaluate", "shreds", "--data", str(tmp_path / "nothing"), "--model",
                 str(tiny_shred_model_path), "--out", str(out), "--quiet"]) == 2


def test_train_shreds_cli(shred_data, tmp_path):
    from galseg.cli.main import main

    out = tmp_path / "m.pt"
    assert main(["train", "shreds", "--data", str(shred_data), "--out", str(out),
                 "--widths", "2", "4", "4", "8", "--folds", "2", "--epochs", "1",
                 "--quiet"]) == 0
    members, metadata = load_shred_classifier(out)
    assert len(members) == 2 and metadata.model.widths == (2, 4, 4, 8)
