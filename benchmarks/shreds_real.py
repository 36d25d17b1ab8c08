"""The shred classifier on real images: the M51 frame and the 1,000 Legacy cutouts.

Usage::

    python benchmarks/shreds_real.py [--model M] [--data ../shared/data]
        [--m51-pixscale 0.8] [--out benchmarks/out/shreds_real] [--figures docs/images]

1. **M51** (``real_images/m51_kpno_B.fits``, a raw one-band CCD frame with no WCS):
   the classical extractor (:func:`galseg.predict.classical.extract_sources`,
   SExtractor defaults) is run on the frame, as a survey pipeline would, and every
   detection is classified with ``galseg shreds --field`` in pixel mode (the frame
   has no WCS, so ``--x-column/--y-column`` and ``--pixscale``). The frame records
   no pixel scale; ``--m51-pixscale`` (default 0.8 "/px, estimated from the size
   of the galaxy, see docs/benchmarks.md) sets it, and the run is repeated at
   0.65 and 1.0 "/px to show how much the answer depends on it. Reported: the
   number of detections, the fraction flagged inside the disc (within
   ``--disc-radius`` px of the nucleus) and outside, and the nucleus's p_shred.
   Figure: ``shreds_m51.png``.
2. **Legacy** (``legacy_cutouts/``): ``galseg shreds`` on ``catalog.fits`` with one
   PNG cutout per row. Reported: the shred fraction at the model's threshold and
   the end-to-end rate (cutouts/s). Figure: ``shreds_legacy_montage.png``, the
   sources with the highest p_shred next to a random sample of the rest.
3. With ``--speed-baseline MODEL --repeats N``: the Legacy run end to end with the
   model and with MODEL alternately, N times each, in one process; medians and their
   ratio (the machine's load changes between runs, so only alternated figures compare).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from PIL import Image

from galseg.data.images import read_image
from galseg.evaluate.figures import save_figure
from galseg.predict.classical import extract_sources
from galseg.predict.shred_catalog import clean_catalog
from galseg.predict.shreds import ShredClassifier


def _m51(classifier: ShredClassifier, frame: Path, out: Path, pixscale: float,
         disc_radius: float) -> tuple[dict, Figure]:
    extraction = extract_sources(fits.getdata(frame).astype(np.float32))
    catalog = extraction.catalog
    catalog["id"] = np.arange(1, len(catalog) + 1)
    table = Table({"id": catalog["id"], "x": catalog["x"], "y": catalog["y"],
                   "flux": catalog["flux"]})
    in_path = out / "m51_sources.csv"
    table.write(in_path, overwrite=True)
    results = {}
    for scale in sorted({pixscale, 0.65, 1.0}):
        cleaned = out / f"m51_shreds_{scale:.2f}.csv"
        clean_catalog(in_path, cleaned, classifier=classifier, field=frame, x_column="x",
                      y_column="y", pixscale_arcsec=scale, progress=False,
                      overwrite_columns=True)
        results[scale] = Table.read(cleaned)
    chosen = results[pixscale]
    # the nucleus: the brightest detection near the light-weighted centre
    flux = np.asarray(chosen["flux"], float)
    nucleus = int(np.argmax(flux))
    centre = (float(chosen["x"][nucleus]), float(chosen["y"][nucleus]))
    radius = np.hypot(np.asarray(chosen["x"]) - centre[0], np.asarray(chosen["y"]) - centre[1])
    inside = (radius <= disc_radius) & (np.arange(len(chosen)) != nucleus)
    summary = {"n_detections": len(chosen), "nucleus_xy": centre,
               "disc_radius_px": disc_radius, "by_pixscale": {}}
    for scale, result in results.items():
        p = np.asarray(result["p_shred"], float)
        called = p >= classifier.threshold
        summary["by_pixscale"][f"{scale:.2f}"] = {
            "inside_disc": int(inside.sum()),
            "flagged_inside_disc": float(called[inside].mean()),
            "outside_disc": int((~inside).sum() - 1),
            "flagged_outside_disc": float(called[~inside & (np.arange(len(p)) != nucleus)]
                                          .mean()),
            "nucleus_p_shred": float(p[nucleus])}

    image = read_image(frame, pixscale_arcsec=pixscale)
    figure = Figure(figsize=(7.5, 7.5))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.imshow(image.rgb, origin="upper")
    p = np.asarray(chosen["p_shred"], float)
    called = p >= classifier.threshold
    ax.scatter(chosen["x"][called], chosen["y"][called], s=70, facecolors="none",
               edgecolors="red", linewidths=1.1, label=f"shred ({called.sum()})")
    ax.scatter(chosen["x"][~called], chosen["y"][~called], s=70, facecolors="none",
               edgecolors="lime", linewidths=1.1, label=f"not a shred ({(~called).sum()})")
    ax.scatter([centre[0]], [centre[1]], marker="+", s=200, color="yellow",
               label=f"nucleus (p_shred {p[nucleus]:.2f})")
    ax.add_patch(Circle(centre, disc_radius, fill=False, ls="--", color="white", lw=0.8))
    ax.set_axis_off()
    ax.legend(loc="lower left", fontsize=9, framealpha=0.8)
    ax.text(5, 15, f"M51 (KPNO B), {len(chosen)} SExtractor-style detections; "
                   f"{pixscale} arcsec/px assumed", color="white", fontsize=9)
    return summary, figure


def _legacy(classifier: ShredClassifier, folder: Path, out: Path,
            seed: int) -> tuple[dict, Figure]:
    cleaned = out / "legacy_shreds.fits"
    result = clean_catalog(folder / "catalog.fits", cleaned, classifier=classifier,
                           images_dir=folder / "images", id_column="objID",
                           pattern="{id}_grz.png", progress=False, overwrite_columns=True)
    table = Table.read(cleaned)
    p = np.asarray(table["p_shred"], float)
    ok = np.isfinite(p)
    called = ok & (p >= classifier.threshold)
    summary = {"n": len(table), "classified": int(ok.sum()), "flagged": int(called.sum()),
               "shred_fraction": float(called.sum() / max(ok.sum(), 1)),
               "median_p_shred": float(np.median(p[ok])),
               "cutouts_per_second": round(result.n_rows / result.elapsed_s, 1),
               "flags": result.flag_counts}
    order = np.argsort(-np.where(ok, p, -1))
    top = order[:24]
    rng = np.random.default_rng(seed)
    rest = rng.choice(np.flatnonzero(ok & ~called), size=min(12, int((ok & ~called).sum())),
                      replace=False)
    picks = [(i, "red") for i in top] + [(i, "lime") for i in rest]
    ncols = 9
    nrows = int(np.ceil(len(picks) / ncols))
    figure = Figure(figsize=(ncols * 1.3, nrows * 1.42))
    for k, (i, colour) in enumerate(picks):
        ax = figure.add_subplot(nrows, ncols, k + 1)
        with Image.open(folder / "images" / f"{table['objID'][i]}_grz.png") as picture:
            ax.imshow(np.asarray(picture.convert("RGB")))
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color(colour)
            spine.set_linewidth(2)
        ax.set_title(f"{p[i]:.2f}", fontsize=7, pad=1.5)
    figure.suptitle(f"Legacy cutouts: the 24 highest p_shred (red), 12 random below the "
                    f"threshold (green); {called.sum()} of {ok.sum()} flagged", fontsize=9)
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.9, wspace=0.05,
                           hspace=0.25)
    return summary, figure


def _speed(classifier: ShredClassifier, baseline: ShredClassifier, folder: Path, out: Path,
           repeats: int) -> dict:
    rates: dict[str, list[float]] = {"model": [], "baseline": []}
    for _ in range(repeats):
        for name, model in (("model", classifier), ("baseline", baseline)):
            result = clean_catalog(folder / "catalog.fits", out / f"speed_{name}.fits",
                                   classifier=model, images_dir=folder / "images",
                                   id_column="objID", pattern="{id}_grz.png", progress=False,
                                   overwrite_columns=True)
            rates[name].append(result.n_rows / result.elapsed_s)
    medians = {name: float(np.median(values)) for name, values in rates.items()}
    return {"cutouts_per_second": rates, "median": medians,
            "ratio_model_to_baseline": medians["model"] / medians["baseline"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--m51-pixscale", type=float, default=0.8)
    parser.add_argument("--disc-radius", type=float, default=240.0,
                        help="M51 disc radius in frame pixels about the nucleus")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/shreds_real"))
    parser.add_argument("--figures", type=Path, default=Path("docs/images"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed-baseline", type=Path, default=None, metavar="MODEL",
                        help="also time the Legacy run against this model, alternating")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    classifier = ShredClassifier.from_file(args.model)
    m51, m51_figure = _m51(classifier, args.data / "real_images" / "m51_kpno_B.fits", args.out,
                           args.m51_pixscale, args.disc_radius)
    save_figure(m51_figure, args.figures / "shreds_m51.png", dpi=90)
    legacy, montage = _legacy(classifier, args.data / "legacy_cutouts", args.out, args.seed)
    save_figure(montage, args.figures / "shreds_legacy_montage.png", dpi=100)
    summary = {"m51": m51, "legacy": legacy, "model": str(args.model or "default")}
    if args.speed_baseline is not None:
        summary["speed"] = _speed(classifier, ShredClassifier.from_file(args.speed_baseline),
                                  args.data / "legacy_cutouts", args.out, args.repeats)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
