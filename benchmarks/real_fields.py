"""The detector on real fields marked by eye: completeness by size, purity, class, speed.

Usage::

    python benchmarks/real_fields.py [--data ../shared/data]
        [--marks benchmarks/real_field_marks.csv]
        [--part tune|test|both] [--scales 1] [--score-threshold 0.4] [--tile-overlap 128]
        [--merge-iou 0.5] [--piece-area-ratio R] [--min-box-px PX] [--n-composed 3]
        [--overlays DIR] [--json OUT.json] [--model DETECTOR.pt]

Fields (docs/detection_marks.md):

* ``hdf``: scikit-image's Hubble deep field (1000 x 872) at its own pixels, and
  ``hdf2345``: the same picture resampled to 2345 x 2039 px, the size of the deep-field
  JPEG of issue 28 (marks scaled with it); marks with x < 500 (of the 1000 px picture)
  are the ``tune`` part, the rest ``test``, and detections are split the same way;
* ``m51_kpno_B``, ``m83`` (tune), ``m101``, ``m61`` (test) from ``DATA/real_images``;
* ``gz1_field_<seed>``: fields composed of GZ1 **test-split** galaxies on real SDSS sky
  (:func:`galseg.data.gz1_fields.compose_gz1_field`), ``--n-composed`` per part, seeds
  0.. for tune and 100.. for test, galaxies of each part from one half of the test split
  (by a hash of the objID); their marks come from the composition.

The detector's settings are the options; the classical baseline (sep,
SExtractor defaults on the mean of the three channels) is scored by the same rule.
Prints a JSON summary per part and group of fields (and writes it with ``--json``);
``--overlays`` writes each field's detections (red boxes) and marks on the picture.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack
from scipy import ndimage

from galseg.cli._args import add_detector_settings, detector_settings
from galseg.data.gz1 import GZ1_CLASSES, gz1_split
from galseg.data.gz1_fields import compose_gz1_field
from galseg.data.images import read_image
from galseg.evaluate.real_fields import FieldScore, score_field, summarize
from galseg.labels.eye_marks import field_marks, marking_tiles, read_marks
from galseg.predict.classical import NoDetectionsWarning, extract_sources
from galseg.predict.detect import Detector
from galseg.training.examples import unit_hash

HDF_TUNE_X = 500.0
"""Deep-field marks and detections left of this column (1000 px picture) are ``tune``."""
ISSUE_FIELD_SHAPE = (2039, 2345)
FRAME_PARTS = {"m51_kpno_B": "tune", "m83": "tune", "m101": "test", "m61": "test"}
GZ1_PER_FIELD = 40


def composed_objids(gz1_dir: Path, part: str) -> list[str]:
    """GZ1 test-split galaxies (classes 0-3) of one half (``part``), in labels order."""
    labels = Table.read(gz1_dir / "labels.csv", format="ascii.csv")
    out = []
    for objid, code in zip(labels["objid"], labels["gz1_class"], strict=True):
        objid = str(objid)
        if int(code) in GZ1_CLASSES and gz1_split(objid) == "test":
            half = "tune" if unit_hash(f"real_fields:{objid}") < 0.5 else "test"
            if half == part:
                out.append(objid)
    return out


def fields(data: Path, marks: Table, n_composed: int) -> list[dict]:
    """Every field: name, picture, marks (in its pixels), part of each mark/detection."""
    from skimage.data import hubble_deep_field
    from skimage.transform import resize
    out = []
    hdf = hubble_deep_field()
    hdf_marks = field_marks(marks, "hdf")
    out.append({"name": "hdf", "group": "hdf", "rgb": hdf, "marks": hdf_marks,
                "part_x": HDF_TUNE_X})
    fy, fx = ISSUE_FIELD_SHAPE[0] / hdf.shape[0], ISSUE_FIELD_SHAPE[1] / hdf.shape[1]
    big = (resize(hdf, ISSUE_FIELD_SHAPE, order=3, anti_aliasing=False) * 255 + 0.5).clip(
        0, 255).astype(np.uint8)
    scaled = hdf_marks.copy()
    scaled["x"] = (scaled["x"] + 0.5) * fx - 0.5
    scaled["y"] = (scaled["y"] + 0.5) * fy - 0.5
    scaled["size_px"] = scaled["size_px"] * np.sqrt(fx * fy)
    out.append({"name": "hdf2345", "group": "hdf2345", "rgb": big, "marks": scaled,
                "part_x": (HDF_TUNE_X + 0.5) * fx - 0.5, "marked_pixel_factor": np.sqrt(fx * fy)})
    for name, part in FRAME_PARTS.items():
        suffix = ".fits" if name.startswith("m51") else ".png"
        path = data / "real_images" / f"{name}{suffix}"
        if path.exists():
            out.append({"name": name, "group": "frames", "rgb": read_image(path).rgb,
                        "marks": field_marks(marks, name), "part": part})
    gz1 = data / "gz1_sdss"
    if gz1.exists() and n_composed:
        for part, first_seed in (("tune", 0), ("test", 100)):
            objids = composed_objids(gz1, part)
            for k in range(n_composed):
                seed = first_seed + k
                chosen = objids[k * GZ1_PER_FIELD:(k + 1) * GZ1_PER_FIELD]
                field = compose_gz1_field(gz1, chosen, seed=seed, field=f"gz1_field_{seed}",
                                          part=part)
                out.append({"name": f"gz1_field_{seed}", "group": "composed",
                            "rgb": field.rgb, "marks": field.marks, "part": part})
    return out


def classical_catalogue(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres and sizes (longest side of each segment's box) from sep."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        found = extract_sources(np.asarray(rgb, np.float32).mean(axis=2))
    slices = ndimage.find_objects(found.segmentation)
    sizes = np.array([max(s[0].stop - s[0].start, s[1].stop - s[1].start) if s else 0
                      for s in (slices[int(lab) - 1] for lab in found.catalog["label"])],
                     float)
    xy = np.column_stack([found.catalog["x"], found.catalog["y"]]) if len(found.catalog) \
        else np.zeros((0, 2))
    return xy, sizes


def split_part(field: dict, part: str, xy: np.ndarray) -> tuple[Table, np.ndarray]:
    """The marks of ``part`` and which detections (by centre) belong to it."""
    marks = field["marks"]
    if "part_x" in field:
        mine = np.asarray(marks["x"], float) < field["part_x"]
        det = xy[:, 0] < field["part_x"]
        if part == "test":
            mine, det = ~mine, ~det
        return marks[mine], det
    keep = np.full(len(xy), field["part"] == part)
    return (marks if field["part"] == part else marks[:0]), keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--marks", default=str(Path(__file__).with_name(
        "real_field_marks.csv")))
    parser.add_argument("--part", choices=("tune", "test", "both"), default="both")
    add_detector_settings(parser)  # --score-threshold, --piece-area-ratio, --min-box-px, --scales
    parser.add_argument("--tile-overlap", type=int, default=128)
    parser.add_argument("--merge-iou", type=float, default=0.5)
    parser.add_argument("--n-composed", type=int, default=3)
    parser.add_argument("--no-classical", action="store_true")
    parser.add_argument("--overlays", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--small-rule", choices=("marked", "field"), default="marked",
                        help="detections too small to score: below 10 px of the picture "
                             "the marks were made on ('marked', default; 23 px on hdf2345) "
                             "or 10 px of the field itself ('field'))")
    parser.add_argument("--model", default=None,
                        help="detector model file (default: the shipped one)")
    parser.add_argument("--write-composed-marks", default=None,
                        help="also write the composed fields' marks to this CSV")
    args = parser.parse_args()

    detector = Detector.from_file(args.model, tile_overlap=args.tile_overlap,
                                  merge_iou=args.merge_iou, **detector_settings(args))
    marks = read_marks(args.marks)
    parts = ("tune", "test") if args.part == "both" else (args.part,)
    results: dict[str, dict[str, list[FieldScore]]] = {}
    timing = {}
    composed_marks = []
    for field in fields(Path(args.data), marks, args.n_composed):
        start = time.perf_counter()
        found = detector.detect(field["rgb"])
        timing[field["name"]] = round(time.perf_counter() - start, 2)
        centres = found.centroids.copy()
        box_centres = (found.boxes[:, :2] + found.boxes[:, 2:]) / 2 - 0.5
        centres[~np.isfinite(centres)] = box_centres[~np.isfinite(centres)]
        sizes = np.max(found.boxes[:, 2:] - found.boxes[:, :2], axis=1) if len(found) \
            else np.zeros(0)
        catalogues = {"galseg": (centres, sizes, found.p_spiral)}
        if not args.no_classical:
            xy, size = classical_catalogue(field["rgb"])
            catalogues["classical"] = (xy, size, None)
        if field["group"] == "composed":
            composed_marks.append(field["marks"])
        for part in parts:
            for method, (xy, size, p) in catalogues.items():
                part_marks, keep = split_part(field, part, xy)
                if not len(part_marks) and not keep.any():
                    continue
                score = score_field(field["name"], part_marks, xy[keep], size[keep],
                                    None if p is None else p[keep],
                                    marked_pixel_factor=field.get("marked_pixel_factor", 1.0)
                                    if args.small_rule == "marked" else 1.0)
                key = f"{method}/{part}"
                results.setdefault(key, {}).setdefault(field["group"], []).append(score)
        if args.overlays:
            out = Path(args.overlays)
            out.mkdir(parents=True, exist_ok=True)
            tile = next(marking_tiles(field["rgb"], tile=max(field["rgb"].shape), zoom=1,
                                      overlap=0, grid=100, label_every=100,
                                      marks=field["marks"], boxes=found.boxes))
            tile.image.save(out / f"{field['name']}_real_fields.png")
    summary: dict[str, object] = {
        "settings": {"scales": detector.scales, "score_threshold": detector.score_threshold,
                     "tile_overlap": args.tile_overlap, "merge_iou": args.merge_iou,
                     "piece_area_ratio": detector.piece_area_ratio,
                     "min_box_px": detector.min_box_px},
        "seconds": timing}
    for key, groups in results.items():
        summary[key] = {group: summarize(scores) for group, scores in groups.items()}
        summary[key]["all real (hdf2345 + frames + composed)"] = summarize(
            [s for g, scores in groups.items() if g != "hdf" for s in scores])
    if args.write_composed_marks and composed_marks:
        table = vstack(composed_marks, metadata_conflicts="silent")
        table.write(args.write_composed_marks, format="ascii.csv", overwrite=True)
    text = json.dumps(summary, indent=1, default=lambda v: None if v != v else v)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
