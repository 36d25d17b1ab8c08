"""The stretch-invariant input normalisation (galseg.models.input_norm)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from galseg.models.input_norm import QuantileMatch, pooled_quantiles
from galseg.models.unet import UNet, UNetConfig


def _picture(seed: int = 0) -> torch.Tensor:
    """An 8-bit-valued picture: a bright blob on a noisy sky, blue-ish."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:48, :48]
    blob = np.exp(-((x - 24) ** 2 + (y - 20) ** 2) / 60.0)
    rgb = np.stack([0.6 * blob, 0.8 * blob, blob]) + rng.normal(0.05, 0.01, (3, 48, 48))
    return torch.from_numpy(np.round(np.clip(rgb, 0, 1) * 255) / 255).float()[None]


def _matcher() -> QuantileMatch:
    match = QuantileMatch()
    match.set_reference(torch.stack([_picture(s)[0] for s in range(1, 5)]))
    return match


@pytest.mark.parametrize("restretch", [
    lambda v: v ** 0.5, lambda v: v ** 2, lambda v: 0.4 * v,
    lambda v: torch.asinh(8 * v) / np.arcsinh(8)])
def test_a_monotonic_restretch_gives_the_same_input(restretch):
    match = _matcher()
    picture = _picture()
    assert torch.equal(match(picture), match(restretch(picture)))


def test_brightness_is_gone_but_colour_order_is_kept():
    match = _matcher()
    picture = _picture()
    out = match(picture)[0]
    assert out.shape == picture.shape[1:]
    assert match.reference.min() <= out.min() and out.max() <= match.reference.max()
    bright = picture[0].sum(0) > 1.5          # the blob: blue above red there
    assert (out[2][bright] >= out[0][bright]).all()
    assert (out[2][bright] > out[0][bright]).float().mean() > 0.9
    # the brightest input pixels get the top of the reference, the darkest its bottom
    assert out.max() >= match.reference[-2] and out.min() <= match.reference[1]


def test_reference_quantiles_are_non_decreasing_and_checked():
    quantiles = pooled_quantiles(torch.rand(3, 3, 16, 16) ** 2)
    assert quantiles.shape == (257,)
    assert (torch.diff(quantiles) >= 0).all()
    assert 0 <= quantiles[0] <= quantiles[-1] <= 1
    with pytest.raises(ValueError, match="N >= 1"):
        pooled_quantiles(torch.rand(0, 3, 8, 8))


def test_unet_with_the_normalisation_keeps_its_reference_in_the_weights():
    config = UNetConfig(widths=(4, 8), dropout=(0.0, 0.0), input_normalisation="quantile_match")
    model = UNet(config).eval()
    model.input_norm.set_reference(torch.rand(2, 3, 16, 16) ** 3)
    state = model.state_dict()
    assert "input_norm.reference" in state
    again = UNet(UNetConfig.from_dict(config.to_dict())).eval()
    again.load_state_dict(state)
    picture = _picture()
    with torch.no_grad():
        assert torch.equal(again(picture), model(picture))
        assert torch.equal(model(picture), model(picture ** 2))
    assert "input_norm.reference" not in UNet(UNetConfig(widths=(4, 8), dropout=(0.0, 0.0))
                                              ).state_dict()
    with pytest.raises(ValueError, match="input_normalisation"):
        UNetConfig(input_normalisation="histeq")
    # model files written before the option existed read as 'none'
    values = config.to_dict()
    del values["input_normalisation"]
    assert UNetConfig.from_dict(values).input_normalisation == "none"
