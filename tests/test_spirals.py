"""Arm count, pitch angle and winding (galseg.measure.spirals) on rendered spirals of known
geometry, the winding convention, mirror symmetry, the image's orientation, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS
from scipy import ndimage

from galseg.data.gz3d import gz3d_wcs, image_winding
from galseg.data.images import image_from_array
from galseg.measure.spirals import (
    SpiralMeasurement,
    image_parity,
    log_spiral_spectrum,
    measure_disc,
    spiral_chirality,
    wcs_parity,
)
from galseg.sim.galaxy import GalaxyModel, SpiralArm
from galseg.sim.scene import ObservingConditions, SceneSpec, render_cutout

SIZE = 96


def _spiral(*, pitch: float = 20.0, handedness: int = 1, inclination: float = 0.0,
            disc_angle: float = 30.0, n_arms: int = 2):
    model = GalaxyModel(
        bulge_flux=(10.0, 20.0, 30.0), bulge_half_light_radius_arcsec=0.8, bulge_sersic_n=2.0,
        bulge_axis_ratio=0.9, disc_flux=(150.0, 250.0, 330.0), disc_scale_length_arcsec=3.5,
        inclination_deg=inclination, disc_angle_deg=disc_angle, handedness=handedness,
        arms=tuple(SpiralArm(start_angle_deg=360.0 * k / n_arms, start_radius_arcsec=1.5,
                             end_radius_arcsec=11.0, pitch_angle_deg=pitch, width_arcsec=1.0,
                             amplitude=2.5) for k in range(n_arms)))
    spec = SceneSpec(name="s", shape=(SIZE, SIZE), galaxy=model,
                     galaxy_centre_xy=((SIZE - 1) / 2, (SIZE - 1) / 2), galaxy_class="spiral",
                     arm_structure="grand_design", redshift=0.03, ra_deg=150.0, dec_deg=2.0,
                     conditions=ObservingConditions(), noise_seed=3)
    cutout = render_cutout(spec)
    # a map like the segmenter's: the truth arms, a little blurred
    vote_map = ndimage.gaussian_filter(cutout.truth.spiral_mask.astype(float), 1.0)
    return cutout, vote_map


@pytest.fixture(scope="module")
def face_on_acw():
    return _spiral(handedness=1)


def test_handedness_one_turns_clockwise_on_the_screen_so_is_s_wise(face_on_acw):
    """The convention itself, from the geometry of the rendered ridge: shown with row 0 on
    top (north up, east left for GZ3D's WCS), an S-wise spiral's arms turn clockwise as
    they go out; Galaxy Zoo 1 calls that anticlockwise (Z-wise is its clockwise)."""
    cutout, _ = face_on_acw
    ridge = cutout.truth.arms[0].ridge_xy
    cx, cy = cutout.spec.galaxy_centre_xy
    screen_angle = np.unwrap(np.arctan2(-(ridge[:, 1] - cy), ridge[:, 0] - cx))  # y up
    radius = np.hypot(ridge[:, 0] - cx, ridge[:, 1] - cy)
    outwards = np.argsort(radius)
    assert screen_angle[outwards[-1]] < screen_angle[outwards[0]]  # clockwise outwards
    assert cutout.truth_row()["arm_winding"] == "acw" == image_winding(+1.0)
    assert image_winding(-2.0) == "cw" and image_winding(np.nan) == "" == image_winding(0.0)


@pytest.mark.parametrize(("handedness", "winding"), [(1, "acw"), (-1, "cw")])
@pytest.mark.parametrize(("pitch", "inclination"), [(15.0, 0.0), (25.0, 50.0)])
def test_rendered_spirals_give_their_pitch_count_and_winding(handedness, winding, pitch,
                                                             inclination):
    cutout, vote_map = _spiral(pitch=pitch, handedness=handedness, inclination=inclination)
    spirals = SpiralMeasurement(vote_map, cutout.rgb)
    row = spirals.to_row()
    assert row["pitch_angle_deg"] == pytest.approx(pitch, abs=3.0)
    assert 0 < row["pitch_angle_err_deg"] < 8
    assert row["n_arms"] == 2
    assert row["arm_winding"] == winding == cutout.truth_row()["arm_winding"]
    # bright two-armed spirals make the isophote a little oval (docs/measurements.md)
    assert row["disc_axis_ratio"] == pytest.approx(cutout.spec.galaxy.apparent_disc_axis_ratio,
                                                   abs=0.2)
    if inclination:
        true_pa = cutout.truth_row()["disc_pa_deg"]
        assert abs((row["disc_pa_deg"] - true_pa + 90) % 180 - 90) < 8


@pytest.mark.parametrize("handedness", [1, -1])
def test_the_pitch_comes_from_the_light_not_the_width_of_the_map(handedness):
    """A map four times blurrier than the arms (the segmenter's are broad) only says where
    to look: the pitch is the light's, within 2 degrees of the sharp map's."""
    cutout, vote_map = _spiral(pitch=15.0, handedness=handedness)
    broad = ndimage.gaussian_filter(cutout.truth.spiral_mask.astype(float), 4.0)
    sharp = SpiralMeasurement(vote_map, cutout.rgb)
    blurred = SpiralMeasurement(broad / broad.max(), cutout.rgb)
    assert blurred.pitch_angle_deg == pytest.approx(sharp.pitch_angle_deg, abs=2.0)
    assert blurred.pitch_angle_deg == pytest.approx(15.0, abs=3.0)
    # without arms in the light (a smooth disc) the same map gives no coherent pitch
    smooth = SpiralMeasurement(broad / broad.max(), _spiral(pitch=15.0, n_arms=0)[0].rgb)
    assert smooth.pitch_angle_err_deg > 3 * blurred.pitch_angle_err_deg


def test_three_arms_are_counted():
    cutout, vote_map = _spiral(pitch=25.0, n_arms=3)
    assert SpiralMeasurement(vote_map, cutout.rgb).n_arms == 3


def test_mirror_image_winds_the_other_way_with_the_same_pitch_and_count(face_on_acw):
    cutout, vote_map = face_on_acw
    spirals = SpiralMeasurement(vote_map, cutout.rgb)
    mirrored = SpiralMeasurement(vote_map[:, ::-1], cutout.rgb[:, ::-1])
    assert {spirals.winding, mirrored.winding} == {"cw", "acw"}
    assert mirrored.pitch_angle_deg == pytest.approx(spirals.pitch_angle_deg, abs=0.5)
    assert mirrored.n_arms == spirals.n_arms
    assert mirrored.chirality == pytest.approx(-spirals.chirality, abs=0.02)


def test_a_mirrored_wcs_flips_the_winding_and_no_wcs_gives_none(face_on_acw):
    cutout, vote_map = face_on_acw
    gz3d = gz3d_wcs((SIZE, SIZE), 150.0, 2.0, pixscale_arcsec=0.262)
    standard = WCS(naxis=2)
    standard.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    standard.wcs.cd = np.diag([-0.262 / 3600, 0.262 / 3600])
    standard.wcs.crval = [150.0, 2.0]
    latitude_first = WCS(naxis=2)
    latitude_first.wcs.ctype = ["DEC--TAN", "RA---TAN"]
    latitude_first.wcs.cd = np.array([[0.0, -0.262 / 3600], [-0.262 / 3600, 0.0]])
    latitude_first.wcs.crval = [2.0, 150.0]
    assert wcs_parity(gz3d) == 1 and wcs_parity(standard) == -1
    # the GZ3D mapping (dec = -s y, ra = -s x) with the world axes listed the other way
    assert wcs_parity(latitude_first) == 1
    latitude_first.wcs.cd = np.array([[0.0, 0.262 / 3600], [-0.262 / 3600, 0.0]])
    assert wcs_parity(latitude_first) == -1  # dec = +s y: mirrored
    bands = cutout.bands
    assert image_parity(image_from_array(cutout.rgb)) == 1
    assert image_parity(image_from_array(bands, wcs=gz3d, bunit="nanomaggy")) == 1
    assert image_parity(image_from_array(bands, wcs=standard, bunit="nanomaggy")) == -1
    assert image_parity(image_from_array(bands, bunit="nanomaggy")) == 0
    winding = {parity: SpiralMeasurement(vote_map, cutout.rgb, parity=parity).winding
               for parity in (1, -1, 0)}
    assert winding == {1: "acw", -1: "cw", 0: ""}


def test_disc_geometry_of_an_elliptical_blob():
    yy, xx = np.mgrid[0:80, 0:100].astype(float)
    angle = np.deg2rad(35.0)
    dx, dy = xx - 52.0, yy - 37.0
    along = dx * np.cos(angle) + dy * np.sin(angle)
    across = -dx * np.sin(angle) + dy * np.cos(angle)
    light = 0.1 + np.exp(-np.hypot(along, across / 0.5) / 6.0)
    disc = measure_disc(light)
    assert disc.centre_xy == (52.0, 37.0)
    assert disc.axis_ratio == pytest.approx(0.5, abs=0.05)
    assert disc.angle_deg == pytest.approx(35.0, abs=2.0)
    x, y = disc.to_image(*disc.to_disc_plane(np.array([60.0]), np.array([20.0])))
    assert (x[0], y[0]) == pytest.approx((60.0, 20.0))
    # round rings need no correction: the region's moments are kept
    region = measure_disc(light, refine=False)
    assert disc.axis_ratio == pytest.approx(region.axis_ratio, abs=0.02)
    assert disc.angle_deg == pytest.approx(region.angle_deg, abs=1.0)


@pytest.mark.parametrize(("inclination", "pitch"), [(0.0, 15.0), (0.0, 25.0), (45.0, 15.0)])
def test_rounding_the_rings_corrects_the_oval_isophote_of_a_two_armed_spiral(inclination,
                                                                             pitch):
    """Two bright arms stretch the disc's isophote; the rings of the whole disc's light,
    made round, bring the axis ratio back towards the truth."""
    cutout, _ = _spiral(pitch=pitch, inclination=inclination)
    truth = cutout.spec.galaxy.apparent_disc_axis_ratio
    region, refined = measure_disc(cutout.rgb, refine=False), measure_disc(cutout.rgb)
    assert abs(refined.axis_ratio - truth) < abs(region.axis_ratio - truth)
    assert refined.axis_ratio == pytest.approx(truth, abs=0.12)


def test_spectrum_and_chirality_of_a_pure_log_spiral():
    log_radius = np.linspace(np.log(3), np.log(30), 48)
    azimuth = np.arange(128) * 2 * np.pi / 128
    k = 1 / np.tan(np.deg2rad(20.0))  # pitch 20 deg, phi = phi0 + k ln r
    pattern = 1 + np.cos(2 * (azimuth[None, :] - k * log_radius[:, None]))
    amplitude, best_p = log_spiral_spectrum(pattern, log_radius)
    assert np.argmax(amplitude) == 0  # m = 2
    assert np.rad2deg(np.arctan2(2, abs(best_p[0]))) == pytest.approx(20.0, abs=1.0)
    assert best_p[0] == pytest.approx(-2 * k, abs=0.5)
    assert spiral_chirality(pattern - 1, log_radius) < -0.9  # power at p < 0: k > 0
    assert spiral_chirality(pattern[:, ::-1] - 1, log_radius) > 0.9


def test_no_arms_means_no_geometry(face_on_acw):
    cutout, _ = face_on_acw
    row = SpiralMeasurement(np.zeros((SIZE, SIZE)), cutout.rgb).to_row()
    assert np.isnan(row["pitch_angle_deg"]) and np.isnan(row["n_arms"])
    assert np.isnan(row["disc_axis_ratio"]) and np.isnan(row["disc_pa_deg"])
    nan_map = np.full((SIZE, SIZE), np.nan)
    assert np.isnan(SpiralMeasurement(nan_map, cutout.rgb).pitch_angle_deg)


def test_an_edge_on_disc_is_not_deprojected():
    cutout, vote_map = _spiral(inclination=85.0)
    spirals = SpiralMeasurement(vote_map, cutout.rgb)
    assert spirals.disc.axis_ratio < 0.25
    assert np.isnan(spirals.pitch_angle_deg) and np.isnan(spirals.chirality)
    assert spirals.winding == ""


def test_large_inputs_are_measured_on_a_coarser_grid(face_on_acw):
    cutout, vote_map = face_on_acw
    big_map = np.kron(vote_map, np.ones((4, 4)))
    big_light = np.kron(cutout.rgb.mean(axis=2), np.ones((4, 4)))
    small = SpiralMeasurement(vote_map, cutout.rgb)
    big = SpiralMeasurement(big_map, big_light)
    assert big.pitch_angle_deg == pytest.approx(small.pitch_angle_deg, abs=2.0)
    assert big.winding == small.winding and big.n_arms == small.n_arms
    centre = np.array(small.disc.centre_xy)
    assert np.allclose(big.disc.centre_xy, (centre + 0.5) * 4 - 0.5, atol=4)
    assert all(curve.max() < 4 * SIZE for curve in big.spiral_xy())


def test_bad_input_is_refused(face_on_acw):
    cutout, vote_map = face_on_acw
    with pytest.raises(ValueError, match="light must be on the map's grid"):
        SpiralMeasurement(vote_map, cutout.rgb[:10])
    with pytest.raises(ValueError, match="parity must be 1, -1 or 0"):
        SpiralMeasurement(vote_map, cutout.rgb, parity=2)
    with pytest.raises(ValueError, match="threshold must be"):
        SpiralMeasurement(vote_map, cutout.rgb, level="half")
    with pytest.raises(ValueError, match="light must be an"):
        measure_disc(np.zeros((4, 4, 4, 4)))


def test_a_one_pixel_region_has_no_ellipse_and_no_warning():
    import warnings

    from galseg.measure.spirals import _ellipse_of

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero warning reached users
        ratio, _, rms = _ellipse_of(np.array([3.0]), np.array([4.0]))
    assert np.isnan(ratio) and rms == 0.0
