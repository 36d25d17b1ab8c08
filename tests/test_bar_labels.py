"""Bar labels by eye: the table, its fixed split, the labelling figures, Stellarium textures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from galseg.data.bar_labels import (
    BAR_LABELS_PATH,
    bar_label_image_path,
    bar_label_split,
    crop_box,
    labelling_figure,
    read_bar_labels,
    write_bar_labels,
)
from galseg.data.stellarium import catalogue_designation, read_stellarium_textures
from galseg.errors import InputFileError


def test_committed_labels_read_and_hold_both_kinds_in_both_splits():
    table = read_bar_labels(BAR_LABELS_PATH)
    assert set(table["label"]) == {"bar", "nobar", "unclear"}
    for split in ("train", "test"):
        part = table[table["split"] == split]
        assert (part["label"] == "bar").sum() >= 5 and (part["label"] == "nobar").sum() >= 5
    bars = table[table["label"] == "bar"]
    assert np.all(bars["length_px"] > 5)
    assert np.isnan(table[table["label"] != "bar"]["length_px"]).all()
    # ids stay strings (long objIDs must not become floats)
    assert all(len(i) >= 3 for i in table["id"])


def test_split_is_fixed_by_the_id():
    assert bar_label_split("legacy", "123") == bar_label_split("legacy", "123")
    splits = [bar_label_split("legacy", str(i)) for i in range(400)]
    assert 0.4 < splits.count("test") / 400 < 0.6


def test_write_and_read_back(tmp_path):
    rows = [dict(id="n1300", source="stellarium", label="bar", x1=1, y1=2, x2=11, y2=2),
            dict(id="0042", source="legacy", label="nobar", note='a "quoted", note'),
            dict(id="7", source="gz1_sdss", label="unclear")]
    table = write_bar_labels(rows, tmp_path / "labels.csv")
    assert list(table["id"]) == ["7", "0042", "n1300"]
    bar = table[table["id"] == "n1300"][0]
    assert bar["length_px"] == pytest.approx(10.0)
    assert table[table["id"] == "0042"][0]["note"] == 'a "quoted", note'


@pytest.mark.parametrize(("row", "message"), [
    ("1,legacy,bar,1,2,,,{split},", "both end points"),
    ("1,legacy,nobar,1,2,3,4,{split},", "end points given"),
    ("1,hubble,bar,1,2,3,4,{split},", "source must be"),
    ("1,legacy,maybe,,,,,{split},", "not among"),
    ("1,legacy,nobar,,,,,{other},", "fixed split"),
])
def test_bad_rows_are_refused(tmp_path, row, message):
    split = bar_label_split("legacy", "1")
    other = "train" if split == "test" else "test"
    path = tmp_path / "bad.csv"
    path.write_text("id,source,label,x1,y1,x2,y2,split,note\n"
                    + row.format(split=split, other=other) + "\n")
    with pytest.raises(InputFileError, match=message):
        read_bar_labels(path)


def test_repeated_and_missing_columns_are_refused(tmp_path):
    split = bar_label_split("legacy", "1")
    path = tmp_path / "twice.csv"
    path.write_text("id,source,label,x1,y1,x2,y2,split,note\n"
                    + f"1,legacy,nobar,,,,,{split},\n" * 2)
    with pytest.raises(InputFileError, match="twice"):
        read_bar_labels(path)
    path.write_text("id,source,label\n1,legacy,nobar\n")
    with pytest.raises(InputFileError, match="no column"):
        read_bar_labels(path)


def test_image_paths(tmp_path):
    assert bar_label_image_path("legacy", "9", data_root=tmp_path).name == "9_grz.png"
    assert bar_label_image_path("gz1_sdss", "9", data_root=tmp_path).name == "9.jpeg"
    assert bar_label_image_path("stellarium", "n1", data_root=tmp_path,
                                stellarium_root=tmp_path).name == "n1.png"
    with pytest.raises(ValueError, match="stellarium_root"):
        bar_label_image_path("stellarium", "n1", data_root=tmp_path)


def test_crop_box_stays_inside():
    assert crop_box((100, 80), None, None) == (0, 0, 80, 100)
    assert crop_box((100, 80), (5, 5), 40) == (0, 0, 40, 40)
    assert crop_box((100, 80), (79, 99), 40) == (40, 60, 80, 100)


def test_labelling_figure_is_written(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (64, 48, 3), dtype=np.uint8) for _ in range(3)]
    path = labelling_figure(images, ["a", "b", "c"], tmp_path / "page.png",
                            boxes=[None, (8, 8, 40, 40), None], bars=[(4, 4, 20, 30), None, None],
                            ncols=2)
    from PIL import Image

    with Image.open(path) as image:
        assert image.size[0] > 200 and image.size[1] > 200


def test_a_figure_to_look_at_has_no_grid_or_ticks():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from galseg.data.bar_labels import _draw_tile

    rgb = np.zeros((40, 40, 3), np.uint8)
    fig, (plain, gridded) = plt.subplots(1, 2)
    _draw_tile(plain, rgb, "plain", origin=(0, 0), grid_step=None)
    _draw_tile(gridded, rgb, "grid", origin=(0, 0), grid_step=16)
    assert len(plain.get_xticks()) == 0 and len(plain.lines) == 0
    assert len(gridded.get_xticks()) > 0 and len(gridded.lines) > 0
    plt.close(fig)


def test_stellarium_textures_are_read_leniently(tmp_path):
    text = """{
 "shortName": "Nebulae",
 "subTiles" : [
  {"imageCredits": {"short": "ESO"}, "imageUrl": "n1300.png",
   "worldCoords": [[[49.95, -19.45], [49.85, -19.45], [49.85, -19.35], [49.95, -19.35]]],
   "textureCoords": [[[0,0], [1,0], [1,1], [0,1]]]},
  {"imageUrl": "m2.png", "worldCoords": [[[323.4989,-.9794], [323.22,-.9794],
   [323.2201,-.6994], [323.499,-.6994]]],},
  {"imageUrl": "barnard22.png", "worldCoords": [[[1, 1], [2, 1], [2, 2], [1, 2]]]},
  {"imageUrl": "n4038-9.png", "worldCoords": [[[1, 1], [2, 1], [2, 2], [1, 2]]]}
 ]
}"""
    (tmp_path / "textures.json").write_text(text)
    table = read_stellarium_textures(tmp_path)
    assert list(table["designation"]) == ["NGC 1300"]
    assert table["ra"][0] == pytest.approx(49.9, abs=1e-3)
    assert table["dec"][0] == pytest.approx(-19.4, abs=1e-3)
    assert table["width_arcmin"][0] == pytest.approx(6.0 * np.cos(np.deg2rad(19.45)), rel=0.01)
    assert table["credit"][0] == "ESO"
    with_messier = read_stellarium_textures(tmp_path / "textures.json", include_messier=True)
    assert list(with_messier["designation"]) == ["NGC 1300", "M 2"]
    (tmp_path / "bad.json").write_text(json.dumps({"nothing": []}))
    with pytest.raises(InputFileError, match="subTiles"):
        read_stellarium_textures(tmp_path / "bad.json")


def test_catalogue_designation():
    assert catalogue_designation("n2903oleg.png") == "NGC 2903"
    assert catalogue_designation("ic342.png") == "IC 342"
    assert catalogue_designation("n185-dss.png") == "NGC 185"
    assert catalogue_designation("n4038-9.png") is None
    assert catalogue_designation("m31.png") is None


def _label_bars_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "scripts" / "label_bars.py"
    spec = importlib.util.spec_from_file_location("label_bars", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_label_bars_notes_build_and_figures(tmp_path):
    script = _label_bars_script()
    notes = tmp_path / "notes.txt"
    notes.write_text("# notes\nlegacy 11 bar 10 20 30 20 clear bar\nlegacy 12 nobar\n"
                     "legacy 13 unclear - - - - faint\nlegacy 12 unclear - - - - changed\n")
    out = tmp_path / "labels.csv"
    script.main(["build", "--notes", str(notes), "--out", str(out)])
    table = read_bar_labels(out)
    assert dict(zip(table["id"], table["label"], strict=True)) == {
        "11": "bar", "12": "unclear", "13": "unclear"}
    assert table[table["id"] == "13"][0]["note"] == "faint"
    # montages and zooms of images lying where the helper looks for them
    images = tmp_path / "data" / "legacy_cutouts" / "images"
    images.mkdir(parents=True)
    from PIL import Image

    for image_id in ("11", "12", "13"):
        Image.fromarray(np.full((64, 64, 3), 40, np.uint8)).save(images / f"{image_id}_grz.png")
    script.main(["--data", str(tmp_path / "data"), "montage", "--source", "legacy", "--ids",
                 "11", "12:30,30,32", "--out", str(tmp_path / "pages")])
    assert (tmp_path / "pages" / "legacy_00.png").is_file()
    script.main(["--data", str(tmp_path / "data"), "zoom", "--source", "legacy", "--id", "11",
                 "--out", str(tmp_path / "zoom.png")])
    script.main(["--data", str(tmp_path / "data"), "check", "--labels", str(out), "--out",
                 str(tmp_path / "check")])
    assert (tmp_path / "zoom.png").is_file() and (tmp_path / "check" / "check_bar_00.png").is_file()
    with pytest.raises(SystemExit):
        notes.write_text("legacy 14 bar 1 2\n")
        script.main(["build", "--notes", str(notes), "--out", str(out)])
