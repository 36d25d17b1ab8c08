"""``galseg shreds``: a source catalog in, the same catalog with shred probabilities out.

Every row of the input catalog is kept, in order, with all its columns; three columns
are added (or replaced with ``overwrite_columns``):

``p_shred``
    Calibrated probability that the source is a shred (part of a larger galaxy
    split off by the survey pipeline), float; empty where it could not be computed.
``is_shred``
    ``p_shred >= threshold`` (bool); empty where ``p_shred`` is (False in FITS,
    which has no null booleans in astropy).
``shred_flag``
    ``ok`` or why there is no ``p_shred`` (:data:`SHRED_FLAGS`).

Cutouts come either from one file per row (``images_dir`` / ``pattern``) or from one
large image (``field``) at each row's RA/Dec (through the field's WCS) or pixel
position. Either way they are brought to the classifier's cutout format (128 x 128
pixels at 0.469 arcsec/px for the default model) with
:func:`galseg.data.cutouts.cutout_rgb`.

Killed runs resume: each chunk's results are appended to ``OUT.galseg-partial.csv``
(see :class:`_Progress`), the output is written atomically at the end and the
progress file removed. Memory is bounded by ``chunk_size`` cutouts (plus the
catalog itself and, in field mode, the field's colour image).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Column, MaskedColumn, Table
from tqdm import tqdm

from galseg.data.catalogs import catalog_format, read_catalog, write_catalog
from galseg.data.cutouts import cutout_rgb
from galseg.data.images import InputImage, check_image_options, read_image
from galseg.errors import GalsegError, InputFileError
from galseg.models.weights import sha256_of
from galseg.predict.shreds import ShredClassifier

SHRED_COLUMNS = ("p_shred", "is_shred", "shred_flag")
"""Columns :func:`clean_catalog` adds."""

SHRED_FLAGS = {
    "ok": "p_shred computed",
    "missing_id": "the id (or another column the file pattern uses) is empty",
    "missing_cutout": "no cutout file at the path the pattern gives",
    "unreadable_cutout": "the cutout file could not be read (the reason follows ': ')",
    "wrong_size": "the cutout is not the model's size and has no pixel scale to resample "
                  "it, or it covers less than min_coverage of the model's field of view",
    "bad_pixels": "less than min_coverage of the cutout has valid (finite) pixels",
    "bad_coordinates": "RA/Dec or x/y empty, not numbers, or outside valid ranges",
    "off_field": "the position is outside the field image",
    "edge": "the position is on the field, but too close to its edge (coverage)",
}
"""``shred_flag`` values (a flag's first word; ``unreadable_cutout: <reason>``)."""

PARTIAL_SUFFIX = ".galseg-partial.csv"
"""Appended to the output's name for the progress file of an unfinished run."""

SAME_SCALE_RTOL = 1e-3
"""Pixel scales closer than this (relative) count as the model's: pixels are copied."""

_PROGRESS_MAGIC = "# galseg shreds progress v1"


@dataclass(frozen=True)
class ShredCatalogResult:
    """What :func:`clean_catalog` did.

    Attributes
    ----------
    path : pathlib.Path
        The output catalog.
    format : str
        Its format (``'fits'``, ``'csv'``, ``'ecsv'`` or ``'parquet'``).
    n_rows : int
        Rows in the input and the output (the same).
    n_shreds : int
        Rows with ``is_shred`` True.
    threshold : float
        The ``p_shred`` threshold used for ``is_shred``.
    flag_counts : dict of str to int
        Rows per flag (``'ok'`` included; ``unreadable_cutout: ...`` counted once
        as ``'unreadable_cutout'``), most frequent first.
    n_resumed : int
        Rows taken from the progress file of an interrupted run.
    elapsed_s : float
        Wall-clock time of this call.
    """

    path: Path
    format: str
    n_rows: int
    n_shreds: int
    threshold: float
    flag_counts: dict[str, int] = field(default_factory=dict)
    n_resumed: int = 0
    elapsed_s: float = 0.0

    @property
    def n_classified(self) -> int:
        """Rows with a ``p_shred``."""
        return self.flag_counts.get("ok", 0)

    @property
    def shred_fraction(self) -> float:
        """``n_shreds / n_classified`` (NaN when nothing was classified)."""
        return self.n_shreds / self.n_classified if self.n_classified else math.nan

    @property
    def rows_per_s(self) -> float:
        """Rows processed by this call (resumed rows not counted) per second."""
        return (self.n_rows - self.n_resumed) / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _flag_name(flag: str) -> str:
    return flag.split(":", 1)[0]


MAX_REASON_CHARS = 60
"""Reasons in ``unreadable_cutout: <reason>`` are cut to this length (the column's width
is its longest value, for every row)."""


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 3] + "..."


# --------------------------------------------------------------------------- cutouts


def _inside_fraction(x: float, y: float, width: int, height: int, size: int,
                     zoom: float) -> float:
    """Fraction of a :func:`cutout_rgb` cutout's pixels that fall inside the image."""
    steps = np.arange(size) - size // 2
    if zoom == 1.0:
        cols, rows = np.floor(x + 0.5) + steps, np.floor(y + 0.5) + steps
        fx = np.mean((cols >= 0) & (cols < width))
        fy = np.mean((rows >= 0) & (rows < height))
    else:
        xs, ys = x + steps * zoom, y + steps * zoom
        fx = np.mean((xs >= -0.5) & (xs <= width - 0.5))
        fy = np.mean((ys >= -0.5) & (ys <= height - 0.5))
    return float(fx * fy)


def _zoom(model_pixscale: float, image_pixscale: float) -> float:
    zoom = model_pixscale / image_pixscale
    return 1.0 if abs(zoom - 1.0) < SAME_SCALE_RTOL else zoom


def _cut(image: InputImage, x: float, y: float, *, size: int, zoom: float,
         min_coverage: float, small_flag: str) -> tuple[np.ndarray | None, str]:
    cutout = cutout_rgb(image.rgb, x, y, size=size, zoom=zoom, valid=image.valid)
    if cutout.coverage >= min_coverage and cutout.coverage > 0:
        return cutout.rgb, "ok"
    height, width = image.shape
    inside = _inside_fraction(x, y, width, height, size, zoom)
    return None, small_flag if inside < min_coverage else "bad_pixels"


Outcome = tuple[np.ndarray | None, str]


class FileCutouts:
    """One cutout file per row: ``images_dir / pattern.format(id=..., <column>=...)``."""

    def __init__(self, table: Table | None, *, images_dir: Path, pattern: str, id_column: str,
                 size: int, model_pixscale: float, pixscale_arcsec: float | None,
                 bands: str | None, bunit: str | None, min_coverage: float,
                 workers: int) -> None:
        self.images_dir = images_dir
        self.pattern = pattern
        self.size = size
        self.model_pixscale = model_pixscale
        self.read_options = {"pixscale_arcsec": pixscale_arcsec, "bands": bands,
                             "bunit": bunit}
        self.min_coverage = min_coverage
        self.workers = workers
        if table is None:  # files named by the caller: only one() is used
            self.fields, self.columns = [], {}
            return
        self.fields = _pattern_fields(pattern, table.colnames, id_column)
        self.columns = {name: table[id_column if name == "id" else name]
                        for name in self.fields}
        _check_pattern(pattern, {n: _cell_values(c, np.arange(1))[0]
                                 for n, c in self.columns.items()})

    def names(self, rows: np.ndarray) -> list[str | Outcome]:
        """The file name of each row, or ``(None, flag)`` where the pattern cannot be
        filled."""
        values = {name: _cell_values(col, rows) for name, col in self.columns.items()}
        names: list[str | Outcome] = []
        for k in range(len(rows)):
            cells = {name: values[name][k] for name in self.fields}
            if any(v is None for v in cells.values()):
                names.append((None, "missing_id"))
                continue
            try:
                names.append(self.pattern.format(**cells))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
                names.append((None, f"missing_id: {_one_line(error)}"))
        return names

    def __call__(self, rows: np.ndarray) -> list[Outcome]:
        names = self.names(rows)
        todo = [n for n in names if isinstance(n, str)]
        if self.workers > 1 and len(todo) > 1:
            # Reading and decoding files releases the GIL: threads overlap it.
            with ThreadPoolExecutor(self.workers) as pool:
                done = iter(list(pool.map(self.one, todo)))
        else:
            done = iter([self.one(n) for n in todo])
        return [next(done) if isinstance(n, str) else n for n in names]

    def one(self, name: str) -> Outcome:
        path = self.images_dir / name
        try:
            image = read_image(path, **self.read_options)
        except InputFileError as error:
            if not path.exists():
                return None, "missing_cutout"
            if "no finite pixels" in error.reason:
                return None, "bad_pixels"
            return None, f"unreadable_cutout: {_one_line(error.reason)}"
        except (OSError, ValueError, MemoryError) as error:
            return None, f"unreadable_cutout: {_one_line(error)}"
        height, width = image.shape
        if image.pixscale_arcsec is None:
            # A picture of the model's size without a scale is taken to be at the
            # model's scale (survey cutouts made for it); any other size would be a guess.
            if (height, width) != (self.size, self.size):
                return None, "wrong_size"
            zoom = 1.0
        else:
            zoom = _zoom(self.model_pixscale, image.pixscale_arcsec)
        # the target is at pixel (W // 2, H // 2), as in the Legacy Surveys cutouts
        return _cut(image, width // 2, height // 2, size=self.size, zoom=zoom,
                    min_coverage=self.min_coverage, small_flag="wrong_size")


class _FieldCutouts:
    """Cutouts from one large image at each row's RA/Dec (its WCS) or pixel position."""

    def __init__(self, table: Table, image: InputImage, *, ra_column: str, dec_column: str,
                 x_column: str | None, y_column: str | None, size: int,
                 model_pixscale: float, min_coverage: float) -> None:
        self.image = image
        self.size = size
        self.min_coverage = min_coverage
        self.zoom = _zoom(model_pixscale, image.pixscale_arcsec)
        self.pixel = x_column is not None
        self.columns = ((table[x_column], table[y_column]) if self.pixel
                        else (table[ra_column], table[dec_column]))

    def __call__(self, rows: np.ndarray) -> list[Outcome]:
        a, b = (_float_values(col, rows) for col in self.columns)
        height, width = self.image.shape
        if self.pixel:
            bad = ~(np.isfinite(a) & np.isfinite(b))
            x, y = a, b
        else:
            bad = ~(np.isfinite(a) & np.isfinite(b) & (np.abs(b) <= 90.0))
            x, y = self.image.wcs.all_world2pix(np.where(bad, 0.0, a), np.where(bad, 0.0, b),
                                                0, quiet=True)
        out: list[Outcome] = []
        for k in range(len(rows)):
            if bad[k]:
                out.append((None, "bad_coordinates"))
            elif not (-0.5 <= x[k] <= width - 0.5 and -0.5 <= y[k] <= height - 0.5):
                out.append((None, "off_field"))  # NaN too: TAN cannot project it
            else:
                out.append(_cut(self.image, float(x[k]), float(y[k]), size=self.size,
                                zoom=self.zoom, min_coverage=self.min_coverage,
                                small_flag="edge"))
        return out


def _cell_values(column: Column, rows: np.ndarray) -> list[Any]:
    """Python values of ``column[rows]``; None for masked or empty cells."""
    part = column[rows]
    mask = np.ma.getmaskarray(part)
    values = np.asarray(part.data.data if isinstance(part, MaskedColumn) else part).tolist()
    out = []
    for value, masked in zip(values, mask.tolist(), strict=True):
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            value = value.strip()
        elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)  # an id stored as a float: '12', not '12.0'
        out.append(None if masked or value == "" else value)
    return out


def _float_values(column: Column, rows: np.ndarray) -> np.ndarray:
    """``column[rows]`` as float64; NaN where masked or not a number."""
    part = column[rows]
    if part.dtype.kind in "fiu":
        values = np.asarray(part.data.data if isinstance(part, MaskedColumn) else part,
                            dtype=np.float64).copy()
        values[np.ma.getmaskarray(part)] = np.nan
        return values
    out = np.full(len(rows), np.nan)
    for k, value in enumerate(_cell_values(column, rows)):
        with contextlib.suppress(TypeError, ValueError):  # left NaN: bad_coordinates
            out[k] = float(value) if value is not None else np.nan
    return out


def _pattern_fields(pattern: str, columns: Sequence[str], id_column: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as error:
        raise ValueError(f"pattern {pattern!r} is not a valid format string ({error})") from None
    fields = []
    for _, name, _, _ in parsed:
        if name is None:
            continue
        base = re.match(r"[^.\[]*", name).group()
        if base == "" or base.isdigit():
            raise ValueError(f"pattern {pattern!r} has a positional field {{{name}}}; name "
                             "the column, e.g. '{id}_grz.png'")
        if base != "id" and base not in columns:
            raise GalsegError(f"pattern {pattern!r} uses {{{base}}}, which is not a column "
                              f"of the catalog (columns: {', '.join(columns)})")
        if base not in fields:
            fields.append(base)
    if not fields:
        raise ValueError(f"pattern {pattern!r} has no field; use e.g. '{{id}}_grz.png'")
    if "id" in fields and id_column not in columns:
        raise GalsegError(f"the catalog has no id column {id_column!r} (columns: "
                          f"{', '.join(columns)}); choose one with id_column / --id-column")
    return fields


def _check_pattern(pattern: str, cells: dict[str, Any]) -> None:
    """Format the first row once, so that a spec mismatch is one clear error, not n flags."""
    if any(v is None for v in cells.values()):
        return
    try:
        pattern.format(**cells)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise ValueError(f"pattern {pattern!r} cannot be filled from the first row "
                         f"{cells} ({error})") from None


# --------------------------------------------------------------------------- progress


class _Progress:
    """The progress file of a run: ``OUT.galseg-partial.csv``.

    Line 1 is ``# galseg shreds progress v1; key=<sha256>; rows=<n>`` where the key
    hashes the input catalog's bytes, the model's weights and metadata, and every
    setting that changes a result (not the threshold: ``is_shred`` is made at the
    end). Then a CSV header ``row,p_shred,shred_flag`` and one line per finished row
    (0-based row index, ``repr`` of the float so a resumed run gives identical
    numbers, empty ``p_shred`` where unknown). Each chunk is appended with one write
    and flushed; a line cut short by a kill has no newline and is dropped (and cut
    from the file) when the run resumes. A file with another key is not used: the
    run starts over.
    """

    def __init__(self, path: Path, key: str, n_rows: int) -> None:
        self.path = path
        self.header = f"{_PROGRESS_MAGIC}; key={key}; rows={n_rows}\n"
        self.n_rows = n_rows
        self._handle: io.TextIOWrapper | None = None

    def load(self, p_shred: np.ndarray, flags: np.ndarray, log: Callable[[str], None]) -> int:
        """Fill ``p_shred`` and ``flags`` with the rows an earlier run with the same key
        finished; returns their number and opens the file for appending."""
        done = 0
        keep = 0
        if self.path.is_file():
            data = self.path.read_bytes()
            first = data.split(b"\n", 1)[0] + b"\n"
            if first.decode("utf-8", "replace") == self.header:
                keep = data.rfind(b"\n") + 1  # complete lines only
                try:
                    done = self._parse(data[:keep].decode("utf-8"), p_shred, flags)
                except (ValueError, IndexError, UnicodeDecodeError):
                    log(f"note: {self.path} is damaged; starting over")
                    p_shred[:], flags[:] = np.nan, ""
                    done, keep = 0, 0
            else:
                log(f"note: {self.path} is from another catalog, model or settings; "
                    "starting over")
        if keep:
            with self.path.open("r+b") as handle:
                handle.truncate(keep)
            self._handle = self.path.open("a", encoding="utf-8", newline="")
        else:
            self._handle = self.path.open("w", encoding="utf-8", newline="")
            self._handle.write(self.header + "row,p_shred,shred_flag\n")
            self._handle.flush()
        return done

    def _parse(self, text: str, p_shred: np.ndarray, flags: np.ndarray) -> int:
        lines = text.split("\n")
        if len(lines) < 2 or lines[1] != "row,p_shred,shred_flag":
            raise ValueError("bad progress header")
        names: dict[str, str] = {}  # one object per distinct flag: millions of rows
        for record in csv.reader(lines[2:]):
            if not record:
                continue
            row, p, flag = record
            index = int(row)
            if not 0 <= index < self.n_rows:
                raise ValueError(f"row {index} out of range")
            p_shred[index] = float(p) if p else math.nan
            flags[index] = names.setdefault(flag, flag)
        return int(np.count_nonzero(flags != ""))

    def append(self, rows: np.ndarray, p_shred: np.ndarray, flags: Sequence[str]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row, p, flag in zip(rows.tolist(), p_shred.tolist(), flags, strict=True):
            writer.writerow((row, "" if math.isnan(p) else repr(p), flag))
        self._handle.write(buffer.getvalue())
        self._handle.flush()

    def close(self, *, remove: bool) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if remove:
            self.path.unlink(missing_ok=True)


def classifier_key(classifier: ShredClassifier) -> str:
    digest = hashlib.sha256(classifier.metadata.to_json().encode())
    digest.update(f"tta={classifier.tta}".encode())  # TTA changes every p_shred
    for member in classifier.members:
        for name, tensor in sorted(member.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------- the run


def add_shred_columns(table: Table, p_shred: np.ndarray, flags: np.ndarray,
                 threshold: float) -> None:
    unknown = np.isnan(p_shred)
    new_columns = [
        MaskedColumn(p_shred, mask=unknown, name="p_shred", fill_value=np.nan,
                     description="calibrated probability that the source is a shred"),
        MaskedColumn(np.where(unknown, False, p_shred >= threshold), mask=unknown,
                     name="is_shred", fill_value=False,
                     description=f"p_shred >= {threshold:g}"),
        Column(flags, name="shred_flag", description="ok, or why p_shred is empty"),
    ]
    for column in new_columns:
        if column.name in table.colnames:
            table.replace_column(column.name, column)
        else:
            table.add_column(column)


def _check_options(classifier: ShredClassifier, threshold: float | None, min_coverage: float,
                   chunk_size: int, workers: int) -> None:
    if not isinstance(classifier, ShredClassifier):
        raise TypeError("classifier must be a galseg.predict.shreds.ShredClassifier "
                        f"(ShredClassifier.from_file(path)), got {type(classifier).__name__}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    if not 0.0 <= min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be between 0 and 1, got {min_coverage!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")


def _require_columns(table: Table, path: Path, names: Sequence[str | None]) -> None:
    missing = [n for n in names if n is not None and n not in table.colnames]
    if missing:
        raise GalsegError(f"{path}: no column {', '.join(map(repr, missing))} in the catalog "
                          f"(columns: {', '.join(table.colnames)})")


def clean_catalog(
    catalog_path: str | PathLike[str],
    out_path: str | PathLike[str],
    *,
    classifier: ShredClassifier,
    images_dir: str | PathLike[str] | None = None,
    pattern: str = "{id}_grz.png",
    id_column: str = "id",
    field: str | PathLike[str] | None = None,
    ra_column: str = "ra",
    dec_column: str = "dec",
    x_column: str | None = None,
    y_column: str | None = None,
    pixscale_arcsec: float | None = None,
    bands: str | None = None,
    bunit: str | None = None,
    threshold: float | None = None,
    min_coverage: float = 0.75,
    overwrite_columns: bool = False,
    progress: bool = True,
    chunk_size: int = 512,
    workers: int = 4,
    log: Callable[[str], None] | None = None,
) -> ShredCatalogResult:
    """Add ``p_shred``, ``is_shred`` and ``shred_flag`` to a source catalog.

    Parameters
    ----------
    catalog_path : str or path-like
        FITS, CSV, ECSV or Parquet catalog (:func:`galseg.data.catalogs.read_catalog`).
    out_path : str or path-like
        Output catalog: the input's rows and columns, in order, plus the shred columns
        (module docstring). Its format follows its name's ending, else the input's.
    classifier : ShredClassifier, keyword-only
        E.g. ``ShredClassifier.from_file()`` (the shipped model).
    images_dir : path, optional
        Mode 1: a folder with one cutout per row, named
        ``pattern.format(id=<id_column value>, <column>=<value>, ...)``. PNG, JPEG or
        FITS (:func:`galseg.data.images.read_image`). The source is taken to be at
        pixel ``(W // 2, H // 2)``.
    pattern : str
        File name pattern of mode 1, e.g. ``'{id}_grz.png'`` or ``'{objID}.fits'``.
    id_column : str
        Catalog column that ``{id}`` stands for.
    field : path, optional
        Mode 2: one image (FITS with a celestial WCS, or any image with ``x_column``
        / ``y_column`` and a pixel scale) from which cutouts are cut.
    ra_column, dec_column : str
        Mode 2: position columns, degrees (ICRS, as the field's WCS).
    x_column, y_column : str, optional
        Mode 2: pixel position columns instead (0-based, x = column), for fields
        without a WCS.
    pixscale_arcsec : float, optional
        Pixel scale of the cutout files or the field, overriding the FITS WCS. A file
        cutout without one is used as it is if it is the model's size (taken to be at
        the model's scale) and flagged ``wrong_size`` otherwise.
    bands, bunit : str, optional
        Band order and unit of FITS images (as :func:`galseg.data.images.read_image`).
    threshold : float, optional
        ``is_shred = p_shred >= threshold``; default the model's.
    min_coverage : float
        Rows whose cutout has less than this fraction of valid, covered pixels are
        flagged (``edge``, ``off_field``, ``bad_pixels``, ``wrong_size``) instead of
        classified; covered-but-partial cutouts are padded with the median colour.
    overwrite_columns : bool
        Replace shred columns already in the catalog (kept in their position).
        Default: refuse.
    progress : bool
        Show a tqdm progress bar.
    chunk_size : int
        Rows read, classified and saved to the progress file at a time; bounds
        memory (about 200 kB per row at 128 x 128 pixels).
    workers : int
        Threads reading cutout files (mode 1).
    log : callable, optional
        Called with one-line notes (e.g. a progress file that cannot be reused).

    Returns
    -------
    ShredCatalogResult

    Raises
    ------
    galseg.errors.InputFileError
        Unreadable catalog or field.
    galseg.errors.GalsegError
        A column the options name is missing; shred columns already present.
    ValueError
        Invalid options (both or neither of ``images_dir`` and ``field``, ...).
    """
    start = time.perf_counter()
    log = log or (lambda _: None)
    _check_options(classifier, threshold, min_coverage, chunk_size, workers)
    if (images_dir is None) == (field is None):
        raise ValueError("give either images_dir (one cutout file per row) or field (one "
                         "image to cut from), not both or neither")
    if (x_column is None) != (y_column is None):
        raise ValueError("give both x_column and y_column, or neither")
    if images_dir is not None and x_column is not None:
        raise ValueError("x_column/y_column are for field mode; cutout files are centred")
    # the image options once, up front: not as one unreadable_cutout flag per row
    check_image_options(bands, pixscale_arcsec)
    catalog_path, out_path = Path(catalog_path), Path(out_path)
    threshold = classifier.threshold if threshold is None else float(threshold)
    table, in_format = read_catalog(catalog_path)
    out_format = catalog_format(out_path) or in_format
    present = [c for c in SHRED_COLUMNS if c in table.colnames]
    if present and not overwrite_columns:
        raise GalsegError(f"{catalog_path}: the catalog already has {', '.join(present)}; "
                          "pass overwrite_columns=True (--overwrite-columns) to replace them")

    size, model_pixscale = classifier.cutout_size, classifier.pixscale_arcsec
    settings: dict[str, Any] = {
        "catalog": sha256_of(catalog_path), "model": classifier_key(classifier),
        "pixscale_arcsec": pixscale_arcsec, "bands": bands, "bunit": bunit,
        "min_coverage": min_coverage,
    }
    if images_dir is not None:
        images_dir = Path(images_dir)
        if not images_dir.is_dir():
            raise InputFileError(images_dir, "cutout folder does not exist")
        source: Callable[[np.ndarray], list[Outcome]] = FileCutouts(
            table, images_dir=images_dir, pattern=pattern, id_column=id_column, size=size,
            model_pixscale=model_pixscale, pixscale_arcsec=pixscale_arcsec, bands=bands,
            bunit=bunit, min_coverage=min_coverage, workers=workers)
        settings.update(images=str(images_dir.resolve()), pattern=pattern, id=id_column)
    else:
        field = Path(field)
        pixel = x_column is not None
        _require_columns(table, catalog_path, [x_column, y_column] if pixel
                         else [ra_column, dec_column])
        image = read_image(field, pixscale_arcsec=pixscale_arcsec, bands=bands, bunit=bunit)
        if not pixel and image.wcs is None:
            raise InputFileError(field, "has no celestial WCS to place RA/Dec; give pixel "
                                        "columns (--x-column/--y-column) and --pixscale")
        if image.pixscale_arcsec is None:
            raise InputFileError(field, "pixel scale unknown (no WCS); give pixscale_arcsec "
                                        "(--pixscale)")
        source = _FieldCutouts(table, image, ra_column=ra_column, dec_column=dec_column,
                               x_column=x_column, y_column=y_column, size=size,
                               model_pixscale=model_pixscale, min_coverage=min_coverage)
        settings.update(field=sha256_of(field),
                        columns=[x_column, y_column] if pixel else [ra_column, dec_column])
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    n_rows = len(table)
    p_shred = np.full(n_rows, np.nan)
    flags = np.full(n_rows, "", dtype=object)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    progress_file = _Progress(out_path.with_name(out_path.name + PARTIAL_SUFFIX), key, n_rows)
    n_resumed = progress_file.load(p_shred, flags, log)
    todo = np.flatnonzero(flags == "")
    bar = tqdm(total=n_rows, initial=n_rows - len(todo), desc="shreds", unit="source",
               disable=not progress)
    finished = False
    try:
        for begin in range(0, len(todo), chunk_size):
            rows = todo[begin:begin + chunk_size]
            outcomes = source(rows)
            chunk_p = np.full(len(rows), np.nan)
            ok = [k for k, (rgb, _) in enumerate(outcomes) if rgb is not None]
            if ok:
                chunk_p[ok] = classifier.predict_proba(np.stack([outcomes[k][0] for k in ok]))
            chunk_flags = [flag for _, flag in outcomes]
            progress_file.append(rows, chunk_p, chunk_flags)
            p_shred[rows] = chunk_p
            flags[rows] = chunk_flags
            bar.update(len(rows))
        bar.close()
        add_shred_columns(table, p_shred, flags.astype(str), threshold)
        write_catalog(table, out_path, format=out_format)
        finished = True
    finally:
        bar.close()
        progress_file.close(remove=finished)

    unknown = np.isnan(p_shred)
    counts = Counter(_flag_name(f) for f in flags.tolist())
    return ShredCatalogResult(
        path=out_path, format=out_format, n_rows=n_rows,
        n_shreds=int(np.count_nonzero(~unknown & (p_shred >= threshold))),
        threshold=threshold, flag_counts=dict(counts.most_common()),
        n_resumed=n_resumed, elapsed_s=time.perf_counter() - start,
    )


__all__ = ["PARTIAL_SUFFIX", "SHRED_COLUMNS", "SHRED_FLAGS", "ShredCatalogResult",
           "clean_catalog"]
