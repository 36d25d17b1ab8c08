"""Lossless storage of vote maps: FITS (float32 fractions + WCS) and 16-bit PNG.

FITS layout written by :func:`write_vote_maps_fits`:

======================  ===============================================================
HDU                     content
======================  ===============================================================
0 (primary, no data)    ``NVOTERS`` (volunteers who classified the galaxy), ``COUNTINT``
SPIRAL_VOTE_FRACTION    float32 (H, W) fraction of volunteers marking each pixel; WCS;
                        ``NVOTERS`` (denominator), ``NMARKERS``, ``COUNTINT``
BAR_VOTE_FRACTION       the same for the bar
SPIRAL_MASK_TH<k>, ...  optional uint8 masks, 1 where at least ``k`` volunteers voted
======================  ===============================================================

``COUNTINT = T`` says the fractions are exact ``k / NVOTERS`` with integer
``k``: :func:`read_vote_maps_fits` then recovers the integer counts exactly
(``round(fraction * NVOTERS)``; float32 is exact for that up to millions of
volunteers). ``COUNTINT = F`` marks resampled maps (expected votes).

PNG (:func:`write_vote_fraction_png`): one 16-bit grayscale PNG per feature
holding ``round(fraction * 65535)``, with ``NVOTERS``, ``FEATURE``,
``COUNTINT`` and ``NMARKERS`` in text chunks. 65535 = 15 * 4369, so ``k / 15``
is stored exactly, and for any ``NVOTERS`` below 65535 the reader recovers the
integer counts exactly (``round(value * NVOTERS / 65535)``). NaN is stored as
0. Never JPEG: lossy compression changes the labels.

All writers are atomic (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from galseg import __version__
from galseg.data._atomic import write_bytes_atomic
from galseg.data._fitsread import read_fits_checked
from galseg.data.encode import fits_bytes, png_bytes
from galseg.data.gz3d import read_gz3d
from galseg.errors import InputFileError
from galseg.labels.rasterize import FEATURES, VoteMaps, check_feature
from galseg.labels.rasterize import vote_maps as make_vote_maps
from galseg.labels.resample import reproject_vote_maps

PNG_SCALE = 65535
"""Full scale of the 16-bit PNG: a fraction f is stored as round(f * 65535)."""

N_VOLUNTEERS = 15
"""Volunteers per galaxy in GZ3D: predicted vote fractions are fractions of this many,
and thresholds on them are votes out of it."""


def predicted_vote_mask(vote_fraction: np.ndarray, threshold_votes: float,
                        n_volunteers: int = N_VOLUNTEERS) -> np.ndarray:
    """Pixels where a predicted vote-fraction map reaches ``threshold_votes`` votes.

    The rule of ``galseg segment --thresholds`` (Rey Deutsch et al. 2023 thresholds
    th = 1..6 of 15): ``fraction * n_volunteers >= threshold_votes - 0.5``. A predicted
    fraction is an expected vote count, hence the half vote of tolerance; the volunteers'
    own maps use whole votes (:meth:`VoteMaps.mask`).
    """
    return np.asarray(vote_fraction) * n_volunteers >= threshold_votes - 0.5


def fraction_extname(feature: str) -> str:
    """FITS extension name of ``feature``'s vote fraction, e.g. 'SPIRAL_VOTE_FRACTION'."""
    return f"{check_feature(feature).upper()}_VOTE_FRACTION"


def mask_extname(feature: str, threshold_votes: int) -> str:
    """FITS extension name of a threshold mask, e.g. 'SPIRAL_MASK_TH3'."""
    return f"{check_feature(feature).upper()}_MASK_TH{int(threshold_votes)}"


def measured_mask_extname(feature: str) -> str:
    """FITS extension name of the mask a feature was measured on, e.g. 'SPIRAL_MASK'."""
    return f"{check_feature(feature).upper()}_MASK"


def _check_thresholds(thresholds: Iterable[int]) -> list[int]:
    result = []
    for th in thresholds:
        if isinstance(th, bool) or not isinstance(th, int | np.integer) or th < 1:
            raise ValueError(f"thresholds must be positive integers (votes), got {th!r}")
        result.append(int(th))
    return sorted(set(result))


def threshold_mask(vote_maps: VoteMaps, feature: str, threshold_votes: int) -> np.ndarray:
    """``vote_maps.mask(feature, th)``, or all False when ``th`` exceeds the volunteers.

    A batch asks every galaxy for the same thresholds; a galaxy with fewer
    volunteers than the threshold simply has no pixel reaching it.
    """
    if threshold_votes > vote_maps.n_voters(feature):
        return np.zeros(vote_maps.shape, dtype=bool)
    return vote_maps.mask(feature, threshold_votes)


def _feature_cards(vote_maps: VoteMaps, feature: str) -> list[tuple[str, object, str]]:
    cards: list[tuple[str, object, str]] = [
        ("FEATURE", feature, "what volunteers drew polygons around"),
        ("NVOTERS", vote_maps.n_voters(feature), "volunteers asked (fraction denominator)"),
        ("COUNTINT", vote_maps.counts_are_integer, "fraction * NVOTERS is an integer count"),
    ]
    if vote_maps.n_markers(feature) is not None:
        cards.append(("NMARKERS", vote_maps.n_markers(feature), "volunteers who drew a polygon"))
    return cards


def write_vote_maps_fits(
    path: str | PathLike[str],
    vote_maps: VoteMaps,
    *,
    thresholds: Sequence[int] = (),
    overwrite: bool = True,
) -> Path:
    """Write vote fractions (and optional threshold masks) to FITS, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination, conventionally ``<galaxy>_votes.fits``.
    vote_maps : VoteMaps
    thresholds : sequence of int, keyword-only
        Vote thresholds ``k``: add ``SPIRAL_MASK_TH<k>`` and ``BAR_MASK_TH<k>``
        (uint8, 1 where at least ``k`` volunteers voted; all 0 if ``k`` exceeds
        the number of volunteers).
    overwrite : bool, keyword-only
        Replace an existing file (default True).

    Returns
    -------
    pathlib.Path
    """
    thresholds = _check_thresholds(thresholds)
    primary = fits.PrimaryHDU()
    primary.header["NVOTERS"] = (vote_maps.n_volunteers, "volunteers who classified the galaxy")
    primary.header["COUNTINT"] = (vote_maps.counts_are_integer, "fractions are exact k/NVOTERS")
    primary.header["ORIGIN"] = (f"galseg {__version__}", "software that wrote the file")
    wcs_header = vote_maps.wcs.to_header() if vote_maps.wcs is not None else fits.Header()
    hdus = [primary]
    for feature in FEATURES:
        hdu = fits.ImageHDU(
            vote_maps.vote_fraction(feature), header=wcs_header, name=fraction_extname(feature)
        )
        for card in _feature_cards(vote_maps, feature):
            hdu.header[card[0]] = card[1:]
        hdus.append(hdu)
    for th in thresholds:
        for feature in FEATURES:
            mask = threshold_mask(vote_maps, feature, th).astype(np.uint8)
            hdu = fits.ImageHDU(mask, header=wcs_header, name=mask_extname(feature, th))
            hdu.header["THRESH"] = (th, "pixel is 1 where votes >= THRESH")
            hdu.header["NVOTERS"] = (vote_maps.n_voters(feature), "volunteers asked")
            hdus.append(hdu)
    return write_bytes_atomic(path, fits_bytes(hdus), overwrite=overwrite)


def _header_int(path: Path, header: fits.Header, key: str, extname: str) -> int:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputFileError(
            path, f"extension {extname} lacks a valid {key} keyword (got {value!r})"
        )
    return value


def _fraction_hdu(path: Path, hdul: fits.HDUList, feature: str) -> tuple[np.ndarray, fits.Header]:
    """The (H, W) float64 fraction map of ``feature`` and its header; clear errors."""
    extname = fraction_extname(feature)
    if extname not in hdul:
        raise InputFileError(path, f"has no {extname} extension")
    hdu = hdul[extname]
    fraction = np.asarray(hdu.data, dtype=np.float64)
    if fraction.ndim != 2:
        raise InputFileError(path, f"{extname} is not a 2-D image")
    return fraction, hdu.header


def _header_wcs(header: fits.Header) -> WCS | None:
    if "CTYPE1" not in header:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header, naxis=2)


def read_vote_fraction_fits(path: str | PathLike[str], feature: str,
                            ) -> tuple[np.ndarray, WCS | None]:
    """One feature's vote-fraction map and its WCS (None if it has none), from any galseg
    FITS of vote fractions: ``galseg labels``' ``<name>_votes.fits`` or ``galseg
    segment``'s ``<name>_masks.fits`` (predicted fractions, no ``NVOTERS``).

    Raises
    ------
    galseg.errors.InputFileError
        Missing or unreadable file, no such extension, not a 2-D map.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file does not exist")

    def read(hdul: fits.HDUList) -> tuple[np.ndarray, WCS | None]:
        fraction, header = _fraction_hdu(path, hdul, check_feature(feature))
        return fraction, _header_wcs(header)

    return read_fits_checked(path, read)


def read_vote_maps_fits(path: str | PathLike[str]) -> VoteMaps:
    """Read maps written by :func:`write_vote_maps_fits`.

    Returns
    -------
    VoteMaps
        Integer counts recovered exactly when the file says ``COUNTINT = T``,
        otherwise float counts ``fraction * NVOTERS``; the WCS if the file has one.

    Raises
    ------
    galseg.errors.InputFileError
        Missing or unreadable file, missing extension or keyword.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file does not exist")
    counts, voters, markers = {}, {}, {}

    def read(hdul: fits.HDUList) -> WCS | None:
        wcs = None
        for feature in FEATURES:
            fraction, header = _fraction_hdu(path, hdul, feature)
            n = _header_int(path, header, "NVOTERS", fraction_extname(feature))
            expected = fraction * n
            counts[feature] = (
                np.rint(expected).astype(np.int32) if header.get("COUNTINT") else expected
            )
            voters[feature] = n
            markers[feature] = header.get("NMARKERS")
            if wcs is None:
                wcs = _header_wcs(header)
        return wcs

    wcs = read_fits_checked(path, read)
    return VoteMaps(
        counts["spiral"],
        counts["bar"],
        n_volunteers=voters,
        wcs=wcs,
        n_spiral_markers=markers["spiral"],
        n_bar_markers=markers["bar"],
    )


# ----------------------------------------------------------------------------------
# 16-bit PNG
# ----------------------------------------------------------------------------------
def _png_values(vote_maps: VoteMaps, feature: str) -> np.ndarray:
    n = vote_maps.n_voters(feature)
    count = vote_maps.count(feature)
    if n == 0:
        return np.zeros(vote_maps.shape, dtype=np.uint16)
    if vote_maps.counts_are_integer:
        # Integer arithmetic: round(k * 65535 / n) with no float error.
        k = count.astype(np.int64)
        return ((2 * k * PNG_SCALE + n) // (2 * n)).astype(np.uint16)
    fraction = np.nan_to_num(np.clip(count / n, 0.0, 1.0), nan=0.0)
    return np.rint(fraction * PNG_SCALE).astype(np.uint16)


def write_vote_fraction_png(
    path: str | PathLike[str], vote_maps: VoteMaps, feature: str, *, overwrite: bool = True
) -> Path:
    """Write ``feature``'s vote fraction as a 16-bit grayscale PNG, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination, conventionally ``<galaxy>_spiral.png`` / ``<galaxy>_bar.png``.
    vote_maps : VoteMaps
    feature : {'spiral', 'bar'}
    overwrite : bool, keyword-only

    Returns
    -------
    pathlib.Path
    """
    check_feature(feature)
    n = vote_maps.n_voters(feature)
    if vote_maps.counts_are_integer and n >= PNG_SCALE:
        raise ValueError(
            f"{n} volunteers is too many for exact 16-bit PNG storage (at most 65534); use FITS"
        )
    info = PngImagePlugin.PngInfo()
    info.add_text("FEATURE", feature)
    info.add_text("NVOTERS", str(n))
    info.add_text("COUNTINT", "T" if vote_maps.counts_are_integer else "F")
    if vote_maps.n_markers(feature) is not None:
        info.add_text("NMARKERS", str(vote_maps.n_markers(feature)))
    info.add_text("Software", f"galseg {__version__}")
    return write_bytes_atomic(path, png_bytes(_png_values(vote_maps, feature), info=info),
                              overwrite=overwrite)


def read_vote_fraction_png(path: str | PathLike[str]) -> tuple[np.ndarray, dict[str, object]]:
    """Read a PNG written by :func:`write_vote_fraction_png`.

    Returns
    -------
    count : ndarray, shape (H, W)
        Exact int32 counts if the PNG says ``COUNTINT = T``, else float64
        expected votes ``value * NVOTERS / 65535``.
    info : dict
        ``feature`` (str), ``n_voters`` (int), ``n_markers`` (int or None),
        ``counts_are_integer`` (bool).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            text = dict(getattr(image, "text", {}))
            values = np.asarray(image)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise InputFileError(path, f"not a readable PNG file ({error})") from None
    if values.ndim != 2 or values.dtype not in (np.uint16, np.int32):
        raise InputFileError(
            path, f"is not a 16-bit grayscale vote map (shape {values.shape}, dtype {values.dtype})"
        )
    try:
        n = int(text["NVOTERS"])
        feature = check_feature(text["FEATURE"])
    except (KeyError, ValueError):
        raise InputFileError(path, "lacks valid NVOTERS and FEATURE text chunks") from None
    exact = text.get("COUNTINT", "F") == "T"
    expected = values.astype(np.float64) * n / PNG_SCALE
    count = np.rint(expected).astype(np.int32) if exact else expected
    markers = text.get("NMARKERS")
    info = {
        "feature": feature,
        "n_voters": n,
        "n_markers": None if markers is None else int(markers),
        "counts_are_integer": exact,
    }
    return count, info


def write_vote_maps_png(
    stem: str | PathLike[str], vote_maps: VoteMaps, *, overwrite: bool = True
) -> tuple[Path, Path]:
    """Write ``<stem>_spiral.png`` and ``<stem>_bar.png``; returns both paths."""
    stem = Path(stem)
    return tuple(
        write_vote_fraction_png(
            stem.with_name(f"{stem.name}_{feature}.png"), vote_maps, feature, overwrite=overwrite
        )
        for feature in FEATURES
    )


def read_vote_maps_png(stem: str | PathLike[str], *, wcs: WCS | None = None) -> VoteMaps:
    """Read ``<stem>_spiral.png`` and ``<stem>_bar.png`` back into :class:`VoteMaps`.

    PNG has no WCS; pass ``wcs`` to attach one.
    """
    stem = Path(stem)
    counts, voters, markers = {}, {}, {}
    for feature in FEATURES:
        path = stem.with_name(f"{stem.name}_{feature}.png")
        counts[feature], info = read_vote_fraction_png(path)
        if info["feature"] != feature:
            raise InputFileError(path, f"holds the {info['feature']} map, expected {feature}")
        voters[feature], markers[feature] = info["n_voters"], info["n_markers"]
    return VoteMaps(
        counts["spiral"],
        counts["bar"],
        n_volunteers=voters,
        wcs=wcs,
        n_spiral_markers=markers["spiral"],
        n_bar_markers=markers["bar"],
    )


# ----------------------------------------------------------------------------------
# Label products of one GZ3D file (what `galseg labels` writes)
# ----------------------------------------------------------------------------------
_FITS_SUFFIXES = (".fits.gz", ".fit.gz", ".fts.gz", ".fits", ".fit", ".fts")


def label_stem(gz3d_path: str | PathLike[str]) -> str:
    """Output name stem of a GZ3D file: its name without ``.fits``/``.fits.gz``.

    ``gz3d_1-167242_127_5679242.fits.gz`` -> ``gz3d_1-167242_127_5679242``.
    """
    name = Path(gz3d_path).name
    for suffix in _FITS_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_reference_grid(path: str | PathLike[str]) -> tuple[WCS, tuple[int, int]]:
    """Celestial WCS and ``(height, width)`` of a reference FITS image (e.g. a survey cutout).

    Uses the first HDU holding an image with a celestial WCS; for a data cube
    the last two axes are the image.

    Raises
    ------
    galseg.errors.InputFileError
        Missing or unreadable file, or no image HDU with a celestial WCS.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file does not exist")
    try:
        with fits.open(path) as hdul, warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            for hdu in hdul:
                if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
                    continue
                shape = hdu.shape
                if len(shape) < 2:
                    continue
                wcs = WCS(hdu.header).celestial
                if wcs.naxis == 2 and wcs.has_celestial:
                    return wcs, (int(shape[-2]), int(shape[-1]))
    except (OSError, ValueError, TypeError) as error:
        raise InputFileError(path, f"not a readable FITS image ({error})") from None
    raise InputFileError(path, "has no image HDU with a celestial WCS to match")


def write_label_files(
    gz3d_path: str | PathLike[str],
    out_dir: str | PathLike[str],
    *,
    png: bool = False,
    thresholds: Sequence[int] = (),
    match: tuple[WCS, Sequence[int]] | None = None,
    method: str = "adaptive",
) -> list[Path]:
    """Vote maps of one GZ3D file, written to ``out_dir``; returns the paths written.

    Writes ``<stem>_votes.fits`` (:func:`write_vote_maps_fits`, ``stem`` from
    :func:`label_stem`) and, with ``png``, ``<stem>_spiral.png`` and
    ``<stem>_bar.png``.

    Parameters
    ----------
    gz3d_path : str or path-like
        A GZ3D file (:func:`galseg.data.gz3d.read_gz3d`).
    out_dir : str or path-like
        Existing output folder.
    png : bool, keyword-only
        Also write 16-bit PNGs.
    thresholds : sequence of int, keyword-only
        Vote thresholds for mask extensions.
    match : (WCS, (height, width)), keyword-only
        Resample onto this grid (:func:`read_reference_grid`) with ``method``.
    method : {'adaptive', 'exact', 'bilinear', 'nearest'}, keyword-only
        Resampling method for ``match`` (see :mod:`galseg.labels.resample`).

    Raises
    ------
    galseg.errors.InputFileError
        The GZ3D file cannot be used.
    """
    thresholds = _check_thresholds(thresholds)
    maps = make_vote_maps(read_gz3d(gz3d_path))
    if match is not None:
        target_wcs, target_shape = match
        maps = reproject_vote_maps(maps, target_wcs, target_shape, method=method)
    stem = Path(out_dir) / label_stem(gz3d_path)
    written = [
        write_vote_maps_fits(stem.with_name(f"{stem.name}_votes.fits"), maps, thresholds=thresholds)
    ]
    if png:
        written.extend(write_vote_maps_png(stem, maps))
    return written
