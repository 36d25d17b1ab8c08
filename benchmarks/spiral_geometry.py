"""Arm count, pitch angle and winding (``galseg.measure.spirals``) against truth and Galaxy Zoo 1.

Usage::

    python benchmarks/spiral_geometry.py --sim runs/sim_eval5000       # unseen simulations
    python benchmarks/spiral_geometry.py --gz1 ../shared/data/gz1_sdss --gz1-split test
    python benchmarks/spiral_geometry.py --figure docs/images/spiral_fits.png \\
        --sim runs/sim_eval5000 --gz1 ../shared/data/gz1_sdss --gz1-split test
    python benchmarks/spiral_geometry.py --speed 256                   # end to end
    python benchmarks/spiral_geometry.py --speed 256 --speed-against main

1. ``--sim DIR`` (a ``galseg simulate`` folder, truth columns ``pitch_angle_deg``,
   ``n_arms``, ``arm_winding``, ``disc_axis_ratio``, ``disc_pa_deg``): the shipped
   segmenter on every galaxy's colour image (with its GZ3D WCS), then: the share of the
   spirals whose truth has arms with a pitch measured, its median absolute error (also
   by arm structure, and for the 2D Fourier method's pitch on the same galaxies), how
   often the truth lies within the quoted error, the arm count on grand-design spirals,
   the winding against the truth, the disc axis ratio and PA against the truth.
2. ``--gz1 DIR``: the GZ1 spirals of ``--gz1-split`` (class 1 clockwise, 2 anticlockwise),
   central 141 px as in ``benchmarks/real_images.py``: share with a winding, agreement
   with GZ1; and each cutout flipped left-right (winding should flip, pitch and count stay).
3. ``--figure PATH``: fitted spirals over GZ1 and simulated galaxies.
4. ``--speed N``: ``galseg segment`` end to end (``run_segment``) on N simulated 128 px
   cutouts, with and without the spiral columns (the row made as before this module),
   alternating in one run; medians and the ratio. With ``--speed-against REV`` the
   other side is ``galseg.measure.spirals`` as it was at git revision ``REV`` instead.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
from astropy.table import Table
from PIL import Image

from galseg.data.gz1 import GZ1_SEGMENTER_CROP, central_crop, gz1_split
from galseg.data.gz3d import read_gz3d
from galseg.data.images import image_from_array
from galseg.evaluate.segmentation import read_catalog
from galseg.measure.spirals import image_parity
from galseg.predict.segment import SegmentationResult, Segmenter

GZ1_WINDING = {1: "cw", 2: "acw"}


def _segment(segmenter: Segmenter, images: list) -> list[SegmentationResult]:
    results = []
    for start in range(0, len(images), 64):
        results += list(segmenter.segment_many(images[start:start + 64]))
    return results


def _float(value) -> float:
    return float(np.ma.filled(np.ma.asarray(value, float), np.nan))


def simulations(segmenter: Segmenter, folder: Path) -> list[tuple[dict, SegmentationResult]]:
    catalog = read_catalog(folder)
    images = []
    for row in catalog:
        subject = read_gz3d(folder / str(row["file"]))
        images.append(image_from_array(subject.image, name=str(row["name"]), wcs=subject.wcs,
                                       pixscale_arcsec=subject.pixscale_arcsec))
    results = _segment(segmenter, images)
    rows = [{c: row[c] for c in catalog.colnames} for row in catalog]
    pairs = list(zip(rows, results, strict=True))
    spirals = [(t, r) for t, r in pairs if t["has_spiral_arms"]]
    print(f"\nSimulations {folder} ({len(catalog)} galaxies, {len(spirals)} with arms in truth)")
    m = np.array([r.measurements["pitch_angle_deg"] for _, r in spirals], float)
    err_q = np.array([r.measurements["pitch_angle_err_deg"] for _, r in spirals], float)
    truth = np.array([_float(t["pitch_angle_deg"]) for t, _ in spirals])
    fourier = np.array([r.spirals.fourier_pitch_deg for _, r in spirals])
    structure = np.array([str(t["arm_structure"]) for t, _ in spirals])
    detected = np.array([r.measurements["has_spiral_arms"] for _, r in spirals])
    ok = np.isfinite(m)
    print(f"  arms detected {detected.mean():.3f}; pitch measured {ok.mean():.3f} "
          f"({ok.sum()} of {len(spirals)})")
    print(f"  pitch median abs error {np.median(np.abs(m - truth)[ok]):.2f} deg "
          f"(bias {np.median((m - truth)[ok]):+.2f}); 2D Fourier (strongest mode) on the "
          f"same galaxies {np.median(np.abs(fourier - truth)[ok]):.2f} deg "
          f"(bias {np.median((fourier - truth)[ok]):+.2f})")
    print(f"  truth within the quoted error: {np.mean(np.abs(m - truth)[ok] <= err_q[ok]):.2f}"
          f" (1 sigma), {np.mean(np.abs(m - truth)[ok] <= 2 * err_q[ok]):.2f} (2 sigma)")
    for cut in (5.0, 10.0, 20.0):
        sel = ok & (err_q <= cut)
        print(f"  with pitch_angle_err_deg <= {cut:4.1f}: measured {sel.sum() / len(spirals):.3f}, "
              f"median abs error {np.median(np.abs(m - truth)[sel]):.2f} deg")
    for kind in ("grand_design", "multi_arm", "flocculent"):
        sel = structure == kind
        mine = ok & sel
        print(f"    {kind:13s} N={sel.sum():3d} measured {mine.sum() / max(sel.sum(), 1):.2f} "
              f"median abs error {np.median(np.abs(m - truth)[mine]):5.2f} "
              f"(Fourier {np.median(np.abs(fourier - truth)[mine]):5.2f})")
    n_true = np.array([_float(t["n_arms"]) for t, _ in spirals])
    n_arms = np.array([r.measurements["n_arms"] for _, r in spirals], float)
    for kind in ("grand_design", "multi_arm"):
        sel = structure == kind
        given = sel & np.isfinite(n_arms)
        print(f"  arm count exact, {kind}: {np.mean(n_arms[sel] == n_true[sel]):.3f} of all "
              f"{sel.sum()}, {np.mean(n_arms[given] == n_true[given]):.3f} of the "
              f"{given.sum()} counted")
    winding = np.array([r.measurements["arm_winding"] for _, r in spirals])
    true_winding = np.array([str(t["arm_winding"]) for t, _ in spirals])
    given = winding != ""
    print(f"  winding given {given.mean():.3f}, agrees with truth "
          f"{np.mean(winding[given] == true_winding[given]):.3f} ({given.sum()})")
    discs = [(t, r) for t, r in pairs if t["has_spiral_arms"] and r.measurements["has_spiral_arms"]]
    q_err = np.array([r.measurements["disc_axis_ratio"] - _float(t["disc_axis_ratio"])
                      for t, r in discs])
    pa_err = np.array([abs((r.measurements["disc_pa_deg"] - _float(t["disc_pa_deg"]) + 90)
                           % 180 - 90) for t, r in discs if _float(t["disc_axis_ratio"]) < 0.8])
    print(f"  disc axis ratio: median error {np.median(q_err):+.3f}, median abs "
          f"{np.median(np.abs(q_err)):.3f}, 90% within {np.percentile(np.abs(q_err), 90):.3f}; "
          f"PA (truth q < 0.8) median abs error {np.median(pa_err):.1f} deg")
    return pairs


def _gz1_images(folder: Path, split: str) -> tuple[list, np.ndarray]:
    labels = Table.read(folder / "labels.csv", format="ascii.csv")
    rows = [r for r in labels if int(r["gz1_class"]) in GZ1_WINDING
            and gz1_split(str(r["objid"])) == split]
    images, classes = [], []
    for row in rows:
        rgb = np.asarray(Image.open(folder / "images" / f"{row['objid']}.jpeg").convert("RGB"))
        images.append(image_from_array(central_crop(rgb, GZ1_SEGMENTER_CROP),
                                       name=str(row["objid"])))
        classes.append(GZ1_WINDING[int(row["gz1_class"])])
    return images, np.array(classes)


def gz1(segmenter: Segmenter, folder: Path, split: str) -> list[tuple[str, SegmentationResult]]:
    images, classes = _gz1_images(folder, split)
    results = _segment(segmenter, images)
    winding = np.array([r.measurements["arm_winding"] for r in results])
    given = winding != ""
    print(f"\nGalaxy Zoo 1 spirals, {split} split: {len(results)} "
          f"({np.sum(classes == 'cw')} clockwise, {np.sum(classes == 'acw')} anticlockwise)")
    detected = np.mean([r.measurements["has_spiral_arms"] for r in results])
    measured = np.mean([np.isfinite(r.measurements["pitch_angle_deg"]) for r in results])
    print(f"  arms detected {detected:.3f}; pitch measured {measured:.3f}")
    print(f"  winding given {given.mean():.3f} ({given.sum()}), agrees with GZ1 "
          f"{np.mean(winding[given] == classes[given]):.3f}")
    for cls in ("cw", "acw"):
        sel = given & (classes == cls)
        print(f"    GZ1 {cls:3s}: given {np.mean(given[classes == cls]):.3f}, agrees "
              f"{np.mean(winding[sel] == cls):.3f}")
    pitch = np.array([r.measurements["pitch_angle_deg"] for r in results], float)
    print(f"  pitch: median {np.nanmedian(pitch):.1f} deg, 16-84% "
          f"{np.nanpercentile(pitch, 16):.1f}-{np.nanpercentile(pitch, 84):.1f}")
    flipped = _segment(segmenter, [
        image_from_array((im.rgb[:, ::-1] * 255).round().astype(np.uint8), name=im.name)
        for im in images])
    mirrored = np.array([f.measurements["arm_winding"] for f in flipped])
    both = given & (mirrored != "")
    opposite = {"cw": "acw", "acw": "cw"}
    flips = np.mean([opposite[a] == b for a, b in zip(winding[both], mirrored[both], strict=True)])
    fp = np.array([f.measurements["pitch_angle_deg"] for f in flipped], float)
    same = np.isfinite(pitch) & np.isfinite(fp)
    n1 = np.array([r.measurements["n_arms"] for r in results], float)
    n2 = np.array([f.measurements["n_arms"] for f in flipped], float)
    counted = np.isfinite(n1) & np.isfinite(n2)
    print(f"  left-right flipped: winding opposite in {flips:.3f} of the {both.sum()} given "
          f"both ways; pitch difference median {np.median(np.abs(pitch - fp)[same]):.2f} deg; "
          f"same arm count {np.mean(n1[counted] == n2[counted]):.3f}")
    return list(zip(classes, results, strict=True))


def figure(sim_pairs, gz1_pairs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = [(f"GZ1 {c}", r) for c, r in gz1_pairs
             if np.isfinite(r.measurements["pitch_angle_deg"])][:8]
    picks += [(f"sim {t['arm_structure']} {t['arm_winding']} P={_float(t['pitch_angle_deg']):.0f} "
               f"n={int(_float(t['n_arms']))}", r) for t, r in sim_pairs
              if t["has_spiral_arms"] and np.isfinite(r.measurements["pitch_angle_deg"])][:8]
    fig, axes = plt.subplots(4, 8, figsize=(20, 11))
    for col, (title, result) in enumerate(picks):
        top, bottom = axes[2 * (col // 8), col % 8], axes[2 * (col // 8) + 1, col % 8]
        m = result.measurements
        top.imshow(result.image.rgb)
        top.set_title(title, fontsize=7)
        bottom.imshow(result.image.rgb)
        bottom.imshow(np.ma.masked_less(result.spiral_vote_fraction, 0.05), cmap="autumn",
                      alpha=0.45, vmin=0, vmax=1)
        for curve in result.spirals.spiral_xy():
            bottom.plot(curve[:, 0], curve[:, 1], "c-", lw=1.2)
        cx, cy = result.spirals.disc.centre_xy
        bottom.plot([cx], [cy], "w+", ms=6)
        bottom.set_title(f"P={m['pitch_angle_deg']:.0f}±{m['pitch_angle_err_deg']:.0f} "
                         f"n={m['n_arms']:.0f} {m['arm_winding'] or '?'} "
                         f"q={m['disc_axis_ratio']:.2f}", fontsize=7)
        for ax in (top, bottom):
            ax.set_xlim(-0.5, result.image.shape[1] - 0.5)
            ax.set_ylim(result.image.shape[0] - 0.5, -0.5)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"wrote {path}")


def _spiral_measurement_at(revision: str) -> type:
    """``SpiralMeasurement`` of ``galseg.measure.spirals`` as it was at a git revision."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "show", f"{revision}:src/galseg/measure/spirals.py"],
                            cwd=root, capture_output=True, text=True, check=True).stdout
    module = types.ModuleType(f"spirals_at_{revision}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{revision}:spirals.py", "exec"), module.__dict__)
    return module.SpiralMeasurement


def speed(n: int, repeats: int, against: str | None = None) -> None:
    from segment_speed import _write_cutouts  # benchmarks/segment_speed.py, beside this script

    from galseg.predict.run import run_segment

    def old_row(self):  # the catalog row before galseg.measure.spirals
        return {**self.arms.to_row(), **self.bar.to_row()}

    new_row = SegmentationResult.__dict__["measurements"].func
    new_spirals = SegmentationResult.__dict__["spirals"].func
    if against:
        measurement = _spiral_measurement_at(against)

        def old_spirals(self):
            return measurement(self.spiral_vote_fraction, self.image.rgb,
                               parity=image_parity(self.image), wcs=self.image.wcs,
                               arms=self.arms)

        sides = {against: (new_row, old_spirals), "this tree": (new_row, new_spirals)}
    else:
        sides = {"before": (old_row, new_spirals), "with spirals": (new_row, new_spirals)}
    segmenter = Segmenter(device="cpu", batch_size=32)
    rates: dict[str, list[float]] = {key: [] for key in sides}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        sources = _write_cutouts(tmp / "in", n)
        for r in range(repeats):
            for key, (row, spirals) in sides.items():
                SegmentationResult.measurements.func = row
                SegmentationResult.spirals.func = spirals
                start = time.perf_counter()
                run_segment(sources, tmp / f"out{r}_{key}", segmenter=segmenter,
                            redshift=0.05, progress=False)
                rates[key].append(n / (time.perf_counter() - start))
    SegmentationResult.measurements.func = new_row
    SegmentationResult.spirals.func = new_spirals
    for key, values in rates.items():
        print(f"end to end, {n} cutouts, {key}: {statistics.median(values):.1f} cutouts/s "
              f"(runs: {', '.join(f'{v:.1f}' for v in values)})")
    first, second = rates
    print(f"{second} / {first}: "
          f"{statistics.median(rates[second]) / statistics.median(rates[first]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sim", type=Path, default=None)
    parser.add_argument("--gz1", type=Path, default=None)
    parser.add_argument("--gz1-split", choices=("train", "test"), default="train")
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--speed", type=int, default=0, metavar="N")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--speed-against", default=None, metavar="REV",
                        help="compare with galseg.measure.spirals at this git revision")
    args = parser.parse_args()
    segmenter = Segmenter(device="cpu")
    sim_pairs = simulations(segmenter, args.sim) if args.sim else []
    gz1_pairs = gz1(segmenter, args.gz1, args.gz1_split) if args.gz1 else []
    if args.figure:
        figure(sim_pairs, gz1_pairs, args.figure)
    if args.speed:
        speed(args.speed, args.repeats, args.speed_against)


if __name__ == "__main__":
    main()
