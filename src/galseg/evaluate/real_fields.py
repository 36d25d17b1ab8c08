"""Detections on real fields scored against galaxies marked by eye.

The marks (:mod:`galseg.labels.eye_marks`) give each galaxy a centre and a size, not a
mask, so detections are matched by position and size (the rule is
``docs/detection_marks.md``'s):

* a detection can **find** a mark when its centre lies within
  ``max(MIN_MATCH_RADIUS_PX, MATCH_RADIUS_FRACTION * size_px)`` of the marked centre and
  its own size (the longest side of its box) is within a factor
  :data:`SIZE_RATIO_LIMIT` of the marked size (a knot of a big spiral does not find
  the spiral); pairs are made one to one, closest first (relative to the radius);
* **completeness** is the share of galaxy marks (``spiral``, ``elliptical``,
  ``unclear``) found, by marked size: :data:`SIZE_BINS` (15-30 px and >= 30 px);
* **purity** is the share of the detections that found a galaxy mark, among the
  detections that are not *neutral*: a detection that found a ``star`` mark is neutral
  (purity is of galaxies; a star found is neither right nor wrong there), and so is one
  that found nothing when its centre lies
  inside the circle of an ``unclear``, ``star`` or ``small`` mark (``small`` marks, galaxies
  below the marking size, are never found: they only make detections neutral), or when
  it is smaller than
  :data:`MIN_SCORED_DETECTION_PX` (below what was marked); every other one is a false
  positive (pieces of marked galaxies included);
* **class**: of found ``spiral`` and ``elliptical`` marks, the share given their class
  (``p_spiral >= 0.5`` is spiral; a catalogue without ``p_spiral`` has no class).

The same rule scores any catalogue with centres and sizes (the classical baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from astropy.table import Table, vstack

from galseg.labels.eye_marks import GALAXY_MARK_CLASSES, MIN_MARK_SIZE_PX

MIN_MATCH_RADIUS_PX = 3.0
MATCH_RADIUS_FRACTION = 0.3
"""A detection finds a mark within this fraction of the marked size (at least 3 px)."""
SIZE_RATIO_LIMIT = 2.5
"""Detected and marked sizes may differ by at most this factor either way."""
MIN_SCORED_DETECTION_PX = MIN_MARK_SIZE_PX * 2 / 3
"""Unmatched detections smaller than this (box side, px) are below the marking limit."""
SIZE_BINS = {"15-30 px": (MIN_MARK_SIZE_PX, 30.0), ">=30 px": (30.0, np.inf)}
NEUTRAL_MARK_CLASSES = ("unclear", "star", "small")
"""A detection on one of these marks that found nothing is left out of purity."""


def match_marks(xy: np.ndarray, sizes: np.ndarray, marks: Table) -> np.ndarray:
    """Which detection found each mark (module docstring): (M,) index, -1 where none.

    Parameters
    ----------
    xy : (N, 2)
        Detection centres ``x, y``, in the marks' pixels.
    sizes : (N,)
        Detection sizes (px).
    marks : Table
        ``x``, ``y``, ``size_px`` (any classes; stars can be found too).
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    sizes = np.asarray(sizes, float).reshape(-1)
    if len(sizes) != len(xy):
        raise ValueError(f"{len(xy)} centres and {len(sizes)} sizes")
    n, m = len(xy), len(marks)
    out = np.full(m, -1, np.int64)
    if n == 0 or m == 0:
        return out
    mark_xy = np.column_stack([np.asarray(marks["x"], float), np.asarray(marks["y"], float)])
    mark_size = np.asarray(marks["size_px"], float)
    radius = np.maximum(MIN_MATCH_RADIUS_PX, MATCH_RADIUS_FRACTION * mark_size)
    distance = np.hypot(xy[:, None, 0] - mark_xy[None, :, 0], xy[:, None, 1] - mark_xy[None, :, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = sizes[:, None] / mark_size[None, :]
    possible = ((distance <= radius[None, :]) & (ratio <= SIZE_RATIO_LIMIT)
                & (ratio >= 1 / SIZE_RATIO_LIMIT) & np.isfinite(distance))
    d_index, m_index = np.nonzero(possible)
    closeness = distance[d_index, m_index] / radius[m_index]
    used = np.zeros(n, bool)
    for k in np.lexsort((m_index, d_index, closeness)):
        d, t = d_index[k], m_index[k]
        if not used[d] and out[t] < 0:
            used[d], out[t] = True, d
    return out


def inside_mark_circles(xy: np.ndarray, marks: Table) -> np.ndarray:
    """(N,) bool: which points ``x, y`` lie inside some mark's circle (radius half its
    ``size_px``, at least :data:`MIN_MATCH_RADIUS_PX`)."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    if not len(marks):
        return np.zeros(len(xy), bool)
    radius = np.maximum(np.asarray(marks["size_px"], float) / 2, MIN_MATCH_RADIUS_PX)
    distance = np.hypot(xy[:, None, 0] - np.asarray(marks["x"], float)[None],
                        xy[:, None, 1] - np.asarray(marks["y"], float)[None])
    return (distance <= radius[None]).any(axis=1)


@dataclass(frozen=True, eq=False)
class FieldScore:
    """One field's marks and detections after matching.

    Attributes
    ----------
    field : str
    marks : Table
        The field's marks, with ``found`` (bool), ``detection`` (index or -1) and
        ``predicted_class`` added.
    detections : Table
        ``x``, ``y``, ``size_px``, ``p_spiral`` and ``status``: ``match`` (found a galaxy
        mark), ``neutral`` (found a star mark, or on an unclear, star or small mark),
        ``small`` (unmatched, below the marking limit) or
        ``false``.
    """

    field: str
    marks: Table
    detections: Table

    @cached_property
    def summary(self) -> dict[str, Any]:
        return summarize([self])


def score_field(field: str, marks: Table, xy: np.ndarray, sizes: np.ndarray,
                p_spiral: np.ndarray | None = None, *,
                marked_pixel_factor: float = 1.0) -> FieldScore:
    """Score one field's detections (centres ``xy``, sizes, optional ``p_spiral``)
    against its marks (module docstring). All in the same pixels.

    ``marked_pixel_factor``: field pixels per pixel of the picture the marks were made
    on (a field resampled after marking, such as the deep field at 2.345 times its
    size), so "below what was marked" is :data:`MIN_SCORED_DETECTION_PX` of the marked
    picture's pixels."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    sizes = np.asarray(sizes, float).reshape(-1)
    p = (np.full(len(sizes), np.nan) if p_spiral is None
         else np.asarray(p_spiral, float).reshape(-1))
    classes = np.asarray(marks["class"], str)
    findable = classes != "small"
    found = np.full(len(marks), -1, np.int64)
    found[findable] = match_marks(xy, sizes, marks[findable])
    marks = marks.copy()
    marks["found"] = found >= 0
    marks["detection"] = found
    called = np.where(np.isnan(p), "", np.where(p >= 0.5, "spiral", "elliptical"))
    predicted = np.where(found >= 0, called[np.maximum(found, 0)] if len(p) else "", "")
    marks["predicted_class"] = predicted if len(marks) else np.zeros(0, str)
    status = np.full(len(sizes), "false", dtype="<U7")
    galaxy_mark = np.isin(classes, GALAXY_MARK_CLASSES)
    status[found[(found >= 0) & galaxy_mark]] = "match"
    # a found star is neither a galaxy found nor a false one: purity is of galaxies
    status[found[(found >= 0) & ~galaxy_mark]] = "neutral"
    neutral_marks = np.isin(classes, NEUTRAL_MARK_CLASSES)
    status[(status == "false") & inside_mark_circles(xy, marks[neutral_marks])] = "neutral"
    small = sizes < MIN_SCORED_DETECTION_PX * marked_pixel_factor
    status[(status == "false") & small] = "small"
    detections = Table({"x": xy[:, 0], "y": xy[:, 1], "size_px": sizes, "p_spiral": p,
                        "status": status})
    return FieldScore(field, marks, detections)


def _share(hits: np.ndarray) -> dict[str, Any]:
    n = len(hits)
    k = int(np.sum(hits))
    return {"n": n, "found": k, "completeness": k / n if n else np.nan}


def summarize(scores: Sequence[FieldScore]) -> dict[str, Any]:
    """Completeness by marked size, purity and class of several fields together."""
    if not scores:
        raise ValueError("no fields to summarise")
    marks = vstack([s.marks for s in scores], metadata_conflicts="silent")
    detections = vstack([s.detections for s in scores], metadata_conflicts="silent")
    classes = np.asarray(marks["class"], str)
    galaxy = np.isin(classes, GALAXY_MARK_CLASSES)
    size = np.asarray(marks["size_px"], float)
    found = np.asarray(marks["found"], bool)
    out: dict[str, Any] = {"fields": [s.field for s in scores],
                           "completeness": {"all": _share(found[galaxy])}}
    for name, (low, high) in SIZE_BINS.items():
        out["completeness"][name] = _share(found[galaxy & (size >= low) & (size < high)])
    status = np.asarray(detections["status"], str)
    scored = np.isin(status, ("match", "false"))
    n_match, n_scored = int((status == "match").sum()), int(scored.sum())
    out["purity"] = {"n_detections": len(status), "scored": n_scored,
                     "matched": n_match, "false": int((status == "false").sum()),
                     "neutral": int((status == "neutral").sum()),
                     "small": int((status == "small").sum()),
                     "purity": n_match / n_scored if n_scored else np.nan}
    predicted = np.asarray(marks["predicted_class"], str)
    typed = found & np.isin(classes, ("spiral", "elliptical")) & (predicted != "")
    right = predicted == classes
    out["class"] = {"n": int(typed.sum()),
                    "accuracy": float(right[typed].mean()) if typed.any() else np.nan}
    for name in ("spiral", "elliptical"):
        sel = typed & (classes == name)
        out["class"][name] = float(right[sel].mean()) if sel.any() else np.nan
    return out
