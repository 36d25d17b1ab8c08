"""``galseg simulate``: simulated galaxies with exact truth.

By default N galaxies in the GZ3D format with volunteer labels (spiral/bar
segmentation); with ``--shred-fields``, N fields around big nearby galaxies
whose catalog detections carry shred / not-shred truth (shred classifier).
"""

from __future__ import annotations

import argparse
import sys
import time

from galseg.sim.dataset import SimulationConfig, simulate_dataset
from galseg.sim.shred_dataset import ShredSimulationConfig, class_mix, simulate_shred_dataset
from galseg.sim.shreds import SHRED_PIXSCALE_ARCSEC

GZ3D_PIXSCALE_ARCSEC = 0.262
DEFAULT_VOLUNTEERS = 15


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate galaxies with exact truth (GZ3D volunteer labels, or shred fields)",
        description=(
            "Write N simulated galaxies as Galaxy Zoo 3D files (OUT_DIR/gz3d/), their exact "
            "spiral-arm and bar truth masks (OUT_DIR/truth/, FITS extensions SPIRAL_TRUTH and "
            "BAR_TRUTH) and a truth catalog (OUT_DIR/catalog.csv). With --shred-fields, write "
            "N fields around big nearby galaxies instead: a 128 px g-r-z cutout of every "
            "catalog detection near the host (OUT_DIR/cutouts/) and a catalog with its "
            "shred / not-shred truth (OUT_DIR/catalog.csv). The same seed gives the same "
            "data; an interrupted run resumes where it stopped."),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    parser.add_argument("--n", type=int, required=True,
                        help="number of galaxies (of fields with --shred-fields)")
    parser.add_argument("--shred-fields", action="store_true",
                        help="simulate N shred fields for the shred classifier "
                             "(docs/simulator.md, 'Shred training fields')")
    parser.add_argument("--size", type=int, default=128,
                        help="cutout size in pixels (128; with --shred-fields the size of the "
                             "cutout around each detection)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--pixscale", type=float, default=None,
                        help=f"pixel scale in arcsec/px ({GZ3D_PIXSCALE_ARCSEC}, DESI Legacy "
                             f"Surveys; {SHRED_PIXSCALE_ARCSEC} with --shred-fields)")
    parser.add_argument("--volunteers", type=int, default=None,
                        help=f"simulated volunteers per galaxy ({DEFAULT_VOLUNTEERS}, as GZ3D; "
                             "not with --shred-fields)")
    parser.add_argument("--bands", action="store_true",
                        help="also write the g, r, z images in nanomaggies (OUT_DIR/bands/; "
                             "with --shred-fields the whole fields, OUT_DIR/fields/)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: all cores)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a simulation with other parameters in OUT_DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.shred_fields:
        return _run_shreds(args)
    try:
        config = SimulationConfig(
            n=args.n, size=args.size, seed=args.seed,
            pixscale_arcsec=GZ3D_PIXSCALE_ARCSEC if args.pixscale is None else args.pixscale,
            n_volunteers=DEFAULT_VOLUNTEERS if args.volunteers is None else args.volunteers,
            write_bands=args.bands)
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
    if args.volunteers is not None:
        print("error: --volunteers does not apply to --shred-fields (no volunteer labels)",
              file=sys.stderr)
        return 2
    try:
        config = ShredSimulationConfig(
            n_fields=args.n, seed=args.seed,
            pixscale_arcsec=SHRED_PIXSCALE_ARCSEC if args.pixscale is None else args.pixscale,
            cutout_size=args.size, write_fields=args.bands)
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
