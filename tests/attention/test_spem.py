"""SPEM against the authors' formula (docs/modules.md, SPEM) in float64, and its auxiliary loss.

u = w2 * GMP(x) + b2, l = w2 * GMin(x) + b2, lambda = p1^2 / (p1^2 + p2^2),
y = x * sigmoid(u + l) * sigmoid(w1 * (lambda * u + (1 - lambda) * l) + b1);
aux loss alpha * (p1^2 + p2^2), summed over every SPEM of a model.
"""

import math

import pytest
import torch
from tests.attention.reference import assert_close, randn, randomize

from attnzoo import aux_loss, build_attention

C = 16


def spem_reference(x, w1, b1, w2, b2, p1, p2):
    def per_channel(t):
        return t.reshape(1, -1, 1, 1)

    w1, b1, w2, b2 = map(per_channel, (w1, b1, w2, b2))
    u = w2 * x.amax((2, 3), keepdim=True) + b2
    low = w2 * x.amin((2, 3), keepdim=True) + b2
    lam = p1**2 / (p1**2 + p2**2)
    v_rew = torch.sigmoid(u + low)
    v_exc = torch.sigmoid(w1 * (lam * u + (1 - lam) * low) + b1)
    return x * v_rew * v_exc


def params(m):
    return m.w1, m.b1, m.w2, m.b2, m.p[0], m.p[1]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, C, 5, 7), (2, C, 3, 10)], ids=str)
def test_matches_authors_formula(training, shape):
    m = randomize(build_attention("spem", C), seed=1).train(training)
    assert not torch.allclose(m.p[0].abs(), m.p[1].abs())  # lambda != 1/2
    x = randn(*shape, seed=2)
    assert_close(m(x), spem_reference(x, *params(m)))


def test_initial_parameters_and_output():
    m = build_attention("spem", C).double()
    for name in ("w1", "w2"):
        assert getattr(m, name).shape == (1, C, 1, 1) and torch.all(getattr(m, name) == 0)
    for name in ("b1", "b2"):
        assert getattr(m, name).shape == (1, C, 1, 1) and torch.all(getattr(m, name) == -1)
    assert m.p.tolist() == [0.5, 0.5]
    x = randn(3, C, 4, 6, seed=3)
    gate = 1 / (1 + math.exp(2)) / (1 + math.exp(1))  # sigmoid(-2) * sigmoid(-1)
    assert gate == pytest.approx(0.032, abs=5e-4)
    assert_close(m(x), x * gate)


def test_aux_loss_of_one_module():
    m = randomize(build_attention("spem", C, alpha=0.3), seed=4)
    p1, p2 = m.p.tolist()
    assert m.aux_loss().item() == pytest.approx(0.3 * (p1**2 + p2**2), rel=1e-12)
    assert build_attention("spem", C).aux_loss().item() == pytest.approx(0.1 * 0.5)  # alpha = 0.1


def test_aux_loss_sums_over_a_model_and_reaches_p():
    alphas = (0.1, 0.25, 0.05)
    spems = [randomize(build_attention("spem", C, alpha=a), seed=i) for i, a in enumerate(alphas)]
    model = torch.nn.Sequential(
        spems[0],
        torch.nn.Conv2d(C, C, 3, padding=1).double(),
        spems[1],
        torch.nn.Sequential(spems[2]),
    )
    expected = sum(
        a * (s.p[0].item() ** 2 + s.p[1].item() ** 2) for a, s in zip(alphas, spems, strict=True)
    )
    loss = aux_loss(model)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    for a, s in zip(alphas, spems, strict=True):
        assert_close(s.p.grad, 2 * a * s.p.detach())
        assert s.w1.grad is None  # only p is regularised


def test_aux_loss_is_zero_without_spem():
    model = torch.nn.Sequential(build_attention("se", C), build_attention("cbam", C))
    loss = aux_loss(model)
    assert loss.item() == 0.0 and loss.dim() == 0


def test_gradients_reach_every_parameter_through_forward():
    m = randomize(build_attention("spem", C), seed=5)
    x = randn(3, C, 5, 4, seed=6)
    (m(x) * randn(*x.shape, seed=7)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gradients_match_formula():
    """Gradients through the module against autograd through the formula."""
    m = randomize(build_attention("spem", C), seed=8)
    x = randn(3, C, 5, 4, seed=9).requires_grad_()
    g = randn(3, C, 5, 4, seed=10)
    inputs = [x, m.w1, m.b1, m.w2, m.b2, m.p]
    got = torch.autograd.grad(m(x), inputs, g)
    want = torch.autograd.grad(spem_reference(x, *params(m)), inputs, g)
    for a, b in zip(got, want, strict=True):
        assert_close(a, b)
