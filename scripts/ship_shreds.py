"""Copy a trained shred classifier into the package as the default and write its card.

Usage::

    python scripts/ship_shreds.py MODEL.pt EVAL_DIR [--command "..."]

``EVAL_DIR`` is the output of ``galseg evaluate shreds`` on a simulated set the model
never saw; its headline scores go into ``shreds_default.json`` next to the weights,
with the SHA-256 checksum that :func:`galseg.models.weights.load_shred_classifier`
verifies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from galseg.models.weights import DEFAULT_SHRED_CLASSIFIER, load_shred_classifier, ship_model

SCORES = ("auc", "accuracy", "completeness", "purity", "f1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--command", default="bash scripts/train_default_shreds.sh")
    args = parser.parse_args()
    members, metadata = load_shred_classifier(args.model)
    metrics = json.loads((args.eval_dir / "metrics.json").read_text())
    card = {
        "architecture": metadata.model.to_dict(),
        "members": len(members),
        "pixscale_arcsec": metadata.pixscale_arcsec,
        "calibration": list(metadata.calibration),
        "threshold": metadata.threshold,
        "training": metadata.training,
        "reproduce": args.command,
        "evaluation": {"data": metrics["setup"]["data"], "n": metrics["n"],
                       "shred_fraction": metrics["shred_fraction"],
                       **{name: metrics[name] for name in SCORES},
                       "expected_calibration_error":
                           metrics["calibration"]["expected_calibration_error"]},
        "model_card": "docs/models.md",
    }
    target = ship_model(args.model, DEFAULT_SHRED_CLASSIFIER, card)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) and its card")


if __name__ == "__main__":
    main()
