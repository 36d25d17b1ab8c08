"""``galseg segment``: images -> spiral-arm and bar maps, overlays and a catalog.

A thin layer over :func:`galseg.predict.run.run_segment`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galseg.cli._args import add_views_option, vote_threshold
from galseg.errors import GalsegError, InputFileError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg segment``."""
    parser = subparsers.add_parser(
        "segment",
        help="images -> spiral-arm and bar vote-fraction maps and a catalog",
        description=(
            "Predict, for every pixel, the fraction of Galaxy Zoo 3D volunteers who would "
            "mark it as spiral arm or bar. Inputs: colour JPEG/PNG, FITS with one band or "
            "three (g, r, z; same asinh stretch as training), files, folders or globs. "
            "Per input writes DIR/<stem>_masks.fits (SPIRAL_VOTE_FRACTION, "
            "BAR_VOTE_FRACTION on the input's grid with its WCS, a MEASUREMENTS row) and "
            "DIR/<stem>_overlay.png; for the run DIR/catalog.csv (one row per input: "
            "has_spiral_arms, has_bar, spiral_area_px, bar_length_px/arcsec/kpc, bar_pa_deg, "
            "n_arms, pitch_angle_deg, arm_winding (cw/acw as Galaxy Zoo 1), ...). "
            "Running again resumes: finished inputs are not recomputed. "
            "See docs/segmentation.md."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files, folders (their images) or glob patterns")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--model", type=Path, default=None,
                        help="model file from `galseg train segmenter` (default: shipped); "
                             "measured with the rules stored in it, if any, else the defaults "
                             "(docs/measurements.md)")
    parser.add_argument("--scale", choices=("frame", "pixscale", "native"), default="frame",
                        help="how inputs are brought to the training scale: 'frame' (default) "
                             "resizes the whole image to the training frame; 'pixscale' "
                             "resamples to the training pixel scale (0.262\"/px); 'native' "
                             "does not resize")
    parser.add_argument("--pixscale", type=float, default=None, metavar="ARCSEC",
                        help="pixel scale in arcsec/px (default: from the FITS WCS; needed "
                             "for arcsec and kpc columns of JPEG/PNG inputs)")
    parser.add_argument("--bands", default=None,
                        help="band order of 3-plane FITS cubes, e.g. grz (default: header "
                             "BANDS, else grz)")
    zgroup = parser.add_mutually_exclusive_group()
    zgroup.add_argument("--redshift", type=float, default=None,
                        help="redshift of every input (for kpc columns)")
    zgroup.add_argument("--catalog", type=Path, default=None, metavar="FILE",
                        help="table with a name column (input stems) and a redshift column")
    parser.add_argument("--name-column", default="name", help="name column of --catalog")
    parser.add_argument("--redshift-column", default=None,
                        help="redshift column of --catalog (default: redshift or z)")
    parser.add_argument("--thresholds", nargs="+", type=vote_threshold, default=[], metavar="N",
                        help="also write binary masks SPIRAL_MASK_TH<N>/BAR_MASK_TH<N> "
                             "where predicted votes (of 15) reach N")
    add_views_option(parser)
    parser.add_argument("--classical-bar", action="store_true",
                        help="also find the bar by isophote ellipse fitting (photutils) and "
                             "add its iso_has_bar, iso_bar_length_*, iso_bar_pa_deg and "
                             "iso_bar_ellipticity columns (about 0.1-0.5 s more an image)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch (32)")
    parser.add_argument("--fits-catalog", action="store_true",
                        help="also write DIR/catalog.fits")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from galseg.data.images import find_images
    from galseg.predict.run import read_redshifts, run_segment
    from galseg.predict.segment import Segmenter

    try:
        inputs = find_images(args.inputs)
        if not inputs:
            raise GalsegError("no image files found in the inputs")
        redshifts = (read_redshifts(args.catalog, name_column=args.name_column,
                                    redshift_column=args.redshift_column)
                     if args.catalog else None)
        segmenter = Segmenter(args.model, scale=args.scale, views=args.views,
                              batch_size=args.batch_size, device=args.device)
    except (GalsegError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    def report(path: Path, reason: str) -> None:
        print(f"error: {path}: {reason}", file=sys.stderr)

    try:
        run = run_segment(inputs, args.out, segmenter=segmenter, redshift=args.redshift,
                          redshifts=redshifts, thresholds=args.thresholds,
                          catalog_fits=args.fits_catalog, pixscale_arcsec=args.pixscale,
                          bands=args.bands, progress=not args.quiet,
                          classical_bar=args.classical_bar, on_error=report)
    except (GalsegError, InputFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_ok = len(inputs) - run.n_failed
    print(f"{n_ok} of {len(inputs)} images segmented ({run.n_reused} reused from an earlier "
          f"run); catalog: {args.out / 'catalog.csv'}")
    return 1 if run.n_failed else 0
