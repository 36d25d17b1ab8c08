"""``galseg evaluate segmenter|shreds|detector``: score a model against exact truth.

A thin layer over :func:`galseg.evaluate.evaluate_segmenter`,
:mod:`galseg.evaluate.figures`, :mod:`galseg.evaluate.shreds` and
:mod:`galseg.evaluate.detector`; metrics are explained in ``docs/evaluation.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from galseg.cli._args import (
    add_detector_settings,
    add_morphology_option,
    add_views_option,
    detector_settings,
)
from galseg.errors import GalsegError

DEFAULT_OUT = Path("evaluation")
DEFAULT_NOISE_SCALES = (0.0, 12.75, 25.5, 51.0, 76.5)
"""As :data:`galseg.evaluate.detector.DEFAULT_NOISE_SCALES` (not imported: keeps the CLI
start-up light)."""


def _noise_scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of counts, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a noise sigma >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg evaluate`` and its model subcommands."""
    parser = subparsers.add_parser("evaluate", help="score a model against exact truth",
                                   description="Score a galseg model on simulated galaxies.")
    models = parser.add_subparsers(dest="model_kind", metavar="MODEL")
    seg = models.add_parser(
        "segmenter",
        help="the spiral-arm/bar U-Net, on a data set made by `galseg simulate`",
        description=(
            "Run the segmenter on every galaxy of a simulated data set and compare its "
            "vote-fraction maps with the simulated volunteers' and with the exact truth "
            "masks: vote-fraction L1, IoU with truth by threshold, the Rey Deutsch et al. "
            "(2023) accuracy/precision/Jaccard table, model mask vs the volunteers' best "
            "consensus mask (each mask's rule, fixed votes or a level F * peak**G of the map's "
            "peak, G = 1 to 2.5, "
            "chosen on the first half of the galaxies, compared on the rest), detection "
            "completeness/purity, bar length and angle. Writes "
            "OUT/metrics.json, OUT/per_galaxy.csv, OUT/figure_examples.png, "
            "OUT/bar_length.png and OUT/iou_vs_consensus.png and prints the summary as "
            "markdown. See docs/evaluation.md."
        ),
    )
    seg.add_argument("--data", required=True, type=Path, metavar="DIR",
                     help="data set made by `galseg simulate` (catalog.csv, gz3d/, truth/); "
                          "use one the model was not trained on")
    seg.add_argument("--model", type=Path, default=None,
                     help="model file from `galseg train segmenter` (default: shipped)")
    seg.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                     help=f"output folder (default: ./{DEFAULT_OUT})")
    seg.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                     help="evaluate only the first N galaxies (names sorted)")
    add_views_option(seg)
    seg.add_argument("--examples", type=_positive_int, default=6, metavar="N",
                     help="galaxies (rows) in figure_examples.png (default 6)")
    seg.add_argument("--seed", type=int, default=0,
                     help="seed of the random choice of example galaxies")
    seg.add_argument("--batch-size", type=_positive_int, default=64,
                     help="galaxies per batch (default 64)")
    seg.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    seg.add_argument("--quiet", action="store_true", help="no progress bar")
    seg.set_defaults(func=_evaluate_segmenter)

    shreds = models.add_parser(
        "shreds",
        help="the shred classifier, on a simulated shred catalog or on eye-labelled real cutouts",
        description=(
            "Classify every detection of a simulated shred catalog (--data: DIR/catalog.csv "
            "with the truth column true_is_shred, DIR/cutouts/), or the eye-labelled real "
            "cutouts of one split of a label file (--real-labels, --real-images, --split; "
            "beside the survey pipelines' isophote rule), and score it: ROC curve and AUC "
            "with a 95%% bootstrap interval, accuracy, completeness (recall) and purity "
            "(precision) at the threshold, per kind, and calibration. Writes "
            "OUT/metrics.json, OUT/predictions.csv, OUT/roc.png, OUT/reliability.png (and "
            "OUT/worst_errors.png for real labels) and prints the summary as markdown."
        ),
    )
    shreds.add_argument("--data", type=Path, metavar="DIR",
                        help="simulated shred catalog folder; use one the model was not "
                             "trained on")
    shreds.add_argument("--real-labels", type=Path, metavar="CSV",
                        help="eye labels of real cutouts (e.g. eye_labels/legacy_shreds.csv)")
    shreds.add_argument("--real-images", type=Path, metavar="DIR",
                        help="folder of the labelled cutouts, <objID>_grz.png")
    shreds.add_argument("--split", choices=("train", "calibration", "test"), default="test",
                        help="which split of the real labels (default: test)")
    shreds.add_argument("--calibration", default=None,
                        help="which of the model's calibrations: real or simulated "
                             "(default: the model's default)")
    shreds.add_argument("--model", type=Path, default=None,
                        help="model file from `galseg train shreds` (default: shipped)")
    shreds.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default: ./{DEFAULT_OUT})")
    shreds.add_argument("--threshold", type=float, default=None,
                        help="p_shred threshold (default: the model's)")
    shreds.add_argument("--tta", action="store_true",
                        help="average over the 8 flips/right-angle rotations (8x slower)")
    shreds.add_argument("--batch-size", type=_positive_int, default=256,
                        help="cutouts per batch (default 256)")
    shreds.add_argument("--device", default=None,
                        help="cpu or cuda (default: cuda if present)")
    shreds.add_argument("--quiet", action="store_true", help="no progress bar")
    shreds.set_defaults(func=_evaluate_shreds)

    detector = models.add_parser(
        "detector",
        help="the galaxy detector (Mask R-CNN), on detection example folders",
        description=(
            "Run the detector on every image of one or more detection example folders "
            "(Galaxy Zoo 1 cutouts, simulated fields) and score it against their truth: COCO "
            "mAP of the galaxy classes (masks and boxes), classification accuracy and "
            "confusion matrix of matched galaxies, centroid offsets (median and MAD, from "
            "the true centre and from the truth mask's own centroid), completeness and "
            "purity on simulated fields against the classical SExtractor-style baseline "
            "(purity also without detections of sources the truth does not list, such as "
            "galaxies centred off the frame), and a Gaussian noise curve. Writes "
            "OUT/summary.json, OUT/objects.csv, OUT/confusion.png, OUT/centroids.png, "
            "OUT/noise.png and OUT/overlay.png and prints a short report. See "
            "docs/evaluation.md."
        ),
    )
    detector.add_argument("--data", required=True, type=Path, action="append", metavar="DIR",
                          help="detection example folder (examples.csv, objects.csv, masks/); "
                               "repeat for several; use images the model was not trained on")
    detector.add_argument("--model", type=Path, default=None,
                          help="model file from `galseg train detector` (default: shipped)")
    add_morphology_option(detector)
    add_detector_settings(detector)
    detector.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                          help=f"output folder (default: ./{DEFAULT_OUT})")
    detector.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                          help="evaluate only the first N images of each folder")
    detector.add_argument("--noise-scales", type=_noise_scale, nargs="*",
                          default=list(DEFAULT_NOISE_SCALES), metavar="SIGMA",
                          help="Gaussian noise sigmas in 8-bit counts for the noise curve "
                               "(default: 0 12.75 25.5 51 76.5); give none to skip it")
    detector.add_argument("--noise-limit", type=_positive_int, default=None, metavar="N",
                          help="noise curve on the first N evaluated images only")
    detector.add_argument("--no-baseline", action="store_true",
                          help="do not run the classical baseline on simulated fields")
    detector.add_argument("--quiet", action="store_true", help="no progress bar")
    detector.set_defaults(func=_evaluate_detector)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    return parser


def _evaluate_segmenter(args: argparse.Namespace) -> int:
    from galseg.evaluate import evaluate_segmenter
    from galseg.evaluate.figures import (
        bar_length_figure,
        examples_figure,
        iou_figure,
        pick_examples,
        save_figure,
    )
    from galseg.predict.segment import Segmenter

    def evaluate() -> tuple[Any, list[Path]]:
        segmenter = Segmenter(args.model, views=args.views, batch_size=args.batch_size,
                              device=args.device)
        evaluation = evaluate_segmenter(args.data, segmenter, limit=args.limit,
                                        batch_size=args.batch_size, progress=not args.quiet)
        evaluation.setup["model"] = str(args.model) if args.model else "default"
        written = list(evaluation.write(args.out))
        names = pick_examples(evaluation, args.examples, seed=args.seed)
        figures = {"figure_examples.png": examples_figure(args.data, segmenter, names),
                   "bar_length.png": bar_length_figure(evaluation),
                   "iou_vs_consensus.png": iou_figure(evaluation)}
        written += [save_figure(figure, args.out / name) for name, figure in figures.items()]
        return evaluation, written

    return _report(args, evaluate)


def _evaluate_shreds(args: argparse.Namespace) -> int:
    from PIL import Image

    from galseg.evaluate.shreds import (
        evaluate_shred_classifier,
        evaluate_shred_classifier_real,
        worst_errors_figure,
        write_figures,
    )
    from galseg.predict.shreds import ShredClassifier

    real = args.real_labels is not None or args.real_images is not None
    if real and (args.real_labels is None or args.real_images is None):
        raise SystemExit("error: --real-labels and --real-images go together")
    if real == (args.data is not None):
        raise SystemExit("error: give either --data or --real-labels with --real-images")

    def evaluate() -> tuple[Any, list[Path]]:
        classifier = ShredClassifier.from_file(args.model, device=args.device,
                                               batch_size=args.batch_size, tta=args.tta,
                                               calibration=args.calibration)
        if real:
            evaluation = evaluate_shred_classifier_real(
                args.real_labels, args.real_images, classifier, split=args.split,
                threshold=args.threshold, progress=not args.quiet)
        else:
            evaluation = evaluate_shred_classifier(args.data, classifier,
                                                   threshold=args.threshold,
                                                   progress=not args.quiet)
        evaluation.setup["model"] = str(args.model) if args.model else "default"
        written = evaluation.write(args.out) + write_figures(evaluation, args.out)
        if real:
            path = args.out / "worst_errors.png"
            Image.fromarray(worst_errors_figure(evaluation, args.real_images)).save(path)
            written.append(path)
        return evaluation, written

    return _report(args, evaluate)


def _evaluate_detector(args: argparse.Namespace) -> int:
    from galseg.data.detection_examples import read_detection_examples
    from galseg.evaluate.detector import evaluate_detector
    from galseg.evaluate.detector_figures import write_figures
    from galseg.predict.detect import Detector

    def evaluate() -> tuple[Any, list[Path]]:
        try:
            examples = [read_detection_examples(folder) for folder in args.data]
        except FileNotFoundError as exc:  # not an OSError of --out
            raise ValueError(str(exc)) from None
        detector = Detector.from_file(None if args.model is None else str(args.model),
                                      morphology=args.morphology,
                                      **detector_settings(args))
        evaluation = evaluate_detector(detector, examples, limit=args.limit,
                                       progress=not args.quiet, baseline=not args.no_baseline,
                                       noise_scales=args.noise_scales,
                                       noise_limit=args.noise_limit)
        evaluation.setup["model"] = str(args.model) if args.model else "default"
        evaluation.setup["morphology"] = str(args.morphology)
        evaluation.setup["score_threshold"] = detector.score_threshold
        evaluation.setup["piece_area_ratio"] = detector.piece_area_ratio
        if detector.min_box_px is not None:  # absent when off, as in older evaluations
            evaluation.setup["min_box_px"] = detector.min_box_px
        if detector.scales != (1.0,):
            evaluation.setup["scales"] = list(detector.scales)
        evaluation.setup["data"] = [str(folder) for folder in args.data]
        return evaluation, evaluation.write(args.out) + write_figures(evaluation, args.out)

    return _report(args, evaluate)


def _report(args: argparse.Namespace, evaluate: Callable[[], tuple[Any, list[Path]]]) -> int:
    """Run an evaluation; print its markdown summary, or one error line (exit 2)."""
    try:
        evaluation, written = evaluate()
    except (GalsegError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write in {args.out} ({exc})", file=sys.stderr)
        return 2
    print(evaluation.to_markdown())
    print("wrote " + ", ".join(str(path) for path in written), file=sys.stderr)
    return 0
