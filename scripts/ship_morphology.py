"""Copy a trained morphology classifier into the package as the default and write its card.

Usage::

    python scripts/ship_morphology.py MODEL.pt EVAL_DIR [--command "..."]

``EVAL_DIR`` is the output of ``galseg evaluate detector --morphology MODEL.pt`` on
data neither model saw (the held-back GZ1 SDSS cutouts and simulated test fields):
the scores of the shipped detector with this classifier's second look, which is
what ``galseg detect`` runs by default. They go into ``morphology_default.json``
next to the weights, with the SHA-256 checksum that
:func:`galseg.models.weights.load_morphology_classifier` verifies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from galseg.models.weights import DEFAULT_MORPHOLOGY, load_morphology_classifier, ship_model

HEADLINE = ("setup", "average_precision", "classification", "by_source", "noise")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--command", default="bash scripts/train_default_morphology.sh")
    args = parser.parse_args()
    members, metadata = load_morphology_classifier(args.model)
    summary = json.loads((args.eval_dir / "summary.json").read_text())
    card = {
        "architecture": metadata.model.to_dict(),
        "members": len(members),
        "crop_context": metadata.crop_context,
        "min_crop_px": metadata.min_crop_px,
        "calibration": list(metadata.calibration),
        "pretrained": "none: trained from scratch",
        "training": metadata.training,
        "reproduce": args.command,
        "evaluation_with_shipped_detector": {key: summary[key] for key in HEADLINE
                                             if key in summary},
        "model_card": "docs/models.md",
    }
    target = ship_model(args.model, DEFAULT_MORPHOLOGY, card)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) and its card")


if __name__ == "__main__":
    main()
