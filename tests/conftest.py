"""Shared fixtures: a small simulated GZ3D data set and a tiny trained segmenter."""

from __future__ import annotations

from pathlib import Path

import pytest

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
