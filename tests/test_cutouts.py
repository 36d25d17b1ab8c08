"""cutout_rgb: the one function that cuts cutouts (zoom 1 copies, otherwise resamples)."""

from __future__ import annotations

import numpy as np
import pytest

from galseg.data.cutouts import cutout_rgb


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(3).random((50, 60, 3)).astype(np.float32)


def test_zoom_one_is_an_exact_copy(noise):
    cut = cutout_rgb(noise, 30, 20, size=16)
    assert cut.rgb.shape == (16, 16, 3) and cut.rgb.dtype == np.float32
    assert np.array_equal(cut.rgb, noise[12:28, 22:38])
    assert cut.coverage == 1.0 and cut.centre_xy == (30.0, 20.0) and cut.zoom == 1.0
    # positions are rounded to the nearest pixel, never interpolated
    assert np.array_equal(cutout_rgb(noise, 30.4, 19.6, size=16).rgb, cut.rgb)


@pytest.mark.parametrize("size", [8, 9])
@pytest.mark.parametrize("zoom", [1.0, 2.0, 0.5])
def test_centre_lands_on_pixel_size_over_two(size, zoom):
    y, x = np.mgrid[:81, :81]
    bump = np.exp(-((x - 37) ** 2 + (y - 41) ** 2) / (2 * 3.0**2))
    rgb = np.repeat(bump[..., np.newaxis], 3, axis=2).astype(np.float32)
    cut = cutout_rgb(rgb, 37, 41, size=size, zoom=zoom)
    row, col = np.unravel_index(np.argmax(cut.rgb[..., 0]), (size, size))
    assert (row, col) == (size // 2, size // 2)
    assert cut.coverage == 1.0


def test_coverage_at_edges_and_outside():
    rgb = np.full((50, 50, 3), 0.3, np.float32)
    corner = cutout_rgb(rgb, 0, 0, size=10)  # rows/cols -5..4: a quarter inside
    assert corner.coverage == pytest.approx(0.25)
    assert np.allclose(corner.rgb, 0.3)  # the uncovered part is the covered median
    outside = cutout_rgb(rgb, -100, 20, size=10)
    assert outside.coverage == 0.0 and np.all(outside.rgb == 0)
    resampled_corner = cutout_rgb(rgb, 0, 0, size=10, zoom=2.0)
    assert resampled_corner.coverage == pytest.approx(0.25)  # offsets -10..8: 5 of 10 inside
    assert cutout_rgb(rgb, -100, 20, size=10, zoom=2.0).coverage == 0.0


@pytest.mark.parametrize("zoom", [2.0, 0.5, 1.7])
def test_resampling_preserves_a_smooth_gradient(zoom):
    y, x = np.mgrid[:200, :200].astype(np.float32)
    rgb = np.stack([0.002 * x + 0.1, 0.003 * y + 0.05, 0.001 * (x + y) + 0.2], axis=2)
    x0, y0, size = 101.0, 97.0, 32
    cut = cutout_rgb(rgb, x0, y0, size=size, zoom=zoom)
    xs = x0 + (np.arange(size) - size // 2) * zoom
    ys = y0 + (np.arange(size) - size // 2) * zoom
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    expected = np.stack([0.002 * gx + 0.1, 0.003 * gy + 0.05, 0.001 * (gx + gy) + 0.2], axis=2)
    assert np.allclose(cut.rgb, expected, atol=1e-5)
    assert cut.coverage == 1.0 and cut.zoom == zoom


def test_valid_mask_counts_as_not_covered_and_is_filled(noise):
    valid = np.ones(noise.shape[:2], bool)
    valid[:, :30] = False
    cut = cutout_rgb(noise, 30, 25, size=20, valid=valid)  # columns 20..39: half invalid
    assert cut.coverage == pytest.approx(0.5)
    inside = noise[15:35, 30:40]
    assert np.array_equal(cut.rgb[:, 10:], inside)
    fill = np.median(inside.reshape(-1, 3), axis=0)
    assert np.allclose(cut.rgb[:, :10], fill)


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    ((np.zeros((5, 5)), 1, 1), {}, "shape"),
    ((np.zeros((5, 5, 3)), np.nan, 1), {}, "finite"),
    ((np.zeros((5, 5, 3)), 1, 1), {"size": 0}, "size"),
    ((np.zeros((5, 5, 3)), 1, 1), {"zoom": 0.0}, "zoom"),
])
def test_bad_arguments_are_refused(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cutout_rgb(*args, **kwargs)
