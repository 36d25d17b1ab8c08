"""Exact image geometry shared by training and prediction.

Tensor contract: the last two axes are (H, W); any leading axes are kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def resize(tensor: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Resize (N, C, H, W) to ``shape``: area averaging when shrinking (anti-aliased),
    bilinear interpolation otherwise; unchanged when already that shape."""
    shape = (int(shape[0]), int(shape[1]))
    if tuple(tensor.shape[-2:]) == shape:
        return tensor
    if shape[0] <= tensor.shape[-2] and shape[1] <= tensor.shape[-1]:
        return F.interpolate(tensor, size=shape, mode="area")
    return F.interpolate(tensor, size=shape, mode="bilinear", align_corners=False)
