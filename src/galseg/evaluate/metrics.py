"""Scores of masks, detections, lengths and classes against a reference (numpy).

The building blocks of :func:`galseg.evaluate.evaluate_segmenter`; each works on plain
arrays so it can be checked by hand. Masks are boolean ``(H, W)`` arrays on one pixel grid;
vote thresholds are in votes out of :data:`N_VOLUNTEERS` (15, as in GZ3D). The constants
and the two naming helpers at the end define the thresholds and columns of the evaluation.
The binary classifier's scores (:func:`roc_curve`, :func:`roc_auc`, :func:`binary_scores`)
live in :mod:`galseg.scores`, below training, and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from galseg.measure.bar import VOTE_LEVEL_TOLERANCE, parse_threshold, threshold_level
from galseg.predict.segment import N_VOLUNTEERS
from galseg.scores import binary_scores as binary_scores
from galseg.scores import bootstrap_auc_interval as bootstrap_auc_interval
from galseg.scores import roc_auc as roc_auc
from galseg.scores import roc_curve as roc_curve

CONSENSUS_VOTES = tuple(range(1, N_VOLUNTEERS + 1))
"""Thresholds (votes of 15) of the consensus IoU curves: every distinct consensus mask."""
MODEL_VOTES = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, *CONSENSUS_VOTES)
"""Thresholds (votes of 15) of the model's IoU curves. The model's fractions are continuous
and, trained with an L1 loss, predict the median vote: low where volunteers scatter. Its
best mask can lie below one vote, so the grid goes down to 0.05 votes (0.3%)."""
PEAK_FRACTIONS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
"""Per-map rules of the IoU curves: the mask ``fraction >= F * peak`` of each map, F of these.
A fraction of a map's own peak follows a feature's extent whether the crowd (or the model)
agrees strongly on it or weakly; ``galseg.measure`` masks arms this way."""
PEAK_POWER_FRACTIONS = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5)
"""F of the rules ``fraction >= F * peak**G`` with G > 1 (:data:`PEAK_EXPONENTS`)."""
PEAK_EXPONENTS = (1.5, 2.0, 2.5)
"""G > 1 of the per-map rules ``fraction >= F * peak**G`` (``galseg.measure``'s
``'peakF^G'``). G = 1 is the plain fraction of the peak; a larger G cuts a map whose peak
is high (a feature the crowd, or the model, agrees on) at a larger fraction of that peak
and a faint map at a smaller one."""


def peak_family(exponent: float) -> str:
    """The rule family of ``F * peak**exponent``: ``'peak'`` for 1, else ``'peak^G'``."""
    return "peak" if exponent == 1.0 else f"peak^{exponent:g}"


RULE_FAMILIES = ("votes", "peak", *(peak_family(g) for g in PEAK_EXPONENTS))
"""Kinds of mask rule a threshold is chosen from: fixed votes of 15 (``'votes'``), fractions
F of the peak (``'peak'``) and ``F * peak**G`` (``'peak^G'``)."""
BASIC_RULE_FAMILIES = ("votes", "peak")
"""Fixed votes and plain fractions of the peak (the rules before ``'peak^G'``)."""
REPORTED_MAX_VOTES = 8
"""The IoU-by-threshold table shows thresholds up to this many votes."""
REY_DEUTSCH_VOTES = tuple(range(1, 7))
"""Thresholds th of Rey Deutsch et al. (2023)."""
MAJORITY_VOTES = 8
"""Majority consensus: at least 8 of 15 volunteers."""
FEATURES = ("spiral", "bar")
COMPARISONS = ("model_vs_volunteers", "model_vs_truth", "volunteers_vs_truth")
"""Mask pairs of the Rey Deutsch et al. (2023) table: (mask, reference)."""
SCORES = ("accuracy", "precision", "jaccard")
VOTE_TOLERANCE = 1e-4
"""A float32 fraction k/15 times 15 may fall a few ulp short of k; this lets it through."""


def iou(mask: np.ndarray, reference: np.ndarray) -> float:
    """Intersection over union of two boolean masks; NaN when both are empty."""
    union = np.count_nonzero(mask | reference)
    return np.count_nonzero(mask & reference) / union if union else np.nan


def iou_curve(votes: np.ndarray, truth: np.ndarray,
              thresholds: Sequence[float] = CONSENSUS_VOTES) -> np.ndarray:
    """IoU of ``votes >= k`` with ``truth`` for each k of ``thresholds`` (votes out of 15).

    Parameters
    ----------
    votes : ndarray, shape (H, W)
        Vote fraction times 15 (model or volunteers).
    truth : ndarray of bool, shape (H, W)

    Returns
    -------
    ndarray, shape (len(thresholds),), float64
    """
    return np.array([iou(votes >= k - VOTE_TOLERANCE, truth) for k in thresholds])


def peak_iou_curve(fraction: np.ndarray, truth: np.ndarray,
                   fractions: Sequence[float] = PEAK_FRACTIONS,
                   exponent: float = 1.0) -> np.ndarray:
    """IoU of ``fraction >= F * fraction.max()**exponent`` (and > 0) with ``truth`` for
    each F.

    An all-zero map gives empty masks.

    Examples
    --------
    >>> fraction = np.array([[0.0, 0.1, 0.4]])
    >>> peak_iou_curve(fraction, np.array([[False, True, True]]), (0.2, 0.5))
    array([1. , 0.5])
    >>> peak_iou_curve(fraction, np.array([[False, True, True]]), (0.5, 1.0), exponent=2.0)
    array([1. , 0.5])
    """
    # the level of galseg.measure's 'peakF^G' rule, so evaluation and measurement agree
    levels = [threshold_level(fraction, peak_rule(f, exponent)) for f in fractions]
    return np.array([iou((fraction >= level - VOTE_LEVEL_TOLERANCE) & (fraction > 0), truth)
                     for level in levels])


def family_exponent(family: str) -> float | None:
    """G of a rule family: 1 for ``'peak'``, G for ``'peak^G'``, None for ``'votes'``."""
    if family == "votes":
        return None
    return float(family.partition("^")[2] or 1.0)


def peak_rule(fraction: float, exponent: float = 1.0) -> str:
    """``galseg.measure``'s rule text: ``'peak0.15'``, or ``'peak0.3^1.5'`` for G != 1."""
    return f"peak{fraction:g}" + ("" if exponent == 1.0 else f"^{exponent:g}")


def rule_label(family: str, value: float | None) -> str | None:
    """A chosen mask rule as text: ``'0.2 votes'``, ``'peak0.15'`` or ``'peak0.3^1.5'``
    (None stays None)."""
    if value is None:
        return None
    exponent = family_exponent(family)
    return f"{value:g} votes" if exponent is None else peak_rule(value, exponent)


def rule_in_grid(rule: float | str) -> tuple[str, float] | None:
    """``galseg.measure``'s mask rule as the (family, threshold) of an IoU column, or None
    when the evaluation's grids do not hold it.

    Examples
    --------
    >>> rule_in_grid("peak0.5^2")
    ('peak^2', 0.5)
    >>> rule_in_grid(0.2)  # a vote fraction: 3 votes of 15
    ('votes', 3.0)
    >>> rule_in_grid("median-nonzero") is None
    True
    """
    parsed = parse_threshold(rule)
    if parsed.kind == "absolute":
        family, threshold = "votes", round(parsed.value * N_VOLUNTEERS, 6)
    elif parsed.kind == "peak":
        family, threshold = peak_family(parsed.exponent), parsed.value
    else:
        return None
    if family not in RULE_FAMILIES:
        return None
    # the thresholds of the model's IoU column of this family (the same for every feature)
    grid = column_votes(iou_column("spiral", "model", family))
    return (family, threshold) if threshold in grid else None


def pixel_scores(mask: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """Pixel accuracy, precision and Jaccard index of ``mask`` against ``reference``.

    Precision is NaN when ``mask`` is empty; the Jaccard index when both are.

    Examples
    --------
    >>> mask = np.array([[True, True], [False, False]])
    >>> reference = np.array([[True, False], [False, False]])
    >>> pixel_scores(mask, reference)
    (0.75, 0.5, 0.5)
    """
    true_pos = np.count_nonzero(mask & reference)
    false_pos = np.count_nonzero(mask & ~reference)
    false_neg = np.count_nonzero(~mask & reference)
    accuracy = 1.0 - (false_pos + false_neg) / mask.size
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else np.nan
    union = true_pos + false_pos + false_neg
    return float(accuracy), float(precision), float(true_pos / union if union else np.nan)


def detection_scores(detected: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Completeness (recall), purity (precision) and accuracy of a yes/no classification."""
    detected, true = np.asarray(detected, bool), np.asarray(true, bool)
    true_pos = int(np.count_nonzero(detected & true))
    n_true, n_detected = int(true.sum()), int(detected.sum())
    return {"n": int(true.size), "n_true": n_true, "n_detected": n_detected,
            "completeness": true_pos / n_true if n_true else np.nan,
            "purity": true_pos / n_detected if n_detected else np.nan,
            "accuracy": float(np.mean(detected == true)) if true.size else np.nan}


def angle_difference_deg(angle_deg: np.ndarray, reference_deg: np.ndarray) -> np.ndarray:
    """Absolute difference of axis angles (period 180 degrees), in [0, 90]."""
    return np.abs((np.asarray(angle_deg) - reference_deg + 90.0) % 180.0 - 90.0)


def length_agreement(measured: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Pearson r, median absolute fractional error and mean absolute error of lengths."""
    measured, true = np.asarray(measured, float), np.asarray(true, float)
    r = (float(np.corrcoef(measured, true)[0, 1])
         if len(true) >= 2 and np.ptp(true) > 0 and np.ptp(measured) > 0 else np.nan)
    return {"n": len(true), "pearson_r": r,
            "median_abs_fractional_error": median_or_nan(np.abs(measured / true - 1.0)),
            "mean_abs_error_px": mean_or_nan(np.abs(measured - true))}


def best_threshold(curves: np.ndarray, thresholds: Sequence[float]) -> float | None:
    """The threshold whose mean IoU over the rows of ``curves`` (N, K) is highest (the lowest
    such threshold on ties); None without rows."""
    if len(curves) == 0:
        return None
    return thresholds[int(np.argmax(np.mean(curves, axis=0)))]


def mean_or_nan(values: np.ndarray) -> float:
    """The mean of ``values``, NaN (without a warning) when there are none."""
    values = np.asarray(values, float)
    return float(values.mean()) if values.size else np.nan


def median_or_nan(values: np.ndarray) -> float:
    """The median of ``values``, NaN (without a warning) when there are none."""
    values = np.asarray(values, float)
    return float(np.median(values)) if values.size else np.nan


def std_or_nan(values: np.ndarray) -> float:
    """The std of ``values``, NaN (without a warning) when there are none."""
    values = np.asarray(values, float)
    return float(values.std()) if values.size else np.nan


def fraction_with_error(flags: np.ndarray) -> tuple[float, float]:
    """Fraction of True and its binomial standard error."""
    n = len(flags)
    if n == 0:
        return np.nan, np.nan
    p = float(np.mean(flags))
    return p, float(np.sqrt(p * (1 - p) / n))


def iou_column(feature: str, source: str, family: str = "votes") -> str:
    """Per-galaxy table column of ``source``'s ('model' or 'consensus') IoU curve:
    ``<feature>_iou_<source>``, ``..._peak`` or ``..._peak_pow<G>``."""
    exponent = family_exponent(family)
    suffix = ("" if exponent is None else "_peak" if exponent == 1.0
              else f"_peak_pow{exponent:g}")
    return f"{feature}_iou_{source}{suffix}"


def column_votes(name: str) -> tuple[float, ...]:
    """Thresholds of a 2-D column of the per-galaxy table, by its name (votes of 15, or
    the fractions F of the peak for ``*_peak`` and ``*_peak_pow<G>`` columns)."""
    if name.endswith("_peak"):
        return PEAK_FRACTIONS
    if "_peak_pow" in name:
        return PEAK_POWER_FRACTIONS
    if name.endswith("_iou_model"):
        return MODEL_VOTES
    if name.endswith("_iou_consensus"):
        return CONSENSUS_VOTES
    return REY_DEUTSCH_VOTES


def presence_column(feature: str) -> str:
    """Catalog column saying whether a galaxy has ``feature`` ('spiral' or 'bar')."""
    return "has_spiral_arms" if feature == "spiral" else "has_bar"


def median_absolute_deviation(values: np.ndarray) -> float:
    """Median absolute deviation from the median, ``median(|v - median(v)|)`` (unscaled, as
    Farias et al. 2020 report centroid scatter); NaN (without a warning) when empty."""
    values = np.asarray(values, float)
    return float(np.median(np.abs(values - np.median(values)))) if values.size else np.nan


def confusion_matrix(true: Sequence[str], predicted: Sequence[str], *,
                     true_labels: Sequence[str],
                     predicted_labels: Sequence[str]) -> np.ndarray:
    """Counts of (true, predicted) label pairs.

    Returns
    -------
    ndarray of int64, shape (len(true_labels), len(predicted_labels))
        Row = true label, column = predicted label; pairs with a label outside the lists
        are not counted.

    Examples
    --------
    >>> confusion_matrix(["a", "a", "b"], ["a", "b", "b"], true_labels=["a", "b"],
    ...                  predicted_labels=["a", "b"]).tolist()
    [[1, 1], [0, 1]]
    """
    if len(true) != len(predicted):
        raise ValueError(f"true and predicted must have one length, got {len(true)} and "
                         f"{len(predicted)}")
    rows = {label: i for i, label in enumerate(true_labels)}
    columns = {label: j for j, label in enumerate(predicted_labels)}
    out = np.zeros((len(rows), len(columns)), dtype=np.int64)
    for t, p in zip(true, predicted, strict=True):
        if t in rows and p in columns:
            out[rows[t], columns[p]] += 1
    return out


def class_scores(true: Sequence[str], predicted: Sequence[str],
                 classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """One-vs-rest precision, recall, F1 and support of each class of a multi-class labelling.

    Precision of class c is the fraction of items labelled c that are c (purity), recall the
    fraction of items of class c labelled c (completeness), both from :func:`binary_scores`;
    NaN where undefined.
    """
    true, predicted = np.asarray(true, dtype=str), np.asarray(predicted, dtype=str)
    out = {}
    for label in classes:
        scores = binary_scores(predicted == label, true == label)
        out[label] = {"precision": scores["purity"], "recall": scores["completeness"],
                      "f1": scores["f1"], "support": int((true == label).sum())}
    return out
