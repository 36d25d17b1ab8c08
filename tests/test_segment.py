"""Inference: any size, scale rules, test-time averaging, and the `galseg segment` run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS
from PIL import Image

from galseg.cli.main import build_parser, main
from galseg.data.gz3d import gz3d_wcs, read_gz3d
from galseg.data.images import image_from_array
from galseg.measure import DEFAULT_SPIRAL_THRESHOLD
from galseg.models.geometry import DIHEDRAL_VIEWS
from galseg.predict.segment import DEFAULT_VIEWS, Segmenter, masks_fits_bytes, masks_hdulist
from galseg.training.examples import gz3d_files


@pytest.fixture(scope="module")
def segmenter(tiny_segmenter_path):
    return Segmenter(tiny_segmenter_path, device="cpu", batch_size=4, views=1)


@pytest.fixture(scope="module")
def subject(sim_dataset):
    return read_gz3d(gz3d_files(sim_dataset)[1])


@pytest.mark.parametrize("scale", ["frame", "native", "pixscale"])
@pytest.mark.parametrize("shape", [(48, 48), (37, 90), (130, 64)])
def test_maps_come_back_on_the_input_grid(segmenter, subject, scale, shape):
    rgb = np.asarray(Image.fromarray(subject.image).resize(shape[::-1]))
    image = image_from_array(rgb, name="g", pixscale_arcsec=0.3)
    segmenter.scale = scale
    try:
        result = segmenter.segment(image)
    finally:
        segmenter.scale = "frame"
    assert result.spiral_vote_fraction.shape == shape
    assert result.bar_vote_fraction.shape == shape
    for m in (result.spiral_vote_fraction, result.bar_vote_fraction):
        assert m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1


def test_pixscale_rule_needs_a_pixel_scale(segmenter, subject):
    segmenter.scale = "pixscale"
    try:
        with pytest.raises(ValueError, match="pixel scale"):
            segmenter.segment(image_from_array(subject.image, name="g"))
    finally:
        segmenter.scale = "frame"


def test_frame_rule_matches_the_model_on_a_training_sized_image(segmenter, subject):
    image = image_from_array(subject.image, name="g")
    maps = segmenter.predict_maps([image])[0]
    x = torch.from_numpy(subject.image).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        direct = segmenter.model(x.contiguous(memory_format=torch.channels_last))
    np.testing.assert_allclose(maps, direct[0].clamp(0, 1).numpy(), atol=1e-5)


def test_eight_views_are_equivariant_to_rotations(tiny_segmenter_path, subject):
    tta = Segmenter(tiny_segmenter_path, device="cpu", views=8)
    a = tta.segment(image_from_array(subject.image, name="a"))
    b = tta.segment(image_from_array(np.ascontiguousarray(np.rot90(subject.image)), name="b"))
    np.testing.assert_allclose(np.rot90(a.spiral_vote_fraction), b.spiral_vote_fraction,
                               atol=1e-4)


@pytest.mark.parametrize(("views", "transform"), [
    (2, np.fliplr), (4, np.fliplr), (4, lambda a: np.rot90(a, 2))])
def test_fewer_views_are_equivariant_to_their_own_transforms(tiny_segmenter_path, subject,
                                                            views, transform):
    segmenter = Segmenter(tiny_segmenter_path, device="cpu", views=views)
    a = segmenter.predict_maps([image_from_array(subject.image, name="a")])[0]
    moved = np.ascontiguousarray(transform(subject.image))
    b = segmenter.predict_maps([image_from_array(moved, name="b")])[0]
    np.testing.assert_allclose(np.stack([transform(m) for m in a]), b, atol=1e-4)


def test_two_views_average_the_image_and_its_flip(tiny_segmenter_path, subject):
    one = Segmenter(tiny_segmenter_path, device="cpu")
    assert one.views == DEFAULT_VIEWS == 1
    two = Segmenter(tiny_segmenter_path, device="cpu", views=2)
    image = image_from_array(subject.image, name="a")
    flipped = image_from_array(np.ascontiguousarray(np.fliplr(subject.image)), name="b")
    plain, mirror = one.predict_maps([image])[0], one.predict_maps([flipped])[0]
    expected = np.clip((plain + mirror[:, :, ::-1]) / 2, 0, 1)
    np.testing.assert_allclose(two.predict_maps([image])[0], expected, atol=1e-5)


@pytest.mark.parametrize("views", [0, 3, 16, True])
def test_other_view_counts_are_refused(tiny_segmenter_path, views):
    with pytest.raises(ValueError, match="views"):
        Segmenter(tiny_segmenter_path, device="cpu", views=views)


def test_batches_give_the_same_maps_as_single_images(segmenter, sim_dataset):
    images = [image_from_array(read_gz3d(p).image, name=str(i))
              for i, p in enumerate(gz3d_files(sim_dataset)[:6])]
    together = segmenter.predict_maps(images)
    alone = [segmenter.predict_maps([im])[0] for im in images]
    for t, a in zip(together, alone, strict=True):
        np.testing.assert_allclose(t, a, atol=1e-5)


def _inputs(folder, subject):
    folder.mkdir()
    Image.fromarray(subject.image).save(folder / "colour.png")
    Image.fromarray(subject.image).save(folder / "colour2.jpg", quality=95)
    band = subject.image.mean(axis=2).astype(np.float32) * 0.01
    band[3, 4] = np.nan
    wcs = gz3d_wcs(band.shape, 150.0, 2.0, pixscale_arcsec=0.262)
    fits.PrimaryHDU(band, header=wcs.to_header()).writeto(folder / "oneband.fits")
    good = (folder / "colour.png").read_bytes()
    (folder / "broken.png").write_bytes(good[: len(good) // 2])


def test_cli_segment_end_to_end_and_resume(tiny_segmenter_path, subject, tmp_path, capsys):
    _inputs(tmp_path / "in", subject)
    out = tmp_path / "out"
    args = ["segment", str(tmp_path / "in"), "--out", str(out), "--model",
            str(tiny_segmenter_path), "--redshift", "0.05", "--thresholds", "2", "3",
            "--quiet"]
    assert main(args) == 1  # the broken file fails, the rest go on
    assert "broken.png" in capsys.readouterr().err
    catalog = Table.read(out / "catalog.csv", format="ascii.csv")
    assert list(catalog["name"]) == ["broken", "colour", "colour2", "oneband"]
    assert catalog["error"][0] and all(not e for e in catalog["error"][1:].filled(""))
    for column in ("has_spiral_arms", "has_bar", "spiral_area_px", "bar_length_px",
                   "bar_length_arcsec", "bar_length_kpc", "bar_pa_deg", "n_arms",
                   "pitch_angle_deg", "pitch_angle_err_deg", "arm_winding",
                   "disc_axis_ratio", "disc_pa_deg"):
        assert column in catalog.colnames
    with fits.open(out / "oneband_masks.fits") as hdul:
        spiral = hdul["SPIRAL_VOTE_FRACTION"]
        assert spiral.data.shape == subject.image.shape[:2]
        assert spiral.data.dtype.kind == "f"
        assert spiral.header["CTYPE1"].startswith("RA---TAN")
        assert abs(spiral.header["CRVAL1"] - 150.0) < 1e-9
        assert {"SPIRAL_MASK_TH2", "BAR_MASK_TH3", "MEASUREMENTS"} <= {h.name for h in hdul}
        # the masks the catalog was measured on, on the same grid
        spiral_mask, bar_mask = hdul["SPIRAL_MASK"], hdul["BAR_MASK"]
        assert spiral_mask.data.shape == spiral.data.shape and spiral_mask.data.dtype == np.uint8
        assert spiral_mask.header["RULE"] == DEFAULT_SPIRAL_THRESHOLD == "peak0.5^2"
        assert abs(spiral_mask.header["CRVAL1"] - 150.0) < 1e-9
        row = catalog[list(catalog["name"]).index("oneband")]
        assert int(spiral_mask.data.sum()) == int(row["spiral_area_px"])
        assert bar_mask.header["RULE"] == "median-nonzero"
        assert bool(bar_mask.data.any()) == (str(row["has_bar"]) == "True")
    assert (out / "colour_overlay.png").is_file()
    before = (out / "colour_masks.fits").stat().st_mtime_ns
    # a killed run: one output lost; a rerun recomputes only that one, no duplicate rows
    (out / "colour2_masks.fits").unlink()
    assert main(args) == 1
    assert (out / "colour_masks.fits").stat().st_mtime_ns == before
    assert (out / "colour2_masks.fits").is_file()
    again = Table.read(out / "catalog.csv", format="ascii.csv")
    assert list(again["name"]) == list(catalog["name"])
    np.testing.assert_allclose(np.asarray(again["spiral_area_px"][1:], float),
                               np.asarray(catalog["spiral_area_px"][1:], float))
    # rows read back from the masks files keep the spiral columns (empty windings too)
    for column in ("pitch_angle_deg", "disc_axis_ratio"):
        np.testing.assert_allclose(np.ma.filled(np.ma.asarray(again[column], float), np.nan),
                                   np.ma.filled(np.ma.asarray(catalog[column], float), np.nan))
    assert [str(w) for w in np.ma.filled(again["arm_winding"].astype(str), "")] == \
        [str(w) for w in np.ma.filled(catalog["arm_winding"].astype(str), "")]


def test_cli_classical_bar_adds_its_columns_and_its_own_run_key(tiny_segmenter_path, tmp_path):
    from _barred_galaxy import galaxy

    folder = tmp_path / "in"
    folder.mkdir()
    image = galaxy(bar_a=16.0)
    grey = np.uint8(255 * np.clip(image / image.max(), 0, 1) ** 0.5)
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(folder / "barred.png")
    out = tmp_path / "out"
    args = ["segment", str(folder), "--out", str(out), "--model", str(tiny_segmenter_path),
            "--pixscale", "0.262", "--quiet"]
    assert main(args) == 0
    plain = Table.read(out / "catalog.csv", format="ascii.csv")
    assert "iso_has_bar" not in plain.colnames
    assert main([*args, "--classical-bar"]) == 0  # another setting: recomputed, not reused
    catalog = Table.read(out / "catalog.csv", format="ascii.csv")
    row = catalog[0]
    assert str(row["iso_has_bar"]) == "True"
    assert row["iso_bar_length_arcsec"] == pytest.approx(row["iso_bar_length_px"] * 0.262,
                                                         rel=1e-4)
    with fits.open(out / "barred_masks.fits") as hdul:
        assert "iso_bar_length_px" in hdul["MEASUREMENTS"].columns.names
    assert main([*args, "--classical-bar"]) == 0  # resumed: the row read back from the file
    again = Table.read(out / "catalog.csv", format="ascii.csv")
    assert again[0]["iso_bar_length_px"] == pytest.approx(row["iso_bar_length_px"])


def test_cli_reports_missing_inputs(tmp_path, capsys):
    assert main(["segment", str(tmp_path / "nothing*.png"), "--out", str(tmp_path / "o")]) == 2
    assert "error" in capsys.readouterr().err


def test_cli_redshift_catalog_gives_kpc_and_fits_catalog(tiny_segmenter_path, subject,
                                                          tmp_path):
    from galseg.physical import kpc_per_arcsec

    _inputs(tmp_path / "in", subject)
    (tmp_path / "in" / "broken.png").unlink()
    (tmp_path / "z.csv").write_text("name,z\noneband,0.1\ncolour,0.02\n")
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "in" / "oneband.fits"),
                 str(tmp_path / "in" / "colour.png"), "--out", str(out), "--model",
                 str(tiny_segmenter_path), "--catalog", str(tmp_path / "z.csv"),
                 "--fits-catalog", "--quiet"]) == 0
    catalog = Table.read(out / "catalog.fits")
    assert list(catalog["name"]) == ["oneband", "colour"]
    np.testing.assert_allclose(catalog["redshift"], [0.1, 0.02])
    row = catalog[0]
    assert row["spiral_area_arcsec2"] == pytest.approx(row["spiral_area_px"] * 0.262**2,
                                                       rel=1e-4)
    scale = float(kpc_per_arcsec(0.1).value)
    assert row["spiral_area_kpc2"] == pytest.approx(row["spiral_area_arcsec2"] * scale**2,
                                                    rel=1e-4)
    # a PNG has no pixel scale: its arcsec and kpc columns are empty
    assert not np.isfinite(catalog[1]["spiral_area_arcsec2"])


def test_output_names_follow_the_input_name_rule(tiny_segmenter_path, subject, tmp_path):
    # A tile-compressed FITS called x.fit.fz is named "x" by the reader; the run must
    # use the same name for its outputs and catalog row (and so reuse them on a rerun).
    band = subject.image.mean(axis=2).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(band)]).writeto(tmp_path / "x.fit.fz")
    out = tmp_path / "out"
    args = ["segment", str(tmp_path / "x.fit.fz"), "--out", str(out), "--model",
            str(tiny_segmenter_path), "--quiet"]
    assert main(args) == 0
    catalog = Table.read(out / "catalog.csv", format="ascii.csv")
    assert list(catalog["name"]) == ["x"] and np.isfinite(catalog["spiral_max_vote_fraction"][0])
    assert (out / "x_masks.fits").is_file()
    before = (out / "x_masks.fits").stat().st_mtime_ns
    assert main(args) == 0
    assert (out / "x_masks.fits").stat().st_mtime_ns == before


def test_overlay_outlines_the_given_masks():
    from galseg.visualize import overlay_maps

    rgb = np.zeros((20, 20, 3), np.uint8)
    spiral = np.zeros((20, 20), np.float32)
    spiral[5:15, 5:15] = 0.2  # below the default outline level
    mask = spiral > 0
    plain = overlay_maps(rgb, spiral, np.zeros_like(spiral))
    assert not (plain == 255).all(axis=2).any()  # nothing reaches 0.5: no outline
    outlined = overlay_maps(rgb, spiral, np.zeros_like(spiral),
                            outline_masks=(mask, np.zeros_like(mask)))
    white = (outlined == 255).all(axis=2)
    assert white[5, 5:15].all() and white[5:15, 5].all() and not white[10, 10]
    with pytest.raises(ValueError, match="outline mask shape"):
        overlay_maps(rgb, spiral, spiral, outline_masks=(mask[:5], mask))


def test_masks_file_is_valid_fits_that_astropy_reads_back(segmenter, subject, tmp_path):
    # a long input path needs astropy's CONTINUE cards in the primary header
    path = tmp_path / ("a_directory_name_long_enough_to_need_a_continue_card_" * 2) / "g.png"
    wcs = gz3d_wcs(subject.image.shape[:2], 150.0, 2.0, pixscale_arcsec=0.262)
    image = dataclasses.replace(image_from_array(subject.image, name="g", wcs=wcs), path=path)
    result = segmenter.segment(image)
    data = masks_fits_bytes(result, thresholds=(2,), extra_cards={"RUNKEY": "k" * 100})
    assert len(data) % 2880 == 0
    hdul = fits.HDUList.fromstring(data)
    hdul.verify("exception")
    assert hdul[0].header["INPUT"] == str(path) and hdul[0].header["RUNKEY"] == "k" * 100
    assert hdul[0].data is None
    names = [h.name for h in hdul]
    assert names == ["PRIMARY", "SPIRAL_VOTE_FRACTION", "BAR_VOTE_FRACTION", "SPIRAL_MASK",
                     "BAR_MASK", "SPIRAL_MASK_TH2", "BAR_MASK_TH2", "MEASUREMENTS"]
    np.testing.assert_array_equal(hdul["SPIRAL_VOTE_FRACTION"].data, result.spiral_vote_fraction)
    np.testing.assert_array_equal(hdul["BAR_MASK"].data, result.bar.mask.astype(np.uint8))
    np.testing.assert_array_equal(hdul["SPIRAL_MASK_TH2"].data, result.mask("spiral", 2))
    assert hdul["SPIRAL_MASK"].header["RULE"] == str(result.arms.threshold)
    assert hdul["SPIRAL_MASK"].header["LEVEL"] == pytest.approx(result.arms.threshold_value)
    assert hdul["BAR_MASK_TH2"].header["THVOTES"] == 2
    assert WCS(hdul["BAR_VOTE_FRACTION"].header).wcs.crval[0] == pytest.approx(150.0)
    row = Table.read(hdul["MEASUREMENTS"])[0]
    for key, value in result.measurements.items():
        if isinstance(value, float) and np.isnan(value):
            assert np.ma.is_masked(row[key]) or np.isnan(row[key])  # astropy masks NaN
        else:
            assert row[key] == value, key
    assert masks_hdulist(result)["MEASUREMENTS"].data.shape == (1,)


def test_masks_file_without_a_wcs(segmenter, subject):
    result = segmenter.segment(image_from_array(subject.image, name="g"))
    hdul = fits.HDUList.fromstring(masks_fits_bytes(result))
    hdul.verify("exception")
    assert "CTYPE1" not in hdul["SPIRAL_VOTE_FRACTION"].header
    assert hdul[0].header["INPUT"] == "g"


@pytest.mark.parametrize(("argv", "views"), [
    ([], None), (["--views", "1"], 1), (["--views", "4"], 4), (["--tta"], 8)])
def test_views_options_of_segment_and_evaluate(argv, views):
    parser = build_parser()
    assert parser.parse_args(["segment", "x.png", "--out", "o", *argv]).views == views
    assert parser.parse_args(["evaluate", "segmenter", "--data", "d", *argv]).views == views


def test_views_and_tta_together_are_refused(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["segment", "x.png", "--out", "o", "--views", "2", "--tta"])
    assert "not allowed with" in capsys.readouterr().err


def test_views_choices_of_the_cli_are_the_segmenters():
    parser = build_parser()
    for views in DIHEDRAL_VIEWS:
        assert parser.parse_args(["segment", "x.png", "--out", "o", "--views",
                                  str(views)]).views == views
    with pytest.raises(SystemExit):
        parser.parse_args(["segment", "x.png", "--out", "o", "--views", "3"])
