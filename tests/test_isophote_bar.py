"""The classical bar finder (isophote ellipse fitting) on galaxies with known bars."""

from __future__ import annotations

import numpy as np
import pytest

from _barred_galaxy import galaxy
from galseg.measure.isophote_bar import IsophoteBar, luminance


@pytest.fixture(scope="module")
def barred():
    return IsophoteBar(galaxy(bar_a=16.0, bar_pa_deg=30.0), pixscale_arcsec=0.262,
                       redshift=0.05)


def test_bar_is_found_with_its_length_and_angle(barred):
    assert barred.detected
    assert 0.5 * 32 <= barred.length_px <= 1.1 * 32  # a_epsmax: a lower bound of the bar
    assert abs(barred.position_angle_deg - 30.0) < 6.0
    assert barred.ellipticity > 0.3
    x1, y1, x2, y2 = barred.end_points
    assert np.hypot(x2 - x1, y2 - y1) == pytest.approx(barred.length_px)
    row = barred.to_row()
    assert row["iso_has_bar"] and row["iso_bar_length_arcsec"] == pytest.approx(
        barred.length_px * 0.262)
    assert row["iso_bar_length_kpc"] > 0 and 0 <= row["iso_bar_pa_deg"] < 180


def test_round_and_inclined_discs_without_bars_are_not_bars():
    assert not IsophoteBar(galaxy()).detected
    inclined = IsophoteBar(galaxy(disc_q=0.5))
    assert not inclined.detected
    assert np.isnan(inclined.length_px) and not inclined.to_row()["iso_has_bar"]


def test_a_monotonic_stretch_keeps_the_bar(barred):
    image = galaxy(bar_a=16.0, bar_pa_deg=30.0)
    stretched = np.arcsinh((image - image.min()) * 20)
    again = IsophoteBar(np.repeat(stretched[..., None], 3, axis=2))
    assert again.detected
    assert again.length_px == pytest.approx(barred.length_px, rel=0.2)


def test_large_images_are_averaged_down_and_measured_in_their_own_pixels():
    image = galaxy(size=96, bar_a=16.0)
    big = np.kron(image, np.ones((3, 3)))  # the same galaxy, 288 px
    bar = IsophoteBar(big, max_side=128)
    assert bar.detected
    assert 0.5 * 96 <= bar.length_px <= 1.1 * 96


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        IsophoteBar(np.zeros((4, 4)))
    flat = IsophoteBar(np.ones((32, 32)))
    assert not flat.detected and flat.profile["sma"].size == 0
    assert luminance(np.ones((5, 5, 3))).shape == (5, 5)


def test_an_elongated_centre_far_smaller_than_the_galaxy_is_not_a_bar():
    small = galaxy(bar_a=5.0, bar_pa_deg=30.0)  # a few pixels, in a disc of about 28
    assert IsophoteBar(small, min_sma_fraction=0.0).detected
    finder = IsophoteBar(small)  # default: at least 0.3 of the largest isophote
    assert finder.min_sma_fraction == pytest.approx(0.3) and not finder.detected
    assert IsophoteBar(galaxy(bar_a=16.0, bar_pa_deg=30.0)).detected
