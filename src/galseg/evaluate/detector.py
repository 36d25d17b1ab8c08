"""Scores of the galaxy detector (Mask R-CNN) on detection examples with truth.

:func:`evaluate_detector` runs a detector (anything with ``detect(rgb) ->``
:class:`~galseg.predict.detections.Detections`) over detection example folders
(:mod:`galseg.data.detection_examples`: real SDSS cutouts with Galaxy Zoo 1 classes and
simulated multi-galaxy fields) and returns a :class:`DetectorEvaluation` with the numbers of
Farias et al. (2020) and more:

* **matching** (:func:`match_objects`): detections and truth objects are paired one to one
  on mask IoU >= 0.5, greedily by descending detection score, whatever the classes;
* **average precision** (:func:`coco_average_precision`): COCO mAP@0.5 and mAP@[0.5:0.95]
  of the galaxy classes, masks and boxes, computed by pycocotools;
* **classification** of matched galaxies: accuracy, per-class precision/recall/F1 and the
  confusion matrix (truth x predicted, with a ``missed`` column);
* **centroids**: predicted minus true centre of matched galaxies, median and MAD per axis,
  and minus the centroid of the galaxy's truth mask in the same light (the model's own
  error);
* **completeness and purity** on fully labelled fields, for galseg and for the classical
  SExtractor-style baseline (:func:`galseg.predict.classical.extract_sources` on the r band)
  under one position rule (:func:`match_centroids`);
* **noise curve** (:func:`noise_curve`): the scores again after adding Gaussian noise of
  increasing scale to the 8-bit pictures.

The scores themselves are in :mod:`galseg.evaluate.detection_metrics` (re-exported here),
the figures in :mod:`galseg.evaluate.detector_figures`; ``docs/evaluation.md``
("Evaluating the detector") explains every number and rule.

Galaxy Zoo 1 examples label only the central galaxy: a detection of another galaxy in the
cutout is not a false positive we can know of. On such *partially labelled* images
(``source == 'gz1'``) average precision uses only detections that match a truth object or
whose centroid lies on a truth mask (the others may be unlabelled galaxies); the summary
also gives the AP with every detection counted, which is how the paper's numbers were made.
"""

from __future__ import annotations

import io
import json
import time
import warnings
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from os import PathLike
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from astropy.io import fits
from astropy.table import Table
from tqdm.auto import tqdm

from galseg.data._atomic import write_bytes_atomic
from galseg.data.detection_examples import (
    DetectionExample,
    DetectionExampleSet,
    read_detection_examples,
)
from galseg.data.images import read_image
from galseg.evaluate.detection_metrics import (
    GALAXY_CLASSES,
    IOU_THRESHOLD,
    MISSED,
    ImageResult,
    Matching,
    TruthObjects,
    centroid_offsets,
    check_iou_threshold,
    classification_scores,
    coco_average_precision,
    found_radius_px,
    images_average_precision,
    match_centroids,
    match_objects,
    object_category,
    predicted_classes,
    reduce_image,
    spiral_elliptical_scores,
    truth_table,
)
from galseg.evaluate.metrics import mean_or_nan
from galseg.evaluate.report import json_ready
from galseg.predict.classical import NoDetectionsWarning, SourceExtraction, extract_sources
from galseg.predict.detections import Detections, mask_centroid

DEFAULT_NOISE_SCALES = (0.0, 12.75, 25.5, 51.0, 76.5)
"""Gaussian noise sigmas (8-bit counts) of Farias et al. (2020), Fig. 18."""
PAPER = {"map50": 0.93, "accuracy": 0.98, "centroid_mad_x_px": 0.27, "centroid_mad_y_px": 0.34,
         "accuracy_at_noise_76.5": 0.92}
"""Farias et al. (2020): validation mAP@0.5, accuracy, centroid MAD, accuracy under noise."""


class DetectorLike(Protocol):
    """What the evaluation needs of a detector (:class:`galseg.predict.detect.Detector`)."""

    def detect(self, rgb: np.ndarray, *, pixscale_arcsec: float | None = None,
               weight_image: np.ndarray | None = None) -> Detections: ...


# --------------------------------------------------------------------------------------
# The classical baseline and completeness
# --------------------------------------------------------------------------------------
def read_r_band(path: str | PathLike[str]) -> np.ndarray:
    """The r band of a band image: the plane named by header ``BANDS`` (default ``'grz'``)
    of the first FITS image HDU with data, or the image itself if it has one plane."""
    with fits.open(path) as hdus:
        hdu = next((h for h in hdus if h.data is not None and h.data.ndim >= 2), None)
        if hdu is None:
            raise ValueError(f"{path}: no image HDU with data")
        data = np.asarray(hdu.data, dtype=np.float32)
        bands = str(hdu.header.get("BANDS", "grz")).strip().lower()
    if data.ndim == 2:
        return data
    if data.ndim != 3 or "r" not in bands or bands.index("r") >= len(data):
        raise ValueError(f"{path}: expected a 2-D image or a (bands, H, W) cube with an r "
                         f"plane (header BANDS), got shape {data.shape}, BANDS {bands!r}")
    return data[bands.index("r")]


def run_classical(path: str | PathLike[str]) -> SourceExtraction:
    """The classical baseline: :func:`~galseg.predict.classical.extract_sources` with its
    (SExtractor) defaults on the r band of a field's FITS file; no warning when empty."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        return extract_sources(read_r_band(path))


def _bool_column(table: Table, name: str) -> np.ndarray | None:
    """A True/False column read from CSV (bool, or text such as 'True'); masked is False."""
    if name not in table.colnames:
        return None
    column = table[name]
    values, masked = np.ma.getdata(column), np.ma.getmaskarray(column)
    if values.dtype != bool:
        values = np.isin(np.char.lower(values.astype(str)), ("true", "1", "yes", "t"))
    return np.asarray(values, bool) & ~masked


def _group_completeness(found: np.ndarray, selection: np.ndarray) -> dict[str, Any]:
    n = int(selection.sum())
    n_found = int((found[selection] >= 0).sum())
    return {"n": n, "found": n_found, "completeness": n_found / n if n else np.nan}


def _completeness(images: Sequence[ImageResult], method: str) -> dict[str, Any] | None:
    chosen = [i for i in images if getattr(i, f"found_{method}") is not None]
    if not chosen:
        return None
    found = np.concatenate([getattr(i, f"found_{method}") for i in chosen])
    category = object_category(np.concatenate([i.truth_classes for i in chosen]))
    groups = {"all": np.ones(len(found), bool), "galaxies": category == "galaxy",
              "stars": category == "star"}
    if all(i.truth_overlap is not None for i in chosen):
        overlap = np.concatenate([i.truth_overlap for i in chosen]).astype(bool)
        groups.update({"overlapping": overlap, "overlapping_galaxies": overlap
                       & (category == "galaxy"), "isolated_galaxies": ~overlap
                       & (category == "galaxy")})
    out: dict[str, Any] = {"n_images": len(chosen),
                           **{name: _group_completeness(found, sel)
                              for name, sel in groups.items()}}
    if method in ("classical", "galseg_any_class"):
        if method == "classical":
            n_det = sum(i.n_classical for i in chosen)
            n_unlisted = sum(i.n_classical_unlisted for i in chosen)
        else:
            n_det = sum(len(i.det_labels) for i in chosen)
            n_unlisted = sum(int(_det_unlisted(i).sum()) for i in chosen)
        out["purity"] = {"all": _purity(n_det, int((found >= 0).sum()), n_unlisted)}
        return out
    det_category = object_category(np.concatenate([i.det_labels for i in chosen]))
    det_unlisted = np.concatenate([_det_unlisted(i) for i in chosen])
    purity = {}
    for name, sel_det, sel_truth in (("all", np.ones(len(det_category), bool), groups["all"]),
                                     ("galaxies", det_category == "galaxy", groups["galaxies"]),
                                     ("stars", det_category == "star", groups["stars"])):
        purity[name] = _purity(int(sel_det.sum()), int((found[sel_truth] >= 0).sum()),
                               int((sel_det & det_unlisted).sum()))
    out["purity"] = purity
    return out


def _gz1_codes(objects: Table) -> np.ndarray | None:
    """The objects' Galaxy Zoo 1 codes (column ``gz1_class``; -1 where masked), or None."""
    if "gz1_class" not in objects.colnames:
        return None
    column = objects["gz1_class"]
    return np.where(np.ma.getmaskarray(column), -1,
                    np.ma.getdata(column)).astype(np.int64).reshape(-1)


def spiral_elliptical(table: Table, threshold: float = 0.5) -> dict[str, Any]:
    """:func:`spiral_elliptical_scores` of the matched truth galaxies of a
    :meth:`DetectorEvaluation.to_table` table, for the final ``p_spiral``
    (``spiral_elliptical``, and its ``accuracy_p_spiral``) and the detector's own
    (``spiral_elliptical_detector``)."""
    classes = np.asarray(table["class"], str)
    sel = np.asarray(table["matched"], bool) & np.isin(classes, GALAXY_CLASSES)
    codes = np.asarray(table["gz1_class"], np.int64)[sel] if "gz1_class" in table.colnames \
        else None
    if codes is not None and not (codes >= 0).any():
        codes = None
    out = {key: spiral_elliptical_scores(classes[sel], np.asarray(table[column], float)[sel],
                                         gz1_class=codes, threshold=threshold)
           for key, column in (("spiral_elliptical", "p_spiral"),
                               ("spiral_elliptical_detector", "p_spiral_detector"))
           if column in table.colnames}
    return {"accuracy_p_spiral": out["spiral_elliptical"]["accuracy"], **out}


def _det_unlisted(image: ImageResult) -> np.ndarray:
    return (np.zeros(len(image.det_labels), bool) if image.det_unlisted is None
            else image.det_unlisted)


def _purity(n_det: int, matched: int, n_unlisted: int) -> dict[str, Any]:
    """``purity``: matched over all detections; ``purity_listed``: over the detections
    that are not on unlisted sources (``n_unlisted``, :meth:`TruthObjects.on_unlisted`)."""
    listed = n_det - n_unlisted
    return {"n": n_det, "matched": matched, "n_unlisted": n_unlisted,
            "purity": matched / n_det if n_det else np.nan,
            "purity_listed": matched / listed if listed else np.nan}


# --------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------
def add_gaussian_noise(rgb: np.ndarray, sigma: float, *, seed: int = 0,
                       key: str = "") -> np.ndarray:
    """An 8-bit picture plus Gaussian noise of ``sigma`` counts, independent per pixel and
    channel ("chroma noise", Farias et al. 2020 Fig. 18), rounded and clipped to 0..255.

    The noise is ``sigma`` times one standard-normal field drawn from
    ``default_rng([seed, crc32(key)])``: an image gets the same pattern, scaled, at every
    sigma, so a noise curve is not blurred by independent draws.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be an (H, W, 3) uint8 picture, got {rgb.dtype} "
                         f"{rgb.shape}")
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be >= 0 counts, got {sigma!r}")
    if sigma == 0:
        return rgb.copy()
    standard = np.random.default_rng([seed, zlib.crc32(key.encode())]).standard_normal(rgb.shape)
    return np.clip(np.rint(rgb + sigma * standard), 0, 255).astype(np.uint8)


def _noise_row(scale: float, images: Sequence[ImageResult]) -> dict[str, Any]:
    table = truth_table(images)
    scores = classification_scores(table["class"], predicted_classes(table))
    galaxy = np.isin(np.asarray(table["class"], str), GALAXY_CLASSES)
    right = galaxy & (np.asarray(table["class"], str) == np.asarray(table["predicted_class"]))
    return {"scale": float(scale), "n_images": len(images), "n_galaxies": scores["n"],
            "n_matched": scores["n_matched"], "accuracy": scores["accuracy"],
            "detected_correct": scores["detected_correct"],
            "map50": images_average_precision(images, iou_type="segm",
                                              classes=GALAXY_CLASSES)["map50"],
            "mean_score_correct": mean_or_nan(np.asarray(table["score"], float)[right])}


NOISE_COLUMNS = ("scale", "n_images", "n_galaxies", "n_matched", "accuracy",
                 "detected_correct", "map50", "mean_score_correct")


def _detect(detector: DetectorLike, example: DetectionExample, rgb: np.ndarray, *,
            flux: np.ndarray | None = None) -> Detections:
    # At the example's pixel scale, as `galseg detect` runs a file whose scale is known.
    return detector.detect(rgb, pixscale_arcsec=example.pixscale_arcsec, weight_image=flux)


def _band_flux(example: DetectionExample) -> np.ndarray | None:
    """The linear light `galseg detect` weights centroids with when given the example's
    band FITS (:attr:`~galseg.data.images.InputImage.flux`); None for pictures only."""
    if example.fits_path is None:
        return None
    return read_image(example.fits_path).flux


def _mask_centroids(truth: TruthObjects, detections: Detections) -> np.ndarray:
    """(M, 2) centroids of the truth masks weighted by the light the detections' centroids
    used: where a perfect mask would put each object's centroid. The detection's offset
    from it is the model's own error, without the object's offset from its catalogued
    centre (real cutouts are not centred on their galaxy's light to a pixel)."""
    return np.array([mask_centroid(mask, detections.weight_image)
                     for mask in truth.masks]).reshape(-1, 2)


def _check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    scales = tuple(float(s) for s in scales)
    if any(not (np.isfinite(s) and s >= 0) for s in scales):
        raise ValueError(f"noise scales must be >= 0 counts, got {scales}")
    return scales


def _noise_table(detector: DetectorLike, examples: Sequence[DetectionExample],
                 scales: Sequence[float], *, seed: int, iou_threshold: float, progress: bool,
                 clean: Sequence[ImageResult] | None = None) -> Table:
    scales = _check_scales(scales)
    rows = []
    todo = [s for s in scales if not (s == 0 and clean is not None)]
    with tqdm(total=len(todo) * len(examples), desc="noise", disable=not progress) as bar:
        for scale in scales:
            if scale == 0 and clean is not None:
                rows.append(_noise_row(scale, clean))
                continue
            images = []
            for example in examples:
                truth = TruthObjects.from_example(example)
                rgb = add_gaussian_noise(example.rgb(), scale, seed=seed, key=example.name)
                images.append(reduce_image(example.name, example.source, example.pixscale_arcsec,
                                      truth, _detect(detector, example, rgb), iou_threshold))
                bar.update()
            rows.append(_noise_row(scale, images))
    return Table(rows=[[r[c] for c in NOISE_COLUMNS] for r in rows], names=NOISE_COLUMNS) \
        if rows else Table(names=NOISE_COLUMNS)


def noise_curve(detector: DetectorLike,
                examples: DetectionExampleSet | Sequence[DetectionExample] | str | PathLike,
                scales: Sequence[float] = DEFAULT_NOISE_SCALES, seed: int = 0, *,
                iou_threshold: float = IOU_THRESHOLD, progress: bool = False) -> Table:
    """Detection and classification scores as Gaussian noise is added to the pictures.

    Each picture gets :func:`add_gaussian_noise` of each scale (8-bit counts) and is run
    through the detector again.

    Returns
    -------
    astropy.table.Table
        One row per scale: ``scale``, ``n_images``, ``n_galaxies`` (truth galaxies),
        ``n_matched``, ``accuracy`` (classification accuracy of the matched truth galaxies),
        ``detected_correct`` (fraction of truth galaxies matched and classified right),
        ``map50`` (masks, galaxy classes) and ``mean_score_correct`` (mean detection score
        of the correctly classified ones: the "accuracy" the paper prints on its images).
    """
    check_iou_threshold(iou_threshold)
    chosen = _collect(examples, None)
    return _noise_table(detector, chosen, scales, seed=seed, iou_threshold=iou_threshold,
                        progress=progress)


# --------------------------------------------------------------------------------------
# The evaluation
# --------------------------------------------------------------------------------------
def _collect(examples: Any, limit: int | None) -> list[DetectionExample]:
    """Examples from a folder, a set, one example, or a sequence of those; the first
    ``limit`` of each folder or set."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | np.integer)
                              or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    if isinstance(examples, str | PathLike):
        examples = read_detection_examples(examples)
    if isinstance(examples, DetectionExampleSet):
        n = len(examples) if limit is None else min(limit, len(examples))
        return [examples[i] for i in range(n)]
    if isinstance(examples, DetectionExample):
        return [examples]
    if isinstance(examples, Iterable):
        items = list(examples)
        if all(isinstance(e, DetectionExample) for e in items):
            return items if limit is None else items[:limit]
        return [e for item in items for e in _collect(item, limit)]
    raise TypeError("examples must be a detection example folder, a DetectionExampleSet, "
                    f"DetectionExample objects or a sequence of them, got {type(examples)}")


@dataclass(frozen=True, eq=False)
class _Overlay:
    """One fully labelled field kept whole for the comparison figure."""

    name: str
    rgb: np.ndarray
    truth: TruthObjects
    detections: Detections
    extraction: SourceExtraction
    found_galseg: np.ndarray
    found_classical: np.ndarray



class DetectorEvaluation:
    """Detections and truth of one evaluation; every score is computed on first use.

    Built by :func:`evaluate_detector`. ``setup`` holds facts about the run (data, model,
    timing), copied into the summary.
    """

    def __init__(self, images: Sequence[ImageResult], *, noise: Table | None = None,
                 overlay: _Overlay | None = None, setup: dict[str, Any] | None = None) -> None:
        self.images = list(images)
        self.noise = noise
        self.overlay = overlay
        self.setup = {} if setup is None else setup
        self._average_precision: dict[str | None, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.images)

    @cached_property
    def table(self) -> Table:
        return truth_table(self.images)

    def to_table(self) -> Table:
        """One row per truth object.

        Columns: ``image``, ``source``, ``pixscale_arcsec``, ``index`` (truth object in its
        image), ``class``, ``x``, ``y`` (true centre, px), ``matched`` (to a detection at
        mask IoU >= 0.5), ``detection`` (its index in the image's detections, -1 if none),
        ``predicted_class`` (empty if unmatched), ``score``, ``p_spiral``, ``iou``,
        ``centroid_x``, ``centroid_y`` (the detection's), ``dx_px``, ``dy_px`` (centroid
        minus truth), ``dx_arcsec``, ``dy_arcsec`` (NaN without a pixel scale),
        ``dx_mask_px``, ``dy_mask_px`` (centroid minus the truth mask's centroid in the same
        light, NaN where not computed); where some
        image has them, ``overlap`` (truth flag), ``found_galseg``,
        ``found_galseg_any_class`` and ``found_classical`` (the completeness rule), masked
        where not evaluated; ``p_spiral_detector`` (the detector's own ``p_spiral``, before
        the second look; NaN if unmatched) and ``gz1_class`` (Galaxy Zoo 1 code, -1 if
        none).
        """
        return self.table.copy()

    def _subset(self, source: str | None) -> list[ImageResult]:
        return [i for i in self.images if source is None or i.source == source]

    def detection(self, source: str | None = None) -> dict[str, Any]:
        """Counts, recall of truth objects at mask IoU >= 0.5 and precision of detections
        (fully labelled images only: elsewhere an unmatched detection may be real)."""
        images = self._subset(source)
        classes = np.concatenate([i.truth_classes for i in images]) if images else np.array([])
        matched = (np.concatenate([i.matching.truth_to_detection >= 0 for i in images])
                   if images else np.array([], bool))
        category = object_category(classes)
        complete = [i for i in images if i.complete]
        n_det = sum(len(i.det_scores) for i in complete)
        n_matched = sum(len(i.matching.pairs) for i in complete)
        return {"n_images": len(images), "n_truth_galaxies": int((category == "galaxy").sum()),
                "n_truth_stars": int((category == "star").sum()),
                "n_detections": sum(len(i.det_scores) for i in images),
                "recall_galaxies": mean_or_nan(matched[category == "galaxy"]),
                "recall_stars": mean_or_nan(matched[category == "star"]),
                "mean_iou_matched": mean_or_nan(np.concatenate(
                    [i.matching.ious for i in images]) if images else []),
                "precision_complete_images": n_matched / n_det if n_det else np.nan,
                "n_complete_images": len(complete)}

    def average_precision(self, source: str | None = None) -> dict[str, Any]:
        """COCO AP of the galaxy classes (:func:`coco_average_precision`) for masks and
        boxes; with partially labelled images also ``segm_all_detections`` (every detection
        counted, as Farias et al. did)."""
        if source not in self._average_precision:  # pycocotools takes seconds on big sets
            images = self._subset(source)
            out = {kind: images_average_precision(images, iou_type=kind,
                                                  classes=GALAXY_CLASSES)
                   for kind in ("segm", "bbox")}
            if any(not i.complete for i in images):
                out["segm_all_detections"] = images_average_precision(
                    images, iou_type="segm", classes=GALAXY_CLASSES, all_detections=True)
            self._average_precision[source] = out
        return self._average_precision[source]

    def _rows(self, source: str | None) -> Table:
        table = self.table
        return table if source is None else table[np.asarray(table["source"]) == source]

    def classification(self, source: str | None = None) -> dict[str, Any]:
        """:func:`classification_scores` of the truth galaxies, plus the two-class
        spiral/elliptical decision of the matched galaxies, ``p_spiral >= 0.5`` (the
        paper's choice, ignoring the star class; :func:`spiral_elliptical_scores`):
        ``accuracy_p_spiral``, ``spiral_elliptical`` (balanced accuracy, recalls, AUC of
        ``p_spiral``, per Galaxy Zoo 1 code where the truth has them) and
        ``spiral_elliptical_detector`` (the same of the detector's own ``p_spiral``, before
        the second look)."""
        table = self._rows(source)
        out = classification_scores(np.asarray(table["class"], str), predicted_classes(table))
        out.update(spiral_elliptical(table))
        return out

    def centroids(self, source: str | None = None) -> dict[str, Any]:
        """:func:`centroid_offsets` of matched truth galaxies."""
        table = self._rows(source)
        sel = (np.asarray(table["matched"])
               & np.isin(np.asarray(table["class"], str), GALAXY_CLASSES))
        scale = np.asarray(table["pixscale_arcsec"])[sel]
        out = centroid_offsets(table["dx_px"][sel], table["dy_px"][sel], pixscale_arcsec=scale)
        out["against_truth_mask"] = centroid_offsets(
            table["dx_mask_px"][sel], table["dy_mask_px"][sel], pixscale_arcsec=scale)
        return out

    @cached_property
    def completeness(self) -> dict[str, Any]:
        """Completeness and purity of galseg and of the classical baseline on fully
        labelled images, by the rule of :func:`match_centroids` (``docs/evaluation.md``):
        ``galseg`` needs a detection of the object's kind (galaxy or star),
        ``galseg_any_class`` any detection, as the classless baseline is scored."""
        return {method: result for method in ("galseg", "galseg_any_class", "classical")
                if (result := _completeness(self.images, method)) is not None}

    @cached_property
    def sources(self) -> list[str]:
        return sorted({i.source for i in self.images})

    def summary(self) -> dict[str, Any]:
        """Every aggregate number, JSON-ready (NaN as None)."""
        out: dict[str, Any] = {
            "setup": self.setup, "paper": PAPER, "detection": self.detection(),
            "average_precision": self.average_precision(),
            "classification": self.classification(), "centroids": self.centroids(),
            "completeness": self.completeness}
        if self.noise is not None:
            out["noise"] = [dict(zip(self.noise.colnames, row, strict=True))
                            for row in self.noise.iterrows()]
        if len(self.sources) > 1:
            out["by_source"] = {s: {"detection": self.detection(s),
                                    "average_precision": self.average_precision(s),
                                    "classification": self.classification(s),
                                    "centroids": self.centroids(s)} for s in self.sources}
        return json_ready(out)

    def to_markdown(self) -> str:
        """A short report: headline numbers against the paper, completeness, noise curve."""
        s = self.summary()

        def f(value: Any, spec: str = ".3f") -> str:
            return "-" if value is None else format(value, spec)

        det, ap, cls, cen = (s["detection"], s["average_precision"], s["classification"],
                             s["centroids"])
        mask = cen["against_truth_mask"]
        lines = [f"{det['n_images']} images ({', '.join(self.sources)}), "
                 f"{det['n_truth_galaxies']} truth galaxies, {det['n_truth_stars']} stars, "
                 f"{det['n_detections']} detections", "",
                 "| number | galseg | Farias et al. 2020 |", "|---|---|---|",
                 f"| mAP@0.5 (masks) | {f(ap['segm']['map50'])} | {PAPER['map50']} |",
                 f"| mAP@[0.5:0.95] (masks) | {f(ap['segm']['map'])} | - |",
                 f"| mAP@0.5 (boxes) | {f(ap['bbox']['map50'])} | - |"]
        if "segm_all_detections" in ap:
            lines.append(f"| mAP@0.5, every detection counted | "
                         f"{f(ap['segm_all_detections']['map50'])} | - |")
        lines += [f"| galaxy recall (IoU >= 0.5) | {f(det['recall_galaxies'])} | - |",
                  f"| classification accuracy (matched) | {f(cls['accuracy'])} | "
                  f"{PAPER['accuracy']} |",
                  f"| detected and classified right | {f(cls['detected_correct'])} | - |",
                  f"| centroid median dx, dy (px) | {f(cen['median_dx_px'], '.2f')}, "
                  f"{f(cen['median_dy_px'], '.2f')} | -0.2, 1.0 |",
                  f"| centroid MAD x, y (px) | {f(cen['mad_dx_px'], '.2f')}, "
                  f"{f(cen['mad_dy_px'], '.2f')} | {PAPER['centroid_mad_x_px']}, "
                  f"{PAPER['centroid_mad_y_px']} |",
                  f"| centroid minus the truth mask's centroid (same light): median dx, dy; "
                  f"MAD x, y (px) | {f(mask['median_dx_px'], '.2f')}, "
                  f"{f(mask['median_dy_px'], '.2f')}; {f(mask['mad_dx_px'], '.2f')}, "
                  f"{f(mask['mad_dy_px'], '.2f')} | - |"]
        lines += _spiral_elliptical_lines(cls, f)
        if s["completeness"]:
            lines += ["", "| completeness (purity) | " + " | ".join(s["completeness"]) + " |",
                      "|---" * (len(s["completeness"]) + 1) + "|"]
            groups = next(iter(s["completeness"].values()))
            for group in ("all", "galaxies", "stars", "overlapping_galaxies",
                          "isolated_galaxies"):
                if group not in groups:
                    continue
                cells = []
                for result in s["completeness"].values():
                    cell = f"{f(result[group]['completeness'])} of {result[group]['n']}"
                    if group in result["purity"]:
                        purity = result["purity"][group]
                        cell += f" ({f(purity['purity'])}"
                        if purity["n_unlisted"]:
                            cell += f"; {f(purity['purity_listed'])} listed"
                        cell += ")"
                    cells.append(cell)
                lines.append(f"| {group} | " + " | ".join(cells) + " |")
        if "noise" in s:
            lines += ["", "| noise sigma | accuracy | detected and right | mAP@0.5 |",
                      "|---|---|---|---|"]
            lines += [f"| {row['scale']:g} | {f(row['accuracy'])} | "
                      f"{f(row['detected_correct'])} | {f(row['map50'])} |"
                      for row in s["noise"]]
        return "\n".join(lines)

    def write(self, out_dir: str | PathLike[str]) -> list[Path]:
        """Write ``summary.json`` and ``objects.csv`` (:meth:`to_table`) into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        summary = write_bytes_atomic(out_dir / "summary.json",
                                     (json.dumps(self.summary(), indent=1) + "\n").encode())
        buffer = io.StringIO()
        self.table.write(buffer, format="ascii.csv")
        return [summary, write_bytes_atomic(out_dir / "objects.csv", buffer.getvalue().encode())]


def _spiral_elliptical_lines(classification: dict[str, Any], f: Any) -> list[str]:
    """Markdown table of the spiral/elliptical decision, final and detector's own."""
    final = classification.get("spiral_elliptical")
    if not final or not final["n"]:
        return []
    own = classification.get("spiral_elliptical_detector", {})
    rows = [("balanced accuracy", "balanced_accuracy"), ("spirals called spiral",
                                                         "spiral_recall"),
            ("ellipticals called elliptical", "elliptical_recall"),
            ("AUC of p_spiral", "auc")]
    if "by_gz1_class" in final:
        rows.insert(3, ("face-on spirals (GZ1 1, 2)", "face_on_spiral_accuracy"))
    lines = ["", f"| spiral/elliptical of {final['n']} matched galaxies (p_spiral >= "
             f"{final['threshold']:g}) | galseg | detector alone |", "|---|---|---|"]
    lines += [f"| {name} | {f(final.get(key))} | {f(own.get(key))} |" for name, key in rows]
    for code, entry in final.get("by_gz1_class", {}).items():
        other = own.get("by_gz1_class", {}).get(code, {})
        lines.append(f"| GZ1 {code} {entry['name']} ({entry['n']}) | {f(entry['accuracy'])} | "
                     f"{f(other.get('accuracy'))} |")
    return lines


def evaluate_detector(
    detector: DetectorLike,
    examples: DetectionExampleSet | Sequence[Any] | str | PathLike,
    *,
    limit: int | None = None,
    progress: bool = True,
    baseline: bool = True,
    noise_scales: Sequence[float] = DEFAULT_NOISE_SCALES,
    noise_limit: int | None = None,
    iou_threshold: float = IOU_THRESHOLD,
    seed: int = 0,
) -> DetectorEvaluation:
    """Run a detector over detection examples and score it against their truth.

    Parameters
    ----------
    detector : object with ``detect(rgb) -> Detections``
        E.g. :class:`galseg.predict.detect.Detector`.
    examples : folder, DetectionExampleSet, or a sequence of them or of DetectionExample
        Use examples the detector was not trained on.
    limit : int, optional, keyword-only
        Evaluate only the first ``limit`` examples of each folder or set.
    progress : bool, keyword-only
        Show progress bars.
    baseline : bool, keyword-only
        Also run the classical baseline (:func:`run_classical`) on each fully labelled
        example that has a FITS file, for completeness and purity.
    noise_scales : sequence of float, keyword-only
        Gaussian noise sigmas (8-bit counts) of the noise curve; empty for none. Scale 0
        reuses the clean run.
    noise_limit : int, optional, keyword-only
        Noise curve on the first ``noise_limit`` evaluated examples only (default all).
    iou_threshold : float, keyword-only
        Mask IoU of a match (:func:`match_objects`).
    seed : int, keyword-only
        Seed of the noise.

    Returns
    -------
    DetectorEvaluation
    """
    check_iou_threshold(iou_threshold)
    noise_scales = _check_scales(noise_scales)
    if noise_limit is not None and (isinstance(noise_limit, bool)
                                    or not isinstance(noise_limit, int) or noise_limit < 1):
        raise ValueError(f"noise_limit must be a positive integer or None, got {noise_limit!r}")
    chosen = _collect(examples, limit)
    if not chosen:
        raise ValueError("no detection examples to evaluate: the folders are empty")
    images, overlay = [], None
    started = time.perf_counter()
    classical_seconds = 0.0
    for example in tqdm(chosen, desc="detect", disable=not progress):
        truth = TruthObjects.from_example(example)
        detections = _detect(detector, example, example.rgb(), flux=_band_flux(example))
        if detections.masks.shape[1:] != truth.masks.shape[1:]:
            raise ValueError(f"{example.name}: the detector returned masks of shape "
                             f"{detections.masks.shape[1:]} for an image of shape "
                             f"{truth.masks.shape[1:]}")
        extra: dict[str, Any] = {"truth_overlap": _bool_column(example.objects, "overlap"),
                                 "truth_gz1_class": _gz1_codes(example.objects),
                                 "truth_mask_centroids": _mask_centroids(truth, detections)}
        if truth.complete:
            npix = (np.asarray(example.objects["npix"], float)
                    if "npix" in example.objects.colnames else None)
            allowed = (object_category(detections.labels)[:, None]
                       == object_category(truth.classes)[None, :])
            extra["found_galseg"] = match_centroids(detections.centroids, truth.masks, truth.xy,
                                                    truth_npix=npix, allowed=allowed)
            extra["found_galseg_any_class"] = match_centroids(
                detections.centroids, truth.masks, truth.xy, truth_npix=npix)
            extra["det_unlisted"] = truth.on_unlisted(detections.centroids)
            if baseline and example.fits_path is not None:
                tic = time.perf_counter()
                extraction = run_classical(example.fits_path)
                classical_seconds += time.perf_counter() - tic
                if extraction.segmentation.shape != truth.masks.shape[1:]:
                    raise ValueError(f"{example.fits_path}: band image of shape "
                                     f"{extraction.segmentation.shape} for a picture of shape "
                                     f"{truth.masks.shape[1:]}")
                xy = np.column_stack([np.asarray(extraction.catalog["x"], float),
                                      np.asarray(extraction.catalog["y"], float)])
                extra["found_classical"] = match_centroids(xy, truth.masks, truth.xy,
                                                           truth_npix=npix)
                extra["n_classical"] = len(extraction)
                extra["n_classical_unlisted"] = int(truth.on_unlisted(xy).sum())
                if overlay is None or len(truth) > len(overlay.truth):
                    overlay = _Overlay(example.name, example.rgb(), truth, detections,
                                       extraction, extra["found_galseg"],
                                       extra["found_classical"])
        images.append(reduce_image(example.name, example.source, example.pixscale_arcsec, truth,
                              detections, iou_threshold, **extra))
    detect_seconds = time.perf_counter() - started - classical_seconds
    noise = None
    if noise_scales:
        n = len(chosen) if noise_limit is None else min(noise_limit, len(chosen))
        noise = _noise_table(detector, chosen[:n], noise_scales, seed=seed,
                             iou_threshold=iou_threshold, progress=progress, clean=images[:n])
    setup = {"n_images": len(images), "limit": limit, "iou_threshold": iou_threshold,
             "baseline": baseline, "noise_scales": list(noise_scales),
             "noise_images": None if noise is None else int(noise["n_images"][0]),
             "seed": seed, "detect_seconds": round(detect_seconds, 2),
             "images_per_second": round(len(images) / max(detect_seconds, 1e-9), 2),
             "classical_seconds": round(classical_seconds, 2)}
    return DetectorEvaluation(images, noise=noise, overlay=overlay, setup=setup)


__all__ = [
    "DEFAULT_NOISE_SCALES",
    "GALAXY_CLASSES",
    "IOU_THRESHOLD",
    "MISSED",
    "PAPER",
    "DetectorEvaluation",
    "DetectorLike",
    "Matching",
    "TruthObjects",
    "add_gaussian_noise",
    "centroid_offsets",
    "classification_scores",
    "coco_average_precision",
    "evaluate_detector",
    "found_radius_px",
    "match_centroids",
    "match_objects",
    "noise_curve",
    "read_r_band",
    "run_classical",
    "spiral_elliptical",
    "spiral_elliptical_scores",
]
