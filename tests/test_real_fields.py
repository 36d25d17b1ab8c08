"""Eye marks, marking tiles, composed GZ1 fields and the real-field scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from PIL import Image

from galseg.data.detection_examples import read_detection_examples
from galseg.data.gz1 import gz1_split
from galseg.data.gz1_fields import compose_gz1_field, write_gz1_field_examples
from galseg.evaluate.real_fields import match_marks, score_field, summarize
from galseg.labels.eye_marks import check_marks, marking_tiles, read_marks, write_marks

MARKS_CSV = Path(__file__).parents[1] / "benchmarks" / "real_field_marks.csv"


def _marks(rows):
    return Table(rows=rows, names=("field", "id", "x", "y", "size_px", "class", "part", "note"))


def test_marks_round_trip_and_errors(tmp_path):
    marks = _marks([("f", 1, 10.0, 12.0, 20.0, "Spiral", "tune", ""),
                    ("f", 2, 40.0, 42.0, 16.0, "unclear", "test", "a note")])
    write_marks(marks, tmp_path / "m.csv")
    back = read_marks(tmp_path / "m.csv")
    assert list(back["class"]) == ["spiral", "unclear"]
    assert list(back["note"]) == ["", "a note"]
    with pytest.raises(ValueError, match="class 'bar'"):
        check_marks(_marks([("f", 1, 1.0, 1.0, 20.0, "bar", "tune", "")]))
    with pytest.raises(ValueError, match="part"):
        check_marks(_marks([("f", 1, 1.0, 1.0, 20.0, "spiral", "train", "")]))
    with pytest.raises(ValueError, match="positive size"):
        check_marks(_marks([("f", 1, 1.0, 1.0, 0.0, "spiral", "tune", "")]))
    with pytest.raises(ValueError, match="repeats"):
        check_marks(_marks([("f", 1, 1.0, 1.0, 20.0, "spiral", "tune", ""),
                            ("f", 1, 5.0, 1.0, 20.0, "spiral", "tune", "")]))


def test_committed_marks_are_valid():
    marks = read_marks(MARKS_CSV)
    assert {"hdf", "m51_kpno_B", "m101", "m83", "m61"} <= set(marks["field"])
    hdf = marks[marks["field"] == "hdf"]
    # The deep field's parts are its halves: tune left of column 500.
    assert np.all((hdf["x"] < 500) == (hdf["part"] == "tune"))


def test_marking_tiles_cover_the_picture_and_draw_marks():
    rgb = np.zeros((120, 90, 3), np.uint8)
    marks = _marks([("f", 1, 45.0, 60.0, 20.0, "elliptical", "tune", "")])
    tiles = list(marking_tiles(rgb, tile=50, zoom=2, overlap=10, marks=marks))
    assert {(t.x0, t.y0) for t in tiles} == {(x, y) for x in (0, 40) for y in (0, 40, 80)}
    first = tiles[0]
    assert first.image.size == (50 * 2 + 34, 50 * 2 + 34)
    # The mark (orange) is drawn on the tile holding it, not on a far one.
    holding = next(t for t in tiles if (t.x0, t.y0) == (40, 40))
    far = next(t for t in tiles if (t.x0, t.y0) == (0, 80))
    orange = np.array([255, 170, 60])
    assert (np.asarray(holding.image) == orange).all(axis=2).any()
    assert not (np.asarray(far.image) == orange).all(axis=2).any()


def test_match_marks_position_size_and_one_to_one():
    marks = _marks([("f", 1, 50.0, 50.0, 40.0, "spiral", "tune", ""),
                    ("f", 2, 100.0, 100.0, 20.0, "elliptical", "tune", "")])
    xy = np.array([[52.0, 50.0],     # finds mark 1 (within 12 px, size ratio 1)
                   [51.0, 50.0],     # a knot at the centre: too small for mark 1
                   [100.0, 108.0],   # 8 px off a 20 px mark: beyond 6 px
                   [100.0, 101.0]])  # finds mark 2
    sizes = np.array([38.0, 8.0, 20.0, 18.0])
    assert list(match_marks(xy, sizes, marks)) == [0, 3]
    assert list(match_marks(np.zeros((0, 2)), np.zeros(0), marks)) == [-1, -1]


def test_score_field_purity_rules():
    marks = _marks([("f", 1, 50.0, 50.0, 40.0, "spiral", "tune", ""),
                    ("f", 2, 150.0, 50.0, 20.0, "unclear", "tune", ""),
                    ("f", 3, 250.0, 50.0, 20.0, "elliptical", "tune", ""),
                    ("f", 4, 250.0, 150.0, 12.0, "star", "tune", "")])
    xy = np.array([[50.0, 50.0], [60.0, 60.0], [152.0, 52.0], [300.0, 300.0],
                   [200.0, 200.0], [250.0, 151.0]])
    sizes = np.array([40.0, 12.0, 60.0, 30.0, 5.0, 12.0])
    p = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.5])
    score = score_field("f", marks, xy, sizes, p)
    # the last one finds the star: neutral, since purity is of galaxies
    assert list(score.detections["status"]) == ["match", "false", "neutral", "false",
                                                "small", "neutral"]
    summary = summarize([score])
    assert summary["completeness"]["all"] == {"n": 3, "found": 1, "completeness": 1 / 3}
    assert summary["completeness"][">=30 px"]["found"] == 1
    assert summary["completeness"]["15-30 px"] == {"n": 2, "found": 0, "completeness": 0.0}
    assert summary["purity"]["purity"] == pytest.approx(1 / 3)
    assert summary["class"]["spiral"] == 1.0


def _gz1_folder(root: Path, n: int = 6) -> list[str]:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    yy, xx = np.mgrid[:120, :120]
    ids = []
    for i in range(n):
        sky = rng.normal(20, 3, (120, 120, 3))
        galaxy = 200 * np.exp(-np.hypot(xx - 60, (yy - 60) * (1 + 0.2 * i)) / 6.0)
        picture = np.clip(sky + galaxy[..., None], 0, 255).astype(np.uint8)
        objid = f"{1000 + i}"
        Image.fromarray(picture).save(root / "images" / f"{objid}.jpeg", quality=95)
        ids.append(objid)
    Table({"objid": ids, "gz1_class": [(0, 1, 2, 3, 0, 1)[i % 6] for i in range(n)]}).write(
        root / "labels.csv", format="ascii.csv")
    return ids


def test_compose_gz1_field_marks_what_it_pastes(tmp_path):
    ids = _gz1_folder(tmp_path)
    field = compose_gz1_field(tmp_path, ids[:3], seed=1, shape=(256, 256), n_donors=2,
                              size_range=(20.0, 40.0), field="c1", part="test")
    assert field.rgb.shape == (256, 256, 3) and field.rgb.dtype == np.uint8
    marks = check_marks(field.marks)
    assert len(marks) == 3 and set(marks["part"]) == {"test"}
    assert list(field.marks["objid"]) == ids[:3]
    assert np.all((marks["size_px"] >= 20) & (marks["size_px"] <= 40))
    grey = field.rgb.astype(float).mean(axis=2)
    sky = np.median(grey)
    for row in marks:  # each mark sits on a bright galaxy, well above the sky
        assert grey[round(row["y"]), round(row["x"])] > sky + 60
    again = compose_gz1_field(tmp_path, ids[:3], seed=1, shape=(256, 256), n_donors=2,
                              size_range=(20.0, 40.0), field="c1", part="test")
    assert np.array_equal(field.rgb, again.rgb)


def test_composed_training_fields_use_one_split_and_resume(tmp_path):
    gz1 = tmp_path / "gz1"
    ids = _gz1_folder(gz1, n=30)
    train = {i for i in ids if gz1_split(i) == "train"}
    assert 0 < len(train) < len(ids)  # the fixture has galaxies of both splits
    out = tmp_path / "fields"
    first = write_gz1_field_examples(gz1, out, 3, seed=4, shape=(160, 160),
                                     size_range=(12.0, 40.0), galaxies_per_field=4,
                                     progress=False)
    assert len(first) == 3
    objects = first.objects
    assert {str(o) for o in objects["objid"]} <= train  # never a test galaxy
    assert set(objects["class"]) <= {"spiral", "elliptical"}
    for example in first:
        masks = example.masks()
        assert masks.shape == (len(example.objects), 160, 160) and masks.any(axis=(1, 2)).all()
        for row, mask in zip(example.objects, masks, strict=True):
            assert mask[round(row["y"]), round(row["x"])]  # the centre lies on its mask
        assert example.rgb().shape == (160, 160, 3)
    # A killed run resumes: a field whose masks are gone is made again, the same.
    image = (out / "images" / "f4_000001.png").read_bytes()
    (out / "masks" / "f4_000001.npz").unlink()
    again = write_gz1_field_examples(gz1, out, 3, seed=4, shape=(160, 160),
                                     size_range=(12.0, 40.0), galaxies_per_field=4,
                                     progress=False)
    assert (out / "images" / "f4_000001.png").read_bytes() == image
    assert list(again.objects["objid"]) == list(objects["objid"])
    assert len(read_detection_examples(out)) == 3


def test_catalogue_without_classes_has_no_class_score():
    marks = _marks([("f", 1, 50.0, 50.0, 40.0, "spiral", "tune", "")])
    summary = summarize([score_field("f", marks, np.array([[50.0, 50.0]]), np.array([40.0]))])
    assert summary["completeness"]["all"]["found"] == 1
    assert summary["class"]["n"] == 0 and np.isnan(summary["class"]["accuracy"])


def test_small_detections_are_judged_in_the_marked_pictures_pixels():
    # A field resampled 2.345x after marking: a 20 px detection there is 8.5 px of the
    # marked picture, below what was marked, so it is not a false one.
    marks = _marks([("f", 1, 50.0, 50.0, 60.0, "spiral", "tune", "")])
    xy, sizes = np.array([[50.0, 50.0], [150.0, 150.0]]), np.array([60.0, 20.0])
    plain = score_field("f", marks, xy, sizes)
    resampled = score_field("f", marks, xy, sizes, marked_pixel_factor=2.345)
    assert list(plain.detections["status"]) == ["match", "false"]
    assert list(resampled.detections["status"]) == ["match", "small"]


def test_small_marks_make_detections_neutral_and_are_never_counted():
    # A galaxy below the marking size, marked `small`: a detection of it is neither
    # found (completeness and purity ignore the mark) nor false.
    marks = _marks([("f", 1, 50.0, 50.0, 40.0, "spiral", "tune", ""),
                    ("f", 2, 150.0, 150.0, 12.0, "small", "tune", "below 15 px")])
    xy = np.array([[50.0, 50.0], [151.0, 150.0], [250.0, 250.0]])
    score = score_field("f", marks, xy, np.array([40.0, 12.0, 12.0]))
    assert list(score.detections["status"]) == ["match", "neutral", "false"]
    summary = summarize([score])
    assert summary["completeness"]["all"] == {"n": 1, "found": 1, "completeness": 1.0}
    assert summary["purity"]["purity"] == 0.5
    assert not score.marks["found"][1]


def test_mark_tiles_drafts_small_galaxies_outside_the_marks_and_draws_them(tmp_path):
    import runpy
    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "mark_tiles.py"))
    draft = _marks([("f", 1, 20.0, 20.0, 12.0, "unclear", "tune", ""),
                    ("f", 2, 52.0, 50.0, 11.0, "unclear", "tune", ""),
                    ("f", 3, 90.0, 15.0, 14.0, "unclear", "tune", "")])
    marks = _marks([("f", 1, 50.0, 50.0, 30.0, "spiral", "tune", "")])
    kept = script["unmarked"](draft, marks)
    assert list(kept["x"]) == [20.0, 90.0] and list(kept["id"]) == [1, 2]
    rgb = np.random.default_rng(0).integers(0, 255, (60, 100, 3), dtype=np.uint8)
    sheets = script["montage"](rgb, kept, tmp_path, "f", per_sheet=1)
    assert [p.name for p in sheets] == ["f_candidates_1.png", "f_candidates_2.png"]
    with Image.open(sheets[0]) as sheet:
        assert sheet.size == (8 * 164, 164)


def test_mark_tiles_montage_takes_float_pictures_as_the_frames_are_read(tmp_path):
    # read_image gives float RGB in [0, 1] for the nearby-galaxy frames; the squares must
    # show them as the tiles do (this used to raise in PIL)
    import runpy
    script = runpy.run_path(str(Path(__file__).parents[1] / "scripts" / "mark_tiles.py"))
    rgb = np.zeros((60, 100, 3), np.float32)
    rgb[28:33, 48:53] = 1.0
    draft = _marks([("f", 1, 50.0, 30.0, 8.0, "unclear", "tune", "")])
    (sheet_path,) = script["montage"](rgb, draft, tmp_path, "f", half_width=10, cell=20)
    with Image.open(sheet_path) as sheet:
        square = np.asarray(sheet.convert("RGB"))[:20, :20]
    assert square[10, 10].tolist() == [255, 255, 255]
    assert square[1, 18].tolist() == [0, 0, 0]
