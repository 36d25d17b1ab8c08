"""A small, fast FITS serialiser for image and binary-table HDUs.

astropy builds every header card through its configuration and verification
machinery, which costs about 50 ms for an 11-HDU GZ3D file, too slow for a
simulator writing thousands of them. The FITS layout itself is simple (FITS
Standard 4.0): 80-character ASCII header cards in 2880-byte blocks padded with
blanks, then big-endian data padded with zeros. This module writes exactly
that for the few HDU kinds galseg needs; astropy (or any FITS library) reads
the result, and the tests check it with ``astropy.io.fits`` verification.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

BLOCK = 2880
CARD = 80

Card = tuple[str, Any, str]
"""A header card: (keyword, value, comment)."""

# numpy dtype kind and item size -> binary-table TFORM letter.
_TFORM = {
    ("b", 1): "L",
    ("u", 1): "B",
    ("i", 2): "I",
    ("i", 4): "J",
    ("i", 8): "K",
    ("f", 4): "E",
    ("f", 8): "D",
}
# numpy dtype -> image BITPIX.
_BITPIX = {
    ("u", 1): 8,
    ("i", 2): 16,
    ("i", 4): 32,
    ("i", 8): 64,
    ("f", 4): -32,
    ("f", 8): -64,
}


def _format_value(value: Any) -> str:
    """A card value in FITS fixed format (columns 11-30 for numbers and logicals)."""
    if isinstance(value, bool | np.bool_):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, int | np.integer):
        return f"{int(value):>20d}"
    if isinstance(value, float | np.floating):
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"FITS header values must be finite, got {value}")
        text = repr(value).upper()
        mantissa, _, exponent = text.partition("E")
        if "." not in mantissa:
            mantissa += ".0"
        text = mantissa + (f"E{exponent}" if exponent else "")
        return f"{text:>20}"
    if isinstance(value, str):
        if not value.isascii():
            raise ValueError(f"FITS header strings must be ASCII, got {value!r}")
        quoted = "'" + value.replace("'", "''").ljust(8) + "'"
        return f"{quoted:<20}"
    raise TypeError(f"cannot write a {type(value).__name__} as a FITS header value")


def card_image(keyword: str, value: Any, comment: str = "") -> bytes:
    """One 80-byte header card."""
    text = f"{keyword.upper():<8}= {_format_value(value)}"
    if comment:
        text += f" / {comment}"
    if len(text) > CARD:
        if text[:CARD].count("'") % 2 and isinstance(value, str):
            raise ValueError(f"header value for {keyword} is too long: {value!r}")
        text = text[:CARD]  # only the comment is cut
    return text.ljust(CARD).encode("ascii")


def header_bytes(cards: Iterable[Card], extra: bytes = b"") -> bytes:
    """Header block(s): ``cards``, then pre-formatted card images ``extra``, then END."""
    body = b"".join(card_image(*card) for card in cards) + extra
    if len(extra) % CARD:
        raise ValueError("extra card images must be a whole number of 80-byte cards")
    body += b"END".ljust(CARD)
    return body + b" " * (-len(body) % BLOCK)


def header_card_images(header: Any) -> bytes:
    """The cards of an astropy ``Header`` (a WCS's ``to_header()``; values that need
    astropy's long-string CONTINUE cards) as card images for ``extra_cards``."""
    return header.tostring(sep="", endcard=False, padding=False).encode("ascii")


def _pad_data(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % BLOCK)


def image_hdu_bytes(data: np.ndarray | None, *, primary: bool, extra_cards: bytes = b"") -> bytes:
    """An image HDU (primary or IMAGE extension) holding ``data`` (None: no data, NAXIS 0).

    ``extra_cards`` are pre-formatted 80-byte card images (e.g. a WCS) placed
    after the mandatory keywords.
    """
    data = np.zeros((0,), np.uint8) if data is None else np.asarray(data)
    key = (data.dtype.kind, data.dtype.itemsize)
    if key not in _BITPIX:
        raise TypeError(f"cannot write an image of dtype {data.dtype} to FITS")
    mandatory: list[Card] = (
        [("SIMPLE", True, "conforms to FITS standard")]
        if primary
        else [("XTENSION", "IMAGE", "Image extension")]
    )
    mandatory.append(("BITPIX", _BITPIX[key], "array data type"))
    # an HDU without data has NAXIS = 0, not a zero-length axis
    shape = data.shape if data.size else ()
    mandatory.append(("NAXIS", len(shape), "number of array dimensions"))
    # FITS lists axes fastest first: the reverse of numpy's C order.
    mandatory.extend((f"NAXIS{i + 1}", n, "") for i, n in enumerate(reversed(shape)))
    if primary:
        mandatory.append(("EXTEND", True, ""))
    else:
        mandatory.extend([("PCOUNT", 0, "number of parameters"), ("GCOUNT", 1, "number of groups")])
    payload = data.astype(data.dtype.newbyteorder(">"), copy=False).tobytes()
    return header_bytes(mandatory, extra_cards) + _pad_data(payload)


def table_hdu_bytes(columns: Sequence[tuple[str, np.ndarray]], extra_cards: bytes = b"") -> bytes:
    """A BINTABLE extension from ``(name, 1-D array)`` columns of equal length.

    Supported dtypes: bool, uint8, int16/32/64, float32/64 and fixed-width bytes
    (``S<n>``, written as ``<n>A``; give at least width 1). ``extra_cards`` (80-byte card
    images, e.g. an EXTNAME) follow the column keywords.
    """
    n_rows = len(columns[0][1]) if columns else 0
    fields = []
    cards: list[Card] = []
    for index, (name, array) in enumerate(columns, start=1):
        array = np.asarray(array)
        if array.ndim != 1 or len(array) != n_rows:
            raise ValueError(f"column {name!r} must be 1-D with {n_rows} rows, got {array.shape}")
        if array.dtype.kind == "S":
            width = max(array.dtype.itemsize, 1)
            tform, dtype = f"{width}A", f"S{width}"
        elif (array.dtype.kind, array.dtype.itemsize) in _TFORM:
            tform = _TFORM[(array.dtype.kind, array.dtype.itemsize)]
            dtype = "u1" if tform == "L" else array.dtype.newbyteorder(">").str
        else:
            raise TypeError(f"cannot write column {name!r} of dtype {array.dtype} to FITS")
        if tform == "L":
            # FITS logicals are the bytes 'T' and 'F'.
            array = np.where(array, ord("T"), ord("F")).astype("u1")
        fields.append((name, dtype, array))
        cards.append((f"TTYPE{index}", name, ""))
        cards.append((f"TFORM{index}", tform, ""))
    record = np.zeros(n_rows, dtype=[(name, dtype) for name, dtype, _ in fields])
    for name, _, array in fields:
        record[name] = array
    mandatory: list[Card] = [
        ("XTENSION", "BINTABLE", "binary table extension"),
        ("BITPIX", 8, "array data type"),
        ("NAXIS", 2, "number of array dimensions"),
        ("NAXIS1", record.dtype.itemsize, "length of dimension 1"),
        ("NAXIS2", n_rows, "length of dimension 2"),
        ("PCOUNT", 0, "number of group parameters"),
        ("GCOUNT", 1, "number of groups"),
        ("TFIELDS", len(fields), "number of table fields"),
    ]
    return header_bytes(mandatory + cards, extra_cards) + _pad_data(record.tobytes())
