"""``galseg detect``: images -> a catalog of galaxies (and stars) with masks and classes.

A thin layer over :func:`galseg.predict.detect_run.run_detect`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from galseg.cli._args import add_detector_settings, add_morphology_option, detector_settings
from galseg.errors import GalsegError, InputFileError


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``galseg detect``."""
    parser = subparsers.add_parser(
        "detect",
        help="images -> every galaxy found, outlined and classified (catalog, segmaps)",
        description=(
            "Find every galaxy in each image, outline it (instance mask) and classify it "
            "spiral or elliptical (or star) with the Mask R-CNN detector (Farias et al. 2020) "
            "and a second, closer look at each galaxy (--morphology). "
            "Inputs: JPEG/PNG and FITS (one band or g, r, z; with a WCS each object gets RA/Dec) "
            "of any size: large fields are cut into overlapping tiles and merged without "
            "duplicates; uncompressed FITS fields of 4096 x 4096 px or more are read "
            "tile by tile, memory-mapped, never whole (bounded memory). Writes "
            "DIR/catalog.csv (one row per object: id, image, x, y, "
            "centroid_x, centroid_y, ra, dec, class, score, p_spiral, area_px, bbox, ...; "
            "0-based pixels of the input), and per input DIR/<stem>_segmap.fits (label map, "
            "WCS kept, OBJECTS table; written strip by strip for big fields) and "
            "DIR/<stem>_overlay.png (at most 4096 px a side for big fields). Running again "
            "resumes. "
            "See docs/detection.md."),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files, folders (their images) or glob patterns")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--model", type=Path, default=None,
                        help="model file from `galseg train detector` (default: shipped)")
    add_morphology_option(parser)
    parser.add_argument("--pixscale", type=float, default=None, metavar="ARCSEC",
                        help="pixel scale in arcsec/px (default: from the FITS WCS); inputs "
                             "with a known scale are resampled to the model's (0.396\"/px), "
                             "others are used at their own pixels")
    parser.add_argument("--bands", default=None,
                        help="band order of 3-plane FITS cubes, e.g. grz (default: header "
                             "BANDS, else grz)")
    add_detector_settings(parser)
    parser.add_argument("--tile-size", type=int, default=512,
                        help="tile side in model pixels for large images (default 512)")
    parser.add_argument("--tile-overlap", type=int, default=128,
                        help="tile overlap in model pixels (default 128)")
    parser.add_argument("--fits-catalog", action="store_true",
                        help="also write DIR/catalog.fits")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from galseg.data.images import check_image_options, find_images
    from galseg.predict.detect import Detector
    from galseg.predict.detect_run import run_detect

    try:
        check_image_options(args.bands, args.pixscale)
        inputs = find_images(args.inputs)
        if not inputs:
            raise GalsegError("no image files found in the inputs")
        detector = Detector.from_file(args.model, morphology=args.morphology,
                                      device=args.device,
                                      **detector_settings(args),
                                      tile_size=args.tile_size, tile_overlap=args.tile_overlap)
    except (GalsegError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def report(path: Path, reason: str) -> None:
        print(f"error: {path}: {reason}", file=sys.stderr)

    try:
        run = run_detect(inputs, args.out, detector=detector, catalog_fits=args.fits_catalog,
                         pixscale_arcsec=args.pixscale, bands=args.bands,
                         progress=not args.quiet, on_error=report)
    except (GalsegError, InputFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n_ok = len(inputs) - run.n_failed
    print(f"{len(run.catalog)} objects in {n_ok} of {len(inputs)} images ({run.n_reused} reused "
          f"from an earlier run); catalog: {args.out / 'catalog.csv'}")
    return 1 if run.n_failed else 0
