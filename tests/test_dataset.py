"""`galseg simulate`: files, determinism, resumption, and the truth catalog."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from galseg.cli.main import main
from galseg.data.gz3d import read_gz3d
from galseg.labels.rasterize import vote_maps
from galseg.sim.dataset import SimulationConfig, simulate_dataset

REQUIRED_COLUMNS = ("name", "file", "has_spiral_arms", "has_bar", "bar_length_px",
                    "bar_length_arcsec", "bar_pa_deg", "n_arms", "pitch_angle_deg",
                    "pixscale_arcsec", "redshift")


def _config(**kwargs) -> SimulationConfig:
    return SimulationConfig(**{"n": 10, "size": 48, "seed": 4, **kwargs})


def test_simulate_writes_gz3d_truth_and_catalog(tmp_path):
    catalog = simulate_dataset(tmp_path, _config(write_bands=True), workers=1, progress=False)
    on_disk = Table.read(tmp_path / "catalog.csv")
    assert len(catalog) == len(on_disk) == 10
    for column in REQUIRED_COLUMNS:
        assert column in on_disk.colnames
    for row in catalog:
        subject = read_gz3d(tmp_path / row["file"])
        assert subject.image.shape == (48, 48, 3)
        assert subject.n_volunteers == 15
        assert subject.name == row["name"]
        with fits.open(tmp_path / row["truth_file"]) as truth:
            spiral = truth["SPIRAL_TRUTH"]
            assert spiral.data.shape == (48, 48)
            assert spiral.header["CTYPE1"].startswith("RA---TAN")
            assert bool(spiral.data.any()) == bool(row["has_spiral_arms"])
            assert bool(truth["BAR_TRUTH"].data.any()) == bool(row["has_bar"])
        # truth and labels share one pixel grid and WCS
        np.testing.assert_allclose(subject.wcs.wcs.crval, [row["ra"], row["dec"]])
        if not row["has_bar"]:
            assert np.ma.is_masked(row["bar_length_px"])
    with fits.open(tmp_path / "bands" / f"{catalog['name'][0]}.fits") as bands:
        assert bands[0].header["BUNIT"] == "nanomaggy" and bands[0].header["BANDS"] == "grz"
        assert bands[0].data.shape[0] == 3
    # volunteers' votes go through the GZ3D reader like real labels
    votes = vote_maps(read_gz3d(tmp_path / catalog["file"][0]))
    assert votes.spiral_vote_fraction.max() <= 1.0


def test_same_seed_same_data_whatever_the_workers(tmp_path):
    one = simulate_dataset(tmp_path / "a", _config(n=12), workers=1, progress=False)
    two = simulate_dataset(tmp_path / "b", _config(n=12), workers=2, progress=False)
    assert (tmp_path / "a" / "catalog.csv").read_text() == (tmp_path / "b" / "catalog.csv"
                                                             ).read_text()
    for row in one:
        a = read_gz3d(tmp_path / "a" / row["file"])
        b = read_gz3d(tmp_path / "b" / row["file"])
        np.testing.assert_array_equal(a.image, b.image)
        assert len(a.classifications) == len(b.classifications)
    assert list(one["name"]) == list(two["name"])


def test_interrupted_run_resumes_without_loss_or_duplicates(tmp_path):
    full = tmp_path / "full"
    simulate_dataset(full, _config(), workers=1, progress=False)
    reference = (full / "catalog.csv").read_text()
    # a run killed part-way: some galaxies done, one half-written, no catalog
    partial = tmp_path / "partial"
    simulate_dataset(partial, _config(), workers=1, progress=False)
    (partial / "catalog.csv").unlink()
    for name in sorted((partial / "truth").glob("*_truth.fits"))[4:]:
        name.unlink()
    gz3d_files = sorted((partial / "gz3d").glob("*.fits.gz"))
    gz3d_files[7].write_bytes(gz3d_files[7].read_bytes()[:100])  # truncated by the kill
    simulate_dataset(partial, _config(), workers=1, progress=False)
    assert (partial / "catalog.csv").read_text() == reference
    read_gz3d(gz3d_files[7])  # rewritten whole
    assert len(list((partial / "gz3d").glob("*.fits.gz"))) == 10


def test_other_parameters_in_the_same_folder_are_refused(tmp_path):
    simulate_dataset(tmp_path, _config(n=2), workers=1, progress=False)
    with pytest.raises(ValueError, match="other parameters"):
        simulate_dataset(tmp_path, _config(n=2, seed=5), workers=1, progress=False)
    catalog = simulate_dataset(tmp_path, _config(n=2, seed=5), workers=1, progress=False,
                               overwrite=True)
    assert all(name.startswith("sim5-") for name in catalog["name"])
    assert len(list((tmp_path / "gz3d").glob("*.fits.gz"))) == 2


def test_simulate_command_line(tmp_path, capsys):
    status = main(["simulate", str(tmp_path / "out"), "--n", "3", "--size", "40", "--seed", "2",
                   "--workers", "1", "--quiet"])
    assert status == 0
    assert "wrote 3 galaxies" in capsys.readouterr().out
    assert len(Table.read(tmp_path / "out" / "catalog.csv")) == 3
    assert main(["simulate", str(tmp_path / "bad"), "--n", "0"]) == 2
    assert "n must be >= 1" in capsys.readouterr().err


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="size"):
        SimulationConfig(n=1, size=4)
    with pytest.raises(ValueError, match="pixscale_arcsec"):
        SimulationConfig(n=1, pixscale_arcsec=-1)
