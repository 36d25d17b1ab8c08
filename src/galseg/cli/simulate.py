"""``galseg simulate``: simulated galaxies with exact truth.

By default N galaxies in the GZ3D format with volunteer labels (spiral/bar
segmentation); with ``--shred-fields``, N fields around big nearby galaxies
whose catalog detections carry shred / not-shred truth (shred classifier);
with ``--detection-fields``, N SDSS-like fields of several galaxies and stars
with instance masks and classes (galaxy detector).
"""

from __future__ import annotations

import argparse
import sys
import time

# The simulator (astropy, scipy, sep) is imported where it runs, so that `galseg --help`
# does not wait seconds for it; the defaults the help quotes are therefore written here,
# and tests/test_cli_help.py checks them against the simulator's.
GZ3D_PIXSCALE_ARCSEC = 0.262
SHRED_PIXSCALE_ARCSEC = 0.469
SDSS_PIXSCALE_ARCSEC = 0.396
DEFAULT_VOLUNTEERS = 15
DEFAULT_SIZE = 128
DEFAULT_DETECTION_SIZE = 256


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate galaxies with exact truth (GZ3D volunteer labels, shred fields, or "
             "detection fields)",
        description=(
            "Write N simulated galaxies as Galaxy Zoo 3D files (OUT_DIR/gz3d/), their exact "
            "spiral-arm and bar truth masks (OUT_DIR/truth/, FITS extensions SPIRAL_TRUTH and "
            "BAR_TRUTH) and a truth catalog (OUT_DIR/catalog.csv). With --shred-fields, write "
            "N fields around big nearby galaxies instead: a 128 px g-r-z cutout of every "
            "catalog detection near the host (OUT_DIR/cutouts/) and a catalog with its "
            "shred / not-shred truth (OUT_DIR/catalog.csv). With --detection-fields, write N "
            "SDSS-like fields for the galaxy detector (1-8 galaxies and 0-4 stars per 256 x 256 "
            "pixels; larger fields hold proportionally more): colour pictures "
            "(OUT_DIR/images/), g-r-z FITS with WCS (OUT_DIR/fields/), instance masks "
            "(OUT_DIR/masks/), examples.csv and objects.csv (classes spiral, elliptical, "
            "star). The same seed gives the same data; an interrupted run resumes where it "
            "stopped."),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    parser.add_argument("--n", type=int, required=True,
                        help="number of galaxies (of fields with --shred-fields or "
                             "--detection-fields)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--shred-fields", action="store_true",
                      help="simulate N shred fields for the shred classifier "
                           "(docs/simulator.md, 'Shred training fields')")
    kind.add_argument("--detection-fields", action="store_true",
                      help="simulate N multi-galaxy fields with instance masks for the galaxy "
                           "detector (docs/simulator.md, 'Detection fields')")
    parser.add_argument("--size", type=int, default=None,
                        help=f"cutout size in pixels ({DEFAULT_SIZE}; with --shred-fields the "
                             "size of the cutout around each detection; with --detection-fields "
                             f"the side of the field, {DEFAULT_DETECTION_SIZE})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--pixscale", type=float, default=None,
                        help=f"pixel scale in arcsec/px ({GZ3D_PIXSCALE_ARCSEC}, DESI Legacy "
                             f"Surveys; {SHRED_PIXSCALE_ARCSEC} with --shred-fields; "
                             f"{SDSS_PIXSCALE_ARCSEC}, SDSS, with --detection-fields)")
    parser.add_argument("--volunteers", type=int, default=None,
                        help=f"simulated volunteers per galaxy ({DEFAULT_VOLUNTEERS}, as GZ3D; "
                             "not with --shred-fields or --detection-fields)")
    parser.add_argument("--bands", action="store_true",
                        help="also write the g, r, z images in nanomaggies (OUT_DIR/bands/; "
                             "with --shred-fields the whole fields, OUT_DIR/fields/; "
                             "--detection-fields always writes them)")
    parser.add_argument("--bar-families", action="store_true",
                        help="cutouts only: bars of several families (flat and Ferrers, ansae, "
                             "inner rings, old-star colours; docs/simulator.md) instead of "
                             "flat bluish bars only")
    parser.add_argument("--lenses", action="store_true",
                        help="cutouts only: a lens or an oval (disc light, not a bar) in 30%% "
                             "of spiral and lenticular discs (docs/simulator.md)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: all cores)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a simulation with other parameters in OUT_DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from galseg.sim.dataset import SimulationConfig, simulate_dataset

    for flag in ("bar_families", "lenses"):
        if getattr(args, flag) and (args.shred_fields or args.detection_fields):
            print(f"error: --{flag.replace('_', '-')} is for cutouts, not --shred-fields or "
                  "--detection-fields", file=sys.stderr)
            return 2
    if args.shred_fields:
        return _run_shreds(args)
    if args.detection_fields:
        return _run_detection(args)
    try:
        config = SimulationConfig(
            n=args.n, size=DEFAULT_SIZE if args.size is None else args.size, seed=args.seed,
            pixscale_arcsec=GZ3D_PIXSCALE_ARCSEC if args.pixscale is None else args.pixscale,
            n_volunteers=DEFAULT_VOLUNTEERS if args.volunteers is None else args.volunteers,
            write_bands=args.bands, bar_families=args.bar_families, lenses=args.lenses)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        catalog = simulate_dataset(args.out_dir, config, workers=args.workers,
                                   overwrite=args.overwrite, progress=not args.quiet)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    n_spiral = int(sum(catalog["has_spiral_arms"]))
    n_bar = int(sum(catalog["has_bar"]))
    print(f"wrote {len(catalog)} galaxies ({n_spiral} with arms, {n_bar} with bars) to "
          f"{args.out_dir} in {elapsed:.1f} s")
    return 0


def _run_shreds(args: argparse.Namespace) -> int:
    from galseg.sim.shred_dataset import (
        ShredSimulationConfig,
        class_mix,
        simulate_shred_dataset,
    )

    if args.volunteers is not None:
        print("error: --volunteers does not apply to --shred-fields (no volunteer labels)",
              file=sys.stderr)
        return 2
    try:
        config = ShredSimulationConfig(
            n_fields=args.n, seed=args.seed,
            pixscale_arcsec=SHRED_PIXSCALE_ARCSEC if args.pixscale is None else args.pixscale,
            cutout_size=DEFAULT_SIZE if args.size is None else args.size,
            write_fields=args.bands)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        catalog = simulate_shred_dataset(args.out_dir, config, workers=args.workers,
                                         overwrite=args.overwrite, progress=not args.quiet)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    mix = class_mix(catalog)
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(mix["kinds"].items()))
    print(f"wrote {mix['rows']} detections from {config.n_fields} fields to {args.out_dir} "
          f"in {elapsed:.1f} s: {mix['shreds']} shreds ({100 * mix['shred_fraction']:.1f}%); "
          f"{kinds}")
    return 0


def _run_detection(args: argparse.Namespace) -> int:
    from galseg.sim.detection_dataset import detection_mix, write_detection_dataset

    if args.volunteers is not None:
        print("error: --volunteers does not apply to --detection-fields (no volunteer labels)",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        examples = write_detection_dataset(
            args.out_dir, args.n, seed=args.seed,
            size=DEFAULT_DETECTION_SIZE if args.size is None else args.size,
            pixscale_arcsec=SDSS_PIXSCALE_ARCSEC if args.pixscale is None else args.pixscale,
            workers=args.workers, overwrite=args.overwrite, progress=not args.quiet)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    mix = detection_mix(examples.objects)
    classes = ", ".join(f"{name} {count}" for name, count in mix["classes"].items())
    print(f"wrote {len(examples)} fields with {mix['objects']} objects ({classes}; "
          f"{100 * mix['overlap_fraction']:.1f}% overlap another) to {args.out_dir} "
          f"in {elapsed:.1f} s")
    return 0
