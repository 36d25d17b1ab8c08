"""Simulated detection data sets: fields of galaxies and stars with instance masks and classes.

:func:`write_detection_dataset` draws N fields (:mod:`galseg.sim.detection_fields`),
renders them and writes a detection example folder
(:mod:`galseg.data.detection_examples`, the format the detector trains on)::

    OUT/images/<name>.png   the Legacy-stretch colour picture, (H, W, 3) uint8 RGB
    OUT/fields/<name>.fits  the g, r, z images in nanomaggies: one (3, H, W) float32
                            cube, TAN WCS, BUNIT = 'nanomaggy', BANDS = 'grz' (as
                            shred fields are written; data.images.read_image reads it)
    OUT/masks/<name>.npz    ``masks``: (N, H, W) bool, plane i is object ``index`` i;
                            ``unlisted``: (H, W) bool, light of sources that are not
                            truth objects (centres off the image, or too faint)
    OUT/examples.csv        one row per field (source 'sim', pixscale_arcsec)
    OUT/objects.csv         one row per truth object (detection_fields.OBJECT_COLUMNS)
    OUT/rows/<name>.json    the field's rows, written last: the field is complete
    OUT/detection_simulation.json   seed, size, pixel scale; checked on resume

Field ``i`` of seed ``S`` is named ``d{i:06d}`` and drawn from ``default_rng([S, i])``,
so the data do not depend on the number of worker processes or on N: a rerun
with a larger N adds fields, and an interrupted run resumes (a field whose row
file and files exist is read back, any other is made again).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from galseg.data._atomic import write_bytes_atomic
from galseg.data.detection_examples import (
    DETECTION_CLASSES,
    DetectionExampleSet,
    read_detection_examples,
    write_example_tables,
    write_masks,
)
from galseg.data.encode import band_cube_fits_bytes, png_bytes
from galseg.data.gz3d import gz3d_wcs
from galseg.sim._jobs import prepare_output, run_jobs
from galseg.sim.detection_fields import (
    SDSS_PIXSCALE_ARCSEC,
    SimulatedDetectionField,
    draw_detection_field,
    render_detection_field,
)

MANIFEST = "detection_simulation.json"
_SUBFOLDERS = ("images", "fields", "masks", "rows")


def field_name(index: int) -> str:
    """Name of field ``index``: ``d000012``."""
    return f"d{index:06d}"


def simulate_detection_field(index: int, *, seed: int, size: int = 256,
                             pixscale_arcsec: float = SDSS_PIXSCALE_ARCSEC
                             ) -> SimulatedDetectionField:
    """Draw and render field ``index`` of seed ``seed`` (no files written)."""
    rng = np.random.default_rng([seed, index])
    spec = draw_detection_field(rng, name=field_name(index), shape=(size, size),
                                pixscale_arcsec=pixscale_arcsec)
    return render_detection_field(spec)


def _python(value: Any) -> Any:
    """numpy scalars -> Python scalars, for JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _field_rows(field: SimulatedDetectionField) -> dict[str, Any]:
    name = field.spec.name
    height, width = field.spec.shape
    example = {"name": name, "image": f"images/{name}.png", "masks": f"masks/{name}.npz",
               "source": "sim", "height": height, "width": width,
               "pixscale_arcsec": field.spec.conditions.pixscale_arcsec,
               "fits": f"fields/{name}.fits"}
    objects = [{c: _python(row[c]) for c in field.objects.colnames} for row in field.objects]
    return {"example": example, "objects": objects}


def _complete_rows(out_dir: Path, name: str) -> dict[str, Any] | None:
    """The rows of a field finished before, or None if anything of it is missing."""
    rows_path = out_dir / "rows" / f"{name}.json"
    if not rows_path.exists():
        return None
    rows = json.loads(rows_path.read_text())
    example = rows["example"]
    if not all((out_dir / example[key]).exists() for key in ("image", "masks", "fits")):
        return None
    return rows


def _make_field(args: tuple[str, int, int, int, float]) -> dict[str, Any]:
    out_dir_name, index, seed, size, pixscale = args
    out_dir = Path(out_dir_name)
    rows = _complete_rows(out_dir, field_name(index))
    if rows is not None:
        return rows
    field = simulate_detection_field(index, seed=seed, size=size, pixscale_arcsec=pixscale)
    rows = _field_rows(field)
    example = rows["example"]
    spec = field.spec
    wcs = gz3d_wcs(spec.shape, spec.ra_deg, spec.dec_deg,
                   pixscale_arcsec=spec.conditions.pixscale_arcsec)
    write_bytes_atomic(out_dir / example["image"], png_bytes(field.rgb))
    write_bytes_atomic(out_dir / example["fits"],
                       band_cube_fits_bytes(field.bands, wcs, field_name=spec.name))
    write_masks(out_dir, field.spec.name, field.masks, unlisted=field.unlisted)
    # written last: its presence marks the field as complete
    write_bytes_atomic(out_dir / "rows" / f"{field.spec.name}.json", json.dumps(rows).encode())
    return rows


def write_detection_dataset(
    out_dir: str | os.PathLike[str],
    n: int,
    *,
    seed: int,
    size: int = 256,
    pixscale_arcsec: float = SDSS_PIXSCALE_ARCSEC,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> DetectionExampleSet:
    """Simulate ``n`` detection fields into ``out_dir`` (module docstring).

    Parameters
    ----------
    out_dir : path
        Output folder (created). One holding fields of the same seed, size and
        pixel scale is resumed or extended.
    n : int
        Number of fields (``d000000`` to ``d{n-1:06d}``).
    seed : int
        Field ``i`` is drawn from ``default_rng([seed, i])``.
    size : int
        Side of the square fields in pixels (>= 32).
    pixscale_arcsec : float
        Pixel scale (0.396, SDSS).
    workers : int, optional
        Worker processes (default: the number of CPU cores). The output does not
        depend on it.
    overwrite : bool
        Start afresh in a folder that holds fields of another seed, size or scale.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    DetectionExampleSet
        The folder, read back.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    if size < 32:
        raise ValueError(f"size must be >= 32 pixels, got {size!r}")
    if not pixscale_arcsec > 0:
        raise ValueError(f"pixscale_arcsec must be > 0, got {pixscale_arcsec!r}")
    out_dir = prepare_output(
        out_dir, manifest=MANIFEST, overwrite=overwrite, what="detection simulation",
        params={"seed": int(seed), "size": int(size), "pixscale_arcsec": float(pixscale_arcsec)},
        subfolders=_SUBFOLDERS, clear=_SUBFOLDERS)
    jobs = [(str(out_dir), i, int(seed), int(size), float(pixscale_arcsec)) for i in range(n)]
    fields = run_jobs(_make_field, jobs, workers=workers, serial_below=4, chunksize=4,
                      desc="simulate detection fields", unit="field", progress=progress)
    write_example_tables(out_dir, [f["example"] for f in fields],
                         [row for f in fields for row in f["objects"]])
    return read_detection_examples(out_dir)


def detection_mix(objects: Table) -> dict[str, Any]:
    """Object counts per class and kind, and the fraction whose mask overlaps another's."""
    n = len(objects)
    classes = np.asarray(objects["class"], dtype=str) if n else np.zeros(0, str)
    kinds, counts = np.unique(np.asarray(objects["kind"], dtype=str) if n else classes,
                              return_counts=True)
    n_overlap = int(np.sum(np.asarray(objects["overlap"], dtype=bool))) if n else 0
    return {"objects": n, "overlap": n_overlap, "overlap_fraction": n_overlap / n if n else 0.0,
            "classes": {c: int(np.sum(classes == c)) for c in DETECTION_CLASSES},
            "kinds": {str(k): int(c) for k, c in zip(kinds, counts, strict=True)}}


__all__ = ["MANIFEST", "detection_mix", "field_name", "simulate_detection_field",
           "write_detection_dataset"]
