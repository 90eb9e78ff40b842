"""ECA against s = sigmoid(conv1d_k(GAP(x))), y = x * s (docs/modules.md, ECA), in float64.

The kernel size is the paper's rule: the odd number nearest to (log2 C + b) / gamma, gamma = 2,
b = 1, a tie (an even integer) going to the larger; the authors' repository has no such rule.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from tests.attention.reference import assert_close, randn, randomize

from attnzoo import build_attention
from attnzoo.attention.eca import eca_kernel_size  # registers "eca" too
from attnzoo.models import count_params, create_model

C = 64


def eca_reference(x, weight):
    """Cross-correlation of the pooled channel vector with the k weights, zero-padded at both ends
    (what the authors' nn.Conv1d computes), then a sigmoid gate."""
    z = x.mean((2, 3))  # (N, C)
    k = weight.numel()
    padded = F.pad(z, ((k - 1) // 2, (k - 1) // 2))
    s = sum(weight.flatten()[j] * padded[:, j : j + z.shape[1]] for j in range(k))
    return x * torch.sigmoid(s)[:, :, None, None]


@pytest.mark.parametrize("channels", [64, 256], ids=str)
@pytest.mark.parametrize("shape", [(4, 5, 7), (3, 9, 2)], ids=str)
def test_matches_formula(channels, shape):
    m = randomize(build_attention("eca", channels), seed=1)
    x = randn(shape[0], channels, *shape[1:], seed=2)
    assert_close(m(x), eca_reference(x, m.conv.weight))


# Written out by hand from the formula: log2 C = 4..11, (log2 C + 1) / 2 = 2.5, 3, 3.5, 4, 4.5, 5,
# 5.5, 6 -> int 2, 3, 3, 4, 4, 5, 5, 6 -> odd 3, 3, 3, 5, 5, 5, 5, 7.
KERNELS = {16: 3, 32: 3, 64: 3, 128: 5, 256: 5, 512: 5, 1024: 5, 2048: 7}


@pytest.mark.parametrize(("channels", "k"), KERNELS.items(), ids=str)
def test_adaptive_kernel_size(channels, k):
    m = build_attention("eca", channels)
    assert m.conv.weight.shape == (1, 1, k)
    assert m.conv.bias is None
    assert sum(p.numel() for p in m.parameters()) == k


def nearest_odd(t):
    """The odd number nearest to t, the larger of two at a tie: odd numbers are 2j + 1, and j is
    (t - 1) / 2 rounded half up."""
    return 2 * math.floor((t - 1) / 2 + 0.5) + 1


@pytest.mark.parametrize(("gamma", "b"), [(2, 1), (1, 1), (3, 2), (2.5, 0.5), (2, 3)], ids=str)
def test_kernel_size_is_the_nearest_odd_number(gamma, b):
    """Every width up to 2^16 against the paper's rule, written here without int() or % 2."""
    for c in range(1, 2**16 + 1):
        t = (math.log2(c) + b) / gamma
        assert eca_kernel_size(c, gamma, b) == nearest_odd(t), c


def test_where_the_rounding_is_a_tie():
    """At gamma = 2, b = 1, t is an even integer (two odd numbers equally near) only at these
    widths; the larger is taken, as the int-then-odd computation gives."""
    ties = [c for c in range(1, 2**16 + 1) if ((math.log2(c) + 1) / 2) % 2 == 0]
    assert ties == [8, 128, 2048, 32768]
    assert [eca_kernel_size(c) for c in ties] == [3, 5, 7, 9]


@pytest.mark.parametrize(
    ("channels", "options", "k"),
    [
        (64, {"gamma": 1, "b": 1}, 7),  # log2 64 + 1 = 7
        (256, {"gamma": 1, "b": 1}, 9),
        (64, {"gamma": 3, "b": 2}, 3),  # 8 / 3 -> 2 -> 3
        (1024, {"gamma": 2, "b": 3}, 7),  # 14 / 2 = 7
        (64, {"kernel_size": 9}, 9),  # the override ignores gamma and b
        (64, {"kernel_size": 1}, 1),
    ],
)
def test_options_set_the_kernel_size(channels, options, k):
    m = randomize(build_attention("eca", channels, **options), seed=3)
    assert m.conv.weight.shape == (1, 1, k)
    x = randn(2, channels, 4, 3, seed=4)
    assert_close(m(x), eca_reference(x, m.conv.weight))


@pytest.mark.parametrize("kernel_size", [0, 4, -3, 2.0])
def test_bad_kernel_size_names_the_module(kernel_size):
    with pytest.raises(ValueError, match=r"ECA: kernel_size"):
        build_attention("eca", C, kernel_size=kernel_size)


def test_bad_input_names_the_module():
    m = build_attention("eca", C)
    with pytest.raises(ValueError, match=r"ECA .*32 channels"):
        m(torch.randn(2, 32, 4, 4))
    with pytest.raises(ValueError, match=r"ECA .*4-D"):
        m(torch.randn(2, C, 4))


def test_resnet50_closed_form():
    """No ResNet-50 + ECA row in BA2M's Table V. The formula gives k = 5, 5, 5, 7 for the four
    stages (256, 512, 1024, 2048 channels; 3, 4, 6, 3 blocks): 3*5 + 4*5 + 6*5 + 3*7 = 86
    parameters. (The authors' released "k3557" model uses k = 3 in stage 1: 80, their README.)"""
    with_eca = create_model("resnet50", attention="eca")
    assert count_params(with_eca) - count_params(create_model("resnet50")) == 86
    assert abs(count_params(with_eca) / 1e6 - 25.56) <= 0.005  # the plain ResNet-50's 25.56M


def test_resnet164_spem_table1():
    """SPEM Table 1: ResNet-164 + ECA 1.70M (CIFAR-10), 1.72M (CIFAR-100). Widths 64, 128, 256
    give k = 3, 5, 5, over 18 blocks each: 18 * 13 = 234 parameters.

    The CIFAR-100 row cannot be matched: 1.72M is below the same table's plain ResNet-164 on
    CIFAR-100 (1.73M; 1,727,284 here), which a module that adds parameters cannot be. It is
    probably a typo or a truncation; the closed form is asserted instead (1,727,518 -> 1.73M)."""
    for classes, published in ((10, 1.70), (100, None)):
        plain = count_params(create_model("resnet164", classes))
        got = count_params(create_model("resnet164", classes, attention="eca"))
        assert got - plain == 234
        if published is not None:
            assert abs(got / 1e6 - published) <= 0.005
    assert abs(got / 1e6 - 1.73) <= 0.005  # CIFAR-100: what the count rounds to
