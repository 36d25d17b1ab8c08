"""Scores of a shred classifier on simulated detections or on eye-labelled real sources.

:func:`evaluate_shred_classifier` runs a classifier on every cutout of a shred
catalog (``galseg simulate --shred-fields``; use one made with another seed than
the training set); :func:`evaluate_shred_classifier_real` on the cutouts of one
split of an eye-label file (``eye_labels/legacy_shreds.csv``), beside the survey
pipelines' isophote rule (:mod:`galseg.predict.classical_shreds`). Both return a
:class:`ShredEvaluation`: ROC curve and AUC with a bootstrap interval, accuracy,
completeness (recall: fraction of true shreds flagged) and purity (precision:
fraction of flagged sources that are shreds) at the threshold, the same per truth
kind, and a calibration table (the fraction of shreds among sources with similar
``p_shred``). ``docs/evaluation.md`` explains the numbers.
"""

from __future__ import annotations

import json
import time
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from matplotlib.figure import Figure

from galseg.data._atomic import write_bytes_atomic
from galseg.evaluate.figures import save_figure
from galseg.labels.eye import montage
from galseg.predict.classical_shreds import isophote_shred_rule
from galseg.predict.shreds import ShredClassifier
from galseg.scores import binary_scores, bootstrap_auc_interval, roc_auc, roc_curve
from galseg.training.ensemble import CutoutExamples
from galseg.training.shreds import load_real_shred_examples, load_shred_examples

CALIBRATION_BINS = 10


class ShredEvaluation:
    """Predictions and truth of one evaluation (scores are computed lazily).

    Parameters
    ----------
    table : astropy.table.Table
        One row per detection: ``id``, ``field``, ``kind``, ``true_is_shred`` (truth),
        ``p_shred``.
    threshold : float
        ``p_shred`` at or above which a source is called a shred.
    setup : dict
        Facts about the run (data, model, timing), copied into ``metrics.json``.
    """

    def __init__(self, table: Table, threshold: float, setup: dict[str, Any]) -> None:
        self.table = table
        self.threshold = float(threshold)
        self.setup = setup

    @property
    def truth(self) -> np.ndarray:
        return np.asarray(self.table["true_is_shred"], dtype=bool)

    @property
    def p_shred(self) -> np.ndarray:
        return np.asarray(self.table["p_shred"], dtype=np.float64)

    @cached_property
    def auc(self) -> float:
        """Area under the ROC curve."""
        return roc_auc(self.p_shred, self.truth)

    @cached_property
    def auc_interval(self) -> tuple[float, float]:
        """95% bootstrap interval of the AUC."""
        return bootstrap_auc_interval(self.p_shred, self.truth)

    @cached_property
    def baseline(self) -> dict[str, Any] | None:
        """AUC (with interval) and scores of the classical isophote rule, if it was run
        (the table has ``classical_score``), else None."""
        if "classical_score" not in self.table.colnames:
            return None
        score = np.asarray(self.table["classical_score"], dtype=np.float64)
        low, high = bootstrap_auc_interval(score, self.truth)
        return {"auc": roc_auc(score, self.truth), "auc_low": low, "auc_high": high,
                **binary_scores(score > 0, self.truth)}

    @cached_property
    def roc(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(false positive rate, true positive rate, thresholds)``."""
        return roc_curve(self.p_shred, self.truth)

    @cached_property
    def scores(self) -> dict[str, float]:
        """Accuracy, completeness, purity, F1 and confusion counts at the threshold."""
        return binary_scores(self.p_shred >= self.threshold, self.truth)

    @cached_property
    def by_kind(self) -> dict[str, dict[str, float]]:
        """Per truth kind: number, fraction called shreds, fraction classified right."""
        called = self.p_shred >= self.threshold
        out = {}
        for kind in sorted(set(np.asarray(self.table["kind"]).astype(str))):
            sel = np.asarray(self.table["kind"]).astype(str) == kind
            out[kind] = {"n": int(sel.sum()), "called_shred": float(called[sel].mean()),
                         "correct": float((called[sel] == self.truth[sel]).mean())}
        return out

    @cached_property
    def calibration(self) -> dict[str, Any]:
        """Reliability table in ``p_shred`` bins and the expected calibration error."""
        edges = np.linspace(0, 1, CALIBRATION_BINS + 1)
        index = np.clip(np.digitize(self.p_shred, edges) - 1, 0, CALIBRATION_BINS - 1)
        rows, ece = [], 0.0
        for b in range(CALIBRATION_BINS):
            sel = index == b
            if not sel.any():
                continue
            mean_p, fraction = float(self.p_shred[sel].mean()), float(self.truth[sel].mean())
            ece += sel.mean() * abs(mean_p - fraction)
            rows.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": int(sel.sum()),
                         "mean_p_shred": mean_p, "shred_fraction": fraction})
        brier = float(np.mean((self.p_shred - self.truth) ** 2))
        return {"bins": rows, "expected_calibration_error": float(ece), "brier": brier}

    def metrics(self) -> dict[str, Any]:
        low, high = self.auc_interval
        out = {"setup": self.setup, "n": len(self.table),
               "shred_fraction": float(self.truth.mean()), "threshold": self.threshold,
               "auc": self.auc, "auc_low": low, "auc_high": high, **self.scores,
               "by_kind": self.by_kind, "calibration": self.calibration}
        if self.baseline is not None:
            out["classical_isophote_rule"] = self.baseline
        return out

    def to_markdown(self) -> str:
        s = self.scores
        low, high = self.auc_interval
        lines = [f"{len(self.table)} sources, {self.truth.mean():.1%} shreds; "
                 f"threshold p_shred >= {self.threshold:g}", "",
                 "| method | AUC (95% bootstrap) | accuracy | completeness (recall) | "
                 "purity (precision) | F1 |", "|---|---|---|---|---|---|",
                 f"| galseg | {self.auc:.4f} ({low:.3f}-{high:.3f}) | {s['accuracy']:.4f} | "
                 f"{s['completeness']:.4f} | {s['purity']:.4f} | {s['f1']:.4f} |"]
        if self.baseline is not None:
            b = self.baseline
            lines.append(f"| isophote rule | {b['auc']:.4f} ({b['auc_low']:.3f}-"
                         f"{b['auc_high']:.3f}) | {b['accuracy']:.4f} | {b['completeness']:.4f} "
                         f"| {b['purity']:.4f} | {b['f1']:.4f} |")
        lines += ["",
                 "| truth kind | n | called shred | correct |", "|---|---|---|---|"]
        lines += [f"| {kind} | {v['n']} | {v['called_shred']:.3f} | {v['correct']:.3f} |"
                  for kind, v in self.by_kind.items()]
        cal = self.calibration
        lines += ["", f"Calibration: expected calibration error "
                      f"{cal['expected_calibration_error']:.4f}, Brier score {cal['brier']:.4f}"]
        return "\n".join(lines)

    def write(self, out_dir: str | PathLike[str]) -> list[Path]:
        """Write ``metrics.json`` and ``predictions.csv`` into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        metrics = out_dir / "metrics.json"
        write_bytes_atomic(metrics, (json.dumps(self.metrics(), indent=1) + "\n").encode())
        predictions = out_dir / "predictions.csv"
        self.table.write(predictions, format="ascii.csv", overwrite=True)
        return [metrics, predictions]


def evaluate_shred_classifier(
    data_dir: str | PathLike[str], classifier: ShredClassifier, *,
    threshold: float | None = None, progress: bool = True,
) -> ShredEvaluation:
    """Classify every detection of a simulated shred catalog and score it against truth."""
    examples = load_shred_examples(data_dir, progress=progress)
    return _evaluate_examples(examples, classifier, threshold, False,
                              {"data": str(data_dir)}, group_column="field")


def evaluate_shred_classifier_real(
    labels: str | PathLike[str], images_dir: str | PathLike[str],
    classifier: ShredClassifier, *, split: str = "test", threshold: float | None = None,
    baseline: bool = True, progress: bool = True,
) -> ShredEvaluation:
    """Classify the eye-labelled real cutouts of one split and score them.

    Parameters
    ----------
    labels : path
        Eye-label CSV (``eye_labels/legacy_shreds.csv``; protocol in ``docs/shreds.md``).
    images_dir : path
        Folder with ``<objID>_grz.png`` cutouts.
    classifier : ShredClassifier
    split : str
        ``'test'`` for the honest figures; ``'calibration'`` or ``'train'`` to look.
    threshold : float, optional
        Default: the classifier's.
    baseline : bool
        Also run the survey pipelines' isophote rule on the same cutouts.

    Returns
    -------
    ShredEvaluation
        Rows labelled ``shred`` or ``galaxy`` (``star`` and ``unclear`` are left out);
        the table also keeps the cutouts' ids for :func:`worst_errors_figure`.
    """
    examples = load_real_shred_examples(labels, images_dir, splits=(split,),
                                        progress=progress)
    return _evaluate_examples(examples, classifier, threshold, baseline,
                              {"labels": str(labels), "images": str(images_dir),
                               "split": split}, group_column="sky_group")


def _evaluate_examples(examples: CutoutExamples, classifier: ShredClassifier,
                       threshold: float | None, baseline: bool, setup: dict[str, Any], *,
                       group_column: str) -> ShredEvaluation:
    started = time.perf_counter()
    p_shred = classifier.predict_proba(examples.images)
    elapsed = time.perf_counter() - started
    table = Table({"id": examples.ids, group_column: examples.groups, "kind": examples.kinds,
                   "true_is_shred": examples.labels.astype(np.int8),
                   "p_shred": p_shred.astype(np.float32)})
    if baseline:
        rule = [isophote_shred_rule(image) for image in examples.images]
        table["classical_score"] = np.array([r.score for r in rule], np.float32)
    setup = {**setup, "members": len(classifier.members), "device": str(classifier.device),
             "calibration": classifier.metadata.calibration_name,
             "classify_seconds": round(elapsed, 2),
             "cutouts_per_second": round(len(table) / max(elapsed, 1e-9), 1)}
    return ShredEvaluation(table, classifier.threshold if threshold is None else threshold,
                           setup)


def worst_errors_figure(evaluation: ShredEvaluation, images_dir: str | PathLike[str], *,
                        n: int = 16, pattern: str = "{id}_grz.png") -> np.ndarray:
    """A montage of the worst errors: the ``n`` galaxies with the highest ``p_shred``
    (top rows) and the ``n`` shreds with the lowest (bottom rows), captioned with
    ``p_shred`` and the last digits of the id; ticks mark the catalog position.

    Returns
    -------
    ndarray (H, W, 3) uint8
        The picture (save it with Pillow).
    """
    from PIL import Image

    ids = np.asarray(evaluation.table["id"]).astype(str)
    p = evaluation.p_shred
    truth = evaluation.truth
    galaxies = np.flatnonzero(~truth)[np.argsort(-p[~truth])][:n]
    shreds = np.flatnonzero(truth)[np.argsort(p[truth])][:n]
    chosen = np.r_[galaxies, shreds]
    pictures, captions = [], []
    for k in chosen:
        with Image.open(Path(images_dir) / pattern.format(id=ids[k])) as picture:
            pictures.append(np.asarray(picture.convert("RGB")))
        kind = "galaxy" if not truth[k] else "shred"
        captions.append(f"{kind} p={p[k]:.2f} ..{ids[k][-5:]}")
    marks = [(im.shape[1] // 2, im.shape[0] // 2) for im in pictures]
    return montage(pictures, captions, ncols=8, grid_px=None, mark=marks)


def roc_figure(evaluation: ShredEvaluation, *, label: str = "galseg") -> Figure:
    """ROC curve with the operating point at the threshold marked."""
    figure = Figure(figsize=(4.2, 4.0))
    ax = figure.add_subplot()
    fpr, tpr, _ = evaluation.roc
    ax.plot(fpr, tpr, lw=1.6, label=f"{label} (AUC {evaluation.auc:.4f})")
    if evaluation.baseline is not None:
        bfpr, btpr, _ = roc_curve(np.asarray(evaluation.table["classical_score"], float),
                                  evaluation.truth)
        ax.plot(bfpr, btpr, lw=1.2, color="C2",
                label=f"isophote rule (AUC {evaluation.baseline['auc']:.3f})")
    s = evaluation.scores
    fp_rate = s["fp"] / max(s["fp"] + s["tn"], 1)
    ax.plot([fp_rate], [s["completeness"]], "o", color="C3",
            label=f"p_shred >= {evaluation.threshold:g}")
    ax.plot([0, 1], [0, 1], ":", color="0.6", lw=1)
    ax.set(xlabel="false positive rate (galaxies flagged)",
           ylabel="true positive rate (shreds flagged)", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return figure


def reliability_figure(evaluation: ShredEvaluation) -> Figure:
    """Fraction of true shreds against mean ``p_shred`` in bins (calibration)."""
    figure = Figure(figsize=(4.2, 4.0))
    ax = figure.add_subplot()
    rows = evaluation.calibration["bins"]
    ax.plot([0, 1], [0, 1], ":", color="0.6", lw=1)
    ax.plot([r["mean_p_shred"] for r in rows], [r["shred_fraction"] for r in rows], "o-")
    ax.set(xlabel="mean p_shred in bin", ylabel="fraction that are shreds",
           title=f"ECE {evaluation.calibration['expected_calibration_error']:.3f}",
           xlim=(0, 1), ylim=(0, 1))
    figure.tight_layout()
    return figure


def write_figures(evaluation: ShredEvaluation, out_dir: str | PathLike[str]) -> list[Path]:
    """``roc.png`` and ``reliability.png`` in ``out_dir``."""
    out_dir = Path(out_dir)
    return [save_figure(roc_figure(evaluation), out_dir / "roc.png"),
            save_figure(reliability_figure(evaluation), out_dir / "reliability.png")]
