"""Simulated training sets in the Galaxy Zoo 3D release format, with exact truth.

:func:`simulate_dataset` draws N cutouts, renders them, lets 15 simulated
volunteers label each one, and writes

* ``OUT/gz3d/gz3d_<MANGAID>_127_<subject>.fits.gz`` - GZ3D release layout
  (so models train through exactly the code path a real GZ3D user takes);
* ``OUT/truth/<name>_truth.fits`` - ``SPIRAL_TRUTH`` and ``BAR_TRUTH`` (uint8
  masks on the same pixel grid and WCS) and a one-row ``TRUTH`` table;
* ``OUT/bands/<name>.fits`` (optional) - the g, r, z images in nanomaggies (one cube);
* ``OUT/catalog.csv`` - one truth row per galaxy;
* ``OUT/simulation.json`` - the parameters, checked when a run is resumed.

Galaxy ``i`` of seed ``S`` is drawn from ``default_rng([S, i])``, so the data do
not depend on the number of worker processes, and an interrupted run resumes:
galaxies whose truth file exists are read back instead of re-made (the truth
file is written last and atomically, so its presence means the galaxy is
complete).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table

from galseg import __version__
from galseg.data._atomic import write_bytes_atomic
from galseg.data.catalogs import write_catalog
from galseg.data.encode import band_cube_fits_bytes, fits_bytes
from galseg.data.gz3d import gz3d_wcs, write_gz3d
from galseg.sim._jobs import prepare_output, run_jobs
from galseg.sim.population import BAR_FAMILIES, LENS_FRACTION, PopulationMix, draw_scene
from galseg.sim.scene import SimulatedCutout, render_cutout
from galseg.sim.volunteers import simulate_classifications

MANIFEST = "simulation.json"
IFU_DESIGN_SIZE = 127


@dataclass(frozen=True)
class SimulationConfig:
    """Parameters of a simulated data set (stored in ``simulation.json``)."""

    n: int
    size: int = 128
    seed: int = 0
    pixscale_arcsec: float = 0.262
    n_volunteers: int = 15
    write_bands: bool = False
    bar_families: bool = False
    """Draw bars of several families (:data:`galseg.sim.population.BAR_FAMILIES`)."""
    lenses: bool = False
    """Put lenses and ovals in discs (:data:`galseg.sim.population.LENS_FRACTION`)."""

    @property
    def mix(self) -> PopulationMix:
        """The population the galaxies are drawn from."""
        mix = BAR_FAMILIES if self.bar_families else PopulationMix()
        return replace(mix, lens_fraction=LENS_FRACTION) if self.lenses else mix

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n!r}")
        if self.size < 16:
            raise ValueError(f"size must be >= 16 pixels, got {self.size!r}")
        if not self.pixscale_arcsec > 0:
            raise ValueError(f"pixscale_arcsec must be > 0, got {self.pixscale_arcsec!r}")
        if self.n_volunteers < 1:
            raise ValueError(f"n_volunteers must be >= 1, got {self.n_volunteers!r}")

    def galaxy_name(self, index: int) -> str:
        return f"sim{self.seed}-{index:06d}"

    def gz3d_path(self, out_dir: Path, index: int) -> Path:
        name = f"gz3d_{self.galaxy_name(index)}_{IFU_DESIGN_SIZE}_{index + 1}.fits.gz"
        return out_dir / "gz3d" / name

    def truth_path(self, out_dir: Path, index: int) -> Path:
        return out_dir / "truth" / f"{self.galaxy_name(index)}_truth.fits"

    def bands_path(self, out_dir: Path, index: int) -> Path:
        return out_dir / "bands" / f"{self.galaxy_name(index)}.fits"


def simulate_galaxy(config: SimulationConfig, index: int) -> tuple[SimulatedCutout, tuple]:
    """Draw and render galaxy ``index`` and its volunteers' classifications (no files written)."""
    rng = np.random.default_rng([config.seed, index])
    spec = draw_scene(rng, name=config.galaxy_name(index), size=config.size,
                      pixscale_arcsec=config.pixscale_arcsec,
                      mix=config.mix)
    cutout = render_cutout(spec)
    classifications = simulate_classifications(cutout.truth, rng,
                                               n_volunteers=config.n_volunteers)
    return cutout, classifications


def _truth_hdus(cutout: SimulatedCutout, row: dict[str, Any], header: fits.Header) -> fits.HDUList:
    primary = fits.PrimaryHDU()
    primary.header["NAME"] = row["name"]
    primary.header["ORIGIN"] = f"galseg {__version__} simulator"
    spiral = fits.ImageHDU(cutout.truth.spiral_mask.astype(np.uint8), header=header,
                           name="SPIRAL_TRUTH")
    bar = fits.ImageHDU(cutout.truth.bar_mask.astype(np.uint8), header=header, name="BAR_TRUTH")
    table = fits.table_to_hdu(Table(rows=[row]))
    table.name = "TRUTH"
    return fits.HDUList([primary, spiral, bar, table])


def _make_one(args: tuple[SimulationConfig, str, int]) -> dict[str, Any]:
    config, out_dir_name, index = args
    out_dir = Path(out_dir_name)
    truth_path = config.truth_path(out_dir, index)
    if truth_path.exists():
        # resumed run: this galaxy was finished before (its truth file is written last)
        with fits.open(truth_path) as hdus:
            table = Table(hdus["TRUTH"].data)
        return {name: table[name][0].item() if hasattr(table[name][0], "item")
                else table[name][0] for name in table.colnames}
    cutout, classifications = simulate_galaxy(config, index)
    spec = cutout.spec
    wcs = gz3d_wcs(spec.shape, spec.ra_deg, spec.dec_deg, pixscale_arcsec=config.pixscale_arcsec)
    gz3d_path = config.gz3d_path(out_dir, index)
    write_gz3d(gz3d_path, image=cutout.rgb, classifications=classifications,
               ra_deg=spec.ra_deg, dec_deg=spec.dec_deg,
               pixscale_arcsec=config.pixscale_arcsec,
               metadata={"MANGAID": spec.name, "IFUDESIGNSIZE": IFU_DESIGN_SIZE,
                         "sample": "galseg-sim"})
    row = cutout.truth_row()
    row["file"] = str(gz3d_path.relative_to(out_dir))
    row["truth_file"] = str(truth_path.relative_to(out_dir))
    header = wcs.to_header()
    if config.write_bands:
        # `galseg segment OUT/bands` reads it as a g, r, z image in nanomaggies
        write_bytes_atomic(config.bands_path(out_dir, index),
                           band_cube_fits_bytes(cutout.bands, wcs))
    write_bytes_atomic(truth_path, fits_bytes(_truth_hdus(cutout, row, header)))
    return row


def simulate_dataset(
    out_dir: str | os.PathLike[str],
    config: SimulationConfig,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Table:
    """Simulate ``config.n`` galaxies into ``out_dir``; returns the truth catalog.

    Parameters
    ----------
    out_dir : path
        Output folder (created). An existing one with the same parameters is resumed.
    config : SimulationConfig
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
        The catalog also written to ``out_dir/catalog.csv``.
    """
    params = asdict(config)
    for option in ("bar_families", "lenses"):
        if not params[option]:
            # folders simulated before the option existed resume with the same manifest
            del params[option]
    out_dir = prepare_output(
        out_dir, manifest=MANIFEST, params=params, overwrite=overwrite,
        subfolders=("gz3d", "truth") + (("bands",) if config.write_bands else ()),
        clear=("gz3d", "truth", "bands"))
    jobs = [(config, str(out_dir), i) for i in range(config.n)]
    rows = run_jobs(_make_one, jobs, workers=workers, serial_below=8, chunksize=8,
                    desc="simulate", unit="galaxy", progress=progress)
    catalog = Table(rows=rows, masked=True)
    for column in catalog.itercols():
        # unknown quantities (no bar: no bar length) are written as empty CSV cells
        if column.dtype.kind == "f":
            column.mask = ~np.isfinite(column)
    write_catalog(catalog, out_dir / "catalog.csv", format="csv")
    return catalog
