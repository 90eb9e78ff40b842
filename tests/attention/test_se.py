"""SE against s = sigmoid(W2 ReLU(W1 GAP(x) + b1) + b2), y = x * s (docs/modules.md, SE), in
float64."""

import pytest
import torch
from tests.attention.reference import assert_close, fc, randn, randomize

from attnzoo import build_attention

C = 64


def se_reference(x, w1, b1, w2, b2):
    z = x.mean((2, 3))  # GAP over H, W: (N, C)
    s = torch.sigmoid(fc(torch.relu(fc(z, w1, b1)), w2, b2))
    return x * s[:, :, None, None]


def weights(m):
    return m.fc1.weight, m.fc1.bias, m.fc2.weight, m.fc2.bias


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, C, 5, 7), (3, C, 9, 2)], ids=str)
def test_matches_formula(training, shape):
    m = randomize(build_attention("se", C), seed=1).train(training)
    x = randn(*shape, seed=2)
    assert_close(m(x), se_reference(x, *weights(m)))


def test_hidden_width_is_c_over_16_with_biases():
    m = build_attention("se", C)
    w1, b1, w2, b2 = weights(m)
    assert w1.reshape(w1.shape[0], -1).shape == (C // 16, C)
    assert w2.reshape(w2.shape[0], -1).shape == (C, C // 16)
    assert b1 is not None and b1.shape == (C // 16,)
    assert b2 is not None and b2.shape == (C,)
    assert sum(p.numel() for p in m.parameters()) == 2 * C * (C // 16) + C // 16 + C


def test_reduction_option_changes_hidden_width():
    m = randomize(build_attention("se", C, reduction=4))
    assert m.fc1.weight.shape[0] == C // 4
    x = randn(2, C, 3, 6, seed=3)
    assert_close(m(x), se_reference(x, *weights(m)))


def test_gate_is_per_sample_and_channel():
    """The gate depends only on (n, c): y / x is constant over H, W and differs across samples."""
    m = randomize(build_attention("se", C))
    x = randn(3, C, 4, 5, seed=4).abs() + 0.1
    ratio = m(x) / x
    assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    assert not torch.allclose(ratio[0], ratio[1])


def test_gradients_match_formula():
    """Gradients through the module against autograd through the formula."""
    m = randomize(build_attention("se", C), seed=5).train()
    x = randn(3, C, 4, 5, seed=6).requires_grad_()
    g = randn(3, C, 4, 5, seed=7)
    inputs = [x, *weights(m)]
    got = torch.autograd.grad(m(x), inputs, g)
    for a, b in zip(got, torch.autograd.grad(se_reference(*inputs), inputs, g), strict=True):
        assert_close(a, b)
