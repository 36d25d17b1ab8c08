"""U-Net that regresses per-pixel spiral-arm and bar vote fractions.

The architecture follows Walmsley & Spindler (2023; public code zoobot-3d): encoder
levels of residual blocks (3x3 conv, batch norm, Mish; a 1x1 conv on the residual
path when the width changes), dropout, a 3x3 stride-2 conv down; residual blocks in
the middle; a decoder that concatenates the skip of the same level, applies residual
blocks and goes up with a 4x4 stride-2 transposed conv; a head of 3x3 conv, Mish,
1x1 conv and ReLU (whose gradient passes through, see :class:`StraightThroughReLU`).

Two faults of the reference code are not repeated: every skip connection is used,
including the full-resolution one, and the network accepts any input size (it pads
to a multiple of ``2**depth`` and crops back).

With ``UNetConfig(input_normalisation='quantile_match')`` the network first matches
each picture's pooled pixel values to reference quantiles
(:class:`~galseg.models.input_norm.QuantileMatch`, a buffer saved with the weights), so
a re-stretched picture gives the same maps.

Tensor contract
---------------
input : float tensor (N, 3, H, W), RGB scaled to [0, 1], any H, W >= 1.
output : float tensor (N, 2, H, W), >= 0; channel 0 = spiral vote fraction,
    channel 1 = bar vote fraction (:data:`OUTPUT_CHANNELS`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from galseg.models.configs import PAPER_CONFIG, UNetConfig
from galseg.models.input_norm import QuantileMatch

OUTPUT_CHANNELS = ("spiral", "bar")


class StraightThroughReLU(nn.Module):
    """ReLU in the forward pass, identity in the backward pass.

    The output is exactly ``max(x, 0)``, but a pixel whose pre-activation is negative
    still receives the loss gradient. With a plain ReLU head and an L1 loss on
    mostly-zero targets, a whole output channel can go negative everywhere early in
    training and never recover (we saw the bar channel die this way); with L1 the
    gradient is 0 where prediction and target are both 0, so this does not push the
    empty sky further down.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (x.clamp(min=0) - x).detach()


class ResidualBlock(nn.Module):
    """3x3 conv + batch norm + Mish, added to the (1x1-projected if needed) input."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.Mish(inplace=True)
        self.shortcut = (nn.Identity() if in_channels == out_channels
                         else nn.Conv2d(in_channels, out_channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x))) + self.shortcut(x)


def _blocks(in_channels: int, out_channels: int, n: int) -> nn.Sequential:
    layers = [ResidualBlock(in_channels, out_channels)]
    layers += [ResidualBlock(out_channels, out_channels) for _ in range(n - 1)]
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """Spiral/bar vote-fraction U-Net; see the module docstring for the tensor contract."""

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or UNetConfig()
        widths = config.widths
        self.input_norm = (QuantileMatch() if config.input_normalisation == "quantile_match"
                           else nn.Identity())
        self.encoder = nn.ModuleList()
        self.dropouts = nn.ModuleList()
        self.downs = nn.ModuleList()
        channels = config.in_channels
        for width, p in zip(widths, config.dropout, strict=True):
            self.encoder.append(_blocks(channels, width, config.blocks_per_level))
            self.dropouts.append(nn.Dropout2d(p) if p > 0 else nn.Identity())
            self.downs.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
            channels = width
        self.middle = (_blocks(channels, channels, config.middle_blocks)
                       if config.middle_blocks else nn.Identity())
        self.ups = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for width in reversed(widths):
            self.ups.append(nn.ConvTranspose2d(channels, width, 4, stride=2, padding=1))
            self.decoder.append(_blocks(2 * width, width, config.blocks_per_level))
            channels = width
        self.head = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.Mish(inplace=True),
            nn.Conv2d(channels, len(OUTPUT_CHANNELS), 1),
            StraightThroughReLU(),
        )

    @property
    def multiple(self) -> int:
        """Input sizes are padded to a multiple of this."""
        return 2 ** self.config.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(
                f"expected input (N, {self.config.in_channels}, H, W), got {tuple(x.shape)}"
            )
        x = self.input_norm(x)
        height, width = x.shape[-2:]
        pad_h = -height % self.multiple
        pad_w = -width % self.multiple
        if pad_h or pad_w:
            # Reflection keeps the padded border looking like sky rather than a hard edge;
            # it needs the pad to be smaller than the image, so fall back to replication.
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = []
        for blocks, drop, down in zip(self.encoder, self.dropouts, self.downs, strict=True):
            x = drop(blocks(x))
            skips.append(x)
            x = down(x)
        x = self.middle(x)
        for up, blocks, skip in zip(self.ups, self.decoder, reversed(skips), strict=True):
            x = blocks(torch.cat([up(x), skip], dim=1))
        return self.head(x)[..., :height, :width]


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["OUTPUT_CHANNELS", "PAPER_CONFIG", "ResidualBlock", "StraightThroughReLU", "UNet",
           "UNetConfig", "count_parameters"]
