"""A resumable ``galseg segment`` run over many inputs: maps, overlays and one catalog.

Per input ``<stem>`` the run writes ``<stem>_overlay.png`` and then ``<stem>_masks.fits``
(vote fractions, optional threshold masks, and a one-row MEASUREMENTS table), each
atomically. The masks file is written last and records the run settings (``RUNKEY``):
when the same run is started again, inputs whose masks file has the same key are not
recomputed and their catalog row is read back from it. A killed run therefore resumes
without losing or repeating rows, and ``catalog.csv`` (rewritten at the end, in input
order) always has exactly one row per input.

A file that cannot be read gets a row with its ``error`` and empty measurements; the
run goes on.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from tqdm import tqdm

from galseg.data._atomic import write_bytes_atomic
from galseg.data.encode import png_bytes
from galseg.data.images import read_image
from galseg.errors import InputFileError
from galseg.predict.batch import (
    BatchRun,
    blank_unknown,
    input_names,
    read_finished,
    record_failure,
    run_key,
)
from galseg.predict.segment import SegmentationResult, Segmenter, masks_fits_bytes
from galseg.visualize import overlay_maps

CATALOG_NAME = "catalog.csv"


@dataclass
class SegmentRun(BatchRun):
    """What a run produced: the catalog (one row per input, input order) and failures."""


def read_redshifts(path: str | PathLike[str], *, name_column: str = "name",
                   redshift_column: str | None = None) -> dict[str, float]:
    """``{name: redshift}`` from a catalog (CSV, ECSV, FITS, any format astropy reads)."""
    path = Path(path)
    try:
        table = (Table.read(path, format="ascii.csv") if path.suffix.lower() == ".csv"
                 else Table.read(path))
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise InputFileError(path, f"cannot read the redshift catalog ({exc})") from None
    if name_column not in table.colnames:
        raise InputFileError(path, f"no column {name_column!r} (columns: {table.colnames})")
    candidates = [redshift_column] if redshift_column else ["redshift", "z", "Z", "REDSHIFT"]
    column = next((c for c in candidates if c in table.colnames), None)
    if column is None:
        raise InputFileError(path, f"no redshift column among {candidates}")
    values = {}
    for name, z in zip(table[name_column], table[column], strict=True):
        z = float(z) if not np.ma.is_masked(z) else math.nan
        if math.isfinite(z):
            values[str(name).strip()] = z
    return values


def _run_key(segmenter: Segmenter, thresholds: Sequence[int], redshift: float | None,
             classical_bar: bool = False) -> str:
    settings = {"model": segmenter.metadata.to_json(), "scale": segmenter.scale,
                "views": segmenter.views, "thresholds": list(thresholds), "redshift": redshift,
                "measure_rules": segmenter.measure_rules}
    if classical_bar:  # only when asked, so keys of earlier runs stay valid
        settings["classical_bar"] = True
    return run_key(settings)


def _measurements(hdul: fits.HDUList) -> dict[str, Any]:
    row = Table.read(hdul["MEASUREMENTS"])[0]
    return {name: row[name] for name in row.colnames}


def _write(result: SegmentationResult, out_dir: Path, *, thresholds: Sequence[int],
           key: str, classical_bar: bool = False) -> dict[str, Any]:
    name = result.name
    extra = {}
    if classical_bar:
        from galseg.measure.isophote_bar import IsophoteBar

        extra = IsophoteBar(result.image.rgb, pixscale_arcsec=result.image.pixscale_arcsec,
                            redshift=result.redshift, wcs=result.image.wcs).to_row()
    # outline what was measured, so the picture and the catalog agree
    overlay = overlay_maps(result.image.rgb, result.spiral_vote_fraction,
                           result.bar_vote_fraction,
                           outline_masks=(result.arms.mask, result.bar.mask))
    write_bytes_atomic(out_dir / f"{name}_overlay.png", png_bytes(overlay))
    write_bytes_atomic(out_dir / f"{name}_masks.fits",
                       masks_fits_bytes(result, thresholds=thresholds, extra_cards={"RUNKEY": key},
                                        extra_measurements=extra))
    return {**result.measurements, **extra}


def run_segment(
    inputs: Sequence[Path],
    out_dir: str | PathLike[str],
    *,
    segmenter: Segmenter,
    redshift: float | None = None,
    redshifts: dict[str, float] | None = None,
    thresholds: Sequence[int] = (),
    catalog_fits: bool = False,
    pixscale_arcsec: float | None = None,
    bands: str | None = None,
    progress: bool = True,
    classical_bar: bool = False,
    on_error: Callable[[Path, str], None] | None = None,
) -> SegmentRun:
    """Segment ``inputs`` into ``out_dir`` (see the module docstring).

    Parameters
    ----------
    inputs : sequence of Path
        Image files (see :func:`galseg.data.images.find_images`); stems must be unique.
    redshift : float, optional
        One redshift for every input; ``redshifts`` (by input stem) takes precedence.
    thresholds : sequence of int
        Also write binary masks where the predicted votes (out of 15) reach each value.
    catalog_fits : bool
        Also write ``catalog.fits``.
    pixscale_arcsec, bands : optional
        Passed to :func:`galseg.data.images.read_image` (override the WCS pixel scale;
        band order of FITS cubes).
    classical_bar : bool
        Also find the bar by isophote fitting (:class:`galseg.measure.isophote_bar.IsophoteBar`)
        and add its ``iso_*`` columns.
    on_error : callable, optional
        Called with (path, reason) for each failed input (the CLI prints it).
    """
    out_dir = Path(out_dir)
    names = input_names(inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    redshifts = redshifts or {}
    rows: dict[str, dict[str, Any]] = {}
    failures: list[tuple[str, str]] = []
    n_reused = 0
    todo: list[Path] = []
    for path, name in zip(inputs, names, strict=True):
        z = redshifts.get(name, redshift)
        key = _run_key(segmenter, thresholds, z, classical_bar)
        row = read_finished(out_dir / f"{name}_masks.fits", key, _measurements,
                            also=[out_dir / f"{name}_overlay.png"])
        if row is not None:
            rows[name] = row
            n_reused += 1
        else:
            todo.append(path)

    bar = tqdm(total=len(inputs), initial=n_reused, desc="segmenting", unit="image",
               disable=not progress)
    batch: list[Any] = []

    def flush() -> None:
        if not batch:
            return
        zs = [redshifts.get(im.name, redshift) for im in batch]
        for result, z in zip(segmenter.segment_many(batch, redshifts=zs), zs, strict=True):
            key = _run_key(segmenter, thresholds, z, classical_bar)
            rows[result.name] = _write(result, out_dir, thresholds=thresholds, key=key,
                                       classical_bar=classical_bar)
            bar.update()
        batch.clear()

    for path in todo:
        try:
            image = read_image(path, pixscale_arcsec=pixscale_arcsec, bands=bands)
        except (InputFileError, OSError, ValueError) as exc:
            record_failure(failures, path, exc, on_error)
            bar.update()
            continue
        batch.append(image)
        if len(batch) >= segmenter.batch_size:
            flush()
    flush()
    bar.close()

    catalog = _catalog(inputs, names, rows, dict(failures), redshifts, redshift)
    _write_table(catalog, out_dir / CATALOG_NAME, "ascii.csv")
    if catalog_fits:
        _write_table(catalog, out_dir / "catalog.fits", "fits")
    return SegmentRun(catalog, failures, n_reused)


def _catalog(inputs: Sequence[Path], names: Sequence[str], rows: dict[str, dict[str, Any]],
             failures: dict[str, str], redshifts: dict[str, float],
             redshift: float | None) -> Table:
    columns: list[str] = []
    for row in rows.values():
        columns += [c for c in row if c not in columns]
    records = []
    for path, name in zip(inputs, names, strict=True):
        row = rows.get(name, {})
        record = {"name": name, "file": str(path)}
        for column in columns:
            record[column] = row.get(column, np.nan)
        z = redshifts.get(name, redshift)
        record["redshift"] = np.nan if z is None else z
        record["error"] = failures.get(str(path), "")
        records.append(record)
    if not records:
        return Table(names=["name", "file", "redshift", "error"], dtype=[str, str, float, str])
    return blank_unknown(Table(rows=[list(r.values()) for r in records],
                               names=list(records[0]), masked=True))


def _write_table(table: Table, path: Path, fmt: str) -> None:
    buffer = io.BytesIO() if fmt == "fits" else io.StringIO()
    table.write(buffer, format=fmt)
    data = buffer.getvalue()
    write_bytes_atomic(path, data.encode() if isinstance(data, str) else data)
