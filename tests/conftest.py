"""Shared fixtures: a small simulated GZ3D data set and a tiny trained segmenter."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from galseg.models.cutout_net import CutoutNetConfig
from galseg.models.unet import UNetConfig
from galseg.sim.dataset import SimulationConfig, simulate_dataset

TINY_UNET = UNetConfig(widths=(4, 8), dropout=(0.0, 0.0))


@pytest.fixture(scope="session")
def sim_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 simulated galaxies of 48x48 px (GZ3D files, truth, catalog.csv)."""
    out = tmp_path_factory.mktemp("sim")
    simulate_dataset(out, SimulationConfig(n=30, size=48, seed=7), workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_segmenter_path(sim_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net trained for two epochs on :func:`sim_dataset` (seconds on a CPU)."""
    from galseg.training.segmenter import TrainConfig, train_segmenter

    out = tmp_path_factory.mktemp("model") / "tiny.pt"
    config = TrainConfig(model=TINY_UNET, frame_size=48, batch_size=8, max_epochs=2)
    train_segmenter(sim_dataset, out, config, device="cpu", progress=False,
                    log=lambda _: None)
    return out


TINY_SHREDNET = CutoutNetConfig(widths=(2, 4, 4, 8), convs_per_stage=1, dropout=0.0)


@pytest.fixture(scope="session")
def tiny_shred_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained two-member tiny shred classifier (random weights, fixed seed)."""
    import torch

    from galseg.models.cutout_net import CutoutNet
    from galseg.models.weights import ShredMetadata, save_shred_classifier

    torch.manual_seed(0)
    members = [CutoutNet(TINY_SHREDNET).eval() for _ in range(2)]
    path = tmp_path_factory.mktemp("shred_model") / "tiny_shreds.pt"
    return save_shred_classifier(members, ShredMetadata(TINY_SHREDNET, threshold=0.5), path)


@pytest.fixture(scope="session")
def review_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two sources of vote-fraction maps of 10 simulated 48x48 galaxies, made with galseg:
    the shipped model's (``galseg segment``: ``<name>_masks.fits``) and the simulated
    volunteers' (``galseg labels``: ``gz3d_<name>_127_<k>_votes.fits``, other names, so
    matched by sky position), and the images (g, r, z FITS cubes with a WCS)."""
    from galseg.data.images import find_images
    from galseg.data.maps import write_label_files
    from galseg.predict.run import run_segment
    from galseg.predict.segment import Segmenter

    out = tmp_path_factory.mktemp("review_sources")
    simulate_dataset(out / "sim", SimulationConfig(n=10, size=48, seed=5, write_bands=True),
                     workers=1, progress=False)
    (out / "labels").mkdir()
    for path in sorted((out / "sim" / "gz3d").glob("*.fits.gz")):
        write_label_files(path, out / "labels")
    run_segment(find_images(out / "sim" / "bands"), out / "segment", segmenter=Segmenter(),
                progress=False)
    return {"images": out / "sim" / "bands", "model": out / "segment", "crowd": out / "labels"}


def _blob(size: int, x: float, y: float, sigma: float, amplitude: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return amplitude * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2))


@pytest.fixture(scope="session")
def shred_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 cutouts from 12 fields: a shred is a small knot with a big disc beside it,
    a galaxy is a blob alone; easy enough for a tiny network to learn a little."""
    out = tmp_path_factory.mktemp("shreds")
    (out / "cutouts").mkdir()
    rng = np.random.default_rng(3)
    rows = []
    for field in range(12):
        for det in range(4):
            shred = (field + det) % 2 == 0
            sky = 0.12 + 0.02 * rng.standard_normal((128, 128))
            light = _blob(128, 64, 64, 2.0 if shred else 5.0, 0.6)
            if shred:
                light += _blob(128, 64 + rng.uniform(-30, 30), 64 + rng.uniform(20, 40),
                               25.0, 0.5)
            rgb = np.clip(np.stack([sky + light * c for c in (0.9, 1.0, 1.1)], -1), 0, 1)
            name = f"f{field:03d}_{det:02d}"
            Image.fromarray((rgb * 255).astype(np.uint8)).save(out / "cutouts" / f"{name}_grz.png")
            rows.append({"id": name, "field": f"f{field:03d}", "true_is_shred": int(shred),
                         "kind": "shred" if shred else "field"})
    with open(out / "catalog.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out
