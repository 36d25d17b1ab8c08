"""Copy a trained galaxy detector into the package as the default and write its card.

Usage::

    python scripts/ship_detector.py MODEL.pt EVAL_DIR [--score-threshold T]
        [--piece-area-ratio R] [--min-box-px PX] [--command "..."]

``EVAL_DIR`` is the output of ``galseg evaluate detector`` on data the model never
saw (the held-back GZ1 SDSS cutouts and simulated test fields); its headline scores
go into ``detector_default.json`` next to the weights, with the SHA-256 checksum that
:func:`galseg.models.weights.load_detector` verifies. ``--score-threshold`` writes a new
operating threshold into the shipped file's metadata (the one ``galseg detect`` uses by
default); it must be the threshold ``EVAL_DIR`` was scored at
(``galseg evaluate detector --score-threshold``), so no untested threshold ships.
``--piece-area-ratio`` and ``--min-box-px`` likewise store the suppression of pieces and
the smallest detection size it was scored with.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

from galseg.models.detector import count_parameters
from galseg.models.weights import DEFAULT_DETECTOR, load_detector, save_detector, ship_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("--command", default="bash scripts/train_default_detector.sh")
    parser.add_argument("--score-threshold", type=float, default=None,
                        help="operating threshold to store (default: the model file's)")
    parser.add_argument("--piece-area-ratio", type=float, default=None,
                        help="suppression of pieces to store (default: the model file's)")
    parser.add_argument("--min-box-px", type=float, default=None,
                        help="smallest detection size to store (default: the model file's)")
    args = parser.parse_args()
    model, metadata = load_detector(args.model)
    summary = json.loads((args.eval_dir / "summary.json").read_text())
    if args.score_threshold is not None:
        metadata = dataclasses.replace(metadata, score_threshold=args.score_threshold)
    if args.piece_area_ratio is not None:
        metadata = dataclasses.replace(metadata, piece_area_ratio=args.piece_area_ratio)
    if args.min_box_px is not None:
        metadata = dataclasses.replace(metadata, min_box_px=args.min_box_px or None)
    setup = summary.get("setup", {})
    scored_at = setup.get("score_threshold", metadata.score_threshold)
    if abs(scored_at - metadata.score_threshold) > 1e-9:
        parser.error(f"{args.eval_dir} was scored at threshold {scored_at}, not at "
                     f"{metadata.score_threshold}")
    if setup.get("piece_area_ratio") != metadata.piece_area_ratio:
        parser.error(f"{args.eval_dir} was scored with piece_area_ratio "
                     f"{setup.get('piece_area_ratio')}, not {metadata.piece_area_ratio}")
    if setup.get("min_box_px") != metadata.min_box_px:
        parser.error(f"{args.eval_dir} was scored with min_box_px "
                     f"{setup.get('min_box_px')}, not {metadata.min_box_px}")
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
        "piece_area_ratio": metadata.piece_area_ratio,
        "min_box_px": metadata.min_box_px,
        "pretrained": "none: trained from scratch (no pretrained weights can be downloaded)",
        "training": metadata.training,
        "reproduce": args.command,
        "evaluation": evaluation,
        "model_card": "docs/models.md",
    }
    with tempfile.TemporaryDirectory() as work:
        source = args.model
        if any(value is not None for value in (args.score_threshold, args.piece_area_ratio,
                                                args.min_box_px)):
            source = save_detector(model, metadata, Path(work) / "detector.pt")
        target = ship_model(source, DEFAULT_DETECTOR, card)
    print(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB) and its card")


if __name__ == "__main__":
    main()
