"""Scores of detections against truth objects, image by image (numpy and pycocotools).

The building blocks of :func:`galseg.evaluate.detector.evaluate_detector`; each works on
:class:`~galseg.predict.detections.Detections` and plain arrays so it can be checked by hand:

* :func:`match_objects` - one-to-one pairs of detections and truth objects on mask IoU;
* :func:`match_centroids` - which detection found which object, by position (the
  completeness rule shared by galseg and the classical baseline);
* :func:`coco_average_precision` - COCO AP by pycocotools, from in-memory objects;
* :func:`classification_scores`, :func:`centroid_offsets` - scores of matched objects.

An evaluation keeps each image as an :class:`ImageResult` (masks as COCO run-length
encodings, so thousands of images fit in memory) and :func:`truth_table` lays them out one
truth object per row. Pixel convention: 0-based, x = column, pixel ``(i, j)`` centred at
``x = j, y = i``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from astropy.table import MaskedColumn, Table
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from galseg.data.detection_examples import DETECTION_CLASSES, DetectionExample
from galseg.data.gz1 import GZ1_CODE_NAMES, GZ1_FACE_ON_SPIRALS
from galseg.evaluate.metrics import (
    class_scores,
    confusion_matrix,
    mean_or_nan,
    median_absolute_deviation,
    median_or_nan,
)
from galseg.predict.detections import Detections, mask_centroid
from galseg.scores import roc_auc

GALAXY_CLASSES = ("spiral", "elliptical")
"""The classes scored by average precision and classification accuracy."""
IOU_THRESHOLD = 0.5
"""Mask IoU at or above which a detection and a truth object are a match."""
MIN_FOUND_RADIUS_PX = 3.0
"""Smallest distance (px) from the true centre within which a detection can find an object."""
MISSED = "missed"
"""Predicted class of a truth object that no detection matched."""


# --------------------------------------------------------------------------------------
# Truth and matching
# --------------------------------------------------------------------------------------
def _encode(masks: np.ndarray) -> list[dict]:
    """COCO run-length encodings of (N, H, W) boolean masks."""
    if len(masks) == 0:
        return []
    return mask_utils.encode(np.asfortranarray(np.moveaxis(masks, 0, -1).astype(np.uint8)))


def _iou_matrix(first: list[dict], second: list[dict]) -> np.ndarray:
    if not first or not second:
        return np.zeros((len(first), len(second)))
    return np.asarray(mask_utils.iou(first, second, [0] * len(second)), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class TruthObjects:
    """The labelled objects of one image.

    Attributes
    ----------
    masks : ndarray of bool, shape (M, H, W)
    classes : tuple of str
        One of :data:`~galseg.data.detection_examples.DETECTION_CLASSES` per object.
    xy : ndarray, shape (M, 2), optional
        True centre ``x, y`` (0-based pixels, x = column); default: each mask's pixel centre.
    complete : bool
        False when other objects in the image are unlabelled (Galaxy Zoo 1 cutouts).
    unlisted : ndarray of bool, shape (H, W), optional
        Light of real sources that are not objects of the image (simulated fields:
        galaxies whose centre is off the image); a detection there is not a false one.
    """

    masks: np.ndarray
    classes: tuple[str, ...]
    xy: np.ndarray | None = None
    complete: bool = True
    unlisted: np.ndarray | None = None

    def __post_init__(self) -> None:
        masks = np.asarray(self.masks, dtype=bool)
        if masks.ndim != 3:
            raise ValueError(f"masks must be (M, H, W), got shape {masks.shape}")
        object.__setattr__(self, "masks", masks)
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        if len(self.classes) != len(masks):
            raise ValueError(f"classes has {len(self.classes)} entries for {len(masks)} masks")
        if self.xy is None:
            xy = np.array([mask_centroid(m) for m in masks]).reshape(-1, 2)
        else:
            xy = np.asarray(self.xy, dtype=np.float64).reshape(-1, 2)
        if len(xy) != len(masks):
            raise ValueError(f"xy has {len(xy)} rows for {len(masks)} masks")
        object.__setattr__(self, "xy", xy)
        if self.unlisted is not None:
            unlisted = np.asarray(self.unlisted, dtype=bool)
            if unlisted.shape != masks.shape[1:]:
                raise ValueError(f"unlisted must be (H, W) = {masks.shape[1:]}, "
                                 f"got shape {unlisted.shape}")
            object.__setattr__(self, "unlisted", unlisted)

    @classmethod
    def from_example(cls, example: DetectionExample) -> TruthObjects:
        """The truth of a detection example (its complete flag: ``source != 'gz1'``; its
        unlisted mask where the folder has one)."""
        objects = example.objects
        xy = (np.column_stack([np.asarray(objects["x"], float), np.asarray(objects["y"], float)])
              if len(objects) else np.zeros((0, 2)))
        masks = example.masks()
        if masks.shape[1:] != tuple(example.shape):
            raise ValueError(f"{example.name}: masks of shape {masks.shape[1:]} for an image of "
                             f"shape {example.shape}")
        return cls(masks, tuple(example.classes), xy, complete=example.source != "gz1",
                   unlisted=example.unlisted_mask())

    def __len__(self) -> int:
        return len(self.masks)

    @cached_property
    def rles(self) -> list[dict]:
        return _encode(self.masks)

    def on_unlisted(self, positions: np.ndarray) -> np.ndarray:
        """(N,) bool: the pixel holding each ``x, y`` position (``round(x), round(y)``) is
        on unlisted light and on no truth object: a detection there found a real source
        that the truth does not list, and counts neither for nor against purity."""
        positions = np.asarray(positions, float).reshape(-1, 2)
        if self.unlisted is None:
            return np.zeros(len(positions), dtype=bool)
        on_unlisted = _mask_hits(positions, self.unlisted[None])[:, 0]
        return on_unlisted & ~_mask_hits(positions, self.masks).any(axis=1)


@dataclass(frozen=True, eq=False)
class Matching:
    """One-to-one pairs of detections and truth objects (:func:`match_objects`).

    Attributes
    ----------
    pairs : ndarray of int, shape (K, 2)
        ``(detection index, truth index)``, in the order they were made (descending score).
    ious : ndarray, shape (K,)
        Mask IoU of each pair.
    iou_matrix : ndarray, shape (N, M)
        Mask IoU of every detection with every truth object.
    """

    pairs: np.ndarray
    ious: np.ndarray
    iou_matrix: np.ndarray

    @cached_property
    def truth_to_detection(self) -> np.ndarray:
        """(M,) index of the detection matched to each truth object, -1 where none."""
        out = np.full(self.iou_matrix.shape[1], -1, dtype=np.int64)
        out[self.pairs[:, 1]] = self.pairs[:, 0]
        return out

    @cached_property
    def detection_to_truth(self) -> np.ndarray:
        """(N,) index of the truth object matched to each detection, -1 where none."""
        out = np.full(self.iou_matrix.shape[0], -1, dtype=np.int64)
        out[self.pairs[:, 0]] = self.pairs[:, 1]
        return out

    @property
    def unmatched_detections(self) -> np.ndarray:
        return np.flatnonzero(self.detection_to_truth < 0)

    @property
    def unmatched_truths(self) -> np.ndarray:
        return np.flatnonzero(self.truth_to_detection < 0)


def _greedy_match(iou_matrix: np.ndarray, scores: np.ndarray, iou_threshold: float) -> Matching:
    n_truth = iou_matrix.shape[1]
    taken = np.zeros(n_truth, dtype=bool)
    pairs, ious = [], []
    for d in np.argsort(-np.asarray(scores, float), kind="stable"):
        if n_truth == 0:
            break
        candidates = np.where(taken, -1.0, iou_matrix[d])
        t = int(np.argmax(candidates))  # the first truth on ties
        if candidates[t] >= iou_threshold:
            taken[t] = True
            pairs.append((int(d), t))
            ious.append(float(candidates[t]))
    return Matching(np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(ious, float),
                    iou_matrix)


def check_iou_threshold(iou_threshold: float) -> None:
    """Raise ValueError unless ``0 < iou_threshold <= 1``."""
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")


def match_objects(detections: Detections, truth_masks: np.ndarray, *,
                  iou_threshold: float = IOU_THRESHOLD) -> Matching:
    """Pair detections with truth objects one to one on mask IoU, whatever their classes.

    Detections are taken in order of descending score (ties in index order); each takes the
    unpaired truth object it overlaps most, if that IoU is at least ``iou_threshold`` (the
    greedy rule of COCO and of Mask R-CNN's evaluation).

    Parameters
    ----------
    detections : Detections
        N detections on an (H, W) image.
    truth_masks : ndarray of bool, shape (M, H, W)
    iou_threshold : float, keyword-only

    Returns
    -------
    Matching
        The pairs and the unmatched detections and truth objects.
    """
    check_iou_threshold(iou_threshold)
    truth_masks = np.asarray(truth_masks, dtype=bool)
    if truth_masks.ndim != 3 or truth_masks.shape[1:] != detections.masks.shape[1:]:
        raise ValueError(f"truth_masks must be (M, {detections.masks.shape[1]}, "
                         f"{detections.masks.shape[2]}) like the detections, got "
                         f"{truth_masks.shape}")
    iou = _iou_matrix(_encode(detections.masks), _encode(truth_masks))
    return _greedy_match(iou, detections.scores, iou_threshold)


def found_radius_px(npix: np.ndarray) -> np.ndarray:
    """Largest centre distance at which a detection finds an object of ``npix`` pixels:
    ``max(3, 0.5 sqrt(npix / pi))`` (half the radius of a disc of that area)."""
    return np.maximum(MIN_FOUND_RADIUS_PX, 0.5 * np.sqrt(np.asarray(npix, float) / np.pi))


def match_centroids(centroids: np.ndarray, truth_masks: np.ndarray, truth_xy: np.ndarray, *,
                    truth_npix: np.ndarray | None = None,
                    allowed: np.ndarray | None = None) -> np.ndarray:
    """Which detection found each truth object, by position (completeness and purity).

    A detection can find a truth object when its centroid lies on the object's mask (the
    pixel containing it, ``round(x), round(y)``) and within :func:`found_radius_px` of the
    true centre. Pairs are made one to one, closest first (ties by detection, then truth
    index). The rule uses positions only, so catalogues without masks (the classical
    baseline) are scored as the detector is.

    Parameters
    ----------
    centroids : ndarray, shape (N, 2)
        Detected centres ``x, y`` (0-based pixels); NaN rows find nothing.
    truth_masks : ndarray of bool, shape (M, H, W)
    truth_xy : ndarray, shape (M, 2)
    truth_npix : ndarray, shape (M,), optional
        Object sizes for the radius (default: mask pixel counts).
    allowed : ndarray of bool, shape (N, M), optional
        False where a detection may not find an object (e.g. a star detection and a galaxy).

    Returns
    -------
    ndarray of int64, shape (M,)
        Index of the detection that found each truth object, -1 where none did.
    """
    centroids = np.asarray(centroids, float).reshape(-1, 2)
    truth_masks = np.asarray(truth_masks, dtype=bool)
    truth_xy = np.asarray(truth_xy, float).reshape(-1, 2)
    n, m = len(centroids), len(truth_masks)
    if len(truth_xy) != m:
        raise ValueError(f"truth_xy has {len(truth_xy)} rows for {m} masks")
    if truth_npix is None:
        truth_npix = truth_masks.reshape(m, -1).sum(axis=1)
    radius = found_radius_px(truth_npix)
    out = np.full(m, -1, dtype=np.int64)
    if n == 0 or m == 0:
        return out
    on_mask = _mask_hits(centroids, truth_masks)
    distance = np.hypot(centroids[:, None, 0] - truth_xy[None, :, 0],
                        centroids[:, None, 1] - truth_xy[None, :, 1])
    possible = on_mask & (distance <= radius[None, :])
    if allowed is not None:
        possible &= np.asarray(allowed, dtype=bool).reshape(n, m)
    d_index, t_index = np.nonzero(possible)
    used = np.zeros(n, dtype=bool)
    for k in np.lexsort((t_index, d_index, distance[d_index, t_index])):
        d, t = d_index[k], t_index[k]
        if not used[d] and out[t] < 0:
            used[d], out[t] = True, d
    return out


def _mask_hits(centroids: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(N, M) bool: the pixel holding centroid n (``round(x), round(y)``) is on mask m."""
    height, width = masks.shape[1:]
    finite = np.all(np.isfinite(centroids), axis=1)
    column = np.where(finite, np.floor(np.nan_to_num(centroids[:, 0]) + 0.5), -1).astype(int)
    row = np.where(finite, np.floor(np.nan_to_num(centroids[:, 1]) + 0.5), -1).astype(int)
    inside = (column >= 0) & (column < width) & (row >= 0) & (row < height)
    hits = np.zeros((len(centroids), len(masks)), dtype=bool)
    hits[inside] = masks[:, row[inside], column[inside]].T
    return hits


def object_category(labels: Sequence[str]) -> np.ndarray:
    """'star' or 'galaxy' of each class name."""
    return np.where(np.asarray(labels, dtype=str) == "star", "star", "galaxy")


# --------------------------------------------------------------------------------------
# One image, reduced to what the scores need (masks kept as run-length encodings)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ImageResult:
    """One image's truth and detections, reduced to what the scores need.

    Built by :func:`reduce_image`. ``truth_*`` are per truth object (M), ``det_*`` per
    detection (N); masks are COCO run-length encodings. ``found_galseg`` (a detection of
    the object's kind, galaxy or star), ``found_galseg_any_class`` (a detection of any
    class, as the classless baseline is scored) and ``found_classical`` (M,) are
    :func:`match_centroids` results (None where not evaluated) and ``n_classical`` the
    number of baseline detections. ``det_unlisted`` (N,) and ``n_classical_unlisted``
    mark the detections of sources the truth does not list
    (:meth:`TruthObjects.on_unlisted`), which purity leaves out.
    """

    name: str
    source: str
    shape: tuple[int, int]
    pixscale_arcsec: float | None
    complete: bool
    truth_rles: list[dict]
    truth_classes: np.ndarray
    truth_xy: np.ndarray
    det_rles: list[dict]
    det_boxes: np.ndarray
    det_scores: np.ndarray
    det_labels: np.ndarray
    det_p_spiral: np.ndarray
    det_centroids: np.ndarray
    det_evaluated: np.ndarray
    """Detections used for AP: all on complete images, else matched or on a truth mask."""
    matching: Matching
    truth_overlap: np.ndarray | None = None
    found_galseg: np.ndarray | None = None
    found_galseg_any_class: np.ndarray | None = None
    found_classical: np.ndarray | None = None
    n_classical: int = 0
    det_unlisted: np.ndarray | None = None
    n_classical_unlisted: int = 0
    truth_mask_centroids: np.ndarray | None = None
    """(M, 2) each truth mask's centroid in the light the detections' centroids used."""
    truth_gz1_class: np.ndarray | None = None
    """(M,) Galaxy Zoo 1 code of each truth object (objects column ``gz1_class``)."""
    det_p_spiral_detector: np.ndarray | None = None
    """(N,) the detector's own ``p_spiral`` where a second look replaced it."""


def reduce_image(name: str, source: str, pixscale_arcsec: float | None, truth: TruthObjects,
                 detections: Detections, iou_threshold: float = IOU_THRESHOLD,
                 **extra: Any) -> ImageResult:
    """Match ``detections`` to ``truth`` (:func:`match_objects`) and keep the result;
    ``extra`` sets the optional fields of :class:`ImageResult`."""
    if detections.masks.shape[1:] != truth.masks.shape[1:]:
        raise ValueError(f"{name}: the detector returned masks of shape "
                         f"{detections.masks.shape[1:]} for an image of shape "
                         f"{truth.masks.shape[1:]}")
    det_rles = _encode(detections.masks)
    matching = _greedy_match(_iou_matrix(det_rles, truth.rles), detections.scores,
                             iou_threshold)
    evaluated = np.ones(len(detections), dtype=bool)
    if not truth.complete:
        centroids = np.asarray(detections.centroids, float).reshape(-1, 2)
        evaluated = ((matching.detection_to_truth >= 0)
                     | _mask_hits(centroids, truth.masks).any(axis=1))
    return ImageResult(
        name=name, source=source, shape=tuple(truth.masks.shape[1:]),
        pixscale_arcsec=pixscale_arcsec, complete=truth.complete, truth_rles=truth.rles,
        truth_classes=np.asarray(truth.classes, dtype=str).reshape(-1),
        truth_xy=truth.xy, det_rles=det_rles,
        det_boxes=np.asarray(detections.boxes, float).reshape(-1, 4),
        det_scores=np.asarray(detections.scores, float),
        det_labels=np.asarray(detections.labels, dtype=str).reshape(-1),
        det_p_spiral=np.asarray(detections.p_spiral, float),
        det_centroids=np.asarray(detections.centroids, float).reshape(-1, 2),
        det_evaluated=evaluated, matching=matching,
        det_p_spiral_detector=detections.detector_p_spiral, **extra)


# --------------------------------------------------------------------------------------
# Average precision (pycocotools)
# --------------------------------------------------------------------------------------
def _xywh(box: np.ndarray) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    return [x0, y0, x1 - x0, y1 - y0]


def images_average_precision(images: Sequence[ImageResult], *, iou_type: str,
                             classes: Sequence[str],
                             all_detections: bool = False) -> dict[str, Any]:
    """:func:`coco_average_precision` of reduced images; ``all_detections`` uses every
    detection, also those set aside on partially labelled images."""
    if iou_type not in ("segm", "bbox"):
        raise ValueError(f"iou_type must be 'segm' or 'bbox', got {iou_type!r}")
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct class names, got {classes!r}")
    category = {name: k + 1 for k, name in enumerate(classes)}
    records, truths, results = [], [], []
    for image_id, image in enumerate(images, start=1):
        records.append({"id": image_id, "height": image.shape[0], "width": image.shape[1]})
        for rle, name in zip(image.truth_rles, image.truth_classes, strict=True):
            if name in category:
                truths.append({"id": len(truths) + 1, "image_id": image_id,
                               "category_id": category[name], "segmentation": rle,
                               "area": float(mask_utils.area(rle)),
                               "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                               "iscrowd": 0})
        keep = np.ones(len(image.det_scores), bool) if all_detections else image.det_evaluated
        for d in np.flatnonzero(keep):
            name = image.det_labels[d]
            if name not in category:
                continue
            rle = image.det_rles[d]
            bbox = (_xywh(image.det_boxes[d]) if iou_type == "bbox"
                    else [float(v) for v in mask_utils.toBbox(rle)])
            results.append({"id": len(results) + 1, "image_id": image_id,
                            "category_id": category[name], "score": float(image.det_scores[d]),
                            "segmentation": rle, "area": float(mask_utils.area(rle)),
                            "bbox": bbox, "iscrowd": 0})
    n_truth = {name: sum(t["category_id"] == k for t in truths) for name, k in category.items()}
    n_results = {name: sum(r["category_id"] == k for r in results)
                 for name, k in category.items()}
    ap50 = dict.fromkeys(classes, np.nan)
    ap = dict.fromkeys(classes, np.nan)
    if truths:
        categories = [{"id": k, "name": name} for name, k in category.items()]
        # pycocotools reports its progress with print(): keep it off the caller's stdout
        with contextlib.redirect_stdout(io.StringIO()):
            ground, detected = COCO(), COCO()
            ground.dataset = {"images": records, "annotations": truths, "categories": categories}
            detected.dataset = {"images": records, "annotations": results,
                                "categories": categories}
            ground.createIndex()
            detected.createIndex()
            evaluation = COCOeval(ground, detected, iouType=iou_type)
            per_image = max((len(i.det_scores) for i in images), default=0)
            evaluation.params.maxDets = [1, 10, max(100, per_image)]
            evaluation.evaluate()
            evaluation.accumulate()
        # precision: [IoU threshold, recall threshold, class, area range, max detections]
        precision = evaluation.eval["precision"][:, :, :, 0, -1]
        for name, k in category.items():
            p = precision[:, :, evaluation.params.catIds.index(k)]
            if n_truth[name]:
                ap50[name] = float(p[0][p[0] > -1].mean())
                ap[name] = float(np.mean([row[row > -1].mean() for row in p]))
    scored = [name for name in classes if n_truth[name]]
    return {"map50": float(np.mean([ap50[c] for c in scored])) if scored else np.nan,
            "map": float(np.mean([ap[c] for c in scored])) if scored else np.nan,
            "ap50": ap50, "ap": ap, "n_truth": n_truth, "n_detections": n_results}


def coco_average_precision(predictions: Sequence[Detections], truths: Sequence[TruthObjects], *,
                           iou_type: str = "segm",
                           classes: Sequence[str] = GALAXY_CLASSES) -> dict[str, Any]:
    """COCO average precision of detections against truth, computed by pycocotools.

    Each class is scored on its own: a detection counts in the class it is labelled with
    (its most probable class) at its score; truth objects and detections of other classes
    are left out (by default the galaxy classes only: truth stars and star detections do
    not count, but a galaxy detection on a star is a false positive). On partially labelled
    images (``truth.complete`` False) only detections that match a truth object (IoU >= 0.5)
    or whose centroid is on a truth mask are used; the rest may be unlabelled objects.

    Parameters
    ----------
    predictions : sequence of Detections
        One per image.
    truths : sequence of TruthObjects
        One per image, in the same order.
    iou_type : {'segm', 'bbox'}, keyword-only
        Overlap of masks or of boxes (detection ``boxes`` against the truth masks' extents).
    classes : sequence of str, keyword-only

    Returns
    -------
    dict
        ``map50`` (mean over classes of AP at IoU 0.5), ``map`` (COCO AP: mean over IoU
        0.50:0.05:0.95), per class ``ap50`` and ``ap``, ``n_truth`` and ``n_detections``.
        A class without truth objects has AP NaN and is left out of the means.

    Examples
    --------
    >>> masks = np.zeros((1, 8, 8), bool); masks[0, 2:6, 2:6] = True
    >>> found = Detections(np.array([[2., 2., 6., 6.]]), np.array([0.9]),
    ...                    np.array([[0.9, 0.1, 0.0]]), masks)
    >>> ap = coco_average_precision([found], [TruthObjects(masks, ("spiral",))])
    >>> round(ap["map50"], 6)
    1.0
    """
    if len(predictions) != len(truths):
        raise ValueError(f"predictions ({len(predictions)}) and truths ({len(truths)}) must "
                         "have one entry per image each")
    images = [reduce_image(str(i), "", None, truth, detections, IOU_THRESHOLD)
              for i, (detections, truth) in enumerate(zip(predictions, truths, strict=True))]
    return images_average_precision(images, iou_type=iou_type, classes=classes)


# --------------------------------------------------------------------------------------
# Classification, centroids, completeness
# --------------------------------------------------------------------------------------
def classification_scores(truth: Sequence[str], predicted: Sequence[str], *,
                          classes: Sequence[str] = GALAXY_CLASSES) -> dict[str, Any]:
    """Classification of matched truth objects of ``classes``.

    Parameters
    ----------
    truth : sequence of str
        True class of each truth object.
    predicted : sequence of str
        Class of the detection matched to it, or ``'missed'``.
    classes : sequence of str, keyword-only
        Truth classes that are scored (the galaxy classes by default).

    Returns
    -------
    dict
        ``n`` (truth objects of ``classes``), ``n_matched``, ``accuracy`` (fraction of the
        matched ones given their true class; a star label is wrong), ``detected_correct``
        (fraction of all of them matched and given their true class), ``per_class``
        precision/recall/F1/support over the matched ones, and ``confusion``: ``rows``
        (truth classes: ``classes`` and any other present), ``columns`` (every detector
        class and ``'missed'``) and ``counts``.
    """
    truth, predicted = np.asarray(truth, dtype=str), np.asarray(predicted, dtype=str)
    if truth.shape != predicted.shape:
        raise ValueError(f"truth and predicted must have one length, got {truth.shape} and "
                         f"{predicted.shape}")
    scored = np.isin(truth, list(classes))
    matched = scored & (predicted != MISSED)
    correct = truth == predicted
    rows = list(classes) + [c for c in DETECTION_CLASSES
                            if c not in classes and np.any(truth == c)]
    columns = [*DETECTION_CLASSES, MISSED]
    return {"n": int(scored.sum()), "n_matched": int(matched.sum()),
            "accuracy": mean_or_nan(correct[matched]),
            "detected_correct": mean_or_nan(correct[scored]),
            "per_class": class_scores(truth[matched], predicted[matched], classes),
            "confusion": {"rows": rows, "columns": columns,
                          "counts": confusion_matrix(truth, predicted, true_labels=rows,
                                                     predicted_labels=columns).tolist()}}


def centroid_offsets(dx_px: np.ndarray, dy_px: np.ndarray, *,
                     pixscale_arcsec: np.ndarray | float | None = None) -> dict[str, Any]:
    """Median and median absolute deviation (MAD, from the median, unscaled) of centroid
    offsets (predicted minus true) per axis, in pixels and, where the pixel scale is known,
    in arcsec (over those objects only). NaN offsets are left out."""
    dx, dy = np.asarray(dx_px, float), np.asarray(dy_px, float)
    scale = np.broadcast_to(np.asarray(np.nan if pixscale_arcsec is None else pixscale_arcsec,
                                       float), dx.shape)
    ok = np.isfinite(dx) & np.isfinite(dy)
    out: dict[str, Any] = {"n": int(ok.sum())}
    known = ok & np.isfinite(scale)
    for unit, sel, factor in (("px", ok, 1.0), ("arcsec", known, scale)):
        factor = np.broadcast_to(factor, dx.shape)[sel]
        x, y = dx[sel] * factor, dy[sel] * factor
        out.update({f"median_dx_{unit}": median_or_nan(x), f"median_dy_{unit}": median_or_nan(y),
                    f"mad_dx_{unit}": median_absolute_deviation(x),
                    f"mad_dy_{unit}": median_absolute_deviation(y),
                    f"median_offset_{unit}": median_or_nan(np.hypot(x, y))})
    out["n_arcsec"] = int(known.sum())
    return out



def spiral_elliptical_scores(truth: Sequence[str], p_spiral: np.ndarray, *,
                             gz1_class: np.ndarray | None = None,
                             threshold: float = 0.5) -> dict[str, Any]:
    """The two-class spiral/elliptical decision ``p_spiral >= threshold`` of galaxies.

    Parameters
    ----------
    truth : sequence of str
        True class ('spiral' or 'elliptical') of each galaxy scored (e.g. the matched truth
        galaxies); other classes and NaN ``p_spiral`` are left out.
    p_spiral : ndarray
        Probability of spiral given galaxy of each.
    gz1_class : ndarray of int, optional
        Galaxy Zoo 1 code of each (:data:`galseg.data.gz1.GZ1_CODE_NAMES`; < 0 unknown):
        adds the accuracy per code and of the face-on spirals (codes 1 and 2).
    threshold : float, keyword-only
        Called spiral iff ``p_spiral >= threshold``.

    Returns
    -------
    dict
        ``n``, ``threshold``, ``accuracy``, ``balanced_accuracy`` (mean of the spiral and
        elliptical recalls), ``spiral_recall``, ``elliptical_recall``, ``auc`` (ROC AUC of
        ``p_spiral``, spirals positive); with ``gz1_class``, ``face_on_spiral_accuracy``,
        ``face_on_n`` and ``by_gz1_class``: code -> ``name``, ``n``, ``accuracy``.
    """
    truth = np.asarray(truth, dtype=str).reshape(-1)
    p_spiral = np.asarray(p_spiral, dtype=np.float64).reshape(-1)
    if truth.shape != p_spiral.shape:
        raise ValueError(f"truth and p_spiral must have one length, got {truth.shape} and "
                         f"{p_spiral.shape}")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")
    keep = np.isin(truth, GALAXY_CLASSES) & np.isfinite(p_spiral)
    spiral, called = truth[keep] == "spiral", p_spiral[keep] >= threshold
    right = called == spiral
    recalls = {"spiral_recall": mean_or_nan(right[spiral]),
               "elliptical_recall": mean_or_nan(right[~spiral])}
    out: dict[str, Any] = {
        "n": int(keep.sum()), "threshold": float(threshold), "accuracy": mean_or_nan(right),
        "balanced_accuracy": mean_or_nan(np.array(list(recalls.values()))), **recalls,
        "auc": roc_auc(p_spiral[keep], spiral) if 0 < spiral.sum() < len(spiral) else np.nan}
    if gz1_class is not None:
        codes = np.asarray(gz1_class, dtype=np.int64).reshape(-1)
        if codes.shape != truth.shape:
            raise ValueError(f"gz1_class must have one entry per galaxy, got {codes.shape} "
                             f"for {truth.shape}")
        codes = codes[keep]
        face_on = np.isin(codes, GZ1_FACE_ON_SPIRALS)
        out["face_on_n"] = int(face_on.sum())
        out["face_on_spiral_accuracy"] = mean_or_nan(right[face_on])
        out["by_gz1_class"] = {int(code): {"name": GZ1_CODE_NAMES.get(int(code), "?"),
                                           "n": int((codes == code).sum()),
                                           "accuracy": mean_or_nan(right[codes == code])}
                               for code in np.unique(codes[codes >= 0])}
    return out


def truth_table(images: Sequence[ImageResult]) -> Table:
    """One row per truth object of ``images``, in order (columns: see
    :meth:`galseg.evaluate.detector.DetectorEvaluation.to_table`)."""
    columns: dict[str, list] = {name: [] for name in (
        "image", "source", "pixscale_arcsec", "index", "class", "x", "y", "matched",
        "detection",
        "predicted_class", "score", "p_spiral", "iou", "centroid_x", "centroid_y", "dx_px",
        "dy_px", "dx_arcsec", "dy_arcsec", "dx_mask_px", "dy_mask_px", "p_spiral_detector",
        "gz1_class")}
    overlap, galseg, galseg_any, classical = [], [], [], []
    for image in images:
        m = len(image.truth_classes)
        det = image.matching.truth_to_detection
        ok = det >= 0
        d = np.where(ok, det, 0)
        iou = np.full(m, np.nan)
        iou[image.matching.pairs[:, 1]] = image.matching.ious

        def take(values: np.ndarray, fill: Any, d: np.ndarray = d, ok: np.ndarray = ok) -> list:
            if len(values) == 0:
                return [fill] * len(ok)
            return [v if k else fill for v, k in zip(values[d], ok, strict=True)]

        centroid = np.array(take(image.det_centroids, (np.nan, np.nan))).reshape(-1, 2)
        offset = centroid - image.truth_xy
        reference = (np.full((m, 2), np.nan) if image.truth_mask_centroids is None
                     else np.asarray(image.truth_mask_centroids, float).reshape(-1, 2))
        mask_offset = centroid - reference
        scale = np.nan if image.pixscale_arcsec is None else image.pixscale_arcsec
        columns["image"] += [image.name] * m
        columns["source"] += [image.source] * m
        columns["pixscale_arcsec"] += [scale] * m
        columns["index"] += list(range(m))
        columns["class"] += list(image.truth_classes)
        columns["x"] += list(image.truth_xy[:, 0])
        columns["y"] += list(image.truth_xy[:, 1])
        columns["matched"] += list(ok)
        columns["detection"] += list(det)
        columns["predicted_class"] += take(image.det_labels, "")
        columns["score"] += take(image.det_scores, np.nan)
        columns["p_spiral"] += take(image.det_p_spiral, np.nan)
        columns["iou"] += list(iou)
        columns["centroid_x"] += list(centroid[:, 0])
        columns["centroid_y"] += list(centroid[:, 1])
        columns["dx_px"] += list(offset[:, 0])
        columns["dy_px"] += list(offset[:, 1])
        columns["dx_arcsec"] += list(offset[:, 0] * scale)
        columns["dy_arcsec"] += list(offset[:, 1] * scale)
        columns["dx_mask_px"] += list(mask_offset[:, 0])
        columns["dy_mask_px"] += list(mask_offset[:, 1])
        columns["p_spiral_detector"] += take(
            image.det_p_spiral if image.det_p_spiral_detector is None
            else image.det_p_spiral_detector, np.nan)
        columns["gz1_class"] += (list(image.truth_gz1_class) if image.truth_gz1_class
                                 is not None else [-1] * m)
        overlap.append(image.truth_overlap if image.truth_overlap is not None else None)
        galseg.append(image.found_galseg)
        galseg_any.append(image.found_galseg_any_class)
        classical.append(image.found_classical)
    dtypes = {"image": str, "source": str, "index": np.int64, "class": str, "matched": bool,
              "detection": np.int64, "predicted_class": str, "gz1_class": np.int64}
    table = Table({name: np.array(values, dtype=dtypes.get(name, np.float64))
                   for name, values in columns.items()})
    sizes = [len(i.truth_classes) for i in images]
    for name, parts in (("overlap", overlap), ("found_galseg", galseg),
                        ("found_galseg_any_class", galseg_any),
                        ("found_classical", classical)):
        if all(p is None for p in parts):
            continue
        values = np.concatenate([np.zeros(n, bool) if p is None else
                                 (np.asarray(p) >= 0 if name != "overlap" else np.asarray(p))
                                 for p, n in zip(parts, sizes, strict=True)]).astype(bool)
        mask = np.concatenate([np.full(n, p is None) for p, n in zip(parts, sizes, strict=True)])
        table[name] = MaskedColumn(values, mask=mask)
    return table


def predicted_classes(table: Table) -> np.ndarray:
    """Predicted class of each truth row, ``'missed'`` where unmatched."""
    return np.where(np.asarray(table["matched"]), np.asarray(table["predicted_class"], str),
                    MISSED)
