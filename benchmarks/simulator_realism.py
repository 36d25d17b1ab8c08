"""Side-by-side figure: real DESI Legacy Surveys cutouts next to simulated ones.

Usage: python benchmarks/simulator_realism.py [--out docs/images/simulator_vs_legacy.png]

Real cutouts come from ../shared/data/legacy_cutouts/images (128 px at 0.469
arcsec/px); simulated ones are drawn at the same size and scale, so sizes,
colours, noise and seeing can be compared by eye. Also prints the background
level and noise of both sets in 8-bit units.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from galseg.sim.population import draw_scene
from galseg.sim.scene import render_cutout

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "legacy_cutouts" / "images"


def corner_stats(images: list[np.ndarray]) -> tuple[float, float]:
    """Median background level and noise (8-bit units) from 10x10 corners."""
    levels, noises = [], []
    for im in images:
        for corner in (im[:10, :10], im[:10, -10:], im[-10:, :10], im[-10:, -10:]):
            levels.append(np.median(corner))
            noises.append(np.median(np.abs(corner - np.median(corner))) * 1.4826)
    return float(np.median(levels)), float(np.median(noises))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images/simulator_vs_legacy.png")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()

    real_files = sorted(REAL.glob("*.png"))
    if not real_files:
        raise SystemExit(f"no real cutouts found in {REAL}")
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(len(real_files), size=args.n, replace=False)
    real = [np.asarray(Image.open(real_files[i]).convert("RGB")) for i in picks]
    sim_0469 = [render_cutout(draw_scene(np.random.default_rng([args.seed, i]), name=str(i),
                                         size=128, pixscale_arcsec=0.469)).rgb
                for i in range(args.n)]
    sim_0262 = [render_cutout(draw_scene(np.random.default_rng([args.seed, 100 + i]),
                                         name=str(i), size=128, pixscale_arcsec=0.262)).rgb
                for i in range(args.n)]
    for label, images in (("real Legacy 0.469\"/px", real), ("simulated 0.469\"/px", sim_0469),
                          ("simulated 0.262\"/px", sim_0262)):
        level, noise = corner_stats(images)
        print(f"{label:24s} background {level:5.1f}  noise {noise:4.1f} (8-bit units)")

    fig, axes = plt.subplots(3, args.n, figsize=(1.6 * args.n, 5.2))
    titles = ("real DESI Legacy DR9 (0.469\"/px)", "galseg.sim (0.469\"/px)",
              "galseg.sim (0.262\"/px)")
    for r, (images, title) in enumerate(zip((real, sim_0469, sim_0262), titles, strict=True)):
        for c, image in enumerate(images):
            ax = axes[r, c]
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(title, fontsize=7)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
