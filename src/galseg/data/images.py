"""Images given to ``galseg segment``: read any input and make the model's colour image.

The model was trained on survey-style colour images (the Legacy Surveys asinh
stretch, :func:`galseg.data.colour.legacy_rgb`), so every input becomes one:
pictures (PNG, JPEG, TIFF) are used as they are; FITS band images (one band or
g, r, z) go through the stretch, after putting values that are not nanomaggies
on the nanomaggy scale by matching their sky noise to the training depth. The
exact rules, and why, are in ``docs/inputs.md``. Nothing is ever written.
"""

from __future__ import annotations

import glob
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.utils.exceptions import AstropyWarning
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales
from PIL import Image, UnidentifiedImageError

from galseg.data._fitsread import read_fits_checked
from galseg.data.colour import LEGACY_BAND_SCALES, LEGACY_NATIVE_PIXSCALE_ARCSEC, legacy_rgb
from galseg.data.survey import BANDS, ObservingConditions
from galseg.errors import InputFileError

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fz")
"""Suffixes read as FITS (so is any file starting with a FITS, gzip or bzip2 signature)."""

IMAGE_SUFFIXES = (*FITS_SUFFIXES, ".png", ".jpg", ".jpeg", ".tif", ".tiff")
"""Suffixes (case-insensitive) :func:`find_images` collects from folders and patterns."""

NANOMAGGY_UNITS = ("nanomagg", "nmgy")
"""A ``BUNIT`` containing one of these (any case) means nanomaggies per pixel."""

SKY_TILE_PIXELS = 16
"""Side of the square tiles whose statistics give the sky level and noise (see ``_sky``)."""

_FITS_MAGIC = (b"SIMPLE  ", b"\x1f\x8b", b"BZh")


@dataclass(frozen=True, eq=False, repr=False)
class InputImage:
    """One input image, ready for the model.

    Attributes
    ----------
    path : pathlib.Path or None
        File read; None for an array.
    name : str
        File name without image suffixes (``NGC1300.fits.gz`` -> ``NGC1300``).
    rgb : ndarray, shape (H, W, 3), float32, read-only
        Colour image in [0, 1]; for band images red = z, green = r, blue = g.
    wcs : astropy.wcs.WCS or None
        Two-axis celestial WCS of the pixel grid (FITS or given), else None.
    pixscale_arcsec : float or None
        Pixel scale: given by the user, else from the WCS, else None.
    header : astropy.io.fits.Header or None
        Header of the FITS image HDU read (a copy), for copying to outputs.
    valid : ndarray, shape (H, W), bool, read-only
        False where any band was NaN or infinite (shown as sky in ``rgb``).
    source_kind : str
        ``'rgb'`` (picture), ``'fits-1band'`` or ``'fits-3band'`` (band images,
        from FITS or an array).
    bands : str or None
        Band order of band images (``'grz'``, ``'r'``, ...); None for pictures.
    flux_scale : str
        ``'nanomaggies'`` (values used as given), ``'sky-noise'`` (sky subtracted,
        rescaled to the survey's sky noise) or ``'none'`` (pictures).
    flux : ndarray, shape (H, W), float32, read-only, or None
        Linear light for flux-weighted measurements (centroids) of band images: the
        r band (else the one band given) on the ``flux_scale``, 0 where not valid.
        None for pictures, whose 8-bit values are stretched and saturate.
    """

    path: Path | None
    name: str
    rgb: np.ndarray
    wcs: WCS | None
    pixscale_arcsec: float | None
    header: fits.Header | None
    valid: np.ndarray
    source_kind: str
    bands: str | None = None
    flux_scale: str = "none"
    flux: np.ndarray | None = None

    def __post_init__(self) -> None:
        rgb = np.asarray(self.rgb, dtype=np.float32)
        valid = np.asarray(self.valid, dtype=bool)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or valid.shape != rgb.shape[:2]:
            raise ValueError(f"rgb must be (H, W, 3), valid (H, W); got {rgb.shape}, {valid.shape}")
        arrays = [("rgb", rgb), ("valid", valid)]
        if self.flux is not None:
            flux = np.asarray(self.flux, dtype=np.float32)
            if flux.shape != valid.shape:
                raise ValueError(f"flux must be (H, W) like rgb, got {flux.shape}")
            arrays.append(("flux", flux))
        for field, array in arrays:
            view = array.view()  # read-only view: the caller's array keeps its flags
            view.setflags(write=False)
            object.__setattr__(self, field, view)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` in pixels."""
        return (int(self.rgb.shape[0]), int(self.rgb.shape[1]))

    def __repr__(self) -> str:
        return (
            f"InputImage(name={self.name!r}, shape={self.shape}, source_kind={self.source_kind!r}, "
            f"bands={self.bands!r}, flux_scale={self.flux_scale!r}, "
            f"pixscale_arcsec={self.pixscale_arcsec!r}, n_invalid={int((~self.valid).sum())})"
        )


def check_image_options(bands: str | None, pixscale_arcsec: float | None) -> None:
    """Refuse a bad ``bands`` or ``pixscale_arcsec`` option before any file is read."""
    if bands is not None and not (
        isinstance(bands, str)
        and ((len(bands) == 1 and bands in BANDS) or sorted(bands) == sorted(BANDS))
    ):
        raise ValueError(
            "bands must be one of 'g', 'r', 'z' (one-band images) or a permutation of 'grz' "
            f"(three-band images), got {bands!r}"
        )
    number = isinstance(pixscale_arcsec, int | float | np.number) and not isinstance(
        pixscale_arcsec, bool)
    if pixscale_arcsec is not None and not (number and 0 < pixscale_arcsec < np.inf):
        raise ValueError(f"pixscale_arcsec must be a positive number, got {pixscale_arcsec!r}")


def image_name(path: str | PathLike[str]) -> str:
    """A file's name without image and compression suffixes (``NGC1300.fits.gz`` -> ``NGC1300``).

    The one rule for an input's name: :class:`InputImage` names and the output files of
    ``galseg segment`` both use it.
    """
    name = Path(path).name
    for group in ((".gz", ".bz2", ".fz"), IMAGE_SUFFIXES):
        suffix = next((s for s in group if name.lower().endswith(s) and name != s), None)
        name = name[: -len(suffix)] if suffix else name
    return name


def sky_tiles(plane: np.ndarray, finite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The whole ``SKY_TILE_PIXELS`` square tiles of a band image as rows:
    ``(values, finite)``, each (n_tiles, SKY_TILE_PIXELS**2), row-major tile order."""
    size = SKY_TILE_PIXELS
    ny, nx = plane.shape[0] // size, plane.shape[1] // size

    def tiles(array: np.ndarray) -> np.ndarray:
        cropped = array[: ny * size, : nx * size]
        return cropped.reshape(ny, size, nx, size).swapaxes(1, 2).reshape(ny * nx, size * size)

    return tiles(plane), tiles(finite)


def sky_level_and_noise(source: str | Path, values: np.ndarray, ok: np.ndarray,
                        pixels: np.ndarray, band: str) -> tuple[float, float]:
    """Sky level and noise of one band from its tiles (:func:`sky_tiles`), with
    ``pixels`` (its finite values) for the fallback to whole-image statistics.

    Each 16 x 16 tile gets a sigma-clipped median and MAD-based sigma. The sky
    level is the median of the medians of the 20% quietest tiles (lowest sigma;
    constant tiles, i.e. padding, are left out); the noise is the median sigma of
    all tiles less than 1.3 times as noisy as those. Unlike whole-image statistics
    this holds when a galaxy fills most of the frame, the sky has a gradient or
    part of the image is padding (simulated 64-256 pixel cutouts: colour error
    0.01 against 0.04; a raw 512 pixel frame filled by M51: sky noise 2.5 counts
    against about 40). Images with fewer than 4 such tiles, and quantised data
    whose MAD is 0, fall back to whole-image statistics.
    """
    keep = ok.mean(axis=1) >= 0.5
    if keep.sum() >= 4:
        _, medians, sigmas = sigma_clipped_stats(
            values[keep], mask=~ok[keep], sigma=3.0, maxiters=5, stdfunc="mad_std", axis=1
        )
        medians, sigmas = np.asarray(medians), np.asarray(sigmas)
        medians, sigmas = medians[sigmas > 0], sigmas[sigmas > 0]
        if len(sigmas) >= 4:
            quiet = np.argsort(sigmas)[: max(2, int(np.ceil(0.2 * len(sigmas))))]
            quiet_sigma = np.median(sigmas[quiet])
            return float(np.median(medians[quiet])), float(
                np.median(sigmas[sigmas < 1.3 * quiet_sigma])
            )
    for stdfunc in ("mad_std", "std"):
        _, median, sigma = sigma_clipped_stats(pixels, maxiters=5, stdfunc=stdfunc)
        if sigma > 0:
            return float(median), float(sigma)
    raise InputFileError(
        source,
        f"image is constant in band {band} apart from a few pixels (sky noise 0), so it cannot "
        "be put on the survey's flux scale; give values in nanomaggies (BUNIT) instead",
    )


@dataclass(frozen=True)
class BandCalibration:
    """How band values become the model's colour image, pixel by pixel.

    Every step after the sky statistics is per pixel, so a window of an image
    calibrated with the whole image's statistics is the same window of the whole
    image's result (what :class:`galseg.data.fields.FitsField` relies on).

    Attributes
    ----------
    bands : str
        Band order of the planes.
    nanomaggies : bool
        Values are nanomaggies (used as given); else ``(value - sky) * gain``.
    pixscale_arcsec : float or None
        The image's pixel scale (None: the stretch uses the survey's native one).
    sky, gain : tuple of float
        Per plane (unused for nanomaggies).
    """

    bands: str
    nanomaggies: bool
    pixscale_arcsec: float | None
    sky: tuple[float, ...] = ()
    gain: tuple[float, ...] = ()

    @property
    def stretch_pixscale(self) -> float:
        return (LEGACY_NATIVE_PIXSCALE_ARCSEC if self.pixscale_arcsec is None
                else self.pixscale_arcsec)

    @property
    def target_sky_sigma(self) -> np.ndarray:
        """Survey sky noise per band at this pixel scale (what values are matched to)."""
        return ObservingConditions(pixscale_arcsec=self.stretch_pixscale).sky_sigma_per_pixel()

    def apply(self, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(n, H, W) float64 band values (changed in place) -> ``(rgb, valid, flux)``:
        (H, W, 3) float32 colour in [0, 1], (H, W) bool, (H, W) float32 linear light."""
        finite = np.isfinite(planes)
        if not self.nanomaggies:
            for i in range(len(self.bands)):
                planes[i] = (planes[i] - self.sky[i]) * self.gain[i]
        planes[~finite] = 0.0
        bands = self.bands
        flux = planes[bands.index("r") if "r" in bands else 0].astype(np.float32)
        stretch_bands = bands
        if len(bands) == 1:
            # The band in all three planes, each scaled to get this band's stretch: the
            # three colour channels come out equal (grey).
            scale = LEGACY_BAND_SCALES[bands]
            planes = np.stack([planes[0] * (scale / LEGACY_BAND_SCALES[b]) for b in BANDS])
            stretch_bands = BANDS
        rgb = legacy_rgb(planes, bands=stretch_bands, pixscale_arcsec=self.stretch_pixscale)
        return rgb.astype(np.float32) / np.float32(255.0), finite.all(axis=0), flux


def check_band_values(source: str | Path, bands: str, n_finite: Sequence[int],
                      constant: bool) -> None:
    """Refuse band images with no finite pixels in a band, or the same value everywhere."""
    for band, count in zip(bands, n_finite, strict=True):
        if not count:
            where = "" if len(bands) == 1 else f" in band {band}"
            raise InputFileError(source, f"no finite pixels{where} (all NaN or infinite)")
    if constant:
        raise InputFileError(source, "image is constant: every pixel has the same value")


def _from_bands(
    source: str | Path, planes: np.ndarray, *, bands: str, nanomaggies: bool,
    pixscale_arcsec: float | None, **fields: Any,
) -> InputImage:
    """(n, H, W) band images (n = 1 or 3) -> InputImage through the survey stretch."""
    planes = np.array(planes, dtype=np.float64)  # a copy: rescaled and filled in place
    if 0 in planes.shape[1:]:
        raise InputFileError(source, f"image has no pixels (shape {planes.shape[1:]})")
    finite = np.isfinite(planes)
    check_band_values(source, bands, [int(ok.sum()) for ok in finite],
                      all(np.ptp(plane[ok]) == 0 if ok.any() else True
                          for plane, ok in zip(planes, finite, strict=True)))
    calibration = BandCalibration(bands, nanomaggies, pixscale_arcsec)
    if not nanomaggies:
        # Unknown units: subtract the sky, then scale so that the sky noise equals the
        # survey depth the model was trained at (per band, at this pixel scale).
        target = calibration.target_sky_sigma
        stats = [sky_level_and_noise(source, *sky_tiles(planes[i], finite[i]),
                                     planes[i][finite[i]], band)
                 for i, band in enumerate(bands)]
        calibration = BandCalibration(
            bands, nanomaggies, pixscale_arcsec, sky=tuple(m for m, _ in stats),
            gain=tuple(target[BANDS.index(b)] / s for b, (_, s) in zip(bands, stats,
                                                                       strict=True)))
    rgb, valid, flux = calibration.apply(planes)
    return InputImage(
        rgb=rgb,
        valid=valid,
        pixscale_arcsec=None if pixscale_arcsec is None else float(pixscale_arcsec),
        source_kind=f"fits-{len(bands)}band",
        bands=bands,
        flux_scale="nanomaggies" if nanomaggies else "sky-noise",
        flux=flux,
        **fields,
    )


_BAND_SEPARATORS = re.compile(r"[\s,;/|+]+")


def header_band_names(value: object) -> str:
    """A header's band list as one letter per band, lower case: ``'grz'``, ``'g,r,z'``,
    ``'G R Z'`` and ``'g, r, z'`` all give ``'grz'``.

    A list separated by commas, spaces, semicolons, slashes, bars or plus signs whose
    items are not single letters (``'g,r,i2'``) is returned joined as it is, so that the
    caller's error message names what the header said.
    """
    text = str(value).strip().lower()
    items = [item for item in _BAND_SEPARATORS.split(text) if item]
    if all(len(item) == 1 for item in items):
        return "".join(items)
    return text


def band_order(
    source: str | Path, n_bands: int, bands: str | None, header: fits.Header | None
) -> str:
    if bands is not None:
        if len(bands) != n_bands:
            raise InputFileError(source, f"has {n_bands} band(s) but bands={bands!r} is given")
        return bands
    header = fits.Header() if header is None else header
    stated = header_band_names(header.get("BANDS", ""))
    if not stated and n_bands == 3:
        stated = "".join(str(header.get(f"BAND{i}", "")).strip().lower() for i in range(3))
    if n_bands == 1:
        return stated if len(stated) == 1 and stated in BANDS else "r"
    if stated and sorted(stated) != sorted(BANDS):
        raise InputFileError(
            source,
            f"header says the bands are {stated!r}; galseg needs g, r and z planes "
            "(pass bands='grz' or the right order if the header is wrong)",
        )
    return stated or BANDS  # default: the Legacy Surveys cutout service's order


def _planes(source: str | Path, data: np.ndarray) -> np.ndarray:
    """Band data -> (n, H, W) with n = 1 or 3, or InputFileError saying what was found."""
    shape = data.shape
    while data.ndim > 2 and data.shape[0] == 1:
        data = data[0]
    if data.ndim == 2:
        return data[np.newaxis]
    if data.ndim == 3 and data.shape[0] == 3:
        return data
    if data.ndim != 3:
        raise InputFileError(
            source, f"has {len(shape)}-dimensional data {shape}; galseg reads (H, W) or (3, H, W)"
        )
    hint = " (a colour picture? give it as 8-bit PNG/JPEG)" if shape[-1] in (3, 4) else ""
    raise InputFileError(
        source,
        f"has {data.shape[0]} bands (data shape {shape}); galseg reads one band (H, W) or "
        f"three bands g, r, z as a (3, H, W) cube{hint}",
    )


def _wcs_pixscale(source: str | Path, wcs: WCS) -> float:
    # wcslib gives celestial axes in degrees, whatever CUNIT the header had
    pixscale = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600.0
    if not (np.isfinite(pixscale) and pixscale > 0):
        raise InputFileError(
            source, f"WCS gives pixel scale {pixscale} arcsec; fix it or pass pixscale_arcsec"
        )
    return pixscale


def header_wcs(path: str | Path, header: fits.Header, pixscale_arcsec: float | None
               ) -> tuple[WCS | None, float | None]:
    """The two-axis celestial WCS of a FITS header (None if it has none) and the pixel
    scale: ``pixscale_arcsec`` when given, else the WCS's, else None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)  # FITSFixedWarning: fixed, nothing to say
        try:
            wcs = WCS(header).celestial
        except (ValueError, KeyError, TypeError, MemoryError) as error:
            raise InputFileError(path, f"header has an invalid WCS ({error})") from None
    wcs = wcs if wcs.naxis == 2 and wcs.has_celestial else None
    if pixscale_arcsec is None and wcs is not None:
        pixscale_arcsec = _wcs_pixscale(path, wcs)
    return wcs, pixscale_arcsec


def image_hdu(path: Path, hdul: fits.HDUList, hdu: int | str | None) -> Any:
    def has_image(h: Any) -> bool:
        return getattr(h, "is_image", False) and len(h.shape) >= 2

    if hdu is None:
        found = next((h for h in hdul if has_image(h)), None)
        if found is None:
            raise InputFileError(path, "holds no image HDU (only tables or empty HDUs)")
        return found
    try:
        chosen = hdul[hdu]
    except (KeyError, IndexError):
        raise InputFileError(path, f"has no HDU {hdu!r} ({len(hdul)} HDUs)") from None
    if not has_image(chosen):
        raise InputFileError(path, f"HDU {hdu!r} holds no image (shape {chosen.shape})")
    return chosen


def _read_fits(path: Path, *, hdu: int | str | None, bunit: str | None, bands: str | None,
               pixscale_arcsec: float | None) -> InputImage:
    def read(hdul: fits.HDUList) -> tuple[np.ndarray, fits.Header]:
        chosen = image_hdu(path, hdul, hdu)
        return np.asarray(chosen.data), chosen.header.copy()  # loads (so checks) data

    data, header = read_fits_checked(path, read)
    planes = _planes(path, data)
    wcs, pixscale_arcsec = header_wcs(path, header, pixscale_arcsec)
    return _from_bands(
        path, planes,
        bands=band_order(path, len(planes), bands, header),
        nanomaggies=is_nanomaggies(header.get("BUNIT") if bunit is None else bunit),
        pixscale_arcsec=pixscale_arcsec,
        path=path, name=image_name(path), wcs=wcs, header=header,
    )


def is_nanomaggies(unit: object) -> bool:
    return unit is not None and any(key in str(unit).lower() for key in NANOMAGGY_UNITS)


def _picture_values(path: Path, image: Image.Image) -> np.ndarray:
    """A loaded PIL image -> (H, W, 3) float32 in [0, 1]."""
    mode = image.mode
    if mode == "F":
        raise InputFileError(path, "holds floating-point pixels; save the band image as FITS")
    if mode.startswith("I"):  # 16-bit greyscale PNG/TIFF: 'I;16', 'I;16B', 'I'
        grey = np.clip(np.asarray(image, dtype=np.float32) / 65535.0, 0.0, 1.0)
    elif mode in ("L", "LA", "1"):
        grey = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    else:  # RGB, RGBA, palette, CMYK, ...; palette via RGBA keeps PIL quiet about transparency
        target = "RGBA" if mode in ("P", "PA") else "RGB"
        return np.asarray(image.convert(target), dtype=np.float32)[..., :3] / 255.0
    return np.repeat(grey[..., np.newaxis], 3, axis=2)


def _read_picture(path: Path, pixscale_arcsec: float | None) -> InputImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL warns about odd metadata that changes nothing here
        try:
            with Image.open(path) as image:
                if 0 in image.size:
                    raise InputFileError(path, f"image has no pixels (size {image.size})")
                image.load()  # raises on a truncated file (LOAD_TRUNCATED_IMAGES is left unset)
                rgb = _picture_values(path, image)
        except InputFileError:
            raise
        except UnidentifiedImageError:
            raise InputFileError(path, "is not a FITS, PNG, JPEG or TIFF image") from None
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise InputFileError(path, f"not a readable image ({error})") from None
    return InputImage(
        path=path, name=image_name(path), rgb=rgb, wcs=None,
        pixscale_arcsec=None if pixscale_arcsec is None else float(pixscale_arcsec),
        header=None, valid=np.ones(rgb.shape[:2], dtype=bool), source_kind="rgb",
    )


def read_image(
    path: str | PathLike[str],
    *,
    bands: str | None = None,
    pixscale_arcsec: float | None = None,
    hdu: int | str | None = None,
    bunit: str | None = None,
) -> InputImage:
    """Read an image file and make the model's colour image from it.

    FITS is recognised by the file's first bytes (FITS, gzip or bzip2 signature)
    or its suffix (:data:`FITS_SUFFIXES`); anything else is opened with Pillow.

    Parameters
    ----------
    path : str or path-like
    bands : str, optional, keyword-only
        FITS band order: a permutation of ``'grz'`` for a (3, H, W) cube, or
        ``'g'``, ``'r'`` or ``'z'`` for one band (whose stretch is used; default
        ``'r'``). Default: header ``BANDS`` (or ``BAND0..2``), else ``'grz'``.
        Pictures ignore ``bands``, ``hdu`` and ``bunit``.
    pixscale_arcsec : float, optional, keyword-only
        Pixel scale; overrides the WCS's. The stretch and the noise matching use
        0.262 arcsec when neither gives one.
    hdu : int or str, optional, keyword-only
        FITS HDU index or EXTNAME; default the first HDU with an image.
    bunit : str, optional, keyword-only
        Unit of FITS values, overriding header ``BUNIT`` (``'nanomaggy'`` for
        survey cutouts written without ``BUNIT``).

    Returns
    -------
    InputImage

    Raises
    ------
    galseg.errors.InputFileError
        Missing, empty, truncated or unreadable file; FITS data with other than 1
        or 3 bands, no finite pixels or constant values.
    ValueError
        Invalid ``bands`` or ``pixscale_arcsec``.
    """
    path = Path(path)
    check_image_options(bands, pixscale_arcsec)
    if hdu is not None and (isinstance(hdu, bool) or not isinstance(hdu, int | str)):
        raise TypeError(f"hdu must be an HDU index (int) or EXTNAME (str), got {hdu!r}")
    try:
        with path.open("rb") as stream:
            start = stream.read(8)
    except FileNotFoundError:
        raise InputFileError(path, "file does not exist") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not an image file") from None
    except OSError as error:
        raise InputFileError(path, f"cannot be read ({error.strerror or error})") from None
    if not start:
        raise InputFileError(path, "file is empty")
    if start.startswith(_FITS_MAGIC) or path.name.lower().endswith(FITS_SUFFIXES):
        return _read_fits(path, hdu=hdu, bunit=bunit, bands=bands, pixscale_arcsec=pixscale_arcsec)
    return _read_picture(path, pixscale_arcsec)


def image_from_array(
    array: np.ndarray,
    *,
    name: str = "array",
    wcs: WCS | None = None,
    pixscale_arcsec: float | None = None,
    bands: str | None = None,
    bunit: str | None = None,
) -> InputImage:
    """:func:`read_image` for an in-memory array (``path`` None).

    Parameters
    ----------
    array : ndarray
        A uint8 picture, ``(H, W, 3)``, ``(H, W, 4)`` or greyscale ``(H, W)``, used
        as it is; or band images under the FITS rules: any other numeric ``(H, W)``
        (one band) or ``(3, H, W)`` array.
    name : str, keyword-only
        Name of the image, also used in error messages.
    wcs : astropy.wcs.WCS, optional, keyword-only
        Celestial WCS; gives the pixel scale unless ``pixscale_arcsec`` is given.
    pixscale_arcsec, bands, bunit : keyword-only
        As in :func:`read_image`; without ``bunit``, band values are noise-matched.

    Raises
    ------
    ValueError
        Wrong shape, dtype or options; :class:`~galseg.errors.InputFileError` (a
        ValueError) for other than 1 or 3 bands, no finite pixels or constant values.
    """
    check_image_options(bands, pixscale_arcsec)
    array = np.asarray(array)
    if wcs is not None:
        if not isinstance(wcs, WCS) or not wcs.has_celestial or wcs.celestial.naxis != 2:
            raise ValueError("wcs must be an astropy WCS with two celestial axes, or None")
        wcs = wcs.celestial
        if pixscale_arcsec is None:
            pixscale_arcsec = _wcs_pixscale(name, wcs)
    pixscale = None if pixscale_arcsec is None else float(pixscale_arcsec)
    picture = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    if array.dtype == np.uint8 and picture:
        if 0 in array.shape:
            raise ValueError(f"array has no pixels (shape {array.shape})")
        rgb = array[..., :3] if array.ndim == 3 else np.repeat(array[..., np.newaxis], 3, axis=2)
        return InputImage(
            path=None, name=name, rgb=rgb.astype(np.float32) / np.float32(255.0), wcs=wcs,
            pixscale_arcsec=pixscale, header=None, valid=np.ones(array.shape[:2], dtype=bool),
            source_kind="rgb",
        )
    if array.dtype.kind not in "fiu":
        raise ValueError(f"array must be numeric, got dtype {array.dtype}")
    planes = _planes(name, array)
    return _from_bands(
        name, planes, bands=band_order(name, len(planes), bands, None),
        nanomaggies=is_nanomaggies(bunit), pixscale_arcsec=pixscale,
        path=None, name=name, wcs=wcs, header=None,
    )


def _is_image_file(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and name.endswith(IMAGE_SUFFIXES) and path.is_file()


def find_images(inputs: Sequence[str | PathLike[str]] | str | PathLike[str]) -> list[Path]:
    """Expand command-line inputs into image files.

    Parameters
    ----------
    inputs : sequence of str or path-like, or one of them
        Files (kept in the order given, whatever their suffix); folders (their
        :data:`IMAGE_SUFFIXES` files, sorted, not recursive, hidden files skipped);
        glob patterns with ``*``, ``?`` or ``[`` (only where no such file exists;
        matching image files, sorted).

    Returns
    -------
    list of pathlib.Path
        Each file once, where it first appears.

    Raises
    ------
    galseg.errors.InputFileError
        A path that does not exist and matches nothing, or a folder with no images.
    """
    if isinstance(inputs, str | PathLike):
        inputs = [inputs]
    found: dict[Path, Path] = {}
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if _is_image_file(p))
            if not files:
                raise InputFileError(path, f"folder has no {'/'.join(IMAGE_SUFFIXES)} files")
        elif path.exists():
            files = [path]
        elif any(c in str(item) for c in "*?["):
            files = sorted(p for p in map(Path, glob.glob(str(path))) if _is_image_file(p))
            if not files:
                raise InputFileError(item, "pattern matches no image files")
        else:
            raise InputFileError(path, "file does not exist")
        for file in files:
            found.setdefault(file.resolve(), file)
    return list(found.values())
