"""The U-Net: shapes for any input size, non-negative output, every skip used."""

from __future__ import annotations

import pytest
import torch

from galseg.models.unet import PAPER_CONFIG, UNet, UNetConfig, count_parameters

TINY = UNetConfig(widths=(4, 8), dropout=(0.0, 0.0))


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (16, 16), (33, 64), (128, 100)])
def test_any_input_size_gives_same_size_non_negative_output(shape):
    model = UNet(TINY).eval()
    with torch.inference_mode():
        out = model(torch.rand(2, 3, *shape))
    assert out.shape == (2, 2, *shape)
    assert (out >= 0).all()


def test_full_resolution_skip_is_used():
    # A change in one input pixel must reach the output through the full-resolution
    # skip: with the skip, the output at that pixel changes even when deeper levels
    # see a nearly identical image.
    torch.manual_seed(0)
    model = UNet(TINY).eval()
    model.head[-1] = torch.nn.Identity()  # the final ReLU may be flat at initialisation
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    model(x)[0, 0, 8, 8].backward()
    assert x.grad[0, :, 8, 8].abs().sum() > 0
    assert model.decoder[-1][0].conv.in_channels == 2 * TINY.widths[0]


def test_config_round_trip_and_validation():
    config = UNetConfig(widths=(8, 16, 32), dropout=(0, 0.1, 0.2), blocks_per_level=2)
    assert UNetConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="one dropout per level"):
        UNetConfig(widths=(8, 16), dropout=(0.0,))
    with pytest.raises(ValueError, match="dropout"):
        UNetConfig(widths=(8,), dropout=(1.0,))


def test_bad_input_shape_is_explained():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        UNet(TINY)(torch.rand(3, 16, 16))


def test_default_is_leaner_than_paper():
    assert count_parameters(UNet()) < count_parameters(UNet(PAPER_CONFIG)) / 4


def test_output_head_passes_gradient_to_negative_pre_activations():
    # The bar channel died with a plain ReLU head: a channel whose pre-activation is
    # negative everywhere must still learn where the target is positive.
    model = UNet(TINY)
    last_conv = model.head[2]
    with torch.no_grad():
        last_conv.bias.fill_(-5.0)
    x = torch.rand(1, 3, 8, 8)
    out = model(x)
    assert (out == 0).all()
    target = torch.zeros_like(out)
    target[0, 1, 3, 3] = 1.0
    (out - target).abs().mean().backward()
    assert last_conv.bias.grad[1] < 0  # gradient descent raises the bar channel
