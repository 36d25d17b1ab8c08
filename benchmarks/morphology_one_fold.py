"""Compare recipes of the detector's second look on one fold, at a fifth of the cost.

Usage:
    python benchmarks/morphology_one_fold.py --data runs/gz1/train runs/det_train \
        [--input-size 64] [--widths 16 32 64 128] [--crop-context 2.5] \
        [--epochs 40] [--fold 0] [--out runs/morph_one_fold] [--device cpu]

Trains fold ``--fold`` of the five-fold ensemble that ``galseg train morphology``
makes (same examples, folds by image, augmentation, noise and early stopping:
:func:`galseg.training.ensemble.train_fold`) with the recipe changed only where an
option says so, and prints the held-out fold's accuracy (logit > 0) and AUC for the
GZ1 and the simulated examples separately. GZ1 accuracy on the fold (757 galaxies for
fold 0 of the shipped data) is the figure to compare; the fold also chose the early
stopping epoch, so its absolute values are a little optimistic, alike for every recipe.
The crops are cached in ``OUT/<recipe>/examples.npz`` and a finished fold is reloaded,
so a second call with the same options only prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from galseg.models.weights import MorphologyMetadata
from galseg.scores import roc_auc
from galseg.training.ensemble import train_fold
from galseg.training.morphology import DEFAULT_MORPHOLOGY_CONFIG, morphology_examples


def main() -> None:
    """Train one fold with the given recipe and print its held-out scores."""
    default = DEFAULT_MORPHOLOGY_CONFIG
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", required=True,
                        help="detection example folders (as galseg train morphology)")
    parser.add_argument("--input-size", type=int, default=default.model.input_size)
    parser.add_argument("--widths", type=int, nargs=4, default=list(default.model.widths))
    parser.add_argument("--crop-context", type=float, default=MorphologyMetadata.crop_context)
    parser.add_argument("--min-crop", type=float, default=MorphologyMetadata.min_crop_px)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/morph_one_fold"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    model = dataclasses.replace(default.model, input_size=args.input_size,
                                widths=tuple(args.widths))
    config = dataclasses.replace(default, model=model, max_epochs=args.epochs)
    recipe = (f"px{args.input_size}_c{args.crop_context:g}_"
              f"w{'-'.join(map(str, args.widths))}_e{args.epochs}")
    run_dir = args.out / recipe
    run_dir.mkdir(parents=True, exist_ok=True)
    examples = morphology_examples(args.data, input_size=args.input_size,
                                   crop_context=args.crop_context, min_crop_px=args.min_crop,
                                   cache=run_dir / "examples.npz")
    folds = examples.folds(config.n_folds)
    start = time.perf_counter()
    _, info, logits = train_fold(args.fold, examples, folds, config, run_dir,
                                 torch.device(args.device), False, print)
    held = folds == args.fold
    print(f"recipe {recipe}, fold {args.fold}: best epoch {info['best_epoch']}, "
          f"{(time.perf_counter() - start) / 60:.1f} min in this call")
    for kind in np.unique(examples.kinds[held]):
        of_kind = examples.kinds[held] == kind
        labels = examples.labels[held][of_kind]
        accuracy = np.mean((logits[of_kind] > 0) == labels)
        print(f"{kind}: n {of_kind.sum()}, accuracy {accuracy:.4f}, "
              f"AUC {roc_auc(logits[of_kind], labels):.4f}")


if __name__ == "__main__":
    main()
