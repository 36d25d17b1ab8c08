"""What the simulated data sets (``galseg simulate``) share: the output folder and its
manifest, and the worker-pool driver."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from galseg import __version__
from galseg.data._atomic import write_bytes_atomic

Job = TypeVar("Job")


def prepare_output(out_dir: str | os.PathLike[str], *, manifest: str, params: dict[str, Any],
                   subfolders: Sequence[str], clear: Sequence[str], overwrite: bool,
                   what: str = "simulation") -> Path:
    """Make ``out_dir`` and its ``subfolders`` and write the manifest of ``params``.

    The manifest ``out_dir/manifest`` is ``{"galseg_version": ..., **params}`` as
    indented JSON. A folder whose manifest has other ``params`` (the galseg version
    aside) holds another data set: it is refused with a `ValueError` naming ``what``,
    or, with ``overwrite``, the files in its ``clear`` subfolders are deleted.
    A folder with the same ``params`` is kept as it is, to be resumed.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / manifest
    if path.exists():
        found = {k: v for k, v in json.loads(path.read_text()).items() if k != "galseg_version"}
        if found != params and not overwrite:
            raise ValueError(
                f"{out_dir} holds a {what} with other parameters ({found}); "
                "choose another folder or pass overwrite=True (--overwrite) to start afresh")
        if found != params:
            for sub in clear:
                for file in (out_dir / sub).glob("*"):
                    file.unlink()
    for sub in subfolders:
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, json.dumps({"galseg_version": __version__, **params},
                                        indent=2).encode())
    return out_dir


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
