"""Folders of vote-fraction maps as review sources: files, masks at a threshold, matching.

A source is a folder of the FITS files galseg writes:

* ``<name>_masks.fits`` from ``galseg segment`` (a model's predicted fractions,
  extensions ``SPIRAL_VOTE_FRACTION`` and ``BAR_VOTE_FRACTION``), masked as
  ``galseg segment --thresholds`` does: ``fraction * 15 >= votes - 0.5``;
* ``<name>_votes.fits`` from ``galseg labels`` (the volunteers' fractions, ``NVOTERS`` in
  the header), masked as ``galseg labels --thresholds`` does: ``votes >= threshold``.

Each galaxy's masks are drawn over its image (``--images``). Maps on another pixel grid
than the image (GZ3D's 0.099"/px against a survey cutout) are resampled onto the image's
WCS first. The three files of a galaxy are found by name (the file names without their
suffixes agree) or, for what is left, by sky position: the centres of the maps' and
images' WCS within ``radius_arcsec``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord, search_around_sky
from astropy.wcs import WCS

from galseg.data.images import image_name
from galseg.data.maps import (
    predicted_vote_mask,
    read_reference_grid,
    read_vote_fraction_fits,
    read_vote_maps_fits,
    threshold_mask,
)
from galseg.errors import InputFileError
from galseg.labels.rasterize import check_feature
from galseg.labels.resample import reproject_map, reproject_vote_maps

MAP_SUFFIXES = {"_masks.fits": "model", "_votes.fits": "crowd"}
"""File name endings of the two kinds of vote-fraction files, and what wrote them."""

SAME_GRID_TOLERANCE_PX = 0.05
"""Two WCS whose image corners agree within this many pixels are one grid."""


@dataclass(frozen=True)
class MapFile:
    """One vote-fraction file of a source folder.

    Attributes
    ----------
    path : pathlib.Path
    name : str
        The file name without ``_masks.fits`` / ``_votes.fits``.
    kind : {'model', 'crowd'}
        ``'model'`` for ``galseg segment`` output, ``'crowd'`` for ``galseg labels``.
    """

    path: Path
    name: str
    kind: str


@dataclass(frozen=True)
class Galaxy:
    """A galaxy both sources have maps of, and its image."""

    name: str
    image: Path
    a: MapFile
    b: MapFile


def find_map_files(folder: str | PathLike[str]) -> list[MapFile]:
    """The vote-fraction files of a source folder, sorted by name.

    Raises
    ------
    galseg.errors.InputFileError
        Not a folder, no such files, or two files of one name (``x_masks.fits`` and
        ``x_votes.fits``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(folder, "is not a folder of vote-fraction maps")
    found: dict[str, MapFile] = {}
    for path in sorted(folder.iterdir()):
        suffix = next((s for s in MAP_SUFFIXES if path.name.endswith(s)), None)
        if suffix is None or path.name.startswith(".") or not path.is_file():
            continue
        name = path.name[: -len(suffix)]
        if name in found:
            raise InputFileError(path, f"has the same name {name!r} as {found[name].path.name}; "
                                       "keep one of them")
        found[name] = MapFile(path, name, MAP_SUFFIXES[suffix])
    if not found:
        raise InputFileError(folder, "has no <name>_masks.fits (galseg segment) or "
                                     "<name>_votes.fits (galseg labels) files")
    return list(found.values())


def _corners(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    return np.array([[0, 0], [width - 1, 0], [0, height - 1], [width - 1, height - 1]], float)


def same_grid(wcs: WCS, shape: tuple[int, int], other_wcs: WCS, other_shape: tuple[int, int],
              ) -> bool:
    """True when two celestial WCS with their shapes describe the same pixel grid."""
    if tuple(shape) != tuple(other_shape):
        return False
    corners = _corners(shape)
    world = wcs.pixel_to_world_values(corners[:, 0], corners[:, 1])
    x, y = other_wcs.world_to_pixel_values(*world)
    return bool(np.all(np.hypot(x - corners[:, 0], y - corners[:, 1]) < SAME_GRID_TOLERANCE_PX))


def read_mask(map_file: MapFile, feature: str, threshold_votes: int, *,
              shape: tuple[int, int], wcs: WCS | None = None) -> np.ndarray:
    """The mask of ``feature`` at ``threshold_votes`` on an image's pixel grid.

    Parameters
    ----------
    map_file : MapFile
    feature : {'spiral', 'bar'}
    threshold_votes : int
        Votes out of the volunteers (15 for a model's predicted maps).
    shape : (int, int), keyword-only
        The image's ``(height, width)``.
    wcs : astropy.wcs.WCS, optional, keyword-only
        The image's celestial WCS. Maps with a WCS on another grid are resampled onto it
        (anti-aliased, :func:`galseg.labels.resample.reproject_map`) before the threshold.

    Returns
    -------
    ndarray of bool, shape ``shape``

    Raises
    ------
    galseg.errors.InputFileError
        Unreadable file, or a map on another grid than the image with no WCS to bring it
        there.
    """
    check_feature(feature)
    shape = (int(shape[0]), int(shape[1]))
    if map_file.kind == "crowd":
        maps = read_vote_maps_fits(map_file.path)
        map_wcs, map_shape = maps.wcs, maps.shape
    else:
        fraction, map_wcs = read_vote_fraction_fits(map_file.path, feature)
        fraction = np.nan_to_num(fraction)
        map_shape = fraction.shape
    resample = (wcs is not None and map_wcs is not None
                and not same_grid(map_wcs, map_shape, wcs, shape))
    if not resample and tuple(map_shape) != shape:
        raise InputFileError(map_file.path, f"maps of {map_shape[0]} x {map_shape[1]} px do not "
                                            f"match the image's {shape[0]} x {shape[1]} px, and "
                                            "without a WCS on both they cannot be resampled "
                                            "(galseg labels --match IMAGE.fits does it)")
    if map_file.kind == "crowd":
        if resample:
            maps = reproject_vote_maps(maps, wcs, shape)
        return threshold_mask(maps, feature, threshold_votes)
    if resample:
        fraction = reproject_map(fraction, map_wcs, wcs, shape)
    return predicted_vote_mask(fraction, threshold_votes)


def _centre(path: Path) -> SkyCoord | None:
    """Sky position of the centre of a file's first image with a celestial WCS."""
    try:
        wcs, (height, width) = read_reference_grid(path)
    except InputFileError:
        return None
    ra, dec = wcs.pixel_to_world_values((width - 1) / 2, (height - 1) / 2)
    return SkyCoord(float(ra) * u.deg, float(dec) * u.deg)


def _sky_pairs(left: Sequence[tuple[object, SkyCoord]], right: Sequence[tuple[object, SkyCoord]],
               radius_arcsec: float) -> list[tuple[object, object]]:
    """One-to-one matches within the radius, closest first."""
    if not left or not right:
        return []
    i, j, separation, _ = search_around_sky(SkyCoord([c for _, c in left]),
                                            SkyCoord([c for _, c in right]),
                                            radius_arcsec * u.arcsec)
    used_left: set[int] = set()
    used_right: set[int] = set()
    pairs = []
    for k in np.argsort(separation.arcsec, kind="stable"):
        if i[k] not in used_left and j[k] not in used_right:
            used_left.add(int(i[k]))
            used_right.add(int(j[k]))
            pairs.append((left[i[k]][0], right[j[k]][0]))
    return pairs


def _with_centres(items: Sequence[object], path_of) -> list[tuple[object, SkyCoord]]:
    centred = [(item, _centre(path_of(item))) for item in items]
    return [(item, centre) for item, centre in centred if centre is not None]


def match_galaxies(a_files: Sequence[MapFile], b_files: Sequence[MapFile],
                   images: Sequence[Path], *, radius_arcsec: float = 1.0,
                   ) -> tuple[list[Galaxy], list[str]]:
    """The galaxies both sources have maps of, with their images.

    Files are matched by name first; what is left, by the sky position of the centres of
    their WCS within ``radius_arcsec``.

    Returns
    -------
    galaxies : list of Galaxy
        Sorted by name (the image's name).
    unmatched : list of str
        One line per map file left without a partner or an image.
    """
    images_by_name = {image_name(path): path for path in images}
    b_by_name = {f.name: f for f in b_files}
    pairs = [(a, b_by_name.pop(a.name)) for a in a_files if a.name in b_by_name]
    paired = {a.name for a, _ in pairs}
    left_a = [a for a in a_files if a.name not in paired]
    left_b = list(b_by_name.values())
    if left_a and left_b:
        pairs += _sky_pairs(_with_centres(left_a, lambda f: f.path),
                            _with_centres(left_b, lambda f: f.path), radius_arcsec)
    paired_a = {a.path for a, _ in pairs}
    paired_b = {b.path for _, b in pairs}
    unmatched = [f"{f.path}: no map of the same galaxy in the other source"
                 for f in (*a_files, *b_files) if f.path not in paired_a | paired_b]

    found: dict[int, Path] = {}
    for k, (a, b) in enumerate(pairs):
        image = images_by_name.get(a.name) or images_by_name.get(b.name)
        if image is not None:
            found[k] = image
    used = set(found.values())
    rest = [k for k in range(len(pairs)) if k not in found]
    free_images = [path for path in images if path not in used]
    if rest and free_images:
        for k, image in _sky_pairs(_with_centres(rest, lambda k: pairs[k][0].path),
                                   _with_centres(free_images, lambda p: p), radius_arcsec):
            found[k] = image
    galaxies = []
    for k, (a, b) in enumerate(pairs):
        if k in found:
            galaxies.append(Galaxy(image_name(found[k]), found[k], a, b))
        else:
            unmatched.append(f"{a.path}: no image of this galaxy among the images")
    return sorted(galaxies, key=lambda g: g.name), unmatched
