"""Which threshold rule measures bar lengths best? Simulated bars against their truth.

Usage:
    python benchmarks/bar_threshold.py --data runs/sim_eval [--maps DIR] [--min-peak 0.3]

For every simulated galaxy with a true bar (catalog ``has_bar``), the bar map
is thresholded with each candidate rule (fixed vote fractions, fractions of
the map's peak, and the two rules of the reference paper: 80th percentile and
median of the non-zero pixels), measured with :class:`galseg.measure.BarMeasurement`,
and the length compared with the truth ``bar_length_px``: Pearson r, median
absolute fractional error |L - L_true| / L_true, median signed fractional
error, median |PA error|. Rules are compared on the bars that every rule
detects (and each rule's own completeness is printed). The last column is how the
default is chosen: the share of bootstrap resamples of a rule's own detections in
which both of the issue's targets hold (r >= 0.95, median error <= 10%). The truth masks
(BAR_TRUTH) measured the same way show the error of the length definition
itself (minimum-area rectangle, and the maximum Feret diameter for comparison).

The bar map is the volunteers' vote fraction from the GZ3D file, or with
``--maps DIR`` a model's ``<name>_masks.fits`` (extension BAR_VOTE_FRACTION,
and SPIRAL_VOTE_FRACTION for the spiral part), ``<name>`` being the catalog
name or the GZ3D file stem.

Also printed: bar detection against ``has_bar`` for several ``min_peak``; the
spiral mask rules against the SPIRAL_TRUTH masks (mean and pooled IoU, area
ratios; how the default spiral rule is chosen: highest mean IoU per galaxy) and
the spiral detection level against ``has_spiral_arms``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from scipy.stats import pearsonr
from skimage.measure import regionprops

from galseg.data.gz3d import read_gz3d
from galseg.data.maps import fraction_extname, label_stem
from galseg.evaluate.metrics import PEAK_EXPONENTS, peak_rule
from galseg.labels.rasterize import vote_maps
from galseg.measure import ArmMeasurement, BarMeasurement
from galseg.measure.arms import DEFAULT_SPIRAL_DETECTION_LEVEL, DEFAULT_SPIRAL_THRESHOLD
from galseg.measure.bar import DEFAULT_BAR_MIN_PEAK, DEFAULT_BAR_THRESHOLD_RULE

RULES: tuple[float | str, ...] = (0.2, 0.3, 0.4, 0.5, 0.6, "peak0.3", "peak0.4", "peak0.5",
                                  "peak0.6", "peak0.7", "p80-nonzero", "median-nonzero")
"""Candidate bar rules; the last two are the reference code's and the paper's (per map)."""
TARGET_R, TARGET_ERROR = 0.95, 0.10
"""The segmenter issue's bar-length targets: Pearson r and median absolute fractional error."""
MIN_PEAKS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
SPIRAL_RULES: tuple[float | str, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, "peak0.05", "peak0.1",
                                         "peak0.15", "peak0.2", "peak0.3", "peak0.4",
                                         "median-nonzero",
                                         *(peak_rule(f, g) for g in PEAK_EXPONENTS
                                           for f in (0.2, 0.3, 0.4, 0.5, 0.7)))
"""Candidate spiral mask rules (fixed vote fractions, fractions of the map's peak, and
``F * peak**G``)."""
SPIRAL_DETECTION_LEVELS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


def is_true(value: object) -> bool:
    """Catalog booleans come back from CSV as the strings 'True'/'False'."""
    return str(value).strip().lower() == "true"


def target_probability(measured: np.ndarray, truth: np.ndarray, rng: np.random.Generator,
                       n_boot: int = 2000) -> float:
    """Share of bootstrap resamples of the bars in which both issue targets hold:
    Pearson r >= TARGET_R and median |frac err| <= TARGET_ERROR (how rules are chosen)."""
    frac = np.abs(measured / truth - 1)
    hits = 0
    for _ in range(n_boot):
        pick = rng.integers(0, measured.size, measured.size)
        hits += (pearsonr(measured[pick], truth[pick]).statistic >= TARGET_R
                 and np.median(frac[pick]) <= TARGET_ERROR)
    return hits / n_boot


def load_maps(row, data: Path, maps: Path | None) -> tuple[np.ndarray | None, np.ndarray]:
    """(spiral, bar) vote-fraction maps of one row: model output (spiral may be None) or votes."""
    if maps is None:
        votes = vote_maps(read_gz3d(data / row["file"]))
        return votes.vote_fraction("spiral"), votes.vote_fraction("bar")
    for stem in (str(row["name"]), label_stem(str(row["file"]))):
        path = maps / f"{stem}_masks.fits"
        if path.exists():
            with fits.open(path) as hdul:
                spiral = (hdul[fraction_extname("spiral")].data.astype(float)
                          if fraction_extname("spiral") in hdul else None)
                return spiral, hdul[fraction_extname("bar")].data.astype(float)
    raise FileNotFoundError(f"no {row['name']}_masks.fits in {maps}")


def angle_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Difference of two axis angles (degrees, modulo 180) in [-90, 90)."""
    return (np.asarray(a) - np.asarray(b) + 90.0) % 180.0 - 90.0


def length_stats(measured: np.ndarray, truth: np.ndarray, pa: np.ndarray,
                 pa_truth: np.ndarray, rng: np.random.Generator) -> str:
    """Markdown cells: n, r, median |frac err| with a bootstrap 68% interval, bias, |dPA|."""
    frac = measured / truth - 1
    boot = [np.median(np.abs(rng.choice(frac, frac.size))) for _ in range(500)]
    low, high = np.percentile(boot, [16, 84])
    r = pearsonr(measured, truth).statistic if frac.size > 2 else np.nan
    return (f"{frac.size} | {r:.3f} | {np.median(np.abs(frac)):.3f} ({low:.3f}-{high:.3f}) | "
            f"{np.median(frac):+.3f} | {np.median(np.abs(angle_error(pa, pa_truth))):.1f}")


def _predict_maps(model: Path, data: Path, catalog: Table) -> Path:
    """Write the segmenter's maps of the catalog's galaxies to a temporary folder."""
    import tempfile

    from galseg.data._atomic import write_bytes_atomic
    from galseg.data.images import image_from_array
    from galseg.predict.segment import Segmenter, masks_fits_bytes

    out = Path(tempfile.mkdtemp(prefix="bar_threshold_maps_"))
    segmenter = Segmenter(model)
    for start in range(0, len(catalog), 64):
        rows = catalog[start:start + 64]
        subjects = [read_gz3d(data / row["file"]) for row in rows]
        images = [image_from_array(s.image, name=str(row["name"]))
                  for s, row in zip(subjects, rows, strict=True)]
        for image, maps in zip(images, segmenter.predict_maps(images), strict=True):
            write_bytes_atomic(out / f"{image.name}_masks.fits",
                               masks_fits_bytes(segmenter.result(image, maps)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a `galseg simulate` folder")
    parser.add_argument("--maps", type=Path, help="folder of model <name>_masks.fits files")
    parser.add_argument("--min-peak", type=float, default=DEFAULT_BAR_MIN_PEAK)
    parser.add_argument("--limit", type=int, help="only the first N galaxies")
    parser.add_argument("--split", choices=("train", "val", "test"), default=None,
                        help="only galaxies of this training split (tune rules on 'val')")
    parser.add_argument("--model", type=Path, default=None,
                        help="predict the maps with this segmenter (instead of --maps)")
    args = parser.parse_args()

    start = time.perf_counter()
    catalog = Table.read(args.data / "catalog.csv", format="ascii.csv")
    if args.split:
        from galseg.training.examples import split_of

        catalog = catalog[[split_of(str(n)) == args.split for n in catalog["name"]]]
    if args.limit:
        catalog = catalog[: args.limit]
    if args.model:
        args.maps = _predict_maps(args.model, args.data, catalog)
    rng = np.random.default_rng(0)
    bars: list[dict] = []  # one per true bar: truth and each rule's measurement
    peaks = {True: [], False: []}  # bar-map peak and whether the region is big enough
    spiral_rows: list[dict] = []
    for row in catalog:
        spiral, bar = load_maps(row, args.data, args.maps)
        has_bar = is_true(row["has_bar"])
        default = BarMeasurement(bar, threshold=DEFAULT_BAR_THRESHOLD_RULE, min_peak=0.0)
        peaks[has_bar].append((default.peak_vote_fraction, default.detected))
        with fits.open(args.data / row["truth_file"]) as truth_file:
            spiral_truth = truth_file["SPIRAL_TRUTH"].data.astype(bool)
            bar_truth = truth_file["BAR_TRUTH"].data.astype(bool)
        if spiral is not None:
            spiral_rows.append({"truth": spiral_truth, "map": spiral,
                                "has_arms": is_true(row["has_spiral_arms"])})
        if not has_bar:
            continue
        record = {"length": float(row["bar_length_px"]), "pa": float(row["bar_pa_deg"]),
                  "q": float(row["bar_axis_ratio"])}
        truth_bar = BarMeasurement(bar_truth.astype(float), threshold=0.5, min_peak=0.0)
        feret = regionprops(truth_bar.mask.astype(np.uint8))[0].feret_diameter_max
        record["truth mask, rectangle"] = (truth_bar.length_px, truth_bar.sky_position_angle_deg,
                                           truth_bar.axis_ratio)
        record["truth mask, max Feret"] = (feret, truth_bar.sky_position_angle_deg,
                                           truth_bar.width_px / feret)
        for rule in RULES:
            measured = BarMeasurement(bar, threshold=rule, min_peak=args.min_peak)
            record[rule] = ((measured.length_px, measured.sky_position_angle_deg,
                             measured.axis_ratio)
                            if measured.detected else None)
        bars.append(record)

    source = f"model maps in {args.maps}" if args.maps else "volunteer vote maps (GZ3D files)"
    n_bars = len(bars)
    print(f"# bar_threshold: {args.data} ({len(catalog)} galaxies, {n_bars} true bars), "
          f"{source}, min_peak={args.min_peak}\n")
    truth = np.array([b["length"] for b in bars])
    pa_truth = np.array([b["pa"] for b in bars])
    q_truth = np.array([b["q"] for b in bars])
    names = ["truth mask, rectangle", "truth mask, max Feret", *RULES]
    common = np.array([all(b[r] is not None for r in RULES) for b in bars], dtype=bool)
    print(f"Bar length against truth on the {common.sum()} bars every rule detects "
          "(median |frac err| with bootstrap 68% interval):\n")
    print("| rule | detected (of all true bars) | n | Pearson r | median abs frac err | "
          "median frac err | median abs PA err (deg) | median q / q_true | "
          "own detections: r, median abs frac err | own detections: P(both targets) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        found = np.array([b[name] is not None for b in bars], dtype=bool)
        use = common & found
        values = np.array([b[name] if b[name] is not None else (np.nan,) * 3 for b in bars])
        cells = length_stats(values[use, 0], truth[use], values[use, 1], pa_truth[use], rng)
        own_r = pearsonr(values[found, 0], truth[found]).statistic
        own_err = np.median(np.abs(values[found, 0] / truth[found] - 1))
        q_ratio = np.median(values[use, 2] / q_truth[use])
        chance = target_probability(values[found, 0], truth[found], rng)
        print(f"| {name} | {found.sum()}/{n_bars} | {cells} | {q_ratio:.2f} | "
              f"{own_r:.3f}, {own_err:.3f} | {chance:.2f} |")

    print("\nDetection (peak >= min_peak, region >= 12 px with the default rule "
          f"{DEFAULT_BAR_THRESHOLD_RULE!r}) against the truth has_bar:\n")
    print("| min_peak | true bars detected | false bars (of galaxies without bar) |")
    print("|---|---|---|")
    for min_peak in MIN_PEAKS:
        hits = {key: np.mean([(p >= min_peak - 1e-6) and big for p, big in values])
                for key, values in peaks.items()}
        print(f"| {min_peak} | {hits[True]:.3f} ({len(peaks[True])}) | "
              f"{hits[False]:.3f} ({len(peaks[False])}) |")

    if not spiral_rows:
        print(f"\nNo {fraction_extname('spiral')} maps: no spiral table.")
        return
    with_arms = [s for s in spiral_rows if s["has_arms"]]
    without = [s for s in spiral_rows if not s["has_arms"]]
    print(f"\nSpiral mask rules against SPIRAL_TRUTH ({len(with_arms)} galaxies whose truth "
          f"has arms; presence at the default detection level "
          f"{DEFAULT_SPIRAL_DETECTION_LEVEL}, a galaxy without detected arms scores IoU 0):\n")
    print("| rule | mean IoU per galaxy | pooled IoU | median area / truth area | "
          "total area / truth area |")
    print("|---|---|---|---|---|")
    for rule in SPIRAL_RULES:
        masks = [ArmMeasurement(s["map"], threshold=rule).mask for s in with_arms]
        inter = [int((m & s["truth"]).sum()) for m, s in zip(masks, with_arms, strict=True)]
        union = [int((m | s["truth"]).sum()) for m, s in zip(masks, with_arms, strict=True)]
        area = np.array([m.sum() for m in masks], float)
        truth_area = np.array([s["truth"].sum() for s in with_arms], float)
        mark = "**" if rule == DEFAULT_SPIRAL_THRESHOLD else ""
        print(f"| {mark}{rule}{mark} | {np.mean(np.divide(inter, union)):.4f} | "
              f"{sum(inter) / max(sum(union), 1):.3f} | {np.median(area / truth_area):.2f} | "
              f"{area.sum() / max(truth_area.sum(), 1):.2f} |")
    print("\nSpiral detection level against the truth has_spiral_arms:\n")
    print("| detection level | arms detected | false arms |")
    print("|---|---|---|")
    for level in SPIRAL_DETECTION_LEVELS:
        found = np.mean([ArmMeasurement(s["map"], detection_level=level).detected
                         for s in with_arms])
        false = np.mean([ArmMeasurement(s["map"], detection_level=level).detected
                         for s in without])
        print(f"| {level} | {found:.3f} ({len(with_arms)}) | {false:.3f} ({len(without)}) |")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
