"""Simulated Galaxy Zoo 3D volunteers: polygons and points drawn on a simulated galaxy.

Given the exact truth of a simulated galaxy (:class:`~galseg.sim.truth.GalaxyTruth`),
:func:`simulate_classifications` returns one
:class:`~galseg.labels.classification.VolunteerClassification` per simulated volunteer,
drawn the way GZ3D volunteers drew on the SDSS colour images: blocky polygons of a
few clicked vertices around the arms and the bar, clicks on the centre and on
foreground stars. Vote-fraction maps made from them have the faults of real GZ3D
maps (Walmsley & Spindler 2023; Rey Deutsch et al. 2023):

- step-edged maps from 1-15 overlapping blocky polygons;
- many galaxies with few or no markers, because volunteers skip faint arms
  (only ~24% of GZ3D galaxies have any spiral pixel marked);
- polygons wider than the arms, arms traced only part-way or missed, adjacent
  arms merged into one broad polygon, the inner disc circled instead of arms;
- bars drawn too wide at about the right length; false bars on unbarred
  (mostly inclined) discs; rare spiral polygons on galaxies without arms;
- occasional self-intersecting polygons from a sloppily closed outline (the
  official GZ3D masks drop those; Walmsley & Spindler keep them).

Every probability and scale is a named field of :class:`VolunteerBehaviour` (the
calibration); ``docs/volunteers.md`` says which value comes from which real GZ3D
fact and which is a judgement. The model is geometric and pure numpy: no image is
rasterised, and one galaxy with 15 volunteers takes about a millisecond.

Conventions are galseg's (see :mod:`galseg.sim.truth`): points are ``(x, y)`` in
pixels with ``x`` the column and ``y`` the row of the image, pixel centres on
integers; polygons are float arrays of shape ``(n, 2)``, implicitly closed, with
every vertex inside ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.

"Contrast" is the simulator's measure of visibility (peak feature surface
brightness over the per-pixel r-band sky noise, after the PSF). Detection
probabilities are logistic functions of the base-10 logarithm of the contrast a
volunteer *sees*: for arms, the contrast reduced for inclined discs and for arms
that are wide compared with the disc (they blend into it).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from galseg.labels.classification import VolunteerClassification
from galseg.sim.truth import ArmTrace, GalaxyTruth

__all__ = [
    "DEFAULT_BEHAVIOUR",
    "VolunteerBehaviour",
    "simulate_classifications",
]


@dataclass(frozen=True)
class VolunteerBehaviour:
    """How simulated GZ3D volunteers behave: the calibration of the volunteer model.

    All lengths called ``*_frac`` are fractions of the disc radius
    (``GalaxyTruth.disc_radius_px``); ``*_px`` are image pixels; ``*_dex`` are
    base-10 logarithmic widths; ``*_sigma`` of a factor is the standard deviation
    of its natural logarithm. Ranges are ``(low, high)`` and drawn uniformly.
    Probabilities are per volunteer and per galaxy unless said otherwise.

    Each volunteer also gets traits drawn once per galaxy: a diligence (shifts
    their detection thresholds by ``diligence_scatter_dex``), a width bias (one
    normal deviate scaling both their arm and bar widths), a vertex budget, a
    vertex jitter and the number of arms they bother to draw.

    Attributes
    ----------
    arm_task_probability : float
        Probability that a volunteer uses the spiral tool at all, even on an
        obvious spiral (some skip every drawing task).
    arm_contrast_at_half : float
        Contrast (peak S/N per pixel) of a galaxy's most visible arm at which a
        volunteer of median diligence who uses the spiral tool draws arms with
        probability one half.
    arm_contrast_softness_dex : float
        Width of that logistic detection curve in log10 contrast.
    diligence_scatter_dex : float
        Per-volunteer scatter (log10) of the arm and bar detection thresholds.
    arm_visibility_axis_ratio_power : float
        Arms of inclined discs look weaker to volunteers: the contrast they
        see is multiplied by ``axis_ratio ** power``.
    arm_blend_radius_in_widths : float
        Arms of discs only a few arm widths in radius blend into the disc: the
        seen contrast is also multiplied by ``x**2 / (x**2 + b**2)`` with ``x``
        the disc radius over the arm's mean width and ``b`` this value.
    arm_miss_probability : float
        A volunteer who draws arms always draws the most visible one; each other
        arm is drawn with probability ``(1 - arm_miss_probability)`` times its
        detection probability relative to the most visible arm's.
    short_arm_length_frac : float
        Arms (armlets) shorter than this fraction of the disc radius are marked
        with probability reduced in proportion to their length.
    extra_arms_drawn_mean : float
        The most arms one volunteer draws is ``1 + Poisson(extra_arms_drawn_mean)``,
        brightest first: lazy volunteers draw one or two arms of a many-armed spiral.
    arm_width_factor_median, arm_width_factor_sigma : float
        Drawn arm width over true arm width: lognormal per volunteer. Median 1.3
        (polygons enclose the arm with a margin), 10-20% of volunteers draw
        narrower than the arm.
    polygon_width_sigma : float
        Extra lognormal scatter of the width factor from one polygon to the next.
    min_half_width_px : float
        Narrowest half-width a volunteer draws (a click cannot follow a ridge
        more closely than this).
    vertex_jitter_frac_range : (float, float)
        Per-volunteer standard deviation of each clicked vertex about where it
        was meant to be, as a fraction of the disc radius.
    vertices_per_arm_range : (int, int)
        Fewest and most vertices of one arm polygon.
    vertex_budget_range : (float, float)
        Per-volunteer typical vertex count for an arm one disc radius long;
        the count grows as the square root of the drawn arm length.
    max_turn_per_click_deg : float
        Largest bend of the arm between two clicks on one side: tightly wound
        arms get more clicks than the budget alone would give.
    arm_start_frac_max : float
        Volunteers start tracing up to this fraction of the arm length beyond
        the arm's inner end.
    arm_end_frac_min : float
        Volunteers who trace an arm to its end stop between this fraction and 1.
    truncate_probability, truncate_probability_faint : float
        Probability of tracing only the inner part of an arm, for a clearly
        visible arm and for an arm at the volunteer's detection limit.
    truncated_end_frac_range : (float, float)
        Where a truncated trace stops, as a fraction of the arm length.
    tip_extension_range : (float, float)
        The outer tip vertex of a pointed arm polygon (odd vertex count) lies
        beyond the last ridge point by this many half-widths.
    merge_adjacent_probability : float
        Probability, per arm a volunteer marks in a galaxy with two or more
        arms, of drawing one broad polygon that also covers the neighbouring arm
        (the neighbour is then not drawn again by that volunteer).
    circle_disc_probability, circle_disc_probability_multiarm : float
        Probability that a volunteer who sees arms circles the inner disc with
        one ellipse instead, for galaxies with fewer / at least
        ``multiarm_min_arms`` arms (flocculent and multi-armed spirals invite it).
    multiarm_min_arms : int
        Arm count from which ``circle_disc_probability_multiarm`` applies.
    circle_disc_radius_frac_range : (float, float)
        Semi-major axis of the circled inner disc.
    circle_disc_vertices_range : (int, int)
        Vertex count of the circled disc.
    false_arm_probability : float
        Probability of drawing one spiral polygon on a galaxy that has no arms
        (rings and dust lanes of lenticulars, shells).
    false_arm_radius_frac_range, false_arm_sweep_deg_range : (float, float)
        Mid radius (disc plane) and azimuthal sweep of such a false arm.
    false_arm_width_frac : float
        Full width of a false arm.
    sloppy_close_probability : float
        Probability, per polygon, that the last click overshoots the first
        vertex, so that the closing segment crosses the first edge
        (self-intersection).
    bar_task_probability : float
        Probability that a volunteer uses the bar tool at all on an obvious bar.
    bar_contrast_at_half, bar_contrast_softness_dex : float
        Logistic bar detection curve, as for arms.
    bar_length_factor_sigma : float
        Drawn bar length over true length is ``Normal(1, sigma)`` per polygon.
    bar_width_factor_median, bar_width_factor_sigma : float
        Drawn bar width over true width: lognormal, correlated with the
        volunteer's arm width bias; median 1.9, central 90% about 1.4-2.6.
    min_bar_half_width_px : float
        Narrowest bar half-width drawn.
    bar_angle_jitter_deg : float
        Standard deviation of the drawn bar angle about the true angle.
    bar_centre_jitter_px : float
        Standard deviation of the drawn bar centre (per coordinate).
    bar_vertex_jitter_scale : float
        Bar vertex jitter relative to the volunteer's arm vertex jitter (bars
        are small and drawn with short mouse moves).
    bar_vertices_range : (int, int)
        Vertex count of a bar polygon.
    bar_rectangle_probability : float
        Probability that a bar polygon is a 4-click rectangle; otherwise it is
        a rounded box of 5 to ``bar_vertices_range[1]`` vertices.
    false_bar_probability_face_on, false_bar_probability_edge_on : float
        Probability of drawing a bar on a galaxy without one, for a round
        (axis ratio 1) and an edge-on (axis ratio 0) disc, linear in between:
        an elongated inner disc or bulge looks like a bar.
    false_bar_half_length_frac_range : (float, float)
        Half-length of a false bar, drawn along the disc major axis.
    false_bar_axis_ratio_range : (float, float)
        Width over length of a false bar polygon.
    false_bar_angle_jitter_deg : float
        Standard deviation of a false bar's angle about the disc major axis.
    centre_click_probability : float
        Probability of clicking the galaxy centre.
    centre_jitter_px : float
        Standard deviation of a centre click (per coordinate).
    star_click_probability_max : float
        Probability of clicking a very bright foreground star.
    star_snr_at_half, star_snr_softness_dex : float
        Logistic star detection curve in log10 peak S/N.
    star_jitter_px : float
        Standard deviation of a star click (per coordinate).
    campaign_start : str
        ISO 8601 date-time of the earliest possible classification time stamp.
    campaign_length_days : float
        Time stamps of a galaxy's first classification fall uniformly in this
        window after ``campaign_start``.
    mean_days_between_classifications : float
        Mean (exponential) gap between two classifications of one galaxy.
    """

    arm_task_probability: float = 0.85
    arm_contrast_at_half: float = 5.0
    arm_contrast_softness_dex: float = 0.15
    arm_visibility_axis_ratio_power: float = 1.0
    arm_blend_radius_in_widths: float = 6.0
    arm_miss_probability: float = 0.1
    short_arm_length_frac: float = 0.5
    extra_arms_drawn_mean: float = 2.5
    diligence_scatter_dex: float = 0.15
    arm_width_factor_median: float = 1.3
    arm_width_factor_sigma: float = 0.3
    polygon_width_sigma: float = 0.1
    min_half_width_px: float = 1.0
    vertex_jitter_frac_range: tuple[float, float] = (0.01, 0.03)
    vertices_per_arm_range: tuple[int, int] = (4, 15)
    vertex_budget_range: tuple[float, float] = (4.0, 10.0)
    max_turn_per_click_deg: float = 70.0
    arm_start_frac_max: float = 0.12
    arm_end_frac_min: float = 0.85
    truncate_probability: float = 0.15
    truncate_probability_faint: float = 0.5
    truncated_end_frac_range: tuple[float, float] = (0.4, 0.8)
    tip_extension_range: tuple[float, float] = (0.0, 1.0)
    merge_adjacent_probability: float = 0.06
    circle_disc_probability: float = 0.03
    circle_disc_probability_multiarm: float = 0.10
    multiarm_min_arms: int = 4
    circle_disc_radius_frac_range: tuple[float, float] = (0.5, 0.95)
    circle_disc_vertices_range: tuple[int, int] = (6, 12)
    false_arm_probability: float = 0.005
    false_arm_radius_frac_range: tuple[float, float] = (0.35, 0.8)
    false_arm_sweep_deg_range: tuple[float, float] = (60.0, 160.0)
    false_arm_width_frac: float = 0.12
    sloppy_close_probability: float = 0.1
    bar_task_probability: float = 0.9
    bar_contrast_at_half: float = 20.0
    bar_contrast_softness_dex: float = 0.15
    bar_length_factor_sigma: float = 0.15
    bar_width_factor_median: float = 1.9
    bar_width_factor_sigma: float = 0.2
    min_bar_half_width_px: float = 1.5
    bar_angle_jitter_deg: float = 4.0
    bar_centre_jitter_px: float = 1.0
    bar_vertex_jitter_scale: float = 0.5
    bar_vertices_range: tuple[int, int] = (4, 8)
    bar_rectangle_probability: float = 0.4
    false_bar_probability_face_on: float = 0.03
    false_bar_probability_edge_on: float = 0.08
    false_bar_half_length_frac_range: tuple[float, float] = (0.1, 0.3)
    false_bar_axis_ratio_range: tuple[float, float] = (0.3, 0.6)
    false_bar_angle_jitter_deg: float = 8.0
    centre_click_probability: float = 0.92
    centre_jitter_px: float = 1.5
    star_click_probability_max: float = 0.85
    star_snr_at_half: float = 15.0
    star_snr_softness_dex: float = 0.3
    star_jitter_px: float = 1.0
    campaign_start: str = "2017-01-01T00:00:00"
    campaign_length_days: float = 540.0
    mean_days_between_classifications: float = 1.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "campaign_start":
                try:
                    _dt.datetime.fromisoformat(value)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"campaign_start must be an ISO 8601 date-time such as "
                        f"'2017-01-01T00:00:00', got {value!r}"
                    ) from None
                continue
            if isinstance(value, tuple):
                _check_range(
                    f.name,
                    value,
                    integer=f.name.endswith("vertices_range") or f.name == "vertices_per_arm_range",
                )
                continue
            if not np.isfinite(value):
                raise ValueError(f"{f.name} must be finite, got {value!r}")
            if f.name.endswith("probability") or "probability_" in f.name:
                if not 0.0 <= value <= 1.0:
                    raise ValueError(
                        f"{f.name} is a probability and must be in [0, 1], got {value}"
                    )
            elif value < 0:
                raise ValueError(f"{f.name} must be non-negative, got {value}")
        for name in (
            "arm_contrast_at_half",
            "bar_contrast_at_half",
            "star_snr_at_half",
            "arm_width_factor_median",
            "bar_width_factor_median",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in (
            "arm_contrast_softness_dex",
            "bar_contrast_softness_dex",
            "star_snr_softness_dex",
            "short_arm_length_frac",
            "max_turn_per_click_deg",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.vertices_per_arm_range[0] < 4:
            raise ValueError(
                f"vertices_per_arm_range must start at 4 or more (two per side), "
                f"got {self.vertices_per_arm_range}"
            )
        if self.bar_vertices_range[0] < 4 or self.circle_disc_vertices_range[0] < 3:
            raise ValueError(
                "bar_vertices_range must start at 4 or more and circle_disc_vertices_range "
                f"at 3 or more, got {self.bar_vertices_range} and "
                f"{self.circle_disc_vertices_range}"
            )
        if not 0.0 <= self.arm_end_frac_min <= 1.0 or not 0.0 <= self.arm_start_frac_max < 1.0:
            raise ValueError(
                "arm_end_frac_min must be in [0, 1] and arm_start_frac_max in [0, 1), "
                f"got {self.arm_end_frac_min} and {self.arm_start_frac_max}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain ``{name: value}`` mapping (ranges as lists), e.g. to write as YAML."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VolunteerBehaviour:
        """Rebuild from :meth:`to_dict` output; missing names keep their defaults.

        Raises
        ------
        ValueError
            If a name is not a field of VolunteerBehaviour, or a value is invalid.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown VolunteerBehaviour parameter(s) {unknown}; known: {sorted(known)}"
            )
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _check_range(name: str, value: tuple, *, integer: bool) -> None:
    if len(value) != 2 or not all(np.isfinite(v) for v in value):
        raise ValueError(f"{name} must be a (low, high) pair of finite numbers, got {value!r}")
    low, high = value
    if low > high or low < 0:
        raise ValueError(f"{name} must satisfy 0 <= low <= high, got {value!r}")
    if integer and not all(float(v).is_integer() for v in value):
        raise ValueError(f"{name} must hold whole numbers of vertices, got {value!r}")


DEFAULT_BEHAVIOUR = VolunteerBehaviour()
"""The calibrated default behaviour (see ``docs/volunteers.md``)."""


# ---------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


def _detection_probability(
    value: np.ndarray | float,
    at_half: float,
    softness_dex: float,
    shift_dex: np.ndarray | float,
) -> np.ndarray:
    """Logistic in log10(value); ``shift_dex`` moves each volunteer's threshold."""
    log_value = np.log10(np.maximum(value, 1e-6))
    return _sigmoid((log_value - np.log10(at_half) - shift_dex) / softness_dex)


@dataclass(frozen=True)
class _DiscFrame:
    """Map between image pixels and the deprojected disc plane (polar, pixels)."""

    centre_x: float
    centre_y: float
    cos_angle: float
    sin_angle: float
    axis_ratio: float

    @classmethod
    def of(cls, truth: GalaxyTruth) -> _DiscFrame:
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
class _ArmGeometry:
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
    def of(cls, arm: ArmTrace) -> _ArmGeometry | None:
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
    geometry: _ArmGeometry,
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


def _arm_polygons(
    geometry: _ArmGeometry,
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


def _arm_polar(geometry: _ArmGeometry, frame: _DiscFrame) -> tuple[np.ndarray, np.ndarray]:
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


def _adjacent_arm(index: int, polar: list[tuple[np.ndarray, np.ndarray] | None]) -> int | None:
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


def _merged_arm_polygons(
    geometry: _ArmGeometry,
    neighbour_polar: tuple[np.ndarray, np.ndarray],
    frame: _DiscFrame,
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


def _box_polygons(
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


def _finish_polygons(
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


# ---------------------------------------------------------------------------
# The volunteers
# ---------------------------------------------------------------------------


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


def _draw_traits(
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


def _simulate_arms(
    truth: GalaxyTruth,
    frame: _DiscFrame,
    traits: _Traits,
    paths: list[list[np.ndarray]],
    behaviour: VolunteerBehaviour,
    rng: np.random.Generator,
) -> None:
    """Append each volunteer's spiral polygons to ``paths`` (one list per volunteer)."""
    n = len(paths)
    radius = truth.disc_radius_px
    geometries = [_ArmGeometry.of(arm) for arm in truth.arms]
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
        -_detection_probability(
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
    visibility = length_weight[None, :] * _detection_probability(
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
                polar = [None if g is None else _arm_polar(g, frame) for g in geometries]
            neighbour = _adjacent_arm(arm_index, polar)
        if neighbour is None:
            merging[:] = False
        normal = ~merging
        polygons: dict[int, np.ndarray] = {}
        if normal.any():
            drawn = _arm_polygons(
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
            drawn = _merged_arm_polygons(
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
        finished = _finish_polygons(
            [polygons[v] for v in drawers],
            jitter_px=traits.jitter_px[drawers],
            bounds=_bounds(truth),
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
    polygons = _box_polygons(
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
    finished = _finish_polygons(
        polygons,
        jitter_px=traits.jitter_px[who],
        bounds=_bounds(truth),
        behaviour=behaviour,
        rng=rng,
    )
    for v, polygon in zip(who.tolist(), finished, strict=True):
        paths[v].append(polygon)


def _simulate_false_arms(
    truth: GalaxyTruth,
    frame: _DiscFrame,
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
        geometry = _ArmGeometry.of(arm)
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
        polygons = _arm_polygons(
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
            _finish_polygons(
                polygons,
                jitter_px=traits.jitter_px[index],
                bounds=_bounds(truth),
                behaviour=behaviour,
                rng=rng,
            )
        )


def _simulate_bars(
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
        visibility = _detection_probability(
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
    polygons = _box_polygons(
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
    finished = _finish_polygons(
        polygons, jitter_px=jitter, bounds=_bounds(truth), behaviour=behaviour, rng=rng
    )
    for v, polygon in zip(who.tolist(), finished, strict=True):
        paths[v].append(polygon)


def _bounds(truth: GalaxyTruth) -> tuple[float, float]:
    """Largest allowed x and y of a vertex: the outer edge of the last pixel."""
    height, width = truth.shape
    return width - 0.5, height - 0.5


def _clicks(
    n: int,
    position_xy: np.ndarray,
    p_click: np.ndarray,
    jitter_px: float,
    bounds: tuple[float, float],
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Per volunteer, the jittered clicks on the points they notice, shape (k, 2)."""
    clicked = rng.random((n, len(position_xy))) < p_click[None, :]
    xy = position_xy[None, :, :] + rng.normal(0.0, jitter_px, (n, len(position_xy), 2))
    xy[..., 0] = np.clip(xy[..., 0], -0.5, bounds[0])
    xy[..., 1] = np.clip(xy[..., 1], -0.5, bounds[1])
    return [xy[v][clicked[v]] for v in range(n)]


def _ids_and_time_stamps(
    n: int, behaviour: VolunteerBehaviour, rng: np.random.Generator
) -> tuple[list[int], list[str]]:
    """Increasing classification ids and ISO 8601 UTC time stamps, in classification order."""
    ids = (rng.integers(10_000_000, 90_000_000) + np.cumsum(rng.integers(1, 5_000, n))).tolist()
    first_day = rng.uniform(0.0, behaviour.campaign_length_days)
    days = first_day + np.cumsum(rng.exponential(behaviour.mean_days_between_classifications, n))
    start = _dt.datetime.fromisoformat(behaviour.campaign_start)
    stamps = [
        (start + _dt.timedelta(seconds=round(float(d) * 86_400.0))).strftime("%Y-%m-%dT%H:%M:%SZ")
        for d in days
    ]
    return ids, stamps


def simulate_classifications(
    truth: GalaxyTruth,
    rng: np.random.Generator,
    *,
    n_volunteers: int = 15,
    behaviour: VolunteerBehaviour = DEFAULT_BEHAVIOUR,
) -> tuple[VolunteerClassification, ...]:
    """Simulate GZ3D volunteers classifying one simulated galaxy.

    Parameters
    ----------
    truth : GalaxyTruth
        The galaxy's exact truth in image pixels (arms, bar, centre, stars,
        disc radius and orientation). Only its geometry and contrasts are used;
        the truth masks are not read.
    rng : numpy.random.Generator
        Source of randomness; the result is a deterministic function of its state.
    n_volunteers : int, optional
        Number of classifications (GZ3D: 15 per galaxy).
    behaviour : VolunteerBehaviour, optional
        Calibration of the volunteers (default :data:`DEFAULT_BEHAVIOUR`).

    Returns
    -------
    tuple of VolunteerClassification
        One per volunteer, in time order, with unique increasing
        ``classification_id`` and ISO 8601 ``time_stamp`` (UTC, ``...Z``).
        Spiral and bar polygons are float arrays of shape ``(n, 2)`` holding
        ``(x, y)`` pixel vertices within ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``;
        ``center_points`` has shape ``(0, 2)`` or ``(1, 2)``, ``star_points``
        shape ``(k, 2)``.

    Raises
    ------
    TypeError
        If ``rng`` is not a numpy Generator or ``behaviour`` not a VolunteerBehaviour.
    ValueError
        If ``n_volunteers`` is not a positive integer, or the truth's disc
        radius is not positive and finite.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.sim.truth import BarTrace, GalaxyTruth
    >>> empty = np.zeros((64, 64), dtype=bool)
    >>> bar = BarTrace((32.0, 32.0), 10.0, 3.0, 30.0, contrast=100.0)
    >>> truth = GalaxyTruth(empty, empty, (), bar, (32.0, 32.0), 25.0, 0.8, 30.0)
    >>> votes = simulate_classifications(truth, np.random.default_rng(0))
    >>> len(votes), sum(v.marked_bar for v in votes) > 10
    (15, True)
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    if not isinstance(behaviour, VolunteerBehaviour):
        raise TypeError(f"behaviour must be a VolunteerBehaviour, got {type(behaviour).__name__}")
    if (
        isinstance(n_volunteers, bool)
        or not isinstance(n_volunteers, int | np.integer)
        or n_volunteers < 1
    ):
        raise ValueError(f"n_volunteers must be a positive integer, got {n_volunteers!r}")
    if not (np.isfinite(truth.disc_radius_px) and truth.disc_radius_px > 0):
        raise ValueError(
            f"truth.disc_radius_px must be positive and finite, got {truth.disc_radius_px!r}"
        )
    n = int(n_volunteers)
    frame = _DiscFrame.of(truth)
    traits = _draw_traits(n, float(truth.disc_radius_px), behaviour, rng)
    spiral_paths: list[list[np.ndarray]] = [[] for _ in range(n)]
    bar_paths: list[list[np.ndarray]] = [[] for _ in range(n)]
    _simulate_arms(truth, frame, traits, spiral_paths, behaviour, rng)
    _simulate_bars(truth, traits, bar_paths, behaviour, rng)

    bounds = _bounds(truth)
    centres = _clicks(
        n,
        np.asarray(truth.centre_xy, dtype=float).reshape(1, 2),
        np.array([behaviour.centre_click_probability]),
        behaviour.centre_jitter_px,
        bounds,
        rng,
    )
    star_xy = np.array([s.xy for s in truth.stars], dtype=float).reshape(-1, 2)
    star_p = behaviour.star_click_probability_max * _detection_probability(
        np.array([s.peak_snr for s in truth.stars], dtype=float),
        behaviour.star_snr_at_half,
        behaviour.star_snr_softness_dex,
        np.zeros(1),
    )
    stars = _clicks(n, star_xy, star_p, behaviour.star_jitter_px, bounds, rng)
    ids, stamps = _ids_and_time_stamps(n, behaviour, rng)
    return tuple(
        VolunteerClassification(
            classification_id=ids[v],
            time_stamp=stamps[v],
            spiral_paths=tuple(spiral_paths[v]),
            bar_paths=tuple(bar_paths[v]),
            center_points=centres[v],
            star_points=stars[v],
        )
        for v in range(n)
    )
