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
