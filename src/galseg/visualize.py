"""Pictures of results: colour overlays of vote-fraction maps on the input image.

Overlays are made with numpy and Pillow rather than matplotlib because ``galseg
segment`` writes one per input and matplotlib costs ~100 ms a figure.
"""

from __future__ import annotations

import numpy as np
from skimage.segmentation import find_boundaries

SPIRAL_COLOUR = np.array([1.0, 0.25, 0.1], dtype=np.float32)  # orange-red
BAR_COLOUR = np.array([0.1, 0.85, 1.0], dtype=np.float32)  # cyan


def overlay_maps(
    rgb: np.ndarray,
    spiral_vote_fraction: np.ndarray,
    bar_vote_fraction: np.ndarray,
    *,
    outline_level: float = 0.5,
    outline_masks: tuple[np.ndarray, np.ndarray] | None = None,
    strength: float = 0.7,
) -> np.ndarray:
    """Tint ``rgb`` by the vote fractions and outline where they reach ``outline_level``
    (or the given masks).

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3)
        Image, float in [0, 1] or uint8.
    spiral_vote_fraction, bar_vote_fraction : ndarray, shape (H, W)
        Maps in [0, 1] on the same grid.
    outline_level : float
        Vote fraction of the drawn outline (white for arms, yellow for the bar).
    outline_masks : (ndarray, ndarray) of bool, optional
        Spiral and bar masks to outline instead of ``outline_level`` (for example the
        masks a measurement used, ``SegmentationResult.arms.mask``).
    strength : float
        Opacity of the tint where the vote fraction is 1.

    Returns
    -------
    ndarray, shape (H, W, 3), uint8
    """
    array = np.asarray(rgb)
    image = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {image.shape}")
    out = image.copy()
    for fraction, colour in ((spiral_vote_fraction, SPIRAL_COLOUR),
                             (bar_vote_fraction, BAR_COLOUR)):
        fraction = np.nan_to_num(np.asarray(fraction, dtype=np.float32))
        if fraction.shape != image.shape[:2]:
            raise ValueError(f"map shape {fraction.shape} does not match image "
                             f"{image.shape[:2]}")
        alpha = (strength * np.clip(fraction, 0, 1))[..., None]
        out = out * (1 - alpha) + colour * alpha
    masks = outline_masks if outline_masks is not None else tuple(
        np.nan_to_num(f) >= outline_level for f in (spiral_vote_fraction, bar_vote_fraction))
    for mask, colour in zip(masks, ((1.0, 1.0, 1.0), (1.0, 0.95, 0.2)), strict=True):
        if np.shape(mask) != image.shape[:2]:
            raise ValueError(f"outline mask shape {np.shape(mask)} does not match image "
                             f"{image.shape[:2]}")
        out[find_boundaries(np.asarray(mask, bool), mode="inner")] = colour
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
