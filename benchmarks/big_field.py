"""``galseg detect`` on a big FITS field: peak memory and time.

Usage::

    python benchmarks/big_field.py --work DIR [--size 20000] [--tile-fields 2048]
        [--stream-min-pixels N]

Makes (once) ``DIR/field_<size>.fits``: a ``size`` x ``size`` px g, r, z cube in
nanomaggies with a TAN WCS at 0.396"/px, tiled from four different simulated
detection fields of ``--tile-fields`` px (``galseg.sim.detection_fields``), written
row block by row block (``astropy.io.fits.StreamingHDU``) so making it needs little
memory. Then runs ``galseg detect`` on it in a new process under ``/usr/bin/time -v``
with a fresh output folder and prints JSON: the command, wall time, peak RSS (GB),
objects found, machine and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS


def make_field(path: Path, size: int, tile: int) -> None:
    from galseg.sim.detection_fields import draw_detection_field, render_detection_field

    blocks = [render_detection_field(draw_detection_field(np.random.default_rng(seed),
                                                          shape=(tile, tile))).bands
              for seed in range(4)]
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [size / 2, size / 2]
    wcs.wcs.cdelt = [-0.396 / 3600, 0.396 / 3600]
    header = fits.PrimaryHDU(np.zeros((1, 1, 1), np.float32)).header
    header["NAXIS1"] = header["NAXIS2"] = size
    header["NAXIS3"] = 3
    header.extend(wcs.to_header(), unique=True)
    header["BANDS"], header["BUNIT"] = "grz", "nanomaggy"
    tmp = path.with_suffix(".part")
    stream = fits.StreamingHDU(tmp, header)
    # FITS cubes are written plane by plane: band g whole, then r, then z.
    for band in range(3):
        for y0 in range(0, size, tile):
            rows = min(tile, size - y0)
            strip = np.concatenate([blocks[(y0 // tile + x0 // tile) % 4][band, :rows]
                                    for x0 in range(0, size, tile)], axis=1)[:, :size]
            stream.write(strip.astype(np.float32))
    stream.close()
    tmp.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--tile-fields", type=int, default=2048)
    parser.add_argument("--extra", default="", help="more galseg detect options")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    field = args.work / f"field_{args.size}.fits"
    if not field.exists():
        start = time.perf_counter()
        make_field(field, args.size, args.tile_fields)
        print(f"made {field} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    out = args.work / "out"
    shutil.rmtree(out, ignore_errors=True)
    galseg = str(Path(sys.executable).with_name("galseg"))
    command = [galseg, "detect", str(field), "--out", str(out), "--quiet", *args.extra.split()]
    load = os.getloadavg()
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(done.stderr[-3000:])
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1])
    n_objects = sum(1 for _ in (out / "catalog.csv").open()) - 1
    print(json.dumps({
        "command": " ".join(["galseg", *command[1:]]), "size_px": args.size,
        "field_gb": round(field.stat().st_size / 1e9, 2), "wall_s": round(wall, 1),
        "peak_rss_gb": round(peak_kb / 1e6, 2), "objects": n_objects,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_before": [round(x, 2) for x in load], "date": str(date.today())}, indent=1))


if __name__ == "__main__":
    main()
