"""The objects the detector finds in one image (the result of :mod:`galseg.predict.detect`).

Tensor contract, all in the input image's own 0-based pixels (x = column),
whatever resizing or tiling happened inside:

==============  ==================  ==============================================
attribute       shape, dtype        meaning
==============  ==================  ==============================================
boxes           (N, 4) float64      ``x0, y0, x1, y1``; x1, y1 exclusive edges
scores          (N,) float64        detection score (probability of the class)
class_probs     (N, C) float64      class probabilities over ``DETECTION_CLASSES``
                                    (background removed, renormalised)
masks           (N, H, W) bool      instance masks (may overlap)
==============  ==================  ==============================================

Derived properties are computed on first use (photutils-style lazy properties).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from galseg.data.detection_examples import DETECTION_CLASSES, mask_centroid


def spiral_share(class_probs: np.ndarray, class_names: tuple[str, ...]) -> np.ndarray:
    """(N,) spiral over spiral + elliptical probability of each row of ``class_probs``
    (N, len(class_names)); NaN where both are 0."""
    class_probs = np.asarray(class_probs, np.float64).reshape(-1, len(class_names))
    spiral = class_probs[:, class_names.index("spiral")]
    total = spiral + class_probs[:, class_names.index("elliptical")]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, spiral / total, np.nan)


class Detections:
    """Objects found in one image (module docstring for the array contract).

    Masks are kept as crops inside each object's box (``mask_crops``, with the
    crop's top-left pixel in ``mask_offsets`` as ``y, x``), so a large field with
    hundreds of objects costs memory in proportion to the objects, not to
    objects x pixels; ``masks`` builds the full (N, H, W) stack when asked.
    Construct from full masks (``masks=``) or from crops (``mask_crops=``,
    ``mask_offsets=``, ``shape=``).

    ``weight_image`` (H, W) is the light used for flux-weighted centroids (the
    green channel of a picture, which is the r band of SDSS and Legacy colour
    images); None uses the mask's pixel centre.
    """

    def __init__(self, boxes: np.ndarray, scores: np.ndarray, class_probs: np.ndarray,
                 masks: np.ndarray | None = None, weight_image: np.ndarray | None = None, *,
                 mask_crops: Sequence[np.ndarray] | None = None,
                 mask_offsets: np.ndarray | None = None, shape: tuple[int, int] | None = None,
                 class_names: tuple[str, ...] = DETECTION_CLASSES,
                 detector_p_spiral: np.ndarray | None = None) -> None:
        self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        self.class_names = tuple(class_names)
        self.class_probs = np.asarray(class_probs, dtype=np.float64).reshape(
            -1, len(self.class_names))
        n = len(self.scores)
        if masks is not None:
            masks = np.asarray(masks, dtype=bool)
            if masks.ndim != 3:
                raise ValueError(f"masks must be (N, H, W), got {masks.shape}")
            shape = (int(masks.shape[1]), int(masks.shape[2]))
            crops, offsets = [], []
            for mask in masks:
                rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
                if len(rows) == 0:
                    crops.append(np.zeros((0, 0), bool))
                    offsets.append((0, 0))
                    continue
                crops.append(mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
                offsets.append((rows[0], cols[0]))
            mask_crops, mask_offsets = crops, np.asarray(offsets, np.int64).reshape(-1, 2)
        if mask_crops is None or mask_offsets is None or shape is None:
            raise ValueError("give masks, or mask_crops with mask_offsets and shape")
        self.mask_crops = tuple(np.asarray(c, dtype=bool) for c in mask_crops)
        self.mask_offsets = np.asarray(mask_offsets, dtype=np.int64).reshape(-1, 2)
        self.shape = (int(shape[0]), int(shape[1]))
        self.weight_image = weight_image
        self.detector_p_spiral = (None if detector_p_spiral is None else
                                  np.asarray(detector_p_spiral, np.float64).reshape(-1))
        if not (len(self.boxes) == len(self.class_probs) == len(self.mask_crops)
                == len(self.mask_offsets) == n) or (
                self.detector_p_spiral is not None and len(self.detector_p_spiral) != n):
            raise ValueError("Detections arrays disagree: boxes "
                             f"{self.boxes.shape}, scores {self.scores.shape}, class_probs "
                             f"{self.class_probs.shape}, {len(self.mask_crops)} masks"
                             + ("" if self.detector_p_spiral is None else
                                f", detector_p_spiral {self.detector_p_spiral.shape}"))

    def __len__(self) -> int:
        return len(self.scores)

    def __repr__(self) -> str:
        return f"Detections(n={len(self)}, shape={self.shape})"

    def _window(self, i: int) -> tuple[slice, slice]:
        y0, x0 = self.mask_offsets[i]
        h, w = self.mask_crops[i].shape
        return slice(int(y0), int(y0) + h), slice(int(x0), int(x0) + w)

    @cached_property
    def masks(self) -> np.ndarray:
        """(N, H, W) bool instance masks (built from the crops)."""
        out = np.zeros((len(self), *self.shape), bool)
        for i, crop in enumerate(self.mask_crops):
            out[(i, *self._window(i))] = crop
        return out

    @cached_property
    def class_index(self) -> np.ndarray:
        """Index into ``class_names`` of each object's most probable class."""
        return np.argmax(self.class_probs, axis=1) if len(self) else np.zeros(0, int)

    @cached_property
    def labels(self) -> list[str]:
        """Most probable class name of each object."""
        return [self.class_names[i] for i in self.class_index]

    @cached_property
    def p_spiral(self) -> np.ndarray:
        """Probability that the object is a spiral, given that it is a galaxy."""
        return spiral_share(self.class_probs, self.class_names)

    @cached_property
    def area_px(self) -> np.ndarray:
        return np.array([int(c.sum()) for c in self.mask_crops], dtype=np.int64)

    @cached_property
    def pixel_centres(self) -> np.ndarray:
        """(N, 2) ``x, y``: unweighted centre of each mask's pixels (NaN if empty)."""
        out = np.full((len(self), 2), np.nan)
        for i, crop in enumerate(self.mask_crops):
            x, y = mask_centroid(crop)
            out[i] = (x + self.mask_offsets[i, 1], y + self.mask_offsets[i, 0])
        return out

    @cached_property
    def centroids(self) -> np.ndarray:
        """(N, 2) ``x, y``: flux-weighted centre of mass of each object's pixels inside
        its mask (``scipy.ndimage.center_of_mass``, as Farias et al. 2020); the mask's
        pixel centre where there is no weight image or no positive flux; NaN for an
        empty mask."""
        out = np.full((len(self), 2), np.nan)
        for i, crop in enumerate(self.mask_crops):
            weights = None if self.weight_image is None else self.weight_image[self._window(i)]
            x, y = mask_centroid(crop, weights)
            out[i] = (x + self.mask_offsets[i, 1], y + self.mask_offsets[i, 0])
        return out

    def label_map(self, rows: tuple[int, int] | None = None) -> np.ndarray:
        """(H, W) int32 segmentation map: ``i + 1`` where object ``i`` is, 0 elsewhere.

        Where masks overlap the smaller object keeps the pixel (large objects are
        painted first), so a galaxy seen through a bigger one stays visible.
        ``rows`` ``(start, stop)``: only those rows, the same values as that slice of
        the whole map (a big field's map is made and written strip by strip)."""
        start, stop = (0, self.shape[0]) if rows is None else rows
        out = np.zeros((stop - start, self.shape[1]), np.int32)
        for i in np.argsort(-self.area_px, kind="stable"):
            ys, xs = self._window(int(i))
            low, high = max(ys.start, start), min(ys.stop, stop)
            if low >= high:
                continue
            crop = self.mask_crops[i][low - ys.start:high - ys.start]
            out[low - start:high - start, xs][crop] = i + 1
        return out
