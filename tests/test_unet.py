"""The paper's U-Net (docs/METHOD.md §5): stage widths, parameter count, shapes, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models import SIZE_DIVISOR, UNet


def conv_params(c_in: int, c_out: int, k: int = 3) -> int:
    """Weights + bias of a k×k conv."""
    return k * k * c_in * c_out + c_out


def expected_parameter_count(in_channels: int, width: int) -> int:
    """Parameters of docs/METHOD.md §5 counted by hand: convs with bias, BN (γ, β), 1×1 head to 2."""
    chans = [width * m for m in (1, 2, 4, 8, 16)]
    total = 0
    for c_in, c_out in zip([in_channels, *chans[:-1]], chans):  # encoder double convs
        total += conv_params(c_in, c_out) + 2 * c_out + conv_params(c_out, c_out) + 2 * c_out
    for c_in, c_out in zip(chans[:0:-1], chans[-2::-1]):  # decoder: up-conv, then double conv on concat
        total += conv_params(c_in, c_out) + 2 * c_out
        total += conv_params(2 * c_out, c_out) + 2 * c_out + conv_params(c_out, c_out) + 2 * c_out
    return total + conv_params(chans[0], 2, k=1)


def test_paper_width_has_the_paper_stages_and_parameter_count():
    model = UNet(in_channels=3, width=64)
    assert [stage[0].out_channels for stage in model.encoder] == [64, 128, 256, 512, 1024]
    assert sum(p.numel() for p in model.parameters()) == expected_parameter_count(3, 64)
    # 5 encoder + 4 decoder double convs (2 BN each) + 4 up-convs (1 BN each)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 9 * 2 + 4
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv2d))
    ups = [m for m in model.modules() if isinstance(m, nn.Upsample)]
    assert len(ups) == 4 and all(u.mode == "nearest" and u.scale_factor == 2 for u in ups)


@pytest.mark.parametrize("in_channels,width", [(1, 4), (3, 8)])
def test_forward_shape_and_parameter_count(in_channels, width):
    model = UNet(in_channels=in_channels, width=width)
    assert sum(p.numel() for p in model.parameters()) == expected_parameter_count(in_channels, width)
    x = torch.randn(2, in_channels, 32, 48)
    assert model(x).shape == (2, 2, 32, 48)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = UNet(in_channels=1, width=4)
    model(torch.randn(2, 1, 32, 32)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_eval_mode_is_deterministic_and_batch_independent():
    torch.manual_seed(0)
    model = UNet(in_channels=3, width=4).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        both = model(x)
        first = model(x[:1])
    torch.testing.assert_close(both[:1], first, rtol=1e-5, atol=1e-6)


def test_rejects_wrong_channels_and_indivisible_size():
    model = UNet(in_channels=3, width=4)
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        model(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=f"divisible by {SIZE_DIVISOR}"):
        model(torch.zeros(1, 3, 40, 32))


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"in_channels": -1}, {"width": 2.5}, {"width": True}])
def test_rejects_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError, match="positive int"):
        UNet(**kwargs)
