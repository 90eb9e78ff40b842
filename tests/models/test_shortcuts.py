"""Shortcuts: He et al.'s option A (parameter-free) in ResNet-20, projections in ResNet-164."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnzoo.models import create_model


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_resnet20_shortcuts_have_no_parameters():
    model = create_model("resnet20")
    for stage in model.stages:
        for block in stage:
            assert count(block.shortcut) == 0
    # The first block of stage 2 halves the resolution and doubles the width (16 -> 32).
    first = model.stages[1][0]
    conv1 = first.residual[0]
    assert conv1.stride == (2, 2) and conv1.in_channels == 16
    assert not isinstance(first.shortcut, nn.Identity)
    assert not any(isinstance(m, nn.Conv2d) for m in first.shortcut.modules())


@pytest.mark.parametrize("size", [8, 7])
def test_option_a_subsamples_and_zero_pads(size):
    shortcut = create_model("resnet20").stages[1][0].shortcut
    x = torch.randn(2, 16, size, size)
    out = shortcut(x)
    half = (size + 1) // 2
    assert out.shape == (2, 32, half, half)
    sub = x[:, :, ::2, ::2]
    # The 16 input channels appear unchanged (subsampled) in 16 consecutive output channels, and
    # the other 16 channels are zeros.
    nonzero = [c for c in range(32) if out[:, c].abs().sum() > 0]
    assert len(nonzero) == 16 and nonzero == list(range(nonzero[0], nonzero[0] + 16))
    torch.testing.assert_close(out[:, nonzero[0] : nonzero[0] + 16], sub, rtol=0, atol=0)


def test_option_a_block_output_matches_its_branches():
    block = create_model("resnet20").stages[1][0].eval()
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        conv1, bn1, _, conv2, bn2 = block.residual
        residual = bn2(conv2(torch.relu(bn1(conv1(x)))))
        expected = torch.relu(residual + block.shortcut(x))
        torch.testing.assert_close(block(x), expected)


def test_resnet164_uses_projection_shortcuts():
    model = create_model("resnet164")
    for index, (cin, cout, stride) in enumerate([(16, 64, 1), (64, 128, 2), (128, 256, 2)]):
        shortcut = model.stages[index][0].shortcut
        convs = [m for m in shortcut.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == 1
        conv = convs[0]
        assert (conv.in_channels, conv.out_channels) == (cin, cout)
        assert conv.kernel_size == (1, 1) and conv.stride == (stride, stride)
        assert any(isinstance(m, nn.BatchNorm2d) for m in shortcut.modules())
        assert count(shortcut) == cin * cout + 2 * cout
        # The other blocks of the stage keep the identity.
        assert all(isinstance(b.shortcut, nn.Identity) for b in model.stages[index][1:])


def test_resnet164_depth():
    # 9n + 2 = 164: n = 18 bottleneck blocks per stage, three convolutions each.
    model = create_model("resnet164")
    assert [len(stage) for stage in model.stages] == [18, 18, 18]
