"""How simulated volunteers behave: :class:`VolunteerBehaviour`, the calibration.

Every probability and scale of the volunteer model is a named field here;
``docs/volunteers.md`` says which value comes from which real GZ3D fact and which is
a judgement.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np


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
