"""What the resumable batch runs over many images share (``galseg segment``, ``galseg detect``).

A run writes each input's outputs atomically, the last of them a FITS file whose
primary header records the run settings (``RUNKEY``, :func:`run_key`). Started
again, it reads back every input whose last file has the same key
(:func:`read_finished`) instead of recomputing it. Outputs are named by the
input's stem, so stems must be unique (:func:`input_names`); an input that cannot
be read is recorded (:func:`record_failure`) and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from astropy.io import fits
from astropy.table import MaskedColumn, Table

from galseg.data.images import image_name
from galseg.errors import GalsegError, InputFileError

T = TypeVar("T")


@dataclass
class BatchRun:
    """What a run produced.

    Attributes
    ----------
    catalog : astropy.table.Table
        The run's catalog.
    failures : list of (str, str)
        ``(input path, reason)`` of each input that could not be read.
    n_reused : int
        Inputs read back from an earlier run of the same settings.
    """

    catalog: Table
    failures: list[tuple[str, str]] = field(default_factory=list)
    n_reused: int = 0

    @property
    def n_failed(self) -> int:
        return len(self.failures)


def input_names(inputs: Sequence[Path]) -> list[str]:
    """The output name (:func:`~galseg.data.images.image_name`) of each input.

    Raises
    ------
    GalsegError
        If two inputs have the same name (their outputs would overwrite each other).
    """
    names = [image_name(p) for p in inputs]
    seen: dict[str, Path] = {}
    for name, path in zip(names, inputs, strict=True):
        if name in seen:
            raise GalsegError(f"two inputs have the same name {name!r} ({seen[name]} and "
                              f"{path}); their outputs would overwrite each other")
        seen[name] = path
    return names


def run_key(settings: dict[str, Any]) -> str:
    """A 16-hex-digit key of JSON-serialisable run ``settings`` (``RUNKEY``)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def read_finished(path: Path, key: str, read: Callable[[fits.HDUList], T], *,
                  also: Sequence[Path] = ()) -> T | None:
    """``read(hdul)`` of the FITS file ``path`` if an earlier run with ``key`` finished it.

    None when ``path`` or any of ``also`` (the input's other outputs) is missing,
    when its ``RUNKEY`` is not ``key``, or when it cannot be read (a file damaged
    by a killed run is recomputed).
    """
    if not (path.is_file() and all(p.is_file() for p in also)):
        return None
    try:
        with fits.open(path) as hdul:
            if hdul[0].header.get("RUNKEY") != key:
                return None
            return read(hdul)
    except Exception:  # astropy raises many types for damaged files
        return None


def record_failure(failures: list[tuple[str, str]], path: Path, exc: Exception,
                   on_error: Callable[[Path, str], None] | None = None) -> None:
    """Add ``(path, reason)`` for an input that failed with ``exc``; tell ``on_error``."""
    reason = exc.reason if isinstance(exc, InputFileError) else str(exc)
    failures.append((str(path), reason))
    if on_error:
        on_error(path, reason)


def blank_unknown(table: Table) -> Table:
    """Mask every non-finite value of the float columns of ``table`` (in place, returned):
    unknown values (no WCS, no pixel scale, no bar, an unreadable input) are empty
    catalog cells, not ``nan``."""
    for name in table.colnames:
        if table[name].dtype.kind == "f":
            column = table[name]
            values = np.asarray(column.filled(np.nan) if isinstance(column, MaskedColumn)
                                else column)
            table[name] = MaskedColumn(values, name=name, mask=~np.isfinite(values),
                                       unit=column.unit, description=column.description)
    return table


__all__ = ["BatchRun", "blank_unknown", "input_names", "read_finished", "record_failure",
           "run_key"]
