"""Real bars for the segmenter: galseg's own bar labels by eye, with the bars' end points.

The segmenter's bar channel learns from simulated bars, and on real galaxies it fails
(``docs/models.md``: 1 of 12 eye-labelled test bars found). The **train** split of the
eye labels (``eye_labels/bar_labels.csv``, :mod:`galseg.data.bar_labels`) gives real
galaxies with a bar drawn end to end, and real discs with none. They are too few (tens)
and too coarse (a line, not a volunteer's polygon) for a pixel loss, but they say where
a bar must be and where it must not:

* in a **barred** galaxy, the mean bar vote along the drawn bar (pixels within
  :func:`bar_regions`' ``inside`` distance of the segment between the end points) should
  reach at least :data:`BAR_LEVEL`, and the map should be 0 away from it (the smooth
  maximum of the pixels beyond ``outside``), so arms, bulge and neighbours stay bar-free;
  between the two distances the map is left free (how wide a bar is, nobody drew);
* in an **unbarred** disc the smooth maximum of the whole bar map should be 0.

:func:`eye_bar_loss` is this loss; :func:`galseg.training.segmenter.train_segmenter`
adds it, weighted, to the simulations' masked L1 (``eye_bars`` in its configuration).
The spiral channel is not touched. ``unclear`` labels and the **test** split are never
read here: test labels only measure (``benchmarks/bar_finders.py``).

Each picture enters as the segmenter sees it (:class:`~galseg.predict.segment.Segmenter`
with ``scale='frame'``): padded to a square with its border colour, then resized to the
frame; the end points follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike

import numpy as np
import torch

from galseg.data.bar_labels import BAR_LABELS_PATH, read_bar_label_image, read_bar_labels
from galseg.models.geometry import pad_to_square, resize
from galseg.training.examples import image_batch
from galseg.training.weak_labels import smooth_maximum

BAR_LEVEL = 0.4
"""Mean bar vote fraction asked along a drawn bar: about the level of simulated bars'
volunteer maps along their axis (0.3-0.8), and four times the level at which
``galseg.measure`` calls a bar present (0.1)."""
INSIDE_FRACTION = 0.12
"""Pixels within this fraction of the bar's length (at least :data:`MIN_INSIDE_PX`) of the
drawn segment are the bar's axis."""
MIN_INSIDE_PX = 1.5
OUTSIDE_FRACTION = 0.4
"""Pixels farther than this fraction of the bar's length (at least :data:`MIN_OUTSIDE_PX`)
from the segment must carry no bar."""
MIN_OUTSIDE_PX = 4.0
TOP_K = 16
"""Pixels whose mean is the smooth maximum of a map that must be 0."""


def frame_with_points(rgb: np.ndarray, ends: tuple[float, float, float, float], size: int,
                      ) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """An (H, W, 3) uint8 picture in the segmenter's (size, size, 3) frame, and the end
    points (x1, y1, x2, y2; pixel centres at integers) moved with it."""
    tensor = torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0), dtype=np.float32))
    square, (top, left) = pad_to_square(tensor)
    scale = size / square.shape[-1]
    framed = resize(square[None], (size, size))[0]
    frame = np.clip(np.moveaxis(framed.numpy(), 0, -1) + 0.5, 0, 255).astype(np.uint8)
    x1, y1, x2, y2 = ends
    # Half-pixel centres: pixel i covers [i - 0.5, i + 0.5) before and after resizing.
    moved = ((x1 + left + 0.5) * scale - 0.5, (y1 + top + 0.5) * scale - 0.5,
             (x2 + left + 0.5) * scale - 0.5, (y2 + top + 0.5) * scale - 0.5)
    return frame, moved


def bar_regions(ends: tuple[float, float, float, float], size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """``inside`` (the bar's axis) and ``outside`` (no bar) boolean (size, size) masks of a
    bar drawn from (x1, y1) to (x2, y2) in frame pixels (module docstring); all-False and
    all-True for NaN end points (no bar)."""
    if not np.isfinite(ends).all():
        return np.zeros((size, size), bool), np.ones((size, size), bool)
    x1, y1, x2, y2 = ends
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dx, dy = x2 - x1, y2 - y1
    length = float(np.hypot(dx, dy))
    if length > 0:
        t = np.clip(((xx - x1) * dx + (yy - y1) * dy) / length**2, 0.0, 1.0)
    else:
        t = np.zeros_like(xx)
    distance = np.hypot(xx - (x1 + t * dx), yy - (y1 + t * dy))
    inside = distance <= max(MIN_INSIDE_PX, INSIDE_FRACTION * length)
    outside = distance > max(MIN_OUTSIDE_PX, OUTSIDE_FRACTION * length)
    return inside, outside


@dataclass(frozen=True)
class EyeBarExamples:
    """Real galaxies with a bar drawn by eye, or none, in the segmenter's frame.

    Attributes
    ----------
    names : ndarray of str, shape (N,)
        ``source:id`` of each label.
    images : ndarray, shape (N, S, S, 3), uint8
    is_bar : ndarray of bool, shape (N,)
    inside, outside : ndarray of bool, shape (N, S, S)
        :func:`bar_regions` of each galaxy.
    """

    names: np.ndarray
    images: np.ndarray
    is_bar: np.ndarray
    inside: np.ndarray
    outside: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def tensors(self, index: np.ndarray
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (n, 3, S, S) float in [0, 1], ``inside`` and ``outside`` (n, S, S) bool
        and ``is_bar`` (n,) of ``index`` (a turned image needs its regions turned alike:
        :func:`~galseg.models.geometry.dihedral_each`)."""
        return (image_batch(self.images[index]), torch.from_numpy(self.inside[index]),
                torch.from_numpy(self.outside[index]), torch.from_numpy(self.is_bar[index]))

    def balanced_batch(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Sorted indices of ``size`` galaxies, half barred (drawn with replacement)."""
        bars, discs = np.flatnonzero(self.is_bar), np.flatnonzero(~self.is_bar)
        if len(bars) == 0 or len(discs) == 0:
            raise ValueError("eye bar examples need both barred and unbarred galaxies")
        half = size // 2
        return np.sort(np.concatenate([rng.choice(bars, half), rng.choice(discs, size - half)]))


def load_eye_bar_examples(
    data_root: str | PathLike[str],
    *,
    labels: str | PathLike[str] = BAR_LABELS_PATH,
    stellarium_root: str | PathLike[str] | None = None,
    frame_size: int = 128,
) -> EyeBarExamples:
    """The ``bar`` and ``nobar`` labels of the **train** split, framed for the segmenter.

    Parameters
    ----------
    data_root : path
        The shared data folder (``gz1_sdss/``, ``legacy_cutouts/``).
    labels : path
        Label table (:func:`~galseg.data.bar_labels.read_bar_labels`).
    stellarium_root : path, optional
        The unpacked ``stellarium-data`` package; without it Stellarium labels are
        skipped.
    frame_size : int

    Raises
    ------
    galseg.errors.InputFileError
        A labelled image that cannot be read (a label without its picture would
        silently change what is taught).
    ValueError
        No barred or no unbarred galaxy left.
    """
    table = read_bar_labels(labels)
    keep = np.isin(table["label"], ("bar", "nobar")) & (table["split"] == "train")
    names, images, is_bar, inside, outside = [], [], [], [], []
    for row in table[keep]:
        if row["source"] == "stellarium" and stellarium_root is None:
            continue
        rgb, ends = read_bar_label_image(row, data_root=data_root,
                                         stellarium_root=stellarium_root)
        frame, moved = frame_with_points(rgb, ends, frame_size)
        regions = bar_regions(moved, frame_size)
        names.append(f"{row['source']}:{row['id']}")
        images.append(frame)
        is_bar.append(row["label"] == "bar")
        inside.append(regions[0])
        outside.append(regions[1])
    examples = EyeBarExamples(np.array(names, dtype=str),
                              np.stack(images) if images else np.zeros(
                                  (0, frame_size, frame_size, 3), np.uint8),
                              np.array(is_bar, bool),
                              np.array(inside, bool).reshape(-1, frame_size, frame_size),
                              np.array(outside, bool).reshape(-1, frame_size, frame_size))
    if not examples.is_bar.any() or examples.is_bar.all():
        raise ValueError(f"the train split of {labels} needs both 'bar' and 'nobar' labels "
                         f"with readable images; got {int(examples.is_bar.sum())} bars of "
                         f"{len(examples)}")
    return examples


def eye_bar_loss(bar_maps: torch.Tensor, inside: torch.Tensor, outside: torch.Tensor,
                 is_bar: torch.Tensor, *, bar_level: float = BAR_LEVEL,
                 top_k: int = TOP_K) -> torch.Tensor:
    """Loss of (N, H, W) bar vote-fraction maps against eye labels (module docstring).

    Barred galaxies: ``max(0, bar_level - mean over inside)`` plus the smooth maximum of
    the map over ``outside``; unbarred: the smooth maximum of the whole map. Maps that
    must be 0 go through ``torch.relu`` first (its gradient stops at 0; see
    :func:`galseg.training.weak_labels.weak_loss` for why). The two groups are averaged
    separately and then together, so the loss does not depend on the batch's mix.
    """
    inside, outside = inside.to(bar_maps.device), outside.to(bar_maps.device)
    is_bar = is_bar.to(bar_maps.device)
    zero_below = torch.relu(bar_maps)
    parts = []
    if is_bar.any():
        maps, axis = bar_maps[is_bar], inside[is_bar].float()
        along = (maps * axis).flatten(1).sum(1) / axis.flatten(1).sum(1).clamp(min=1.0)
        away = smooth_maximum((zero_below[is_bar] * outside[is_bar])[:, None], top_k)[:, 0]
        parts.append(((bar_level - along).clamp(min=0) + away).mean())
    if (~is_bar).any():
        parts.append(smooth_maximum(zero_below[~is_bar][:, None], top_k)[:, 0].mean())
    if not parts:
        return bar_maps.sum() * 0.0
    return torch.stack(parts).mean()


__all__ = ["BAR_LEVEL", "EyeBarExamples", "bar_regions", "eye_bar_loss",
           "frame_with_points", "load_eye_bar_examples"]
