"""`galseg survey` against the single-file commands, and its memory against catalog size.

Usage::

    python benchmarks/survey_speed.py [--data ../shared/data/legacy_cutouts] [--repeats 3]
                                      [--workers 2] [--memory-rows 10000 200000]
                                      [--variant NAME=ARGS ...] [--tasks segment shreds]
                                      [--skip-speed] [--skip-memory] [--out DIR]

* **Speed**: on the 1,000 real Legacy Surveys cutouts (128 x 128 PNG, ``catalog.fits``
  with ``objID``), end to end as a user runs them, each command a fresh process
  (start-up, and for the survey its local Dask cluster, included):
  ``galseg segment IMAGES`` against ``galseg survey --task segment``, and
  ``galseg shreds`` against ``galseg survey --task shreds``, each survey in every
  ``--variant`` (default: the local cluster as threads, and ``--processes``),
  interleaved (A, B, C, A, B, C, ...) so that the load of a shared machine falls on
  all alike; medians, and each survey's ratio to its single command.
* **Memory**: peak resident memory of the whole process tree (the client and its
  workers, sampled every 0.1 s) of ``galseg survey --task shreds`` over catalogs of
  ``--memory-rows`` rows. Row ``i`` names cutout ``i % 1000``; to keep the big
  catalog's run short, only one row in ``--real-every`` (20) names an existing file, the
  others a missing one (flagged ``missing_cutout``, no network), so every partition
  still reads and classifies cutouts.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from astropy.table import Table

from galseg.data.catalogs import write_catalog


def _galseg(*args: object) -> list[str]:
    return [sys.executable, "-m", "galseg.cli.main", *map(str, args)]


def _run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB, the process and its children)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    handle = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [handle, *handle.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{command} failed: {process.stderr.read().decode()[-2000:]}")
    return seconds, peak / 2**20


def _speed(data: Path, work: Path, repeats: int, workers: int, variants: dict[str, str],
           tasks: list[str]) -> dict[str, object]:
    images = data / "images"
    catalog = data / "catalog.fits"
    n = len(Table.read(catalog))
    single = {
        "segment": _galseg("segment", images, "--out", work / "out", "--quiet"),
        "shreds": _galseg("shreds", catalog, "--images", images, "--id-column", "objID",
                          "--out", work / "out" / "shreds.parquet", "--quiet"),
    }
    commands = {}
    for task in tasks:
        commands[task] = single[task]
        for name, extra in variants.items():
            commands[f"survey_{task}_{name}"] = _galseg(
                "survey", catalog, "--task", task, "--images", images, "--id-column", "objID",
                "--out", work / "out", "--quiet", "--workers", workers, "--partition-rows",
                250, *extra.split())
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            shutil.rmtree(work / "out", ignore_errors=True)
            (work / "out").mkdir()
            times[name].append(_run(command)[0])
    rates = {name: n / statistics.median(t) for name, t in times.items()}
    ratios = {name: round(rate / rates[name.split("_")[1]], 2)
              for name, rate in rates.items() if name.startswith("survey_")}
    return {"cutouts": n, "seconds": times,
            "cutouts_per_s": {k: round(v, 1) for k, v in rates.items()},
            "survey_vs_single_command": ratios, "commands": {
                k: " ".join(map(str, v[2:])) for k, v in commands.items()}}


def _memory(data: Path, work: Path, rows: list[int], workers: int,
            real_every: int) -> dict[str, object]:
    ids = np.array([int(i) for i in Table.read(data / "catalog.fits")["objID"]])
    out: dict[str, object] = {}
    for n in rows:
        index = np.arange(n)
        objid = ids[index % len(ids)].astype(object)
        objid[index % real_every != 0] = -1  # no such file: missing_cutout
        table = Table({"row": index, "objID": objid.astype(np.int64),
                       "mag": np.round(np.linspace(15, 22, n), 3)})
        path = work / f"catalog_{n}.parquet"
        write_catalog(table, path)
        target = work / f"mem_{n}"
        shutil.rmtree(target, ignore_errors=True)
        seconds, peak = _run(_galseg("survey", path, "--task", "shreds", "--images",
                                     data / "images", "--id-column", "objID", "--out", target,
                                     "--quiet", "--workers", workers))
        out[str(n)] = {"peak_mb": round(peak), "seconds": round(seconds, 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).parents[1] / "../shared/data/legacy_cutouts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-rows", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--real-every", type=int, default=20)
    parser.add_argument("--variant", action="append", default=None, metavar="NAME=ARGS",
                        help="galseg survey options to compare (default: threads= and "
                             "processes=--processes)")
    parser.add_argument("--tasks", nargs="+", default=["segment", "shreds"])
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", type=Path, default=None,
                        help="work folder (default: a temporary one, removed)")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="galseg_survey_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "load_average_at_start": os.getloadavg()}
    try:
        if not args.skip_speed:
            variants = dict(v.split("=", 1) for v in (args.variant or
                                                      ["threads=", "processes=--processes"]))
            results["speed"] = _speed(args.data, work, args.repeats, args.workers, variants,
                                      args.tasks)
        if not args.skip_memory:
            results["memory"] = _memory(args.data, work, args.memory_rows, args.workers,
                                        args.real_every)
    finally:
        if args.out is None:
            shutil.rmtree(work, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
