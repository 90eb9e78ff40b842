"""IEBN against y = BN_no_affine(x) * (gamma * sigmoid(w * GAP(x) + b)) + beta (docs/modules.md,
IEBN) in float64, its running statistics, and replace_batchnorm on a whole network."""

import math

import pytest
import torch
from tests.attention.reference import assert_close, randn

from attnzoo import build_attention
from attnzoo.attention.iebn import IEBN, replace_batchnorm  # registers "iebn" too
from attnzoo.models import create_model

C = 6


def randomized(m, seed=0):
    """Random gamma, beta, gate and running statistics (neither 0 nor 1), in float64."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (m.weight, m.bias, m.gate_weight, m.gate_bias):
            p.copy_(torch.randn(C, generator=g))
        m.running_mean.copy_(0.3 * torch.randn(C, generator=g))
        m.running_var.copy_(0.5 + torch.rand(C, generator=g))
    return m.double()


def iebn_reference(x, mean, var, eps, gamma, beta, w, b):
    def per_channel(t):
        return t.reshape(1, -1, 1, 1)

    x_hat = (x - per_channel(mean)) / torch.sqrt(per_channel(var) + eps)
    gate = torch.sigmoid(per_channel(w) * x.mean((2, 3), keepdim=True) + per_channel(b))
    return x_hat * per_channel(gamma) * gate + per_channel(beta)


def batch_stats(x):
    mean = x.mean((0, 2, 3))
    centred = x - mean.view(1, -1, 1, 1)
    n = x.numel() // x.shape[1]
    biased = (centred**2).sum((0, 2, 3)) / n
    return mean, biased, biased * n / (n - 1)


@pytest.mark.parametrize("shape", [(4, C, 7, 5), (2, C, 3, 10), (5, C, 1, 1)], ids=str)
def test_training_matches_formula_and_updates_statistics(shape):
    m = randomized(build_attention("iebn", C, momentum=0.3), seed=1).train()
    x = 2 * randn(*shape, seed=2) + 0.5
    mean0, var0 = m.running_mean.clone(), m.running_var.clone()
    mean, biased, unbiased = batch_stats(x)
    expected = iebn_reference(x, mean, biased, m.eps, m.weight, m.bias, m.gate_weight, m.gate_bias)
    assert_close(m(x), expected)
    assert_close(m.running_mean, 0.7 * mean0 + 0.3 * mean)
    assert_close(m.running_var, 0.7 * var0 + 0.3 * unbiased)
    assert m.num_batches_tracked.item() == 1


@pytest.mark.parametrize("shape", [(3, C, 7, 5), (1, C, 4, 9)], ids=str)
def test_eval_uses_running_statistics(shape):
    m = randomized(build_attention("iebn", C, eps=1e-3), seed=3).eval()
    x = randn(*shape, seed=4)
    args = (m.running_mean, m.running_var, 1e-3, m.weight, m.bias, m.gate_weight, m.gate_bias)
    assert_close(m(x), iebn_reference(x, *args))
    assert m.num_batches_tracked.item() == 0


def test_initialisation_as_the_authors_code():
    m = build_attention("iebn", C).double().eval()
    assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    assert torch.all(m.gate_weight == 0) and torch.all(m.gate_bias == -1)
    x = randn(2, C, 4, 3, seed=5)
    assert_close(m(x), x / math.sqrt(1 + 1e-5) / (1 + math.e))  # sigmoid(-1) = 1 / (1 + e)


def test_cumulative_average_without_momentum_and_without_running_stats():
    m = IEBN(C, momentum=None).double()
    xs = [randn(3, C, 4, 4, seed=s) for s in (6, 7)]
    for x in xs:
        m(x)
    assert_close(m.running_mean, (batch_stats(xs[0])[0] + batch_stats(xs[1])[0]) / 2)
    stateless = IEBN(C, track_running_stats=False).double().eval()
    assert stateless.running_mean is None
    mean, biased, _ = batch_stats(xs[0])
    expected = iebn_reference(
        xs[0],
        mean,
        biased,
        1e-5,
        *(stateless.weight, stateless.bias),
        stateless.gate_weight,
        stateless.gate_bias,
    )
    assert_close(stateless(xs[0]), expected)  # batch statistics even in eval mode, as BatchNorm


def test_from_batchnorm_copies_statistics_and_settings():
    bn = torch.nn.BatchNorm2d(C, eps=1e-3, momentum=0.2).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-1, 1)
    bn(3 * randn(4, C, 5, 5, seed=8) + 1)
    bn.eval()
    m = IEBN.from_batchnorm(bn)
    assert (m.eps, m.momentum, m.training, m.weight.dtype) == (1e-3, 0.2, False, torch.float64)
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(getattr(m, name), getattr(bn, name)), name
    with torch.no_grad():
        m.gate_bias.fill_(40.0)  # gate = 1: IEBN reduces to the copied BatchNorm
    x = randn(2, C, 3, 4, seed=9)
    assert_close(m(x), bn(x))


def test_replace_batchnorm_swaps_all_and_trains():
    model = create_model("resnet18", 10)
    count = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert replace_batchnorm(model) is model
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert sum(isinstance(m, IEBN) for m in model.modules()) == count == 20
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    model(x).logsumexp(1).sum().backward()
    gates = [m.gate_weight.grad for m in model.modules() if isinstance(m, IEBN)]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in gates)
    assert model.eval()(x).shape == (2, 10)


def test_replace_batchnorm_as_the_authors_keeps_shortcut_bn():
    model = create_model("resnet18", 10)
    replace_batchnorm(model, lambda name, bn: "shortcut" not in name)
    kept = [n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert kept == ["stages.1.0.shortcut.1", "stages.2.0.shortcut.1", "stages.3.0.shortcut.1"]


def test_shared_batchnorm_stays_shared():
    bn = torch.nn.BatchNorm2d(C)
    model = replace_batchnorm(torch.nn.Sequential(bn, torch.nn.ReLU(), bn))
    assert isinstance(model[0], IEBN) and model[0] is model[2]
    assert isinstance(replace_batchnorm(bn), IEBN)


def test_as_an_attention_option_in_a_backbone():
    model = create_model("resnet20", attention="iebn")
    assert sum(isinstance(m, IEBN) for m in model.modules()) == 9
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(
    "options, match",
    [(dict(eps=0), "eps"), (dict(momentum=1.5), "momentum"), (dict(momentum=-0.1), "momentum")],
    ids=str,
)
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=f"IEBN.*{match}"):
        build_attention("iebn", C, **options)


def test_bad_inputs_name_the_module():
    m = build_attention("iebn", C)
    with pytest.raises(ValueError, match=r"IEBN was built for 6 channels"):
        m(torch.randn(2, C + 2, 4, 4))
    with pytest.raises(ValueError, match=r"IEBN expects a 4-D input"):
        m(torch.randn(2, C, 4))
