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
