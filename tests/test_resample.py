"""Resampling vote maps (galseg.labels.resample)."""

from __future__ import annotations

import numpy as np
import pytest

from galseg.data.gz3d import gz3d_wcs
from galseg.labels.rasterize import VoteMaps
from galseg.labels.resample import (
    reproject_map,
    reproject_vote_maps,
    resize_map,
    resize_vote_maps,
    resize_wcs,
)

RA, DEC = 150.0, 2.0


def source_wcs(size=64, pixscale=0.099):
    return gz3d_wcs((size, size), RA, DEC, pixscale_arcsec=pixscale)


def blob(size=64):
    """A vote-fraction map: 0 outside, k/15 steps inside."""
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - size / 2, yy - size / 3)
    return np.clip(np.floor(15 - r / 2), 0, 15) / 15


# --------------------------------------------------------------------------------------
# Resizing without WCS
# --------------------------------------------------------------------------------------
def test_area_downsampling_is_block_mean():
    data = np.arange(16, dtype=float).reshape(4, 4)
    assert resize_map(data, (2, 2)).tolist() == [[2.5, 4.5], [10.5, 12.5]]


def test_area_non_integer_factor():
    # 3 -> 2 pixels: each output pixel covers 1.5 input pixels.
    data = np.array([[0.0, 1.0, 1.0]])
    out = resize_map(data, (1, 2))
    assert out == pytest.approx(np.array([[(0 + 0.5) / 1.5, (0.5 + 1) / 1.5]]))


def test_area_upsampling_replicates():
    data = np.array([[0.0, 1.0], [1.0, 0.5]])
    assert np.array_equal(resize_map(data, (4, 4)), np.kron(data, np.ones((2, 2))))


def test_bilinear_uses_pixel_centres():
    ramp = np.tile(np.arange(8, dtype=float), (4, 1))
    # Output centre i sits at input x = 2i + 0.5 for a factor-2 reduction.
    assert resize_map(ramp, (2, 4), method="bilinear")[0].tolist() == [0.5, 2.5, 4.5, 6.5]
    # Upsampling: centres beyond the first/last input centre take the edge value.
    up = resize_map(np.array([[0.0, 1.0]]), (1, 4), method="bilinear")
    assert up.tolist() == [[0.0, 0.25, 0.75, 1.0]]


def test_nearest_keeps_values_and_dtype():
    data = np.arange(16, dtype=np.int32).reshape(4, 4)
    out = resize_map(data, (2, 2), method="nearest")
    assert out.dtype == np.int32 and out.tolist() == [[5, 7], [13, 15]]


@pytest.mark.parametrize("method", ["area", "bilinear", "nearest"])
@pytest.mark.parametrize("shape", [(17, 23), (128, 128), (31, 64)])
def test_resize_keeps_fractions_in_range(method, shape):
    out = resize_map(blob(), shape, method=method)
    assert out.shape == shape and out.min() >= 0 and out.max() <= 1


def test_resize_wcs_keeps_the_field_of_view():
    wcs = source_wcs(64)
    small = resize_wcs(wcs, (64, 64), (16, 16))
    # Output pixel (0, 0) is the centre of the 4x4 input block: input (1.5, 1.5).
    assert np.allclose(small.pixel_to_world_values(0, 0), wcs.pixel_to_world_values(1.5, 1.5))
    corner = (-0.5, -0.5)
    assert np.allclose(small.pixel_to_world_values(*corner), wcs.pixel_to_world_values(*corner))


def test_resize_vote_maps():
    counts = np.zeros((8, 8), np.int32)
    counts[:4, :4] = 3
    maps = VoteMaps(counts, counts, n_volunteers=3, wcs=source_wcs(8), n_spiral_markers=3)
    small = resize_vote_maps(maps, (2, 2))
    assert small.spiral_vote_fraction.tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert small.n_spiral_markers == 3 and small.wcs is not None
    assert not small.counts_are_integer
    assert resize_vote_maps(maps, (4, 4), method="nearest").counts_are_integer


# --------------------------------------------------------------------------------------
# Reprojection by WCS
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["nearest", "bilinear", "exact"])
def test_reproject_onto_the_same_grid_is_identity(method):
    data = blob()
    out = reproject_map(data, source_wcs(), source_wcs(), data.shape, method=method)
    assert np.allclose(out, data, atol=1e-6)


def test_exact_reprojection_matches_area_resize():
    data = blob()
    target = resize_wcs(source_wcs(), (64, 64), (16, 16))
    out = reproject_map(data, source_wcs(), target, (16, 16), method="exact")
    assert np.allclose(out, resize_map(data, (16, 16)), atol=1e-4)


@pytest.mark.parametrize("method", ["nearest", "bilinear", "adaptive", "exact"])
def test_strong_downsampling_keeps_fractions_in_range(method):
    # 0.099 arcsec/px GZ3D grid onto a 0.262 arcsec/px survey-like cutout.
    target = gz3d_wcs((24, 24), RA, DEC, pixscale_arcsec=0.262)
    out = reproject_map(blob(), source_wcs(), target, (24, 24), method=method)
    assert out.min() >= 0 and out.max() <= 1
    assert out.max() > 0.5


def test_adaptive_averages_instead_of_aliasing():
    # A one-pixel checkerboard averages to 0.5 under 4x downsampling.
    checker = (np.indices((64, 64)).sum(axis=0) % 2).astype(float)
    target = resize_wcs(source_wcs(), (64, 64), (16, 16))
    out = reproject_map(checker, source_wcs(), target, (16, 16), method="adaptive")
    assert np.allclose(out[2:-2, 2:-2], 0.5, atol=0.02)


@pytest.mark.parametrize("method", ["nearest", "bilinear", "adaptive", "exact"])
def test_outside_footprint_is_zero_or_nan(method):
    # A target grid shifted east by half the field: its eastern half sees nothing.
    data = np.ones((64, 64)) * 0.4
    shifted = source_wcs()
    shifted.wcs.crval = [RA + 32 * 0.099 / 3600, DEC]
    shifted.wcs.set()
    zero = reproject_map(data, source_wcs(), shifted, (64, 64), method=method)
    nan = reproject_map(data, source_wcs(), shifted, (64, 64), method=method, fill_value=np.nan)
    # RA grows to the left (east): the target's left columns lie off the source.
    assert np.all(zero[:, :20] == 0) and np.allclose(zero[8:-8, 40:56], 0.4)
    assert np.all(np.isnan(nan[:, :20])) and np.allclose(nan[8:-8, 40:56], 0.4)


def test_reproject_vote_maps_nearest_keeps_integer_counts():
    counts = (blob() * 15).round().astype(np.int32)
    maps = VoteMaps(counts, counts, n_volunteers=15, wcs=source_wcs())
    target = gz3d_wcs((32, 32), RA, DEC, pixscale_arcsec=0.198)
    nearest = reproject_vote_maps(maps, target, (32, 32), method="nearest")
    assert nearest.counts_are_integer and nearest.spiral_count.dtype == np.int32
    assert set(np.unique(nearest.spiral_count)) <= set(np.unique(counts))
    smooth = reproject_vote_maps(maps, target, (32, 32))
    assert not smooth.counts_are_integer and smooth.wcs is target
    assert smooth.spiral_vote_fraction.min() >= 0 and smooth.spiral_vote_fraction.max() <= 1
    assert smooth.mask("spiral", 5).any()


def test_resample_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        reproject_map(blob(), source_wcs(), source_wcs(), (8, 8), method="cubic")
    with pytest.raises(ValueError, match="target_wcs must be a two-axis celestial"):
        reproject_map(blob(), source_wcs(), None, (8, 8))
    with pytest.raises(ValueError, match="target_shape must have positive sizes"):
        reproject_map(blob(), source_wcs(), source_wcs(), (0, 8))
    with pytest.raises(ValueError, match="method must be one of"):
        resize_map(blob(), (8, 8), method="adaptive")
    with pytest.raises(ValueError, match="data must be a 2-D"):
        resize_map(np.zeros((2, 2, 3)), (8, 8))
    maps = VoteMaps(np.zeros((4, 4), int), np.zeros((4, 4), int), n_volunteers=1)
    with pytest.raises(ValueError, match="has no WCS; use resize_vote_maps"):
        reproject_vote_maps(maps, source_wcs(), (4, 4))
