"""Copy a trained galaxy detector into the package as the default and write its card.

Usage::

    python scripts/ship_detector.py MODEL.pt EVAL_DIR [--command "..."]

``EVAL_DIR`` is the output of ``galseg evaluate detector`` on data the model never
saw (the held-back GZ1 SDSS cutouts and simulated test fields); its headline scores
go into ``detector_default.json`` next to the weights, with the SHA-256 checksum that
:func:`galseg.models.weights.load_detector` verifies.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from galseg.models.detector import count_parameters
from galseg.models.weights import DEFAULT_DETECTOR, load_detector, ship_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--command", default="bash scripts/train_default_detector.sh")
    args = parser.parse_args()
    model, metadata = load_detector(args.model)
    summary = json.loads((args.eval_dir / "summary.json").read_text())
    evaluation = {key: summary[key] for key in ("setup", "detection", "average_precision",
                                                "classification", "centroids", "completeness")
                  if key in summary}
    evaluation["by_source"] = summary.get("by_source", {})
    evaluation["noise"] = summary.get("noise", [])
    card = {
        "architecture": metadata.model.to_dict(),
        "parameters": count_parameters(model),
        "pixscale_arcsec": metadata.pixscale_arcsec,
        "score_threshold": metadata.score_threshold,
        "pretrained": "none: trained from scratch (no pretrained weights can be downloaded)",
        "training": metadata.training,
        "reproduce": args.command,
        "evaluation": evaluation,
        "model_card": "docs/models.md",
    }
    target = ship_model(args.model, DEFAULT_DETECTOR, card)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) and its card")


if __name__ == "__main__":
    main()
