"""Crowd-label rasterisation: volunteer polygons -> per-pixel vote counts and fractions.

Rules (see ``docs/labels.md``):

* **Pixel centres.** Pixel ``(i, j)`` (row ``i``, column ``j``) has its centre at
  ``(x, y) = (j, i)``, the GZ3D polygon convention. A pixel belongs to a polygon
  when its centre is inside it.
* **Fill rule: nonzero winding.** A centre is inside when the polygon winds
  around it a nonzero number of times. Self-intersecting polygons are kept, and
  a region a volunteer looped around twice is inside (even-odd would cut a hole
  there). matplotlib's ``Path.contains_points`` and ``skimage.draw.polygon`` are
  both even-odd, so the winding number is computed here (scanline, numpy,
  restricted to each polygon's bounding box). ``fill_rule="evenodd"`` is
  available to compare with those tools.
* **Edges.** A centre exactly on an edge is inside on the left/top (smaller x,
  smaller y) edges and outside on the right/bottom ones (half-open rule), so
  polygons that tile the image count every pixel once, and the rectangle with
  integer corners ``(x0, y0)-(x1, y1)`` covers exactly ``(x1 - x0) * (y1 - y0)``
  pixels.
* **One vote per volunteer.** A volunteer's polygons for one feature are
  merged (union) before counting, so overlapping polygons of the same
  volunteer count once per pixel, and a count never exceeds the number of
  volunteers. (The official GZ3D masks, HDUs 3 and 4, instead sum over all
  polygons and drop self-intersecting ones: :func:`polygon_count_map`.)
* **Degenerate polygons** (fewer than 3 finite vertices) enclose nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Literal, Protocol

import numpy as np
from astropy.wcs import WCS

from galseg.labels.classification import VolunteerClassification

FEATURES = ("spiral", "bar")
"""Features volunteers drew polygons for, in the order galseg stores them."""

FillRule = Literal["nonzero", "evenodd"]
_FILL_RULES = ("nonzero", "evenodd")

# Float counts (after resampling) are compared to integer thresholds with this
# slack in votes, so that a constant region of k votes that went through
# interpolation (k * (1 - 1e-16) and the like) still reaches threshold k.
_COUNT_TOLERANCE = 1e-6


def check_shape(shape: Sequence[int], name: str = "shape") -> tuple[int, int]:
    """Validate an image shape ``(height, width)``; ``name`` is the parameter named in errors."""
    try:
        height, width = (int(n) for n in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (height, width), got {shape!r}") from None
    if height < 1 or width < 1:
        raise ValueError(f"{name} must have positive sizes, got {shape!r}")
    return height, width


def _check_fill_rule(fill_rule: str) -> None:
    if fill_rule not in _FILL_RULES:
        raise ValueError(f"fill_rule must be 'nonzero' or 'evenodd', got {fill_rule!r}")


def check_feature(feature: str) -> str:
    """Return ``feature`` if it is one of :data:`FEATURES`, else raise `ValueError`."""
    if feature not in FEATURES:
        raise ValueError(f"feature must be 'spiral' or 'bar', got {feature!r}")
    return feature


def finite_vertices(polygon: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Vertices of ``polygon`` as a float64 ``(n, 2)`` array, non-finite vertices dropped.

    Real GZ3D files hold NaN coordinates; a vertex with a NaN or infinite
    coordinate is removed and the polygon joins its neighbours instead.
    """
    vertices = np.asarray(polygon, dtype=np.float64)
    if vertices.size == 0:
        return np.zeros((0, 2))
    if vertices.ndim != 2 or vertices.shape[1] != 2:
        raise ValueError(
            f"a polygon must be an (n, 2) array of (x, y) vertices, got shape {vertices.shape}"
        )
    keep = np.isfinite(vertices).all(axis=1)
    return vertices if keep.all() else vertices[keep]


def _winding_in_bbox(
    vertices: np.ndarray, shape: tuple[int, int]
) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """Winding number of a closed polygon at every pixel centre of its bounding box.

    Returns ``((row_slice, col_slice), winding)`` with ``winding`` an int array
    over that box, or None when the box misses the image.
    """
    height, width = shape
    xs, ys = vertices[:, 0], vertices[:, 1]
    row0 = max(int(np.ceil(ys.min())), 0)
    row1 = min(int(np.floor(ys.max())) + 1, height)
    col0 = max(int(np.ceil(xs.min())), 0)
    col1 = min(int(np.floor(xs.max())) + 1, width)
    if row0 >= row1 or col0 >= col1:
        return None
    n_rows, n_cols = row1 - row0, col1 - col0

    # Edges i -> i+1, closed by the last -> first edge.
    x_next = np.concatenate((xs[1:], xs[:1]))
    y_next = np.concatenate((ys[1:], ys[:1]))
    y_low, y_high = np.minimum(ys, y_next), np.maximum(ys, y_next)
    # Half-open rule: an edge crosses the centre row y when y_low <= y < y_high,
    # so a vertex on a row is counted once and horizontal edges never.
    first_row = np.clip(np.ceil(y_low), row0, row1).astype(np.int64)
    stop_row = np.clip(np.ceil(y_high), row0, row1).astype(np.int64)
    n_cross = np.maximum(stop_row - first_row, 0)
    total = int(n_cross.sum())
    winding = np.zeros((n_rows, n_cols), dtype=np.int64)
    if total == 0:
        return (slice(row0, row1), slice(col0, col1)), winding
    # One entry per (edge, row) crossing, without a Python loop over edges.
    edge = np.repeat(np.arange(len(xs)), n_cross)
    row = first_row[edge] + (np.arange(total) - np.repeat(np.cumsum(n_cross) - n_cross, n_cross))
    t = (row - ys[edge]) / (y_next[edge] - ys[edge])
    x_cross = xs[edge] + t * (x_next[edge] - xs[edge])
    direction = np.where(y_next[edge] > ys[edge], 1.0, -1.0)
    # A crossing at x_c adds its direction to every centre with x >= x_c (so a
    # centre on a left edge is inside, on a right edge outside); cumulative sum
    # along the row turns the per-column increments into winding numbers.
    # Clip before the integer cast: wild coordinates (1e300) must not overflow.
    start_col = np.clip(np.ceil(x_cross) - col0, 0, n_cols).astype(np.int64)
    flat = (row - row0) * (n_cols + 1) + start_col
    increments = np.bincount(flat, weights=direction, minlength=n_rows * (n_cols + 1))
    increments = increments.reshape(n_rows, n_cols + 1)[:, :n_cols]
    winding = np.rint(np.cumsum(increments, axis=1)).astype(np.int64)
    return (slice(row0, row1), slice(col0, col1)), winding


def _inside(winding: np.ndarray, fill_rule: str) -> np.ndarray:
    return winding != 0 if fill_rule == "nonzero" else (winding % 2) != 0


def _paint_polygons(
    polygons: Iterable[np.ndarray | Sequence[Sequence[float]]],
    out: np.ndarray,
    *,
    fill_rule: str,
    union: bool,
) -> None:
    """Add each polygon's inside to ``out`` (logical or if ``union``, else +1)."""
    shape = out.shape
    for polygon in polygons:
        vertices = finite_vertices(polygon)
        if len(vertices) < 3:
            continue
        result = _winding_in_bbox(vertices, shape)
        if result is None:
            continue
        box, winding = result
        inside = _inside(winding, fill_rule)
        if union:
            out[box] |= inside
        else:
            out[box] += inside


def rasterize_polygons(
    polygons: Iterable[np.ndarray | Sequence[Sequence[float]]],
    shape: Sequence[int],
    *,
    fill_rule: FillRule = "nonzero",
) -> np.ndarray:
    """Union of one volunteer's polygons on a pixel grid.

    Parameters
    ----------
    polygons : iterable of array_like, each shape (n, 2)
        ``(x, y)`` vertices in pixels, x the column and y the row of a pixel
        centre; each polygon is implicitly closed. Non-finite vertices are
        dropped; polygons left with fewer than 3 vertices enclose nothing.
    shape : (int, int)
        ``(height, width)`` of the output.
    fill_rule : {'nonzero', 'evenodd'}, keyword-only
        Which centres a self-intersecting polygon encloses (module docstring).

    Returns
    -------
    ndarray of bool, shape (height, width)
        True where a pixel centre is inside at least one polygon.

    Examples
    --------
    >>> square = [(0, 0), (4, 0), (4, 3), (0, 3)]
    >>> int(rasterize_polygons([square], (10, 10)).sum())  # 4 x 3 centres
    12
    """
    _check_fill_rule(fill_rule)
    out = np.zeros(check_shape(shape), dtype=bool)
    _paint_polygons(polygons, out, fill_rule=fill_rule, union=True)
    return out


def is_self_intersecting(polygon: np.ndarray | Sequence[Sequence[float]]) -> bool:
    """Whether the path a volunteer drew crosses or touches itself.

    This is the rule of the official GZ3D masks (a polygon is dropped unless
    the *open* path of its vertices, as drawn, is a simple line: shapely's
    ``LineString(vertices).is_simple``). The closing edge back to the first
    vertex is not tested, and a path whose last vertex equals its first is a
    closed ring, which is simple. Repeated consecutive vertices are ignored;
    a path that doubles back on itself along a line is not simple.

    Parameters
    ----------
    polygon : array_like, shape (n, 2)
        ``(x, y)`` vertices; non-finite vertices are dropped first.

    Returns
    -------
    bool
    """
    vertices = finite_vertices(polygon)
    if len(vertices) > 1:
        repeated = np.all(vertices[1:] == vertices[:-1], axis=1)
        vertices = vertices[np.concatenate([[True], ~repeated])]
    n_segments = len(vertices) - 1
    if n_segments < 2:
        return False
    start, end = vertices[:-1], vertices[1:]
    direction = end - start

    # Adjacent segments share a vertex; they overlap only if the path turns back
    # on itself (collinear with opposite directions).
    cross_adjacent = direction[:-1, 0] * direction[1:, 1] - direction[:-1, 1] * direction[1:, 0]
    dot_adjacent = np.einsum("ij,ij->i", direction[:-1], direction[1:])
    if np.any((cross_adjacent == 0) & (dot_adjacent < 0)):
        return True
    if n_segments < 3:
        return False

    # Non-adjacent pairs (j >= i + 2) must not share any point. Only pairs whose
    # bounding boxes overlap can (few, for a drawn outline), so the exact tests
    # run on those alone.
    low, high = np.minimum(start, end), np.maximum(start, end)
    candidates = (
        (low[:, None, 0] <= high[None, :, 0])
        & (low[None, :, 0] <= high[:, None, 0])
        & (low[:, None, 1] <= high[None, :, 1])
        & (low[None, :, 1] <= high[:, None, 1])
    )
    candidates = np.triu(candidates, k=2)
    if np.all(vertices[0] == vertices[-1]):
        # The first and last segments of a closed ring meet at the shared end.
        candidates[0, -1] = False
    i, j = np.nonzero(candidates)
    if len(i) == 0:
        return False

    def side(k: np.ndarray, point: np.ndarray) -> np.ndarray:
        # Which side of segment k's line the point lies on: -1, 0 or 1.
        rel = point - start[k]
        return np.sign(direction[k, 0] * rel[:, 1] - direction[k, 1] * rel[:, 0])

    def within_box(k: np.ndarray, point: np.ndarray) -> np.ndarray:
        # For a point on segment k's line: is it on the segment itself?
        return np.all((low[k] <= point) & (point <= high[k]), axis=1)

    a, b, c, d = start[i], end[i], start[j], end[j]
    o1, o2, o3, o4 = side(i, c), side(i, d), side(j, a), side(j, b)
    proper = (o1 * o2 < 0) & (o3 * o4 < 0)
    touching = (
        ((o1 == 0) & within_box(i, c))
        | ((o2 == 0) & within_box(i, d))
        | ((o3 == 0) & within_box(j, a))
        | ((o4 == 0) & within_box(j, b))
    )
    return bool(np.any(proper | touching))


def polygon_count_map(
    polygons: Iterable[np.ndarray | Sequence[Sequence[float]]],
    shape: Sequence[int],
    *,
    drop_self_intersecting: bool = True,
) -> np.ndarray:
    """The official GZ3D spiral/bar mask (HDUs 3 and 4): polygons covering each pixel.

    Every polygon of every volunteer adds 1 to the pixels whose centres it
    encloses; self-intersecting polygons (:func:`is_self_intersecting`) are
    dropped. A volunteer who drew overlapping polygons is counted several times,
    so values can exceed the number of volunteers: use :func:`vote_counts` for
    vote counts.

    For the simple polygons kept here every fill rule agrees, so this matches
    the release's matplotlib-based masks except, possibly, at pixel centres
    lying exactly on an edge.

    Parameters
    ----------
    polygons : iterable of array_like, each shape (n, 2)
        All polygons drawn for one feature, ``(x, y)`` pixel coordinates.
    shape : (int, int)
        ``(height, width)`` of the map.
    drop_self_intersecting : bool, keyword-only
        Drop self-intersecting polygons as the release does (default True).

    Returns
    -------
    ndarray of float64, shape (height, width)
        Polygon counts (float64 as in the release files).
    """
    out = np.zeros(check_shape(shape), dtype=np.int64)
    kept = (p for p in polygons if not (drop_self_intersecting and is_self_intersecting(p)))
    _paint_polygons(kept, out, fill_rule="nonzero", union=False)
    return out.astype(np.float64)


def _paths(classification: VolunteerClassification, feature: str) -> tuple[np.ndarray, ...]:
    return classification.spiral_paths if feature == "spiral" else classification.bar_paths


def vote_counts(
    classifications: Iterable[VolunteerClassification],
    shape: Sequence[int],
    feature: str,
    *,
    fill_rule: FillRule = "nonzero",
) -> np.ndarray:
    """Number of volunteers whose polygons enclose each pixel centre.

    Parameters
    ----------
    classifications : iterable of VolunteerClassification
        One entry per volunteer.
    shape : (int, int)
        ``(height, width)`` of the map.
    feature : {'spiral', 'bar'}
        Which polygons to count.
    fill_rule : {'nonzero', 'evenodd'}, keyword-only
        See the module docstring.

    Returns
    -------
    ndarray of int32, shape (height, width)
        Per-pixel vote counts, between 0 and the number of classifications.
    """
    check_feature(feature)
    _check_fill_rule(fill_rule)
    shape = check_shape(shape)
    counts = np.zeros(shape, dtype=np.int32)
    volunteer = np.zeros(shape, dtype=bool)
    for classification in classifications:
        paths = _paths(classification, feature)
        if not paths:
            continue
        volunteer[:] = False
        _paint_polygons(paths, volunteer, fill_rule=fill_rule, union=True)
        counts += volunteer
    return counts


class VoteMaps:
    """Per-pixel spiral-arm and bar votes of the volunteers who classified one galaxy.

    Small result object: counts are stored, fractions and masks are computed on
    first use. Arrays are read-only.

    Parameters
    ----------
    spiral_count, bar_count : array_like, shape (H, W)
        Votes per pixel: integers for maps made from polygons; floats (the
        expected number of votes) after interpolating resampling; may hold NaN
        outside a resampled footprint.
    n_volunteers : int or mapping, keyword-only
        Number of volunteers who answered each task, the denominator of the
        vote fractions: one int for both features, or ``{'spiral': n1, 'bar': n2}``.
    wcs : astropy.wcs.WCS or None, keyword-only
        Celestial WCS of the pixel grid, if known.
    n_spiral_markers, n_bar_markers : int or None, keyword-only
        Number of volunteers who drew at least one polygon of the feature
        (possibly a degenerate one that encloses no pixel); None if unknown.

    Examples
    --------
    >>> counts = np.array([[0, 1], [2, 3]])
    >>> maps = VoteMaps(counts, np.zeros((2, 2), int), n_volunteers=3)
    >>> maps.spiral_vote_fraction[1, 1]
    np.float32(1.0)
    >>> maps.mask("spiral", 2)
    array([[False, False],
           [ True,  True]])
    """

    def __init__(
        self,
        spiral_count: np.ndarray,
        bar_count: np.ndarray,
        *,
        n_volunteers: int | Mapping[str, int],
        wcs: WCS | None = None,
        n_spiral_markers: int | None = None,
        n_bar_markers: int | None = None,
    ) -> None:
        counts = {}
        for feature, count in zip(FEATURES, (spiral_count, bar_count), strict=True):
            array = np.array(count)
            if array.ndim != 2:
                raise ValueError(
                    f"{feature}_count must be a 2-D (H, W) array, got shape {array.shape}"
                )
            if array.dtype.kind not in "iuf":
                raise ValueError(f"{feature}_count must be numeric, got dtype {array.dtype}")
            array.flags.writeable = False
            counts[feature] = array
        if counts["spiral"].shape != counts["bar"].shape:
            raise ValueError(
                f"spiral_count and bar_count must have the same shape, got "
                f"{counts['spiral'].shape} and {counts['bar'].shape}"
            )
        if isinstance(n_volunteers, Mapping):
            missing = set(FEATURES) - set(n_volunteers)
            if missing:
                raise ValueError(
                    "n_volunteers mapping must have keys 'spiral' and 'bar', "
                    f"missing {sorted(missing)}"
                )
            voters = {feature: n_volunteers[feature] for feature in FEATURES}
        else:
            voters = dict.fromkeys(FEATURES, n_volunteers)
        for feature, n in voters.items():
            if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
                raise ValueError(
                    f"n_volunteers for {feature!r} must be a non-negative integer, got {n!r}"
                )
            voters[feature] = int(n)
        self._counts = counts
        self._voters = voters
        self._markers = {"spiral": n_spiral_markers, "bar": n_bar_markers}
        self._wcs = wcs

    # --- stored data -------------------------------------------------------------
    @property
    def spiral_count(self) -> np.ndarray:
        """Spiral-arm votes per pixel, shape (H, W) (int32 from polygons)."""
        return self._counts["spiral"]

    @property
    def bar_count(self) -> np.ndarray:
        """Bar votes per pixel, shape (H, W) (int32 from polygons)."""
        return self._counts["bar"]

    @property
    def n_spiral_volunteers(self) -> int:
        """Volunteers who answered the spiral task (denominator of the spiral fraction)."""
        return self._voters["spiral"]

    @property
    def n_bar_volunteers(self) -> int:
        """Volunteers who answered the bar task (denominator of the bar fraction)."""
        return self._voters["bar"]

    @property
    def n_volunteers(self) -> int:
        """Volunteers who classified the galaxy: the larger of the two task counts.

        The two are equal for maps made from a list of classifications and for
        files galseg writes; they can differ in release files, where each task
        was a separate Zooniverse workflow.
        """
        return max(self._voters.values())

    @property
    def n_spiral_markers(self) -> int | None:
        """Volunteers who drew at least one spiral polygon (None if unknown)."""
        return self._markers["spiral"]

    @property
    def n_bar_markers(self) -> int | None:
        """Volunteers who drew at least one bar polygon (None if unknown)."""
        return self._markers["bar"]

    @property
    def wcs(self) -> WCS | None:
        """Celestial WCS of the pixel grid, or None."""
        return self._wcs

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the maps."""
        return self._counts["spiral"].shape

    @property
    def counts_are_integer(self) -> bool:
        """True when counts are exact integers (not interpolated)."""
        return all(c.dtype.kind in "iu" for c in self._counts.values())

    # --- per-feature access ------------------------------------------------------
    def count(self, feature: str) -> np.ndarray:
        """Vote counts of ``feature`` ('spiral' or 'bar'), shape (H, W)."""
        return self._counts[check_feature(feature)]

    def n_voters(self, feature: str) -> int:
        """Denominator of ``feature``'s vote fraction (volunteers who answered that task)."""
        return self._voters[check_feature(feature)]

    def n_markers(self, feature: str) -> int | None:
        """Volunteers who drew at least one polygon of ``feature`` (None if unknown)."""
        return self._markers[check_feature(feature)]

    def vote_fraction(self, feature: str) -> np.ndarray:
        """``count / n_voters`` of ``feature`` as float32 in [0, 1]; zeros if nobody voted."""
        if check_feature(feature) == "spiral":
            return self.spiral_vote_fraction
        return self.bar_vote_fraction

    def _fraction(self, feature: str) -> np.ndarray:
        n = self._voters[feature]
        count = self._counts[feature]
        if n == 0:
            fraction = np.where(np.isnan(count), np.nan, 0.0).astype(np.float32)
        else:
            # Divide in float64, then round once to float32: k / n is then the
            # float32 nearest to the exact fraction, and round(f * n) gives k back.
            fraction = (count.astype(np.float64) / n).astype(np.float32)
        fraction.flags.writeable = False
        return fraction

    @cached_property
    def spiral_vote_fraction(self) -> np.ndarray:
        """Fraction of volunteers who marked each pixel as spiral arm, float32 (H, W)."""
        return self._fraction("spiral")

    @cached_property
    def bar_vote_fraction(self) -> np.ndarray:
        """Fraction of volunteers who marked each pixel as bar, float32 (H, W)."""
        return self._fraction("bar")

    def _at_least(self, feature: str, threshold_votes: int) -> np.ndarray:
        count = self._counts[feature]
        if count.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                return count >= threshold_votes - _COUNT_TOLERANCE
        return count >= threshold_votes

    def mask(self, feature: str, threshold_votes: int) -> np.ndarray:
        """Pixels with at least ``threshold_votes`` votes for ``feature``.

        Parameters
        ----------
        feature : {'spiral', 'bar'}
        threshold_votes : int
            Between 1 and the number of volunteers of that task. Thresholds in
            votes (not fractions) follow Rey Deutsch et al. (2023), th = 1..6.

        Returns
        -------
        ndarray of bool, shape (H, W)
        """
        check_feature(feature)
        n = self._voters[feature]
        if isinstance(threshold_votes, bool) or not isinstance(threshold_votes, int | np.integer):
            raise ValueError(
                f"threshold_votes must be an integer number of votes, got {threshold_votes!r}"
            )
        if n == 0:
            raise ValueError(
                f"no volunteer answered the {feature} task (n_{feature}_volunteers=0), so "
                f"threshold_votes={threshold_votes} cannot apply"
            )
        if not 1 <= threshold_votes <= n:
            raise ValueError(
                f"threshold_votes must be between 1 and n_{feature}_volunteers={n}, "
                f"got {threshold_votes}"
            )
        return self._at_least(feature, int(threshold_votes))

    def with_counts(
        self, spiral_count: np.ndarray, bar_count: np.ndarray, *, wcs: WCS | None
    ) -> VoteMaps:
        """A copy with new count arrays and WCS (same volunteers), e.g. after resampling."""
        return VoteMaps(
            spiral_count,
            bar_count,
            n_volunteers=dict(self._voters),
            wcs=wcs,
            n_spiral_markers=self.n_spiral_markers,
            n_bar_markers=self.n_bar_markers,
        )

    def __repr__(self) -> str:
        kind = "integer" if self.counts_are_integer else "interpolated"
        return (
            f"<VoteMaps shape={self.shape} n_spiral_volunteers={self.n_spiral_volunteers} "
            f"n_bar_volunteers={self.n_bar_volunteers} counts={kind} "
            f"wcs={'yes' if self._wcs is not None else 'no'}>"
        )



class ClassifiedSubject(Protocol):
    """What :func:`vote_maps` reads of a subject: a GZ3D file's image grid, its
    volunteers' drawings and how many volunteers saw each task
    (:class:`galseg.data.gz3d.GZ3DSubject` is one; labels sit below the file formats
    and do not import them)."""

    @property
    def image(self) -> np.ndarray: ...

    @property
    def classifications(self) -> Sequence[VolunteerClassification]: ...

    @property
    def wcs(self) -> WCS | None: ...

    @property
    def n_spiral_classifications(self) -> int: ...

    @property
    def n_bar_classifications(self) -> int: ...


def vote_maps(
    source: ClassifiedSubject | Sequence[VolunteerClassification],
    *,
    shape: Sequence[int] | None = None,
    wcs: WCS | None = None,
    fill_rule: FillRule = "nonzero",
) -> VoteMaps:
    """Spiral and bar vote maps of one galaxy.

    Parameters
    ----------
    source : GZ3DSubject or sequence of VolunteerClassification
        A subject read with :func:`galseg.data.gz3d.read_gz3d` (shape, WCS and
        the number of volunteers per task come from it) or the classifications
        themselves, one per volunteer (then every classification counts as a
        volunteer of both tasks).
    shape : (int, int), keyword-only
        ``(height, width)``; required for a sequence, must match a subject's image.
    wcs : astropy.wcs.WCS, keyword-only
        WCS of the grid for a sequence (a subject brings its own).
    fill_rule : {'nonzero', 'evenodd'}, keyword-only
        See the module docstring.

    Returns
    -------
    VoteMaps
    """
    if hasattr(source, "classifications"):
        subject = source
        subject_shape = tuple(subject.image.shape[:2])
        if shape is not None and tuple(check_shape(shape)) != subject_shape:
            raise ValueError(
                f"shape={tuple(shape)} does not match the subject's image {subject_shape}; "
                "leave shape out for a subject"
            )
        classifications = subject.classifications
        shape = subject_shape
        wcs = subject.wcs if wcs is None else wcs
        n_volunteers = {
            "spiral": subject.n_spiral_classifications,
            "bar": subject.n_bar_classifications,
        }
    else:
        if shape is None:
            raise ValueError(
                "shape is required when classifications are given as a sequence; "
                "pass shape=(height, width)"
            )
        classifications = tuple(source)
        for item in classifications:
            if not isinstance(item, VolunteerClassification):
                raise TypeError(
                    "source must be a GZ3DSubject or a sequence of VolunteerClassification, "
                    f"found {type(item).__name__}"
                )
        n_volunteers = len(classifications)
    counts = [
        vote_counts(classifications, shape, feature, fill_rule=fill_rule) for feature in FEATURES
    ]
    return VoteMaps(
        *counts,
        n_volunteers=n_volunteers,
        wcs=wcs,
        n_spiral_markers=sum(c.marked_spiral for c in classifications),
        n_bar_markers=sum(c.marked_bar for c in classifications),
    )
