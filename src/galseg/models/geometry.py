"""Exact image geometry shared by training and prediction.

Tensor contract: the last two axes are (H, W); any leading axes are kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align


def dihedral(tensor: torch.Tensor, k: int) -> torch.Tensor:
    """Apply element ``k`` (0..7) of the square's symmetry group to the last two axes:
    a horizontal flip for ``k >= 4``, then ``k % 4`` quarter turns. Values are moved,
    never interpolated."""
    if k >= 4:
        tensor = tensor.flip(-1)
    return torch.rot90(tensor, k % 4, dims=(-2, -1))


def inverse_dihedral(tensor: torch.Tensor, k: int) -> torch.Tensor:
    """Undo :func:`dihedral` with the same ``k``."""
    tensor = torch.rot90(tensor, -(k % 4), dims=(-2, -1))
    return tensor.flip(-1) if k >= 4 else tensor


DIHEDRAL_VIEWS: dict[int, tuple[int, ...]] = {1: (0,), 2: (0, 4), 4: (0, 2, 4, 6),
                                              8: tuple(range(8))}
"""Test-time views (elements ``k`` of :func:`dihedral`) averaged for a number of views:
the identity; with the left-right flip; with the flip and the half turn; all eight.
Each set is a subgroup, so the average is exactly invariant to its own transforms."""


def resize(tensor: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Resize (N, C, H, W) to ``shape``: area averaging when shrinking (anti-aliased),
    bilinear interpolation otherwise; unchanged when already that shape."""
    shape = (int(shape[0]), int(shape[1]))
    if tuple(tensor.shape[-2:]) == shape:
        return tensor
    if shape[0] <= tensor.shape[-2] and shape[1] <= tensor.shape[-1]:
        return F.interpolate(tensor, size=shape, mode="area")
    return F.interpolate(tensor, size=shape, mode="bilinear", align_corners=False)


def crop_sides(boxes: torch.Tensor, *, context: float, min_side: float) -> torch.Tensor:
    """Side in pixels of the square crop :func:`box_crops` cuts around each box (N, 4):
    ``max(context * longest box side, min_side)``."""
    boxes = boxes.reshape(-1, 4)
    longest = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return torch.clamp(context * longest, min=min_side)


def box_crops(image: torch.Tensor, boxes: torch.Tensor, size: int, *, context: float,
              min_side: float) -> torch.Tensor:
    """Square crops of ``image`` centred on ``boxes``, resampled to ``size`` x ``size``.

    The crop's side is ``max(context * longest box side, min_side)`` pixels, so a
    galaxy fills the same share of every crop whatever its size. Sampling is
    bilinear (torchvision's ``roi_align``, two samples per output pixel and axis);
    parts of a crop outside the image are 0.

    Parameters
    ----------
    image : tensor (C, H, W)
    boxes : tensor (N, 4)
        ``x0, y0, x1, y1`` in image pixels.
    size : int
    context, min_side : float

    Returns
    -------
    tensor (N, C, size, size)
    """
    boxes = boxes.to(image.device, torch.float32).reshape(-1, 4)
    centre_x = (boxes[:, 0] + boxes[:, 2]) / 2
    centre_y = (boxes[:, 1] + boxes[:, 3]) / 2
    half = crop_sides(boxes, context=context, min_side=min_side) / 2
    rois = torch.stack([torch.zeros_like(half), centre_x - half, centre_y - half,
                        centre_x + half, centre_y + half], dim=1)
    return roi_align(image[None].float(), rois, (size, size), spatial_scale=1.0,
                     sampling_ratio=2, aligned=True)
