"""CBAM against its formula (docs/modules.md, CBAM) in float64: channel gate, then spatial gate,
in sequence.

Mc = sigmoid(MLP(GAP(x)) + MLP(GMP(x))) with one shared MLP C -> C/16 -> C; x1 = x * Mc;
Ms = sigmoid(BN(conv7x7([mean_C(x1); max_C(x1)]))) (2 -> 1, padding 3, no bias); y = x1 * Ms.
The spatial BN's running statistics move with the authors' momentum 0.01
(Jongchan/attention-module, BasicConv): r <- (1 - 0.01) r + 0.01 * batch statistic.
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


def spatial_logits(m, x1):
    """The spatial convolution's output on [mean_C(x1); max_C(x1)], in that order: BN's input."""
    descriptor = torch.stack([x1.mean(1), x1.amax(1)], dim=1)
    return conv(descriptor, m.spatial_conv.weight, None, padding=3)


def cbam_reference(m, x, training):
    x1 = x * channel_gate(x, *mlp_weights(m))
    return x1 * torch.sigmoid(bn(spatial_logits(m, x1), m.spatial_bn, training))


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


def batch_statistics(m, x):
    """Mean and unbiased variance over (N, H, W) of the spatial BN's input, as BN tracks them."""
    z = spatial_logits(m, x * channel_gate(x, *mlp_weights(m)))
    return z.mean().reshape(1), z.var(correction=1).reshape(1)


@pytest.mark.parametrize(
    ("options", "momentum"),
    [({}, 0.01), ({"bn_momentum": 0.1}, 0.1), ({"bn_momentum": 0.5}, 0.5)],
    ids=["authors", "before", "other"],
)
def test_running_statistics_move_with_the_momentum(options, momentum):
    m = randomize(build_attention("cbam", C, **options), seed=11).train()
    mean0, var0 = m.spatial_bn.running_mean.clone(), m.spatial_bn.running_var.clone()
    x = randn(4, C, 6, 5, seed=12)
    mean, var = batch_statistics(m, x)
    m(x)
    assert_close(m.spatial_bn.running_mean, (1 - momentum) * mean0 + momentum * mean)
    assert_close(m.spatial_bn.running_var, (1 - momentum) * var0 + momentum * var)


def test_momentum_none_is_a_cumulative_average():
    m = randomize(build_attention("cbam", C, bn_momentum=None), seed=13).train()
    xs = [randn(3, C, 5, 4, seed=s) for s in (14, 15)]
    stats = [batch_statistics(m, x) for x in xs]  # the weights do not change between the steps
    for x in xs:
        m(x)
    assert_close(m.spatial_bn.running_mean, (stats[0][0] + stats[1][0]) / 2)
    assert_close(m.spatial_bn.running_var, (stats[0][1] + stats[1][1]) / 2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bn_momentum": 1.5}, r"CBAM: bn_momentum must be in \[0, 1\] or None, got 1.5"),
        ({"bn_momentum": -0.1}, r"CBAM: bn_momentum must be in \[0, 1\]"),
        ({"bn_momentum": "fast"}, r"CBAM: bn_momentum='fast' should be float \| None"),
    ],
)
def test_bad_momentum_names_the_option(options, message):
    with pytest.raises(ValueError, match=message):
        build_attention("cbam", C, **options)
