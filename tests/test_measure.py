"""Bar and spiral-arm measurements on vote-fraction maps (galseg.measure)."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.wcs import WCS
from scipy.ndimage import gaussian_filter

from galseg.data.gz3d import gz3d_wcs
from galseg.measure import (
    DEFAULT_SPIRAL_THRESHOLD,
    ArmMeasurement,
    BarMeasurement,
    measure_arms,
    measure_bar,
    measure_maps,
)
from galseg.measure.bar import minimum_area_rectangle, parse_threshold, threshold_level
from galseg.physical import kpc_per_arcsec
from galseg.sim.population import draw_scene
from galseg.sim.scene import image_angle_to_position_angle, render_cutout

BAR_KEYS = {"has_bar", "bar_length_px", "bar_length_arcsec", "bar_length_kpc", "bar_width_px",
            "bar_axis_ratio", "bar_pa_deg"}
ARM_KEYS = {"has_spiral_arms", "spiral_area_px", "spiral_area_arcsec2", "spiral_area_kpc2",
            "spiral_max_vote_fraction"}


def rectangle(shape, centre_xy, length, width, angle_deg, value=0.8):
    """Map with ``value`` at pixel centres inside a rotated rectangle, 0 elsewhere."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    a = np.deg2rad(angle_deg)
    dx, dy = x - centre_xy[0], y - centre_xy[1]
    along = dx * np.cos(a) + dy * np.sin(a)
    across = -dx * np.sin(a) + dy * np.cos(a)
    inside = (np.abs(along) <= length / 2) & (np.abs(across) <= width / 2)
    return np.where(inside, value, 0.0)


def angle_difference(a, b):
    return abs((a - b + 90.0) % 180.0 - 90.0)


# --- geometry --------------------------------------------------------------------
@pytest.mark.parametrize("length", [12.0, 25.5, 41.0])
@pytest.mark.parametrize("angle", [0.0, 17.0, 45.0, 90.0, 133.0, 171.0])
def test_rotated_rectangle_length_width_and_angle(length, angle):
    width = 0.3 * length
    vote_fraction = rectangle((80, 110), (55.3, 39.6), length, width, angle)
    bar = BarMeasurement(vote_fraction, threshold=0.5)
    assert bar.detected
    assert abs(bar.length_px - length) <= 1.5
    assert abs(bar.width_px - width) <= 1.5
    assert bar.axis_ratio == pytest.approx(bar.width_px / bar.length_px)
    assert angle_difference(bar.position_angle_deg, angle) <= 3.0
    assert 0 <= bar.position_angle_deg < 180
    assert bar.sky_position_angle_deg == pytest.approx(
        image_angle_to_position_angle(bar.position_angle_deg))


def test_axis_aligned_rectangle_is_exact_in_pixel_corners():
    vote_fraction = np.zeros((30, 40))
    vote_fraction[10:14, 5:25] = 1.0  # 20 x 4 pixels
    bar = measure_bar(vote_fraction, threshold=0.5)
    assert (bar.length_px, bar.width_px, bar.axis_ratio) == pytest.approx((20, 4, 0.2))
    assert bar.position_angle_deg == pytest.approx(0.0)
    assert bar.centroid_xy == pytest.approx((14.5, 11.5))
    assert bar.sky_position_angle_deg == pytest.approx(90.0)  # east-west: +x is west
    assert bar.area_px == 80
    vertical = measure_bar(vote_fraction.T.copy(), threshold=0.5)
    assert vertical.sky_position_angle_deg == pytest.approx(0.0)  # north-south


def test_minimum_area_rectangle_of_one_pixel_and_a_diagonal_line():
    one = np.zeros((5, 5), bool)
    one[2, 3] = True
    assert minimum_area_rectangle(one)[:2] == pytest.approx((1.0, 1.0))
    line = np.eye(10, dtype=bool)
    length, width, angle = minimum_area_rectangle(line)
    assert length == pytest.approx(9 * np.sqrt(2) + np.sqrt(2))  # corner to corner
    assert width == pytest.approx(np.sqrt(2))
    assert angle == pytest.approx(45.0)


def test_blurred_bar_peak_rule_is_independent_of_the_map_scale():
    sharp = rectangle((64, 64), (32, 31), 30, 8, 30, value=1.0)
    blurred = gaussian_filter(sharp, 2.0)
    bar = BarMeasurement(blurred, threshold="peak0.5")
    assert abs(bar.length_px - 30) <= 2.0
    assert angle_difference(bar.position_angle_deg, 30) <= 2.0
    fainter = BarMeasurement(0.6 * blurred, threshold="peak0.5")
    assert fainter.length_px == pytest.approx(bar.length_px)
    assert fainter.threshold_value == pytest.approx(0.6 * bar.threshold_value)
    assert bar.threshold_value == pytest.approx(0.5 * blurred.max())
    # an absolute level shrinks the fainter map's region instead
    assert (BarMeasurement(0.6 * blurred, threshold=0.4).length_px
            < BarMeasurement(blurred, threshold=0.4).length_px)


def test_median_nonzero_rule_is_the_median_of_the_marked_pixels():
    vote_fraction = np.zeros((40, 40))
    vote_fraction[18:22, 5:35] = 0.2  # 120 px, the bar
    vote_fraction[18:22, 14:26] = 0.6  # 48 px, its bright middle
    vote_fraction[0, 0] = np.nan  # no data counts as 0
    bar = BarMeasurement(vote_fraction, threshold="median-nonzero")
    assert bar.threshold_value == pytest.approx(0.2)  # 72 of the 120 marked pixels are 0.2
    assert bar.length_px == pytest.approx(30)
    assert threshold_level(vote_fraction, "p80-nonzero") == pytest.approx(0.6)
    assert threshold_level(vote_fraction, "peak0.5") == pytest.approx(0.3)
    assert threshold_level(vote_fraction, 0.4) == 0.4
    # scaling the map scales the level, so the measured region does not change
    fainter = BarMeasurement(0.5 * vote_fraction, threshold="median-nonzero", min_peak=0.1)
    assert fainter.length_px == pytest.approx(bar.length_px)
    empty = BarMeasurement(np.zeros((10, 10)), threshold="median-nonzero")
    assert not empty.detected and np.isnan(empty.length_px)


def test_region_is_the_component_of_the_peak_not_the_largest():
    vote_fraction = rectangle((60, 60), (18, 20), 30, 10, 0, value=0.5)  # large, lower
    vote_fraction += rectangle((60, 60), (45.3, 44.6), 12, 4, 90, value=0.9)  # small, peak
    bar = BarMeasurement(vote_fraction, threshold=0.4)
    assert bar.mask[45, 45] and not bar.mask[20, 18]
    assert abs(bar.length_px - 12) <= 1.5
    assert angle_difference(bar.position_angle_deg, 90) <= 1.0


def test_holes_are_filled_and_nan_counts_as_zero():
    vote_fraction = rectangle((40, 50), (25, 20), 30, 8, 0)
    vote_fraction[19:22, 23:26] = np.nan  # a hole of no data inside the bar
    vote_fraction[0, :] = np.nan
    bar = BarMeasurement(vote_fraction, threshold=0.5)
    assert bar.mask[20, 24]  # filled
    assert abs(bar.length_px - 30) <= 1.5
    clean = BarMeasurement(np.nan_to_num(vote_fraction), threshold=0.5)
    assert np.array_equal(bar.mask, clean.mask)
    assert not BarMeasurement(np.full((8, 9), np.nan)).detected


def test_float32_vote_fractions_reach_their_own_level():
    vote_fraction = np.zeros((20, 30), np.float32)
    vote_fraction[8:12, 5:25] = np.float32(6 / 15)
    assert BarMeasurement(vote_fraction, threshold=0.4, min_peak=0.4).detected


# --- simulated bars ----------------------------------------------------------------
def test_simulated_truth_bars_measure_their_true_length():
    rng = np.random.default_rng(11)
    checked = 0
    for k in range(200):
        spec = draw_scene(rng, name=f"measure-{k}", size=96, galaxy_class="spiral")
        if spec.galaxy.bar is None:
            continue
        cutout = render_cutout(spec)
        row = cutout.truth_row()
        if not cutout.has_bar or row["bar_length_px"] < 20:
            continue
        pixscale = spec.conditions.pixscale_arcsec
        bar = BarMeasurement(cutout.truth.bar_mask.astype(float), pixscale_arcsec=pixscale,
                             redshift=spec.redshift)
        psf_fwhm_px = spec.conditions.psf_fwhm_arcsec[1] / pixscale
        assert bar.detected
        assert abs(bar.length_px - row["bar_length_px"]) <= psf_fwhm_px
        assert angle_difference(bar.sky_position_angle_deg, row["bar_pa_deg"]) <= 5.0
        assert abs(bar.length_kpc.to_value(u.kpc) - row["bar_length_kpc"]) <= (
            psf_fwhm_px * pixscale * kpc_per_arcsec(spec.redshift).value)
        checked += 1
        if checked == 3:
            break
    assert checked == 3


# --- units and the WCS ---------------------------------------------------------------
def test_lengths_in_arcsec_and_kpc():
    vote_fraction = rectangle((50, 60), (30, 25), 24, 6, 20)
    bar = BarMeasurement(vote_fraction, pixscale_arcsec=0.262, redshift=0.05)
    assert bar.length_arcsec.unit == u.arcsec
    assert bar.length_arcsec.value == pytest.approx(bar.length_px * 0.262)
    expected_kpc = bar.length_px * 0.262 * kpc_per_arcsec(0.05).to_value(u.kpc / u.arcsec)
    assert bar.length_kpc.unit == u.kpc
    assert bar.length_kpc.value == pytest.approx(expected_kpc)
    row = bar.to_row()
    assert set(row) == BAR_KEYS
    assert row["bar_length_kpc"] == pytest.approx(expected_kpc)
    assert all(isinstance(row[k], float) for k in BAR_KEYS - {"has_bar"})
    as_quantity = BarMeasurement(vote_fraction, pixscale_arcsec=0.262 / 3600 * u.deg)
    assert as_quantity.length_arcsec.value == pytest.approx(bar.length_arcsec.value)
    unknown = BarMeasurement(vote_fraction).to_row()
    assert np.isnan(unknown["bar_length_arcsec"]) and np.isnan(unknown["bar_length_kpc"])
    assert unknown["bar_length_px"] == pytest.approx(bar.length_px)
    no_redshift = BarMeasurement(vote_fraction, pixscale_arcsec=0.262)
    assert np.isnan(no_redshift.length_kpc.value) and no_redshift.length_kpc.unit == u.kpc


def test_wcs_gives_pixel_scale_and_sky_position_angle():
    vote_fraction = rectangle((50, 60), (30, 25), 24, 6, 20)
    wcs = gz3d_wcs((50, 60), 150.0, 2.0, pixscale_arcsec=0.262)
    plain = BarMeasurement(vote_fraction)
    bar = BarMeasurement(vote_fraction, wcs=wcs)
    assert bar.pixscale_arcsec == pytest.approx(0.262)
    assert bar.sky_position_angle_deg == pytest.approx(plain.sky_position_angle_deg, abs=0.1)
    mirrored = WCS(naxis=2)  # east to the right: the angle is mirrored
    mirrored.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    mirrored.wcs.crval = [150.0, 2.0]
    mirrored.wcs.cd = np.diag([0.262, -0.262]) / 3600
    flipped = BarMeasurement(vote_fraction, wcs=mirrored)
    assert flipped.sky_position_angle_deg == pytest.approx(
        (180 - plain.sky_position_angle_deg) % 180, abs=0.1)


# --- no bar -------------------------------------------------------------------------
@pytest.mark.parametrize("vote_fraction", [
    np.zeros((32, 48)),
    rectangle((32, 48), (20, 16), 20, 6, 0, value=0.2),  # below min_peak
    rectangle((32, 48), (20, 16), 3, 2, 0, value=0.9),  # fewer than min_pixels
])
def test_no_bar_gives_nan(vote_fraction):
    bar = BarMeasurement(vote_fraction, pixscale_arcsec=0.262, redshift=0.05)
    assert not bar.detected
    assert not bar.mask.any() and bar.mask.shape == vote_fraction.shape
    assert bar.mask.dtype == bool
    row = bar.to_row()
    assert row["has_bar"] is False
    assert all(np.isnan(row[k]) for k in BAR_KEYS - {"has_bar"})
    assert np.isnan(bar.position_angle_deg) and np.isnan(bar.centroid_xy[0])
    assert "detected=False" in repr(bar)


# --- input checks -------------------------------------------------------------------
@pytest.mark.parametrize("threshold", ["peak", "peak1.5", "peak0", "half", 0.0, -0.2, 1.2, True,
                                       "peak0.3^", "peak0.3^0", "peak0.3^4.5", "peak20^2",
                                       "peak1.5^1", "peak1.5^0.5", "peak0.3^two", "peak^2"])
def test_bad_threshold_is_named(threshold):
    with pytest.raises(ValueError, match="threshold"):
        BarMeasurement(np.zeros((4, 4)), threshold=threshold)


def test_threshold_rules_parse():
    assert parse_threshold("peak0.5") == ("peak", 0.5, 1.0)
    assert parse_threshold("peak0.3^1.5") == ("peak", 0.3, 1.5)
    assert parse_threshold("peak2^3") == ("peak", 2.0, 3.0)
    assert parse_threshold(0.4) == ("absolute", 0.4, 1.0)
    assert parse_threshold(1) == ("absolute", 1.0, 1.0)
    assert parse_threshold("median-nonzero") == ("nonzero-percentile", 50.0, 1.0)
    assert parse_threshold("p80-nonzero") == ("nonzero-percentile", 80.0, 1.0)


def test_peak_power_rule_cuts_strong_maps_at_a_larger_fraction_of_their_peak():
    strong = np.zeros((8, 8))
    strong[0, :4] = [0.8, 0.4, 0.2, 0.1]
    assert threshold_level(strong, "peak0.5^2") == pytest.approx(0.5 * 0.8**2)  # 0.32
    assert threshold_level(strong, "peak0.5^1") == threshold_level(strong, "peak0.5")
    # the same shape four times fainter: cut at a quarter of the strong map's fraction
    faint = strong / 4
    assert threshold_level(faint, "peak0.5^2") == pytest.approx(0.5 * 0.2**2)  # 0.02
    assert ArmMeasurement(strong, threshold="peak0.5^2", min_pixels=1).area_px == 2
    assert ArmMeasurement(faint, threshold="peak0.5^2", detection_level=0.01,
                          min_pixels=1).area_px == 4
    assert threshold_level(np.zeros((4, 4)), "peak0.5^2") == 0.0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="bar_vote_fraction"):
        BarMeasurement(np.zeros((2, 3, 4)))
    with pytest.raises(TypeError, match="bar_vote_fraction"):
        BarMeasurement(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="min_pixels"):
        BarMeasurement(np.zeros((4, 4)), min_pixels=0)
    with pytest.raises(ValueError, match="min_peak"):
        BarMeasurement(np.zeros((4, 4)), min_peak=1.5)
    with pytest.raises(ValueError, match="pixscale_arcsec"):
        BarMeasurement(np.zeros((4, 4)), pixscale_arcsec=-1)
    with pytest.raises(ValueError, match="redshift"):
        BarMeasurement(np.zeros((4, 4)), redshift=0)
    with pytest.raises(ValueError, match="spiral_vote_fraction"):
        ArmMeasurement(np.zeros(5))
    with pytest.raises(ValueError, match="threshold"):
        ArmMeasurement(np.zeros((4, 4)), threshold="peak1.5")
    with pytest.raises(ValueError, match="detection_level"):
        ArmMeasurement(np.zeros((4, 4)), detection_level=0)


# --- spiral arms --------------------------------------------------------------------
def test_arm_area_units_and_threshold():
    vote_fraction = np.zeros((40, 30))
    vote_fraction[2:6, 2:12] = 0.6  # 40 px
    vote_fraction[20:25, 10:20] = 0.25  # 50 px
    vote_fraction[30, 5] = np.nan
    arms = ArmMeasurement(vote_fraction, pixscale_arcsec=0.5, redshift=0.03, threshold=0.1)
    assert arms.detected and arms.has_spiral_arms
    assert arms.area_px == 90
    assert arms.area_arcsec2 == 90 * 0.25 * u.arcsec**2
    scale = kpc_per_arcsec(0.03).to_value(u.kpc / u.arcsec)
    assert arms.area_kpc2.to_value(u.kpc**2) == pytest.approx(90 * 0.25 * scale**2)
    assert arms.max_vote_fraction == pytest.approx(0.6)
    majority = measure_arms(vote_fraction, threshold=0.5)
    assert majority.area_px == 40
    row = arms.to_row()
    assert set(row) == ARM_KEYS
    assert row["spiral_area_kpc2"] == pytest.approx(90 * 0.25 * scale**2)


def test_default_arm_mask_scales_with_the_square_of_the_maps_peak():
    vote_fraction = np.zeros((40, 30))
    vote_fraction[2:6, 2:12] = 0.6  # 40 px
    vote_fraction[20:25, 10:20] = 0.2  # 50 px, above 0.5 * 0.6**2 = 0.18
    vote_fraction[30:33, 0:10] = 0.15  # 30 px, below it
    arms = ArmMeasurement(vote_fraction)
    assert arms.threshold == DEFAULT_SPIRAL_THRESHOLD == "peak0.5^2"
    assert arms.threshold_value == pytest.approx(0.18)
    assert arms.area_px == 90
    # the same arms three times fainter: cut at 0.02, a tenth of their peak, so all 120 px
    # stay (a fixed level of 0.18 keeps only the 40 px core; the strong map is cut at 0.3
    # of its peak)
    faint = ArmMeasurement(vote_fraction / 3, detection_level=0.02)
    assert faint.threshold_value == pytest.approx(0.02)
    assert faint.area_px == 120
    assert ArmMeasurement(vote_fraction / 3, threshold=0.18, detection_level=0.02).area_px == 40
    # presence is the detection level, not the mask rule
    assert not ArmMeasurement(vote_fraction / 10).detected
    assert ArmMeasurement(vote_fraction, threshold="median-nonzero").area_px == 90


def test_no_arms():
    vote_fraction = np.zeros((20, 20))
    vote_fraction[3, 3:8] = 0.9  # 5 px < min_pixels
    arms = ArmMeasurement(vote_fraction, pixscale_arcsec=0.262)
    assert not arms.detected and arms.area_px == 0 and not arms.mask.any()
    row = arms.to_row()
    assert row["has_spiral_arms"] is False and row["spiral_area_px"] == 0
    assert row["spiral_area_arcsec2"] == 0.0 and np.isnan(row["spiral_area_kpc2"])
    assert ArmMeasurement(np.full((5, 5), np.nan)).max_vote_fraction == 0.0


# --- one catalog row ----------------------------------------------------------------
def test_measure_maps_row_and_rules():
    spiral = np.zeros((48, 64))
    spiral[5:10, 5:40] = 0.3
    bar = rectangle((48, 64), (32, 24), 20, 5, 60)
    row = measure_maps(spiral, bar, pixscale_arcsec=0.262, redshift=0.04)
    assert set(row) == BAR_KEYS | ARM_KEYS
    assert row["has_spiral_arms"] and row["has_bar"]
    assert abs(row["bar_length_px"] - 20) <= 1.5
    strict = measure_maps(spiral, bar, spiral_detection_level=0.5, bar_threshold=0.9)
    assert not strict["has_spiral_arms"] and not strict["has_bar"]
    with pytest.raises(TypeError, match="bar_threshold"):
        measure_maps(spiral, bar, threshold=0.5)
    with pytest.raises(ValueError, match="same shape"):
        measure_maps(spiral[:10], bar)
