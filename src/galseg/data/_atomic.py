"""Atomic file writes: a killed batch job never leaves a half-written output file.

The bytes go to a temporary file in the destination folder (same file system, so
the final rename is atomic), which is then renamed over the destination with
:func:`os.replace`. Readers see either the old file or the complete new one. This
protects against a killed process; it does not ``fsync`` (which would cost
milliseconds per file in batches of thousands), so it does not protect against
a power cut.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from os import PathLike
from pathlib import Path


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once at import so that
    # concurrent threads never see a temporarily cleared umask.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_read_umask()


def write_bytes_atomic(path: str | PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    path : str or path-like
        Destination file. Its folder must exist.
    data : bytes
        The complete file content.
    overwrite : bool, optional
        If False, refuse to replace an existing file (`FileExistsError`).

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def write_atomic(path: str | PathLike[str], write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp_path)`` and rename the file it wrote to ``path`` atomically.

    For writers that want a path rather than bytes (big catalogs are then not held
    in memory twice). The folder of ``path`` must exist.
    """
    path = Path(path)
    # The temporary name starts with a dot and ends in .tmp so that globs such as
    # *.fits.gz never pick up a file that is still being written.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp_name))
        # mkstemp creates the file with mode 0600; give it the mode open() would.
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return path
