"""Exceptions and warnings raised by galseg.

Every error caused by a bad input file names the file, so that a batch job can
report it in one line and go on with the other files. A file that can be used
although part of it is not as expected gives an :class:`InputFileWarning`, also
naming the file.
"""

from __future__ import annotations

from os import PathLike


class GalsegError(Exception):
    """Base class of galseg's own errors."""


class InputFileError(GalsegError, ValueError):
    """A file could not be used: missing, truncated, or not in the expected format.

    Parameters
    ----------
    path : str or path-like
        The offending file.
    reason : str
        One sentence saying what is wrong and, where possible, how to fix it.
    """

    def __init__(self, path: str | PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class GalsegWarning(UserWarning):
    """Base class of galseg's own warnings."""


class InputFileWarning(GalsegWarning):
    """A file was used, but part of it was left out or replaced by a default.

    Parameters
    ----------
    path : str or path-like
        The file.
    reason : str
        One sentence saying what was left out and why the rest could still be used.
    """

    def __init__(self, path: str | PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
