"""The tables of a GZ3D file: HDU 5 metadata and the JSON cells of HDUs 8-10.

Path and point cells are byte strings holding JSON: ``[[[x, y], ...], ...]``
(polygons) or ``[[x, y], ...]`` (points), in pixels with x the column and y the
row of a pixel centre.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from galseg.errors import InputFileError
from galseg.labels.rasterize import finite_vertices

# Metadata columns of the release (HDU 5) with their dtypes; string widths are
# minimums, widened when a value is longer.
METADATA_DTYPES: dict[str, str] = {
    "ra": ">f4",
    "dec": ">f4",
    "MANGAID": "S11",
    "IAUNAME": "S19",
    "IFUDESIGNSIZE": ">f8",
    "MANGA_TILEID": ">f8",
    "nsa_id": ">i8",
    "explorer_link": "S90",
    "GZ_total_classifications": ">i2",
    "GZ_bar_votes": ">i2",
    "GZ_spiral_votes": ">i2",
    "sample": "S70",
}
# Values for metadata a simulated galaxy does not have: '' for strings, -1 for
# numbers (impossible for a real MaNGA galaxy; not NaN, so that metadata dicts
# compare equal after a round trip).
_METADATA_MISSING = {"S": "", "f": -1.0, "i": -1}


def python_value(value: Any) -> Any:
    """A FITS table cell as a plain Python value (bytes decoded and stripped)."""
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace").strip()
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, np.generic):
        return value.item()
    return value


def metadata_array(metadata: Mapping[str, Any]) -> np.ndarray:
    """One-row structured array for HDU 5 (release columns first, then extra keys)."""
    dtype: list[tuple[str, str]] = []
    values: list[Any] = []
    for name, kind in METADATA_DTYPES.items():
        value = metadata.get(name, _METADATA_MISSING[np.dtype(kind).kind])
        if kind.startswith("S"):
            value = str(value)
            kind = f"S{max(int(kind[1:]), len(value.encode()), 1)}"
        dtype.append((name, kind))
        values.append(value)
    for name, value in metadata.items():
        if name in METADATA_DTYPES:
            continue
        if isinstance(value, bool | np.bool_):
            kind = "?"
        elif isinstance(value, int | np.integer):
            kind = ">i8"
        elif isinstance(value, float | np.floating):
            kind = ">f8"
        elif isinstance(value, str):
            kind = f"S{max(len(value.encode()), 1)}"
        else:
            raise TypeError(
                f"metadata[{name!r}] must be a str, int, float or bool to fit in a FITS table, "
                f"got {type(value).__name__}"
            )
        dtype.append((name, kind))
        values.append(value)
    try:
        return np.array([tuple(values)], dtype=dtype)
    except (ValueError, UnicodeEncodeError, OverflowError) as error:
        raise ValueError(f"metadata cannot be stored in the GZ3D metadata table: {error}") from None


def metadata_dict(table: np.ndarray) -> dict[str, Any]:
    """First row of a metadata table (structured array or FITS_rec) as a dict."""
    return {name: python_value(table[name][0]) for name in table.dtype.names}


def normalise_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` as it will read back from a GZ3D file (release dtypes applied).

    ``ra`` and ``dec`` are float32 in the release, strings are ASCII with
    trailing blanks removed, missing release columns get placeholder values
    ('' for strings, -1 for numbers).
    """
    return metadata_dict(metadata_array(metadata))


def parse_json_cell(
    path: Path, hdu: int, row: int, column: str, cell: Any, *, polygons: bool
) -> list[np.ndarray] | np.ndarray:
    """Decode one JSON path/point cell into polygons (list of (n, 2)) or points ((n, 2))."""
    where = f"HDU {hdu} row {row} column {column!r}"
    text = cell.decode("utf-8", errors="replace") if isinstance(cell, bytes) else str(cell)
    text = text.strip()
    try:
        value = json.loads(text) if text else []
    except json.JSONDecodeError as error:
        raise InputFileError(
            path, f"{where} holds invalid JSON ({error.msg} at char {error.pos})"
        ) from None
    if not isinstance(value, list):
        raise InputFileError(path, f"{where} holds {type(value).__name__} JSON, expected a list")
    items = value if polygons else [value]
    shapes = []
    for k, item in enumerate(items):
        try:
            vertices = np.array(item if item else np.zeros((0, 2)), dtype=np.float64)
        except (TypeError, ValueError):
            vertices = None
        if vertices is None or vertices.ndim != 2 or vertices.shape[1] != 2:
            what = f"polygon {k}" if polygons else "value"
            raise InputFileError(path, f"{where}: {what} is not a list of [x, y] pairs")
        shapes.append(finite_vertices(vertices))
    if not polygons:
        return shapes[0]
    # Polygons left with no finite vertex carry no drawing: drop them.
    return [p for p in shapes if len(p)]


def native(array: np.ndarray) -> np.ndarray:
    """Native byte order copy (FITS is big-endian; numpy is faster native)."""
    return np.asarray(array, dtype=array.dtype.newbyteorder("="))


def native_table(data: fits.FITS_rec) -> np.ndarray:
    """A FITS table as a plain structured array with native numeric columns."""
    array = np.asarray(data).view(np.ndarray)
    dtype = [(name, array.dtype[name].newbyteorder("=")) for name in array.dtype.names]
    return array.astype(dtype)


def json_cell(value: list) -> str:
    # json.dumps' default separators give the release's text: [[1.0, 2.0], ...].
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValueError(
            "drawings hold NaN or infinite coordinates, which JSON cannot store; "
            "drop those vertices first (galseg.labels.rasterize.finite_vertices)"
        ) from None


def vertex_list(vertices: np.ndarray) -> list[list[float]]:
    return np.asarray(vertices, dtype=np.float64).reshape(-1, 2).tolist()


def string_array(values: list[str]) -> np.ndarray:
    # Fixed-width ASCII, as astropy's table_to_hdu wrote the release's columns.
    encoded = [v.encode("ascii", errors="replace") for v in values]
    return np.array(encoded, dtype=f"S{max((len(v) for v in encoded), default=1) or 1}")
