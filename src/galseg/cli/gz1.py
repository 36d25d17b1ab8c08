"""``galseg gz1-masks``: Galaxy Zoo 1 SDSS cutouts -> detection examples with Otsu masks.

A thin layer over :func:`galseg.data.gz1.write_gz1_examples`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galseg.errors import InputFileError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg gz1-masks``."""
    parser = subparsers.add_parser(
        "gz1-masks",
        help="Galaxy Zoo 1 SDSS cutouts -> detector training/test examples (Otsu masks)",
        description=(
            "Make detection examples from a folder of SDSS cutouts with Galaxy Zoo 1 classes "
            "(SRC/labels.csv with objid and gz1_class, SRC/images/<objid>.jpeg), the way "
            "Farias et al. (2020) did: the central galaxy's mask by an Otsu threshold, class "
            "spiral for GZ1 codes 1, 2, 3 and elliptical for 0 (codes 4 and 5 left out). "
            "Writes DIR/train and DIR/test (split by a hash of the objID) in the detection "
            "example format (docs/detection.md); images are referenced, not copied."),
    )
    parser.add_argument("source", type=Path, metavar="SRC", help="GZ1 SDSS folder")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--test-fraction", type=float, default=0.2,
                        help="share held back for evaluation (default 0.2)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from galseg.data.gz1 import write_gz1_examples

    if not 0 < args.test_fraction < 1:
        print("error: --test-fraction must be between 0 and 1", file=sys.stderr)
        return 2
    try:
        counts = write_gz1_examples(args.source, args.out, test_fraction=args.test_fraction,
                                    limit=args.limit, progress=not args.quiet)
    except (InputFileError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("galseg gz1-masks: " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f" -> {args.out}")
    return 0
