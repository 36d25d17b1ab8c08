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
