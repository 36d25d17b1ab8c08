"""Drawing behaviour: what each simulated volunteer draws on one galaxy.

Per-volunteer traits (diligence, tool use, how wide and how many vertices), then per
task: which arms each volunteer sees and traces, false arms and circled inner discs,
bars drawn and false bars. Probabilities are logistic functions of the contrast a
volunteer sees (:mod:`galseg.sim.volunteers`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galseg.sim.truth import ArmTrace, GalaxyTruth
from galseg.sim.volunteers.behaviour import VolunteerBehaviour
from galseg.sim.volunteers.polygons import (
    ArmGeometry,
    DiscFrame,
    adjacent_arm,
    arm_polar,
    arm_polygons,
    box_polygons,
    detection_probability,
    finish_polygons,
    image_bounds,
    merged_arm_polygons,
)


@dataclass(frozen=True, eq=False)
class _Traits:
    """Per-volunteer traits for one galaxy (arrays of length n_volunteers)."""

    threshold_shift_dex: np.ndarray  # > 0: less diligent, needs more contrast
    uses_arm_tool: np.ndarray
    uses_bar_tool: np.ndarray
    arm_width_factor: np.ndarray
    bar_width_factor: np.ndarray
    vertex_budget: np.ndarray
    jitter_px: np.ndarray
    max_arms: np.ndarray


def draw_traits(
    n: int, disc_radius_px: float, behaviour: VolunteerBehaviour, rng: np.random.Generator
) -> _Traits:
    width_z = rng.normal(0.0, 1.0, n)
    return _Traits(
        threshold_shift_dex=rng.normal(0.0, behaviour.diligence_scatter_dex, n),
        uses_arm_tool=rng.random(n) < behaviour.arm_task_probability,
        uses_bar_tool=rng.random(n) < behaviour.bar_task_probability,
        arm_width_factor=behaviour.arm_width_factor_median
        * np.exp(behaviour.arm_width_factor_sigma * width_z),
        bar_width_factor=behaviour.bar_width_factor_median
        * np.exp(behaviour.bar_width_factor_sigma * width_z),
        vertex_budget=rng.uniform(*behaviour.vertex_budget_range, n),
        jitter_px=rng.uniform(*behaviour.vertex_jitter_frac_range, n) * disc_radius_px,
        max_arms=1 + rng.poisson(behaviour.extra_arms_drawn_mean, n),
    )


def _arm_vertex_counts(
    traits: _Traits,
    who: np.ndarray,
    drawn_length_frac: np.ndarray,
    drawn_turning_rad: np.ndarray,
    behaviour: VolunteerBehaviour,
    rng: np.random.Generator,
) -> np.ndarray:
    """Number of vertices of each volunteer's outline of one arm."""
    low, high = behaviour.vertices_per_arm_range
    # Longer traces get more clicks, but people simplify: grow as sqrt(length).
    typical = traits.vertex_budget[who] * np.sqrt(np.clip(drawn_length_frac, 0.2, 2.0))
    # Nobody follows a bend with fewer clicks than one per max_turn_per_click_deg
    # on each side; without this, few-click outlines of tightly wound arms miss the ridge.
    needed = 2 * (1 + np.ceil(drawn_turning_rad / np.deg2rad(behaviour.max_turn_per_click_deg)))
    count = np.maximum(np.rint(typical + rng.normal(0.0, 0.7, len(who))), needed)
    return np.clip(count, low, high).astype(int)


def simulate_arms(
    truth: GalaxyTruth,
    frame: DiscFrame,
    traits: _Traits,
    paths: list[list[np.ndarray]],
    behaviour: VolunteerBehaviour,
    rng: np.random.Generator,
) -> None:
    """Append each volunteer's spiral polygons to ``paths`` (one list per volunteer)."""
    n = len(paths)
    radius = truth.disc_radius_px
    geometries = [ArmGeometry.of(arm) for arm in truth.arms]
    usable = [i for i, g in enumerate(geometries) if g is not None]
    if not usable:
        _simulate_false_arms(truth, frame, traits, paths, behaviour, rng)
        return
    contrast = np.array([geometries[i].contrast for i in usable])
    length_frac = np.array([geometries[i].length_px for i in usable]) / radius
    radius_in_widths = radius / np.maximum([geometries[i].width_px.mean() for i in usable], 1e-6)
    blend = behaviour.arm_blend_radius_in_widths
    seen_contrast = (
        contrast
        * frame.axis_ratio**behaviour.arm_visibility_axis_ratio_power
        * radius_in_widths**2
        / (radius_in_widths**2 + blend**2)
    )
    length_weight = np.minimum(length_frac / behaviour.short_arm_length_frac, 1.0)
    # Most visible arms first: a volunteer who draws only a few draws these.
    # (Ordered at the median threshold; nearly the same order for every volunteer.)
    order = np.argsort(
        -detection_probability(
            seen_contrast, behaviour.arm_contrast_at_half, behaviour.arm_contrast_softness_dex, 0.0
        )
        * length_weight,
        kind="stable",
    )
    usable = [usable[i] for i in order]
    seen_contrast, length_frac, length_weight = (
        seen_contrast[order],
        length_frac[order],
        length_weight[order],
    )
    visibility = length_weight[None, :] * detection_probability(
        seen_contrast[None, :],
        behaviour.arm_contrast_at_half,
        behaviour.arm_contrast_softness_dex,
        traits.threshold_shift_dex[:, None],
    )  # (volunteer, arm)
    # A volunteer first decides whether the galaxy has arms at all, from the most
    # visible arm, so many faint armlets do not add up to a confident "spiral";
    # then draws the most visible arm and each other arm with a probability
    # relative to it.
    best = visibility.max(axis=1)
    draws_arms = rng.random(n) < traits.uses_arm_tool * best
    relative = visibility / np.maximum(best, 1e-12)[:, None]
    marks = draws_arms[:, None] & (
        rng.random(visibility.shape) < (1.0 - behaviour.arm_miss_probability) * relative
    )
    marks[draws_arms, np.argmax(visibility[draws_arms], axis=1)] = True
    marks &= np.cumsum(marks, axis=1) <= traits.max_arms[:, None]

    n_arms = len(usable)
    p_circle = (
        behaviour.circle_disc_probability_multiarm
        if n_arms >= behaviour.multiarm_min_arms
        else behaviour.circle_disc_probability
    )
    circles = marks.any(axis=1) & (rng.random(n) < p_circle)
    marks[circles] = False
    if circles.any():
        _circle_inner_disc(truth, traits, np.flatnonzero(circles), paths, behaviour, rng)

    merges = marks & (rng.random(marks.shape) < behaviour.merge_adjacent_probability)
    if n_arms < 2:
        merges[:] = False
    polar: list[tuple[np.ndarray, np.ndarray] | None] | None = None
    for column, arm_index in enumerate(usable):
        who = np.flatnonzero(marks[:, column])
        if len(who) == 0:
            continue
        geometry = geometries[arm_index]
        m = len(who)
        # Faint arms (for this volunteer) are more often traced only part-way.
        p_truncate = behaviour.truncate_probability + (
            behaviour.truncate_probability_faint - behaviour.truncate_probability
        ) * (1.0 - visibility[who, column])
        truncated = rng.random(m) < p_truncate
        start = rng.uniform(0.0, behaviour.arm_start_frac_max, m)
        end = np.where(
            truncated,
            rng.uniform(*behaviour.truncated_end_frac_range, m),
            rng.uniform(behaviour.arm_end_frac_min, 1.0, m),
        )
        end = np.maximum(end, start + 0.1)
        n_vertices = _arm_vertex_counts(
            traits,
            who,
            (end - start) * length_frac[column],
            geometry.turning_between(start, end),
            behaviour,
            rng,
        )
        width_factor = traits.arm_width_factor[who] * np.exp(
            rng.normal(0.0, behaviour.polygon_width_sigma, m)
        )
        merging = merges[who, column]
        neighbour = None
        if merging.any():
            if polar is None:
                polar = [None if g is None else arm_polar(g, frame) for g in geometries]
            neighbour = adjacent_arm(arm_index, polar)
        if neighbour is None:
            merging[:] = False
        normal = ~merging
        polygons: dict[int, np.ndarray] = {}
        if normal.any():
            drawn = arm_polygons(
                geometry,
                start_frac=start[normal],
                end_frac=end[normal],
                n_vertices=n_vertices[normal],
                width_factor=width_factor[normal],
                jitter_px=traits.jitter_px[who[normal]],
                behaviour=behaviour,
                rng=rng,
            )
            polygons.update(zip(who[normal].tolist(), drawn, strict=True))
        if merging.any():
            drawn = merged_arm_polygons(
                geometry,
                polar[neighbour],
                frame,
                start_frac=start[merging],
                end_frac=end[merging],
                n_vertices=n_vertices[merging],
                width_factor=width_factor[merging],
                jitter_px=traits.jitter_px[who[merging]],
                rng=rng,
            )
            polygons.update(zip(who[merging].tolist(), drawn, strict=True))
            # The neighbour is covered already: those volunteers do not draw it again.
            marks[who[merging], usable.index(neighbour)] = False
        drawers = sorted(polygons)
        finished = finish_polygons(
            [polygons[v] for v in drawers],
            jitter_px=traits.jitter_px[drawers],
            bounds=image_bounds(truth),
            behaviour=behaviour,
            rng=rng,
        )
        for v, polygon in zip(drawers, finished, strict=True):
            paths[v].append(polygon)


def _circle_inner_disc(
    truth: GalaxyTruth,
    traits: _Traits,
    who: np.ndarray,
    paths: list[list[np.ndarray]],
    behaviour: VolunteerBehaviour,
    rng: np.random.Generator,
) -> None:
    m = len(who)
    semi_major = rng.uniform(*behaviour.circle_disc_radius_frac_range, m) * truth.disc_radius_px
    low, high = behaviour.circle_disc_vertices_range
    polygons = box_polygons(
        centre_xy=np.asarray(truth.centre_xy, dtype=float)[None, :]
        + rng.normal(0.0, 1.0, (m, 2)) * traits.jitter_px[who, None],
        half_length=semi_major,
        half_width=semi_major * np.clip(truth.axis_ratio, 0.05, 1.0),
        angle_rad=np.full(m, np.deg2rad(truth.disc_angle_deg)),
        n_vertices=rng.integers(low, high + 1, m),
        rectangle=np.zeros(m, dtype=bool),
        squareness=np.full(m, 2.0),
        start_angle_rad=rng.uniform(0.0, 2.0 * np.pi, m),
        jitter_px=traits.jitter_px[who],
        rng=rng,
    )
    finished = finish_polygons(
        polygons,
        jitter_px=traits.jitter_px[who],
        bounds=image_bounds(truth),
        behaviour=behaviour,
        rng=rng,
    )
    for v, polygon in zip(who.tolist(), finished, strict=True):
        paths[v].append(polygon)


def _simulate_false_arms(
    truth: GalaxyTruth,
    frame: DiscFrame,
    traits: _Traits,
    paths: list[list[np.ndarray]],
    behaviour: VolunteerBehaviour,
    rng: np.random.Generator,
) -> None:
    """Rare spiral polygons on galaxies without arms: a short arc in the disc plane."""
    who = np.flatnonzero(rng.random(len(paths)) < behaviour.false_arm_probability)
    radius = truth.disc_radius_px
    for v in who.tolist():
        mid_radius = rng.uniform(*behaviour.false_arm_radius_frac_range) * radius
        sweep = np.deg2rad(rng.uniform(*behaviour.false_arm_sweep_deg_range))
        start_phi = rng.uniform(0.0, 2.0 * np.pi)
        # A gently winding arc (pitch ~ 15 deg) looks like what is mistaken for an arm.
        phi = start_phi + np.linspace(0.0, sweep, 24) * rng.choice([-1.0, 1.0])
        r = mid_radius * np.exp(np.tan(np.deg2rad(15.0)) * (np.abs(phi - start_phi) - sweep / 2))
        x, y = frame.from_polar(r, phi)
        arm = ArmTrace(
            np.column_stack([x, y]), np.full(len(x), behaviour.false_arm_width_frac * radius), 0.0
        )
        geometry = ArmGeometry.of(arm)
        if geometry is None:
            continue
        index = np.array([v])
        n_vertices = _arm_vertex_counts(
            traits,
            index,
            np.array([geometry.length_px / radius]),
            geometry.turning_between(np.zeros(1), np.ones(1)),
            behaviour,
            rng,
        )
        polygons = arm_polygons(
            geometry,
            start_frac=np.zeros(1),
            end_frac=np.ones(1),
            n_vertices=n_vertices,
            width_factor=traits.arm_width_factor[index],
            jitter_px=traits.jitter_px[index],
            behaviour=behaviour,
            rng=rng,
        )
        paths[v].extend(
            finish_polygons(
                polygons,
                jitter_px=traits.jitter_px[index],
                bounds=image_bounds(truth),
                behaviour=behaviour,
                rng=rng,
            )
        )


def simulate_bars(
    truth: GalaxyTruth,
    traits: _Traits,
    paths: list[list[np.ndarray]],
    behaviour: VolunteerBehaviour,
    rng: np.random.Generator,
) -> None:
    """Append bar polygons (real or false) to ``paths`` (one list per volunteer)."""
    n = len(paths)
    bar = truth.bar
    if bar is not None:
        visibility = detection_probability(
            bar.contrast if np.isfinite(bar.contrast) else 0.0,
            behaviour.bar_contrast_at_half,
            behaviour.bar_contrast_softness_dex,
            traits.threshold_shift_dex,
        )
        who = np.flatnonzero(rng.random(n) < traits.uses_bar_tool * visibility)
        m = len(who)
        if m == 0:
            return
        centre = np.asarray(bar.centre_xy, dtype=float)[None, :]
        half_length = bar.half_length_px * np.maximum(
            rng.normal(1.0, behaviour.bar_length_factor_sigma, m), 0.3
        )
        half_width = np.maximum(
            bar.half_width_px * traits.bar_width_factor[who], behaviour.min_bar_half_width_px
        )
        angle = bar.angle_deg + rng.normal(0.0, behaviour.bar_angle_jitter_deg, m)
        centre_jitter = behaviour.bar_centre_jitter_px
    else:
        q = float(np.clip(truth.axis_ratio, 0.0, 1.0))
        p_false = behaviour.false_bar_probability_edge_on + q * (
            behaviour.false_bar_probability_face_on - behaviour.false_bar_probability_edge_on
        )
        who = np.flatnonzero(rng.random(n) < p_false)
        m = len(who)
        if m == 0:
            return
        centre = np.asarray(truth.centre_xy, dtype=float)[None, :]
        half_length = rng.uniform(*behaviour.false_bar_half_length_frac_range, m)
        half_length *= truth.disc_radius_px
        half_width = np.maximum(
            half_length * rng.uniform(*behaviour.false_bar_axis_ratio_range, m),
            behaviour.min_bar_half_width_px,
        )
        angle = truth.disc_angle_deg + rng.normal(0.0, behaviour.false_bar_angle_jitter_deg, m)
        centre_jitter = behaviour.centre_jitter_px
    low, high = behaviour.bar_vertices_range
    rectangle = rng.random(m) < behaviour.bar_rectangle_probability
    n_vertices = np.where(rectangle, 4, rng.integers(min(low + 1, high), high + 1, m))
    jitter = traits.jitter_px[who] * behaviour.bar_vertex_jitter_scale
    polygons = box_polygons(
        centre_xy=centre + rng.normal(0.0, centre_jitter, (m, 2)),
        half_length=half_length,
        half_width=half_width,
        angle_rad=np.deg2rad(angle),
        n_vertices=n_vertices,
        rectangle=rectangle & (n_vertices == 4),
        squareness=rng.uniform(2.0, 4.0, m),
        start_angle_rad=np.zeros(m),
        jitter_px=jitter,
        rng=rng,
    )
    finished = finish_polygons(
        polygons, jitter_px=jitter, bounds=image_bounds(truth), behaviour=behaviour, rng=rng
    )
    for v, polygon in zip(who.tolist(), finished, strict=True):
        paths[v].append(polygon)
