"""SK against a float64 reference of split-fuse-select (docs/modules.md, SK), its placement in
bottlenecks, and the parameter counts of SK-ResNet and SKNet against their sources."""

import pytest
import torch
import torch.nn.functional as F
from tests.attention.reference import assert_close, bn, fc, randn, randomize
from torch import nn

import attnzoo.models.sknet  # noqa: F401  (registers sknet50 / sknet101)
from attnzoo import build_attention
from attnzoo.attention.se import SE
from attnzoo.attention.sk import SK  # registers "sk"
from attnzoo.models import create_model
from attnzoo.models.resnet import Bottleneck

relu = torch.relu


def sk_reference(m, x, training, stride, groups, dilations):
    """U_m = ReLU(BN(conv3x3(x))) with path m's groups and dilation (padding = dilation), then
    z = ReLU(BN(W_z GAP(sum U_m))), a = softmax over paths of (W_sel z) read as (M, C),
    V = sum a_m U_m."""
    us = []
    for path, g, d in zip(m.paths, groups, dilations, strict=True):
        conv, norm = path[0], path[1]
        y = F.conv2d(x, conv.weight, None, stride=stride, padding=d, dilation=d, groups=g)
        us.append(relu(bn(y, norm, training)))
    n, c = x.shape[0], us[0].shape[1]
    s = sum(us).mean((2, 3))  # (N, C)
    z = relu(bn(fc(s, m.fc1.weight, None), m.bn, training))  # BN over the (N, d) vectors
    a = torch.softmax(fc(z, m.fc2.weight, None).view(n, len(us), c), dim=1)
    return sum(a[:, i, :, None, None] * u for i, u in enumerate(us))


CASES = {  # options, then the spec's groups and dilations per path
    "resnet": ({}, (1, 32), (1, 2)),
    "resnext": ({"groups": 32, "min_channels": 32}, (32, 32), (1, 2)),
    "three-paths": ({"groups": 4, "paths": 3, "path_groups": 8}, (4, 8, 8), (1, 2, 3)),
    "undilated": ({"dilated": False, "reduction": 4}, (1, 32), (1, 1)),
}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_formula(case, stride, training):
    options, groups, dilations = CASES[case]
    m = build_attention("sk", 64, stride=stride, **options)
    m = randomize(m, seed=1).train(training)
    x = randn(3, 64, 9, 6, seed=2)  # non-square, odd: stride 2 gives 5 x 3
    out = m(x)
    assert out.shape == ((3, 64, 5, 3) if stride == 2 else x.shape)
    assert_close(out, sk_reference(m, x, training, stride, groups, dilations))


def test_out_channels_and_parameter_count():
    m = build_attention("sk", 64, out_channels=128, groups=2)
    x = randn(2, 64, 5, 7, seed=3)
    assert_close(randomize(m)(x), sk_reference(m, x, True, 1, (2, 32), (1, 2)))
    c, d = 128, 128 // 16  # paths: 64 -> 128 with 2 and 32 groups, each with BN(C)
    paths = 9 * 64 * c // 2 + 2 * c + 9 * 64 * c // 32 + 2 * c
    assert sum(p.numel() for p in m.parameters()) == paths + c * d + 2 * d + d * 2 * c


def test_path_groups_default_to_32_or_what_divides_the_width():
    assert build_attention("sk", 64).paths[1][0].groups == 32
    assert build_attention("sk", 16).paths[1][0].groups == 16  # narrow CIFAR bottlenecks


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"paths": 1}, "paths must be an int >= 2"),
        ({"path_groups": 6}, "path_groups=6 must divide"),
        ({"groups": 3}, "groups=3 must divide"),
        ({"reduction": 0}, "reduction must be positive"),
        ({"stride": 0}, "stride must be a positive int"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        build_attention("sk", 64, **options)


def test_bad_inputs():
    m = build_attention("sk", 64)
    with pytest.raises(ValueError, match="built for 64 channels"):
        m(torch.randn(2, 32, 4, 4))
    with pytest.raises(ValueError, match="at least 2 samples"):
        m(torch.randn(1, 64, 4, 4))
    m.eval()(torch.randn(1, 64, 4, 4))  # running statistics: a batch of one is fine


def sk_overhead(widths, min_channels):
    """Closed-form parameters SK adds to bottlenecks of 3x3 widths w (the first path is the block's
    own 3x3 and its BN): the second path (3x3 with 32 groups, BN), fc C -> d (no bias), BN(d),
    fc d -> 2C (no bias)."""
    total = 0
    for w in widths:
        d = max(w // 16, min_channels)
        total += 9 * w * w // 32 + 2 * w + w * d + 2 * d + d * 2 * w
    return total


RESNET50_WIDTHS = [64] * 3 + [128] * 4 + [256] * 6 + [512] * 3
RESNET101_WIDTHS = [64] * 3 + [128] * 4 + [256] * 23 + [512] * 3


def test_sk_resnet50_replaces_every_bottleneck_conv_and_trains():
    torch.manual_seed(0)
    model = create_model("resnet50", attention="sk")
    blocks = [b for stage in model.stages for b in stage]
    assert len(blocks) == 16 and all(isinstance(b, Bottleneck) for b in blocks)
    assert all(isinstance(b.residual[3], SK) for b in blocks)
    assert sum(isinstance(m, SK) for m in model.modules()) == 16
    strided = [i for i, b in enumerate(blocks) if b.residual[3].paths[1][0].stride == (2, 2)]
    assert strided == [3, 7, 13]  # the first block of stages 2-4, on every path
    assert all(p[0].stride == (2, 2) for i in strided for p in blocks[i].residual[3].paths)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    logits = model.train()(x)
    assert logits.shape == (2, 1000) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert all(p.grad is not None for p in model.parameters())


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_sk_resnet_counts_match_the_source_of_table_v():
    """BA2M Table V "+SK" rows (26.15M, 45.68M) are PytorchInsight's sk_resnet50/101 (26,154,496
    and 45,678,112 by this closed form over torchvision's ResNets, d = C/16 without a floor). The
    block adds no BN-ReLU after SK (its paths end in one), so ours are exactly these."""
    cases = [("resnet50", RESNET50_WIDTHS, 25_557_032), ("resnet101", RESNET101_WIDTHS, 44_549_160)]
    for (name, widths, base), published in zip(cases, (26.15, 45.68), strict=True):
        source = base + sk_overhead(widths, min_channels=1)
        assert abs(source / 1e6 - published) < 0.005  # the closed form is the published row
        assert count(create_model(name, attention="sk")) == source


def test_sknet50_count_and_combination():
    """SKNet-50 = ResNeXt-50 (32x4d) + SK with d = max(C/16, 32): 27,479,784 for the authors'
    prototxt (27.5M in the SK paper, 27.50 in BA2M Table XII)."""
    widths = [128] * 3 + [256] * 4 + [512] * 6 + [1024] * 3
    source = 25_028_904 + sk_overhead(widths, min_channels=32)
    assert source == 27_479_784
    model = create_model("sknet50")
    assert count(model) == source
    assert abs(count(model) / 1e6 - 27.50) < 0.025  # the SK paper prints 27.5M
    blocks = [b for stage in model.stages for b in stage]
    assert all(isinstance(b.residual[3], SK) for b in blocks)
    assert all(p[0].groups == 32 for b in blocks for p in b.residual[3].paths)
    with_se = create_model("sknet50", attention="se")
    assert all(isinstance(b.attn, SE) and isinstance(b.residual[3], SK) for b in with_se.stages[0])


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("resnet20", {}, "resnet20 has no block convolution"),
        ("densenet100_bc", {}, "densenet100_bc has no block convolution that sk can replace"),
        ("resnet50", {"placement": "block"}, "sk cannot be placed at 'block'"),
        ("sknet50", {}, "sknet50 already has selective kernels"),
    ],
)
def test_placement_errors(name, options, message):
    with pytest.raises(ValueError, match=message):
        create_model(name, attention="sk", **options)
