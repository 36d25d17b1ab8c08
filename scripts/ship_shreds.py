"""Copy a trained shred classifier into the package as the default and write its card.

Usage::

    python scripts/ship_shreds.py MODEL.pt EVAL_DIR [--real-eval REAL_EVAL_DIR] [--command "..."]

``EVAL_DIR`` is the output of ``galseg evaluate shreds`` on a simulated set the model
never saw, ``REAL_EVAL_DIR`` that of ``galseg evaluate shreds --real-labels ... --split
test``; their headline scores go into ``shreds_default.json`` next to the weights,
with the SHA-256 checksum that :func:`galseg.models.weights.load_shred_classifier`
verifies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from galseg.models.weights import DEFAULT_SHRED_CLASSIFIER, load_shred_classifier, ship_model

SCORES = ("auc", "accuracy", "completeness", "purity", "f1")


def _headline(metrics: dict) -> dict:
    return {"data": metrics["setup"].get("data", metrics["setup"].get("images")),
            "calibration": metrics["setup"].get("calibration"), "n": metrics["n"],
            "shred_fraction": metrics["shred_fraction"],
            **{name: metrics[name] for name in SCORES},
            "expected_calibration_error": metrics["calibration"]["expected_calibration_error"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--real-eval", type=Path, default=None)
    parser.add_argument("--command", default="bash scripts/train_default_shreds.sh")
    args = parser.parse_args()
    members, metadata = load_shred_classifier(args.model)
    metrics = json.loads((args.eval_dir / "metrics.json").read_text())
    card = {
        "architecture": metadata.model.to_dict(),
        "members": len(members),
        "pixscale_arcsec": metadata.pixscale_arcsec,
        "calibration": list(metadata.calibration),
        "calibration_name": metadata.calibration_name,
        "calibrations": {k: list(v) for k, v in metadata.calibrations.items()},
        "threshold": metadata.threshold,
        "training": metadata.training,
        "reproduce": args.command,
        "evaluation": _headline(metrics),
        "model_card": "docs/models.md",
    }
    if args.real_eval is not None:
        real = json.loads((args.real_eval / "metrics.json").read_text())
        card["evaluation_real"] = {**_headline(real), "split": real["setup"]["split"],
                                   "labels": real["setup"]["labels"],
                                   "auc_interval_95": [real["auc_low"], real["auc_high"]],
                                   "classical_isophote_rule_auc":
                                       real["classical_isophote_rule"]["auc"]}
    target = ship_model(args.model, DEFAULT_SHRED_CLASSIFIER, card)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) and its card")


if __name__ == "__main__":
    main()
