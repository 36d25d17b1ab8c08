"""Shred classifier speed: the paper's network against galseg's lean ensemble.

Usage::

    python benchmarks/shreds_speed.py [--model M] [--n 1024] [--repeats 5] [--device cpu]

Network only, cutouts/s at 128x128 (random cutouts; speed does not depend on them):

* the paper's CNN (10.58 M parameters) run the Keras way (float32, NCHW, batch 32,
  autograd off), and the same network the galseg way (batch 256, channels-last,
  inference mode);
* galseg's shipped classifier as it runs in ``galseg shreds``: every member of the
  ensemble on each cutout (``ShredClassifier.predict_proba``);
* training throughput (cutouts/s, one optimiser step per batch of 64) of one paper
  network and one lean network, which is what decides the cost of 5-fold training.

Prints medians over ``--repeats`` runs and the ratios, measured in one run. The
end-to-end rate of ``galseg shreds`` (read PNGs, classify, write the catalog) is
measured by ``benchmarks/shreds_real.py`` on the 1,000 Legacy cutouts.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import numpy as np
import torch
from _timing import median_seconds  # benchmarks/_timing.py, beside this script

from galseg.models.cutout_net import PAPER_SHRED_CONFIG, CutoutNet, CutoutNetConfig
from galseg.predict.shreds import ShredClassifier


def _median_rate(run: Callable[[], None], n: int, repeats: int) -> float:
    return n / median_seconds(run, repeats)


def _inference(model: torch.nn.Module, cutouts: torch.Tensor, *, batch: int,
               channels_last: bool) -> Callable[[], None]:
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        cutouts = cutouts.contiguous(memory_format=torch.channels_last)
    model.eval()
    context = torch.inference_mode if channels_last else torch.no_grad

    def run() -> None:
        with context():
            for start in range(0, len(cutouts), batch):
                model(cutouts[start:start + batch])
    return run


def _training(config: CutoutNetConfig, device: str, steps: int = 3,
              batch: int = 64) -> Callable[[], None]:
    model = CutoutNet(config).to(device, memory_format=torch.channels_last).train()
    optimiser = torch.optim.AdamW(model.parameters())
    images = torch.rand(batch, 3, 128, 128, device=device).contiguous(
        memory_format=torch.channels_last)
    labels = torch.randint(0, 2, (batch,), device=device).float()

    def run() -> None:
        for _ in range(steps):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(images), labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="shred model file (default: shipped)")
    parser.add_argument("--n", type=int, default=1024, help="cutouts per timed run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    cutouts = torch.rand(args.n, 3, 128, 128, device=args.device)
    paper = CutoutNet(PAPER_SHRED_CONFIG).to(args.device)
    rates = {
        "paper_plain": _median_rate(_inference(paper, cutouts, batch=32, channels_last=False),
                                    args.n, args.repeats),
        "paper_galseg_way": _median_rate(_inference(paper, cutouts, batch=256,
                                                    channels_last=True), args.n, args.repeats),
    }
    classifier = ShredClassifier.from_file(args.model, device=args.device)
    uint8 = (np.random.default_rng(0).random((args.n, 128, 128, 3)) * 255).astype(np.uint8)
    rates["shipped_ensemble"] = _median_rate(lambda: classifier.predict_proba(uint8), args.n,
                                             args.repeats)
    rates["train_paper"] = _median_rate(_training(PAPER_SHRED_CONFIG, args.device), 3 * 64,
                                        args.repeats)
    rates["train_lean"] = _median_rate(_training(classifier.metadata.model, args.device),
                                       3 * 64, args.repeats)
    summary = {
        "device": args.device, "threads": torch.get_num_threads(),
        "ensemble_members": len(classifier.members),
        "cutouts_per_second": {k: round(v, 1) for k, v in rates.items()},
        "ratios": {
            "shipped_vs_paper_plain": round(rates["shipped_ensemble"] / rates["paper_plain"], 2),
            "train_lean_vs_paper": round(rates["train_lean"] / rates["train_paper"], 2)},
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
