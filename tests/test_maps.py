"""Lossless vote-map storage: FITS and 16-bit PNG (galseg.data.maps)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from galseg.data.gz3d import gz3d_wcs
from galseg.data.maps import (
    PNG_SCALE,
    label_stem,
    read_reference_grid,
    read_vote_fraction_png,
    read_vote_maps_fits,
    read_vote_maps_png,
    write_vote_fraction_png,
    write_vote_maps_fits,
    write_vote_maps_png,
)
from galseg.errors import InputFileError
from galseg.labels.rasterize import VoteMaps


def every_count(n, shape=(8, 8), seed=0):
    """Counts covering 0..n (every possible vote count) in a random layout."""
    rng = np.random.default_rng(seed)
    counts = np.resize(np.arange(n + 1), shape[0] * shape[1]).astype(np.int32)
    return rng.permutation(counts).reshape(shape)


def make_maps(n_spiral=15, n_bar=15, wcs=True):
    return VoteMaps(
        every_count(n_spiral),
        every_count(n_bar, seed=1),
        n_volunteers={"spiral": n_spiral, "bar": n_bar},
        wcs=gz3d_wcs((8, 8), 150.0, 2.0, pixscale_arcsec=0.262) if wcs else None,
        n_spiral_markers=9,
        n_bar_markers=4,
    )


def assert_same_counts(a: VoteMaps, b: VoteMaps) -> None:
    for feature in ("spiral", "bar"):
        assert np.array_equal(a.count(feature), b.count(feature))
        assert a.count(feature).dtype.kind == b.count(feature).dtype.kind
        assert a.n_voters(feature) == b.n_voters(feature)
        assert a.n_markers(feature) == b.n_markers(feature)


# --------------------------------------------------------------------------------------
# FITS
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_spiral", "n_bar"), [(15, 15), (13, 17), (1, 0), (40, 3)])
def test_fits_round_trip_is_exact(tmp_path, n_spiral, n_bar):
    maps = make_maps(n_spiral, n_bar)
    back = read_vote_maps_fits(write_vote_maps_fits(tmp_path / "g_votes.fits", maps))
    assert_same_counts(maps, back)
    assert np.array_equal(back.spiral_vote_fraction, maps.spiral_vote_fraction)
    assert back.wcs.to_header() == maps.wcs.to_header()


def test_fits_layout(tmp_path):
    maps = make_maps(15, 4)
    path = write_vote_maps_fits(tmp_path / "g_votes.fits", maps, thresholds=[3, 1, 3, 6])
    with fits.open(path) as hdul:
        hdul.verify("exception")
        names = [hdu.name for hdu in hdul]
        assert names == [
            "PRIMARY", "SPIRAL_VOTE_FRACTION", "BAR_VOTE_FRACTION",
            "SPIRAL_MASK_TH1", "BAR_MASK_TH1", "SPIRAL_MASK_TH3", "BAR_MASK_TH3",
            "SPIRAL_MASK_TH6", "BAR_MASK_TH6",
        ]  # fmt: skip
        assert hdul[0].header["NVOTERS"] == 15 and hdul[0].header["COUNTINT"] is True
        spiral = hdul["SPIRAL_VOTE_FRACTION"]
        assert spiral.data.dtype == np.dtype(">f4")
        assert spiral.header["NVOTERS"] == 15 and spiral.header["NMARKERS"] == 9
        assert spiral.header["CTYPE1"] == "RA---TAN"
        assert hdul["BAR_VOTE_FRACTION"].header["NVOTERS"] == 4
        mask = hdul["SPIRAL_MASK_TH3"]
        assert mask.data.dtype == np.uint8 and mask.header["THRESH"] == 3
        assert np.array_equal(mask.data, maps.mask("spiral", 3))
        # Bar has 4 volunteers: no pixel can reach 6 votes.
        assert not hdul["BAR_MASK_TH6"].data.any()


def test_fits_without_wcs_and_with_float_counts(tmp_path):
    count = np.array([[0.0, 1.25], [np.nan, 3.0]])
    maps = VoteMaps(count, count, n_volunteers=3)
    back = read_vote_maps_fits(write_vote_maps_fits(tmp_path / "f.fits", maps))
    assert back.wcs is None and not back.counts_are_integer
    assert np.allclose(back.spiral_count, count, equal_nan=True)
    assert back.n_spiral_markers is None


def test_fits_errors(tmp_path):
    with pytest.raises(InputFileError, match="file does not exist"):
        read_vote_maps_fits(tmp_path / "absent.fits")
    fits.HDUList([fits.PrimaryHDU()]).writeto(tmp_path / "empty.fits")
    with pytest.raises(InputFileError, match="has no SPIRAL_VOTE_FRACTION extension"):
        read_vote_maps_fits(tmp_path / "empty.fits")
    (tmp_path / "text.fits").write_text("not fits" * 400)
    with pytest.raises(InputFileError, match="not a readable FITS file"):
        read_vote_maps_fits(tmp_path / "text.fits")
    # A cut-off file is refused, not read with its missing pixels padded as zeros.
    whole = write_vote_maps_fits(tmp_path / "whole.fits", make_maps())
    (tmp_path / "cut.fits").write_bytes(Path(whole).read_bytes()[:-100])
    with pytest.raises(InputFileError, match="truncated or corrupt FITS file"):
        read_vote_maps_fits(tmp_path / "cut.fits")
    with pytest.raises(ValueError, match="thresholds must be positive integers"):
        write_vote_maps_fits(tmp_path / "x.fits", make_maps(), thresholds=[0])


# --------------------------------------------------------------------------------------
# 16-bit PNG
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_spiral", "n_bar"), [(15, 15), (13, 17), (1, 0), (7, 200)])
def test_png_round_trip_is_exact(tmp_path, n_spiral, n_bar):
    maps = make_maps(n_spiral, n_bar)
    spiral_path, bar_path = write_vote_maps_png(tmp_path / "g", maps)
    assert (spiral_path.name, bar_path.name) == ("g_spiral.png", "g_bar.png")
    back = read_vote_maps_png(tmp_path / "g")
    assert_same_counts(maps, back)
    assert back.wcs is None


def test_png_is_16_bit_grayscale_with_exact_fifteenths(tmp_path):
    maps = make_maps(15, 15)
    path = write_vote_fraction_png(tmp_path / "s.png", maps, "spiral")
    raw = path.read_bytes()
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", raw[16:26])
    assert (width, height, bit_depth, colour_type) == (8, 8, 16, 0)
    with Image.open(path) as image:
        assert image.text["NVOTERS"] == "15" and image.text["FEATURE"] == "spiral"
        values = np.asarray(image)
    # 65535 = 15 * 4369: k/15 is stored exactly as k * 4369.
    assert np.array_equal(values, maps.spiral_count * 4369)
    count, info = read_vote_fraction_png(path)
    assert info == {"feature": "spiral", "n_voters": 15, "n_markers": 9, "counts_are_integer": True}
    assert count.dtype == np.int32


def test_png_float_counts_quantised(tmp_path):
    count = np.array([[0.0, 1.5], [np.nan, 3.0]])
    maps = VoteMaps(count, count, n_volunteers=3)
    path = write_vote_fraction_png(tmp_path / "f.png", maps, "bar")
    back, info = read_vote_fraction_png(path)
    assert not info["counts_are_integer"]
    assert back[1, 0] == 0  # NaN stored as 0
    assert np.allclose(back[[0, 0, 1], [0, 1, 1]], [0.0, 1.5, 3.0], atol=3 / PNG_SCALE)


def test_png_errors(tmp_path):
    with pytest.raises(InputFileError, match="file does not exist"):
        read_vote_fraction_png(tmp_path / "absent.png")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputFileError, match="is not a 16-bit grayscale vote map"):
        read_vote_fraction_png(tmp_path / "rgb.png")
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(tmp_path / "plain.png")
    with pytest.raises(InputFileError, match="lacks valid NVOTERS and FEATURE"):
        read_vote_fraction_png(tmp_path / "plain.png")
    write_vote_fraction_png(tmp_path / "g_spiral.png", make_maps(), "spiral")
    write_vote_fraction_png(tmp_path / "g_bar.png", make_maps(), "spiral")
    with pytest.raises(InputFileError, match="holds the spiral map, expected bar"):
        read_vote_maps_png(tmp_path / "g")
    with pytest.raises(ValueError, match="feature must be 'spiral' or 'bar'"):
        write_vote_fraction_png(tmp_path / "x.png", make_maps(), "ring")


def test_writers_leave_no_temporary_files(tmp_path):
    write_vote_maps_fits(tmp_path / "g_votes.fits", make_maps())
    write_vote_maps_png(tmp_path / "g", make_maps())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "g_bar.png", "g_spiral.png", "g_votes.fits",
    ]  # fmt: skip
    with pytest.raises(FileExistsError):
        write_vote_maps_fits(tmp_path / "g_votes.fits", make_maps(), overwrite=False)


# --------------------------------------------------------------------------------------
# Helpers of `galseg labels`
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("gz3d_1-167242_127_5679242.fits.gz", "gz3d_1-167242_127_5679242"),
        ("dir/galaxy.fits", "galaxy"),
        ("galaxy.FITS.GZ", "galaxy"),
        ("galaxy.fz", "galaxy.fz"),
    ],
)
def test_label_stem(name, stem):
    assert label_stem(name) == stem


def test_read_reference_grid(tmp_path):
    wcs = gz3d_wcs((30, 40), 150.0, 2.0, pixscale_arcsec=0.262)
    cube = np.zeros((3, 30, 40), np.float32)
    hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, header=wcs.to_header())])
    hdul.writeto(tmp_path / "ref.fits")
    grid_wcs, shape = read_reference_grid(tmp_path / "ref.fits")
    assert shape == (30, 40)
    assert np.allclose(grid_wcs.wcs.crval, [150.0, 2.0])
    fits.PrimaryHDU(np.zeros((5, 5))).writeto(tmp_path / "nowcs.fits")
    with pytest.raises(InputFileError, match="has no image HDU with a celestial WCS"):
        read_reference_grid(tmp_path / "nowcs.fits")
    with pytest.raises(InputFileError, match="file does not exist"):
        read_reference_grid(tmp_path / "absent.fits")
