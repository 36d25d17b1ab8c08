"""Source catalogs in and out: FITS, CSV, ECSV and Parquet tables, every row and column kept.

``galseg shreds`` adds columns to a user's catalog and gives the same catalog back,
so reading and writing must not change what it does not touch:

* **FITS**: the first table HDU; its header keywords (``meta``), units (``TUNIT``),
  display formats (``TDISP``) and integer nulls (``TNULL``) are kept. NaN stays
  NaN (it is not turned into a mask). Other HDUs and the primary header are not
  carried over. Masked floats are written as NaN; astropy writes no null booleans,
  so masked booleans are written as False.
* **CSV**: read as text, then each column typed only where that loses nothing
  (:func:`_type_csv_column`): integers without leading zeros that fit int64
  (19-digit SDSS ``objID`` included), ``True``/``False``, floats; a column with
  ids such as ``0012`` or 20-digit numbers stays text. Written back, an untouched
  column is text-identical, except float columns written in mixed styles
  (``1.50`` next to ``2.125``, ``1E5``), which keep their values exactly but are
  written in Python's shortest form. Empty cells are masked values, and masked
  values are written as empty cells.
* **ECSV**: astropy's reader and writer (types and units are in its header).
* **Parquet**: read and written with pyarrow directly (astropy's reader needs pandas
  and loses nulls): nulls are masked values and masked values nulls; units,
  descriptions and table ``meta`` written by astropy or galseg are kept (other
  tools' schema metadata is not).

Every write is atomic (temporary file in the destination folder, then renamed).
"""

from __future__ import annotations

import gzip
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.table import Column, MaskedColumn, Table
from astropy.units import UnitsWarning
from astropy.utils.exceptions import AstropyWarning

from galseg.data._atomic import write_atomic
from galseg.data._fitsread import FITS_READ_ERRORS, read_fits_checked
from galseg.errors import InputFileError

CATALOG_FORMATS = ("fits", "csv", "ecsv", "parquet")
"""Catalog formats galseg reads and writes."""

CATALOG_SUFFIXES = {
    ".fits": "fits", ".fit": "fits", ".fits.gz": "fits", ".fit.gz": "fits",
    ".csv": "csv", ".ecsv": "ecsv", ".parquet": "parquet", ".pq": "parquet",
}
"""File name endings (case-insensitive) and the format each means."""

_INT_TEXT = r"^-?(0|[1-9][0-9]*)$"
_DIGITS_TEXT = r"^[-+]?[0-9]+$"
_FIXED_TEXT = re.compile(r"^-?[0-9]+\.([0-9]+)$")
_PARQUET_META_KEY = b"table_meta_yaml"  # astropy's key: units, formats, table meta


def catalog_format(path: str | PathLike[str]) -> str | None:
    """The format a file name's ending means (:data:`CATALOG_SUFFIXES`), or None."""
    name = Path(path).name.lower()
    for suffix in sorted(CATALOG_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and name != suffix:
            return CATALOG_SUFFIXES[suffix]
    return None


def _check_format(path: Path, format: str | None) -> str:
    if format is None:
        format = catalog_format(path)
        if format is None:
            raise InputFileError(
                path, f"cannot tell the catalog format from the name; use one of "
                      f"{', '.join(CATALOG_SUFFIXES)} or give the format")
        return format
    if format not in CATALOG_FORMATS:
        raise ValueError(f"format must be one of {CATALOG_FORMATS}, got {format!r}")
    return format


# --------------------------------------------------------------------------- reading


def read_catalog(path: str | PathLike[str], *, format: str | None = None) -> tuple[Table, str]:
    """Read a source catalog, keeping every row and column in order.

    Parameters
    ----------
    path : str or path-like
    format : {'fits', 'csv', 'ecsv', 'parquet'}, optional, keyword-only
        Default: from the file name (:data:`CATALOG_SUFFIXES`).

    Returns
    -------
    table : astropy.table.Table
        Columns with empty values (CSV empty cells, Parquet nulls, FITS ``TNULL``)
        are ``MaskedColumn``; see the module docstring for the rules per format.
    format : str
        The format read.

    Raises
    ------
    galseg.errors.InputFileError
        Missing, empty, truncated or unreadable file; a catalog with no rows.
    """
    path = Path(path)
    format = _check_format(path, format)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputFileError(path, "catalog file does not exist") from None
    except OSError as error:
        raise InputFileError(path, f"cannot be read ({error.strerror or error})") from None
    if path.is_dir():
        raise InputFileError(path, "is a directory, not a catalog file")
    if size == 0:
        raise InputFileError(path, "catalog file is empty")
    reader = {"fits": _read_fits, "csv": _read_csv, "ecsv": _read_ecsv,
              "parquet": _read_parquet}[format]
    table = reader(path)
    if len(table) == 0:
        raise InputFileError(path, f"catalog has no rows (columns: {table.colnames})")
    return table, format


_READ_ERRORS = (*FITS_READ_ERRORS, pa.ArrowException)


def _table_hdu(path: Path, hdul: fits.HDUList) -> fits.BinTableHDU | fits.TableHDU:
    hdu = next((h for h in hdul if isinstance(h, fits.BinTableHDU | fits.TableHDU)), None)
    if hdu is None:
        raise InputFileError(path, "FITS file holds no table HDU")
    return hdu


def _fits_table(hdu: fits.BinTableHDU | fits.TableHDU) -> Table:
    # character_as_bytes=False: text columns as str; mask_invalid=False: NaN
    # and empty strings stay values, so they are written back unchanged.
    return Table.read(hdu, character_as_bytes=False, mask_invalid=False)


def _read_fits(path: Path) -> Table:
    return read_fits_checked(path, lambda hdul: _fits_table(_table_hdu(path, hdul)),
                             what="FITS table")


def _read_ecsv(path: Path) -> Table:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            table = Table.read(path, format="ascii.ecsv")
    except Exception as error:  # astropy's ascii readers raise many types
        raise InputFileError(path, f"not a readable ECSV table ({error})") from None
    for name in table.colnames:
        col = table[name]
        if isinstance(col, MaskedColumn) and col.dtype.kind == "U":
            # ECSV writes "" for both; as in CSV, an empty string is a value, not a mask
            table.replace_column(name, Column(col.filled(""), name=name, unit=col.unit,
                                              format=col.format,
                                              description=col.description, meta=col.meta))
    return table


def _csv_header(path: Path) -> list[str]:
    import csv

    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputFileError(path, f"not a readable CSV file ({error})") from None
    if not header or not any(name.strip() for name in header):
        raise InputFileError(path, "CSV file has no header line with column names")
    if len(set(header)) != len(header):
        duplicated = sorted({n for n in header if header.count(n) > 1})
        raise InputFileError(path, f"CSV header repeats column names {duplicated}")
    if any(not name for name in header):
        raise InputFileError(path, "CSV header has an empty column name")
    return header


def _csv_as_text(names: list[str]) -> pacsv.ConvertOptions:
    """Every column as text, empty cells as empty strings (typed afterwards)."""
    return pacsv.ConvertOptions(column_types={name: pa.string() for name in names},
                                strings_can_be_null=False, quoted_strings_can_be_null=False,
                                null_values=[])


def _read_csv(path: Path) -> Table:
    names = _csv_header(path)
    try:
        arrow = pacsv.read_csv(path, convert_options=_csv_as_text(names))
    except pa.ArrowException as error:
        # a killed writer leaves a last line with too few cells: Arrow says so here
        raise InputFileError(path, f"not a readable CSV table, or truncated "
                                   f"({str(error).splitlines()[0]})") from None
    if arrow.column_names != names:
        raise InputFileError(path, "CSV header could not be parsed consistently")
    table = Table()
    for name in names:
        table[name] = _type_csv_column(arrow.column(name).combine_chunks(), name)
    return table


@dataclass(frozen=True)
class CsvColumnKind:
    """What the text of one CSV column allows (see :func:`_type_csv_column`).

    Found for a whole column, or for parts of it and combined with :meth:`merge`, so
    a catalog read in partitions types each column as the whole file would.
    """

    any_value: bool = False
    all_int: bool = True
    all_digits: bool = True
    all_bool: bool = True
    all_float: bool = True
    all_repr: bool = True
    decimals: frozenset[int] = frozenset()
    all_fixed: bool = True

    @classmethod
    def of(cls, text: pa.Array) -> CsvColumnKind:
        filled = text.filter(pc.invert(pc.equal(text, "")))
        if len(filled) == 0:
            return cls()
        all_int = pc.all(pc.match_substring_regex(filled, _INT_TEXT)).as_py()
        if all_int:
            try:
                pc.cast(filled, pa.int64())
            except pa.ArrowInvalid:  # overflow: more than int64 holds
                all_int = False
        all_digits = pc.all(pc.match_substring_regex(filled, _DIGITS_TEXT)).as_py()
        all_bool = pc.all(pc.is_in(filled, pa.array(["True", "False"]))).as_py()
        strings = filled.to_pylist()
        try:
            numbers = [float(s) for s in strings]
        except ValueError:
            return cls(True, all_int, all_digits, all_bool, False, False, frozenset(), False)
        decimals, fixed = set(), True
        for value, string in zip(numbers, strings, strict=True):
            n = len(m.group(1)) if (m := _FIXED_TEXT.match(string)) else -1
            decimals.add(n)
            fixed = fixed and n > 0 and f"{value:.{n}f}" == string
        all_repr = all(repr(v) == s for v, s in zip(numbers, strings, strict=True))
        return cls(True, all_int, all_digits, all_bool, True, all_repr, frozenset(decimals),
                   fixed)

    def merge(self, other: CsvColumnKind) -> CsvColumnKind:
        if not other.any_value:
            return self
        if not self.any_value:
            return other
        return CsvColumnKind(True, self.all_int and other.all_int,
                             self.all_digits and other.all_digits,
                             self.all_bool and other.all_bool,
                             self.all_float and other.all_float,
                             self.all_repr and other.all_repr,
                             self.decimals | other.decimals,
                             self.all_fixed and other.all_fixed)


def _type_csv_column(text: pa.Array, name: str, kind: CsvColumnKind | None = None) -> Column:
    """Type a CSV column of text without losing anything (see the module docstring).

    Integers only when written as ``str(int)`` would write them (no leading zeros or
    ``+``, within int64), so ids keep their text; floats whenever every value
    parses, with a fixed ``.Nf`` display format when all values have N decimals
    (so ``150.100000`` comes back as written); otherwise text. ``kind`` (default:
    this text's own) decides, so that parts of one column are typed alike.
    """
    kind = CsvColumnKind.of(text) if kind is None else kind
    empty = pc.equal(text, "")
    mask = empty.to_numpy(zero_copy_only=False)

    def as_text() -> Column:
        return Column(text.to_numpy(zero_copy_only=False).astype(str), name=name)

    if not kind.any_value:
        return as_text()

    def masked(values: np.ndarray, fill: object, **kwargs: object) -> Column:
        if not mask.any():
            return Column(values, name=name, **kwargs)
        return MaskedColumn(values, mask=mask, name=name, fill_value=fill, **kwargs)

    if kind.all_int:
        values = pc.cast(pc.if_else(empty, "0", text), pa.int64())
        return masked(values.to_numpy(zero_copy_only=False), 0)
    if kind.all_digits:
        # whole numbers written with leading zeros or beyond int64: ids, kept as text
        return as_text()
    if kind.all_bool:
        return masked(pc.equal(text, "True").to_numpy(zero_copy_only=False), False)
    if not kind.all_float:
        return as_text()
    values = np.zeros(len(text), np.float64)
    if (~mask).any():
        values[~mask] = [float(s) for s in text.filter(pc.invert(empty)).to_pylist()]
    fmt = None
    if not kind.all_repr and len(kind.decimals) == 1 and kind.all_fixed:
        fmt = f".{next(iter(kind.decimals))}f"
    return masked(values, np.nan, **({"format": fmt} if fmt else {}))


def _read_parquet(path: Path) -> Table:
    try:
        arrow = pq.read_table(path)
    except _READ_ERRORS as error:
        raise InputFileError(path, f"not a readable Parquet file, or truncated "
                                   f"({str(error).splitlines()[0]})") from None
    return _table_from_arrow(path, arrow)


def _table_from_arrow(path: Path, arrow: pa.Table,
                      metadata: dict[bytes, bytes] | None = None) -> Table:
    table = Table()
    for name in arrow.column_names:
        try:
            table[name] = _from_arrow(arrow.column(name).combine_chunks(), name)
        except (pa.ArrowException, ValueError, TypeError) as error:
            raise InputFileError(path, f"column {name!r} of Arrow type "
                                       f"{arrow.schema.field(name).type} cannot be read "
                                       f"({error})") from None
    _apply_astropy_meta(table, arrow.schema.metadata or metadata or {})
    return table


def _from_arrow(array: pa.Array, name: str) -> Column:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    kind = array.type
    nulls = array.null_count > 0
    mask = array.is_null().to_numpy(zero_copy_only=False) if nulls else None
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        fill = False if pa.types.is_boolean(kind) else 0
        values = (array.fill_null(pa.scalar(fill, kind)) if nulls else array).to_numpy(
            zero_copy_only=False)
    elif (pa.types.is_string(kind) or pa.types.is_large_string(kind)
          or pa.types.is_string_view(kind)):
        values = (array.fill_null("") if nulls else array).to_numpy(
            zero_copy_only=False).astype(str)
    elif (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
          or pa.types.is_binary_view(kind)):
        values = (array.fill_null(b"") if nulls else array).to_numpy(
            zero_copy_only=False).astype(bytes)
    elif pa.types.is_fixed_size_list(kind) and not nulls:
        flat = array.flatten().to_numpy(zero_copy_only=False)
        values = flat.reshape(len(array), kind.list_size)
    else:  # timestamps, dates and anything else numpy can represent
        values = np.asarray(array.to_numpy(zero_copy_only=False))
    if mask is None:
        return Column(values, name=name)
    return MaskedColumn(values, mask=mask, name=name)


def _apply_astropy_meta(table: Table, metadata: dict[bytes, bytes]) -> None:
    """Units, formats, descriptions and table meta from astropy's Parquet metadata."""
    from astropy.table import meta

    text = metadata.get(_PARQUET_META_KEY)
    if not text:
        return
    try:
        header = meta.get_header_from_yaml(text.decode("utf-8").split("\n"))
    except Exception:  # other writers' YAML: the data are still fine
        return
    table.meta.update({k: v for k, v in (header.get("meta") or {}).items()
                       if k != "__serialized_columns__"})
    for column in header.get("datatype", []):
        if column.get("name") in table.colnames:
            col = table[column["name"]]
            for attr in ("unit", "format", "description", "meta"):
                if attr in column:
                    setattr(col, attr, column[attr])


# --------------------------------------------------------------------------- partitions


def rechunk(pieces: Iterable[pa.RecordBatch | pa.Table], rows: int) -> Iterator[pa.Table]:
    """Arrow tables of exactly ``rows`` rows (the last one fewer) from pieces of any sizes,
    holding one partition (and one piece) at a time."""
    pending: list[pa.Table] = []
    count = 0
    for piece in pieces:
        table = piece if isinstance(piece, pa.Table) else pa.Table.from_batches([piece])
        pending.append(table.replace_schema_metadata(None))
        count += table.num_rows
        while count >= rows:
            joined = pa.concat_tables(pending)
            yield joined.slice(0, rows)
            rest = joined.slice(rows)
            pending, count = [rest], rest.num_rows
    if count:
        yield pa.concat_tables(pending)


class CatalogPartitions:
    """A catalog file read a partition of rows at a time, in order, in bounded memory.

    Each partition is what :func:`read_catalog` would give for those rows (same
    types, units, masks): CSV columns are typed from the whole file (a first pass
    over it, :class:`CsvColumnKind`), Parquet is read by record batches, FITS
    tables are memory-mapped (a ``.fits.gz`` file is decompressed in memory) and
    ECSV, which cannot be streamed, is read whole.

    Parameters
    ----------
    path : str or path-like
    format : {'fits', 'csv', 'ecsv', 'parquet'}, optional
        Default: from the file name.

    Attributes
    ----------
    n_rows : int
    format : str
    """

    def __init__(self, path: str | PathLike[str], *, format: str | None = None) -> None:
        self.path = Path(path)
        self.format = _check_format(self.path, format)
        self._csv_kinds: dict[str, CsvColumnKind] = {}
        self._whole: Table | None = None
        if self.format == "ecsv":
            self._whole, _ = read_catalog(self.path, format="ecsv")
            self.n_rows = len(self._whole)
            return
        if not self.path.is_file():
            read_catalog(self.path, format=self.format)  # raises the clear error
        if self.format == "parquet":
            try:
                self.n_rows = pq.ParquetFile(self.path).metadata.num_rows
            except _READ_ERRORS as error:
                raise InputFileError(self.path, f"not a readable Parquet file, or truncated "
                                                f"({str(error).splitlines()[0]})") from None
        elif self.format == "csv":
            self.n_rows = 0
            for batch in self._csv_batches():
                self.n_rows += batch.num_rows
                for name, column in zip(batch.schema.names, batch.columns, strict=True):
                    kind = CsvColumnKind.of(column)
                    self._csv_kinds[name] = self._csv_kinds.get(name, CsvColumnKind()).merge(kind)
        else:
            self.n_rows = read_fits_checked(
                self.path, lambda hdul: len(_table_hdu(self.path, hdul).data),
                what="FITS table")
        if self.n_rows == 0:
            raise InputFileError(self.path, "catalog has no rows")

    def _csv_batches(self) -> Iterator[pa.RecordBatch]:
        names = _csv_header(self.path)
        try:
            reader = pacsv.open_csv(self.path, convert_options=_csv_as_text(names))
            if reader.schema.names != names:
                raise InputFileError(self.path, "CSV header could not be parsed consistently")
            yield from reader
        except pa.ArrowException as error:
            raise InputFileError(self.path, f"not a readable CSV table, or truncated "
                                            f"({str(error).splitlines()[0]})") from None

    def _arrow_tables(self, rows: int) -> Iterator[pa.Table]:
        """Arrow tables of exactly ``rows`` rows (the last one fewer)."""
        if self.format == "csv":
            batches: Iterator[pa.RecordBatch] = self._csv_batches()
        else:
            try:
                batches = pq.ParquetFile(self.path).iter_batches(batch_size=rows)
            except _READ_ERRORS as error:
                raise InputFileError(self.path, f"not a readable Parquet file "
                                                f"({str(error).splitlines()[0]})") from None
        try:
            yield from rechunk(batches, rows)
        except _READ_ERRORS as error:
            raise InputFileError(self.path, f"not a readable {self.format} file, or truncated "
                                            f"({str(error).splitlines()[0]})") from None

    def partitions(self, rows: int) -> Iterator[Table]:
        """Yield the catalog ``rows`` rows at a time (the last partition may be shorter)."""
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise ValueError(f"partition rows must be a positive integer, got {rows!r}")
        if self._whole is not None:
            for start in range(0, self.n_rows, rows):
                yield self._whole[start:start + rows]
        elif self.format == "fits":
            yield from self._fits_partitions(rows)
        elif self.format == "csv":
            for arrow in self._arrow_tables(rows):
                table = Table()
                for name in arrow.column_names:
                    table[name] = _type_csv_column(arrow.column(name).combine_chunks(), name,
                                                   self._csv_kinds[name])
                yield table
        else:
            metadata = pq.read_schema(self.path).metadata
            for arrow in self._arrow_tables(rows):
                yield _table_from_arrow(self.path, arrow, metadata)

    def _fits_partitions(self, rows: int) -> Iterator[Table]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            try:
                hdul = fits.open(self.path, memmap=True)
            except FITS_READ_ERRORS as error:
                raise InputFileError(self.path, f"not a readable FITS table ({error})") from None
        with hdul:
            hdu = _table_hdu(self.path, hdul)
            for start in range(0, self.n_rows, rows):
                part = type(hdu)(data=hdu.data[start:start + rows], header=hdu.header)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", VerifyWarning)
                    table = _fits_table(part)
                # a copy: the partition must not keep the memory map (and the file) open
                yield table.copy(copy_data=True)


# --------------------------------------------------------------------------- writing


def write_catalog(table: Table, path: str | PathLike[str], *, format: str | None = None) -> Path:
    """Write ``table`` to ``path`` atomically in ``format``.

    Parameters
    ----------
    table : astropy.table.Table
    path : str or path-like
        Destination; its folder must exist. ``.fits.gz`` is gzip-compressed.
    format : {'fits', 'csv', 'ecsv', 'parquet'}, optional, keyword-only
        Default: from the file name.

    Returns
    -------
    pathlib.Path
        The destination.

    Notes
    -----
    Empty (masked) values: CSV and ECSV empty cells, Parquet nulls, FITS NaN for
    floats, ``TNULL`` for integers, empty strings, and False for booleans.
    """
    path = Path(path)
    format = _check_format(path, format)
    if format == "fits":
        hdu = _fits_hdu(table)
        compress = path.name.lower().endswith(".gz")

        def write(tmp: Path) -> None:
            hdul = fits.HDUList([fits.PrimaryHDU(), hdu])
            if compress:
                with gzip.open(tmp, "wb", compresslevel=6) as handle:
                    hdul.writeto(handle)
            else:
                hdul.writeto(tmp)
    elif format == "parquet":
        def write(tmp: Path) -> None:
            pq.write_table(_to_arrow(table), tmp)
    else:
        def write(tmp: Path) -> None:
            table.write(tmp, format=f"ascii.{format}", overwrite=True)
    return write_atomic(path, write)


def _fits_hdu(table: Table) -> fits.BinTableHDU:
    columns = {}
    for name in table.colnames:
        col = table[name]
        if isinstance(col, MaskedColumn) and col.dtype.kind == "b" and np.any(col.mask):
            # astropy would write the fill value (True): unknown must not read as "yes"
            columns[name] = col.filled(False)
    if columns:
        table = table.copy(copy_data=False)
        for name, col in columns.items():
            table.replace_column(name, col)
    with warnings.catch_warnings():
        # a long meta key becoming HIERARCH, a survey unit such as 'nanomaggy' that the
        # FITS standard lacks (written as given, as the input had it): nothing to report
        warnings.simplefilter("ignore", VerifyWarning)
        warnings.simplefilter("ignore", UnitsWarning)
        return fits.table_to_hdu(table)


def _to_arrow(table: Table) -> pa.Table:
    from astropy.table import meta

    arrays, metadata = [], {}
    for name in table.colnames:
        col = table[name]
        data = np.asarray(col.data if not isinstance(col, MaskedColumn) else col.data.data)
        mask = np.ma.getmaskarray(col) if isinstance(col, MaskedColumn) else None
        if data.dtype.byteorder == ">":
            data = data.astype(data.dtype.newbyteorder("<"))
        if data.ndim == 2:
            inner = pa.array(data.ravel())
            arrays.append(pa.FixedSizeListArray.from_arrays(inner, data.shape[1]))
        elif data.ndim == 1:
            arrays.append(pa.array(data, mask=mask if mask is not None and mask.any() else None))
        else:
            raise ValueError(f"column {name!r} has {data.ndim - 1}-dimensional cells; "
                             "Parquet output takes scalar and 1-d cells")
        if data.dtype.kind == "U":
            metadata[f"table::len::{name}"] = str(max(data.dtype.itemsize // 4, 1))
    # astropy's own metadata layout, so astropy.table.Table.read gets units back too
    metadata[_PARQUET_META_KEY.decode()] = "\n".join(meta.get_yaml_from_table(table))
    schema_meta = {k.encode(): v.encode() for k, v in metadata.items()}
    return pa.Table.from_arrays(arrays, names=list(table.colnames)).replace_schema_metadata(
        schema_meta)
