"""``galseg labels``: GZ3D files -> vote-fraction maps (FITS, optional 16-bit PNG).

A thin layer over :func:`galseg.data.maps.write_label_files`. A bad input file
prints ``error: <path>: <reason>`` and the batch goes on; the exit status is 1
if any file failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galseg.cli._args import vote_threshold
from galseg.errors import InputFileError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg labels``."""
    parser = subparsers.add_parser(
        "labels",
        help="GZ3D files -> spiral/bar vote-fraction maps",
        description=(
            "Rasterise the volunteers' spiral-arm and bar polygons of Galaxy Zoo 3D files "
            "into per-pixel vote fractions (each volunteer counted once per pixel). For each "
            "input writes DIR/<name>_votes.fits (extensions SPIRAL_VOTE_FRACTION and "
            "BAR_VOTE_FRACTION, float32, WCS, NVOTERS), where <name> is the input file name "
            "without .fits/.fits.gz. See docs/labels.md."
        ),
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="GZ3D_FILE", help="input files")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument(
        "--png",
        action="store_true",
        help="also write 16-bit PNGs DIR/<name>_spiral.png and DIR/<name>_bar.png",
    )
    parser.add_argument(
        "--thresholds",
        nargs="+",
        type=vote_threshold,
        default=[],
        metavar="N",
        help="add uint8 mask extensions SPIRAL_MASK_TH<N>, BAR_MASK_TH<N> (votes >= N)",
    )
    parser.add_argument(
        "--match",
        type=Path,
        metavar="REF.fits",
        help="resample the maps onto the WCS and shape of this reference FITS image",
    )
    parser.add_argument(
        "--method",
        choices=("adaptive", "exact", "bilinear", "nearest"),
        default="adaptive",
        help="resampling method for --match (default: adaptive, anti-aliased)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``galseg labels``; returns the exit status."""
    from tqdm import tqdm

    from galseg.data.maps import label_stem, read_reference_grid, write_label_files

    match = None
    if args.match is not None:
        try:
            match = read_reference_grid(args.match)
        except InputFileError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"error: {args.out}: cannot create output folder ({error.strerror})", file=sys.stderr)
        return 1

    stems: dict[str, Path] = {}
    n_failed = 0
    for path in tqdm(args.files, desc="galseg labels", unit="file", file=sys.stderr):
        stem = label_stem(path)
        message = None
        if stem in stems:
            message = f"{path}: same output name {stem}_votes.fits as {stems[stem]}; rename one"
        else:
            stems[stem] = path
            try:
                write_label_files(
                    path,
                    args.out,
                    png=args.png,
                    thresholds=args.thresholds,
                    match=match,
                    method=args.method,
                )
            except InputFileError as error:
                message = str(error)
            except OSError as error:
                message = f"{path}: cannot write output in {args.out} ({error})"
        if message is not None:
            n_failed += 1
            tqdm.write(f"error: {message}", file=sys.stderr)
    n_done = len(args.files) - n_failed
    print(
        f"galseg labels: {n_done} of {len(args.files)} files -> {args.out}"
        + (f", {n_failed} failed" if n_failed else ""),
        file=sys.stderr,
    )
    return 1 if n_failed else 0
