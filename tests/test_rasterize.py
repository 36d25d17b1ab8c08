"""Crowd-label rasterisation (galseg.labels.rasterize)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from galseg.labels.classification import VolunteerClassification
from galseg.labels.rasterize import (
    VoteMaps,
    is_self_intersecting,
    polygon_count_map,
    rasterize_polygons,
    vote_counts,
    vote_maps,
)

SHAPE = (64, 64)


def rectangle(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def volunteer(cid, spiral=(), bar=()):
    return VolunteerClassification(
        cid,
        "2024-01-01T00:00:00",
        spiral_paths=tuple(np.asarray(p, float) for p in spiral),
        bar_paths=tuple(np.asarray(p, float) for p in bar),
    )


# --------------------------------------------------------------------------------------
# One polygon: known pixel-centre areas
# --------------------------------------------------------------------------------------
def test_integer_rectangle_covers_its_area():
    # Half-open edges: centres on the left/top edges in, right/bottom out.
    mask = rasterize_polygons([rectangle(2, 3, 12, 8)], SHAPE)
    expected = np.zeros(SHAPE, bool)
    expected[3:8, 2:12] = True
    assert np.array_equal(mask, expected)
    assert mask.sum() == 10 * 5


def test_half_integer_rectangle():
    # Centres x = 3..7 and y = 4..5 are strictly inside.
    mask = rasterize_polygons([rectangle(2.5, 3.5, 7.5, 5.5)], SHAPE)
    assert mask.sum() == 10
    assert np.array_equal(np.argwhere(mask)[[0, -1]], [[4, 3], [5, 7]])


def test_rectangle_orientation_does_not_matter():
    clockwise = rectangle(2, 3, 12, 8)
    assert np.array_equal(
        rasterize_polygons([clockwise], SHAPE), rasterize_polygons([clockwise[::-1]], SHAPE)
    )


def test_triangle():
    mask = rasterize_polygons([[(0, 0), (10, 0), (0, 10)]], SHAPE)
    yy, xx = np.mgrid[0:64, 0:64]
    assert np.array_equal(mask, (xx + yy < 10))  # hypotenuse is a right edge: excluded
    assert mask.sum() == 55


def test_tiling_polygons_count_each_pixel_once():
    left, right = rectangle(0, 0, 17.3, 64), rectangle(17.3, 0, 64, 64)
    total = polygon_count_map([left, right], SHAPE, drop_self_intersecting=False)
    assert np.all(total == 1)


def test_polygon_clipped_to_image():
    assert rasterize_polygons([rectangle(-10, -10, 5, 5)], SHAPE).sum() == 25
    assert not rasterize_polygons([rectangle(100, 100, 120, 120)], SHAPE).any()
    assert rasterize_polygons([rectangle(-10, -10, 100, 100)], SHAPE).all()
    # Wild coordinates (seen in crowd data) neither overflow nor warn.
    assert rasterize_polygons([[(-1e300, -1e300), (1e300, -1e300), (0, 1e300)]], SHAPE).all()


@pytest.mark.parametrize(
    "polygon",
    [[(5, 5)], [(5, 5), (20, 20)], [(1, 1), (30, 30), (15, 15)], []],
    ids=["one-vertex", "two-vertex", "collinear", "empty"],
)
def test_degenerate_polygons_enclose_nothing(polygon):
    assert not rasterize_polygons([polygon], SHAPE).any()


def test_non_finite_vertices_are_dropped():
    square = rectangle(2, 2, 10, 10)
    with_nan = [square[0], (math.nan, 5.0), *square[1:], (math.inf, 1.0)]
    assert np.array_equal(
        rasterize_polygons([with_nan], SHAPE), rasterize_polygons([square], SHAPE)
    )


def test_evenodd_agrees_with_matplotlib_on_random_polygons():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32]
    centres = np.column_stack([xx.ravel(), yy.ravel()])
    for _ in range(200):
        # Random, often self-intersecting polygons; off-integer vertices keep
        # pixel centres off the edges, where conventions may differ.
        polygon = rng.uniform(-4, 36, size=(rng.integers(3, 12), 2)) + 1e-7
        ours = rasterize_polygons([polygon], (32, 32), fill_rule="evenodd")
        theirs = MplPath(np.vstack([polygon, polygon[:1]])).contains_points(centres)
        assert np.array_equal(ours.ravel(), theirs)


# --------------------------------------------------------------------------------------
# Self-intersections and the fill rule
# --------------------------------------------------------------------------------------
BOWTIE = [(10, 10), (30, 30), (30, 10), (10, 30)]


def test_bowtie_is_kept_with_both_lobes():
    mask = rasterize_polygons([BOWTIE], SHAPE)
    assert mask[20, 12] and mask[20, 28]  # left and right lobes
    assert not mask[12, 20] and not mask[28, 20]  # above and below the crossing
    # Same answer with either fill rule: each lobe is wound once.
    assert np.array_equal(mask, rasterize_polygons([BOWTIE], SHAPE, fill_rule="evenodd"))


def test_doubly_wound_loop_is_inside_with_nonzero_rule():
    square = rectangle(10, 10, 20, 20)
    twice = square + square
    assert rasterize_polygons([twice], SHAPE).sum() == 100
    assert not rasterize_polygons([twice], SHAPE, fill_rule="evenodd").any()


def test_pentagram_centre():
    angles = np.pi / 2 + np.arange(5) * 4 * np.pi / 5
    star = np.column_stack([32 + 25 * np.cos(angles), 32 + 25 * np.sin(angles)])
    assert rasterize_polygons([star], SHAPE)[32, 32]  # winding number 2
    assert not rasterize_polygons([star], SHAPE, fill_rule="evenodd")[32, 32]


@pytest.mark.parametrize(
    ("polygon", "expected"),
    [
        (BOWTIE, True),
        (rectangle(0, 0, 10, 10), False),
        ([*rectangle(0, 0, 10, 10), (0, 0)], False),  # explicitly closed ring
        ([(0, 0), (10, 0), (5, 0)], True),  # doubles back along a line
        ([(0, 0), (10, 0), (10, 10), (5, 0)], True),  # touches an earlier edge
        ([(0, 0), (10, 0), (10, 0), (10, 10)], False),  # repeated vertex
        ([(0, 0), (10, 0), (10, 10), (0, 10), (5, -5)], True),  # crosses the first edge
        ([(3, 3)], False),
        ([(3, 3), (4, 4)], False),
    ],
)
def test_is_self_intersecting(polygon, expected):
    assert is_self_intersecting(polygon) is expected


def test_official_count_map_drops_self_intersecting_and_sums():
    square = rectangle(0, 0, 10, 10)
    counts = polygon_count_map([square, square, BOWTIE], SHAPE)
    assert counts.dtype == np.float64
    assert counts.max() == 2 and counts.sum() == 200


# --------------------------------------------------------------------------------------
# Votes
# --------------------------------------------------------------------------------------
def test_overlapping_polygons_of_one_volunteer_count_once():
    a, b = rectangle(0, 0, 10, 10), rectangle(5, 5, 15, 15)
    counts = vote_counts([volunteer(1, spiral=[a, b])], SHAPE, "spiral")
    assert counts.max() == 1 and counts.sum() == 100 + 100 - 25


def test_vote_counts_and_fractions():
    a = rectangle(0, 0, 10, 10)
    b = rectangle(5, 0, 15, 10)
    crowd = [
        volunteer(1, spiral=[a], bar=[a]),
        volunteer(2, spiral=[b]),
        volunteer(3, spiral=[a, b]),
        volunteer(4),
    ]
    maps = vote_maps(crowd, shape=SHAPE)
    assert maps.n_volunteers == maps.n_spiral_volunteers == maps.n_bar_volunteers == 4
    assert (maps.n_spiral_markers, maps.n_bar_markers) == (3, 1)
    assert maps.spiral_count.dtype == np.int32
    assert maps.spiral_count[5, 2] == 2 and maps.spiral_count[5, 7] == 3
    assert maps.spiral_count[5, 12] == 2 and maps.spiral_count[5, 20] == 0
    assert maps.spiral_vote_fraction.dtype == np.float32
    assert maps.spiral_vote_fraction[5, 7] == np.float32(0.75)
    assert maps.bar_vote_fraction.max() == np.float32(0.25)
    assert np.array_equal(maps.vote_fraction("bar"), maps.bar_vote_fraction)
    assert maps.mask("spiral", 3).sum() == 50
    assert maps.mask("spiral", 1).sum() == 150
    assert maps.wcs is None and maps.counts_are_integer


def test_vote_fraction_rounds_back_to_counts():
    n = 15
    counts = np.arange(n + 1).reshape(4, 4)
    fractions = VoteMaps(counts, counts, n_volunteers=n).spiral_vote_fraction
    assert np.array_equal(np.rint(fractions.astype(np.float64) * n), counts)


@pytest.mark.parametrize("threshold", [0, 5, 2.5, True, -1])
def test_threshold_must_be_a_vote_count(threshold):
    maps = VoteMaps(np.zeros((2, 2), int), np.zeros((2, 2), int), n_volunteers=4)
    with pytest.raises(ValueError, match="threshold_votes"):
        maps.mask("spiral", threshold)


def test_per_task_volunteers():
    count = np.array([[0, 1], [2, 2]])
    maps = VoteMaps(count, count, n_volunteers={"spiral": 2, "bar": 0})
    assert maps.n_volunteers == 2
    assert maps.spiral_vote_fraction.max() == 1.0
    assert not maps.bar_vote_fraction.any()
    with pytest.raises(ValueError, match="no volunteer answered the bar task"):
        maps.mask("bar", 1)


def test_vote_maps_arrays_are_read_only():
    maps = VoteMaps(np.zeros((2, 2), int), np.zeros((2, 2), int), n_volunteers=1)
    with pytest.raises(ValueError, match="read-only"):
        maps.spiral_count[0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        maps.bar_vote_fraction[0, 0] = 1


def test_float_counts_reach_integer_thresholds():
    count = np.array([[2.9999999999, 2.5], [np.nan, 0.0]])
    maps = VoteMaps(count, count, n_volunteers=3)
    assert maps.mask("spiral", 3).tolist() == [[True, False], [False, False]]
    assert not maps.counts_are_integer


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: vote_maps([volunteer(1)]), "shape is required"),
        (lambda: vote_maps([volunteer(1)], shape=(0, 5)), "positive sizes"),
        (lambda: vote_counts([], SHAPE, "arm"), "feature must be 'spiral' or 'bar', got 'arm'"),
        (lambda: rasterize_polygons([], SHAPE, fill_rule="odd"), "fill_rule must be"),
        (lambda: vote_maps(["not a classification"], shape=SHAPE), "VolunteerClassification"),
        (lambda: VoteMaps(np.zeros((2, 2)), np.zeros((3, 3)), n_volunteers=1), "same shape"),
        (lambda: VoteMaps(np.zeros((2, 2)), np.zeros((2, 2)), n_volunteers=-1), "non-negative"),
        (lambda: VoteMaps(np.zeros(4), np.zeros(4), n_volunteers=1), "2-D"),
        (lambda: VoteMaps(np.zeros((2, 2)), np.zeros((2, 2)), n_volunteers={"bar": 1}), "keys"),
    ],
)
def test_input_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
