"""The shared epoch loop: non-finite losses neither poison the weights nor run on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from galseg.training.loop import LoopSettings, autocast, mixed_precision_dtype, run_epochs


def _settings(**changes) -> LoopSettings:
    values = dict(batch_size=4, max_epochs=5, patience=5, max_minutes=None, seed=0,
                  gradient_clip=1.0, lr_factor=0.3, lr_patience=2)
    return LoopSettings(**(values | changes))


def _problem(nan_when):
    """A linear fit whose batch loss is NaN when ``nan_when(epoch, batch)``."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    calls = {"epoch": 0, "batch": 0}

    def batch_loss(index: np.ndarray, rng: np.random.Generator) -> tuple[torch.Tensor, int]:
        loss = (model(x[index]) - y[index]).abs().mean()
        calls["batch"] += 1
        if nan_when(calls["epoch"], calls["batch"]):
            loss = loss * float("nan")  # a NaN loss with NaN gradients, as an overflow gives
        return loss, len(index)

    def validation_loss() -> float:
        calls["epoch"] += 1
        calls["batch"] = 0
        with torch.no_grad():
            return float((model(x) - y).abs().mean())

    return model, batch_loss, validation_loss


def test_cpu_trains_in_float32():
    device = torch.device("cpu")
    assert mixed_precision_dtype(device) is None
    with autocast(device):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32


def test_non_finite_batches_are_left_out(tmp_path):
    # One NaN batch an epoch: without the guard AdamW would make every weight NaN.
    model, batch_loss, validation_loss = _problem(lambda epoch, batch: batch == 2)
    messages = []
    outcome = run_epochs(model, torch.optim.AdamW(model.parameters(), lr=1e-2), n_train=32,
                         batch_loss=batch_loss, validation_loss=validation_loss,
                         settings=_settings(), run_dir=tmp_path, config_json="{}",
                         device=torch.device("cpu"), progress=False, log=messages.append)
    assert outcome.stopped_because == "max_epochs" and outcome.epochs_run == 5
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert all(math.isfinite(row["train_loss"]) for row in outcome.history)
    assert any("1 batches left out" in m for m in messages)


def test_divergence_stops_and_keeps_the_best_epoch(tmp_path):
    # Every batch NaN from epoch 3 on, as the float16 overflow on the H200 did.
    model, batch_loss, validation_loss = _problem(lambda epoch, batch: epoch >= 2)
    messages = []
    outcome = run_epochs(model, torch.optim.AdamW(model.parameters(), lr=1e-2), n_train=32,
                         batch_loss=batch_loss, validation_loss=validation_loss,
                         settings=_settings(max_epochs=20, patience=20), run_dir=tmp_path,
                         config_json="{}", device=torch.device("cpu"), progress=False,
                         log=messages.append)
    assert outcome.stopped_because == "diverged"
    assert outcome.epochs_run == 2 and outcome.best_epoch == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any("diverged" in m and "lower learning rate" in m for m in messages)


def test_divergence_in_the_first_epoch_is_an_error(tmp_path):
    model, batch_loss, validation_loss = _problem(lambda epoch, batch: True)
    with pytest.raises(RuntimeError, match="diverged in its first epoch"):
        run_epochs(model, torch.optim.AdamW(model.parameters(), lr=1e-2), n_train=32,
                   batch_loss=batch_loss, validation_loss=validation_loss,
                   settings=_settings(), run_dir=tmp_path, config_json="{}",
                   device=torch.device("cpu"), progress=False, log=lambda s: None)
