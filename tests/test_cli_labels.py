"""The ``galseg labels`` command."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from _gz3d_files import SIZE, polygons_json, rows, write_release_file
from galseg.cli.main import main
from galseg.data.gz3d import gz3d_wcs
from galseg.data.maps import read_vote_maps_fits, read_vote_maps_png
from galseg.errors import InputFileWarning

SQUARE = [(10, 10), (30, 10), (30, 30), (10, 30)]
INNER = [(15, 15), (25, 15), (25, 25), (15, 25)]


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    ids = [1, 2, 3]
    good_a = write_release_file(
        folder / "gz3d_a_127_1.fits.gz",
        spiral_rows=rows(ids, [polygons_json(SQUARE), polygons_json(INNER), "[]"]),
        bar_rows=rows(ids, [polygons_json(INNER), "[]", "[]"]),
    )
    good_b = write_release_file(
        folder / "gz3d_b_127_2.fits", spiral_rows=rows(ids), bar_rows=rows(ids)
    )
    broken = write_release_file(
        folder / "gz3d_c_127_3.fits.gz", spiral_rows=rows([1], ["[[[1.0, 2.0]"])
    )
    return good_a, good_b, broken


def test_batch_goes_on_after_a_bad_file(tmp_path, inputs, capsys):
    good_a, good_b, broken = inputs
    out = tmp_path / "out"
    status = main(
        ["labels", str(good_a), str(broken), str(good_b), "--out", str(out), "--png",
         "--thresholds", "1", "2"]
    )  # fmt: skip
    assert status == 1
    err = capsys.readouterr().err
    assert f"error: {broken}: HDU 9 row 0 column 'spiral_paths' holds invalid JSON" in err
    assert "2 of 3 files" in err and "1 failed" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "gz3d_a_127_1_bar.png", "gz3d_a_127_1_spiral.png", "gz3d_a_127_1_votes.fits",
        "gz3d_b_127_2_bar.png", "gz3d_b_127_2_spiral.png", "gz3d_b_127_2_votes.fits",
    ]  # fmt: skip

    maps = read_vote_maps_fits(out / "gz3d_a_127_1_votes.fits")
    assert maps.n_spiral_volunteers == 3 and maps.shape == (SIZE, SIZE)
    assert maps.spiral_count[20, 20] == 2 and maps.spiral_count[12, 12] == 1
    assert maps.bar_vote_fraction[20, 20] == np.float32(1 / 3)
    assert np.array_equal(read_vote_maps_png(out / "gz3d_a_127_1").spiral_count, maps.spiral_count)
    with fits.open(out / "gz3d_a_127_1_votes.fits") as hdul:
        assert hdul["SPIRAL_MASK_TH2"].data.sum() == 100
        assert hdul["SPIRAL_VOTE_FRACTION"].header["CTYPE1"] == "RA---TAN"


def test_all_good_exits_zero(tmp_path, inputs, capsys):
    good_a, good_b, _ = inputs
    assert main(["labels", str(good_a), str(good_b), "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "error" not in err and "2 of 2 files" in err


def test_missing_file_and_duplicate_names(tmp_path, inputs, capsys):
    good_a, _, _ = inputs
    copy = tmp_path / good_a.name
    copy.write_bytes(good_a.read_bytes())
    missing = tmp_path / "absent.fits.gz"
    status = main(["labels", str(good_a), str(copy), str(missing), "--out", str(tmp_path / "o")])
    assert status == 1
    err = capsys.readouterr().err
    assert f"error: {missing}: file does not exist" in err
    assert f"error: {copy}: same output name gz3d_a_127_1_votes.fits as {good_a}" in err


def test_match_resamples_onto_reference(tmp_path, inputs):
    good_a, _, _ = inputs
    wcs = gz3d_wcs((16, 20), 150.125, 2.25, pixscale_arcsec=0.262)
    fits.PrimaryHDU(np.zeros((16, 20), np.float32), header=wcs.to_header()).writeto(
        tmp_path / "ref.fits"
    )
    out = tmp_path / "out"
    status = main(
        ["labels", str(good_a), "--out", str(out), "--match", str(tmp_path / "ref.fits"),
         "--thresholds", "1"]
    )  # fmt: skip
    assert status == 0
    maps = read_vote_maps_fits(out / "gz3d_a_127_1_votes.fits")
    assert maps.shape == (16, 20) and not maps.counts_are_integer
    assert np.allclose(maps.wcs.wcs.crval, wcs.wcs.crval)
    assert 0 < maps.spiral_vote_fraction.max() <= 1


def test_bad_reference_stops_before_the_batch(tmp_path, inputs, capsys):
    good_a, _, _ = inputs
    out = tmp_path / "out"
    status = main(["labels", str(good_a), "--out", str(out), "--match", str(tmp_path / "no.fits")])
    assert status == 1
    assert f"error: {tmp_path / 'no.fits'}: file does not exist" in capsys.readouterr().err
    assert not out.exists()


def test_thresholds_must_be_positive(tmp_path, inputs, capsys):
    with pytest.raises(SystemExit):
        main(["labels", str(inputs[0]), "--out", str(tmp_path), "--thresholds", "0"])
    assert "thresholds are at least 1 vote" in capsys.readouterr().err


def test_centre_star_table_lacking_columns_only_warns(tmp_path, inputs):
    # vote maps need HDUs 9 and 10 only; HDU 8 without time_stamp and star_points is read
    good_a = inputs[0]
    partial = tmp_path / "gz3d_a_127_9.fits"
    with fits.open(good_a) as hdul:
        hdul[8] = fits.BinTableHDU.from_columns(
            [fits.Column("classification_id", "K", array=[1, 2, 3]),
             fits.Column("center_points", "20A", array=["[]", "[]", "[]"])])
        hdul.writeto(partial)
    out = tmp_path / "out"
    with pytest.warns(InputFileWarning, match=r"HDU 8 lacks column\(s\) time_stamp, star_points"):
        status = main(["labels", str(good_a), str(partial), "--out", str(out)])
    assert status == 0
    complete = read_vote_maps_fits(out / "gz3d_a_127_1_votes.fits")
    maps = read_vote_maps_fits(out / "gz3d_a_127_9_votes.fits")
    assert maps.n_spiral_volunteers == complete.n_spiral_volunteers == 3
    assert np.array_equal(maps.spiral_count, complete.spiral_count)
    assert np.array_equal(maps.bar_count, complete.bar_count)
