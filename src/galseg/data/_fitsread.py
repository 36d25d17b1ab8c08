"""Open a FITS file so that every way it can be broken is one clear error.

astropy reports a damaged file in many ways: an ``OSError`` or ``ValueError`` from
the header parser, a ``zlib.error`` from a compressed HDU, an ``IndexError`` from
a short data block, and for a truncated file only a *warning* after which it pads
the missing data with zeros. :func:`read_fits_checked` turns all of them into
:class:`~galseg.errors.InputFileError` naming the file, so a batch run can log the
file and go on, and so no truncated file is ever read as if it were whole.
"""

from __future__ import annotations

import io
import threading
import warnings
import zlib
from collections.abc import Callable
from os import PathLike
from typing import TypeVar

from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import FITSFixedWarning

from galseg.errors import GalsegWarning, InputFileError

FITS_READ_ERRORS = (OSError, ValueError, TypeError, EOFError, IndexError, KeyError,
                    zlib.error)
"""What astropy raises, one way or another, for a damaged or foreign file."""

FITS_OPEN_FAILURES = (*FITS_READ_ERRORS, AstropyWarning)
"""The same, and astropy's damage warnings where a filter (perhaps another thread's, as
the filters are one per process) turns them into exceptions."""

T = TypeVar("T")

WARNINGS_LOCK = threading.RLock()
"""Held while galseg opens a FITS file under its own warning filters. Python's warning
filters are one per process, so two threads opening files at once (``galseg survey``'s
threads) would otherwise undo each other's filters and lose or raise a truncation
warning."""


def _damage_warning(warning: warnings.WarningMessage) -> bool:
    """True for astropy's warnings about a truncated or corrupt file (not for the
    ``FITSFixedWarning`` of a header it repaired, which loses nothing)."""
    message = str(warning.message)
    return (issubclass(warning.category, AstropyWarning)
            and not issubclass(warning.category, FITSFixedWarning)
            and any(word in message for word in ("truncated", "corrupt", "Header size")))


def read_fits_checked(path: str | PathLike[str], read: Callable[[fits.HDUList], T], *,
                      what: str = "FITS file", content: bytes | None = None) -> T:
    """``read(hdul)`` on the opened file ``path``; every failure an ``InputFileError``.

    ``content``, when given, is the file's bytes already in memory (e.g. after
    gunzip); ``path`` then only names the file in errors.

    ``read`` must load what it needs (the file is closed afterwards) and may raise
    ``InputFileError`` itself (no such HDU, ...), which passes through unchanged
    unless the file is truncated: a cut-off file is reported as that, whatever
    part of it went missing. Warnings of galseg's own that ``read`` gives
    (:class:`~galseg.errors.GalsegWarning`) reach the caller; astropy's are only
    looked at for damage.
    """
    own_error: InputFileError | None = None
    failure: Exception | None = None
    result: T | None = None
    done = False
    with WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            source = io.BytesIO(content) if content is not None else path
            with fits.open(source, memmap=False, lazy_load_hdus=False) as hdul:
                result = read(hdul)
                done = True
        except InputFileError as error:
            own_error = error
        except FITS_OPEN_FAILURES as error:
            failure = error
    # astropy warns about a truncated file, then pads what is missing or fails: refuse it.
    damage = [str(w.message) for w in caught if _damage_warning(w)]
    if damage:
        raise InputFileError(path, f"truncated or corrupt FITS file "
                                   f"({damage[0].splitlines()[0]})")
    if own_error is not None:
        raise own_error
    if not done:
        raise InputFileError(path, f"not a readable {what}, or corrupt ({failure})")
    for warning in caught:
        if issubclass(warning.category, GalsegWarning):
            warnings.warn(warning.message, stacklevel=2)
    return result  # type: ignore[return-value]
