"""Figure: simulated shred fields with their catalog detections circled by truth kind.

Usage: python benchmarks/shred_field_figure.py [--out docs/images/shred_field_example.png]
       [--seed 100] [--fields 2 10 0] [--cutouts 12]

Each panel is one field of ``galseg simulate --shred-fields`` (field ``i`` of
seed ``S`` is drawn from ``default_rng([S, i])``, as in the data set) in the
Legacy colour stretch. Catalog rows (detections near the host with S/N >= 5)
are circled, coloured by their truth kind; the dashed circle is the selection
radius. Below, the 128 px cutouts of ``--cutouts`` catalog rows of the first
field (half shreds, half not), titled by truth kind, the red cross on the
detection.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle

from galseg.data.cutouts import cutout_rgb
from galseg.sim.shreds import draw_shred_field, render_shred_field

COLOURS = {"host": "white", "shred": "yellow", "dwarf": "cyan", "background": "magenta",
           "field": "red", "star": "lime", "spurious": "grey"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images/shred_field_example.png")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--fields", type=int, nargs="+", default=[2, 10, 0])
    parser.add_argument("--cutouts", type=int, default=12)
    args = parser.parse_args()

    fields = [render_shred_field(draw_shred_field(np.random.default_rng([args.seed, i]),
                                                  name=f"f{i:06d}"))
              for i in args.fields]
    n_cut_cols = int(np.ceil(args.cutouts / 2)) if args.cutouts else 0
    width = 4.4 * len(fields)
    cut_height = 2 * 1.1 * width / max(n_cut_cols, 1) if args.cutouts else 0.0
    fig = plt.figure(figsize=(width, 4.8 + cut_height))
    grid = fig.add_gridspec(2 if args.cutouts else 1, 1,
                            height_ratios=[4.8, cut_height] if args.cutouts else [1.0])
    top = grid[0].subgridspec(1, len(fields))
    for k, (index, shred_field) in enumerate(zip(args.fields, fields, strict=True)):
        ax = fig.add_subplot(top[k])
        spec = shred_field.spec
        ax.imshow(shred_field.rgb, origin="upper")
        ax.add_patch(Circle(spec.host_centre_xy, spec.selection_radius_px, fill=False,
                            color="white", ls="--", lw=0.6))
        for row in shred_field.catalog:
            ax.add_patch(Circle((row["x"], row["y"]), 6, fill=False,
                                color=COLOURS[row["kind"]], lw=0.9))
        n_shred = int(shred_field.catalog["true_is_shred"].sum())
        ax.set_title(f"field {index}: {spec.host_class}, R = {spec.host_radius_arcsec:.0f}\", "
                     f"{len(shred_field.catalog)} rows, {n_shred} shreds", fontsize=9)
        ax.set_axis_off()
    handles = [plt.Line2D([], [], marker="o", ls="", mfc="none", mec=c, label=k)
               for k, c in COLOURS.items() if k != "spurious"]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=9,
               frameon=False, bbox_to_anchor=(0.5, 1.0))

    if args.cutouts:
        first = fields[0]
        rgb = first.rgb.astype(np.float32) / 255.0
        catalog = first.catalog
        shreds = np.flatnonzero(catalog["true_is_shred"] == 1)
        others = np.flatnonzero(catalog["true_is_shred"] == 0)
        half = args.cutouts // 2
        picks = list(shreds[:half]) + list(others[:args.cutouts - min(half, len(shreds))])
        bottom = grid[1].subgridspec(2, n_cut_cols)
        for j, i in enumerate(picks[:args.cutouts]):
            row = catalog[i]
            cut = cutout_rgb(rgb, row["x"], row["y"], size=128)
            ax = fig.add_subplot(bottom[j // n_cut_cols, j % n_cut_cols])
            ax.imshow(cut.rgb)
            ax.plot([64], [64], "+", color="red", ms=7)
            ax.set_title(f"{row['kind']}, r = {row['mag_r']:.1f}", fontsize=8)
            ax.set_axis_off()
    fig.tight_layout(rect=(0, 0, 1, 0.965))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
