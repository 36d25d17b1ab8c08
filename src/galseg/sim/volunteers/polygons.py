"""Polygon generation: the shapes volunteers draw around arms and bars.

Geometry only (pure numpy): the disc frame of a galaxy, where along an arm a volunteer
clicks, the blocky polygons around one arm, around two adjacent arms merged, around the
inner disc or a bar, and their last touches (jitter, a sloppily closed outline, the
image bounds). Points are ``(x, y)`` pixels with pixel centres on integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galseg.sim.truth import ArmTrace, GalaxyTruth
from galseg.sim.volunteers.behaviour import VolunteerBehaviour


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


def detection_probability(
    value: np.ndarray | float,
    at_half: float,
    softness_dex: float,
    shift_dex: np.ndarray | float,
) -> np.ndarray:
    """Logistic in log10(value); ``shift_dex`` moves each volunteer's threshold."""
    log_value = np.log10(np.maximum(value, 1e-6))
    return _sigmoid((log_value - np.log10(at_half) - shift_dex) / softness_dex)


@dataclass(frozen=True)
class DiscFrame:
    """Map between image pixels and the deprojected disc plane (polar, pixels)."""

    centre_x: float
    centre_y: float
    cos_angle: float
    sin_angle: float
    axis_ratio: float

    @classmethod
    def of(cls, truth: GalaxyTruth) -> DiscFrame:
        angle = np.deg2rad(truth.disc_angle_deg)
        return cls(
            float(truth.centre_xy[0]),
            float(truth.centre_xy[1]),
            float(np.cos(angle)),
            float(np.sin(angle)),
            float(np.clip(truth.axis_ratio, 0.05, 1.0)),
        )

    def to_polar(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = x - self.centre_x, y - self.centre_y
        along = dx * self.cos_angle + dy * self.sin_angle
        across = (-dx * self.sin_angle + dy * self.cos_angle) / self.axis_ratio
        return np.hypot(along, across), np.arctan2(across, along)

    def from_polar(self, r: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        along = r * np.cos(phi)
        across = r * np.sin(phi) * self.axis_ratio
        x = self.centre_x + along * self.cos_angle - across * self.sin_angle
        y = self.centre_y + along * self.sin_angle + across * self.cos_angle
        return x, y


@dataclass(frozen=True, eq=False)
class ArmGeometry:
    """An arm ridge prepared for fast sampling by arc length."""

    arc_px: np.ndarray  # cumulative arc length at each ridge point, from 0
    x: np.ndarray
    y: np.ndarray
    tangent_x: np.ndarray
    tangent_y: np.ndarray
    width_px: np.ndarray
    turning_rad: np.ndarray  # cumulative absolute turning of the ridge direction, from 0
    length_px: float
    contrast: float

    @classmethod
    def of(cls, arm: ArmTrace) -> ArmGeometry | None:
        """Prepare an arm; None when the ridge has fewer than two distinct finite points."""
        ridge = np.asarray(arm.ridge_xy, dtype=float).reshape(-1, 2)
        width = np.broadcast_to(np.asarray(arm.width_px, dtype=float), ridge.shape[:1])
        step = ridge[1:] - ridge[:-1]
        step_length = np.hypot(step[:, 0], step[:, 1])
        if not (np.isfinite(step_length).all() and np.isfinite(width).all()) or (
            len(step_length) and step_length.min() <= 1e-9
        ):
            # Slow path, rarely taken: drop non-finite points and repeated points
            # (which would make the arc length non-increasing, as np.interp forbids).
            good = np.isfinite(ridge).all(axis=1) & np.isfinite(width)
            ridge, width = ridge[good], width[good]
            if len(ridge) < 2:
                return None
            keep = np.concatenate([[True], np.hypot(*np.diff(ridge, axis=0).T) > 1e-9])
            ridge, width = ridge[keep], width[keep]
            step = ridge[1:] - ridge[:-1]
            step_length = np.hypot(step[:, 0], step[:, 1])
        if len(ridge) < 2:
            return None
        arc = np.empty(len(ridge))
        arc[0] = 0.0
        np.cumsum(step_length, out=arc[1:])
        # Central differences; not normalised here because sample() normalises
        # after interpolating.
        tangent = np.empty_like(ridge)
        tangent[1:-1] = ridge[2:] - ridge[:-2]
        tangent[0], tangent[-1] = step[0], step[-1]
        turning = np.zeros(len(ridge))
        if len(step) > 1:
            direction = np.unwrap(np.arctan2(step[:, 1], step[:, 0]))
            np.cumsum(np.abs(np.diff(direction)), out=turning[2:])
        contrast = float(arm.contrast) if np.isfinite(arm.contrast) else 0.0
        return cls(
            arc,
            ridge[:, 0],
            ridge[:, 1],
            tangent[:, 0],
            tangent[:, 1],
            np.maximum(width, 0.0),
            turning,
            float(arc[-1]),
            contrast,
        )

    def turning_between(self, start_frac: np.ndarray, end_frac: np.ndarray) -> np.ndarray:
        """Total turning (radians) of the ridge between two fractions of its length."""
        return np.interp(end_frac * self.length_px, self.arc_px, self.turning_rad) - np.interp(
            start_frac * self.length_px, self.arc_px, self.turning_rad
        )

    def sample(self, arc_px: np.ndarray) -> tuple[np.ndarray, ...]:
        """Position, unit tangent and width at arc lengths ``arc_px`` (any shape)."""
        flat = arc_px.ravel()
        out = [
            np.interp(flat, self.arc_px, v).reshape(arc_px.shape)
            for v in (self.x, self.y, self.tangent_x, self.tangent_y, self.width_px)
        ]
        x, y, tx, ty, width = out
        norm = np.hypot(tx, ty)
        # Interpolating between opposite tangents (a hairpin ridge) can give ~0.
        degenerate = norm < 1e-9
        tx = np.where(degenerate, 1.0, tx / np.where(degenerate, 1.0, norm))
        ty = np.where(degenerate, 0.0, ty / np.where(degenerate, 1.0, norm))
        return x, y, tx, ty, width


def _click_arc_px(
    geometry: ArmGeometry,
    start_frac: np.ndarray,
    end_frac: np.ndarray,
    n_per_side: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Arc lengths (pixels) where each volunteer clicks, shape (m, max n_per_side).

    People click more densely where the arm bends: clicks are spaced evenly in
    a drawing effort that is half arc length and half turning angle, with the
    interior clicks moved by up to a quarter spacing (nobody clicks at even
    intervals). Columns past a volunteer's count repeat the end and are unused.
    """
    arc, turning = geometry.arc_px, geometry.turning_rad
    total_turning = turning[-1]
    effort = arc / geometry.length_px
    if total_turning > 1e-6:
        effort = 0.5 * effort + 0.5 * turning / total_turning
    first = np.interp(start_frac * geometry.length_px, arc, effort)
    last = np.interp(end_frac * geometry.length_px, arc, effort)
    m, k_max = len(start_frac), int(n_per_side.max())
    k = np.arange(k_max)[None, :]
    spacing = 1.0 / np.maximum(n_per_side - 1, 1)[:, None]
    frac = np.minimum(k * spacing, 1.0)
    interior = (k > 0) & (k < (n_per_side - 1)[:, None])
    frac = frac + interior * rng.uniform(-0.25, 0.25, (m, k_max)) * spacing
    clicks = first[:, None] + (last - first)[:, None] * frac
    return np.interp(clicks.ravel(), effort, arc).reshape(clicks.shape)


def arm_polygons(
    geometry: ArmGeometry,
    *,
    start_frac: np.ndarray,
    end_frac: np.ndarray,
    n_vertices: np.ndarray,
    width_factor: np.ndarray,
    jitter_px: np.ndarray,
    behaviour: VolunteerBehaviour,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Outline polygons around one arm, one per drawing volunteer.

    Each polygon goes out along one side of the ridge and back along the other,
    ``n_vertices // 2`` clicks a side; an odd count puts one pointed vertex
    beyond the outer end. Arrays have one entry per drawing volunteer.
    """
    m = len(start_frac)
    n_side = (n_vertices + 1) // 2
    pointed = (n_vertices % 2) == 1
    x, y, tx, ty, width = geometry.sample(
        _click_arc_px(geometry, start_frac, end_frac, n_side, rng)
    )
    half_width = np.maximum(0.5 * width * width_factor[:, None], behaviour.min_half_width_px)
    k_max = x.shape[1]
    noise = rng.normal(0.0, 1.0, (m, 2 * k_max + 1, 2)) * jitter_px[:, None, None]
    left = np.stack([x - ty * half_width, y + tx * half_width], axis=-1) + noise[:, :k_max]
    right = np.stack([x + ty * half_width, y - tx * half_width], axis=-1)
    right += noise[:, k_max : 2 * k_max]
    rows = np.arange(m)
    last = n_side - 1
    extension = rng.uniform(*behaviour.tip_extension_range, m) * half_width[rows, last]
    tip = (
        np.stack(
            [
                x[rows, last] + tx[rows, last] * extension,
                y[rows, last] + ty[rows, last] * extension,
            ],
            axis=-1,
        )
        + noise[:, -1]
    )
    polygons = []
    for i in range(m):
        n = int(n_side[i])
        if pointed[i]:
            polygons.append(
                np.concatenate([left[i, : n - 1], tip[i : i + 1], right[i, n - 2 :: -1]])
            )
        else:
            polygons.append(np.concatenate([left[i, :n], right[i, n - 1 :: -1]]))
    return polygons


def arm_polar(geometry: ArmGeometry, frame: DiscFrame) -> tuple[np.ndarray, np.ndarray]:
    """Disc-plane radius and azimuth of the ridge, sorted by azimuth (for np.interp)."""
    r, phi = frame.to_polar(geometry.x, geometry.y)
    phi = np.unwrap(phi)
    order = np.argsort(phi, kind="stable")
    return phi[order], r[order]


def _radius_at_azimuth_nearest(
    phi_sorted: np.ndarray, r_sorted: np.ndarray, phi: np.ndarray, r_ref: np.ndarray
) -> np.ndarray:
    """Radius of an arm where it crosses azimuth ``phi``, the crossing nearest ``r_ref``.

    An arm can cross one azimuth several times (once per turn); NaN where it
    does not cross at all.
    """
    turns = np.arange(-3, 4) * 2.0 * np.pi
    candidates = np.interp(
        (phi[..., None] + turns).ravel(), phi_sorted, r_sorted, left=np.nan, right=np.nan
    ).reshape(*phi.shape, len(turns))
    distance = np.abs(candidates - r_ref[..., None])
    distance = np.where(np.isnan(distance), np.inf, distance)
    best = np.argmin(distance, axis=-1)
    chosen = np.take_along_axis(candidates, best[..., None], axis=-1)[..., 0]
    return np.where(np.isfinite(np.min(distance, axis=-1)), chosen, np.nan)


def adjacent_arm(index: int, polar: list[tuple[np.ndarray, np.ndarray] | None]) -> int | None:
    """The arm lying radially next to arm ``index`` over at least a third of it, or None."""
    phi, r = polar[index]
    best, best_gap = None, np.inf
    for other, other_polar in enumerate(polar):
        if other == index or other_polar is None:
            continue
        r_other = _radius_at_azimuth_nearest(*other_polar, phi, r)
        crossing = np.isfinite(r_other)
        # The neighbour must run alongside for at least a third of the arm.
        if crossing.mean() < 1.0 / 3.0:
            continue
        gap = float(np.mean(np.abs(r_other[crossing] - r[crossing])))
        if gap < best_gap:
            best, best_gap = other, gap
    return best


def merged_arm_polygons(
    geometry: ArmGeometry,
    neighbour_polar: tuple[np.ndarray, np.ndarray],
    frame: DiscFrame,
    *,
    start_frac: np.ndarray,
    end_frac: np.ndarray,
    n_vertices: np.ndarray,
    width_factor: np.ndarray,
    jitter_px: np.ndarray,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """One broad polygon per volunteer covering an arm, its neighbour and the gap between.

    At each click along the arm the outline spans, in the disc plane, from the
    inner to the outer of the two arms at that azimuth, plus a half-width margin.
    """
    n_side = np.maximum(n_vertices // 2, 2)
    x, y, _, _, width = geometry.sample(_click_arc_px(geometry, start_frac, end_frac, n_side, rng))
    r, phi = frame.to_polar(x, y)
    r_neighbour = _radius_at_azimuth_nearest(*neighbour_polar, phi, r)
    r_neighbour = np.where(np.isfinite(r_neighbour), r_neighbour, r)
    # A width in the image is between 1 and 1/q times as wide in the disc plane,
    # depending on direction; the geometric mean is close enough for a margin.
    margin = 0.5 * width * width_factor[:, None] / np.sqrt(frame.axis_ratio)
    r_inner = np.maximum(np.minimum(r, r_neighbour) - margin, 0.0)
    r_outer = np.maximum(r, r_neighbour) + margin
    inner = np.stack(frame.from_polar(r_inner, phi), axis=-1)
    outer = np.stack(frame.from_polar(r_outer, phi), axis=-1)
    k_max = x.shape[1]
    noise = rng.normal(0.0, 1.0, (len(n_side), 2 * k_max, 2)) * jitter_px[:, None, None]
    inner += noise[:, :k_max]
    outer += noise[:, k_max:]
    return [np.concatenate([outer[i, :n], inner[i, n - 1 :: -1]]) for i, n in enumerate(n_side)]


def box_polygons(
    *,
    centre_xy: np.ndarray,
    half_length: np.ndarray,
    half_width: np.ndarray,
    angle_rad: np.ndarray,
    n_vertices: np.ndarray,
    rectangle: np.ndarray,
    squareness: np.ndarray,
    start_angle_rad: np.ndarray,
    jitter_px: np.ndarray,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Rectangles (4 clicks at the corners) or rounded boxes/ellipses, one per row.

    Rounded outlines have their vertices on a superellipse of exponent
    ``squareness`` (2 = ellipse, larger = boxier), starting at
    ``start_angle_rad`` from the long axis (0 puts clicks on both bar ends).
    """
    m, k_max = len(half_length), int(n_vertices.max())
    k = np.arange(k_max)[None, :]
    theta = start_angle_rad[:, None] + 2.0 * np.pi * k / n_vertices[:, None]
    c, s = np.cos(theta), np.sin(theta)
    power = 2.0 / squareness[:, None]
    unit_u = np.sign(c) * np.abs(c) ** power
    unit_v = np.sign(s) * np.abs(s) ** power
    corners_u = np.resize(np.array([1.0, -1.0, -1.0, 1.0]), k_max)[None, :]
    corners_v = np.resize(np.array([1.0, 1.0, -1.0, -1.0]), k_max)[None, :]
    unit_u = np.where(rectangle[:, None], corners_u, unit_u)
    unit_v = np.where(rectangle[:, None], corners_v, unit_v)
    u = unit_u * half_length[:, None]
    v = unit_v * half_width[:, None]
    ca, sa = np.cos(angle_rad)[:, None], np.sin(angle_rad)[:, None]
    x = centre_xy[:, 0:1] + u * ca - v * sa
    y = centre_xy[:, 1:2] + u * sa + v * ca
    xy = np.stack([x, y], axis=-1) + rng.normal(0.0, 1.0, (m, k_max, 2)) * jitter_px[:, None, None]
    return [xy[i, : int(n)] for i, n in enumerate(n_vertices)]


def finish_polygons(
    polygons: list[np.ndarray],
    *,
    jitter_px: np.ndarray,
    bounds: tuple[float, float],
    behaviour: VolunteerBehaviour,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Start each outline at a random vertex, close some sloppily, clip to the image.

    A sloppy close appends a last click just past the first vertex on the far
    side of the first edge, so the closing segment crosses that edge: a small
    twisted lobe, as in many real GZ3D polygons.
    """
    m = len(polygons)
    if m == 0:
        return polygons
    start = rng.random(m)
    sloppy = rng.random(m) < behaviour.sloppy_close_probability
    along = rng.uniform(0.1, 0.35, m)
    outward = rng.uniform(0.5, 1.5, m) * np.maximum(jitter_px, 0.5)
    lower = np.array([-0.5, -0.5])
    upper = np.array(bounds)
    finished = []
    for i, polygon in enumerate(polygons):
        n = len(polygon)
        first = int(start[i] * n)
        # Always a fresh array, so the in-place clipping below touches nothing shared.
        polygon = np.concatenate((polygon[first:], polygon[:first]))
        if sloppy[i] and n >= 3:
            edge = polygon[1] - polygon[0]
            edge_length = np.hypot(*edge)
            if edge_length > 0:
                shifted = np.roll(polygon, -1, axis=0)
                twice_area = np.sum(polygon[:, 0] * shifted[:, 1] - shifted[:, 0] * polygon[:, 1])
                normal = np.sign(twice_area or 1.0) * np.array([edge[1], -edge[0]]) / edge_length
                overshoot = polygon[0] + along[i] * edge + outward[i] * normal
                polygon = np.vstack([polygon, overshoot])
        np.maximum(polygon, lower, out=polygon)
        np.minimum(polygon, upper, out=polygon)
        finished.append(polygon)
    return finished


def image_bounds(truth: GalaxyTruth) -> tuple[float, float]:
    """Largest allowed x and y of a vertex: the outer edge of the last pixel."""
    height, width = truth.shape
    return width - 0.5, height - 0.5
