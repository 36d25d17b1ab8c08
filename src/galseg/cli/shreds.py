"""``galseg shreds``: a source catalog -> the same catalog with shred probabilities.

A thin layer over :func:`galseg.predict.shred_catalog.clean_catalog`.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from galseg.errors import GalsegError

if TYPE_CHECKING:
    from galseg.predict.shred_catalog import ShredCatalogResult

EXAMPLES = """\
examples:
  galseg shreds sources.fits --out sources_shreds.fits \\
      --images cutouts/ --id-column objID --pattern '{id}_grz.png'
  galseg shreds sources.csv --out sources_shreds.parquet --field field.fits
  galseg shreds xy.csv --out xy_shreds.csv --field frame.png \\
      --x-column x --y-column y --pixscale 0.262
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg shreds``."""
    parser = subparsers.add_parser(
        "shreds",
        help="source catalog -> the same catalog with p_shred, is_shred, shred_flag",
        description=textwrap.fill(
            "Flag shreds (pieces of a larger galaxy that a survey pipeline listed as "
            "separate sources). Reads a FITS, CSV, ECSV or Parquet catalog and writes "
            "the same catalog (every row and column, in order; format from OUT's "
            "suffix, else the input's) with three more columns: p_shred (calibrated "
            "probability, empty where unknown), is_shred (p_shred >= threshold) and "
            "shred_flag ('ok', or why p_shred is empty: missing_cutout, "
            "unreadable_cutout: <reason>, wrong_size, bad_pixels, off_field, edge, "
            "bad_coordinates, missing_id). Cutouts come from one file per row (--images) "
            "or are cut from one image (--field) at each row's RA/Dec or pixel position, "
            "and brought to the model's 128 x 128 pixels at 0.469\"/px. Rows are never "
            "dropped. A killed run resumes when started again (progress is kept in "
            "OUT.galseg-partial.csv). See docs/shreds.md.", width=79,
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("catalog", type=Path, metavar="CATALOG",
                        help="input catalog (.fits, .fits.gz, .csv, .ecsv, .parquet)")
    parser.add_argument("--out", required=True, type=Path, metavar="OUT",
                        help="output catalog; its suffix chooses the format")

    files = parser.add_argument_group("cutout files (one per row)")
    files.add_argument("--images", type=Path, default=None, metavar="DIR",
                       help="folder of cutouts (PNG, JPEG or FITS) centred on each source")
    files.add_argument("--pattern", default="{id}_grz.png",
                       help="file name in DIR; {id} is the --id-column value, other "
                            "{column} fields may be used (default: '{id}_grz.png')")
    files.add_argument("--id-column", default="id", metavar="NAME",
                       help="catalog column that {id} stands for (default: id)")

    field = parser.add_argument_group("one field image")
    field.add_argument("--field", type=Path, default=None, metavar="IMAGE",
                       help="image to cut from: FITS with a celestial WCS, or any image "
                            "with --x-column/--y-column and --pixscale")
    field.add_argument("--ra-column", default="ra", metavar="NAME",
                       help="RA column in degrees (default: ra)")
    field.add_argument("--dec-column", default="dec", metavar="NAME",
                       help="Dec column in degrees (default: dec)")
    field.add_argument("--x-column", default=None, metavar="NAME",
                       help="pixel x (0-based column) instead of RA/Dec")
    field.add_argument("--y-column", default=None, metavar="NAME",
                       help="pixel y (0-based row) instead of RA/Dec")

    images = parser.add_argument_group("image options")
    images.add_argument("--pixscale", type=float, default=None, metavar="ARCSEC",
                        help="pixel scale of the cutouts or field in arcsec/px (default: "
                             "FITS WCS; cutout files without one must be 128 x 128 and are "
                             "taken to be at the model's scale)")
    images.add_argument("--bands", default=None,
                        help="band order of 3-plane FITS cubes, e.g. grz (default: header "
                             "BANDS, else grz)")
    images.add_argument("--bunit", default=None,
                        help="unit of FITS values if the header has no BUNIT, e.g. nanomaggy")

    parser.add_argument("--model", type=Path, default=None,
                        help="model file from `galseg train shreds` (default: shipped)")
    parser.add_argument("--threshold", type=float, default=None, metavar="P",
                        help="is_shred where p_shred >= P (default: the model's)")
    parser.add_argument("--min-coverage", type=float, default=0.75, metavar="F",
                        help="flag rows whose cutout has less than this fraction of valid "
                             "pixels instead of classifying them (default: 0.75)")
    parser.add_argument("--overwrite-columns", action="store_true",
                        help="replace p_shred/is_shred/shred_flag if the catalog has them")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="cutouts per forward pass (256)")
    parser.add_argument("--chunk-size", type=int, default=512,
                        help="rows read, classified and saved at a time (512)")
    parser.add_argument("--workers", type=int, default=4,
                        help="threads reading cutout files (4)")
    parser.add_argument("--calibration", default=None, metavar="NAME",
                        help="which of the model's calibrations turns scores into p_shred: "
                             "'real' (the shipped model's default: fitted on eye-labelled real "
                             "Legacy Surveys sources near nearby galaxies) or 'simulated' "
                             "(galseg's simulated fields)")
    parser.add_argument("--tta", action="store_true",
                        help="average over the 8 flips/right-angle rotations (8x slower)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
    return parser


def _usage_error(args: argparse.Namespace) -> str | None:
    if (args.images is None) == (args.field is None):
        return "give either --images DIR (one cutout file per row) or --field IMAGE, not both"
    if args.images is not None:
        extra = [o for o, v in (("--x-column", args.x_column), ("--y-column", args.y_column))
                 if v is not None]
        if extra:
            return f"{' and '.join(extra)} go with --field, not --images"
        if not args.images.is_dir():
            return f"{args.images}: cutout folder does not exist"
    elif (args.x_column is None) != (args.y_column is None):
        return "give both --x-column and --y-column, or neither (RA/Dec then)"
    elif not args.field.is_file():
        return f"{args.field}: field image does not exist"
    if not args.catalog.is_file():
        return f"{args.catalog}: catalog file does not exist"
    if args.batch_size < 1 or args.chunk_size < 1 or args.workers < 1:
        return "--batch-size, --chunk-size and --workers must be at least 1"
    return None


def _run(args: argparse.Namespace) -> int:
    from galseg.predict.shred_catalog import clean_catalog
    from galseg.predict.shreds import ShredClassifier

    problem = _usage_error(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    def note(text: str) -> None:
        print(text, file=sys.stderr)

    try:
        classifier = ShredClassifier.from_file(args.model, device=args.device,
                                               batch_size=args.batch_size, tta=args.tta,
                                               calibration=args.calibration)
        result = clean_catalog(
            args.catalog, args.out, classifier=classifier, images_dir=args.images,
            pattern=args.pattern, id_column=args.id_column, field=args.field,
            ra_column=args.ra_column, dec_column=args.dec_column, x_column=args.x_column,
            y_column=args.y_column, pixscale_arcsec=args.pixscale, bands=args.bands,
            bunit=args.bunit, threshold=args.threshold, min_coverage=args.min_coverage,
            overwrite_columns=args.overwrite_columns, progress=not args.quiet,
            chunk_size=args.chunk_size, workers=args.workers, log=note,
        )
    except (GalsegError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(result))
    return 0


def summary(result: ShredCatalogResult) -> str:
    """The lines ``galseg shreds`` prints at the end of a run."""
    lines = [f"{result.n_rows} rows -> {result.path} ({result.format})"]
    fraction = (f"{100 * result.shred_fraction:.1f}% of classified"
                if result.n_classified else "none classified")
    lines.append(f"  p_shred for {result.n_classified} rows; {result.n_shreds} flagged as "
                 f"shreds (p_shred >= {result.threshold:g}; {fraction})")
    missing = {k: v for k, v in result.flag_counts.items() if k != "ok"}
    if missing:
        lines.append("  no p_shred: " + ", ".join(f"{k} {v}" for k, v in missing.items()))
    resumed = (f"; {result.n_resumed} rows from an interrupted run"
               if result.n_resumed else "")
    lines.append(f"  {result.elapsed_s:.1f} s, {result.rows_per_s:.0f} cutouts/s{resumed}")
    return "\n".join(lines)
