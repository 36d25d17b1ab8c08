"""The worker-pool driver of the simulated data sets (``galseg simulate``)."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

Job = TypeVar("Job")


def run_jobs(function: Callable[[Job], Any], jobs: Sequence[Job], *, workers: int | None,
             serial_below: int, chunksize: int, desc: str, unit: str,
             progress: bool) -> list[Any]:
    """``[function(job) for job in jobs]``, in order, with a progress bar, on
    ``workers`` processes (default: all cores), or in this process when there is
    one worker or fewer than ``serial_below`` jobs (a pool would cost more)."""
    workers = workers or os.cpu_count() or 1
    results: list[Any] = []
    with tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress) as bar:
        if workers == 1 or len(jobs) < serial_below:
            for job in jobs:
                results.append(function(job))
                bar.update()
        else:
            # fork is fine here (numpy only, no threads started yet) and avoids re-importing
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for result in pool.imap(function, jobs, chunksize=chunksize):
                    results.append(result)
                    bar.update()
    return results
