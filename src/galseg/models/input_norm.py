"""Input normalisation that makes a network indifferent to how a picture was stretched.

Survey pictures of the same galaxy differ by a monotonic map of their pixel values: a
brighter or darker asinh stretch, a gamma, another viewer's black point. A network
trained on one stretch reads another as another galaxy (issue 26 measured arm masks
keeping a median IoU of 0.09-0.45 with their own when real Legacy cutouts were only
re-stretched). :class:`QuantileMatch` removes that freedom before the first layer:
every image's pixel values, the three channels pooled, are replaced by the reference
picture value at their rank (histogram matching to the reference quantiles).

Any map ``f`` applied alike to all channels that keeps the order of values (gamma,
brightness with no clipping, an asinh or log stretch) leaves the ranks, hence the
output, unchanged; because the channels are pooled, a pixel redder than it is blue
stays so. What is lost is absolute brightness: an image is as bright as the reference
whatever its exposure, so brightness says nothing to the network.

Tensor contract
---------------
input : float tensor (N, C, H, W), values in [0, 1] (clipped), any stretch.
output : float tensor of the same shape, values among :attr:`QuantileMatch.reference`;
    no gradient flows to the input (ranks are piecewise constant).
"""

from __future__ import annotations

import torch
from torch import nn

from galseg.models.configs import INPUT_NORMALISATIONS

N_REFERENCE_QUANTILES = 257
"""Reference quantiles at 0, 1/256, ..., 1 of the pooled pixel values."""
LEVELS = 65536
"""Input values are ranked on this many levels in [0, 1]: enough that the squares of
distinct 8-bit values stay distinct (gamma 2 of an 8-bit picture)."""


def _levels(images: torch.Tensor) -> torch.Tensor:
    return (images.detach().float().clamp(0, 1) * (LEVELS - 1)).round().long()


def pooled_quantiles(images: torch.Tensor, n: int = N_REFERENCE_QUANTILES) -> torch.Tensor:
    """Mean over images of each image's quantile function (channels pooled).

    Parameters
    ----------
    images : float tensor (N, C, H, W) in [0, 1]
        Pictures in the stretch the reference should have (e.g. the training set's).
    n : int
        Quantiles at ``linspace(0, 1, n)``.

    Returns
    -------
    float32 tensor (n,), non-decreasing.
    """
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected images (N, C, H, W) with N >= 1, got {tuple(images.shape)}")
    grid = torch.linspace(0, 1, n, dtype=torch.float32)
    flat = images.detach().float().clamp(0, 1).reshape(len(images), -1)
    return torch.quantile(flat, grid, dim=1).mean(dim=1).cummax(dim=0).values


class QuantileMatch(nn.Module):
    """Replace each image's pooled pixel values by the reference values at their ranks.

    A value's rank is its mid-rank among all pixels and channels of its image, on
    :data:`LEVELS` levels; the reference is linearly interpolated between its
    quantiles. The reference is a buffer, saved and loaded with the network's weights;
    set it from the training pictures with :meth:`set_reference`.
    """

    def __init__(self, n_quantiles: int = N_REFERENCE_QUANTILES) -> None:
        super().__init__()
        self.register_buffer("reference", torch.linspace(0, 1, n_quantiles))

    def set_reference(self, images: torch.Tensor) -> None:
        """Make the quantiles of ``images`` (:func:`pooled_quantiles`) the reference."""
        self.reference.copy_(pooled_quantiles(images, len(self.reference)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(x)
        levels = _levels(x).reshape(n, -1)
        counts = torch.zeros((n, LEVELS), dtype=torch.float32, device=x.device)
        counts.scatter_add_(1, levels, torch.ones_like(levels, dtype=torch.float32))
        mid_rank = (counts.cumsum(dim=1) - counts / 2) / levels.shape[1]   # in (0, 1)
        position = mid_rank * (len(self.reference) - 1)
        below = position.floor().long().clamp(0, len(self.reference) - 2)
        weight = position - below
        reference = self.reference.float()
        table = reference[below] * (1 - weight) + reference[below + 1] * weight
        return table.gather(1, levels).reshape(x.shape).to(x.dtype)


__all__ = ["INPUT_NORMALISATIONS", "LEVELS", "N_REFERENCE_QUANTILES", "QuantileMatch",
           "pooled_quantiles"]
