"""Shred training fields (galseg.sim.shreds, galseg.sim.shred_dataset): truth and data set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from PIL import Image

from galseg.cli.main import main as galseg_main
from galseg.data.cutouts import cutout_rgb
from galseg.data.images import read_image
from galseg.sim.galaxy import GalaxyModel, Knot, SpiralArm, render_galaxy
from galseg.sim.scene import ObservingConditions, Star
from galseg.sim.shred_dataset import (
    CATALOG_COLUMNS,
    ShredSimulationConfig,
    class_mix,
    simulate_field,
    simulate_shred_dataset,
)
from galseg.sim.shreds import (
    KINDS,
    FieldGalaxy,
    ShredFieldSpec,
    _centre_bumps,
    _Component,
    _segment_sums,
    draw_shred_field,
    render_shred_field,
)

PIX = 0.469
H = 6.0  # host disc scale length, arcsec
KNOT_RADIUS = 2.5 * H
CARRIER = SpiralArm(start_angle_deg=0.0, start_radius_arcsec=2.0, end_radius_arcsec=21.0,
                    pitch_angle_deg=30.0, width_arcsec=1.0, amplitude=0.0)
HOST = GalaxyModel(
    bulge_flux=(250.0, 400.0, 550.0), bulge_half_light_radius_arcsec=1.5, bulge_sersic_n=2.0,
    bulge_axis_ratio=0.9, disc_flux=(1000.0, 1600.0, 2000.0), disc_scale_length_arcsec=H,
    inclination_deg=20.0, disc_angle_deg=30.0, arms=(CARRIER,),
    knots=tuple(Knot(0, KNOT_RADIUS, 0.5, 50.0, azimuth_offset_deg=a) for a in (0, 90, 180, 270)))
CENTRE = (111.3, 111.6)


def _disc_xy(radius: float, azimuth_offset_deg: float) -> tuple[float, float]:
    angle = float(HOST.arm_ridge_angle(CARRIER, np.asarray(radius)))
    angle += np.deg2rad(azimuth_offset_deg)
    dx, dy = HOST.disc_to_sky(radius * np.cos(angle), radius * np.sin(angle))
    return CENTRE[0] + float(dx) / PIX, CENTRE[1] + float(dy) / PIX


BACKGROUND_XY = _disc_xy(3.2 * H, 45.0)


def _constructed_field() -> ShredFieldSpec:
    """A face-on-ish spiral with four bright knots at 2.5 h, a compact galaxy behind its
    disc, a field galaxy and a star."""
    background = FieldGalaxy(GalaxyModel(bulge_flux=(12.0, 40.0, 80.0),
                                         bulge_half_light_radius_arcsec=0.5, bulge_sersic_n=1.5,
                                         bulge_axis_ratio=0.8), BACKGROUND_XY, "background")
    field = FieldGalaxy(GalaxyModel(bulge_flux=(10.0, 20.0, 30.0),
                                    bulge_half_light_radius_arcsec=1.0, bulge_sersic_n=1.0,
                                    bulge_axis_ratio=0.7), (30.0, 190.0), "field")
    return ShredFieldSpec(
        name="test", shape=(224, 224), host=HOST, host_centre_xy=CENTRE, host_class="spiral",
        host_arm_structure="none", host_redshift=0.01, host_radius_arcsec=3.5 * H,
        ra_deg=10.0, dec_deg=5.0, conditions=ObservingConditions(pixscale_arcsec=PIX),
        galaxies=(background, field), stars=(Star((190.0, 40.0), (20.0, 30.0, 35.0)),),
        selection_radius_px=3.5 * H / PIX, noise_seed=3)


def _assert_same_table(a: Table, b: Table) -> None:
    assert a.colnames == b.colnames and len(a) == len(b)
    for name in a.colnames:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]), err_msg=name)


def _nearest(detections: Table, xy: tuple[float, float]):
    d = np.hypot(detections["x"] - xy[0], detections["y"] - xy[1])
    return detections[int(np.argmin(d))], float(d.min())


@pytest.fixture(scope="module")
def constructed():
    return render_shred_field(_constructed_field())


def test_knots_far_out_are_shreds_the_nucleus_is_the_host(constructed):
    detections = constructed.detections
    host, distance = _nearest(detections, CENTRE)
    assert distance < 1.5 and host["kind"] == "host" and host["true_is_shred"] == 0
    for azimuth in (0, 90, 180, 270):
        knot, distance = _nearest(detections, _disc_xy(KNOT_RADIUS, azimuth))
        assert distance < 1.5
        assert knot["kind"] == "shred" and knot["true_is_shred"] == 1
        assert knot["source_kind"] == "host" and knot["dominant_fraction"] > 0.9
        assert knot["host_distance_arcsec"] == pytest.approx(
            np.hypot(knot["x"] - CENTRE[0], knot["y"] - CENTRE[1]) * PIX)
        assert 1.5 < knot["host_distance_scale_lengths"] < 3.0


def test_background_galaxy_behind_the_disc_field_galaxy_and_star_are_not_shreds(constructed):
    detections = constructed.detections
    for xy, kind in ((BACKGROUND_XY, "background"), ((30.0, 190.0), "field"),
                     ((190.0, 40.0), "star")):
        row, distance = _nearest(detections, xy)
        assert distance < 1.5
        assert row["kind"] == kind and row["true_is_shred"] == 0
    assert set(detections["kind"]) <= set(KINDS)
    np.testing.assert_array_equal(detections["true_is_shred"], detections["kind"] == "shred")


def test_selection_keeps_rows_near_the_host(constructed):
    spec = constructed.spec
    catalog = constructed.catalog
    distance = np.hypot(catalog["x"] - CENTRE[0], catalog["y"] - CENTRE[1])
    assert np.all(distance <= spec.selection_radius_px)
    assert "star" not in catalog["kind"] and "field" not in catalog["kind"]
    assert sorted(catalog["kind"]) == ["background", "host"] + ["shred"] * 4


def test_flux_above_the_minimum_credits_the_bump_not_the_smooth_light_under_it():
    # one 10 x 10 segment: a flat disc of 1 per pixel (flux 100) and a compact bump of 30
    segmentation = np.zeros((12, 12), np.int32)
    segmentation[1:11, 1:11] = 1
    disc = np.where(segmentation > 0, 1.0, 0.5)
    bump = np.zeros((12, 12))
    bump[5:7, 5:7] = 7.5
    components = [_Component("host", (5.5, 5.5), 3.0, (slice(0, 12), slice(0, 12)), disc),
                  _Component("background", (5.5, 5.5), 3.0, (slice(4, 8), slice(4, 8)),
                             bump[4:8, 4:8])]
    flux, excess = _segment_sums(components, segmentation, 1)
    np.testing.assert_allclose(flux[:, 0], [100.0, 30.0])
    np.testing.assert_allclose(excess[:, 0], [0.0, 30.0])


def test_centre_bump_credits_what_peaks_at_the_catalog_position():
    # one 41 x 41 segment: a disc ramp and an arm ridge 10 px right of a faint star
    yy, xx = np.mgrid[:41, :41].astype(float)
    ramp = 1.0 + 0.05 * xx
    ridge = 5.0 * np.exp(-0.5 * ((xx - 30.0) / 1.5) ** 2)
    star = 40.0 * np.exp(-0.5 * ((xx - 20.0) ** 2 + (yy - 20.0) ** 2) / 1.2 ** 2)
    everywhere = (slice(0, 41), slice(0, 41))
    components = [_Component("host", CENTRE, 3.0, everywhere, ramp + ridge),
                  _Component("star", (20.0, 20.0), 3.0, (slice(12, 29), slice(12, 29)),
                             star[12:29, 12:29])]
    # the whole segment credits the arm: it is how the old rule mislabelled stars on arms
    _, excess = _segment_sums(components, np.ones((41, 41), np.int32), 1)
    assert excess[0, 0] > excess[1, 0]
    bumps, core_npix = _centre_bumps(components, np.array([20.0, 30.0]),
                                     np.array([20.0, 20.0]), core_radius_px=2.0)
    np.testing.assert_array_equal(core_npix, [13, 13])
    star_core = star[(xx - 20.0) ** 2 + (yy - 20.0) ** 2 <= 4.0].sum()
    # at the star the ramp is smooth (its linear part cancels) and the arm is far away
    assert bumps[1, 0] > 0.5 * star_core and bumps[0, 0] < 0.01 * bumps[1, 0]
    # on the arm, the host makes the peak
    assert bumps[0, 1] > 10 * bumps[1, 1]
    # a component with no light near a detection has no bump
    far, _ = _centre_bumps(components[1:], np.array([2.0]), np.array([38.0]), 2.0)
    assert far[0, 0] == 0.0


def test_same_seed_same_field_and_catalog():
    first = draw_shred_field(np.random.default_rng([4, 2]), name="a")
    assert first == draw_shred_field(np.random.default_rng([4, 2]), name="a")
    assert first != draw_shred_field(np.random.default_rng([4, 3]), name="a")
    a, b = render_shred_field(first), render_shred_field(first)
    np.testing.assert_array_equal(a.bands, b.bands)
    _assert_same_table(a.detections, b.detections)


def test_every_host_class_draws_and_the_field_holds_the_selection():
    for host_class in ("spiral", "clumpy", "edge_on", "smooth_disc", "lenticular",
                       "elliptical"):
        spec = draw_shred_field(np.random.default_rng([1, 0]), name="x", host_class=host_class)
        assert spec.host_class == host_class
        half = min(spec.shape) / 2
        # a full 128 px cutout around any detection within the selection radius
        assert spec.selection_radius_px + 64 + 1.5 <= half
    with pytest.raises(ValueError, match="host_class must be one of"):
        draw_shred_field(np.random.default_rng(0), name="x", host_class="irregular")


def test_lopsided_disc_moves_light_but_keeps_its_flux():
    disc = GalaxyModel(bulge_flux=(0.0, 1e-9, 0.0), bulge_half_light_radius_arcsec=1.0,
                       bulge_sersic_n=1.0, bulge_axis_ratio=1.0, disc_flux=(1.0, 1.0, 1.0),
                       disc_scale_length_arcsec=3.0)
    kwargs = dict(shape=(161, 161), centre_xy=(80.0, 80.0), pixscale_arcsec=0.5)
    symmetric = render_galaxy(disc, **kwargs).disc[1]
    lopsided = render_galaxy(GalaxyModel(**{**disc.__dict__, "lopsidedness": 0.3}),
                             **kwargs).disc[1]
    assert lopsided.sum() == pytest.approx(symmetric.sum(), rel=1e-3)
    # brightest towards azimuth 0 (+x for a face-on disc at angle 0)
    assert lopsided[80, 100] > 1.15 * symmetric[80, 100]
    assert lopsided[80, 60] < 0.85 * symmetric[80, 60]
    with pytest.raises(ValueError, match="lopsidedness"):
        GalaxyModel(**{**disc.__dict__, "lopsidedness": 1.0})


# ----------------------------------------------------------------------------------
# The data set
# ----------------------------------------------------------------------------------

CONFIG = ShredSimulationConfig(n_fields=4, seed=11, write_fields=True)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("shreds")
    catalog = simulate_shred_dataset(out, CONFIG, workers=1, progress=False)
    return out, catalog


def test_dataset_writes_cutouts_catalog_and_fields(dataset):
    out, catalog = dataset
    assert tuple(catalog.colnames) == CATALOG_COLUMNS
    assert len(catalog) > 10
    on_disk = Table.read(out / "catalog.csv", format="ascii.csv")
    assert list(on_disk["id"]) == list(catalog["id"])
    assert len(set(catalog["id"])) == len(catalog)
    assert sorted(p.name for p in (out / "cutouts").iterdir()) == sorted(
        f"{i}_grz.png" for i in catalog["id"])
    # rows ordered by field, then detection
    keys = list(zip(catalog["field"], catalog["det"], strict=True))
    assert keys == sorted(keys)
    assert np.all(catalog["cutout_coverage"] == 1.0)
    np.testing.assert_array_equal(catalog["true_is_shred"], catalog["kind"] == "shred")
    manifest = json.loads((out / "shreds_simulation.json").read_text())
    assert manifest["n_fields"] == 4 and manifest["pipeline"]["deblend_cont"] == 0.005
    mix = class_mix(catalog)
    assert mix["rows"] == len(catalog) and sum(mix["kinds"].values()) == len(catalog)


def test_cutouts_are_128_px_rgb_centred_on_their_detection(dataset):
    out, catalog = dataset
    shred_field = simulate_field(CONFIG, 1)
    rgb = shred_field.rgb
    rows = catalog[catalog["field"] == "f000001"]
    assert len(rows) > 0
    for row in rows:
        png = np.asarray(Image.open(out / row["cutout"]))
        assert png.shape == (128, 128, 3) and png.dtype == np.uint8
        col, line = round(row["x"]), round(row["y"])
        np.testing.assert_array_equal(png[64, 64], rgb[line, col])
        np.testing.assert_array_equal(png[0, 0], rgb[line - 64, col - 64])
        expected = cutout_rgb(rgb.astype(np.float32) / 255, row["x"], row["y"], size=128)
        np.testing.assert_array_equal(png, (expected.rgb * 255 + 0.5).astype(np.uint8))


def test_field_cubes_read_back_as_grz_nanomaggies_with_wcs(dataset):
    out, catalog = dataset
    path = out / "fields" / "f000002.fits"
    with fits.open(path) as hdus:
        header = hdus[0].header
        assert hdus[0].data.shape[0] == 3 and hdus[0].data.dtype.kind == "f"
        assert header["BUNIT"] == "nanomaggy" and header["BANDS"] == "grz"
    image = read_image(path)
    assert image.pixscale_arcsec == pytest.approx(PIX)
    row = catalog[catalog["field"] == "f000002"][0]
    ra, dec = image.wcs.wcs_pix2world(row["x"], row["y"], 0)
    assert ra == pytest.approx(row["ra"]) and dec == pytest.approx(row["dec"])


def test_same_data_whatever_the_workers_and_resume_loses_nothing(dataset, tmp_path):
    out, catalog = dataset
    parallel = simulate_shred_dataset(tmp_path, CONFIG, workers=2, progress=False)
    _assert_same_table(parallel, catalog)
    first = sorted(catalog["id"])[0]
    assert (tmp_path / "cutouts" / f"{first}_grz.png").read_bytes() == (
        out / "cutouts" / f"{first}_grz.png").read_bytes()

    # an interrupted run: one field never finished, another lost a cutout, no catalog yet
    (tmp_path / "rows" / "f000001.json").unlink()
    lost = catalog[catalog["field"] == "f000002"][0]["cutout"]
    (tmp_path / lost).unlink()
    (tmp_path / "catalog.csv").unlink()
    resumed = simulate_shred_dataset(tmp_path, CONFIG, workers=1, progress=False)
    _assert_same_table(resumed, catalog)
    assert len(list((tmp_path / "cutouts").glob("*.png"))) == len(catalog)
    assert len(list((tmp_path / "rows").glob("*.json"))) == CONFIG.n_fields


def test_other_parameters_in_the_same_folder_are_refused(dataset):
    out, _ = dataset
    with pytest.raises(ValueError, match="other parameters"):
        simulate_shred_dataset(out, ShredSimulationConfig(n_fields=4, seed=12,
                                                          write_fields=True), progress=False)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="n_fields must be >= 1"):
        ShredSimulationConfig(n_fields=0)
    with pytest.raises(ValueError, match="cutout_size"):
        ShredSimulationConfig(n_fields=1, cutout_size=8)


def test_simulate_command_line_shred_fields(tmp_path, capsys):
    out = tmp_path / "cli"
    assert galseg_main(["simulate", str(out), "--n", "1", "--shred-fields", "--seed", "11",
                        "--workers", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "detections from 1 fields" in printed and "shreds" in printed
    assert (out / "catalog.csv").exists() and not (out / "gz3d").exists()
    assert galseg_main(["simulate", str(out), "--n", "1", "--shred-fields",
                        "--volunteers", "3"]) == 2
    assert "--volunteers does not apply" in capsys.readouterr().err
