"""Tests of the simulated Galaxy Zoo 3D volunteers (galseg.sim.volunteers)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest
from matplotlib.path import Path

from galseg.labels.classification import VolunteerClassification
from galseg.sim.truth import ArmTrace, BarTrace, GalaxyTruth, StarTrace
from galseg.sim.volunteers import (
    DEFAULT_BEHAVIOUR,
    VolunteerBehaviour,
    simulate_classifications,
)

SIZE = 128
CENTRE = (63.5, 63.5)
RADIUS = 50.0


def make_truth(
    *,
    n_arms: int = 2,
    arm_contrast: float = 20.0,
    arm_width_px: float = 6.0,
    bar: bool = True,
    bar_contrast: float = 100.0,
    bar_half_length_px: float = 12.0,
    axis_ratio: float = 0.8,
    disc_angle_deg: float = 30.0,
    centre_xy: tuple[float, float] = CENTRE,
    stars: tuple[StarTrace, ...] = (),
) -> GalaxyTruth:
    """A hand-made galaxy on a 128x128 grid: log-spiral arms (pitch 20 deg) and a bar."""
    pitch = np.deg2rad(20.0)
    angle = np.deg2rad(disc_angle_deg)
    arms = []
    for k in range(n_arms):
        winding = np.linspace(0.0, 1.6 * np.pi, 80)
        r = np.minimum(0.25 * RADIUS * np.exp(np.tan(pitch) * winding), RADIUS)
        phi = winding + 2.0 * np.pi * k / n_arms
        u, v = r * np.cos(phi), r * np.sin(phi) * axis_ratio
        x = centre_xy[0] + u * np.cos(angle) - v * np.sin(angle)
        y = centre_xy[1] + u * np.sin(angle) + v * np.cos(angle)
        arms.append(ArmTrace(np.column_stack([x, y]), np.full(80, arm_width_px), arm_contrast))
    bar_trace = (
        BarTrace(centre_xy, bar_half_length_px, 3.0, disc_angle_deg + 20.0, bar_contrast)
        if bar
        else None
    )
    empty = np.zeros((SIZE, SIZE), dtype=bool)
    return GalaxyTruth(
        empty,
        empty,
        tuple(arms),
        bar_trace,
        centre_xy,
        RADIUS,
        axis_ratio,
        disc_angle_deg,
        stars,
    )


def run_many(truth: GalaxyTruth, n_galaxies: int, seed: int = 0, **kwargs):
    """All classifications of ``n_galaxies`` independent simulations of one truth."""
    rng = np.random.default_rng(seed)
    return [c for _ in range(n_galaxies) for c in simulate_classifications(truth, rng, **kwargs)]


def contains(polygon: np.ndarray, points_xy: np.ndarray) -> np.ndarray:
    """Which points a polygon encloses (tiny local stand-in for the rasteriser)."""
    if len(polygon) < 3:
        return np.zeros(len(points_xy), dtype=bool)
    return Path(polygon).contains_points(points_xy)


def vote_map(paths_per_volunteer, shape=(SIZE, SIZE)) -> np.ndarray:
    """Number of volunteers whose polygons enclose each pixel centre."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    pixels = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    votes = np.zeros(len(pixels))
    for paths in paths_per_volunteer:
        covered = np.zeros(len(pixels), dtype=bool)
        for polygon in paths:
            covered |= contains(polygon, pixels)
        votes += covered
    return votes.reshape(shape)


def distance_to_ridges(points_xy: np.ndarray, truth: GalaxyTruth) -> np.ndarray:
    ridge = np.concatenate([arm.ridge_xy for arm in truth.arms])
    return np.min(np.hypot(*(points_xy[:, None, :] - ridge[None, :, :]).transpose(2, 0, 1)), axis=1)


def segments_cross(p1, p2, q1, q2) -> bool:
    def orient(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return (orient(p1, p2, q1) * orient(p1, p2, q2) < 0) and (
        orient(q1, q2, p1) * orient(q1, q2, p2) < 0
    )


def self_intersects(polygon: np.ndarray) -> bool:
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # adjacent through the closing vertex
            if segments_cross(*edges[i], *edges[j]):
                return True
    return False


# --- determinism, counts, formats -------------------------------------------------


def test_same_seed_gives_identical_classifications():
    truth = make_truth(stars=(StarTrace((10.0, 20.0), 200.0),))
    first = simulate_classifications(truth, np.random.default_rng(42))
    second = simulate_classifications(truth, np.random.default_rng(42))
    for a, b in zip(first, second, strict=True):
        assert a.classification_id == b.classification_id
        assert a.time_stamp == b.time_stamp
        for paths_a, paths_b in ((a.spiral_paths, b.spiral_paths), (a.bar_paths, b.bar_paths)):
            assert len(paths_a) == len(paths_b)
            for pa, pb in zip(paths_a, paths_b, strict=True):
                np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(a.center_points, b.center_points)
        np.testing.assert_array_equal(a.star_points, b.star_points)


def test_different_seeds_give_different_polygons():
    truth = make_truth()
    a = simulate_classifications(truth, np.random.default_rng(1))
    b = simulate_classifications(truth, np.random.default_rng(2))
    first_a = next(p for c in a for p in c.spiral_paths)
    first_b = next(p for c in b for p in c.spiral_paths)
    assert first_a.shape != first_b.shape or not np.allclose(first_a, first_b)


@pytest.mark.parametrize("n_volunteers", [1, 7, 15, 40])
def test_one_classification_per_volunteer_with_unique_ids_and_ordered_time_stamps(n_volunteers):
    result = simulate_classifications(
        make_truth(), np.random.default_rng(0), n_volunteers=n_volunteers
    )
    assert isinstance(result, tuple)
    assert len(result) == n_volunteers
    assert all(isinstance(c, VolunteerClassification) for c in result)
    ids = [c.classification_id for c in result]
    assert all(isinstance(i, int) for i in ids)
    assert len(set(ids)) == n_volunteers
    times = [dt.datetime.fromisoformat(c.time_stamp.replace("Z", "+00:00")) for c in result]
    assert times == sorted(times)
    assert all(c.time_stamp.endswith("Z") for c in result)


@pytest.mark.parametrize(
    "truth",
    [
        make_truth(),
        make_truth(n_arms=5, arm_contrast=4.0, bar=False, axis_ratio=0.3),
        make_truth(n_arms=0, bar=False),
        # Galaxy in a corner, so that many polygons must be clipped to the image.
        make_truth(centre_xy=(5.0, 120.0), bar_half_length_px=30.0),
    ],
    ids=["two-arm barred", "many-arm inclined", "no features", "corner"],
)
def test_all_vertices_are_finite_float_pairs_inside_the_image(truth):
    for c in run_many(truth, 30, seed=3):
        for polygon in c.spiral_paths + c.bar_paths:
            assert isinstance(polygon, np.ndarray)
            assert polygon.dtype == np.float64
            assert polygon.ndim == 2 and polygon.shape[1] == 2 and len(polygon) >= 3
            assert np.all(np.isfinite(polygon))
            assert np.all(polygon >= -0.5)
            assert np.all(polygon[:, 0] <= SIZE - 0.5)
            assert np.all(polygon[:, 1] <= SIZE - 0.5)
        for points in (c.center_points, c.star_points):
            assert points.ndim == 2 and points.shape[1] == 2
            assert np.all(np.isfinite(points))
            assert np.all((points >= -0.5) & (points <= SIZE - 0.5))


def test_polygons_at_the_image_edge_are_clipped_onto_it():
    truth = make_truth(centre_xy=(5.0, 120.0), bar_half_length_px=30.0)
    vertices = np.concatenate([p for c in run_many(truth, 10) for p in c.spiral_paths])
    assert np.any(vertices[:, 0] == -0.5)
    assert np.any(vertices[:, 1] == SIZE - 0.5)


def test_vertex_counts_are_blocky():
    counts = [len(p) for c in run_many(make_truth(), 40) for p in c.spiral_paths]
    low, high = DEFAULT_BEHAVIOUR.vertices_per_arm_range
    # A sloppy close adds one click to an outline.
    assert min(counts) >= min(low, DEFAULT_BEHAVIOUR.circle_disc_vertices_range[0])
    assert max(counts) <= max(high, DEFAULT_BEHAVIOUR.circle_disc_vertices_range[1]) + 1
    assert 6 <= np.median(counts) <= 14
    bar_counts = [len(p) for c in run_many(make_truth(), 40) for p in c.bar_paths]
    assert min(bar_counts) >= 4 and max(bar_counts) <= DEFAULT_BEHAVIOUR.bar_vertices_range[1] + 1


# --- who marks what -----------------------------------------------------------------


def marking_fraction(truth: GalaxyTruth, n_galaxies: int = 200, feature: str = "spiral") -> float:
    classifications = run_many(truth, n_galaxies, seed=11)
    attribute = "marked_spiral" if feature == "spiral" else "marked_bar"
    return float(np.mean([getattr(c, attribute) for c in classifications]))


def test_high_contrast_arms_are_marked_by_most_volunteers():
    assert marking_fraction(make_truth(arm_contrast=30.0)) > 0.7


def test_low_contrast_arms_are_marked_by_few_volunteers():
    # Flocculent: many faint armlets do not add up to a confident spiral.
    assert marking_fraction(make_truth(arm_contrast=1.0)) < 0.15
    assert marking_fraction(make_truth(n_arms=8, arm_contrast=1.0)) < 0.15


def test_marking_fraction_rises_with_arm_contrast():
    fractions = [marking_fraction(make_truth(arm_contrast=c), 80) for c in (0.5, 1.5, 3, 8, 30)]
    assert np.all(np.diff(fractions) > -0.03)
    assert fractions[-1] - fractions[0] > 0.6


def test_faint_arm_galaxies_have_few_markers_each():
    rng = np.random.default_rng(5)
    truth = make_truth(arm_contrast=1.2, bar=False)
    markers = [
        sum(c.marked_spiral for c in simulate_classifications(truth, rng)) for _ in range(100)
    ]
    assert np.median(markers) <= 3
    assert np.mean(np.array(markers) == 0) > 0.1


def test_inclined_discs_get_fewer_arm_markers():
    face_on = marking_fraction(make_truth(arm_contrast=12.0, axis_ratio=1.0))
    inclined = marking_fraction(make_truth(arm_contrast=12.0, axis_ratio=0.25))
    assert inclined < face_on - 0.1


def test_arms_of_poorly_resolved_discs_get_fewer_markers():
    # Same contrast; arms 6 px wide in a 50 px disc vs 20 px wide (blend into the disc).
    resolved = marking_fraction(make_truth(arm_contrast=12.0, arm_width_px=6.0))
    blended = marking_fraction(make_truth(arm_contrast=12.0, arm_width_px=20.0))
    assert blended < resolved - 0.2


def test_strong_bar_marked_by_most_and_faint_bar_by_few():
    assert marking_fraction(make_truth(bar_contrast=100.0), feature="bar") > 0.75
    assert marking_fraction(make_truth(bar_contrast=8.0), feature="bar") < 0.15


def test_false_arms_on_featureless_galaxies_are_rare():
    truth = make_truth(n_arms=0, bar=False)
    fraction = marking_fraction(truth, 400)
    assert fraction <= 3 * DEFAULT_BEHAVIOUR.false_arm_probability + 0.003
    always = VolunteerBehaviour(false_arm_probability=1.0)
    classifications = run_many(truth, 5, behaviour=always)
    assert all(len(c.spiral_paths) == 1 for c in classifications)
    # A false arm lies in the disc, not in a corner of the image.
    centroids = np.array([c.spiral_paths[0].mean(axis=0) for c in classifications])
    assert np.all(np.hypot(*(centroids - CENTRE).T) < RADIUS)


# --- geometry of what is drawn ------------------------------------------------------


def test_arm_polygons_lie_near_the_ridge():
    truth = make_truth(arm_width_px=6.0)
    neat = replace(DEFAULT_BEHAVIOUR, merge_adjacent_probability=0.0, circle_disc_probability=0.0)
    vertices = np.concatenate(
        [p for c in run_many(truth, 30, behaviour=neat) for p in c.spiral_paths]
    )
    distance = distance_to_ridges(vertices, truth)
    # Half-width x width factor (median 1.3, up to ~2.5) plus jitter (<= 3% of 50 px).
    assert np.mean(distance < 2.0 * 6.0) > 0.95
    # The outlines surround the ridge rather than sit on it.
    assert np.median(distance) > 0.5 * 6.0 * 0.5
    # With every behaviour on, most vertices are still near an arm.
    vertices = np.concatenate([p for c in run_many(truth, 30) for p in c.spiral_paths])
    assert np.mean(distance_to_ridges(vertices, truth) < 2.0 * 6.0) > 0.8


def test_vote_map_concentrates_on_the_true_arms():
    truth = make_truth(arm_width_px=6.0, bar=False)
    classifications = simulate_classifications(truth, np.random.default_rng(8))
    votes = vote_map([c.spiral_paths for c in classifications])
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    pixels = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    near_arm = (distance_to_ridges(pixels, truth) < 6.0).reshape(SIZE, SIZE)
    confident = votes >= 0.5 * votes.max()
    assert confident.sum() > 100
    assert np.mean(near_arm[confident]) > 0.85
    # Step edges: the map takes only whole numbers of volunteers.
    assert np.array_equal(votes, np.round(votes)) and votes.max() <= 15


def test_strong_arms_ridge_is_covered_by_several_volunteers():
    truth = make_truth(arm_contrast=30.0, bar=False)
    classifications = simulate_classifications(truth, np.random.default_rng(4))
    ridge = np.concatenate([arm.ridge_xy for arm in truth.arms])
    inner = np.hypot(*(ridge - CENTRE).T) < 0.8 * RADIUS
    covering = np.zeros(len(ridge))
    for c in classifications:
        covered = np.zeros(len(ridge), dtype=bool)
        for polygon in c.spiral_paths:
            covered |= contains(polygon, ridge)
        covering += covered
    assert np.median(covering[inner]) >= 5


def test_inner_parts_of_arms_get_more_votes_than_outer_parts():
    truth = make_truth(arm_contrast=5.0, bar=False)
    ridge = truth.arms[0].ridge_xy
    covering = np.zeros(len(ridge))
    for c in run_many(truth, 20, seed=2):
        for polygon in c.spiral_paths:
            covering += contains(polygon, ridge)
    assert covering[10:30].mean() > covering[-15:].mean()


def bar_extent(polygon: np.ndarray, bar: BarTrace) -> tuple[float, float]:
    angle = np.deg2rad(bar.angle_deg)
    offset = polygon - np.asarray(bar.centre_xy)
    along = offset @ np.array([np.cos(angle), np.sin(angle)])
    across = offset @ np.array([-np.sin(angle), np.cos(angle)])
    return float(np.ptp(along)), float(np.ptp(across))


def test_strong_bar_length_is_right_and_width_too_wide():
    truth = make_truth(bar_contrast=100.0, bar_half_length_px=15.0)
    neat = replace(DEFAULT_BEHAVIOUR, sloppy_close_probability=0.0)
    extents = np.array(
        [bar_extent(p, truth.bar) for c in run_many(truth, 40, behaviour=neat) for p in c.bar_paths]
    )
    true_length, true_width = 2 * truth.bar.half_length_px, 2 * truth.bar.half_width_px
    assert len(extents) > 300
    assert abs(np.median(extents[:, 0]) / true_length - 1.0) < 0.15
    assert 1.3 < np.median(extents[:, 1]) / true_width < 2.8
    # Length scatter ~15%, not a fixed copy of the truth.
    assert 0.07 < np.std(extents[:, 0] / true_length) < 0.3


def test_bar_polygons_follow_the_bar_angle():
    truth = make_truth(bar_contrast=100.0, bar_half_length_px=15.0)
    for c in run_many(truth, 10):
        for polygon in c.bar_paths:
            along, across = bar_extent(polygon, truth.bar)
            assert along > across


@pytest.mark.parametrize("axis_ratio", [1.0, 0.6, 0.3])
def test_false_bar_rate_is_within_the_configured_range(axis_ratio):
    truth = make_truth(bar=False, axis_ratio=axis_ratio)
    rate = marking_fraction(truth, 400, feature="bar")
    b = DEFAULT_BEHAVIOUR
    expected = b.false_bar_probability_edge_on + axis_ratio * (
        b.false_bar_probability_face_on - b.false_bar_probability_edge_on
    )
    assert b.false_bar_probability_face_on - 0.01 <= rate <= b.false_bar_probability_edge_on + 0.01
    # 6000 trials: binomial standard deviation ~0.003.
    assert abs(rate - expected) < 0.012


def test_false_bars_are_small_central_and_along_the_disc():
    truth = make_truth(bar=False, axis_ratio=0.4, disc_angle_deg=30.0)
    always = VolunteerBehaviour(
        false_bar_probability_face_on=1.0, false_bar_probability_edge_on=1.0
    )
    polygons = [p for c in run_many(truth, 5, behaviour=always) for p in c.bar_paths]
    assert len(polygons) == 75
    disc_axis = BarTrace(CENTRE, 1.0, 1.0, 30.0, 1.0)
    for polygon in polygons:
        along, across = bar_extent(polygon, disc_axis)
        assert along > across
        assert along < 2 * 0.4 * RADIUS
        assert np.hypot(*(polygon.mean(axis=0) - CENTRE)) < 0.1 * RADIUS


def test_merged_arms_are_covered_by_one_polygon():
    truth = make_truth(bar=False)
    merging = VolunteerBehaviour(merge_adjacent_probability=1.0, circle_disc_probability=0.0)
    mid = slice(30, 50)
    arm_a, arm_b = truth.arms[0].ridge_xy[mid], truth.arms[1].ridge_xy
    both = 0
    polygons = [p for c in run_many(truth, 10, behaviour=merging) for p in c.spiral_paths]
    for polygon in polygons:
        if contains(polygon, arm_a).mean() > 0.5 and contains(polygon, arm_b).any():
            both += 1
    assert both > 0.3 * len(polygons)


def test_circled_disc_is_one_polygon_round_the_centre():
    truth = make_truth(bar=False)
    circling = VolunteerBehaviour(circle_disc_probability=1.0)
    for c in run_many(truth, 10, behaviour=circling):
        assert len(c.spiral_paths) <= 1
        if c.spiral_paths:
            assert contains(c.spiral_paths[0], np.array([CENTRE]))[0]


def test_sloppy_closing_makes_self_intersecting_polygons_only_sometimes():
    truth = make_truth()
    always = VolunteerBehaviour(sloppy_close_probability=1.0)
    polygons = [p for c in run_many(truth, 10, behaviour=always) for p in c.spiral_paths]
    assert np.mean([self_intersects(p) for p in polygons]) > 0.6
    polygons = [p for c in run_many(truth, 10) for p in c.spiral_paths]
    share = np.mean([self_intersects(p) for p in polygons])
    assert 0.02 < share < 0.35


# --- points -------------------------------------------------------------------------


def test_centre_is_clicked_by_most_volunteers_close_to_the_centre():
    classifications = run_many(make_truth(), 40)
    clicks = np.concatenate([c.center_points for c in classifications])
    assert len(clicks) > 0.85 * len(classifications)
    offsets = clicks - CENTRE
    assert 0.8 < np.std(offsets) < 2.5
    assert np.all(np.hypot(*offsets.T) < 10)


def test_bright_stars_clicked_by_most_and_faint_ones_by_few():
    bright, faint = StarTrace((15.0, 15.0), 300.0), StarTrace((110.0, 20.0), 3.0)
    classifications = run_many(make_truth(stars=(bright, faint)), 40)
    points = np.concatenate([c.star_points for c in classifications])
    near_bright = np.hypot(*(points - bright.xy).T) < 6
    near_faint = np.hypot(*(points - faint.xy).T) < 6
    assert near_bright.sum() > 0.7 * len(classifications)
    assert near_faint.sum() < 0.15 * len(classifications)
    assert np.all(near_bright | near_faint)


def test_no_stars_gives_empty_star_points():
    for c in simulate_classifications(make_truth(), np.random.default_rng(0)):
        assert c.star_points.shape == (0, 2)


# --- awkward inputs -----------------------------------------------------------------


def test_degenerate_arms_do_not_crash():
    good = make_truth().arms[0]
    single = ArmTrace(np.array([[60.0, 60.0]]), np.array([5.0]), 30.0)
    repeated = ArmTrace(np.repeat(good.ridge_xy, 2, axis=0), np.repeat(good.width_px, 2), 30.0)
    with_nan = ArmTrace(
        np.vstack([good.ridge_xy, [[np.nan, 1.0]]]), np.append(good.width_px, 5.0), np.nan
    )
    truth = replace(make_truth(), arms=(single, repeated, with_nan))
    for c in run_many(truth, 10):
        for polygon in c.spiral_paths:
            assert np.all(np.isfinite(polygon))
    only_single = replace(make_truth(), arms=(single,))
    assert len(run_many(only_single, 3)) == 45


def test_input_errors_name_the_parameter():
    truth = make_truth()
    with pytest.raises(TypeError, match=r"rng must be a numpy\.random\.Generator"):
        simulate_classifications(truth, 42)
    with pytest.raises(ValueError, match="n_volunteers must be a positive integer, got 0"):
        simulate_classifications(truth, np.random.default_rng(0), n_volunteers=0)
    with pytest.raises(ValueError, match="n_volunteers"):
        simulate_classifications(truth, np.random.default_rng(0), n_volunteers=2.5)
    with pytest.raises(ValueError, match="disc_radius_px must be positive"):
        simulate_classifications(replace(truth, disc_radius_px=0.0), np.random.default_rng(0))
    with pytest.raises(TypeError, match="behaviour must be a VolunteerBehaviour"):
        simulate_classifications(truth, np.random.default_rng(0), behaviour={})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arm_task_probability": 1.5}, "arm_task_probability is a probability"),
        ({"false_bar_probability_edge_on": -0.1}, "false_bar_probability_edge_on"),
        ({"arm_width_factor_sigma": -1.0}, "arm_width_factor_sigma must be non-negative"),
        ({"arm_contrast_at_half": 0.0}, "arm_contrast_at_half must be positive"),
        ({"vertex_jitter_frac_range": (0.03, 0.01)}, "vertex_jitter_frac_range"),
        ({"bar_vertices_range": (4.5, 8)}, "whole numbers"),
        ({"vertices_per_arm_range": (3, 15)}, "start at 4"),
        ({"campaign_start": "yesterday"}, "campaign_start must be an ISO 8601"),
        ({"centre_jitter_px": float("nan")}, "centre_jitter_px must be finite"),
    ],
)
def test_behaviour_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        VolunteerBehaviour(**changes)


def test_behaviour_round_trips_through_a_plain_dict():
    behaviour = VolunteerBehaviour(arm_width_factor_median=1.5, bar_vertices_range=(4, 6))
    as_dict = behaviour.to_dict()
    assert as_dict["bar_vertices_range"] == [4, 6]
    assert VolunteerBehaviour.from_dict(as_dict) == behaviour
    assert VolunteerBehaviour.from_dict({}) == DEFAULT_BEHAVIOUR
    with pytest.raises(ValueError, match="unknown VolunteerBehaviour parameter"):
        VolunteerBehaviour.from_dict({"arm_widht_factor_median": 1.5})


def test_behaviour_is_immutable_and_hashable():
    with pytest.raises(AttributeError):
        DEFAULT_BEHAVIOUR.arm_task_probability = 0.5  # type: ignore[misc]
    assert hash(DEFAULT_BEHAVIOUR) == hash(VolunteerBehaviour())
