"""Stellarium's deep-sky image textures: which file shows which patch of sky.

Debian's ``stellarium-data`` package ships a few hundred small colour images of nebulae,
clusters and galaxies (``usr/share/stellarium/nebulae/default/*.png``) with a
``textures.json`` that places each on the sky: ``imageUrl`` and ``worldCoords``, the RA
and Dec (degrees) of the image's four corners. galseg uses the resolved NGC, IC and UGC
galaxies among them as real images to label bars on by eye (``docs/bar_labels.md``;
``scripts/get_stellarium.sh`` downloads and unpacks the package). The Messier images are
left out on purpose: they are kept for independent checks.

``textures.json`` is not strict JSON (numbers such as ``-.9794``, trailing commas), so
:func:`read_stellarium_textures` repairs those before parsing.
"""

from __future__ import annotations

import json
import re
from os import PathLike
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table

from galseg.errors import InputFileError

TEXTURES_SUBDIR = Path("usr/share/stellarium/nebulae/default")
"""Where the textures lie inside the unpacked package."""

NEW_GENERAL_PREFIXES = {"n": "NGC", "ic": "IC", "ugc": "UGC"}
"""File-name prefix of a texture -> catalogue (``n1300.png`` is NGC 1300)."""

_TEXTURE_NAME = re.compile(r"^(?P<prefix>n|ic|ugc)(?P<number>\d+)(?P<rest>[-_a-z0-9]*)\.png$")
_MESSIER_NAME = re.compile(r"^m(\d+)")
_BARE_DECIMAL = re.compile(r"(?<=[\[,:\s])(-?)\.(\d)")
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")


def catalogue_designation(image_file: str) -> str | None:
    """``'NGC 1300'`` for ``n1300.png`` (also ``n2903oleg.png``, ``ic342.png``); None for
    any other texture (Messier, Barnard, LMC tiles, ...) and for merged ones (``n4038-9``)."""
    match = _TEXTURE_NAME.match(Path(image_file).name.lower())
    if match is None or re.match(r"^-\d", match["rest"]):
        return None
    return f"{NEW_GENERAL_PREFIXES[match['prefix']]} {int(match['number'])}"


def _lenient_json(text: str) -> object:
    text = _BARE_DECIMAL.sub(r"\g<1>0.\2", text)
    return json.loads(_TRAILING_COMMA.sub(r"\1", text))


def read_stellarium_textures(path: str | PathLike[str], *,
                             include_messier: bool = False) -> Table:
    """The NGC, IC and UGC textures listed in a ``textures.json``.

    Parameters
    ----------
    path : path
        ``textures.json``, or a folder holding it (the unpacked package's root or the
        textures folder).
    include_messier : bool
        Also list ``m*.png`` textures (default False: they are kept for independent checks).

    Returns
    -------
    astropy.table.Table
        One row per texture: ``file`` (name in the textures folder), ``designation``
        (``'NGC 1300'``; ``'Messier'`` rows have ``'M <n>'``), ``ra``, ``dec`` (degrees,
        the mean of the four corners on the sphere), ``width_arcmin``, ``height_arcmin``
        (distances between corners 0-1 and 1-2), ``credit``.
    """
    path = Path(path)
    if path.is_dir():
        candidates = [path / "textures.json", path / TEXTURES_SUBDIR / "textures.json"]
        path = next((p for p in candidates if p.exists()), candidates[0])
    try:
        document = _lenient_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(path, "file does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputFileError(path, f"not a Stellarium textures.json ({error})") from None
    tiles = document.get("subTiles") if isinstance(document, dict) else None
    if not isinstance(tiles, list):
        raise InputFileError(path, "no 'subTiles' list: not a Stellarium textures.json")
    rows = []
    for tile in tiles:
        name = str(tile.get("imageUrl", ""))
        designation = catalogue_designation(name)
        messier = _MESSIER_NAME.match(name.lower())
        if designation is None and include_messier and messier:
            designation = f"M {int(messier[1])}"
        corners = tile.get("worldCoords")
        if designation is None or not corners:
            continue
        ra, dec = np.asarray(corners[0], dtype=float).T
        sky = SkyCoord(ra % 360.0, dec, unit="deg")
        centre = SkyCoord(*np.mean(sky.cartesian.xyz, axis=1), representation_type="cartesian")
        credits = tile.get("imageCredits") or {}
        credit = next((str(v) for k, v in credits.items() if k.lower() == "short"), "")
        rows.append((name, designation, float(centre.spherical.lon.deg % 360.0),
                     float(centre.spherical.lat.deg),
                     float(sky[0].separation(sky[1]).arcmin),
                     float(sky[1].separation(sky[2]).arcmin), credit))
    return Table(rows=rows or None,
                 names=("file", "designation", "ra", "dec", "width_arcmin", "height_arcmin",
                        "credit"),
                 dtype=(str, str, float, float, float, float, str))
