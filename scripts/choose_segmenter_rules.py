"""Choose a segmenter's own arm rules on calibration galaxies and write them into its file.

Usage::

    python scripts/choose_segmenter_rules.py MODEL --sims SIM_DIR --gz1 GZ1_DIR
        [--out OUT.pt] [--n-gz1 200] [--limit N]

1. The arm mask rule (``spiral_threshold``): the rule with the highest mean arm IoU with
   truth on the simulated set ``SIM_DIR`` (every galaxy calibrates;
   :func:`galseg.evaluate.rule_choice.choose_arm_rule`).
2. The arm detection level (``spiral_detection_level``): the level that best tells Galaxy
   Zoo 1 **train** face-on spirals from ellipticals and edge-on discs
   (:func:`galseg.evaluate.rule_choice.choose_arm_detection_level`).

Prints both choices with their tables (the model's stored rules are ignored while
choosing); with ``--out``, writes the model with these rules
(:func:`galseg.training.segmenter.with_measure_rules`), which ``galseg segment`` then
applies. Use galaxies that no reported score uses (docs/experiments.md, 2026-12-06 night).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from galseg.evaluate.rule_choice import (
    choose_arm_detection_level,
    choose_arm_rule,
    gz1_spiral_maps,
)
from galseg.predict.segment import Segmenter
from galseg.training.segmenter import with_measure_rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="segmenter file (.pt)")
    parser.add_argument("--sims", type=Path, required=True,
                        help="simulated set (galseg simulate) for the arm mask rule")
    parser.add_argument("--gz1", type=Path, required=True,
                        help="Galaxy Zoo 1 SDSS folder (labels.csv, images/)")
    parser.add_argument("--n-gz1", type=int, default=200,
                        help="train cutouts per group (default 200)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N simulated galaxies")
    parser.add_argument("--out", type=Path, default=None,
                        help="write the model with the chosen rules here")
    args = parser.parse_args()

    segmenter = Segmenter(args.model, measure_rules={})
    arm_rule = choose_arm_rule(segmenter, args.sims, limit=args.limit)
    print(f"arm mask rule: {arm_rule.rule!r} (mean arm IoU {arm_rule.mean_iou:.3f} on "
          f"{arm_rule.n_galaxies} galaxies of {args.sims})")
    maps = gz1_spiral_maps(segmenter, args.gz1, n=args.n_gz1, split="train")
    level, table = choose_arm_detection_level(maps)
    table.pprint(max_lines=-1, max_width=-1)
    print(f"arm detection level: {level:g} (GZ1 train, "
          f"{', '.join(f'{len(m)} {g}' for g, m in maps.items())})")
    if args.out is not None:
        rules = {"spiral_threshold": arm_rule.rule, "spiral_detection_level": level}
        chosen_on = {"arm_rule_on": str(args.sims), "arm_rule_mean_iou": arm_rule.mean_iou,
                     "detection_level_on": f"{args.gz1} train split, {args.n_gz1} per group"}
        print(f"wrote {with_measure_rules(args.model, args.out, rules, chosen_on=chosen_on)}")


if __name__ == "__main__":
    main()
