"""Can a score threshold or a stricter overlap suppression put galseg above the classical
baseline in both completeness and purity? A sweep on simulated fields.

Usage:
    python benchmarks/detector_purity_sweep.py --data runs/det_test [--model MODEL]

The detector runs once per field with a low score threshold (0.05, its own classes; no
second look, which changes spiral against elliptical only), and the classical baseline
(``galseg.evaluate.detector.run_classical``) once. Then, for each score threshold and
each IoU of a class-blind box non-maximum suppression applied after the detector's own
(``torchvision.ops.nms``; 1 = none beyond the detector's), completeness and purity are
scored as ``galseg evaluate detector`` scores them (``match_centroids``, any detection
finding any object, as the classless baseline is), with purity also given without the
detections of sources the truth does not list (``purity_listed``,
``TruthObjects.on_unlisted``; folders written before the ``unlisted`` mask existed give
the plain purity). Rows where galseg is at or above the baseline in completeness and in
purity are starred. Results are recorded in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torchvision.ops import nms

from galseg.data.detection_examples import read_detection_examples
from galseg.evaluate.detection_metrics import TruthObjects, match_centroids, object_category
from galseg.evaluate.detector import _band_flux, _bool_column, run_classical
from galseg.predict.detect import Detector

SCORE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
NMS_IOUS = (0.2, 0.3, 0.4, 1.0)


def _scores(found: np.ndarray, category: np.ndarray, overlap: np.ndarray, n_det: int,
            n_unlisted: int) -> np.ndarray:
    """Counts: found, objects, detections, unlisted detections, galaxies found, galaxies,
    overlapping galaxies found, overlapping galaxies."""
    galaxy = category == "galaxy"
    return np.array([(found >= 0).sum(), len(found), n_det, n_unlisted,
                     (found[galaxy] >= 0).sum(), galaxy.sum(),
                     (found[galaxy & overlap] >= 0).sum(), (galaxy & overlap).sum()])


def _line(label: str, c: np.ndarray, reference: np.ndarray | None = None) -> str:
    completeness, purity = c[0] / c[1], c[0] / c[2]
    listed = c[0] / (c[2] - c[3])
    star = ""
    if reference is not None:
        ref_completeness, ref_listed = reference[0] / reference[1], reference[0] / (
            reference[2] - reference[3])
        star = " *" if completeness >= ref_completeness and listed >= ref_listed else ""
    return (f"| {label} | {completeness:.3f} | {purity:.3f} | {listed:.3f} | "
            f"{c[4] / c[5]:.3f} | {c[6] / c[7]:.3f} |{star}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="simulated detection example folder")
    parser.add_argument("--model", default=None, help="detector model (default: shipped)")
    parser.add_argument("--limit", type=int, default=None, help="first N fields only")
    args = parser.parse_args()

    detector = Detector.from_file(args.model, morphology=None, score_threshold=0.05)
    fields = []
    started = time.perf_counter()
    for k, example in enumerate(read_detection_examples(args.data)):
        if args.limit is not None and k >= args.limit:
            break
        if example.source != "sim" or example.fits_path is None:
            continue
        truth = TruthObjects.from_example(example)
        detections = detector.detect(example.rgb(), pixscale_arcsec=example.pixscale_arcsec,
                                     weight_image=_band_flux(example))
        extraction = run_classical(example.fits_path)
        classical_xy = np.column_stack([np.asarray(extraction.catalog["x"], float),
                                        np.asarray(extraction.catalog["y"], float)])
        fields.append({"truth": truth, "npix": np.asarray(example.objects["npix"], float),
                       "overlap": _bool_column(example.objects, "overlap"),
                       "category": object_category(truth.classes),
                       "boxes": torch.as_tensor(detections.boxes, dtype=torch.float32),
                       "scores": detections.scores, "centroids": detections.centroids,
                       "classical_xy": classical_xy})
    print(f"{len(fields)} fields, detector and baseline in {time.perf_counter() - started:.0f} s")

    def counts(select) -> np.ndarray:
        total = np.zeros(8)
        for field in fields:
            truth, centroids = field["truth"], select(field)
            found = match_centroids(centroids, truth.masks, truth.xy, truth_npix=field["npix"])
            total += _scores(found, field["category"], field["overlap"], len(centroids),
                             int(truth.on_unlisted(centroids).sum()))
        return total

    classical = counts(lambda field: field["classical_xy"])
    print("\n| rule | completeness | purity | purity, listed | galaxies | overlapping "
          "galaxies |\n|---|---|---|---|---|---|")
    print(_line("classical baseline", classical))
    for threshold in SCORE_THRESHOLDS:
        for iou in NMS_IOUS:
            def select(field, threshold=threshold, iou=iou) -> np.ndarray:
                kept = np.flatnonzero(field["scores"] >= threshold)
                if iou < 1 and len(kept):
                    order = nms(field["boxes"][kept],
                                torch.as_tensor(field["scores"][kept], dtype=torch.float32),
                                iou).numpy()
                    kept = kept[order]
                return field["centroids"][kept].reshape(-1, 2)
            label = f"score >= {threshold:g}" + (f", NMS IoU {iou:g}" if iou < 1 else "")
            print(_line(label, counts(select), classical))


if __name__ == "__main__":
    main()
