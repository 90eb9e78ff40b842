"""GC block against the GCNet formula (docs/modules.md, GC; Cao et al. 2019; mmcv's ContextBlock)
in float64:

p = softmax over H * W of (w_k . x_ij + b_k); context = sum_ij p_ij x_ij;
delta = W2 ReLU(LN(W1 context + b1)) + b2 (C -> C/16 -> C, LayerNorm over C/16); y = x + delta.
"""

import pytest
import torch
from tests.attention.reference import assert_close, fc, randn, randomize

import attnzoo.attention.gc  # noqa: F401  (registers "gc" until the package imports it)
from attnzoo import build_attention
from attnzoo.models import count_params, create_model

C = 64


def context_reference(x, conv_mask):
    logits = torch.einsum("c,nchw->nhw", conv_mask.weight.flatten(), x) + conv_mask.bias
    p = torch.softmax(logits.flatten(1), dim=1).view_as(logits)
    return torch.einsum("nhw,nchw->nc", p, x)


def transform_reference(context, layers):
    conv1, norm, _, conv2 = layers
    h = fc(context, conv1.weight, conv1.bias)  # (N, C/r)
    mean = h.mean(1, keepdim=True)
    var = ((h - mean) ** 2).mean(1, keepdim=True)  # LayerNorm: biased variance over C/r
    h = (h - mean) / torch.sqrt(var + norm.eps) * norm.weight.flatten() + norm.bias.flatten()
    return fc(torch.relu(h), conv2.weight, conv2.bias)[:, :, None, None]


def gc_reference(m, x):
    context = context_reference(x, m.conv_mask)
    out = x
    if m.channel_mul_conv is not None:
        out = out * torch.sigmoid(transform_reference(context, m.channel_mul_conv))
    if m.channel_add_conv is not None:
        out = out + transform_reference(context, m.channel_add_conv)
    return out


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, C, 5, 7), (3, C, 9, 2)], ids=str)
def test_matches_formula(training, shape):
    m = randomize(build_attention("gc", C), seed=1).train(training)
    x = randn(*shape, seed=2)
    assert_close(m(x), gc_reference(m, x))


@pytest.mark.parametrize("fusion", ["mul", "both"])
def test_other_fusions(fusion):
    m = randomize(build_attention("gc", C, fusion=fusion), seed=3)
    assert (m.channel_add_conv is not None) == (fusion == "both")
    x = randn(3, C, 4, 6, seed=4)
    assert_close(m(x), gc_reference(m, x))


def test_layer_shapes_and_reduction_option():
    m = build_attention("gc", C)
    conv1, norm, _, conv2 = m.channel_add_conv
    assert m.conv_mask.weight.shape == (1, C, 1, 1) and m.conv_mask.bias.shape == (1,)
    assert conv1.weight.shape == (C // 16, C, 1, 1) and conv1.bias.shape == (C // 16,)
    assert norm.normalized_shape == (C // 16, 1, 1)
    assert conv2.weight.shape == (C, C // 16, 1, 1) and conv2.bias.shape == (C,)
    assert m.channel_mul_conv is None
    assert build_attention("gc", C, reduction=4).channel_add_conv[0].out_channels == C // 4
    assert build_attention("gc", 8).channel_add_conv[0].out_channels == 1  # at least one


def test_identity_at_initialisation():
    """The code zero-initialises the transform's last conv (and conv_mask's bias): y = x."""
    m = build_attention("gc", C).double()
    last = m.channel_add_conv[-1]
    assert torch.all(last.weight == 0) and torch.all(last.bias == 0)
    assert torch.all(m.conv_mask.bias == 0) and m.conv_mask.weight.abs().sum() > 0
    x = randn(3, C, 5, 4, seed=5)
    assert torch.equal(m(x), x)


def test_gradients_reach_every_parameter():
    m = randomize(build_attention("gc", C), seed=6)
    x = randn(3, C, 5, 4, seed=7)
    (m(x) * randn(*x.shape, seed=8)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # b_k cancels in the softmax: its gradient exists but is zero.
    assert m.conv_mask.bias.grad.abs().item() < 1e-10


def test_bad_input_and_options_name_the_module():
    m = build_attention("gc", C)
    with pytest.raises(ValueError, match=r"GC .*32 channels"):
        m(torch.randn(2, 32, 4, 4))
    with pytest.raises(ValueError, match=r"GC .*4-D"):
        m(torch.randn(2, C, 4))
    with pytest.raises(ValueError, match=r"GC: fusion='cat'"):
        build_attention("gc", C, fusion="cat")
    with pytest.raises(ValueError, match=r"GC: reduction"):
        build_attention("gc", C, reduction=0)


def gc_params(c: int, r: int = 16) -> int:
    """One GC block: conv_mask C + 1, conv C -> C/r with bias, LayerNorm 2 C/r, conv C/r -> C."""
    h = c // r
    return (c + 1) + (c * h + h) + 2 * h + (h * c + c)


# ResNet-50 blocks per stage (widths 256, 512, 1024, 2048): 3, 4, 6, 3; ResNet-101: 3, 4, 23, 3.
STAGE1 = 3 * gc_params(256)


def test_resnet50_published_count_is_stages_2_to_4():
    """BA2M Table V: ResNet-50 + GC 28.08M, GCNet's "c3-c5" setting (GC in the blocks of
    stages 2-4): the default. In all 16 blocks (``stages=[1, 2, 3, 4]``) the count is 28.11M."""
    plain = count_params(create_model("resnet50"))
    model = create_model("resnet50", attention="gc")
    added = 4 * gc_params(512) + 6 * gc_params(1024) + 3 * gc_params(2048)
    assert count_params(model) - plain == added
    assert abs(count_params(model) / 1e6 - 28.08) <= 0.005
    in_stage1 = sum(p.numel() for p in model.stages[0].parameters()) - sum(
        p.numel() for p in create_model("resnet50").stages[0].parameters()
    )
    assert in_stage1 == 0
    every = count_params(create_model("resnet50", attention="gc", stages=[1, 2, 3, 4]))
    assert every - plain == added + STAGE1
    assert abs(every / 1e6 - 28.11) <= 0.005


def test_resnet101_published_count_is_all_stages():
    """BA2M Table V: ResNet-101 + GC 49.36M, which matches GC in all four stages (49.34M without
    stage 1): the table's two GC rows use different placements."""
    got = count_params(create_model("resnet101", attention="gc", stages=[1, 2, 3, 4]))
    added = STAGE1 + 4 * gc_params(512) + 23 * gc_params(1024) + 3 * gc_params(2048)
    assert got - count_params(create_model("resnet101")) == added
    assert abs(got / 1e6 - 49.36) <= 0.005


def test_resnet164_closed_form():
    """No published ResNet-164 + GC count (SPEM's Table 1 has no GC row): 18 blocks per stage at
    64, 128, 256 channels (C/16 = 4, 8, 16)."""
    for classes in (10, 100):
        got = count_params(create_model("resnet164", classes, attention="gc", stages=[1, 2, 3]))
        added = 18 * (gc_params(64) + gc_params(128) + gc_params(256))
        assert got - count_params(create_model("resnet164", classes)) == added
