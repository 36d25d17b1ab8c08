"""Shreds on real catalogs: eye labels, sky splits, the isophote rule, real calibration."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_SHREDNET, _blob
from galseg.errors import InputFileError
from galseg.evaluate.metrics import bootstrap_auc_interval, roc_auc
from galseg.labels.eye import montage, read_eye_labels, write_eye_labels
from galseg.models.weights import ShredMetadata, load_shred_classifier
from galseg.predict.classical_shreds import isophote_shred_rule
from galseg.predict.shreds import ShredClassifier
from galseg.training.shreds import (
    REAL_LABELS,
    ShredTrainConfig,
    load_real_shred_examples,
    sky_groups,
    sky_split,
    train_shred_classifier,
)

LABEL_COLUMNS = ["objID", "ra", "dec", "label", "split"]


def _cutout(shred: bool, rng: np.random.Generator) -> np.ndarray:
    """A galaxy centred on the position, or a knot on the disc of a big galaxy whose
    centre is 35 px away (what the eye labels call a shred)."""
    sky = 0.1 + 0.02 * rng.standard_normal((128, 128))
    if shred:
        light = _blob(128, 64, 64, 2.0, 0.3) + _blob(128, 99, 64, 22.0, 0.7)
    else:
        light = _blob(128, 64, 64, 5.0, 0.7)
    rgb = np.clip(np.stack([sky + light * c for c in (0.9, 1.0, 1.1)], -1), 0, 1)
    return (rgb * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def real_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Eye labels and cutouts of 60 'real' sources in 30 sky pairs (neighbours 1' apart),
    10 pairs per split, plus a star and an unclear source that must be left out."""
    out = tmp_path_factory.mktemp("real")
    images = out / "images"
    images.mkdir()
    rng = np.random.default_rng(5)
    rows = []
    splits = ("train", "calibration", "test")
    for pair in range(30):
        ra, dec = 10.0 + 2.0 * pair, 1.0
        for k in range(2):
            object_id = str(1237600000000000000 + 10 * pair + k)
            shred = (pair + k) % 2 == 0
            Image.fromarray(_cutout(shred, rng)).save(images / f"{object_id}_grz.png")
            rows.append({"objID": object_id, "ra": f"{ra + k / 60:.6f}", "dec": f"{dec:.6f}",
                         "label": "shred" if shred else "galaxy", "split": splits[pair % 3]})
    for k, label in enumerate(("star", "unclear")):
        object_id = str(1237699999999999990 + k)
        Image.fromarray(_cutout(False, rng)).save(images / f"{object_id}_grz.png")
        rows.append({"objID": object_id, "ra": f"{200.0 + k:.6f}", "dec": "-5.000000",
                     "label": label, "split": "train"})
    labels = write_eye_labels(out / "labels.csv", rows, LABEL_COLUMNS, comment="test labels")
    return labels, images


def test_montage_lays_out_captions_grid_and_ticks_without_covering_the_position():
    images = [np.full((10, 12, 3), 200, np.uint8), np.zeros((8, 8, 3), np.uint8)]
    picture = montage(images, ["a", "b"], ncols=2, zoom=3, grid_px=4, mark=[(5, 5), None],
                      mark_gap_px=2, caption_height=10, pad=2)
    assert picture.dtype == np.uint8 and picture.shape == (2 + 10 + 30 + 2, 2 + 2 * (36 + 2), 3)
    # the marked pixel (5, 5) of image 0 keeps its value; its ticks are yellow
    x0, y0 = 2, 2 + 10
    assert (picture[y0 + 5 * 3 + 1, x0 + 5 * 3 + 1] == 200).all()
    assert ((picture[..., 0] == 255) & (picture[..., 1] == 255) & (picture[..., 2] == 0)).any()
    with pytest.raises(ValueError, match="captions"):
        montage(images, ["a"])
    with pytest.raises(ValueError, match="no images"):
        montage([], [])


def test_eye_labels_round_trip_and_refuse_unknown_labels(tmp_path):
    rows = [{"objID": "0012", "label": "shred"}, {"objID": "7", "label": "unclear"}]
    path = write_eye_labels(tmp_path / "l.csv", rows, ["objID", "label"], comment="two\nlines")
    assert path.read_text().startswith("# two\n# lines\n")
    back = read_eye_labels(path, allowed=REAL_LABELS)
    assert [r["objID"] for r in back] == ["0012", "7"]  # ids stay text
    path.write_text("objID,label\n1,maybe\n")
    with pytest.raises(InputFileError, match="maybe"):
        read_eye_labels(path, allowed=REAL_LABELS)
    with pytest.raises(InputFileError, match="cannot read"):
        read_eye_labels(tmp_path / "missing.csv", allowed=REAL_LABELS)


def test_sky_split_keeps_neighbours_together_and_ignores_order():
    rng = np.random.default_rng(0)
    ra = rng.uniform(0, 360, 3000)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 3000)))
    ra[1], dec[1] = ra[0] + 3 / 60 / np.cos(np.radians(dec[0])), dec[0]  # 3' apart
    split = sky_split(ra, dec)
    groups = sky_groups(ra, dec)
    assert groups[0] == groups[1] and split[0] == split[1]
    fractions = {s: split.count(s) / len(split) for s in ("train", "calibration", "test")}
    assert fractions["train"] == pytest.approx(0.45, abs=0.04)
    assert fractions["calibration"] == pytest.approx(0.2, abs=0.04)
    order = rng.permutation(3000)
    shuffled = sky_split(ra[order], dec[order])
    assert [shuffled[k] for k in np.argsort(order)] == split
    assert sky_split(np.zeros(0), np.zeros(0)) == []


def test_real_examples_keep_shreds_and_galaxies_of_the_asked_splits(real_data):
    labels, images = real_data
    train = load_real_shred_examples(labels, images, progress=False)
    assert len(train) == 20 and train.labels.sum() == 10  # star and unclear left out
    assert set(train.kinds) == {"real shred", "real galaxy"}
    assert len(np.unique(train.groups)) == 10  # a pair shares its sky group
    both = load_real_shred_examples(labels, images, splits=("calibration", "test"),
                                    progress=False)
    assert len(both) == 40 and not set(both.ids) & set(train.ids)
    with pytest.raises(ValueError, match="unknown splits"):
        load_real_shred_examples(labels, images, splits=("validation",), progress=False)
    with pytest.raises(InputFileError, match="unreadable"):
        load_real_shred_examples(labels, images.parent, progress=False)


def test_isophote_rule_flags_a_knot_on_a_big_disc_not_a_centred_galaxy():
    rng = np.random.default_rng(1)
    shred = isophote_shred_rule(_cutout(True, rng))
    galaxy = isophote_shred_rule(_cutout(False, rng))
    assert shred.is_shred and shred.score > 0 and 20 < shred.host_offset_px < 40
    assert not galaxy.is_shred and galaxy.score == 0
    empty = isophote_shred_rule(np.full((64, 64), 0.1, np.float32)
                                + 0.01 * rng.standard_normal((64, 64)).astype(np.float32))
    assert not empty.is_shred
    with pytest.raises(ValueError, match="cutout"):
        isophote_shred_rule(np.zeros((4, 4, 4, 3)))


def test_bootstrap_interval_brackets_the_auc():
    rng = np.random.default_rng(2)
    labels = rng.random(300) < 0.3
    scores = labels + rng.normal(0, 0.8, 300)
    low, high = bootstrap_auc_interval(scores, labels, n_resamples=300)
    assert low < roc_auc(scores, labels) < high and high - low < 0.2
    assert np.isnan(bootstrap_auc_interval(scores, np.zeros(300, bool))[0])


def test_metadata_keeps_named_calibrations_and_reads_old_files():
    metadata = ShredMetadata(TINY_SHREDNET, calibration=(2.0, -1.0),
                             calibrations={"real": (2.0, -1.0), "simulated": (1.0, 0.0)},
                             calibration_name="real")
    back = ShredMetadata.from_json(metadata.to_json())
    assert back == metadata
    simulated = back.with_calibration("simulated")
    assert simulated.calibration == (1.0, 0.0) and simulated.calibration_name == "simulated"
    with pytest.raises(ValueError, match="no 'sdss' calibration"):
        back.with_calibration("sdss")
    old = json.loads(metadata.to_json())
    del old["calibrations"], old["calibration_name"]
    read = ShredMetadata.from_json(json.dumps(old))
    assert read.calibrations == {"simulated": (2.0, -1.0)}


def test_training_with_real_labels_fine_tunes_and_calibrates_on_the_calibration_split(
        shred_data, real_data, tiny_shred_model_path, tmp_path):
    labels, images = real_data
    config = ShredTrainConfig(model=TINY_SHREDNET, n_folds=2, batch_size=16, max_epochs=2,
                              learning_rate=3e-3, init_from=str(tiny_shred_model_path))
    path = tmp_path / "real.pt"
    result = train_shred_classifier(shred_data, path, config, real_labels=labels,
                                    real_images=images, real_repeat=3, device="cpu",
                                    progress=False, log=lambda _: None)
    assert set(result.calibrations) == {"real", "simulated"}
    _, metadata = load_shred_classifier(path)
    assert metadata.calibration_name == "real"
    assert metadata.calibration == pytest.approx(result.calibrations["real"])
    real = metadata.training["real"]
    assert (real["n_train"], real["repeat"], real["n_calibration"]) == (20, 3, 20)
    assert metadata.training["n_detections"] == 48  # simulated count, not the repeats
    assert metadata.training["config"]["init_from"] == str(tiny_shred_model_path)
    # the two calibrations give different probabilities for the same cutouts
    cutouts = load_real_shred_examples(labels, images, splits=("test",),
                                       progress=False).images
    p_real = ShredClassifier.from_file(path, device="cpu").predict_proba(cutouts)
    p_sim = ShredClassifier.from_file(path, device="cpu",
                                      calibration="simulated").predict_proba(cutouts)
    assert not np.allclose(p_real, p_sim)
    with pytest.raises(ValueError, match="go together"):
        train_shred_classifier(shred_data, path, config, real_labels=labels,
                               progress=False, log=lambda _: None)
    wrong_count = ShredTrainConfig(model=TINY_SHREDNET, n_folds=3,
                                   init_from=str(tiny_shred_model_path))
    with pytest.raises(ValueError, match="starting networks"):
        train_shred_classifier(shred_data, tmp_path / "w.pt", wrong_count, device="cpu",
                               progress=False, log=lambda _: None)


def test_evaluate_real_cli_reports_baseline_interval_and_worst_errors(
        real_data, tiny_shred_model_path, tmp_path, capsys):
    from galseg.cli.main import main

    labels, images = real_data
    out = tmp_path / "eval"
    assert main(["evaluate", "shreds", "--real-labels", str(labels), "--real-images",
                 str(images), "--model", str(tiny_shred_model_path), "--out", str(out),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "isophote rule" in text and "95% bootstrap" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 20 and metrics["setup"]["split"] == "test"
    assert metrics["auc_low"] <= metrics["auc"] <= metrics["auc_high"]
    # the rule separates these synthetic shreds perfectly
    assert metrics["classical_isophote_rule"]["auc"] == pytest.approx(1.0)
    for name in ("predictions.csv", "roc.png", "reliability.png", "worst_errors.png"):
        assert (out / name).is_file()
    with open(out / "predictions.csv", newline="") as handle:
        assert {"sky_group", "classical_score"} <= set(next(csv.reader(handle)))
    with pytest.raises(SystemExit, match="either --data"):
        main(["evaluate", "shreds", "--data", str(tmp_path), "--real-labels", str(labels),
              "--real-images", str(images), "--out", str(out)])


def test_shreds_cli_refuses_an_unknown_calibration(real_data, tiny_shred_model_path, tmp_path,
                                                   capsys):
    from galseg.cli.main import main

    labels, images = real_data
    code = main(["shreds", str(labels), "--images", str(images), "--id-column", "objID",
                 "--model", str(tiny_shred_model_path), "--calibration", "real",
                 "--out", str(tmp_path / "o.csv"), "--quiet"])
    assert code == 2 and "no 'real' calibration" in capsys.readouterr().err


@pytest.mark.real_data
def test_committed_eye_labels_cover_the_legacy_cutouts():
    root = Path(__file__).resolve().parents[1]
    rows = read_eye_labels(root / "eye_labels" / "legacy_shreds.csv", allowed=REAL_LABELS)
    data = root.parent / "shared" / "data" / "legacy_cutouts"
    if not data.is_dir():
        pytest.skip("../shared/data/legacy_cutouts is absent")
    from astropy.table import Table

    catalog = Table.read(data / "catalog.fits")
    assert {r["objID"] for r in rows} == {str(v) for v in catalog["objID"]}
    # the committed splits are the ones sky_split gives for the catalog's positions
    split = dict(zip((str(v) for v in catalog["objID"]),
                     sky_split(np.asarray(catalog["ra"], float),
                               np.asarray(catalog["dec"], float)), strict=True))
    differ = [r["objID"] for r in rows if r["split"] != split[r["objID"]]]
    assert differ == []
