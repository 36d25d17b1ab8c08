"""A compact copy of the Galaxy Zoo 1 training cutouts, to carry to a GPU machine.

Usage::

    python scripts/compact_gz1.py runs/gz1/train .gpu_carry/gz1_train [--side 359]

The input is a folder written by ``galseg gz1-masks`` (its ``train`` split); the output
is at once a detection example folder (``galseg train detector --data``) and a Galaxy
Zoo 1 folder (``galseg train segmenter --weak-gz1``) of the central ``side`` pixels.
A thin layer over :func:`galseg.data.gz1.write_gz1_compact` (``docs/data_formats.md``);
``benchmarks/gpu_session.sh`` trains on it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from galseg.data.gz1 import GZ1_COMPACT_SIDE, write_gz1_compact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("examples", type=Path, help="a galseg gz1-masks split folder")
    parser.add_argument("out", type=Path)
    parser.add_argument("--side", type=int, default=GZ1_COMPACT_SIDE,
                        help=f"central pixels kept on each axis (default {GZ1_COMPACT_SIDE})")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    n = write_gz1_compact(args.examples, args.out, side=args.side, progress=not args.quiet)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {n} cutouts to {args.out} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
