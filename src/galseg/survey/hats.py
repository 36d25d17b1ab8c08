"""HATS catalogs (Hierarchical Adaptive Tiling Scheme) read through ``lsdb``.

A HATS catalog is a folder of Parquet files, one per HEALPix tile. ``lsdb`` (the
optional extra ``galseg[hats]``) opens it; :class:`HatsPartitions` gives its rows in
the catalog's own order (tile by tile, by ``_healpix_29`` within a tile), a partition
of ``rows`` rows at a time, one tile in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from astropy.table import Table

from galseg.data.catalogs import _table_from_arrow, rechunk
from galseg.errors import GalsegError, InputFileError


class HatsPartitions:
    """A HATS catalog folder as partitions of rows (see the module docstring)."""

    format = "hats"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            import lsdb
        except ImportError:
            raise GalsegError(f"{self.path} is a folder: reading a HATS catalog needs lsdb "
                              "(pip install 'galseg[hats]')") from None
        try:
            self.catalog = lsdb.open_catalog(self.path)
        except Exception as error:  # lsdb/hats raise many types for a folder that is not one
            raise InputFileError(self.path, f"not a readable HATS catalog ({error})") from None
        self.n_rows = int(self.catalog.hc_structure.catalog_info.total_rows)
        if self.n_rows == 0:
            raise InputFileError(self.path, "catalog has no rows")

    def _tiles(self) -> Iterator[pa.Table]:
        for part in self.catalog.to_delayed():
            frame = part.compute()
            index = frame.index.name
            if index is not None and index not in frame.columns:
                frame = frame.reset_index()  # keep _healpix_29 as a column
            yield pa.Table.from_pandas(frame, preserve_index=False)

    def partitions(self, rows: int) -> Iterator[Table]:
        """Yield the catalog ``rows`` rows at a time (the last partition may be shorter)."""
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise ValueError(f"partition rows must be a positive integer, got {rows!r}")
        for table in rechunk(self._tiles(), rows):
            yield _table_from_arrow(self.path, table)
