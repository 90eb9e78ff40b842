"""SGE against the authors' formula (docs/modules.md, SGE; Li, Hu, Yang 2019; implus/PytorchInsight
resnet_sge.py) in float64, one group at a time:

g = GAP(x_group); c = sum over the group's channels of x * g; n = (c - mean(c)) / (std(c) + 1e-5)
over H * W (torch.std, unbiased); y_group = x_group * sigmoid(weight * n + bias).
"""

import pytest
import torch
from tests.attention.reference import assert_close, randn, randomize

import attnzoo.attention.sge  # noqa: F401  (registers "sge" until the package imports it)
from attnzoo import build_attention
from attnzoo.models import count_params, create_model


def sge_reference(x, weight, bias, groups):
    n, c, h, w = x.shape
    size = c // groups
    out = torch.empty_like(x)
    for k in range(groups):
        xg = x[:, k * size : (k + 1) * size]  # (N, C/G, H, W)
        g = xg.mean((2, 3))
        sim = torch.einsum("nc,nchw->nhw", g, xg).reshape(n, h * w)
        centred = sim - sim.mean(1, keepdim=True)
        std = torch.sqrt((centred**2).sum(1, keepdim=True) / (h * w - 1))
        t = centred / (std + 1e-5)
        gate = torch.sigmoid(weight.flatten()[k] * t + bias.flatten()[k]).reshape(n, 1, h, w)
        out[:, k * size : (k + 1) * size] = xg * gate
    return out


@pytest.mark.parametrize(
    ("channels", "options", "groups"),
    [(128, {}, 64), (64, {}, 64), (32, {"groups": 8}, 8), (48, {"groups": 4}, 4)],
    ids=str,
)
@pytest.mark.parametrize("shape", [(4, 5, 7), (3, 9, 2)], ids=str)
def test_matches_formula(channels, options, groups, shape):
    m = randomize(build_attention("sge", channels, **options), seed=1)
    assert m.weight.shape == m.bias.shape == (1, groups, 1, 1)
    x = randn(shape[0], channels, *shape[1:], seed=2)
    assert_close(m(x), sge_reference(x, m.weight, m.bias, groups))


def test_initialisation_gives_sigmoid_one():
    m = build_attention("sge", 128).double()
    assert torch.all(m.weight == 0) and torch.all(m.bias == 1)
    assert sum(p.numel() for p in m.parameters()) == 2 * 64
    x = randn(3, 128, 5, 6, seed=3)
    assert_close(m(x), x * torch.sigmoid(torch.tensor(1.0, dtype=torch.float64)))


@pytest.mark.parametrize(
    ("channels", "groups"), [(8, 8), (24, 24), (96, 48), (116, 58), (232, 58), (100, 50)]
)
def test_groups_fall_back_to_the_largest_divisor(channels, groups):
    m = randomize(build_attention("sge", channels), seed=4)
    assert m.groups == groups and m.weight.shape == (1, groups, 1, 1)
    x = randn(2, channels, 4, 3, seed=5)
    assert_close(m(x), sge_reference(x, m.weight, m.bias, groups))


def test_strict_groups_and_bad_options_name_the_module():
    with pytest.raises(ValueError, match=r"SGE: channels \(96\) must be divisible by groups"):
        build_attention("sge", 96, strict=True)
    assert build_attention("sge", 128, strict=True).groups == 64
    for groups in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=r"SGE: groups"):
            build_attention("sge", 64, groups=groups)
    with pytest.raises(ValueError, match=r"SGE: eps"):
        build_attention("sge", 64, eps=0.0)


def test_degenerate_maps_stay_finite():
    """Documented deviation: one position gives std 0 (torch.std: NaN). A group whose similarity
    map is constant keeps finite gradients (as with torch.std, unlike a sqrt of the variance)."""
    m = randomize(build_attention("sge", 16, groups=4), seed=6)
    one = randn(2, 16, 1, 1, seed=7).requires_grad_()
    m(one).sum().backward()
    assert torch.isfinite(one.grad).all()
    flat = randn(2, 16, 3, 3, seed=8)
    flat[:, :4] = 1.5  # group 0 constant
    flat.requires_grad_()
    out = m(flat)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(flat.grad).all()


def test_bad_input_names_the_module():
    m = build_attention("sge", 64)
    with pytest.raises(ValueError, match=r"SGE .*32 channels"):
        m(torch.randn(2, 32, 4, 4))
    with pytest.raises(ValueError, match=r"SGE .*4-D"):
        m(torch.randn(2, 64, 4))


# (model, classes, published millions, source); 2 * 64 parameters per block: ResNet-50 has 16
# blocks, ResNet-101 33, ResNet-164 54 (its 64-channel blocks give 64 groups of one channel).
PUBLISHED = [
    ("resnet50", None, 25.56, 16, "BA2M Table V"),
    ("resnet101", None, 44.55, 33, "BA2M Table V"),
    ("resnet164", 10, 1.71, 54, "SPEM Table 1, CIFAR-10"),
    ("resnet164", 100, 1.73, 54, "SPEM Table 1, CIFAR-100"),
]


@pytest.mark.parametrize(("name", "classes", "published", "blocks", "source"), PUBLISHED, ids=str)
def test_published_parameter_counts(name, classes, published, blocks, source):
    got = count_params(create_model(name, classes, attention="sge"))
    assert got - count_params(create_model(name, classes)) == 2 * 64 * blocks
    assert abs(got / 1e6 - published) <= 0.005, f"{got / 1e6:.4f}M vs {source}: {published}M"
