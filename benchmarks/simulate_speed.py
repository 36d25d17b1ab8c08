"""Time `galseg simulate` end to end (render, volunteers, GZ3D + truth files, catalog).

Usage: python benchmarks/simulate_speed.py --n 10000 --size 128 [--workers 2] [--out DIR]
Prints galaxies/s and the extrapolated time for 10,000 galaxies.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time

from galseg.sim.dataset import SimulationConfig, simulate_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="galseg-sim-bench-")
    start = time.perf_counter()
    catalog = simulate_dataset(out, SimulationConfig(n=args.n, size=args.size, seed=0),
                               workers=args.workers, overwrite=True, progress=False)
    elapsed = time.perf_counter() - start
    rate = len(catalog) / elapsed
    print(f"{len(catalog)} galaxies of {args.size}x{args.size} in {elapsed:.1f} s: "
          f"{rate:.1f} galaxies/s; 10,000 would take {10000 / rate / 60:.1f} min")
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
