"""``galseg --help`` and the help of every subcommand: quick and true.

Quick: help exits 0 without importing torch or torchvision (seconds of start-up for a
command that prints a page), which the project's CLI rule asks; each is checked in a
fresh ``python -X importtime -m galseg ... --help`` process, whose import log lists
every module it imported. True: the defaults the help quotes are the library's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

import galseg
from galseg.cli import simulate as simulate_cli
from galseg.cli.main import build_parser, main

FORBIDDEN = ("torch", "torchvision")


def _command_paths(parser: argparse.ArgumentParser,
                   prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the parser tree: (), ('train',), ('train', 'segmenter'), ..."""
    paths = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                paths += _command_paths(subparser, (*prefix, name))
    return paths


COMMANDS = _command_paths(build_parser())


def test_the_command_tree_is_walked() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"", "simulate", "train segmenter", "train shreds", "train detector",
            "train morphology", "evaluate segmenter", "review serve", "survey"} <= names


def _imported_modules(importtime_log: str) -> set[str]:
    """Module names of a ``-X importtime`` log ("import time: self | cumulative | name")."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_log.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "galseg")
def test_help_exits_0_without_torch(path: tuple[str, ...]) -> None:
    src = str(Path(galseg.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "galseg", *path, "--help"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"usage: {' '.join(('galseg', *path))}"), done.stdout[:500]
    imported = _imported_modules(done.stderr)
    assert "galseg.cli.main" in imported  # the log is read right
    heavy = sorted(m for m in imported if m.split(".")[0] in FORBIDDEN)
    assert not heavy, f"`{' '.join(('galseg', *path, '--help'))}` imports {heavy[:5]}"


def test_simulate_help_quotes_the_simulator_defaults() -> None:
    from galseg.sim.dataset import SimulationConfig
    from galseg.sim.detection_fields import SDSS_PIXSCALE_ARCSEC
    from galseg.sim.shreds import SHRED_PIXSCALE_ARCSEC

    defaults = SimulationConfig(n=1)
    assert defaults.pixscale_arcsec == simulate_cli.GZ3D_PIXSCALE_ARCSEC
    assert defaults.n_volunteers == simulate_cli.DEFAULT_VOLUNTEERS
    assert defaults.size == simulate_cli.DEFAULT_SIZE
    assert simulate_cli.SHRED_PIXSCALE_ARCSEC == SHRED_PIXSCALE_ARCSEC
    assert simulate_cli.SDSS_PIXSCALE_ARCSEC == SDSS_PIXSCALE_ARCSEC


def _captured_train_call(monkeypatch: pytest.MonkeyPatch, module: str, function: str,
                         argv: list[str]) -> tuple[tuple, dict]:
    """Run ``galseg train ...`` with the training function replaced; its arguments."""
    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(f"galseg.training.{module}.{function}",
                        lambda *args, **kwargs: calls.append((args, kwargs)))
    assert main(["train", *argv]) == 0
    (call,) = calls
    return call


def test_train_defaults_are_the_library_defaults(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """With no options, each ``galseg train`` command trains the library's default recipe."""
    from galseg.models.configs import DetectorConfig
    from galseg.models.metadata import MorphologyMetadata
    from galseg.training.configs import (
        DEFAULT_MORPHOLOGY_CONFIG,
        DetectorTrainConfig,
        EnsembleTrainConfig,
        TrainConfig,
    )

    out = str(tmp_path / "model.pt")
    args, _ = _captured_train_call(monkeypatch, "segmenter", "train_segmenter",
                                   ["segmenter", "--data", "d", "--out", out])
    assert args[2] == TrainConfig()
    args, _ = _captured_train_call(monkeypatch, "shreds", "train_shred_classifier",
                                   ["shreds", "--data", "d", "--out", out])
    assert args[2] == EnsembleTrainConfig()
    args, _ = _captured_train_call(monkeypatch, "detector", "train_detector",
                                   ["detector", "--data", "d", "--out", out])
    assert args[0] == DetectorTrainConfig(data=("d",), model=DetectorConfig())
    args, kwargs = _captured_train_call(monkeypatch, "morphology", "train_morphology_classifier",
                                        ["morphology", "--data", "d", "--out", out])
    assert args[2] == DEFAULT_MORPHOLOGY_CONFIG
    assert kwargs["crop_context"] == MorphologyMetadata.crop_context
    assert kwargs["min_crop_px"] == MorphologyMetadata.min_crop_px
