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
