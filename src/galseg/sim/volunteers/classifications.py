"""Classification assembly: one :class:`VolunteerClassification` per simulated volunteer.

:func:`simulate_classifications` draws the volunteers' traits, their arms, bars, centre
and star clicks, and gives each classification an id and a time stamp as the release's
classifications have.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

from galseg.labels.classification import VolunteerClassification
from galseg.sim.truth import GalaxyTruth
from galseg.sim.volunteers.behaviour import DEFAULT_BEHAVIOUR, VolunteerBehaviour
from galseg.sim.volunteers.drawing import draw_traits, simulate_arms, simulate_bars
from galseg.sim.volunteers.polygons import DiscFrame, detection_probability, image_bounds


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
    frame = DiscFrame.of(truth)
    traits = draw_traits(n, float(truth.disc_radius_px), behaviour, rng)
    spiral_paths: list[list[np.ndarray]] = [[] for _ in range(n)]
    bar_paths: list[list[np.ndarray]] = [[] for _ in range(n)]
    simulate_arms(truth, frame, traits, spiral_paths, behaviour, rng)
    simulate_bars(truth, traits, bar_paths, behaviour, rng)

    bounds = image_bounds(truth)
    centres = _clicks(
        n,
        np.asarray(truth.centre_xy, dtype=float).reshape(1, 2),
        np.array([behaviour.centre_click_probability]),
        behaviour.centre_jitter_px,
        bounds,
        rng,
    )
    star_xy = np.array([s.xy for s in truth.stars], dtype=float).reshape(-1, 2)
    star_p = behaviour.star_click_probability_max * detection_probability(
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
