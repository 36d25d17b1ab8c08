"""Choose the classical bar finder's rules on data that may tune: simulations the network
never saw that are kept apart from the scoring set, and the TRAIN split of the eye labels.

Usage::

    python benchmarks/isophote_bar_rules.py --sim runs/sim5000 --data ../shared/data \\
        --stellarium runs/stellarium/extract

The isophotes of each galaxy are fitted once; every rule (peak ellipticity, ellipticity
drop, length rule) is then applied to the same profiles. Prints, per rule and set, the
share of bars found, of non-bars claimed, and length r / median error against the true
or eye length. The test split is never read.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from bar_finders import load_eye_labelled, load_simulated

from galseg.data.bar_labels import BAR_LABELS_PATH
from galseg.evaluate.metrics import length_agreement
from galseg.measure.isophote_bar import (
    DEFAULT_LENGTH_RULE,
    DEFAULT_MIN_DROP,
    DEFAULT_MIN_ELLIPTICITY,
    LENGTH_RULES,
    IsophoteBar,
)

MIN_ELLIPTICITIES = (0.2, 0.25, 0.3, 0.35, 0.4)
MIN_DROPS = (0.1, 0.15, 0.2)
MIN_SMA_FRACTIONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)


def with_rules(fitted: IsophoteBar, **rules) -> IsophoteBar:
    """A finder with other rules on the same fitted profile (no refit)."""
    other = IsophoteBar(np.zeros((8, 8)), **rules)
    other.__dict__.update(_image=fitted._image, profile=fitted.profile)
    return other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim", type=Path, required=True)
    parser.add_argument("--labels", type=Path, default=BAR_LABELS_PATH)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--stellarium", type=Path, default=None)
    parser.add_argument("--max-sim", type=int, default=None)
    parser.add_argument("--size-only", action="store_true",
                        help="sweep only the minimum bar size (min_sma_fraction), the "
                             "other rules at their defaults")
    args = parser.parse_args()
    sets = {"sim": load_simulated(args.sim, args.max_sim),
            "eye train": load_eye_labelled(args.labels, args.data, args.stellarium, "train")}
    fitted = {name: [IsophoteBar(item["rgb"]) for item in items]
              for name, items in sets.items()}
    for bars in fitted.values():
        for bar in bars:
            _ = bar.profile  # fit once
    print("| min ellipticity | min drop | length rule | min size | set | bars found | "
          "non-bars claimed | length r / median error (n) |")
    print("|---|---|---|---|---|---|---|---|")
    grid = (itertools.product((DEFAULT_MIN_ELLIPTICITY,), (DEFAULT_MIN_DROP,),
                              (DEFAULT_LENGTH_RULE,), MIN_SMA_FRACTIONS) if args.size_only
            else itertools.product(MIN_ELLIPTICITIES, MIN_DROPS, LENGTH_RULES, (0.0,)))
    for min_eps, min_drop, rule, min_fraction in grid:
        for name, items in sets.items():
            truth = np.array([item["is_bar"] for item in items])
            found, length = [], []
            for bar in fitted[name]:
                other = with_rules(bar, min_ellipticity=min_eps, min_drop=min_drop,
                                   length_rule=rule, min_sma_fraction=min_fraction)
                found.append(other.detected)
                length.append(other.length_px)
            found, length = np.array(found), np.array(length)
            both = found & truth
            agreement = length_agreement(
                length[both], np.array([item["true_length_px"] for item in items])[both])
            print(f"| {min_eps} | {min_drop} | {rule} | {min_fraction} | {name} | "
                  f"{found[truth].mean():.0%} | "
                  f"{found[~truth].mean():.0%} | {agreement['pearson_r']:.3f} / "
                  f"{agreement['median_abs_fractional_error']:.0%} ({agreement['n']}) |")


if __name__ == "__main__":
    main()
