"""Input images for segmentation (galseg.data.images)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image, ImageFile

from galseg.data.colour import legacy_rgb
from galseg.data.gz3d import gz3d_wcs
from galseg.data.images import (
    IMAGE_SUFFIXES,
    InputImage,
    find_images,
    header_band_names,
    image_from_array,
    read_image,
)
from galseg.errors import InputFileError
from galseg.sim.population import draw_scene
from galseg.sim.scene import ObservingConditions, render_cutout

RNG = np.random.default_rng(12)
COLOUR = RNG.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)


def cutout(seed: int = 1, size: int = 64):
    return render_cutout(draw_scene(np.random.default_rng(seed), name="t", size=size))


def write_fits(path: Path, data: np.ndarray, **cards) -> Path:
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    fits.PrimaryHDU(np.asarray(data), header=header).writeto(path)
    return path


def noise(shape=(40, 50), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def grey_value(nmgy: float, band_scale: float = 3.4) -> float:
    """Legacy stretch by hand of a grey pixel (equal scaled flux in every band, 0.262")."""
    x = nmgy * band_scale + 0.03
    value = np.arcsinh(20 * x) / np.sqrt(20) if x > 0 else 0.0
    return int(np.clip(value, 0, 1) * 255 + 0.5) / 255


# --------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".png", ".tif", ".PNG"])
def test_lossless_colour_picture_round_trip(tmp_path, suffix):
    path = tmp_path / f"NGC1300{suffix}"
    Image.fromarray(COLOUR).save(path, format="TIFF" if suffix == ".tif" else "PNG")
    image = read_image(path, pixscale_arcsec=0.5)
    assert isinstance(image, InputImage)
    assert image.name == "NGC1300" and image.path == path
    assert image.rgb.dtype == np.float32 and image.shape == (20, 30)
    assert np.array_equal(image.rgb, COLOUR / np.float32(255))
    assert image.valid.all() and image.valid.shape == (20, 30)
    assert image.source_kind == "rgb" and image.wcs is None and image.header is None
    assert image.pixscale_arcsec == 0.5 and image.flux_scale == "none" and image.flux is None
    with pytest.raises(ValueError, match="read-only"):
        image.rgb[0, 0, 0] = 1.0
    assert "NGC1300" in repr(image)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_is_read_as_decoded(tmp_path, suffix):
    path = tmp_path / f"m51.v2{suffix}"
    Image.fromarray(COLOUR).save(path, format="JPEG", quality=95)
    decoded = np.asarray(Image.open(path).convert("RGB"))
    image = read_image(path)
    assert image.name == "m51.v2"
    assert np.array_equal(image.rgb, decoded / np.float32(255))


def test_greyscale_png_is_repeated_to_three_channels(tmp_path):
    grey = COLOUR[..., 0]
    Image.fromarray(grey).save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert np.array_equal(image.rgb, np.repeat(grey[..., None], 3, axis=2) / np.float32(255))


def test_16_bit_png_is_divided_by_65535(tmp_path):
    values = np.array([[0, 1000, 65535], [32768, 7, 40000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    image = read_image(tmp_path / "deep.png")
    expected = values / 65535.0
    for channel in range(3):
        assert np.allclose(image.rgb[..., channel], expected, atol=1e-7)


def test_alpha_is_dropped_and_palette_converted(tmp_path):
    rgba = np.dstack([COLOUR, np.full(COLOUR.shape[:2], 7, dtype=np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "a.png")
    assert np.array_equal(read_image(tmp_path / "a.png").rgb, COLOUR / np.float32(255))
    palette = Image.fromarray(COLOUR).convert("P")
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png")
    expected = np.asarray(palette.convert("RGB")) / np.float32(255)
    assert np.array_equal(read_image(tmp_path / "p.png").rgb, expected)


@pytest.mark.parametrize(("suffix", "fmt"), [(".png", "PNG"), (".jpg", "JPEG")])
def test_truncated_picture_names_the_file(tmp_path, suffix, fmt):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    path = tmp_path / f"cut{suffix}"
    Image.fromarray(COLOUR).save(path, format=fmt)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(InputFileError, match="truncated") as error:
        read_image(path)
    assert error.value.path == str(path)


def test_unreadable_missing_and_empty_files(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(InputFileError, match="not a FITS, PNG, JPEG or TIFF"):
        read_image(tmp_path / "notes.png")
    (tmp_path / "empty.fits").write_bytes(b"")
    with pytest.raises(InputFileError, match="empty"):
        read_image(tmp_path / "empty.fits")
    with pytest.raises(InputFileError, match="does not exist"):
        read_image(tmp_path / "missing.fits")
    with pytest.raises(InputFileError, match="directory"):
        read_image(tmp_path)


def test_float_tiff_is_refused(tmp_path):
    Image.fromarray(noise().astype(np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(InputFileError, match="floating-point"):
        read_image(tmp_path / "f.tif")


# --------------------------------------------------------------------------------------
# FITS
# --------------------------------------------------------------------------------------
def test_three_band_nanomaggies_match_the_simulator_colour_image(tmp_path):
    cut = cutout(seed=2)
    path = write_fits(tmp_path / "sim.fits", cut.bands, BUNIT="nanomaggy", BANDS="grz")
    image = read_image(path)
    assert image.source_kind == "fits-3band" and image.flux_scale == "nanomaggies"
    assert image.bands == "grz" and image.pixscale_arcsec is None and image.wcs is None
    assert np.array_equal(image.rgb, cut.rgb / np.float32(255))
    assert image.header["BUNIT"] == "nanomaggy"
    # Linear light for flux-weighted centroids: the r band, as given in nanomaggies.
    assert np.allclose(image.flux, cut.bands[1]) and not image.flux.flags.writeable


def test_band_order_from_header_and_argument(tmp_path):
    cut = cutout(seed=2)
    zrg = cut.bands[[2, 1, 0]]
    expected = legacy_rgb(cut.bands) / np.float32(255)
    by_header = write_fits(tmp_path / "h.fits", zrg, BUNIT="nmgy", BANDS="zrg")
    assert np.array_equal(read_image(by_header).rgb, expected)
    by_cards = write_fits(tmp_path / "c.fits", zrg, BUNIT="nmgy", BAND0="z", BAND1="r", BAND2="g")
    assert np.array_equal(read_image(by_cards).rgb, expected)
    no_header = write_fits(tmp_path / "n.fits", zrg, BUNIT="nanomaggies")
    assert np.array_equal(read_image(no_header, bands="zrg").rgb, expected)
    assert read_image(no_header).bands == "grz"  # the cutout service's order by default
    wrong = write_fits(tmp_path / "w.fits", zrg, BUNIT="nmgy", BANDS="gri")
    with pytest.raises(InputFileError, match="'gri'"):
        read_image(wrong)
    assert np.array_equal(read_image(wrong, bands="zrg").rgb, expected)


@pytest.mark.parametrize("stated", ["z,r,g", "Z, R, G", "z r g", "z;r;g", "zrg"])
def test_band_list_with_separators_in_the_header(tmp_path, stated):
    cut = cutout(seed=2)
    path = write_fits(tmp_path / "sep.fits", cut.bands[[2, 1, 0]], BUNIT="nmgy", BANDS=stated)
    image = read_image(path)
    assert image.bands == "zrg"
    assert np.array_equal(image.rgb, legacy_rgb(cut.bands) / np.float32(255))


def test_header_band_names():
    assert header_band_names("g,r,z") == "grz"
    assert header_band_names(" g, r , z ") == "grz"
    assert header_band_names("G/R/Z") == "grz"
    assert header_band_names("r") == "r"
    assert header_band_names("") == ""
    assert header_band_names("g,r,i2") == "g,r,i2"  # not one letter each: kept for the error


def test_comma_separated_wrong_bands_are_named_in_the_error(tmp_path):
    cut = cutout(seed=2)
    path = write_fits(tmp_path / "gri.fits", cut.bands, BUNIT="nmgy", BANDS="g,r,i")
    with pytest.raises(InputFileError, match="'gri'"):
        read_image(path)
    one = write_fits(tmp_path / "one.fits", cut.bands[2], BUNIT="nmgy", BANDS="z,")
    assert read_image(one).bands == "z"


@pytest.mark.parametrize(("seed", "tolerance"), [(1, 0.06), (2, 0.02), (5, 0.03)])
def test_counts_are_noise_matched_close_to_nanomaggies(tmp_path, seed, tolerance):
    cut = cutout(seed)
    gain = np.array([1000.0, 2000.0, 500.0])[:, None, None]  # per band: matched per band
    path = write_fits(tmp_path / "counts.fits", cut.bands * gain + 500, BUNIT="count")
    image = read_image(path)
    assert image.flux_scale == "sky-noise"
    assert np.abs(image.rgb - cut.rgb / np.float32(255)).mean() < tolerance
    # BUNIT given by the caller wins over the header's
    assert np.abs(read_image(path, bunit="nanomaggy").rgb - image.rgb).mean() > 0.2


def test_noise_matching_ignores_offset_and_gain():
    band = noise((60, 60)) + np.pad(np.full((20, 20), 30.0), 20)  # sky plus a bright square
    a = image_from_array(band)
    b = image_from_array(band * 37.5 - 1200.0)
    assert np.abs(a.rgb - b.rgb).max() <= 1 / 255 + 1e-6


def test_one_band_fits_with_wcs_and_nans(tmp_path):
    data = noise((40, 50)) * 0.005
    data[10:30, 15:35] += 0.2
    data[3, 4] = np.nan
    data[5, 6] = -np.inf
    header = gz3d_wcs((40, 50), 150.0, 2.0, pixscale_arcsec=0.3).to_header()
    header["BUNIT"] = "nanomaggy"
    header["DATE-OBS"] = "2020-01-01"  # astropy "fixes" MJD-OBS: a warning that must not escape
    path = tmp_path / "one.fits"
    fits.PrimaryHDU(data, header=header).writeto(path)
    image = read_image(path)
    assert image.source_kind == "fits-1band" and image.bands == "r"
    assert image.pixscale_arcsec == pytest.approx(0.3)
    assert image.wcs.wcs.crval == pytest.approx([150.0, 2.0])
    assert image.header["CTYPE1"] == "RA---TAN"
    assert np.array_equal(image.rgb[..., 0], image.rgb[..., 1])
    assert np.array_equal(image.rgb[..., 1], image.rgb[..., 2])
    assert not image.valid[3, 4] and not image.valid[5, 6] and image.valid.sum() == 40 * 50 - 2
    assert np.isfinite(image.rgb).all()
    per_native = (0.262 / 0.3) ** 2  # the stretch works per native 0.262" pixel
    assert image.rgb[3, 4, 0] == pytest.approx(grey_value(0.0))
    assert image.rgb[20, 20, 0] == pytest.approx(grey_value(data[20, 20] * per_native), abs=1e-6)
    assert read_image(path, pixscale_arcsec=0.262).pixscale_arcsec == 0.262  # overrides the WCS
    assert image.flux[3, 4] == 0 and image.flux[5, 6] == 0
    assert image.flux[20, 20] == pytest.approx(data[20, 20])


def test_one_band_uses_the_named_band_stretch():
    band = noise((30, 30)) * 0.01 + 0.05
    g = image_from_array(band, bands="g", bunit="nanomaggy")
    assert g.bands == "g"
    assert g.rgb[7, 9, 1] == pytest.approx(grey_value(band[7, 9], band_scale=6.0), abs=1e-6)


def test_compressed_fits_and_hdu_choice(tmp_path):
    data = noise((32, 32))
    hdus = fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data.astype(np.float32), name="SCI")])
    hdus.writeto(tmp_path / "tile.fits.fz")
    image = read_image(tmp_path / "tile.fits.fz")
    assert image.name == "tile" and image.shape == (32, 32)
    assert read_image(tmp_path / "tile.fits.fz", hdu="SCI").shape == (32, 32)
    with pytest.raises(InputFileError, match="no HDU 'ERR'"):
        read_image(tmp_path / "tile.fits.fz", hdu="ERR")
    with pytest.raises(InputFileError, match="HDU 0 holds no image"):
        read_image(tmp_path / "tile.fits.fz", hdu=0)
    gz = tmp_path / "plain.fits.gz"
    write_fits(tmp_path / "plain.fits", data)
    gz.write_bytes(gzip.compress((tmp_path / "plain.fits").read_bytes()))
    assert np.array_equal(read_image(gz).rgb, read_image(tmp_path / "plain.fits").rgb)
    assert read_image(gz).name == "plain"


def test_table_only_fits_is_refused(tmp_path):
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="a", format="E", array=np.zeros(3))])]).writeto(tmp_path / "t.fits")
    with pytest.raises(InputFileError, match="no image HDU"):
        read_image(tmp_path / "t.fits")


def test_truncated_fits_names_the_file(tmp_path):
    path = write_fits(tmp_path / "cut.fits", noise((3, 40, 50)).astype(np.float32))
    raw = path.read_bytes()
    path.write_bytes(raw[:-5000])  # data cut short
    with pytest.raises(InputFileError, match="truncated") as error:
        read_image(path)
    assert error.value.path == str(path)
    path.write_bytes(raw[:-100])  # only padding missing: astropy pads, galseg refuses
    with pytest.raises(InputFileError, match="truncated"):
        read_image(path)
    path.write_bytes(raw[:1000])
    with pytest.raises(InputFileError, match="FITS"):
        read_image(path)
    gz = tmp_path / "cut.fits.gz"
    gz.write_bytes(gzip.compress(raw)[:-3000])
    with pytest.raises(InputFileError, match="corrupt") as error:
        read_image(gz)
    assert error.value.path == str(gz)


@pytest.mark.parametrize("n_bands", [2, 4])
def test_other_band_counts_are_refused(tmp_path, n_bands):
    path = write_fits(tmp_path / "cube.fits", noise((n_bands, 10, 12)))
    with pytest.raises(InputFileError, match=f"has {n_bands} bands"):
        read_image(path)


def test_band_argument_must_fit_the_data(tmp_path):
    path = write_fits(tmp_path / "one.fits", noise())
    with pytest.raises(InputFileError, match="1 band"):
        read_image(path, bands="grz")
    with pytest.raises(ValueError, match="bands must be"):
        read_image(path, bands="gri")
    with pytest.raises(ValueError, match="pixscale_arcsec must be"):
        read_image(path, pixscale_arcsec=0.0)


def test_singleton_axes_are_squeezed(tmp_path):
    path = write_fits(tmp_path / "s.fits", noise()[None, None])
    assert read_image(path).source_kind == "fits-1band"


def test_constant_and_non_finite_images_are_refused(tmp_path):
    with pytest.raises(InputFileError, match="constant"):
        read_image(write_fits(tmp_path / "c.fits", np.full((20, 20), 3.0)))
    almost = np.zeros((20, 20))
    almost[5, 5] = 100.0  # one star on a constant background: no sky noise to match
    with pytest.raises(InputFileError, match="constant in band r"):
        read_image(write_fits(tmp_path / "a.fits", almost))
    with pytest.raises(InputFileError, match="no finite pixels"):
        read_image(write_fits(tmp_path / "n.fits", np.full((20, 20), np.nan)))
    cube = noise((3, 20, 20))
    cube[2] = np.nan
    with pytest.raises(InputFileError, match="no finite pixels in band z"):
        read_image(write_fits(tmp_path / "z.fits", cube))


# --------------------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------------------
def test_image_from_array_rules():
    picture = image_from_array(COLOUR, name="pic")
    assert picture.source_kind == "rgb" and picture.path is None and picture.name == "pic"
    assert np.array_equal(picture.rgb, COLOUR / np.float32(255))
    assert COLOUR.flags.writeable  # the caller's array is not frozen
    grey = image_from_array(COLOUR[..., 0])
    assert np.array_equal(grey.rgb[..., 2], COLOUR[..., 0] / np.float32(255))
    cut = cutout(seed=2)
    bands = image_from_array(cut.bands, bunit="nanomaggy")
    assert np.array_equal(bands.rgb, cut.rgb / np.float32(255))
    wcs = gz3d_wcs((64, 64), 10.0, -5.0, pixscale_arcsec=0.262)
    assert image_from_array(cut.bands[1], wcs=wcs).pixscale_arcsec == pytest.approx(0.262)
    with pytest.raises(InputFileError, match="has 64 bands"):
        image_from_array(np.moveaxis(cut.bands, 0, -1))
    with pytest.raises(ValueError, match="numeric"):
        image_from_array(np.zeros((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="no pixels"):
        image_from_array(np.zeros((0, 4, 3), dtype=np.uint8))


# --------------------------------------------------------------------------------------
# find_images
# --------------------------------------------------------------------------------------
def test_find_images(tmp_path, monkeypatch):
    folder = tmp_path / "cutouts"
    folder.mkdir()
    for name in ("b.png", "a.fits.gz", "c.JPG", "notes.txt", ".hidden.png"):
        (folder / name).write_bytes(b"x")
    (folder / "sub").mkdir()
    (folder / "sub" / "d.png").write_bytes(b"x")
    assert find_images([folder]) == [folder / n for n in ("a.fits.gz", "b.png", "c.JPG")]
    assert find_images(str(folder / "*.png")) == [folder / "b.png"]
    explicit = folder / "notes.txt"
    found = find_images([folder / "c.JPG", folder, explicit, folder / "b.png"])
    assert found == [folder / n for n in ("c.JPG", "a.fits.gz", "b.png", "notes.txt")]
    monkeypatch.chdir(tmp_path)
    assert find_images(["cutouts/b.png", folder / "b.png"]) == [Path("cutouts/b.png")]
    with pytest.raises(InputFileError, match="does not exist"):
        find_images([folder / "b.png", tmp_path / "missing.fits"])
    with pytest.raises(InputFileError, match="matches no image files"):
        find_images([str(tmp_path / "*.fits")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="folder has no"):
        find_images([tmp_path / "empty"])
    assert find_images([]) == []
    assert ".fits.gz" in IMAGE_SUFFIXES and ".fz" in IMAGE_SUFFIXES


def test_fits_is_recognised_by_content_and_wcs_units(tmp_path):
    header = fits.Header()  # a WCS in arcsec, not degrees
    header.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CUNIT1="arcsec", CUNIT2="arcsec",
                  CDELT1=-0.5, CDELT2=0.5, CRVAL1=150.0 * 3600, CRVAL2=2.0 * 3600,
                  CRPIX1=15.0, CRPIX2=15.0)
    path = tmp_path / "odd_name.dat"
    fits.PrimaryHDU(noise((30, 30)), header=header).writeto(path)
    image = read_image(path)
    assert image.source_kind == "fits-1band" and image.name == "odd_name.dat"
    assert image.pixscale_arcsec == pytest.approx(0.5)
    with pytest.raises(TypeError, match="hdu must be"):
        read_image(path, hdu=1.5)


def test_noise_matching_skips_non_finite_pixels():
    sky = noise((64, 64), seed=3) * 25.0 + 1000.0
    bad = sky.copy()
    bad[:20, :20] = np.nan  # whole tiles lost
    bad[40, ::3] = np.inf  # scattered bad pixels
    image = image_from_array(bad, pixscale_arcsec=0.262)
    assert not image.valid[:20, :20].any() and not image.valid[40, 0]
    assert np.isfinite(image.rgb).all()
    # the sky level and noise come out as without the bad pixels
    clean = image_from_array(sky, pixscale_arcsec=0.262)
    assert np.abs(image.rgb - clean.rgb)[image.valid].mean() < 0.01


def test_zero_padding_does_not_count_as_sky():
    sky = noise((64, 96), seed=4) * 25.0 + 1000.0
    padded = sky.copy()
    padded[:, :40] = 0.0  # off the survey footprint: zeros, as mosaics and cutouts pad
    image = image_from_array(padded)
    clean = image_from_array(sky)
    assert np.abs(image.rgb - clean.rgb)[:, 48:].mean() < 0.01


def test_sky_is_found_around_a_galaxy_that_fills_the_frame():
    y, x = np.mgrid[:128, :128]
    galaxy = 2000.0 * np.exp(-np.hypot(x - 60, y - 70) / 12.0)  # > 1 sigma on 59% of pixels
    counts = 1000.0 + 20.0 * noise((128, 128), seed=5) + galaxy
    image = image_from_array(counts)
    sky_sigma_r = ObservingConditions().sky_sigma_per_pixel()[1]
    exact = image_from_array((counts - 1000.0) / 20.0 * sky_sigma_r, bunit="nanomaggy")
    assert np.abs(image.rgb - exact.rgb).mean() < 0.03  # whole-image statistics: 0.09
