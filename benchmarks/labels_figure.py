"""Figure: simulated galaxies, their simulated volunteers' vote fractions, and exact truth.

Usage: python benchmarks/labels_figure.py SIM_DIR [--n 6] [--out docs/images/labels_vs_truth.png]
SIM_DIR is the output of `galseg simulate`. Galaxies with arms are shown first.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from astropy.io import fits
from astropy.table import Table

from galseg.data.gz3d import read_gz3d
from galseg.labels.rasterize import vote_maps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sim_dir", type=Path)
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--out", default="docs/images/labels_vs_truth.png")
    args = parser.parse_args()
    catalog = Table.read(args.sim_dir / "catalog.csv")
    # barred spirals first, then other spirals: the interesting cases
    def flag(column: str, i: int) -> bool:
        return str(catalog[column][i]) == "True"  # CSV booleans are read back as text

    order = sorted(range(len(catalog)),
                   key=lambda i: (not flag("has_bar", i), not flag("has_spiral_arms", i), i))
    rows = [catalog[i] for i in order[: args.n]]
    fig, axes = plt.subplots(len(rows), 5, figsize=(9, 1.9 * len(rows)))
    for r, row in enumerate(rows):
        subject = read_gz3d(args.sim_dir / row["file"])
        votes = vote_maps(subject)
        with fits.open(args.sim_dir / row["truth_file"]) as truth:
            spiral_truth, bar_truth = truth["SPIRAL_TRUTH"].data, truth["BAR_TRUTH"].data
        panels = (
            (subject.image, f"{row['name']} ({row['class']})"),
            (votes.spiral_vote_fraction,
             f"spiral vote fraction\n{votes.n_spiral_markers}/{votes.n_volunteers} marked"),
            (spiral_truth, "spiral truth"),
            (votes.bar_vote_fraction,
             f"bar vote fraction\n{votes.n_bar_markers}/{votes.n_volunteers} marked"),
            (bar_truth, "bar truth"),
        )
        for c, (image, title) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(image, vmin=0, vmax=1 if image.ndim == 2 else None, cmap="magma")
            ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
