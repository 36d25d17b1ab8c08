"""Big FITS fields read window by window, memory-mapped, never whole.

A survey mosaic of 20,000 x 20,000 pixels in g, r, z is 4.8 GB of float32, and the
model's colour image of it as much again: :func:`galseg.data.images.read_image`
would hold both. :class:`FitsField` opens the file memory-mapped and gives any
window of the same colour image (``rgb``), validity mask and linear light
(``flux``) that :func:`~galseg.data.images.read_image` gives for the whole image,
computed from that window's pixels only:

* On opening, one pass over the file in strips of rows checks it (truncated
  file, no finite pixels in a band, constant values: the errors of
  :func:`~galseg.data.images.read_image`) and, for values not in nanomaggies,
  collects the 16 x 16 px sky tiles from which the sky level and noise are
  estimated (:func:`~galseg.data.images.sky_level_and_noise`). Up to
  ``MAX_SKY_TILES`` tiles, every tile is used, so a field of up to 4 million
  pixels gets exactly the statistics of the in-memory reader; beyond that a
  regular grid of tiles (every k-th tile row and column).
* Everything after the statistics is per pixel
  (:class:`~galseg.data.images.BandCalibration`), so windows agree with the
  whole image wherever they are cut.

Pages of the file are unmapped from the process as soon as a window is copied out
(``madvise(MADV_DONTNEED)``), so resident memory holds the windows, not the file.
Only uncompressed image HDUs are memory-mapped (:func:`fits_field_shape`); gzip
and tile-compressed files are read whole by :func:`~galseg.data.images.read_image`.
"""

from __future__ import annotations

import math
import mmap
import warnings
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS

from galseg.data._fitsread import FITS_OPEN_FAILURES, WARNINGS_LOCK
from galseg.data.images import (
    BANDS,
    BandCalibration,
    band_order,
    check_band_values,
    check_image_options,
    header_wcs,
    image_hdu,
    image_name,
    is_nanomaggies,
    sky_level_and_noise,
    sky_tiles,
)
from galseg.data.images import SKY_TILE_PIXELS as _TILE
from galseg.errors import InputFileError

STREAM_MIN_PIXELS = 4096 * 4096
"""FITS images this big (pixels) or bigger are read window by window by ``galseg detect``
and ``galseg survey --task detect``."""

MAX_SKY_TILES = 16384
"""Most 16 x 16 px sky tiles per band used for the sky statistics of a field."""

_BITPIX_TYPES = {8: np.uint8, 16: np.int16, 32: np.int32, 64: np.int64, -32: np.float32,
                 -64: np.float64}

STRIP_ROWS = 256
"""Rows read at a time by the checking pass (a multiple of the sky tile side)."""


def _open_hdu(path: Path, hdu: int | str | None) -> tuple[fits.HDUList, Any]:
    """The file opened memory-mapped and its image HDU; InputFileError if unreadable."""
    try:
        with WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)  # checked below, by size
            hdul = fits.open(path, memmap=True, lazy_load_hdus=False)
    except FileNotFoundError:
        raise InputFileError(path, "file does not exist") from None
    except FITS_OPEN_FAILURES as error:
        raise InputFileError(path, f"not a readable FITS file, or corrupt ({error})") from None
    try:
        chosen = image_hdu(path, hdul, hdu)
    except InputFileError:
        hdul.close()
        raise
    return hdul, chosen


def _unscaled(header: fits.Header) -> bool:
    """Stored values are the values (no BSCALE/BZERO), so the file can be mapped as is."""
    return header.get("BSCALE", 1) == 1 and header.get("BZERO", 0) == 0


def fits_field_shape(path: str | PathLike[str], *, hdu: int | str | None = None
                     ) -> tuple[int, int] | None:
    """``(H, W)`` of a FITS file's image when :class:`FitsField` can memory-map it (an
    uncompressed image HDU of 1 or 3 bands), else None (not FITS, compressed, damaged:
    the in-memory reader then reads it, or says what is wrong)."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            if stream.read(8) != b"SIMPLE  ":
                return None
        hdul, chosen = _open_hdu(path, hdu)
    except (InputFileError, OSError):
        return None
    with hdul:
        if isinstance(chosen, fits.CompImageHDU) or not _unscaled(chosen.header):
            return None
        shape = tuple(int(n) for n in chosen.shape)
        while len(shape) > 2 and shape[0] == 1:
            shape = shape[1:]
        if len(shape) == 2 or (len(shape) == 3 and shape[0] == 3):
            return shape[-2], shape[-1]
        return None


class FitsField:
    """A FITS band image (one band, or a g, r, z cube) read window by window (module
    docstring).

    Parameters
    ----------
    path : str or path-like
    bands, pixscale_arcsec, hdu, bunit : optional
        As in :func:`galseg.data.images.read_image`.
    calibration : BandCalibration, optional
        This file's calibration, known from an earlier opening (a cluster's workers
        get it from the client): the checking pass is skipped.

    Attributes
    ----------
    path, name, header, wcs, pixscale_arcsec, bands
        As :class:`~galseg.data.images.InputImage`'s.
    shape : (int, int)
        ``(H, W)``.
    calibration : BandCalibration
    n_invalid : int or None
        Pixels that are NaN or infinite in some band (shown as sky); None when opened
        with a known ``calibration``.

    Use as a context manager, or call :meth:`close`, to release the file.
    """

    def __init__(self, path: str | PathLike[str], *, bands: str | None = None,
                 pixscale_arcsec: float | None = None, hdu: int | str | None = None,
                 bunit: str | None = None, calibration: BandCalibration | None = None
                 ) -> None:
        check_image_options(bands, pixscale_arcsec)
        self.path = Path(path)
        self.name = image_name(self.path)
        self._hdul, self._hdu = _open_hdu(self.path, hdu)
        try:
            self._setup(bands, pixscale_arcsec, bunit, calibration)
        except BaseException:
            self.close()
            raise

    def _setup(self, bands: str | None, pixscale_arcsec: float | None,
               bunit: str | None, calibration: BandCalibration | None) -> None:
        path, hdu = self.path, self._hdu
        self.header = hdu.header.copy()
        shape = tuple(int(n) for n in hdu.shape)
        n_lead = 0
        while len(shape) - n_lead > 2 and shape[n_lead] == 1:
            n_lead += 1
        core = shape[n_lead:]
        if not (len(core) == 2 or (len(core) == 3 and core[0] == 3)):
            raise InputFileError(path, f"has data of shape {shape}; galseg reads one band "
                                       "(H, W) or three bands g, r, z as a (3, H, W) cube")
        self._prefix = (0,) * n_lead + ((slice(None),) if len(core) == 3 else ())
        self.n_planes = 3 if len(core) == 3 else 1
        self.shape = (core[-2], core[-1])
        if 0 in self.shape:
            raise InputFileError(path, f"image has no pixels (shape {self.shape})")
        if isinstance(hdu, fits.CompImageHDU) or not _unscaled(self.header):
            raise InputFileError(path, "is compressed or scaled (BSCALE/BZERO); read it "
                                       "whole with galseg.data.images.read_image")
        offset = hdu.fileinfo()["datLoc"]
        bitpix = int(self.header["BITPIX"])
        needed = offset + abs(bitpix) // 8 * math.prod(shape)
        size = self.path.stat().st_size
        if size < needed:
            raise InputFileError(path, f"truncated FITS file ({size} bytes; its header "
                                       f"needs {needed})")
        # The file's bytes as an array (big-endian, as FITS stores them): a window reads
        # only its own rows, where astropy's ``section`` would loop over them in Python.
        self._offset = offset
        self._data = np.memmap(path, mode="r", offset=offset, shape=shape,
                               dtype=np.dtype(_BITPIX_TYPES[bitpix]).newbyteorder(">"))
        self.wcs: WCS | None
        self.wcs, self.pixscale_arcsec = header_wcs(path, self.header, pixscale_arcsec)
        self.bands = band_order(path, self.n_planes, bands, self.header)
        nanomaggies = is_nanomaggies(self.header.get("BUNIT") if bunit is None else bunit)
        self.n_invalid: int | None = None
        self.calibration = calibration if calibration is not None else self._scan(nanomaggies)

    # -- reading
    def planes(self, y0: int, y1: int, x0: int, x1: int, step: int = 1) -> np.ndarray:
        """(n, h, w) float64 band values of rows ``y0:y1``, columns ``x0:x1`` (every
        ``step``-th pixel), a copy."""
        index = (*self._prefix, slice(y0, y1, step), slice(x0, x1, step))
        data = np.array(self._data[index], dtype=np.float64)
        self._release(y0, y1)
        return data.reshape(self.n_planes, *data.shape[-2:])

    def _release(self, y0: int, y1: int) -> None:
        """Unmap the pages of rows ``y0:y1`` from this process once they are copied.

        Pages of a memory-mapped file count in the process's resident memory until
        the kernel needs them back, so a pass over a 4.8 GB field would show 4.8 GB
        of RSS; ``MADV_DONTNEED`` drops them from this process (they stay in the
        page cache), so RSS holds only what the process itself allocated."""
        mapping = getattr(self._data, "_mmap", None)
        if mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        row_bytes = self.shape[1] * self._data.itemsize
        base = self._offset % mmap.ALLOCATIONGRANULARITY  # where the data starts in the map
        for plane in range(self.n_planes):
            first = base + (plane * self.shape[0] + y0) * row_bytes
            last = min(base + (plane * self.shape[0] + y1) * row_bytes, len(mapping))
            start = first - first % mmap.PAGESIZE
            if last > start:
                mapping.madvise(mmap.MADV_DONTNEED, start, last - start)

    def window(self, y0: int, y1: int, x0: int, x1: int, step: int = 1
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rgb, valid, flux)`` of a window, as :class:`~galseg.data.images.InputImage`'s
        ``rgb``, ``valid`` and ``flux`` cut to it (``step``: every step-th pixel)."""
        y0, x0 = max(int(y0), 0), max(int(x0), 0)
        y1, x1 = min(int(y1), self.shape[0]), min(int(x1), self.shape[1])
        return self.calibration.apply(self.planes(y0, y1, x0, x1, step))

    def rgb_window(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """(h, w, 3) float32 colour image in [0, 1] of a window."""
        return self.window(y0, y1, x0, x1)[0]

    @property
    def flux(self) -> _FluxView:
        """The linear light, sliced like an array (``field.flux[y0:y1, x0:x1]``)."""
        return _FluxView(self)

    # -- checking pass
    def _strips(self) -> Iterator[tuple[int, np.ndarray]]:
        for y0 in range(0, self.shape[0], STRIP_ROWS):
            yield y0, self.planes(y0, min(y0 + STRIP_ROWS, self.shape[0]), 0, self.shape[1])

    def _scan(self, nanomaggies: bool) -> BandCalibration:
        """Check every pixel once and (values not in nanomaggies) estimate the sky."""
        n = len(self.bands)
        n_finite = np.zeros(n, np.int64)
        low, high = np.full(n, np.inf), np.full(n, -np.inf)
        n_invalid = 0
        ny, nx = self.shape[0] // _TILE, self.shape[1] // _TILE
        stride = max(1, math.ceil(math.sqrt(ny * nx / MAX_SKY_TILES)))
        tiles: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n)]
        for y0, strip in self._strips():
            finite = np.isfinite(strip)
            n_finite += finite.reshape(n, -1).sum(axis=1)
            n_invalid += int((~finite.all(axis=0)).sum())
            for i in range(n):
                if finite[i].any():
                    values = strip[i][finite[i]]
                    low[i], high[i] = min(low[i], values.min()), max(high[i], values.max())
            if nanomaggies:
                continue
            rows = [r for r in range(y0 // _TILE, min((y0 + len(strip[0])) // _TILE, ny))
                    if r % stride == 0]
            for r in rows:
                block = slice(r * _TILE - y0, (r + 1) * _TILE - y0)
                for i in range(n):
                    values, ok = sky_tiles(strip[i, block], finite[i, block])
                    tiles[i].append((values[::stride], ok[::stride]))
        self.n_invalid = n_invalid
        check_band_values(self.path, self.bands, list(n_finite),
                          bool(np.all(high[n_finite > 0] == low[n_finite > 0])))
        calibration = BandCalibration(self.bands, nanomaggies, self.pixscale_arcsec)
        if nanomaggies:
            return calibration
        stats = []
        for i, band in enumerate(self.bands):
            values = np.concatenate([v for v, _ in tiles[i]]) if tiles[i] else np.zeros((0, 256))
            ok = np.concatenate([o for _, o in tiles[i]]) if tiles[i] else np.zeros((0, 256), bool)
            pixels = values[ok] if ok.any() else self.planes(
                0, min(self.shape[0], STRIP_ROWS), 0, self.shape[1])[i]
            stats.append(sky_level_and_noise(self.path, values, ok,
                                             pixels[np.isfinite(pixels)], band))
        target = calibration.target_sky_sigma
        return BandCalibration(
            self.bands, nanomaggies, self.pixscale_arcsec, sky=tuple(m for m, _ in stats),
            gain=tuple(target[BANDS.index(b)] / s for b, (_, s) in zip(self.bands, stats,
                                                                       strict=True)))

    def close(self) -> None:
        self._data = None
        self._hdul.close()

    def __enter__(self) -> FitsField:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"FitsField(name={self.name!r}, shape={self.shape}, bands={self.bands!r}, "
                f"pixscale_arcsec={self.pixscale_arcsec!r})")


class _FluxView:
    """``field.flux[rows, cols]``: the linear light of a window, read when sliced."""

    def __init__(self, field: FitsField) -> None:
        self.field = field
        self.shape = field.shape

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, cols = key
        y0, y1, _ = rows.indices(self.shape[0])
        x0, x1, _ = cols.indices(self.shape[1])
        return self.field.window(y0, y1, x0, x1)[2]
