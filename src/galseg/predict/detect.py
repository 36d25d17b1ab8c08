"""Find, outline and classify every galaxy in an image of any size.

:class:`Detector` runs the Mask R-CNN (:mod:`galseg.models.detector`) on one
picture and returns :class:`~galseg.predict.detections.Detections` in the input's
own pixels:

1. **Scale.** When the input's pixel scale is known (``pixscale_arcsec``, from the
   FITS WCS or given) the picture is resampled to the model's reference scale
   (``metadata.pixscale_arcsec``); otherwise it is used as it is (``scale`` can
   force a factor). Boxes and masks are mapped back to input pixels.
2. **Tiles.** Pictures larger than ``tile_size`` are cut into overlapping tiles
   (``tile_overlap`` pixels), run in batches. A detection is kept only by the
   tile whose *core* holds its box centre (the core is the tile minus half the
   overlap on every side that has a neighbour), so an object on a tile edge is
   reported once, by the tile that sees it whole when the overlap is larger than
   the object. A final class-agnostic non-maximum suppression over the whole image
   removes what is left of duplicates from objects larger than the overlap.
3. **Masks** are kept as crops inside each box, so memory grows with the number
   of objects, not with objects x pixels.
4. **Passes at other scales** (``scales``, default one pass at 1): the picture is also
   resampled by each extra factor (0.5 shows big galaxies at half size, inside the
   anchors' range), tiled and detected the same way. The extra passes only fill gaps:
   a detection of theirs whose box holds the centre of a first-pass detection is
   dropped (at half size two neighbours often come back as one box). The rest go
   through the final suppression together, masks and boxes mapped to input pixels.
5. **Morphology.** With a :class:`~galseg.predict.morphology.MorphologyClassifier`
   (the shipped one by default), each object's galaxy probability (spiral +
   elliptical) is split between the two by the classifier's closer look at a crop
   around the box, on the same model grid; the detector's own split is replaced.
   ``score`` stays the detector's.
6. **Pieces** (``piece_area_ratio``, the model's setting by default): a detection whose mask lies
   mostly inside a much bigger detection's mask is dropped as a piece of it (a
   knot in a nearby spiral's arm, a bright core boxed on its own).
7. **Smallest size** (``min_box_px``, the model's setting by default): detections whose
   box's longer side is shorter than this many model pixels are dropped inside the
   network, before their masks and second look are made (a deep field's hundreds of
   sources a few pixels across cost more than its galaxies).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import nms

from galseg.models.detector import MASK_PASTE_SHIFT, GalaxyMaskRCNN, paste_mask_crops
from galseg.models.geometry import resize, resize_window
from galseg.models.weights import DetectorMetadata, load_detector
from galseg.predict.detections import Detections, spiral_share
from galseg.predict.morphology import MorphologyClassifier, split_galaxy_probability

MASK_THRESHOLD = 0.5
"""Mask probability above which a pixel belongs to the object (torchvision's convention)."""
MERGE_NMS_IOU = 0.5
"""Box IoU above which two detections from different tiles are one object."""
PIECE_INSIDE_FRACTION = 0.5
"""Share of a detection's mask inside a bigger detection's mask that makes it a piece."""


def pieces_of_bigger(crops: Sequence[np.ndarray], offsets: np.ndarray, area_ratio: float,
                     inside_fraction: float = PIECE_INSIDE_FRACTION) -> np.ndarray:
    """Which detections are pieces of a bigger one (module docstring, 6.).

    Detection ``j`` is a piece of ``i`` when ``i``'s mask has at least ``area_ratio``
    times ``j``'s pixels and holds at least ``inside_fraction`` of them: a star-forming
    knot, a dust-split half or a bright core that the network also boxed on its own.
    Box non-maximum suppression cannot see these (a small box inside a big one has a
    small IoU).

    Parameters
    ----------
    crops : sequence of N bool arrays
        Each mask inside its window; ``offsets`` (N, 2) ``y, x`` of each window's first
        pixel.
    area_ratio : float
        How many times bigger (in mask pixels) the whole must be than the piece.
    inside_fraction : float

    Returns
    -------
    ndarray (N,) bool
        True for a piece. A piece's own pieces are pieces too; the biggest mask of a
        nest never is.
    """
    n = len(crops)
    area = np.array([int(np.count_nonzero(c)) for c in crops], np.int64)
    piece = np.zeros(n, bool)
    if n < 2:
        return piece
    top, left = np.asarray(offsets, np.int64).reshape(-1, 2).T
    bottom = top + np.array([c.shape[0] for c in crops])
    right = left + np.array([c.shape[1] for c in crops])
    for j in np.flatnonzero(area > 0):
        bigger = np.flatnonzero((area >= area_ratio * area[j])
                                & (top < bottom[j]) & (bottom > top[j])
                                & (left < right[j]) & (right > left[j]))
        for i in bigger:
            rows = slice(max(top[i], top[j]), min(bottom[i], bottom[j]))
            cols = slice(max(left[i], left[j]), min(right[i], right[j]))
            shared = np.count_nonzero(
                crops[i][rows.start - top[i]:rows.stop - top[i],
                         cols.start - left[i]:cols.stop - left[i]]
                & crops[j][rows.start - top[j]:rows.stop - top[j],
                           cols.start - left[j]:cols.stop - left[j]])
            if shared >= inside_fraction * area[j]:
                piece[j] = True
                break
    return piece


def fills_gaps(boxes: Sequence[torch.Tensor], passes: Sequence[int]) -> np.ndarray:
    """Which detections to keep across passes (module docstring, 4.): all of the first
    pass (``passes == 0``), and those of other passes whose box holds no first-pass
    box's centre.

    Parameters
    ----------
    boxes : sequence of tensors
        ``x0, y0, x1, y1`` of each detection, one pixel grid for all.
    passes : sequence of int
        Pass of each detection (index in ``Detector.scales``).

    Returns
    -------
    ndarray of bool
        True: keep.
    """
    passes = np.asarray(passes, dtype=np.int64).reshape(-1)
    keep = np.ones(len(passes), bool)
    if not len(passes) or not (passes > 0).any() or not (passes == 0).any():
        return keep
    stacked = torch.stack(list(boxes)).double().numpy().reshape(-1, 4)
    first, extra = stacked[passes == 0], stacked[passes > 0]
    centres_x = (first[None, :, 0] + first[None, :, 2]) / 2
    centres_y = (first[None, :, 1] + first[None, :, 3]) / 2
    holds = ((centres_x >= extra[:, 0:1]) & (centres_x <= extra[:, 2:3])
             & (centres_y >= extra[:, 1:2]) & (centres_y <= extra[:, 3:4]))
    keep[passes > 0] = ~holds.any(axis=1)
    return keep


def _tile_starts(extent: int, tile: int, overlap: int) -> list[int]:
    if extent <= tile:
        return [0]
    step = tile - overlap
    n = math.ceil((extent - tile) / step) + 1
    starts = [min(i * step, extent - tile) for i in range(n)]
    return sorted(set(starts))


def _core(starts: list[int], i: int, tile: int, extent: int, overlap: int) -> tuple[float, float]:
    """The part of tile ``i`` along one axis that this tile is responsible for."""
    low = 0.0 if i == 0 else (starts[i] + starts[i - 1] + tile) / 2
    high = float(extent) if i == len(starts) - 1 else (starts[i + 1] + starts[i] + tile) / 2
    return low, high


def _release_free_heap() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``).

    Each batch of tiles allocates and frees hundreds of MB (pasted masks, features)
    while small, long-lived objects (the kept mask crops) land between them; glibc
    then keeps the freed pages, and a 20,000 px field's resident memory grew past
    3 GB of which 2.5 GB was free heap. Trimming after each batch keeps it at what is
    in use. A no-op where there is no glibc."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _load_libc()


@dataclass(frozen=True)
class TileBlock:
    """Tiles ``start:stop`` of pass ``pass_index`` (:meth:`Detector.tile_blocks`)."""

    pass_index: int
    start: int
    stop: int


@dataclass
class TileDetections:
    """Detections of some tiles before merging, in input pixels: boxes (float64
    ``x0, y0, x1, y1`` tensors), scores, class probabilities and mask crops
    ``(crop, (y, x) offset)`` (picklable: what a cluster's worker sends back)."""

    boxes: list[torch.Tensor] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    crops: list[tuple[np.ndarray, tuple[int, int]]] = field(default_factory=list)
    passes: list[int] = field(default_factory=list)
    """Index in ``Detector.scales`` of the pass that found each detection."""

    @classmethod
    def join(cls, parts: Sequence[TileDetections]) -> TileDetections:
        joined = cls()
        for part in parts:
            joined.boxes += part.boxes
            joined.scores += part.scores
            joined.probs += part.probs
            joined.crops += part.crops
            joined.passes += part.passes
        return joined


class PictureWindows(Protocol):
    """A picture read window by window (:meth:`Detector.detect_windows`)."""

    shape: tuple[int, int]
    flux: Any
    """Sliceable ``[rows, cols]`` (H, W) light for flux-weighted centroids."""

    def rgb_window(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """(h, w, 3) float colour in [0, 1] of rows ``y0:y1``, columns ``x0:x1``."""
        ...


class _TensorGrid:
    """A picture held whole on the model grid, (3, H, W)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.picture = tensor
        self.shape = (int(tensor.shape[1]), int(tensor.shape[2]))

    def window(self, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        return self.picture[:, y0:y1, x0:x1]


class _WindowGrid:
    """A picture read window by window and resampled to the model grid as it is read."""

    def __init__(self, source: PictureWindows, in_shape: tuple[int, int],
                 shape: tuple[int, int]) -> None:
        self.source, self.in_shape, self.shape = source, in_shape, shape
        self.picture = self  # what the morphology classifier crops from

    def _read(self, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        rgb = np.asarray(self.source.rgb_window(y0, y1, x0, x1), np.float32)
        return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))

    def window(self, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        y1, x1 = min(y1, self.shape[0]), min(x1, self.shape[1])
        if self.shape == self.in_shape:
            return self._read(y0, y1, x0, x1)
        return resize_window(self._read, self.in_shape, self.shape, (y0, y1), (x0, x1))


class Detector:
    """A trained galaxy detector ready to run (module docstring).

    Parameters
    ----------
    model : GalaxyMaskRCNN
    metadata : DetectorMetadata
    device : torch device, optional
        Default: CUDA when present.
    score_threshold : float, optional
        Detections below this score are dropped (default: the model's, 0.4).
    tile_size, tile_overlap : int
        Tiling of large pictures, in model pixels.
    batch_size : int
        Tiles run together.
    scales : tuple of float
        Passes over the picture, each at this factor times the model grid (module
        docstring, 4.); ``(1.0,)`` is one pass.
    merge_iou : float
        Box IoU above which detections of different tiles or passes are one object.
    piece_area_ratio : float, optional
        Drop detections that are pieces of one at least this many times bigger
        (:func:`pieces_of_bigger`, module docstring 6.). Default: the model's
        (``metadata.piece_area_ratio``); ``math.inf`` keeps every piece.
    min_box_px : float, optional
        Drop detections whose box's longer side is shorter than this, in model pixels
        (module docstring, 7.). Default: the model's (``metadata.min_box_px``); 0 keeps
        every size.
    morphology : MorphologyClassifier, optional
        Second look at each galaxy for spiral against elliptical (module docstring);
        None: the detector's own class probabilities.
    """

    def __init__(self, model: GalaxyMaskRCNN, metadata: DetectorMetadata, *,
                 device: torch.device | str | None = None, score_threshold: float | None = None,
                 tile_size: int = 512, tile_overlap: int = 128, batch_size: int = 4,
                 morphology: MorphologyClassifier | None = None,
                 scales: tuple[float, ...] = (1.0,), merge_iou: float = MERGE_NMS_IOU,
                 piece_area_ratio: float | None = None,
                 min_box_px: float | None = None) -> None:
        if not 0 <= tile_overlap < tile_size:
            raise ValueError("tile_overlap must be >= 0 and smaller than tile_size")
        self.device = torch.device(device) if device is not None else torch.device(
            "cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        if hasattr(self.model, "transform"):  # each mask's window only (_detect_grid)
            self.model.transform.paste_masks = False
        self.metadata = metadata
        self.score_threshold = (metadata.score_threshold if score_threshold is None
                                else float(score_threshold))
        self.tile_size, self.tile_overlap, self.batch_size = tile_size, tile_overlap, batch_size
        self.morphology = morphology
        scales = tuple(float(s) for s in scales)
        if not scales or not all(s > 0 and np.isfinite(s) for s in scales):
            raise ValueError(f"scales must be positive numbers, got {scales}")
        if not 0 < merge_iou <= 1:
            raise ValueError(f"merge_iou must be in (0, 1], got {merge_iou}")
        self.scales, self.merge_iou = scales, float(merge_iou)
        ratio = metadata.piece_area_ratio if piece_area_ratio is None else piece_area_ratio
        if ratio is not None and not ratio >= 1:
            raise ValueError(f"piece_area_ratio must be >= 1, got {ratio}")
        self.piece_area_ratio = None if ratio is None or math.isinf(ratio) else float(ratio)
        min_box = metadata.min_box_px if min_box_px is None else min_box_px
        if min_box is not None and not 0 <= min_box < math.inf:
            raise ValueError(f"min_box_px must be a number >= 0, got {min_box}")
        self.min_box_px = float(min_box) if min_box else None
        if hasattr(self.model, "roi_heads"):
            self.model.roi_heads.min_box_side = self.min_box_px or 0.0
            # Detections under the score threshold are dropped below anyway: none of them
            # goes through the mask head (the heads keep scores strictly above theirs).
            self.model.roi_heads.score_thresh = self.score_threshold - 1e-6

    @classmethod
    def from_file(cls, path: str | PathLike[str] | None = None, *,
                  morphology: str | PathLike[str] | None = "default", **options) -> Detector:
        """Load a model file (None: the weights shipped with galseg).

        ``morphology``: a morphology classifier file, ``'default'`` for the one shipped
        with galseg, or None (or ``'none'``) for the detector's own classes.
        """
        model, metadata = load_detector(path)
        if morphology is None or str(morphology).lower() == "none":
            classifier = None
        else:
            classifier = MorphologyClassifier.from_file(
                None if str(morphology) == "default" else morphology,
                device=options.get("device"))
        return cls(model, metadata, morphology=classifier, **options)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.metadata.model.classes

    def scale_for(self, pixscale_arcsec: float | None) -> float:
        """Model pixels per input pixel for an input of this pixel scale (1 if unknown)."""
        if pixscale_arcsec is None:
            return 1.0
        return float(pixscale_arcsec) / self.metadata.pixscale_arcsec

    def _tiles(self, shape: tuple[int, int]) -> Iterator[tuple[int, int, tuple[float, ...]]]:
        ys = _tile_starts(shape[0], self.tile_size, self.tile_overlap)
        xs = _tile_starts(shape[1], self.tile_size, self.tile_overlap)
        for iy, y0 in enumerate(ys):
            for ix, x0 in enumerate(xs):
                core = (*_core(ys, iy, self.tile_size, shape[0], self.tile_overlap),
                        *_core(xs, ix, self.tile_size, shape[1], self.tile_overlap))
                yield y0, x0, core

    @torch.inference_mode()
    def detect(self, rgb: np.ndarray, *, pixscale_arcsec: float | None = None,
               scale: float | None = None, weight_image: np.ndarray | None = None) -> Detections:
        """Detect the objects of one picture.

        Parameters
        ----------
        rgb : ndarray, (H, W, 3)
            uint8, or float in [0, 1].
        pixscale_arcsec : float, optional
            The picture's pixel scale (sets the resampling, module docstring).
        scale : float, optional
            Model pixels per input pixel; overrides ``pixscale_arcsec``.
        weight_image : ndarray (H, W), optional
            Light for flux-weighted centroids; default the green channel.

        Returns
        -------
        Detections
            In input pixels, sorted by decreasing score.
        """
        array = np.asarray(rgb)
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"rgb must be (H, W, 3), got shape {array.shape}")
        if min(array.shape[:2]) < 1:
            raise ValueError(f"empty image of shape {array.shape}")
        picture = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
        picture = np.nan_to_num(picture, nan=0.0, posinf=1.0, neginf=0.0).clip(0, 1)
        if weight_image is None:
            weight_image = picture[..., 1]
        full = torch.from_numpy(np.ascontiguousarray(picture.transpose(2, 0, 1)))[None]
        return self._detect(lambda shape: _TensorGrid(resize(full, shape)[0]),
                            picture.shape[:2], self._factor(pixscale_arcsec, scale),
                            weight_image)

    @torch.inference_mode()
    def detect_windows(self, source: PictureWindows, *, pixscale_arcsec: float | None = None,
                       scale: float | None = None) -> Detections:
        """:meth:`detect` on a picture too big to hold, read window by window.

        ``source`` (e.g. :class:`galseg.data.fields.FitsField`) gives ``shape``,
        ``rgb_window(y0, y1, x0, x1)`` (float in [0, 1]) and ``flux`` (sliceable, the
        light for centroids). Each tile (and each morphology crop) is read and
        resampled to the model grid from the input pixels it covers
        (:func:`galseg.models.geometry.resize_window`), so memory holds a few tiles
        and the objects' mask crops, never the picture; the detections are those of
        :meth:`detect` on the whole picture (to float32 rounding of the resampling;
        exactly when no resampling is needed).

        The same work split for a cluster: :meth:`tile_blocks`, :meth:`detect_tile_block`
        on each (anywhere), :meth:`merge_tile_blocks`; this method is those three.
        """
        blocks = self.tile_blocks(source.shape, pixscale_arcsec=pixscale_arcsec, scale=scale)
        return self.merge_tile_blocks(
            source, [self.detect_tile_block(source, block, pixscale_arcsec=pixscale_arcsec,
                                            scale=scale) for block in blocks],
            pixscale_arcsec=pixscale_arcsec, scale=scale)

    def tile_blocks(self, shape: tuple[int, int], *, pixscale_arcsec: float | None = None,
                    scale: float | None = None, batches_per_block: int = 4
                    ) -> list[TileBlock]:
        """The tiles of every pass over a picture of ``shape``, in blocks of whole batches
        (so a block's batches, hence its numbers, are those of the whole run)."""
        per_block = self.batch_size * max(1, batches_per_block)
        blocks = []
        for index, (_, model_shape) in enumerate(self._passes(shape, scale, pixscale_arcsec)):
            n_tiles = sum(1 for _ in self._tiles(model_shape))
            blocks += [TileBlock(index, start, min(start + per_block, n_tiles))
                       for start in range(0, n_tiles, per_block)]
        return blocks

    @torch.inference_mode()
    def detect_tile_block(self, source: PictureWindows, block: TileBlock, *,
                          pixscale_arcsec: float | None = None, scale: float | None = None
                          ) -> TileDetections:
        """The detections of one block of tiles, before merging (input pixels)."""
        shape = (int(source.shape[0]), int(source.shape[1]))
        pass_factor, model_shape = self._passes(shape, scale, pixscale_arcsec)[block.pass_index]
        grid = _WindowGrid(source, shape, model_shape)
        return self._detect_grid(grid, pass_factor, shape, block.start, block.stop,
                                 pass_index=block.pass_index)

    @torch.inference_mode()
    def merge_tile_blocks(self, source: PictureWindows, parts: Sequence[TileDetections], *,
                          pixscale_arcsec: float | None = None, scale: float | None = None
                          ) -> Detections:
        """All blocks' detections (:meth:`tile_blocks` order) merged: suppression of
        duplicates and the morphology classifier's look at each object."""
        shape = (int(source.shape[0]), int(source.shape[1]))
        base_factor, model_shape = self._passes(shape, scale, pixscale_arcsec)[0]
        return self._merge(TileDetections.join(parts), shape,
                           _WindowGrid(source, shape, model_shape), base_factor, source.flux)

    def _factor(self, pixscale_arcsec: float | None, scale: float | None) -> float:
        factor = float(scale) if scale is not None else self.scale_for(pixscale_arcsec)
        if not (factor > 0 and np.isfinite(factor)):
            raise ValueError(f"scale must be a positive number, got {factor}")
        return factor

    def _passes(self, shape: tuple[int, int], scale: float | None,
                pixscale_arcsec: float | None) -> list[tuple[float, tuple[int, int]]]:
        """``(model pixels per input pixel, model grid shape)`` of each pass."""
        factor = self._factor(pixscale_arcsec, scale)
        return [(factor * relative, (max(1, round(shape[0] * factor * relative)),
                                     max(1, round(shape[1] * factor * relative))))
                for relative in self.scales]

    def _detect(self, grid_for: Callable[[tuple[int, int]], _TensorGrid | _WindowGrid],
                shape: tuple[int, int], factor: float, weight_image: Any) -> Detections:
        """All passes over a picture of ``shape``, merged; ``grid_for(model_shape)`` gives
        the picture resampled to a model grid (window by window)."""
        found, first = [], None
        for index, (pass_factor, model_shape) in enumerate(self._passes(shape, factor, None)):
            grid = grid_for(model_shape)
            first = first or (grid, pass_factor)
            found.append(self._detect_grid(grid, pass_factor, shape, pass_index=index))
        return self._merge(TileDetections.join(found), shape, first[0].picture, first[1],
                           weight_image)

    def _merge(self, found: TileDetections, shape: tuple[int, int], picture: Any,
               base_factor: float, weight_image: Any) -> Detections:
        # A box whose mask has no pixel on the input grid is not an object; an extra
        # pass's box holding a first-pass detection's centre is not a new one.
        gap = fills_gaps(found.boxes, found.passes)
        solid = [i for i, (crop, _) in enumerate(found.crops) if crop.any() and gap[i]]
        boxes, scores = [found.boxes[i] for i in solid], [found.scores[i] for i in solid]
        probs, crops = [found.probs[i] for i in solid], [found.crops[i] for i in solid]
        if boxes:
            stacked = torch.stack(boxes)
            order = nms(stacked.float(), torch.tensor(scores, dtype=torch.float32),
                        self.merge_iou).tolist()
        else:
            stacked, order = torch.zeros((0, 4), dtype=torch.float64), []
        if self.piece_area_ratio is not None and len(order) > 1:
            piece = pieces_of_bigger([crops[i][0] for i in order],
                                     np.array([crops[i][1] for i in order]),
                                     self.piece_area_ratio)
            order = [i for i, drop in zip(order, piece, strict=True) if not drop]
        final_boxes = stacked[order].numpy() if order else np.zeros((0, 4))
        class_probs = np.array([probs[i] for i in order]).reshape(-1, len(self.classes))
        detector_p_spiral = None
        if self.morphology is not None and order:
            detector_p_spiral = spiral_share(class_probs, self.classes)
            p_spiral = self.morphology.p_spiral(picture, final_boxes * base_factor)
            class_probs = split_galaxy_probability(class_probs, self.classes, p_spiral)
        return Detections(
            boxes=final_boxes.reshape(-1, 4), scores=np.array([scores[i] for i in order]),
            class_probs=class_probs,
            mask_crops=[crops[i][0] for i in order],
            mask_offsets=np.array([crops[i][1] for i in order], np.int64).reshape(-1, 2),
            shape=shape, weight_image=weight_image, class_names=self.classes,
            detector_p_spiral=detector_p_spiral)

    def _detect_grid(self, grid: _TensorGrid | _WindowGrid, factor: float,
                     shape: tuple[int, int], start: int = 0, stop: int | None = None, *,
                     pass_index: int = 0) -> TileDetections:
        """One pass (tiles ``start:stop`` of it): each detection's box in input pixels,
        score, class probabilities and mask crop on the input grid, from the tiles of
        ``grid`` (the picture on the model grid)."""
        tiles = list(self._tiles(grid.shape))[start:stop]
        found = TileDetections()
        for first in range(0, len(tiles), self.batch_size):
            chunk = tiles[first:first + self.batch_size]
            images = [grid.window(y0, y0 + self.tile_size, x0, x0 + self.tile_size
                                  ).to(self.device) for y0, x0, _ in chunk]
            outputs = self.model(images)
            if isinstance(grid, _WindowGrid):
                _release_free_heap()
            for (y0, x0, core), image, out in zip(chunk, images, outputs, strict=True):
                b = out["boxes"].cpu().double()
                centre_x = (b[:, 0] + b[:, 2]) / 2 + x0
                centre_y = (b[:, 1] + b[:, 3]) / 2 + y0
                ylo, yhi, xlo, xhi = core
                mine = ((out["scores"].cpu() >= self.score_threshold)
                        & (centre_y >= ylo) & (centre_y < yhi)
                        & (centre_x >= xlo) & (centre_x < xhi))
                # Select this tile's detections once (the masks are the big tensor).
                b = b[mine] + torch.tensor([x0, y0, x0, y0], dtype=torch.float64)
                tile_scores = out["scores"][mine].cpu().double().tolist()
                tile_probs = out["class_probs"][mine].cpu().double().numpy()
                tile_shape = (int(image.shape[-2]), int(image.shape[-1]))
                if getattr(getattr(self.model, "transform", None), "paste_masks", True):
                    windows = [(m, (0, 0)) for m in out["masks"][mine][:, 0].cpu()]
                else:
                    windows = paste_mask_crops(out["masks"][mine].cpu(),
                                               out["boxes"][mine].cpu() + MASK_PASTE_SHIFT,
                                               tile_shape)
                for j, box in enumerate(b):
                    found.boxes.append(box / factor)  # input pixels
                    found.passes.append(pass_index)
                    found.scores.append(tile_scores[j])
                    found.probs.append(tile_probs[j])
                    found.crops.append(self._mask_crop(windows[j], tile_shape, y0, x0, box,
                                                       factor, shape))
        return found

    @staticmethod
    def _mask_crop(pasted: tuple[torch.Tensor, tuple[int, int]], tile_shape: tuple[int, int],
                   y0: int, x0: int, box: torch.Tensor, factor: float,
                   shape: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
        """The object's mask inside its box, on the input grid: ``(crop, (y, x) offset)``.

        ``pasted``: the mask's window in the tile and the window's first pixel (the whole
        tile mask and ``(0, 0)``, or :func:`~galseg.models.detector.paste_mask_crops`'s)."""
        # Box in tile pixels, widened by a pixel so the mask's soft edge is kept.
        bx0 = max(math.floor(float(box[0]) - x0) - 1, 0)
        by0 = max(math.floor(float(box[1]) - y0) - 1, 0)
        bx1 = min(math.ceil(float(box[2]) - x0) + 1, tile_shape[1])
        by1 = min(math.ceil(float(box[3]) - y0) + 1, tile_shape[0])
        mask, (py, px) = pasted
        window = mask.new_zeros((max(by1 - by0, 0), max(bx1 - bx0, 0)))
        top, left = max(by0, py), max(bx0, px)
        bottom, right = min(by1, py + mask.shape[0]), min(bx1, px + mask.shape[1])
        if bottom > top and right > left:
            window[top - by0:bottom - by0, left - bx0:right - bx0] = \
                mask[top - py:bottom - py, left - px:right - px]
        # Same window on the input grid.
        iy0, ix0 = math.floor((by0 + y0) / factor), math.floor((bx0 + x0) / factor)
        iy1 = min(math.ceil((by1 + y0) / factor), shape[0])
        ix1 = min(math.ceil((bx1 + x0) / factor), shape[1])
        size = (max(iy1 - iy0, 1), max(ix1 - ix0, 1))
        if factor != 1.0 and window.numel():
            window = F.interpolate(window[None, None].float(), size=size, mode="bilinear",
                                   align_corners=False)[0, 0]
        crop = (window >= MASK_THRESHOLD).numpy() if window.numel() else np.zeros(size, bool)
        return crop[: shape[0] - iy0, : shape[1] - ix0], (iy0, ix0)
