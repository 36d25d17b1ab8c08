"""Detection fields (galseg.sim.detection_fields, .detection_dataset): truth and data set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from galseg.cli.main import main as galseg_main
from galseg.data.detection_examples import DETECTION_CLASSES, read_detection_examples
from galseg.data.images import read_image
from galseg.sim.detection_dataset import (
    MANIFEST,
    detection_mix,
    field_name,
    simulate_detection_field,
    write_detection_dataset,
)
from galseg.sim.detection_fields import (
    DETECTION_CLASS,
    MIN_TRUTH_PIXELS,
    OBJECT_COLUMNS,
    OVERLAP_SEPARATION_RANGE,
    TRUTH_MASK_SKY_SIGMA,
    DetectionFieldSpec,
    DetectionGalaxy,
    draw_detection_field,
    draw_sdss_conditions,
    field_scale,
    isophotal_radius_arcsec,
    overlap_statistics,
    render_detection_field,
)
from galseg.sim.galaxy import GalaxyModel, render_galaxy
from galseg.sim.scene import ObservingConditions, Star, convolve_psf, psf_kernels

PIX = 0.396
SIZE = 96
CONDITIONS = ObservingConditions(pixscale_arcsec=PIX, psf_fwhm_arcsec=(1.4, 1.3, 1.2),
                                 sky_noise_nmgy=(0.0125, 0.018, 0.028))
SKY_R = float(CONDITIONS.sky_sigma_per_pixel()[1])
DISC = GalaxyModel(bulge_flux=(2.0, 4.0, 6.0), bulge_half_light_radius_arcsec=0.6,
                   bulge_sersic_n=2.0, bulge_axis_ratio=0.9, disc_flux=(10.0, 20.0, 28.0),
                   disc_scale_length_arcsec=2.0, inclination_deg=40.0, disc_angle_deg=30.0)
BLOB = GalaxyModel(bulge_flux=(5.0, 10.0, 15.0), bulge_half_light_radius_arcsec=1.5,
                   bulge_sersic_n=1.0, bulge_axis_ratio=1.0)


def _galaxy(model: GalaxyModel, xy: tuple[float, float], kind: str = "spiral") -> DetectionGalaxy:
    radius = isophotal_radius_arcsec(model, threshold_nmgy=SKY_R, pixscale_arcsec=PIX)
    return DetectionGalaxy(model=model, centre_xy=xy, kind=kind, radius_arcsec=radius)


def _spec(galaxies=(), stars=(), shape=(SIZE, SIZE)) -> DetectionFieldSpec:
    return DetectionFieldSpec(name="t", shape=shape, conditions=CONDITIONS,
                              galaxies=tuple(galaxies), stars=tuple(stars), noise_seed=3)


# ----------------------------------------------------------------------------------
# drawing
# ----------------------------------------------------------------------------------


def test_draw_is_deterministic():
    a = draw_detection_field(np.random.default_rng([4, 2]), shape=(SIZE, SIZE))
    b = draw_detection_field(np.random.default_rng([4, 2]), shape=(SIZE, SIZE))
    assert a == b
    fa, fb = render_detection_field(a), render_detection_field(b)
    np.testing.assert_array_equal(fa.bands, fb.bands)
    np.testing.assert_array_equal(fa.masks, fb.masks)
    assert fa.objects.pformat() == fb.objects.pformat()
    assert a != draw_detection_field(np.random.default_rng([4, 3]), shape=(SIZE, SIZE))


def test_draw_ranges():
    for i in range(12):
        spec = draw_detection_field(np.random.default_rng([1, i]), shape=(SIZE, SIZE))
        assert 1 <= len(spec.galaxies) <= 8
        assert 0 <= len(spec.stars) <= 4
        fwhm_r = spec.conditions.psf_fwhm_arcsec[1]
        assert 1.0 <= fwhm_r <= 1.6
        assert spec.conditions.pixscale_arcsec == PIX
        # the first galaxy always lies on the image
        x, y = spec.galaxies[0].centre_xy
        assert 0 <= x <= SIZE - 1 and 0 <= y <= SIZE - 1
        for galaxy in spec.galaxies:
            assert galaxy.kind in ("spiral", "edge_on", "lenticular", "elliptical")
            # centres at most one visible radius off the image, so their light shows
            reach = galaxy.radius_arcsec / PIX + 1e-9
            assert -reach <= galaxy.centre_xy[0] <= SIZE - 1 + reach


def test_counts_scale_with_field_area():
    assert field_scale((512, 512)) == 4.0
    assert field_scale((128, 512)) == 1.0

    def counts(size: int) -> list[int]:
        specs = [draw_detection_field(np.random.default_rng([5, i]), shape=(size, size))
                 for i in range(6)]
        for spec in specs:
            scale = field_scale(spec.shape)
            assert len(spec.galaxies) <= max(8 * scale, 2 * len(spec.overlap_pairs))
            assert len(spec.stars) <= 4 * scale
        return [len(s.galaxies) + len(s.stars) for s in specs]

    # 4 times the area: about 4 times the objects (6.5 per 256 px field on average)
    assert np.mean(counts(512)) > 2 * np.mean(counts(256))
    # galaxy sizes do not grow with the field: model radii stay below a quarter of 256 px
    # (isophotes reach a little beyond; uncapped, this field's largest is 2.3 times that)
    large = draw_detection_field(np.random.default_rng(1), shape=(512, 512), n_galaxies=30,
                                 n_overlap_pairs=0)
    assert max(g.radius_arcsec for g in large.galaxies) < 1.4 * 0.25 * 256 * PIX


def test_sdss_conditions_depth():
    cond = draw_sdss_conditions(np.random.default_rng(0))
    sigma_r = cond.sky_sigma_per_pixel()[1]
    # SDSS r: about 0.027 nanomaggies per 0.396" pixel, times the drawn depth 0.85-1.25
    assert 0.85 * 0.0272 * 0.99 < sigma_r < 1.25 * 0.0272 * 1.01
    with pytest.raises(ValueError, match="pixscale_arcsec must be > 0"):
        draw_sdss_conditions(np.random.default_rng(0), pixscale_arcsec=0.0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"shape": (16, 96)}, "shape must be at least"),
    ({"pixscale_arcsec": -1.0}, "pixscale_arcsec must be > 0"),
    ({"n_galaxies": 0}, "n_galaxies must be >= 1"),
    ({"n_overlap_pairs": -1}, "n_overlap_pairs must be >= 0"),
])
def test_draw_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        draw_detection_field(np.random.default_rng(0), **kwargs)


def test_forced_overlap_pair_geometry():
    for i in range(10):
        spec = draw_detection_field(np.random.default_rng([2, i]), shape=(SIZE, SIZE),
                                    n_galaxies=1, n_overlap_pairs=1)
        assert spec.overlap_pairs == ((0, 1),)
        assert len(spec.galaxies) == 2
        a, b = spec.galaxies
        for galaxy in (a, b):
            assert 0 <= galaxy.centre_xy[0] <= SIZE - 1
            assert 0 <= galaxy.centre_xy[1] <= SIZE - 1
        dx, dy = a.centre_xy[0] - b.centre_xy[0], a.centre_xy[1] - b.centre_xy[1]
        ratio = np.hypot(dx, dy) * PIX / (a.radius_arcsec + b.radius_arcsec)
        assert ratio <= OVERLAP_SEPARATION_RANGE[1] + 1e-9
        # shrunk below the range only where the pair would not fit on the image
        fits_image = max(abs(dx), abs(dy)) < 0.9 * (SIZE - 1) - 1e-6
        assert ratio >= OVERLAP_SEPARATION_RANGE[0] - 1e-9 or not fits_image
    none = draw_detection_field(np.random.default_rng(0), shape=(SIZE, SIZE),
                                n_overlap_pairs=0)
    assert none.overlap_pairs == ()


def test_isophotal_radius_of_an_exponential_disc():
    # face-on pure disc: I(r) = F / (2 pi h^2) exp(-r / h) per arcsec^2
    disc = GalaxyModel(bulge_flux=(0.0, 1e-6, 0.0), bulge_half_light_radius_arcsec=0.5,
                       bulge_sersic_n=1.0, bulge_axis_ratio=1.0, disc_flux=(0.0, 50.0, 0.0),
                       disc_scale_length_arcsec=3.0)
    threshold = 0.02
    expected = 3.0 * np.log(50.0 * PIX**2 / (2 * np.pi * 3.0**2) / threshold)
    measured = isophotal_radius_arcsec(disc, threshold_nmgy=threshold, pixscale_arcsec=PIX)
    assert measured == pytest.approx(expected, abs=0.5 * PIX)
    assert isophotal_radius_arcsec(disc, threshold_nmgy=1e3, pixscale_arcsec=PIX) == 0.0


# ----------------------------------------------------------------------------------
# truth
# ----------------------------------------------------------------------------------


def test_truth_mask_is_own_blurred_light_above_sky_sigma():
    spec = _spec([_galaxy(DISC, (40.3, 50.7))])
    field = render_detection_field(spec)
    light = convolve_psf(render_galaxy(DISC, shape=spec.shape, centre_xy=(40.3, 50.7),
                                       pixscale_arcsec=PIX).total, psf_kernels(CONDITIONS))[1]
    expected = light > TRUTH_MASK_SKY_SIGMA * SKY_R
    # stamp and full-frame FFTs differ by rounding: ignore pixels at the threshold itself
    decided = np.abs(light - TRUTH_MASK_SKY_SIGMA * SKY_R) > 1e-4 * SKY_R
    assert field.masks.shape == (1, SIZE, SIZE)
    np.testing.assert_array_equal(field.masks[0][decided], expected[decided])
    row = field.objects[0]
    assert row["class"] == "spiral" and row["kind"] == "spiral"
    assert (row["x"], row["y"]) == (40.3, 50.7)
    assert row["flux_r"] == pytest.approx(24.0)
    assert row["flux_r_image"] == pytest.approx(light.sum(), rel=1e-3)
    assert row["npix"] == field.masks[0].sum()
    assert not row["overlap"] and row["overlap_fraction"] == 0.0
    # the radius is the isophote's semi-major axis: the mask reaches about that far
    ys, xs = np.nonzero(field.masks[0])
    reach = np.hypot(xs - 40.3, ys - 50.7).max()
    assert reach == pytest.approx(row["radius_px"], rel=0.25)


def test_masks_consistent_with_objects():
    for i in range(4):
        field = simulate_detection_field(i, seed=11, size=SIZE)
        objects, masks = field.objects, field.masks
        n = len(objects)
        assert masks.dtype == bool and masks.shape == (n, SIZE, SIZE)
        assert tuple(objects.colnames) == OBJECT_COLUMNS
        np.testing.assert_array_equal(objects["index"], np.arange(n))
        assert set(objects["class"]) <= set(DETECTION_CLASSES)
        for row, mask in zip(objects, masks, strict=True):
            assert row["class"] == DETECTION_CLASS[row["kind"]]
            assert row["npix"] == mask.sum() >= MIN_TRUTH_PIXELS
            assert -0.5 <= row["x"] < SIZE - 0.5 and -0.5 <= row["y"] < SIZE - 0.5
        # overlap flags and fractions from pairwise intersections
        for i_obj in range(n):
            shared = [int((masks[i_obj] & masks[j]).sum()) for j in range(n) if j != i_obj]
            largest = max(shared, default=0)
            assert bool(objects["overlap"][i_obj]) == (largest > 0)
            assert objects["overlap_fraction"][i_obj] == pytest.approx(
                largest / masks[i_obj].sum())
        assert field.rgb.shape == (SIZE, SIZE, 3) and field.rgb.dtype == np.uint8
        assert field.bands.shape == (3, SIZE, SIZE) and field.bands.dtype == np.float32


def test_class_mapping_covers_detection_classes():
    assert set(DETECTION_CLASS.values()) == set(DETECTION_CLASSES)
    assert DETECTION_CLASS["lenticular"] == "elliptical"
    assert DETECTION_CLASS["edge_on"] == "spiral"


def test_overlapping_pair_flags_both():
    spec = _spec([_galaxy(DISC, (40.0, 48.0)), _galaxy(BLOB, (52.0, 48.0), "elliptical")])
    field = render_detection_field(spec)
    assert list(field.objects["class"]) == ["spiral", "elliptical"]
    assert field.objects["overlap"].all()
    shared = (field.masks[0] & field.masks[1]).sum()
    np.testing.assert_allclose(field.objects["overlap_fraction"],
                               shared / field.masks.sum(axis=(1, 2)))


def test_overlap_statistics_known_answer():
    masks = np.zeros((3, 4, 4), bool)
    masks[0, :2, :2] = True          # 4 px
    masks[1, 1:3, 1:3] = True        # 4 px, shares 1 with mask 0
    masks[2, 3, 3] = True            # alone
    overlap, fraction = overlap_statistics(masks)
    np.testing.assert_array_equal(overlap, [True, True, False])
    np.testing.assert_allclose(fraction, [0.25, 0.25, 0.0])
    empty = overlap_statistics(np.zeros((0, 4, 4), bool))
    assert empty[0].shape == (0,) and empty[1].shape == (0,)


def test_overlap_statistics_matches_all_pairs():
    # bounding boxes that meet without shared pixels, nested masks, an empty mask
    rng = np.random.default_rng(0)
    masks = np.zeros((7, 30, 40), bool)
    for plane in masks[:6]:
        y, x = rng.integers(0, 23), rng.integers(0, 33)
        plane[y:y + 8, x:x + 8] = rng.random((8, 8)) < 0.5
    masks[0, 0, 0] = masks[0, 29, 39] = True  # box spans the field
    flat = masks.reshape(7, -1).astype(int)
    shared = flat @ flat.T
    np.fill_diagonal(shared, 0)
    area = flat.sum(axis=1)
    expected = np.divide(shared.max(axis=1), area, out=np.zeros(7), where=area > 0)
    overlap, fraction = overlap_statistics(masks)
    np.testing.assert_array_equal(overlap, shared.max(axis=1) > 0)
    np.testing.assert_array_equal(fraction, expected)


def test_off_image_and_faint_objects_are_not_truth_but_their_light_is_there():
    big = GalaxyModel(bulge_flux=(50.0, 100.0, 150.0), bulge_half_light_radius_arcsec=3.0,
                      bulge_sersic_n=1.0, bulge_axis_ratio=1.0)
    off = _galaxy(big, (-3.0, 48.0), "elliptical")
    on = _galaxy(DISC, (60.0, 48.0))
    faint_star = Star(xy=(80.0, 80.0), flux=(0.01, 0.01, 0.01))
    bright_star = Star(xy=(20.0, 80.0), flux=(20.0, 20.0, 20.0))
    field = render_detection_field(_spec([off, on], [faint_star, bright_star]))
    assert list(field.objects["kind"]) == ["spiral", "star"]
    assert field.objects["x"][1] == 20.0
    assert field.objects["radius_px"][1] == pytest.approx(np.sqrt(field.objects["npix"][1]
                                                                  / np.pi))
    without = render_detection_field(_spec([on], [faint_star, bright_star]))
    # same noise seed: the difference is the off-image galaxy's light, bright at the left edge
    extra = field.bands[1] - without.bands[1]
    assert extra[40:56, 0].mean() > 5 * SKY_R
    assert extra[:, 80:].max() < 1e-3
    # the off-image galaxy's light is unlisted (at the left edge, not near the listed objects)
    assert field.unlisted.shape == (SIZE, SIZE) and field.unlisted.dtype == bool
    assert field.unlisted[40:56, 0].all()
    assert not field.unlisted[:, 40:].any()
    assert not without.unlisted.any()


def test_empty_field_has_no_objects():
    field = render_detection_field(_spec())
    assert field.masks.shape == (0, SIZE, SIZE)
    assert len(field.objects) == 0 and tuple(field.objects.colnames) == OBJECT_COLUMNS


# ----------------------------------------------------------------------------------
# data set and CLI
# ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("detection")
    write_detection_dataset(out, 3, seed=1, size=SIZE, workers=1, progress=False)
    return out


def test_dataset_is_a_detection_example_folder(dataset):
    examples = read_detection_examples(dataset)
    assert examples.names == [field_name(i) for i in range(3)] == ["d000000", "d000001",
                                                                    "d000002"]
    for i, example in enumerate(examples):
        assert example.source == "sim"
        assert example.shape == (SIZE, SIZE)
        assert example.pixscale_arcsec == pytest.approx(PIX)
        masks = example.masks()
        assert masks.shape == (len(example.objects), SIZE, SIZE)
        np.testing.assert_array_equal(example.objects["index"], np.arange(len(masks)))
        assert set(example.classes) <= set(DETECTION_CLASSES)
        field = simulate_detection_field(i, seed=1, size=SIZE)
        np.testing.assert_array_equal(masks, field.masks)
        np.testing.assert_array_equal(example.unlisted_mask(), field.unlisted)
        np.testing.assert_array_equal(example.rgb(), field.rgb)
        np.testing.assert_allclose(example.objects["x"], field.objects["x"])
        np.testing.assert_array_equal(example.objects["overlap"], field.objects["overlap"])


def test_dataset_fits_has_wcs_and_three_bands(dataset):
    example = read_detection_examples(dataset)[0]
    with fits.open(example.fits_path) as hdul:
        cube, header = hdul[0].data, hdul[0].header
    assert cube.shape == (3, SIZE, SIZE) and cube.dtype.newbyteorder('=') == np.float32
    assert header["BUNIT"] == "nanomaggy" and header["BANDS"] == "grz"
    wcs = WCS(header)
    assert wcs.has_celestial
    assert wcs.proj_plane_pixel_scales()[0].to_value("arcsec") == pytest.approx(PIX)
    np.testing.assert_array_equal(cube, simulate_detection_field(0, seed=1, size=SIZE).bands)
    image = read_image(example.fits_path)
    assert image.source_kind == "fits-3band" and image.pixscale_arcsec == pytest.approx(PIX)
    # the picture the detector trains on is the one FITS inference makes
    assert np.abs(image.rgb * 255.0 - example.rgb()).max() <= 1.0


def test_resume_and_extend_do_not_duplicate(dataset, tmp_path):
    out = tmp_path / "copy"
    write_detection_dataset(out, 2, seed=1, size=SIZE, workers=1, progress=False)
    (out / "rows" / "d000001.json").unlink()     # an interrupted field is made again
    stamp = (out / "masks" / "d000000.npz").stat().st_mtime_ns
    write_detection_dataset(out, 3, seed=1, size=SIZE, workers=1, progress=False)
    assert (out / "masks" / "d000000.npz").stat().st_mtime_ns == stamp  # read back
    for table in ("examples.csv", "objects.csv"):
        assert (out / table).read_text() == (dataset / table).read_text()
    again = write_detection_dataset(out, 3, seed=1, size=SIZE, workers=1, progress=False)
    assert len(again) == 3
    assert len(again.objects) == len(read_detection_examples(dataset).objects)
    assert json.loads((out / MANIFEST).read_text())["seed"] == 1


def test_other_parameters_need_overwrite(tmp_path):
    write_detection_dataset(tmp_path, 1, seed=1, size=48, workers=1, progress=False)
    with pytest.raises(ValueError, match="other parameters"):
        write_detection_dataset(tmp_path, 1, seed=2, size=48, workers=1, progress=False)
    examples = write_detection_dataset(tmp_path, 1, seed=2, size=48, workers=1,
                                       progress=False, overwrite=True)
    np.testing.assert_array_equal(examples[0].masks(),
                                  simulate_detection_field(0, seed=2, size=48).masks)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n": 0}, "n must be >= 1"),
    ({"size": 16}, "size must be >= 32"),
    ({"pixscale_arcsec": 0.0}, "pixscale_arcsec must be > 0"),
])
def test_dataset_rejects_bad_input(tmp_path, kwargs, match):
    args = {"n": 1, "size": 48, "pixscale_arcsec": PIX} | kwargs
    with pytest.raises(ValueError, match=match):
        write_detection_dataset(tmp_path, args.pop("n"), seed=0, progress=False, **args)


def test_detection_mix(dataset):
    objects = read_detection_examples(dataset).objects
    mix = detection_mix(objects)
    assert mix["objects"] == len(objects)
    assert sum(mix["classes"].values()) == len(objects)
    assert sum(mix["kinds"].values()) == len(objects)
    assert mix["overlap"] == int(np.sum(objects["overlap"]))
    assert detection_mix(objects[:0])["objects"] == 0


def test_cli_detection_fields(tmp_path, capsys):
    out = tmp_path / "cli"
    status = galseg_main(["simulate", str(out), "--n", "2", "--detection-fields", "--size", "48",
                          "--seed", "3", "--workers", "1", "--quiet"])
    assert status == 0
    assert "wrote 2 fields" in capsys.readouterr().out
    examples = read_detection_examples(out)
    assert examples[0].shape == (48, 48)
    np.testing.assert_array_equal(examples[1].masks(),
                                  simulate_detection_field(1, seed=3, size=48).masks)


def test_cli_detection_fields_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        galseg_main(["simulate", str(tmp_path), "--n", "1", "--detection-fields",
                     "--shred-fields"])
    assert "not allowed with" in capsys.readouterr().err
    status = galseg_main(["simulate", str(tmp_path), "--n", "1", "--detection-fields",
                          "--volunteers", "3", "--quiet"])
    assert status == 2
    assert "--volunteers does not apply" in capsys.readouterr().err
    status = galseg_main(["simulate", str(tmp_path), "--n", "1", "--detection-fields",
                          "--size", "8", "--quiet"])
    assert status == 2
    assert "size must be >= 32" in capsys.readouterr().err
