"""Simulated training sets for the shred classifier: cutouts of catalog detections with truth.

:func:`simulate_shred_dataset` draws N shred fields (:mod:`galseg.sim.shreds`),
renders them, extracts their catalogs, and writes

* ``OUT/cutouts/<id>_grz.png`` - a 128 x 128 RGB cutout centred on each
  catalog row, cut by :func:`galseg.data.cutouts.cutout_rgb` from the field's
  Legacy-stretch colour image (``id`` = ``f000012_03``: field 12, row 3);
* ``OUT/catalog.csv`` - one row per detection (columns in :data:`CATALOG_COLUMNS`),
  ordered by field then detection;
* ``OUT/fields/<field>.fits`` (with ``write_fields``) - the g, r, z images in
  nanomaggies as one (3, H, W) float32 cube with a TAN WCS, ``BUNIT =
  'nanomaggy'`` and ``BANDS = 'grz'``, as ``sim/dataset.py`` writes its bands
  (:func:`galseg.data.images.read_image` reads them);
* ``OUT/rows/<field>.json`` - the field's catalog rows, written last and
  atomically: it marks the field as complete;
* ``OUT/shreds_simulation.json`` - the parameters, checked when a run is resumed.

Field ``i`` of seed ``S`` is drawn from ``default_rng([S, i])``, so the data do not
depend on the number of worker processes, and an interrupted run resumes: a
field whose row file and files all exist is read back, any other is made again.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table

from galseg.data._atomic import write_bytes_atomic
from galseg.data.catalogs import write_catalog
from galseg.data.cutouts import cutout_rgb
from galseg.data.encode import band_cube_fits_bytes, png_bytes
from galseg.data.gz3d import gz3d_wcs
from galseg.sim._jobs import prepare_output, run_jobs
from galseg.sim.shreds import (
    SHRED_PIXSCALE_ARCSEC,
    CatalogPipeline,
    SimulatedShredField,
    draw_shred_field,
    render_shred_field,
)

MANIFEST = "shreds_simulation.json"
CATALOG_COLUMNS = (
    "id", "field", "det", "cutout", "x", "y", "ra", "dec", "flux_r", "flux_r_err", "snr",
    "mag_r", "a_px", "b_px", "theta_deg", "npix", "true_is_shred", "kind", "source_kind",
    "host_distance_arcsec", "host_distance_scale_lengths", "dominant_fraction",
    "host_flux_fraction", "bump_snr", "cutout_coverage", "host_class", "host_arm_structure",
    "host_mag_r", "host_redshift", "host_radius_arcsec", "host_scale_length_arcsec",
    "host_inclination_deg", "host_x", "host_y", "psf_fwhm_r_arcsec", "sky_sigma_r_nmgy",
    "pixscale_arcsec",
)
"""Columns of ``catalog.csv``; the module docstring of :mod:`galseg.sim.shreds` defines the
truth columns and ``docs/simulator.md`` lists them all."""
_SUBFOLDERS = ("cutouts", "rows", "fields")


@dataclass(frozen=True)
class ShredSimulationConfig:
    """Parameters of a simulated shred data set (stored in ``shreds_simulation.json``).

    Attributes
    ----------
    n_fields : int
        Number of fields (about 12 catalog rows each).
    seed : int
        Field ``i`` is drawn from ``default_rng([seed, i])``.
    pixscale_arcsec : float
        Pixel scale of fields and cutouts (0.469, the shred classifier's).
    cutout_size : int
        Cutout side in pixels (128).
    write_fields : bool
        Also write each field's g, r, z cube (``OUT/fields/``).
    pipeline : CatalogPipeline
        Extraction settings and the catalog cut.
    """

    n_fields: int
    seed: int = 0
    pixscale_arcsec: float = SHRED_PIXSCALE_ARCSEC
    cutout_size: int = 128
    write_fields: bool = False
    pipeline: CatalogPipeline = field(default_factory=CatalogPipeline)

    def __post_init__(self) -> None:
        if self.n_fields < 1:
            raise ValueError(f"n_fields must be >= 1, got {self.n_fields!r}")
        if not self.pixscale_arcsec > 0:
            raise ValueError(f"pixscale_arcsec must be > 0, got {self.pixscale_arcsec!r}")
        if self.cutout_size < 16:
            raise ValueError(f"cutout_size must be >= 16 pixels, got {self.cutout_size!r}")

    def field_name(self, index: int) -> str:
        return f"f{index:06d}"

    def rows_path(self, out_dir: Path, index: int) -> Path:
        return out_dir / "rows" / f"{self.field_name(index)}.json"

    def field_path(self, out_dir: Path, index: int) -> Path:
        return out_dir / "fields" / f"{self.field_name(index)}.fits"


def simulate_field(config: ShredSimulationConfig, index: int) -> SimulatedShredField:
    """Draw and render field ``index`` of ``config`` (no files written)."""
    rng = np.random.default_rng([config.seed, index])
    spec = draw_shred_field(rng, name=config.field_name(index),
                            pixscale_arcsec=config.pixscale_arcsec,
                            cutout_size=config.cutout_size)
    return render_shred_field(spec, pipeline=config.pipeline)


def field_rows(shred_field: SimulatedShredField, *,
               cutout_size: int = 128) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """Catalog rows (``CATALOG_COLUMNS``) and uint8 RGB cutouts of a field's selected detections."""
    spec = shred_field.spec
    pixscale = spec.conditions.pixscale_arcsec
    rgb = shred_field.rgb.astype(np.float32) / 255.0
    wcs = gz3d_wcs(spec.shape, spec.ra_deg, spec.dec_deg, pixscale_arcsec=pixscale)
    catalog = shred_field.catalog
    ra, dec = wcs.wcs_pix2world(np.asarray(catalog["x"]), np.asarray(catalog["y"]), 0)
    host = spec.host
    host_flux_r = host.bulge_flux[1] + host.disc_flux[1]
    rows, images = [], []
    for det, (detection, ra_deg, dec_deg) in enumerate(zip(catalog, ra, dec, strict=True)):
        cutout = cutout_rgb(rgb, float(detection["x"]), float(detection["y"]), size=cutout_size)
        images.append((cutout.rgb * 255.0 + 0.5).astype(np.uint8))
        ident = f"{spec.name}_{det:02d}"
        rows.append({
            "id": ident, "field": spec.name, "det": det,
            "cutout": f"cutouts/{ident}_grz.png",
            "x": float(detection["x"]), "y": float(detection["y"]),
            "ra": float(ra_deg), "dec": float(dec_deg),
            **{name: float(detection[name]) for name in (
                "flux_r", "flux_r_err", "snr", "mag_r", "a_px", "b_px", "theta_deg")},
            "npix": int(detection["npix"]), "true_is_shred": int(detection["true_is_shred"]),
            "kind": str(detection["kind"]), "source_kind": str(detection["source_kind"]),
            **{name: float(detection[name]) for name in (
                "host_distance_arcsec", "host_distance_scale_lengths", "dominant_fraction",
                "host_flux_fraction", "bump_snr")},
            "cutout_coverage": cutout.coverage,
            "host_class": spec.host_class, "host_arm_structure": spec.host_arm_structure,
            "host_mag_r": float(22.5 - 2.5 * np.log10(host_flux_r)),
            "host_redshift": spec.host_redshift, "host_radius_arcsec": spec.host_radius_arcsec,
            "host_scale_length_arcsec": spec.host_scale_length_arcsec,
            "host_inclination_deg": float(host.inclination_deg),
            "host_x": spec.host_centre_xy[0], "host_y": spec.host_centre_xy[1],
            "psf_fwhm_r_arcsec": spec.conditions.psf_fwhm_arcsec[1],
            "sky_sigma_r_nmgy": float(spec.conditions.sky_sigma_per_pixel()[1]),
            "pixscale_arcsec": pixscale,
        })
    return rows, images


def _complete_rows(config: ShredSimulationConfig, out_dir: Path,
                   index: int) -> list[dict[str, Any]] | None:
    """The rows of a field finished before, or None if anything of it is missing."""
    rows_path = config.rows_path(out_dir, index)
    if not rows_path.exists():
        return None
    rows = json.loads(rows_path.read_text())
    if not all((out_dir / row["cutout"]).exists() for row in rows):
        return None
    if config.write_fields and not config.field_path(out_dir, index).exists():
        return None
    return rows


def _make_field(args: tuple[ShredSimulationConfig, str, int]) -> list[dict[str, Any]]:
    config, out_dir_name, index = args
    out_dir = Path(out_dir_name)
    rows = _complete_rows(config, out_dir, index)
    if rows is not None:
        return rows
    shred_field = simulate_field(config, index)
    rows, images = field_rows(shred_field, cutout_size=config.cutout_size)
    for row, image in zip(rows, images, strict=True):
        write_bytes_atomic(out_dir / row["cutout"], png_bytes(image))
    if config.write_fields:
        spec = shred_field.spec
        wcs = gz3d_wcs(spec.shape, spec.ra_deg, spec.dec_deg,
                       pixscale_arcsec=spec.conditions.pixscale_arcsec)
        write_bytes_atomic(config.field_path(out_dir, index),
                           band_cube_fits_bytes(shred_field.bands, wcs, field_name=spec.name))
    # written last: its presence marks the field as complete
    write_bytes_atomic(config.rows_path(out_dir, index), json.dumps(rows).encode())
    return rows


def catalog_table(rows: list[dict[str, Any]]) -> Table:
    """Rows (dicts) -> the catalog table with :data:`CATALOG_COLUMNS`, also when empty."""
    if not rows:
        text = ("id", "field", "cutout", "kind", "source_kind", "host_class",
                "host_arm_structure")
        return Table(names=CATALOG_COLUMNS,
                     dtype=[str if name in text else int if name in ("det", "npix", "true_is_shred")
                            else float for name in CATALOG_COLUMNS])
    return Table({name: [row[name] for row in rows] for name in CATALOG_COLUMNS})


def simulate_shred_dataset(
    out_dir: str | os.PathLike[str],
    config: ShredSimulationConfig,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Table:
    """Simulate ``config.n_fields`` shred fields into ``out_dir``; returns the catalog.

    Parameters
    ----------
    out_dir : path
        Output folder (created). An existing one with the same parameters is resumed.
    config : ShredSimulationConfig
        What to simulate.
    workers : int, optional
        Worker processes (default: the number of CPU cores). The output does not
        depend on it.
    overwrite : bool
        Start afresh in a folder that holds a simulation with other parameters.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    astropy.table.Table
        One row per catalog detection, ordered by field then detection; also
        written to ``out_dir/catalog.csv``.
    """
    out_dir = prepare_output(
        out_dir, manifest=MANIFEST, params=asdict(config), overwrite=overwrite,
        what="shred simulation", clear=_SUBFOLDERS,
        subfolders=("cutouts", "rows") + (("fields",) if config.write_fields else ()))
    jobs = [(config, str(out_dir), i) for i in range(config.n_fields)]
    rows = [row for field in run_jobs(_make_field, jobs, workers=workers, serial_below=4,
                                      chunksize=4, desc="simulate shreds", unit="field",
                                      progress=progress)
            for row in field]
    catalog = catalog_table(rows)
    write_catalog(catalog, out_dir / "catalog.csv", format="csv")
    return catalog


def class_mix(catalog: Table) -> dict[str, Any]:
    """Counts per truth kind, number of shreds and their fraction (for reports)."""
    kinds, counts = np.unique(np.asarray(catalog["kind"], dtype=str), return_counts=True)
    n = len(catalog)
    n_shred = int(np.sum(np.asarray(catalog["true_is_shred"], dtype=int))) if n else 0
    return {"rows": n, "shreds": n_shred, "shred_fraction": n_shred / n if n else 0.0,
            "kinds": {str(k): int(c) for k, c in zip(kinds, counts, strict=True)}}


__all__ = ["CATALOG_COLUMNS", "ShredSimulationConfig", "catalog_table", "class_mix",
           "field_rows", "simulate_field", "simulate_shred_dataset"]
