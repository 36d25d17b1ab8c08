"""A survey's output folder: partitions written atomically, merged at the end.

::

    DIR/survey.json          the run's key (catalog, model, settings), rows, partitions
    DIR/parts/part-000012.parquet     partition 12: its input rows and columns + task columns
    DIR/parts/objects-000012.parquet  (--task detect) its objects, written before the part
    DIR/maps.zarr            (--maps, segment) vote-fraction maps keyed by id
    DIR/catalog.parquet      every row in input order, written when all parts are done
    DIR/objects.parquet      (--task detect) every object

A partition's part file is its commit: it is written (atomically: a temporary file
renamed) only after everything else of the partition (objects, maps) is written.
A run started again with the same key finds the part files and computes only the
partitions without one; a partition killed half-way has no part file and is done
again whole, so no row is lost or written twice. When every part exists they are
merged, in order, into ``catalog.parquet`` (again atomically), the key is marked
complete, and the parts are removed.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from astropy.table import Column, MaskedColumn, Table

from galseg.data._atomic import write_atomic, write_bytes_atomic
from galseg.data.catalogs import _to_arrow
from galseg.errors import GalsegError

MANIFEST_NAME = "survey.json"
CATALOG_NAME = "catalog.parquet"
OBJECTS_NAME = "objects.parquet"
MAPS_NAME = "maps.zarr"
MAX_SHARD_ROWS = 256
"""At most this many maps per Zarr shard file (a partition holds whole shards)."""

_PART = re.compile(r"^part-(\d{6,})\.parquet$")


def task_column(values: Sequence[Any], dtype: type, name: str) -> Column:
    """A catalog column from one value per row; None (and non-finite floats) empty."""
    missing = np.array([v is None for v in values], dtype=bool)
    if dtype is float:
        data = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        missing |= ~np.isfinite(data)
    elif dtype is str:
        data = np.array(["" if v is None else str(v) for v in values], dtype=str)
        if data.dtype.itemsize == 0:
            data = data.astype("U1")
    else:
        fill = False if dtype is bool else 0
        data = np.array([fill if v is None else v for v in values],
                        dtype=bool if dtype is bool else np.int64)
    if missing.any():
        return MaskedColumn(data, mask=missing, name=name)
    return Column(data, name=name)


def shard_rows(partition_rows: int) -> int:
    """Rows per Zarr shard: the largest divisor of ``partition_rows`` up to
    :data:`MAX_SHARD_ROWS`, so every shard belongs to one partition (one writer)."""
    return max(d for d in range(1, min(partition_rows, MAX_SHARD_ROWS) + 1)
               if partition_rows % d == 0)


class SurveyOutput:
    """The output folder of one survey run (module docstring).

    Parameters
    ----------
    out_dir : path
    key : str
        Hash of everything that decides the results (catalog, model, settings).
    n_rows, partition_rows : int
    restart : bool
        Discard the results of a run with another key instead of refusing.
    """

    def __init__(self, out_dir: str | Path, *, key: str, n_rows: int, partition_rows: int,
                 task: str, restart: bool = False) -> None:
        self.dir = Path(out_dir)
        self.parts = self.dir / "parts"
        self.key, self.n_rows, self.partition_rows = key, n_rows, partition_rows
        self.n_partitions = math.ceil(n_rows / partition_rows)
        self.manifest = {"galseg_survey": 1, "key": key, "task": task, "n_rows": n_rows,
                         "partition_rows": partition_rows, "n_partitions": self.n_partitions,
                         "complete": False}
        self.dir.mkdir(parents=True, exist_ok=True)
        old = self._read_manifest()
        if old is not None and old.get("key") != key:
            if not restart:
                raise GalsegError(
                    f"{self.dir} holds a survey run with another catalog, model or settings "
                    f"({old.get('task')}, {old.get('n_rows')} rows); use another --out, or "
                    "--restart to discard it")
            self.discard()
            old = None
        if old is not None:
            self.manifest = old
        else:
            self._write_manifest()
        self.parts.mkdir(exist_ok=True)
        for stale in self.parts.glob(".*.tmp"):  # half-written by a killed run
            stale.unlink(missing_ok=True)

    # --- state ---------------------------------------------------------------------
    def _read_manifest(self) -> dict[str, Any] | None:
        path = self.dir / MANIFEST_NAME
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (ValueError, OSError):
            return {"key": None}

    def _write_manifest(self) -> None:
        write_bytes_atomic(self.dir / MANIFEST_NAME,
                           (json.dumps(self.manifest, indent=1) + "\n").encode())

    def discard(self) -> None:
        """Remove an earlier run's results from the folder."""
        for name in (CATALOG_NAME, OBJECTS_NAME, MANIFEST_NAME):
            (self.dir / name).unlink(missing_ok=True)
        for name in ("parts", MAPS_NAME, "segmaps"):
            shutil.rmtree(self.dir / name, ignore_errors=True)

    @property
    def complete(self) -> bool:
        """True when an earlier run with this key finished (``catalog.parquet`` written)."""
        return bool(self.manifest.get("complete")) and (self.dir / CATALOG_NAME).is_file()

    def part_path(self, index: int, kind: str = "part") -> Path:
        return self.parts / f"{kind}-{index:06d}.parquet"

    def done(self) -> set[int]:
        """Partitions whose part file exists (finished by this or an earlier run)."""
        if not self.parts.is_dir():
            return set()
        found = set()
        for path in self.parts.iterdir():
            match = _PART.match(path.name)
            if match and int(match.group(1)) < self.n_partitions:
                found.add(int(match.group(1)))
        return found

    def rows_in(self, index: int) -> int:
        return min(self.partition_rows, self.n_rows - index * self.partition_rows)

    # --- writing -------------------------------------------------------------------
    def write_partition(self, index: int, table: Table, objects: Table | None = None) -> None:
        """Write partition ``index`` (objects first, the part file last: the commit)."""
        if len(table) != self.rows_in(index):
            raise GalsegError(f"partition {index} has {len(table)} rows, expected "
                              f"{self.rows_in(index)}")
        if objects is not None:
            arrow = _to_arrow(objects)
            write_atomic(self.part_path(index, "objects"),
                         lambda tmp: pq.write_table(arrow, tmp))
        arrow = _to_arrow(table)
        write_atomic(self.part_path(index), lambda tmp: pq.write_table(arrow, tmp))

    def finish(self, *, objects: bool = False) -> Path:
        """Merge the parts into ``catalog.parquet`` (and ``objects.parquet``), in order;
        mark the run complete and remove the parts."""
        missing = sorted(set(range(self.n_partitions)) - self.done())
        if missing:
            raise GalsegError(f"{len(missing)} partitions are not done (first: {missing[0]})")
        n = _merge([self.part_path(i) for i in range(self.n_partitions)],
                   self.dir / CATALOG_NAME)
        if n != self.n_rows:
            raise GalsegError(f"the parts hold {n} rows, the catalog {self.n_rows}")
        if objects:
            _merge([self.part_path(i, "objects") for i in range(self.n_partitions)],
                   self.dir / OBJECTS_NAME)
        self.manifest["complete"] = True
        self._write_manifest()
        shutil.rmtree(self.parts, ignore_errors=True)
        return self.dir / CATALOG_NAME


def _merge(paths: Sequence[Path], out: Path) -> int:
    """Concatenate Parquet files with one schema into ``out`` (atomically), one file in
    memory at a time. The string-length hints of astropy's metadata are dropped (they
    differ from part to part); units, descriptions and table meta are kept."""
    schema = pq.read_schema(paths[0])
    metadata = {k: v for k, v in (schema.metadata or {}).items()
                if not k.startswith(b"table::len::")}
    schema = schema.with_metadata(metadata)
    total = 0

    def write(tmp: Path) -> None:
        nonlocal total
        with pq.ParquetWriter(tmp, schema) as writer:
            for path in paths:
                table = pq.read_table(path)
                if not table.schema.equals(schema, check_metadata=False):
                    try:
                        table = table.cast(schema)
                    except (pa.ArrowInvalid, ValueError) as error:
                        raise GalsegError(f"{path}: its columns differ from the first "
                                          f"partition's ({error})") from None
                writer.write_table(table.replace_schema_metadata(metadata))
                total += table.num_rows

    write_atomic(out, write)
    return total


def create_maps_store(path: Path, *, n_rows: int, shape: tuple[int, int], partition_rows: int,
                      id_column: str, attrs: dict[str, Any]) -> None:
    """The Zarr store of ``--maps``: ``spiral_vote_fraction`` and ``bar_vote_fraction``
    (n_rows, H, W) float32, NaN where a row has no map; ``id`` (n_rows,) the id of each
    row; chunks of one map, shards of :func:`shard_rows` rows."""
    import zarr

    group = zarr.open_group(path, mode="w")
    rows = shard_rows(partition_rows)
    for name in ("spiral_vote_fraction", "bar_vote_fraction"):
        group.create_array(name, shape=(n_rows, *shape), chunks=(1, *shape),
                           shards=(rows, *shape), dtype="float32", fill_value=np.nan,
                           attributes={"unit": "fraction of volunteers (predicted)"})
    group.create_array("id", shape=(n_rows,), chunks=(partition_rows,), dtype=str,
                       fill_value="")
    group.attrs.update({**attrs, "id_column": id_column, "map_shape": list(shape)})


def write_map_ids(path: Path, start: int, ids: Sequence[Any]) -> None:
    """The ids of one partition's rows (``start`` the first row) in the maps store."""
    import zarr

    group = zarr.open_group(path, mode="r+")
    group["id"][start:start + len(ids)] = np.array([str(i) for i in ids], dtype=str)


def read_map(path: str | Path, id: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(spiral, bar)`` vote-fraction maps of the row with this id from a survey's
    ``maps.zarr`` (the first such row)."""
    import zarr

    group = zarr.open_group(path, mode="r")
    ids = group["id"][:]
    where = np.flatnonzero(ids == str(id))
    if not len(where):
        raise KeyError(f"no row with id {id!r} in {path}")
    row = int(where[0])
    return group["spiral_vote_fraction"][row], group["bar_vote_fraction"][row]


__all__ = ["CATALOG_NAME", "MANIFEST_NAME", "MAPS_NAME", "OBJECTS_NAME", "SurveyOutput",
           "create_maps_store", "read_map", "shard_rows", "task_column", "write_map_ids"]
