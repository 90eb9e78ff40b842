"""CBAM against its formula (docs/modules.md, CBAM) in float64: channel gate, then spatial gate,
in sequence.

Mc = sigmoid(MLP(GAP(x)) + MLP(GMP(x))) with one shared MLP C -> C/16 -> C; x1 = x * Mc;
Ms = sigmoid(BN(conv7x7([mean_C(x1); max_C(x1)]))) (2 -> 1, padding 3, no bias); y = x1 * Ms.
"""

import pytest
import torch
from tests.attention.reference import assert_close, bn, conv, fc, randn, randomize

from attnzoo import build_attention

C = 32


def mlp_weights(m):
    first, second = (layer for layer in m.mlp if hasattr(layer, "weight"))
    return first.weight, first.bias, second.weight, second.bias


def channel_gate(x, w0, b0, w1, b1):
    mlp = lambda z: fc(torch.relu(fc(z, w0, b0)), w1, b1)  # noqa: E731 (one shared MLP)
    return torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.amax((2, 3))))[:, :, None, None]


def cbam_reference(m, x, training):
    x1 = x * channel_gate(x, *mlp_weights(m))
    descriptor = torch.stack([x1.mean(1), x1.amax(1)], dim=1)  # [mean_C; max_C], in that order
    ms = torch.sigmoid(
        bn(conv(descriptor, m.spatial_conv.weight, None, padding=3), m.spatial_bn, training)
    )
    return x1 * ms


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, C, 5, 7), (3, C, 8, 3)], ids=str)
def test_matches_formula(training, shape):
    m = randomize(build_attention("cbam", C), seed=1).train(training)
    x = randn(*shape, seed=2)
    assert_close(m(x), cbam_reference(m, x, training))


def test_layer_shapes():
    m = build_attention("cbam", C)
    w0, b0, w1, b1 = mlp_weights(m)
    assert w0.reshape(w0.shape[0], -1).shape == (C // 16, C) and b0.shape == (C // 16,)
    assert w1.reshape(w1.shape[0], -1).shape == (C, C // 16) and b1.shape == (C,)
    assert m.spatial_conv.weight.shape == (1, 2, 7, 7)
    assert m.spatial_conv.bias is None


def test_descriptor_order_is_mean_then_max():
    """With the conv seeing only its first input channel, Ms depends on mean_C(x1) alone."""
    m = randomize(build_attention("cbam", C), seed=5).train()
    with torch.no_grad():
        m.spatial_conv.weight[:, 1].zero_()
    x = randn(4, C, 6, 5, seed=6)
    x1 = x * channel_gate(x, *mlp_weights(m))
    only_mean = torch.stack([x1.mean(1), torch.zeros_like(x1[:, 0])], dim=1)
    ms = torch.sigmoid(
        bn(conv(only_mean, m.spatial_conv.weight, None, padding=3), m.spatial_bn, True)
    )
    assert_close(m(x), x1 * ms)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_spatial_gate_starts_at_one_half(training):
    m = build_attention("cbam", C).double().train(training)
    assert torch.all(m.spatial_bn.weight == 0)
    x = randn(3, C, 5, 9, seed=7)
    assert_close(m(x), x * channel_gate(x, *mlp_weights(m)) * 0.5)


def test_gradients_match_formula():
    """Gradients through the module against autograd through the formula."""
    m = randomize(build_attention("cbam", C), seed=8).train()
    x = randn(4, C, 5, 7, seed=9).requires_grad_()
    g = randn(4, C, 5, 7, seed=10)
    inputs = [x, *m.parameters()]
    got = torch.autograd.grad(m(x), inputs, g)
    want = torch.autograd.grad(cbam_reference(m, x, True), inputs, g)
    for a, b in zip(got, want, strict=True):
        assert_close(a, b)
