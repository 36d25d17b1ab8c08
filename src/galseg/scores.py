"""Scores of a binary classifier: ROC curve, AUC and its interval, accuracy, completeness,
purity (numpy).

Below training and evaluation alike: the ensembles' out-of-fold scores
(:mod:`galseg.training.ensemble`) and the held-out evaluations (:mod:`galseg.evaluate`)
use the same functions. :mod:`galseg.evaluate.metrics` re-exports them.
"""

from __future__ import annotations

import numpy as np


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]:
    """False and true positive rates at every distinct score threshold.

    Returns ``(fpr, tpr, thresholds)``, from the highest threshold (nothing
    positive: the point (0, 0)) down to the lowest (everything positive: (1, 1)).
    Ties are one step, so the curve does not depend on the order of tied items.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D of one length, got {scores.shape}, "
                         f"{labels.shape}")
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a ROC curve needs both positive and negative items")
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(labels)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    return (np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos], np.r_[np.inf, scores[last_of_tie]])


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids; ties count one half)."""
    fpr, tpr, _ = roc_curve(scores, labels)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def bootstrap_auc_interval(scores: np.ndarray, labels: np.ndarray, *, level: float = 0.95,
                           n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of :func:`roc_auc`: positives and negatives resampled apart
    (so each resample keeps the class counts), percentile interval at ``level``."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    positive, negative = scores[labels], scores[~labels]
    if len(positive) == 0 or len(negative) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    both = np.r_[np.ones(len(positive), bool), np.zeros(len(negative), bool)]
    aucs = [roc_auc(np.r_[rng.choice(positive, len(positive)),
                          rng.choice(negative, len(negative))], both)
            for _ in range(n_resamples)]
    low, high = np.percentile(aucs, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def binary_scores(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Accuracy, completeness (recall of the positive class), purity (its precision), F1,
    and the confusion counts of boolean predictions against boolean truth."""
    predicted = np.asarray(predicted, dtype=bool)
    true = np.asarray(true, dtype=bool)
    tp = int((predicted & true).sum())
    fp = int((predicted & ~true).sum())
    fn = int((~predicted & true).sum())
    tn = int((~predicted & ~true).sum())
    completeness = tp / (tp + fn) if tp + fn else float("nan")
    purity = tp / (tp + fp) if tp + fp else float("nan")
    f1 = (2 * purity * completeness / (purity + completeness)
          if tp else (0.0 if tp + fp + fn else float("nan")))
    return {"accuracy": (tp + tn) / max(len(true), 1), "completeness": completeness,
            "purity": purity, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}
