"""Start-up time of the ``galseg`` command: wall time of ``galseg --help`` in a fresh process.

Usage::

    python benchmarks/cli_startup.py [--repeats 5] [--args "--help"] [SRC ...]

Each SRC is a ``src/`` folder holding a ``galseg`` package (e.g. this checkout's and an
older commit's, ``git archive <commit> src | tar -x -C /tmp/old``); without SRC, the
``galseg`` that Python finds. The runs of the SRC folders are interleaved (A B A B ...)
so that a busy machine slows them alike; prints the median of ``--repeats`` runs of each
(after one warm-up run each, which fills the file cache) and its speed against the first.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time


def run_once(src: str | None, args: list[str]) -> float:
    """Wall time of one ``python -m galseg ARGS`` process (output discarded)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "galseg", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("srcs", nargs="*", metavar="SRC", help="src/ folders to compare")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--args", default="--help", help="galseg arguments (default --help)")
    options = parser.parse_args()
    srcs: list[str | None] = list(options.srcs) or [None]
    args = shlex.split(options.args)
    times: dict[str | None, list[float]] = {src: [] for src in srcs}
    for src in srcs:
        run_once(src, args)  # warm-up: file cache
    for _ in range(options.repeats):
        for src in srcs:
            times[src].append(run_once(src, args))
    first = statistics.median(times[srcs[0]])
    for src in srcs:
        median = statistics.median(times[src])
        runs = ", ".join(f"{t:.2f}" for t in times[src])
        print(f"{src or 'galseg'}: `galseg {options.args}` median {median:.2f} s "
              f"(runs {runs}); {first / median:.1f}x as fast as the first")


if __name__ == "__main__":
    main()
