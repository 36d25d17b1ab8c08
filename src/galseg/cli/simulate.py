"""``galseg simulate``: simulated galaxies in the GZ3D format, with exact truth."""

from __future__ import annotations

import argparse
import sys
import time

from galseg.sim.dataset import SimulationConfig, simulate_dataset


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate galaxies with exact truth and simulated GZ3D volunteer labels",
        description=(
            "Write N simulated galaxies as Galaxy Zoo 3D files (OUT_DIR/gz3d/), their exact "
            "spiral-arm and bar truth masks (OUT_DIR/truth/, FITS extensions SPIRAL_TRUTH and "
            "BAR_TRUTH) and a truth catalog (OUT_DIR/catalog.csv). The same seed gives the "
            "same data; an interrupted run resumes where it stopped."),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    parser.add_argument("--n", type=int, required=True, help="number of galaxies")
    parser.add_argument("--size", type=int, default=128, help="cutout size in pixels (128)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--pixscale", type=float, default=0.262,
                        help="pixel scale in arcsec/px (0.262, DESI Legacy Surveys)")
    parser.add_argument("--volunteers", type=int, default=15,
                        help="simulated volunteers per galaxy (15, as GZ3D)")
    parser.add_argument("--bands", action="store_true",
                        help="also write the g, r, z images in nanomaggies (OUT_DIR/bands/)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: all cores)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a simulation with other parameters in OUT_DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = SimulationConfig(n=args.n, size=args.size, seed=args.seed,
                                  pixscale_arcsec=args.pixscale, n_volunteers=args.volunteers,
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
