"""galseg shreds: catalogs in, the same catalogs out with p_shred, is_shred and shred_flag."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
import torch
from astropy import units as u
from astropy.io import fits
from astropy.table import MaskedColumn, Table
from astropy.wcs import WCS
from PIL import Image

from conftest import TINY_SHREDNET
from galseg.cli.main import main
from galseg.data.catalogs import read_catalog, write_catalog
from galseg.data.cutouts import cutout_rgb
from galseg.data.images import read_image
from galseg.errors import GalsegError, InputFileError
from galseg.models.cutout_net import CutoutNet
from galseg.models.weights import ShredMetadata
from galseg.predict.shred_catalog import PARTIAL_SUFFIX, SHRED_COLUMNS, clean_catalog
from galseg.predict.shreds import ShredClassifier

MODEL_PIXSCALE = 0.469


@pytest.fixture(scope="module")
def classifier(tiny_shred_model_path):
    return ShredClassifier.from_file(tiny_shred_model_path, device="cpu", batch_size=8)


def _picture(seed: int, size: int = 128) -> np.ndarray:
    """A smooth random colour picture (uint8)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    planes = [np.sin(rng.uniform(2, 9) * x + rng.uniform(2, 9) * y + rng.uniform(0, 6))
              for _ in range(3)]
    return np.clip(127.5 * (np.stack(planes, axis=2) + 1), 0, 255).astype(np.uint8)


def _save_png(path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(path)


def _wcs(pixscale: float, crpix: tuple[float, float], crval=(150.0, 2.0)) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = list(crval)
    wcs.wcs.crpix = list(crpix)
    wcs.wcs.cdelt = [-pixscale / 3600, pixscale / 3600]
    return wcs


def _band_fits(path, data: np.ndarray, wcs: WCS | None = None) -> None:
    header = wcs.to_header() if wcs is not None else fits.Header()
    header["BUNIT"] = "nanomaggy"
    fits.PrimaryHDU(data.astype(np.float32), header=header).writeto(path)


def _p(classifier: ShredClassifier, rgb: np.ndarray) -> float:
    return float(classifier.predict_proba(np.asarray(rgb, np.float32)[np.newaxis])[0])


def _run(classifier, catalog, out, **kwargs):
    kwargs.setdefault("progress", False)
    return clean_catalog(catalog, out, classifier=classifier, **kwargs)


# --------------------------------------------------------------------------- cutout files


CSV_HEADER = "id,objID,ra,dec,name,mag"


@pytest.fixture
def cutout_files(tmp_path):
    """A CSV catalog and a folder with good and bad cutouts of each kind."""
    images = tmp_path / "images"
    images.mkdir()
    _save_png(images / "0012_grz.png", _picture(1))
    _save_png(images / "0013_grz.png", _picture(2))
    buffer = io.BytesIO()
    Image.fromarray(_picture(3)).save(buffer, format="PNG")
    (images / "0015_grz.png").write_bytes(buffer.getvalue()[:500])  # truncated
    _save_png(images / "0016_grz.png", _picture(4, size=100))  # no scale, not 128
    noise = np.random.default_rng(5).normal(0, 0.01, (128, 128))
    holes = noise.copy()
    holes[:, :52] = np.nan  # 41% NaN: less than min_coverage valid
    _band_fits(images / "0017_grz.png", holes)  # FITS despite the name: read by content
    # 256 px at half the model's pixel scale: resampled (zoom 2) about the centre
    _band_fits(images / "0018_grz.png", np.random.default_rng(6).normal(0, 0.01, (256, 256)),
               _wcs(MODEL_PIXSCALE / 2, (128.0, 128.0)))
    _band_fits(images / "0019_grz.png", np.full((128, 128), np.nan))
    rows = [
        "0012,1237648720693755918,150.100000,2.200000,\"a, b\",19.5",
        "0013,1237648720693755919,150.200000,2.300000,c,",
        "0014,1237648720693755920,150.300000,2.400000,d,20.25",
        "0015,1237648720693755921,150.400000,2.500000,e,21.0",
        "0016,1237648720693755922,150.500000,2.600000,f,18.0",
        "0017,1237648720693755923,150.600000,2.700000,g,17.5",
        "0018,1237648720693755924,150.700000,2.800000,h,16.0",
        "0019,1237648720693755925,150.800000,2.900000,i,15.0",
        ",1237648720693755926,150.900000,3.000000,j,14.0",
    ]
    catalog = tmp_path / "sources.csv"
    catalog.write_text("\n".join([CSV_HEADER, *rows]) + "\n")
    return catalog, images


EXPECTED_FLAGS = ["ok", "ok", "missing_cutout", "unreadable_cutout", "wrong_size",
                  "bad_pixels", "ok", "bad_pixels", "missing_id"]


def test_cutout_files_every_row_kept_and_flagged(classifier, cutout_files, tmp_path):
    catalog, images = cutout_files
    result = _run(classifier, catalog, tmp_path / "out.csv", images_dir=images)
    assert result.n_rows == 9 and result.format == "csv" and result.n_resumed == 0
    assert result.flag_counts == {"ok": 3, "bad_pixels": 2, "missing_cutout": 1,
                                  "unreadable_cutout": 1, "wrong_size": 1, "missing_id": 1}
    assert not (tmp_path / ("out.csv" + PARTIAL_SUFFIX)).exists()

    # the input's cells are unchanged, text for text; three columns are added
    with open(catalog, newline="") as a, open(tmp_path / "out.csv", newline="") as b:
        before, after = list(csv.reader(a)), list(csv.reader(b))
    assert after[0] == before[0] + list(SHRED_COLUMNS)
    assert [row[:6] for row in after[1:]] == before[1:]

    out, _ = read_catalog(tmp_path / "out.csv")
    flags = [f.split(":")[0] for f in out["shred_flag"]]
    assert flags == EXPECTED_FLAGS
    assert out["shred_flag"][3].startswith("unreadable_cutout: ")
    ok = np.array(flags) == "ok"
    assert np.array_equal(out["p_shred"].mask, ~ok) and np.array_equal(out["is_shred"].mask, ~ok)
    assert [row[6] == "" for row in after[1:]] == list(~ok)  # empty CSV cells

    # p_shred is the classifier's on the cutout as the model takes it
    assert out["p_shred"][0] == pytest.approx(_p(classifier, _picture(1) / 255), abs=1e-9)
    big = read_image(images / "0018_grz.png")
    expected = cutout_rgb(big.rgb, 128, 128, size=128, zoom=2.0).rgb
    assert out["p_shred"][6] == pytest.approx(_p(classifier, expected), abs=1e-9)
    assert list(out["is_shred"][ok]) == list(out["p_shred"][ok] >= classifier.threshold)


def _typed_catalog() -> Table:
    table = Table()
    table["objID"] = np.array([1237648720693755918, 1237648720693755919, 7], dtype=np.int64)
    table["ra"] = [150.1, 150.2, 150.3] * u.deg
    table["mag"] = np.array([19.5, np.nan, 21.0], dtype=np.float32)
    table["name"] = ["a", "", "ccc"]
    table["n"] = MaskedColumn([1, 2, 3], mask=[False, True, False], dtype=np.int32)
    table.meta["SURVEY"] = "DR10"
    return table


@pytest.mark.parametrize(("suffix", "out_suffix"), [
    (".fits", ".fits"), (".parquet", ".parquet"), (".ecsv", ".ecsv"), (".csv", ".parquet"),
    (".fits", ".csv"),
])
def test_typed_catalogs_keep_columns_dtypes_and_order(classifier, tmp_path, suffix,
                                                      out_suffix):
    images = tmp_path / "images"
    images.mkdir()
    for k, objid in enumerate([1237648720693755918, 7]):
        _save_png(images / f"{objid}_grz.png", _picture(10 + k))
    table = _typed_catalog()
    catalog = write_catalog(table, tmp_path / f"in{suffix}")
    original, _ = read_catalog(catalog)
    result = _run(classifier, catalog, tmp_path / f"out{out_suffix}", images_dir=images,
                  id_column="objID")
    out, fmt = read_catalog(result.path)
    assert fmt == result.format == out_suffix.lstrip(".")
    assert out.colnames == [*original.colnames, *SHRED_COLUMNS]
    for name in original.colnames:
        a, b = out[name], original[name]
        assert a.dtype.kind == b.dtype.kind, name
        mask = np.ma.getmaskarray(b)
        assert np.array_equal(np.ma.getmaskarray(a), mask), name
        if b.dtype.kind == "f":
            assert np.array_equal(np.ma.getdata(a), np.ma.getdata(b), equal_nan=True)
        else:
            assert list(np.ma.getdata(a)[~mask]) == list(np.ma.getdata(b)[~mask]), name
        if out_suffix != ".csv":
            assert a.unit == b.unit
    assert list(out["objID"]) == [1237648720693755918, 1237648720693755919, 7]
    assert list(out["shred_flag"]) == ["ok", "missing_cutout", "ok"]
    p = out["p_shred"]
    if fmt == "fits":  # no masks in FITS floats: NaN
        assert math.isnan(p[1]) and not out["is_shred"][1]
    else:
        assert p.mask.tolist() == [False, True, False]
        assert out["is_shred"].mask.tolist() == [False, True, False]
    if out_suffix in (".fits", ".parquet", ".ecsv") and suffix != ".csv":
        assert out.meta["SURVEY"] == "DR10"


# --------------------------------------------------------------------------- field mode


FIELD_SHAPE = (300, 320)  # rows, columns


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """A three-band FITS field at the model's scale with a TAN WCS, and its colour image."""
    folder = tmp_path_factory.mktemp("field")
    rng = np.random.default_rng(11)
    ny, nx = FIELD_SHAPE
    y, x = np.mgrid[:ny, :nx]
    data = rng.normal(0, 0.01, (3, ny, nx))
    for cx, cy, flux in [(150, 140, 2.0), (200, 170, 5.0), (60, 250, 1.0)]:
        data += flux * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 4.0**2))
    wcs = _wcs(MODEL_PIXSCALE, (160.5, 150.5))
    header = wcs.to_header()
    header["BUNIT"] = "nanomaggy"
    header["BANDS"] = "grz"
    path = folder / "field.fits"
    fits.PrimaryHDU(data.astype(np.float32), header=header).writeto(path)
    return path, wcs, read_image(path)


FIELD_PIXELS = [(150.3, 140.2), (200.0, 170.0), (10.0, 150.0), (-100.0, 150.0)]


def _field_catalog(tmp_path, wcs: WCS) -> Table:
    ra, dec = wcs.pixel_to_world_values(*np.array(FIELD_PIXELS).T)
    table = Table()
    table["id"] = ["A", "B", "C", "D", "E", "F", "G"]
    table["ra"] = MaskedColumn([*ra, 150.0, 330.0, 150.0], mask=[False] * 7)
    table["dec"] = MaskedColumn([*dec, 2.0, -2.0, 95.0], mask=[False] * 4 + [True] + [False] * 2)
    table["x"] = [*(p[0] for p in FIELD_PIXELS), np.nan, 1e9, 5.0]
    table["y"] = [*(p[1] for p in FIELD_PIXELS), 3.0, 1e9, np.nan]
    return table


def test_field_mode_cuts_at_the_wcs_position(classifier, field, tmp_path):
    path, wcs, image = field
    catalog = write_catalog(_field_catalog(tmp_path, wcs), tmp_path / "cat.ecsv")
    result = _run(classifier, catalog, tmp_path / "out.ecsv", field=path)
    out, _ = read_catalog(result.path)
    assert list(out["shred_flag"]) == ["ok", "ok", "edge", "off_field", "bad_coordinates",
                                       "off_field", "bad_coordinates"]
    # the same cutout written as a PNG (the colour image is 8-bit, so exactly) and given
    # as a cutout file gets the same p_shred
    images = tmp_path / "images"
    images.mkdir()
    for name, (x, y) in zip("AB", FIELD_PIXELS[:2], strict=False):
        row, col = round(y), round(x)
        crop = image.rgb[row - 64:row + 64, col - 64:col + 64]
        _save_png(images / f"{name}_grz.png", np.round(crop * 255).astype(np.uint8))
    files = _run(classifier, catalog, tmp_path / "files.ecsv", images_dir=images)
    from_files, _ = read_catalog(files.path)
    assert np.allclose(from_files["p_shred"][:2], out["p_shred"][:2], rtol=0, atol=1e-9)
    assert list(from_files["shred_flag"]) == ["ok", "ok"] + ["missing_cutout"] * 5
    # (the tiny model's p_shred moves by ~1e-5 when a cutout shifts by a pixel)
    row, col = round(FIELD_PIXELS[0][1]), round(FIELD_PIXELS[0][0]) + 1
    shifted = _p(classifier, image.rgb[row - 64:row + 64, col - 64:col + 64])
    assert abs(shifted - out["p_shred"][0]) > 1e-7


def test_field_mode_pixel_columns_and_pixscale(classifier, field, tmp_path):
    path, wcs, image = field
    picture = tmp_path / "field.png"
    _save_png(picture, np.round(image.rgb * 255).astype(np.uint8))
    catalog = write_catalog(_field_catalog(tmp_path, wcs), tmp_path / "cat.parquet")
    with pytest.raises(InputFileError, match="pixel scale"):
        _run(classifier, catalog, tmp_path / "o.parquet", field=picture, x_column="x",
             y_column="y")
    with pytest.raises(InputFileError, match="WCS"):
        _run(classifier, catalog, tmp_path / "o.parquet", field=picture,
             pixscale_arcsec=MODEL_PIXSCALE)
    xy = _run(classifier, catalog, tmp_path / "xy.parquet", field=picture, x_column="x",
              y_column="y", pixscale_arcsec=MODEL_PIXSCALE)
    radec = _run(classifier, catalog, tmp_path / "radec.parquet", field=path)
    a, _ = read_catalog(xy.path)
    b, _ = read_catalog(radec.path)
    assert list(a["shred_flag"]) == ["ok", "ok", "edge", "off_field", "bad_coordinates",
                                     "off_field", "bad_coordinates"]
    assert np.allclose(a["p_shred"][:2], b["p_shred"][:2], atol=1e-9)
    # at another pixel scale the cutout is resampled: zoom = model / field scale = 2
    half = _run(classifier, catalog, tmp_path / "half.parquet", field=picture, x_column="x",
                y_column="y", pixscale_arcsec=MODEL_PIXSCALE / 2)
    c, _ = read_catalog(half.path)
    expected = cutout_rgb(image.rgb, 150.3, 140.2, size=128, zoom=2.0).rgb
    assert c["p_shred"][0] == pytest.approx(_p(classifier, expected), abs=1e-9)
    assert c["shred_flag"][1] == "ok" and c["shred_flag"][2] == "edge"


# --------------------------------------------------------------------------- options


def test_threshold_override(classifier, cutout_files, tmp_path):
    catalog, images = cutout_files
    default = _run(classifier, catalog, tmp_path / "d.csv", images_dir=images)
    everything = _run(classifier, catalog, tmp_path / "a.csv", images_dir=images, threshold=0.0)
    nothing = _run(classifier, catalog, tmp_path / "n.csv", images_dir=images, threshold=1.0)
    assert default.threshold == classifier.threshold and everything.threshold == 0.0
    assert everything.n_shreds == everything.n_classified == 3 and nothing.n_shreds == 0
    out, _ = read_catalog(tmp_path / "a.csv")
    assert list(out["is_shred"].filled(False)) == [True, True, False, False, False, False,
                                                   True, False, False]
    with pytest.raises(ValueError, match="threshold must be between 0 and 1"):
        _run(classifier, catalog, tmp_path / "x.csv", images_dir=images, threshold=1.5)


def test_existing_shred_columns_refused_unless_overwritten(classifier, cutout_files, tmp_path):
    catalog, images = cutout_files
    first = _run(classifier, catalog, tmp_path / "once.csv", images_dir=images)
    with pytest.raises(GalsegError, match="already has p_shred, is_shred, shred_flag"):
        _run(classifier, first.path, tmp_path / "twice.csv", images_dir=images)
    again = _run(classifier, first.path, tmp_path / "twice.csv", images_dir=images,
                 overwrite_columns=True)
    assert (tmp_path / "twice.csv").read_text() == (tmp_path / "once.csv").read_text()
    assert again.n_rows == 9


def test_option_errors(classifier, cutout_files, field, tmp_path):
    catalog, images = cutout_files
    out = tmp_path / "o.csv"
    with pytest.raises(ValueError, match="either images_dir"):
        _run(classifier, catalog, out)
    with pytest.raises(ValueError, match="either images_dir"):
        _run(classifier, catalog, out, images_dir=images, field=field[0])
    with pytest.raises(GalsegError, match="no id column 'objid'"):
        _run(classifier, catalog, out, images_dir=images, id_column="objid")
    with pytest.raises(GalsegError, match="not a column"):
        _run(classifier, catalog, out, images_dir=images, pattern="{band}/{id}.png")
    with pytest.raises(ValueError, match="positional"):
        _run(classifier, catalog, out, images_dir=images, pattern="{}.png")
    with pytest.raises(ValueError, match="cannot be filled"):
        _run(classifier, catalog, out, images_dir=images, pattern="{name:d}.png")
    with pytest.raises(GalsegError, match="no column 'RA'"):
        _run(classifier, catalog, out, field=field[0], ra_column="RA")
    with pytest.raises(ValueError, match="pixscale_arcsec must be a positive number"):
        _run(classifier, catalog, out, images_dir=images, pixscale_arcsec=-1.0)
    with pytest.raises(ValueError, match="bands must be"):
        _run(classifier, catalog, out, images_dir=images, bands="ugr")
    with pytest.raises(ValueError, match="min_coverage"):
        _run(classifier, catalog, out, images_dir=images, min_coverage=2)
    with pytest.raises(TypeError, match="ShredClassifier"):
        clean_catalog(catalog, out, classifier="model.pt", images_dir=images)


# --------------------------------------------------------------------------- resuming


@pytest.fixture
def many_rows(tmp_path):
    """Ten rows sharing three cutout files (pattern '{file}')."""
    images = tmp_path / "images"
    images.mkdir()
    for k in range(3):
        _save_png(images / f"c{k}.png", _picture(20 + k))
    catalog = tmp_path / "many.csv"
    lines = ["row,file"] + [f"{i},c{i % 3}.png" for i in range(10)]
    catalog.write_text("\n".join(lines) + "\n")
    return catalog, images


def _kill_after(classifier, monkeypatch, n_calls: int) -> list[int]:
    """Make ``predict_proba`` fail on call ``n_calls + 1``; returns the rows seen."""
    original = classifier.predict_proba
    seen: list[int] = []

    def predict(cutouts):
        if len(seen) >= n_calls:
            raise KeyboardInterrupt("killed")
        seen.append(len(cutouts))
        return original(cutouts)

    monkeypatch.setattr(classifier, "predict_proba", predict)
    return seen


def test_killed_run_resumes_without_duplicates(classifier, many_rows, tmp_path, monkeypatch):
    catalog, images = many_rows
    options = dict(images_dir=images, pattern="{file}", chunk_size=3)
    whole = _run(classifier, catalog, tmp_path / "whole.csv", **options)
    out = tmp_path / "out.csv"
    partial = tmp_path / ("out.csv" + PARTIAL_SUFFIX)
    with monkeypatch.context() as patch:
        _kill_after(classifier, patch, 2)
        with pytest.raises(KeyboardInterrupt):
            _run(classifier, catalog, out, **options)
    assert not out.exists() and partial.exists()
    lines = partial.read_text().splitlines()
    assert lines[0].startswith("# galseg shreds progress") and len(lines) == 2 + 6
    with partial.open("a") as handle:
        handle.write("6,0.12")  # a line cut short by the kill
    with monkeypatch.context() as patch:
        seen = _kill_after(classifier, patch, 100)
        result = _run(classifier, catalog, out, **options)
    assert sum(seen) == 4 and result.n_resumed == 6
    assert out.read_text() == (tmp_path / "whole.csv").read_text()
    assert not partial.exists() and whole.n_resumed == 0


def test_stale_or_damaged_progress_files_are_not_used(classifier, many_rows, tmp_path,
                                                      monkeypatch):
    catalog, images = many_rows
    options = dict(images_dir=images, pattern="{file}", chunk_size=4)
    whole = _run(classifier, catalog, tmp_path / "whole.csv", **options)
    out = tmp_path / "out.csv"

    def killed_run() -> None:
        with monkeypatch.context() as patch:
            _kill_after(classifier, patch, 1)
            with pytest.raises(KeyboardInterrupt):
                _run(classifier, catalog, out, **options)

    # another model: the saved rows are not its results
    killed_run()
    torch.manual_seed(1)
    other = ShredClassifier([CutoutNet(TINY_SHREDNET).eval()], ShredMetadata(TINY_SHREDNET),
                            device="cpu")
    notes: list[str] = []
    assert _run(other, catalog, out, log=notes.append, **options).n_resumed == 0
    assert "another catalog, model or settings" in notes[0]
    # the catalog changes: the saved rows belong to other inputs
    killed_run()
    catalog.write_text(catalog.read_text().replace("c0.png", "c2.png"))
    notes.clear()
    result = _run(classifier, catalog, out, log=notes.append, **options)
    assert result.n_resumed == 0 and "another catalog, model or settings" in notes[0]
    _run(classifier, catalog, tmp_path / "fresh.csv", **options)
    assert out.read_text() == (tmp_path / "fresh.csv").read_text()
    before, after = (read_catalog(path)[0]["p_shred"] for path in (whole.path, out))
    assert after[0] == before[2] != before[0]  # row 0 is now c2.png, not the saved c0.png
    # a damaged file also starts over
    partial = tmp_path / ("x.csv" + PARTIAL_SUFFIX)
    partial.write_text("something else\n")
    notes.clear()
    assert _run(classifier, catalog, tmp_path / "x.csv", log=notes.append,
                **options).n_resumed == 0
    assert notes and not partial.exists()


# --------------------------------------------------------------------------- CLI


def test_cli_summary_and_exit_status(tiny_shred_model_path, cutout_files, tmp_path, capsys):
    catalog, images = cutout_files
    args = ["shreds", str(catalog), "--out", str(tmp_path / "out.fits"), "--images",
            str(images), "--model", str(tiny_shred_model_path), "--quiet", "--workers", "1"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "9 rows ->" in printed and "p_shred for 3 rows" in printed
    assert "missing_cutout 1" in printed and "cutouts/s" in printed
    out, fmt = read_catalog(tmp_path / "out.fits")
    assert fmt == "fits" and list(out["id"][:2]) == ["0012", "0013"]
    assert main([*args[:3], str(tmp_path / "t.csv"), *args[4:], "--threshold", "0"]) == 0
    assert "3 flagged as shreds" in capsys.readouterr().out


@pytest.mark.parametrize(("extra", "message"), [
    (["--field", "FIELD"], "either --images"),
    (["--x-column", "x", "--y-column", "y"], "go with --field"),
    (["--id-column", "objid"], "no id column"),
    (["--threshold", "2"], "threshold must be between 0 and 1"),
    (["--model", "MISSING"], "no such model file"),
])
def test_cli_usage_errors(tiny_shred_model_path, cutout_files, field, tmp_path, capsys, extra,
                          message):
    catalog, images = cutout_files
    extra = [field[0].as_posix() if e == "FIELD" else str(tmp_path / "m.pt")
             if e == "MISSING" else e for e in extra]
    args = ["shreds", str(catalog), "--out", str(tmp_path / "o.csv"), "--images", str(images),
            "--model", str(tiny_shred_model_path), "--quiet", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_cli_missing_catalog_and_no_source(tiny_shred_model_path, tmp_path, capsys):
    model = ["--model", str(tiny_shred_model_path)]
    assert main(["shreds", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o.csv"),
                 "--images", str(tmp_path), *model]) == 2
    assert "catalog file does not exist" in capsys.readouterr().err
    (tmp_path / "c.csv").write_text("id\n1\n")
    assert main(["shreds", str(tmp_path / "c.csv"), "--out", str(tmp_path / "o.csv"),
                 *model]) == 2
    assert capsys.readouterr().err.startswith("error: give either --images")
