"""Copy a trained segmenter into the package as the default and write its card.

Usage::

    python scripts/ship_segmenter.py MODEL.pt EVAL_DIR [--command "..."]

``EVAL_DIR`` is the output of ``galseg evaluate segmenter`` on an unseen simulated set;
its headline scores go into ``segmenter_default.json`` next to the weights, with the
SHA-256 checksum that :func:`galseg.models.weights.load_segmenter` verifies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from galseg.measure.arms import DEFAULT_SPIRAL_DETECTION_LEVEL, DEFAULT_SPIRAL_THRESHOLD
from galseg.measure.bar import DEFAULT_BAR_THRESHOLD_RULE
from galseg.models.weights import DEFAULT_SEGMENTER, load_segmenter, ship_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--command", default="bash scripts/train_default_segmenter.sh")
    args = parser.parse_args()
    _, metadata = load_segmenter(args.model)
    metrics = json.loads((args.eval_dir / "metrics.json").read_text())
    versus = metrics["model_vs_consensus"]
    card = {
        "architecture": metadata.model.to_dict(),
        "frame_size": metadata.frame_size,
        "pixscale_arcsec": metadata.pixscale_arcsec,
        "training": metadata.training,
        "reproduce": args.command,
        "evaluation": {
            "data": metrics["setup"]["data_dir"],
            "n_galaxies": metrics["setup"]["n_galaxies"],
            # each mask at its own rule chosen on calibration galaxies (docs/evaluation.md)
            "spiral_fraction_model_closer_than_consensus":
                versus["spiral"]["fraction_model_better"],
            "spiral_rules": [versus["spiral"]["model_rule"], versus["spiral"]["consensus_rule"]],
            # the model's mask at the shipped measurement rule (chosen on validation galaxies)
            "spiral_fraction_default_rule_closer_than_consensus":
                (versus["spiral"].get("default_rule") or {}).get("fraction_model_better"),
            "bar_fraction_model_closer_than_consensus": versus["bar"]["fraction_model_better"],
            "bar_rules": [versus["bar"]["model_rule"], versus["bar"]["consensus_rule"]],
            "bar_length": metrics.get("bar_length", {}).get("model"),
            "bar_threshold_rule": DEFAULT_BAR_THRESHOLD_RULE,
            "spiral_threshold_rule": DEFAULT_SPIRAL_THRESHOLD,
            "spiral_detection_level": DEFAULT_SPIRAL_DETECTION_LEVEL,
        },
        "model_card": "docs/models.md",
    }
    target = ship_model(args.model, DEFAULT_SEGMENTER, card)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB) and its card")


if __name__ == "__main__":
    main()
