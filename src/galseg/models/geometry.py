"""Exact image geometry shared by training and prediction.

Tensor contract: the last two axes are (H, W); any leading axes are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
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


def dihedral_each(tensors: torch.Tensor, ks: Sequence[int] | np.ndarray) -> torch.Tensor:
    """Apply :func:`dihedral` element ``ks[i]`` to ``tensors[i]`` along the first axis (a
    batch turned image by image, e.g. a target with the turn its image was given)."""
    return torch.stack([dihedral(t, int(k)) for t, k in zip(tensors, ks, strict=True)])


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


def pad_to_square(tensor: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (C, H, W) to a (C, S, S) square, S = max(H, W), with the median colour of its
    border (sky, for a cutout), the picture centred. Returns the square and the
    ``(top, left)`` offset of the picture in it."""
    _, height, width = tensor.shape
    side = max(height, width)
    if height == width:
        return tensor, (0, 0)
    border = torch.cat([tensor[:, 0], tensor[:, -1], tensor[:, :, 0], tensor[:, :, -1]], dim=1)
    colour = border.median(dim=1).values
    out = colour[:, None, None].expand(-1, side, side).clone()
    top, left = (side - height) // 2, (side - width) // 2
    out[:, top:top + height, left:left + width] = tensor
    return out, (top, left)


def _axis_weights(n_in: int, n_out: int, start: int, stop: int, area: bool
                  ) -> tuple[int, int, torch.Tensor]:
    """Input range ``[i0, i1)`` and (stop - start, i1 - i0) weights that give outputs
    ``start:stop`` of :func:`resize` along one axis (its formulas: adaptive average
    pooling bins when shrinking, bilinear with half-pixel centres otherwise)."""
    out = torch.arange(start, stop, dtype=torch.int64)
    if n_in == n_out:
        return start, stop, torch.eye(stop - start, dtype=torch.float64)
    if area:
        low = (out * n_in) // n_out
        high = ((out + 1) * n_in + n_out - 1) // n_out
        i0, i1 = int(low.min()), int(high.max())
        columns = torch.arange(i0, i1)
        inside = (columns[None] >= low[:, None]) & (columns[None] < high[:, None])
        return i0, i1, inside.double() / (high - low)[:, None].double()
    # in float32, as torch computes the source positions of float32 images
    scale = torch.tensor(n_in / n_out, dtype=torch.float32)
    source = torch.clamp(scale * (out.float() + 0.5) - 0.5, min=0.0)
    first = torch.clamp(source.floor().long(), max=n_in - 1)
    second = torch.clamp(first + 1, max=n_in - 1)
    share = (source - first.float()).double()
    i0, i1 = int(first.min()), int(second.max()) + 1
    weights = torch.zeros((stop - start, i1 - i0), dtype=torch.float64)
    rows = torch.arange(stop - start)
    weights.index_put_((rows, first - i0), 1.0 - share, accumulate=True)
    weights.index_put_((rows, second - i0), share, accumulate=True)
    return i0, i1, weights


def resize_window(read: Callable[[int, int, int, int], torch.Tensor],
                  in_shape: tuple[int, int], out_shape: tuple[int, int],
                  rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
    """Rows and columns ``rows``, ``cols`` (start, stop) of :func:`resize` of an
    ``in_shape`` image to ``out_shape``, from only the input pixels they need.

    ``read(y0, y1, x0, x1)`` gives the input's (C, y1 - y0, x1 - x0) window. The
    result equals the same window of ``resize`` of the whole image (to float32
    rounding), so a big image can be resampled tile by tile.
    """
    area = out_shape[0] <= in_shape[0] and out_shape[1] <= in_shape[1]
    y0, y1, along_y = _axis_weights(in_shape[0], out_shape[0], *rows, area)
    x0, x1, along_x = _axis_weights(in_shape[1], out_shape[1], *cols, area)
    window = read(y0, y1, x0, x1).double()
    return torch.einsum("yh,chw,xw->cyx", along_y, window, along_x).float()


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
