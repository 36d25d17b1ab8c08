"""Argument types shared by several subcommands."""

from __future__ import annotations

import argparse


def vote_threshold(text: str) -> int:
    """A vote-count threshold (``--thresholds N``): a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of votes, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"thresholds are at least 1 vote, got {value}")
    return value


def add_morphology_option(parser: argparse.ArgumentParser) -> None:
    """``--morphology``: the detector's second-look spiral/elliptical classifier."""
    parser.add_argument(
        "--morphology", default="default", metavar="MODEL",
        help="spiral/elliptical classifier applied to each detected galaxy: a model file "
             "from `galseg train morphology`, 'default' (shipped) or 'none' (the detector's "
             "own classes) (default: %(default)s)")


def add_detector_settings(parser: argparse.ArgumentParser) -> None:
    """The detector's operating settings (``Detector`` options of the same names), each
    defaulting to the model file's own: ``--score-threshold``, ``--piece-area-ratio``,
    ``--min-box-px``; and ``--scales`` (the passes, default one at 1)."""
    parser.add_argument("--score-threshold", type=float, default=None,
                        help="lowest detection score kept (default: the model's, 0.4)")
    parser.add_argument("--piece-area-ratio", type=float, default=None, metavar="R",
                        help="drop a detection lying mostly inside one R times bigger, as a "
                             "piece of it (default: the model's; inf keeps every piece)")
    parser.add_argument("--min-box-px", type=float, default=None, metavar="PX",
                        help="drop detections whose box's longer side is shorter than PX "
                             "model pixels (0.396\"/px), before their masks are made "
                             "(default: the model's; 0 keeps every size)")
    parser.add_argument("--scales", type=pass_scales, default=None, metavar="F,F",
                        help="passes over each picture at these factors of the model's "
                             "scale, e.g. 1,0.5: the half-size pass adds big galaxies the "
                             "first missed, for 10-50%% more time (default: 1)")


def pass_scales(text: str) -> tuple[float, ...]:
    """``--scales 1,0.5``: the detector's passes, positive factors, the first usually 1."""
    try:
        scales = tuple(float(item) for item in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected factors like 1,0.5, got {text!r}") from None
    if not all(0 < scale < float("inf") for scale in scales):
        raise argparse.ArgumentTypeError(f"scales must be positive numbers, got {text!r}")
    return scales


def detector_settings(args: argparse.Namespace) -> dict[str, object]:
    """``Detector`` keyword arguments from :func:`add_detector_settings`'s options."""
    settings: dict[str, object] = {
        "score_threshold": args.score_threshold, "piece_area_ratio": args.piece_area_ratio,
        "min_box_px": args.min_box_px}
    if args.scales is not None:
        settings["scales"] = args.scales
    return settings


def add_views_option(parser: argparse.ArgumentParser) -> None:
    """``--views N`` and its shorthand ``--tta`` (all 8): test-time flips and rotations
    of the segmenter (``Segmenter(views=...)``; None there means its default)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--views", type=int, choices=(1, 2, 4, 8), default=None, metavar="N",
        help="average the maps over N flips/right-angle rotations of each input: 1 (the "
             "network alone; the default), 2 (and its left-right flip: better arm masks, "
             "about half the speed on a CPU), 4, or 8 (every flip and rotation; bar "
             "lengths get worse)")
    group.add_argument("--tta", dest="views", action="store_const", const=8,
                       help="the same as --views 8")
