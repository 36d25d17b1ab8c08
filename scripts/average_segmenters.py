"""Average a segmenter with its fine-tuning (weight-space ensemble, WiSE-FT).

Usage::

    python scripts/average_segmenters.py START.pt TUNED.pt OUT.pt [--weight 0.5]

A thin layer over :func:`galseg.training.segmenter.average_segmenters`; the shipped
segmenter is made this way (``scripts/train_default_segmenter.sh``, ``docs/models.md``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from galseg.training.segmenter import average_segmenters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("start", type=Path, help="the model the fine-tuning started from")
    parser.add_argument("tuned", type=Path, help="its fine-tuning (--init-from START)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--weight", type=float, default=0.5,
                        help="share of TUNED in the average (default 0.5)")
    args = parser.parse_args()
    path = average_segmenters(args.start, args.tuned, args.out, weight=args.weight)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
