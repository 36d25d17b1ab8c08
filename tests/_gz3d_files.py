"""Hand-made GZ3D files in the release layout, written with plain astropy.

These do not use galseg's writer: they follow the release's own production
code (astropy ``Table`` -> ``fits.table_to_hdu``, float64 masks, WCS from
``WCS.to_header()``), so the reader is tested against the real layout.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

SIZE = 64
PIXSCALE = 0.099
RA, DEC = 150.125, 2.25

RELEASE_METADATA_DTYPE = [
    ("ra", ">f4"),
    ("dec", ">f4"),
    ("MANGAID", "S11"),
    ("IAUNAME", "S19"),
    ("IFUDESIGNSIZE", ">f8"),
    ("MANGA_TILEID", ">f8"),
    ("nsa_id", ">i8"),
    ("explorer_link", "S90"),
    ("GZ_total_classifications", ">i2"),
    ("GZ_bar_votes", ">i2"),
    ("GZ_spiral_votes", ">i2"),
    ("sample", "S70"),
]


def release_wcs(size: int = SIZE) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.crpix = [size / 2, size / 2]
    wcs.wcs.crval = [RA, DEC]
    wcs.wcs.cd = np.array([[-1, 0], [0, -1]]) * PIXSCALE / 3600.0
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cunit = ["deg", "deg"]
    return wcs


def polygons_json(*polygons: Sequence[Sequence[float]]) -> str:
    return json.dumps([[list(map(float, v)) for v in p] for p in polygons])


def rows(
    ids: Sequence[int], cells: Sequence[str] | None = None, *, default: str = "[]"
) -> list[tuple[int, str, str]]:
    """(classification_id, time_stamp, cell) rows; cells default to '[]'."""
    cells = list(cells) if cells is not None else [default] * len(ids)
    stamps = [f"2017-01-27 17:{n % 60:02d}:00 UTC" for n in range(len(ids))]
    return list(zip(ids, stamps, cells, strict=True))


def _classification_hdu(column_names: Sequence[str], table_rows: list[tuple]) -> fits.BinTableHDU:
    columns: dict[str, list] = {"classification_id": [], "time_stamp": []}
    for name in column_names:
        columns[name] = []
    for row in table_rows:
        columns["classification_id"].append(row[0])
        columns["time_stamp"].append(row[1])
        for name, value in zip(column_names, row[2:], strict=True):
            columns[name].append(value)
    return fits.table_to_hdu(Table(columns))


def write_release_file(
    path: Path,
    *,
    spiral_rows: list[tuple[int, str, str]],
    bar_rows: list[tuple[int, str, str]] | None = None,
    center_rows: list[tuple[int, str, str, str]] | None = None,
    size: int = SIZE,
    image: np.ndarray | None = None,
    n_hdus: int = 11,
    mangaid: str = "1-167242",
) -> Path:
    """Write a GZ3D file the way the release's production code did."""
    wcs_header = release_wcs(size).to_header()
    if image is None:
        image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    blank = np.zeros((size, size))
    metadata = Table(dtype=RELEASE_METADATA_DTYPE)
    metadata.add_row(
        (RA, DEC, mangaid, "J100030.00+021500.0", 127.0, 7443.0, 12345,
         "https://example.org/explorer", 40, 5, 30, "MPL-5 primary")
    )  # fmt: skip
    cluster_columns = ("x", "y", "var_x", "var_y", "var_x_y", "ra", "dec", "var_ra", "var_dec",
                       "var_ra_dec", "count")  # fmt: skip
    # The release builds empty cluster tables from empty lists: float64 columns.
    cluster = Table({name: [] for name in cluster_columns})
    bar_rows = bar_rows if bar_rows is not None else []
    center_rows = center_rows if center_rows is not None else []
    hdus = [
        fits.PrimaryHDU(data=image, header=wcs_header),
        fits.ImageHDU(data=blank, header=wcs_header),
        fits.ImageHDU(data=blank, header=wcs_header),
        fits.ImageHDU(data=blank, header=wcs_header),
        fits.ImageHDU(data=blank, header=wcs_header),
        fits.table_to_hdu(metadata),
        fits.table_to_hdu(cluster),
        fits.table_to_hdu(cluster),
        _classification_hdu(("center_points", "star_points"), center_rows),
        _classification_hdu(("spiral_paths",), spiral_rows),
        _classification_hdu(("bar_paths",), bar_rows),
    ]
    hdul = fits.HDUList(hdus[:n_hdus])
    path = Path(path)
    if path.name.endswith(".gz"):
        plain = path.with_name(path.name[:-3])
        hdul.writeto(plain, overwrite=True)
        path.write_bytes(gzip.compress(plain.read_bytes()))
        plain.unlink()
    else:
        hdul.writeto(path, overwrite=True)
    return path
