"""How much the segmenter's masks move when the same galaxies are re-stretched.

Usage::

    python benchmarks/stability.py --sim runs/sim5100 --data ../shared/data \\
        [--n-sim 200] [--n-legacy 200] [--model MODEL] [--figure runs/stability.png]

Two sets of galaxies, each shown to the network as the reference picture and as
re-stretched versions of it:

* **simulated** (a ``galseg simulate --bands`` folder: g, r, z in nanomaggies), reference
  the Legacy stretch (``galseg.data.colour.legacy_rgb``), the training stretch;
  variants made from the band images: brightness x0.3 and x3 (the fluxes scaled before
  the stretch), gamma 0.5 and 2 (the reference picture ``rgb ** gamma``), and SDSS-like
  colours (Lupton et al. 2004 asinh, ``astropy.visualization.make_lupton_rgb``, Q = 8,
  black sky, bands z, r, g as red, green, blue scaled 1.0, 1.2, 1.8, softening 0.08
  nanomaggies: a darker, higher-contrast picture than the Legacy viewer's);
* **real Legacy cutouts** (PNG pictures, reference as they are): brightness x0.3 and x3
  applied to the picture's linear values (``(rgb ** 2.2 * k) ** (1 / 2.2)``, clipped),
  gamma 0.5 and 2.

For each variant and mask (arms: ``SPIRAL_MASK``; bar: ``BAR_MASK``) the median, over
galaxies whose reference mask is not empty, of the IoU of the variant's mask with the
reference's (a mask lost counts 0), and the share of galaxies whose presence flag
(``has_spiral_arms``, ``has_bar``) flips. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.visualization import make_lupton_rgb
from PIL import Image

from galseg.data.colour import legacy_rgb
from galseg.data.images import image_from_array
from galseg.evaluate.metrics import iou
from galseg.predict.segment import SegmentationResult, Segmenter

SDSS_LIKE_SCALES = (1.0, 1.2, 1.8)
"""z, r, g multipliers of the SDSS-like picture (red, green, blue)."""
SDSS_LIKE_Q, SDSS_LIKE_STRETCH = 8.0, 0.08


def sdss_like(bands: np.ndarray) -> np.ndarray:
    """g, r, z (3, H, W) nanomaggies -> an SDSS-like colour picture, float [0, 1]."""
    g, r, z = np.clip(bands, 0, None)
    red, green, blue = (z * SDSS_LIKE_SCALES[0], r * SDSS_LIKE_SCALES[1],
                        g * SDSS_LIKE_SCALES[2])
    return make_lupton_rgb(red, green, blue, Q=SDSS_LIKE_Q,
                           stretch=SDSS_LIKE_STRETCH).astype(np.float32) / 255.0


def _picture_brightness(rgb: np.ndarray, factor: float) -> np.ndarray:
    return np.clip((rgb ** 2.2 * factor) ** (1 / 2.2), 0, 1)


SIM_VARIANTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "brightness x0.3": lambda bands, rgb: legacy_rgb(bands * 0.3) / 255.0,
    "brightness x3": lambda bands, rgb: legacy_rgb(bands * 3.0) / 255.0,
    "gamma 0.5": lambda bands, rgb: rgb ** 0.5,
    "gamma 2": lambda bands, rgb: rgb ** 2.0,
    "SDSS-like colours": lambda bands, rgb: sdss_like(bands),
}
PICTURE_VARIANTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "brightness x0.3": lambda rgb: _picture_brightness(rgb, 0.3),
    "brightness x3": lambda rgb: _picture_brightness(rgb, 3.0),
    "gamma 0.5": lambda rgb: rgb ** 0.5,
    "gamma 2": lambda rgb: rgb ** 2.0,
}


def _results(segmenter: Segmenter, pictures: list[np.ndarray], pixscale: float | None
             ) -> list[SegmentationResult]:
    images = [image_from_array(np.uint8(np.round(np.clip(p, 0, 1) * 255)), name=str(i),
                               pixscale_arcsec=pixscale) for i, p in enumerate(pictures)]
    out = []
    for start in range(0, len(images), 32):
        chunk = images[start:start + 32]
        out += segmenter.results(chunk)
    return out


def compare(reference: list[SegmentationResult], variant: list[SegmentationResult]
            ) -> dict[str, float]:
    scores: dict[str, float] = {}
    for feature in ("arms", "bar"):
        ious, flips = [], []
        for ref, var in zip(reference, variant, strict=True):
            ref_m, var_m = getattr(ref, feature), getattr(var, feature)
            flips.append(bool(ref_m.mask.any()) != bool(var_m.mask.any()))
            if ref_m.mask.any():
                ious.append(iou(var_m.mask, ref_m.mask))
        scores[f"{feature}_median_iou"] = float(np.median(ious)) if ious else np.nan
        scores[f"{feature}_n"] = len(ious)
        scores[f"{feature}_flips"] = float(np.mean(flips))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim", type=Path, default=None,
                        help="a galseg simulate --bands folder")
    parser.add_argument("--n-sim", type=int, default=200)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--n-legacy", type=int, default=200)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--figure", type=Path, default=None,
                        help="write the first galaxy of each set in every stretch")
    args = parser.parse_args()
    segmenter = Segmenter(args.model, device="cpu")
    lines = ["| set | variant | arms: median IoU with the reference (galaxies) | arms: "
             "presence flips | bar: median IoU (galaxies) | bar: presence flips |",
             "|---|---|---|---|---|---|"]
    shown: list[tuple[str, np.ndarray]] = []
    start = time.perf_counter()
    if args.sim is not None:
        files = sorted((args.sim / "bands").glob("*.fits"))[:args.n_sim]
        bands = [fits.getdata(f).astype(np.float64) for f in files]
        pictures = [legacy_rgb(b) / 255.0 for b in bands]
        reference = _results(segmenter, pictures, 0.262)
        shown.append(("sim: reference (Legacy)", pictures[0]))
        for name, make in SIM_VARIANTS.items():
            variant = [make(b, p) for b, p in zip(bands, pictures, strict=True)]
            shown.append((f"sim: {name}", variant[0]))
            lines.append(_line(f"simulated ({len(files)})", name,
                               compare(reference, _results(segmenter, variant, 0.262))))
    legacy_dir = args.data / "legacy_cutouts" / "images"
    if legacy_dir.is_dir():
        files = sorted(legacy_dir.glob("*.png"))
        pick = np.random.default_rng(0).choice(len(files), min(args.n_legacy, len(files)),
                                               replace=False)
        pictures = [np.asarray(Image.open(files[i]).convert("RGB"), np.float32) / 255.0
                    for i in sorted(pick)]
        reference = _results(segmenter, pictures, 0.469)
        shown.append(("Legacy: reference", pictures[0]))
        for name, make in PICTURE_VARIANTS.items():
            variant = [make(p) for p in pictures]
            shown.append((f"Legacy: {name}", variant[0]))
            lines.append(_line(f"real Legacy ({len(pictures)})", name,
                               compare(reference, _results(segmenter, variant, 0.469))))
    print(f"{time.perf_counter() - start:.0f} s")
    print("\n".join(lines))
    if args.figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 6, figsize=(13, 4.6))
        for ax in axes.ravel():
            ax.axis("off")
        for ax, (title, picture) in zip(axes.ravel(), shown, strict=False):
            ax.imshow(np.clip(picture, 0, 1))
            ax.set_title(title, fontsize=7)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=100)
        print(f"wrote {args.figure}")


def _line(set_name: str, variant: str, scores: dict[str, float]) -> str:
    return (f"| {set_name} | {variant} | {scores['arms_median_iou']:.2f} ({scores['arms_n']}) "
            f"| {scores['arms_flips']:.0%} | {scores['bar_median_iou']:.2f} "
            f"({scores['bar_n']}) | {scores['bar_flips']:.0%} |")


if __name__ == "__main__":
    main()
