"""``galseg gz1-masks`` and ``galseg gz1-fields``: Galaxy Zoo 1 SDSS cutouts -> detection
examples, one galaxy a cutout with its Otsu mask, or many pasted into fields of real sky.

A thin layer over :func:`galseg.data.gz1.write_gz1_examples` and
:func:`galseg.data.gz1_fields.write_gz1_field_examples`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galseg.errors import InputFileError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg gz1-masks`` and ``galseg gz1-fields``."""
    _add_fields_parser(subparsers)
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


def _add_fields_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "gz1-fields",
        help="Galaxy Zoo 1 galaxies pasted into fields of real sky -> detector training examples",
        description=(
            "Compose fields of real galaxies for detector training (copy-paste "
            "augmentation): the central galaxies of GZ1 SDSS cutouts (SRC/labels.csv, "
            "SRC/images/<objid>.jpeg), cut out with their Otsu masks, scaled to sizes "
            "drawn log-uniformly in --sizes, turned, and pasted where they do not touch "
            "into sky made from other cutouts of the same split with their sources "
            "removed. Spirals and ellipticals are drawn equally often. Only galaxies and "
            "sky of --split are used (the objID hash split of gz1-masks). Writes a "
            "detection example folder (docs/detection.md) with PNG pictures; running "
            "the same command again resumes."),
    )
    parser.add_argument("source", type=Path, metavar="SRC", help="GZ1 SDSS folder")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--n", type=int, required=True, help="number of fields")
    parser.add_argument("--seed", type=int, default=0, help="field i uses seed [SEED, i]")
    parser.add_argument("--split", choices=("train", "test"), default="train",
                        help="which GZ1 split gives the galaxies and the sky (default train)")
    parser.add_argument("--size", type=int, default=256, help="field side in pixels (default 256)")
    parser.add_argument("--sizes", type=float, nargs=2, default=(10.0, 120.0),
                        metavar=("LOW", "HIGH"),
                        help="galaxy sizes in pixels, longest extent (default 10 120)")
    parser.add_argument("--galaxies", type=int, default=8,
                        help="galaxies tried per field (default 8)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run_fields)
    return parser


def _run_fields(args: argparse.Namespace) -> int:
    from galseg.data.gz1_fields import write_gz1_field_examples

    if args.n < 1 or args.size < 32 or args.galaxies < 1 or not 0 < args.sizes[0] < args.sizes[1]:
        print("error: need --n >= 1, --size >= 32, --galaxies >= 1, 0 < LOW < HIGH",
              file=sys.stderr)
        return 2
    try:
        fields = write_gz1_field_examples(
            args.source, args.out, args.n, seed=args.seed, split=args.split,
            shape=(args.size, args.size), size_range=tuple(args.sizes),
            galaxies_per_field=args.galaxies, progress=not args.quiet)
    except (InputFileError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"galseg gz1-fields: {len(fields)} fields, {len(fields.objects)} galaxies "
          f"-> {args.out}")
    return 0
