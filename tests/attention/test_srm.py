"""SRM against the authors' formula (docs/modules.md, SRM; Lee, Kim, Nam, ICCV 2019;
hyunjaelee410/style-based-recalibration-module) in float64:

mu = per-channel mean over H, W; sigma = sqrt(unbiased variance + 1e-5), as their style pooling
computes it since commit f6221c7 (their first release: torch.std, no epsilon, ``eps=0.0``);
z = w0 * mu + w1 * sigma (per channel, no bias); g = sigmoid(BN(z)); y = x * g.
"""

import math

import pytest
import torch
from tests.attention.reference import assert_close, bn, randn, randomize

import attnzoo.attention.srm  # noqa: F401  (registers "srm" until the package imports it)
from attnzoo import build_attention
from attnzoo.models import count_params, create_model

C = 32
AUTHORS_EPS = 1e-5  # under the square root, in the authors' current style pooling


def srm_reference(m, x, training, unbiased=True, eps=AUTHORS_EPS):
    hw = x.shape[2] * x.shape[3]
    mu = x.sum((2, 3)) / hw
    squares = ((x - mu[:, :, None, None]) ** 2).sum((2, 3))
    sigma = torch.sqrt(squares / (hw - 1 if unbiased else hw) + eps)
    z = m.cfc[:, 0] * mu + m.cfc[:, 1] * sigma
    g = torch.sigmoid(bn(z[:, :, None, None], m.bn, training))
    return x * g


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, C, 5, 7), (3, C, 9, 2)], ids=str)
def test_matches_formula(training, shape):
    m = randomize(build_attention("srm", C), seed=1).train(training)
    x = randn(*shape, seed=2)
    assert_close(m(x), srm_reference(m, x, training))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_population_std_and_eps_options(training):
    m = randomize(build_attention("srm", C, unbiased=False, eps=0.1), seed=3).train(training)
    x = randn(3, C, 4, 6, seed=4)
    assert_close(m(x), srm_reference(m, x, training, unbiased=False, eps=0.1))
    assert not torch.allclose(m(x), srm_reference(m, x, training))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_first_release_without_epsilon(training):
    """eps=0.0: the authors' first style pooling, torch.std alone. On maps whose variance is near
    1e-5 the two releases differ clearly, so the default's epsilon is seen."""
    first = randomize(build_attention("srm", C, eps=0.0), seed=5).train(training)
    x = 3e-3 * randn(4, C, 5, 3, seed=6)
    assert_close(first(x), srm_reference(first, x, training, eps=0.0))
    current = randomize(build_attention("srm", C), seed=5).train(training)
    assert_close(current(x), srm_reference(current, x, training, eps=AUTHORS_EPS))
    assert not torch.allclose(current(x), first(x), rtol=1e-3, atol=0)


def test_layer_shapes_and_initialisation():
    m = build_attention("srm", C)
    assert m.cfc.shape == (C, 2) and torch.all(m.cfc == 0)
    assert torch.all(m.bn.weight == 1) and torch.all(m.bn.bias == 0)
    assert sum(p.numel() for p in m.parameters()) == 4 * C  # cfc 2C + BN affine 2C


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gate_starts_at_one_half(training):
    m = build_attention("srm", C).double().train(training)
    x = randn(3, C, 5, 4, seed=5)
    assert_close(m(x), x * 0.5)


def test_gate_is_per_sample_and_channel():
    m = randomize(build_attention("srm", C), seed=6).eval()
    x = randn(3, C, 4, 5, seed=7).abs() + 0.1
    ratio = m(x) / x
    assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    assert not torch.allclose(ratio[0], ratio[1])


@pytest.mark.parametrize("eps", [AUTHORS_EPS, 0.0], ids=["default", "first-release"])
def test_degenerate_maps_stay_finite(eps):
    """Documented deviation: one position gives variance 0, sigma = sqrt(eps) (the authors' unbiased
    estimator: NaN); a constant channel keeps finite gradients (with eps = 0 as torch.std's
    backward, unlike a plain sqrt of the variance)."""
    m = randomize(build_attention("srm", C, eps=eps), seed=8).train()
    one = randn(4, C, 1, 1, seed=9).requires_grad_()
    out = m(one)
    out.sum().backward()
    assert torch.isfinite(one.grad).all()
    assert_close(out, srm_reference(m, one, True, unbiased=False, eps=eps))
    flat = randn(4, C, 3, 3, seed=10)
    flat[:, 0] = 2.0
    flat.requires_grad_()
    out = m(flat)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(flat.grad).all()


def test_bad_input_names_the_module():
    m = build_attention("srm", C)
    with pytest.raises(ValueError, match=r"SRM .*16 channels"):
        m(torch.randn(2, 16, 4, 4))
    with pytest.raises(ValueError, match=r"SRM .*4-D"):
        m(torch.randn(2, C, 4))
    with pytest.raises(ValueError, match=r"SRM needs a batch of at least 2"):
        m.train()(torch.randn(1, C, 4, 4))
    assert m.eval()(torch.randn(1, C, 4, 4)).shape == (1, C, 4, 4)
    with pytest.raises(ValueError, match=r"SRM: eps"):
        build_attention("srm", C, eps=-1.0)
    with pytest.raises(ValueError, match=r"SRM: eps"):
        build_attention("srm", C, eps=math.nan)


# (model, classes, published millions, source); 4 parameters per channel of every block.
PUBLISHED = [
    ("resnet50", None, 25.62, "BA2M Table V"),
    ("resnet101", None, 44.68, "BA2M Table V"),
    ("resnet164", 10, 1.74, "SPEM Table 1, CIFAR-10"),
    ("resnet164", 100, 1.76, "SPEM Table 1, CIFAR-100"),
]
# Sum of block output widths: ResNet-50 3*256 + 4*512 + 6*1024 + 3*2048 = 15104, ResNet-101
# 3*256 + 4*512 + 23*1024 + 3*2048 = 32512, ResNet-164 18 * (64 + 128 + 256) = 8064.
WIDTHS = {"resnet50": 15104, "resnet101": 32512, "resnet164": 8064}


@pytest.mark.parametrize(("name", "classes", "published", "source"), PUBLISHED, ids=str)
def test_published_parameter_counts(name, classes, published, source):
    got = count_params(create_model(name, classes, attention="srm"))
    assert got - count_params(create_model(name, classes)) == 4 * WIDTHS[name]
    assert abs(got / 1e6 - published) <= 0.005, f"{got / 1e6:.4f}M vs {source}: {published}M"
