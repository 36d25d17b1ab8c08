"""``galseg detect`` end to end, as a user runs it: a deep field and a folder of cutouts.

Usage::

    python benchmarks/detect_cli_speed.py [--cutouts runs/gz1/test] [--n 30]
        [--repeats 3] [--variant NAME=ARGS ...] [--work DIR]

Each run is the command itself in a new process (Python start, imports, model load,
reading, detection, the second look, catalog, segmentation maps and overlays), timed
from outside, with a fresh output folder (``galseg detect`` resumes otherwise):

* **deep field**: scikit-image's Hubble deep field resampled (bicubic) to 2345 x 2039 px,
  the size of the deep-field JPEG of issue 28, written as a JPEG (quality 95);
* **cutouts**: the first ``--n`` pictures of a detection example folder (default the
  GZ1 SDSS test cutouts of ``galseg gz1-masks``, 423 x 423 JPEG), in one command;
  cutouts/s counts the whole command.

``--variant NAME=ARGS`` adds ``galseg detect`` options to compare (e.g.
``--variant alone=--morphology none``); the default is the command as shipped. Variants
are interleaved (A B A B ...) so a machine's load falls on all alike; one warm-up run
each first. Prints medians per variant as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

from galseg.data.detection_examples import read_detection_examples

FIELD_SHAPE = (2039, 2345)


def write_inputs(work: Path, cutouts: Path, n: int) -> tuple[Path, Path]:
    from PIL import Image
    from skimage.data import hubble_deep_field
    from skimage.transform import resize

    field = work / "hdf2345.jpg"
    big = (resize(hubble_deep_field(), FIELD_SHAPE, order=3, anti_aliasing=False) * 255
           + 0.5).clip(0, 255).astype(np.uint8)
    Image.fromarray(big).save(field, quality=95)
    folder = work / "cutouts"
    folder.mkdir(exist_ok=True)
    examples = read_detection_examples(cutouts)
    for i in range(min(n, len(examples))):
        source = Path(examples[i].image_path)
        shutil.copyfile(source, folder / source.name)
    return field, folder


def run_once(galseg: list[str], target: Path, extra: list[str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([*galseg, "detect", str(target), "--out", str(out), "--quiet", *extra],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cutouts", type=Path, default=Path("runs/gz1/test"))
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=ARGS")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder")
    args = parser.parse_args()
    variants = {"shipped": []}
    for spec in args.variant:
        name, _, options = spec.partition("=")
        variants[name] = shlex.split(options)
    galseg = [sys.executable, "-m", "galseg"]
    work = args.work or Path(tempfile.mkdtemp(prefix="detect_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    field, folder = write_inputs(work, args.cutouts, args.n)
    n_cutouts = len(list(folder.iterdir()))
    times: dict[tuple[str, str], list[float]] = {}
    for repeat in range(args.repeats + 1):  # the first round warms up
        for target_name, target in (("field", field), ("cutouts", folder)):
            for name, extra in variants.items():
                seconds = run_once(galseg, target, extra, work / f"out_{name}_{target_name}")
                if repeat:
                    times.setdefault((name, target_name), []).append(seconds)
    result: dict[str, object] = {
        "date": date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "load_average_at_end": os.getloadavg(),
        "repeats": args.repeats, "n_cutouts": n_cutouts, "field_shape": list(FIELD_SHAPE)}
    for name, extra in variants.items():
        field_s = statistics.median(times[(name, "field")])
        cutouts_s = statistics.median(times[(name, "cutouts")])
        result[name] = {"options": extra, "field_seconds": round(field_s, 2),
                        "field_runs": [round(t, 2) for t in times[(name, "field")]],
                        "cutouts_seconds": round(cutouts_s, 2),
                        "cutouts_runs": [round(t, 2) for t in times[(name, "cutouts")]],
                        "cutouts_per_second": round(n_cutouts / cutouts_s, 2)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
