"""AA against concat[conv3x3(x), W^O MHA(x)] with 2-D relative logits (docs/modules.md, AA; Bello
et al. 2019, Eq. 1-4), written here with explicit loops over position pairs and an explicit
softmax, in float64."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from tests.attention.reference import assert_close, avg_pool_ceil, conv1x1, randn, randomize
from torch.utils.flop_counter import FlopCounterMode

import attnzoo.attention.aa  # noqa: F401  (registers "aa")
from attnzoo import build_attention
from attnzoo.attention.aa import AA
from attnzoo.benchmarks.complexity import CUSTOM_FLOPS
from attnzoo.models import count_params, create_model, plan_attention
from attnzoo.models.resnet import Bottleneck, ResNet

C = 16
SMALL = dict(heads=2, dk=0.5, dv=0.5, min_key_dims=0, max_size=8)  # dkh = dvh = 4 at 16 channels


def softmax(z):
    e = torch.exp(z - z.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


def mha_reference(x, m):
    """W^O concat_h softmax(q k^T / sqrt(dkh) + S_H + S_W) v over all positions of x."""
    n, _, h, w = x.shape
    heads, dk, dv, size = m.heads, m.dk, m.dv, m.max_size
    qkv = conv1x1(x, m.qkv.weight, None)
    q, k, v = (t.reshape(n, heads, -1, h * w) for t in qkv.split([dk, dk, dv], 1))
    q = q * (dk // heads) ** -0.5
    cells = [(r, c) for r in range(h) for c in range(w)]
    logits = x.new_zeros(n, heads, h * w, h * w)
    for i, (ri, ci) in enumerate(cells):
        for j, (rj, cj) in enumerate(cells):
            key = k[:, :, :, j]
            if m.relative:  # r^W_{x_j - x_i} + r^H_{y_j - y_i}, offset 0 at index size - 1
                key = key + m.rel_w[cj - ci + size - 1] + m.rel_h[rj - ri + size - 1]
            logits[:, :, i, j] = (q[:, :, :, i] * key).sum(-1)
    out = torch.einsum("nhij,nhdj->nhdi", softmax(logits), v).reshape(n, dv, h, w)
    return conv1x1(out, m.proj.weight, None)


def aa_reference(x, m, stride):
    parts = []
    if m.conv is not None:
        parts.append(F.conv2d(x, m.conv.weight, stride=stride, padding=1, groups=m.conv.groups))
    pooled = avg_pool_ceil(x, stride) if stride > 1 else x
    parts.append(mha_reference(pooled, m))
    return torch.cat(parts, 1)


CASES = {
    "small": SMALL,
    "wider-out": dict(SMALL, out_channels=24),
    "paper-defaults": dict(max_size=8),  # 8 heads, dk = 160 (20 per head), dv = 8
    "no-relative": dict(SMALL, relative=False),
    "fully-attentional": dict(SMALL, dv=1.0),
}


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("shape", [(2, C, 5, 6), (2, C, 7, 5)], ids=str)
@pytest.mark.parametrize("case", CASES)
def test_matches_formula(case, shape, stride):
    m = randomize(build_attention("aa", C, stride=stride, **CASES[case]), seed=1)
    x = randn(*shape, seed=2)
    assert_close(m(x), aa_reference(x, m, stride))


def test_gradients_match_formula():
    """The relative logits enter as SDPA's mask: their gradient must reach the embeddings."""
    m = randomize(build_attention("aa", C, **SMALL), seed=3)
    x = randn(2, C, 4, 5, seed=4)
    grads = []
    for forward in (m, lambda t: aa_reference(t, m, 1)):
        m.zero_grad()
        (forward(x) * randn(2, C, 4, 5, seed=5)).sum().backward()
        grads.append([p.grad.clone() for p in (m.rel_h, m.rel_w, m.qkv.weight, m.proj.weight)])
    for got, want in zip(*grads, strict=True):
        assert_close(got, want)
    assert m.rel_h.grad.abs().sum() > 0


def test_channel_split_follows_the_paper_setting():
    """kappa = 2 upsilon = 0.2, 8 heads, >= 20 key dims per head; dv a multiple of the heads."""
    splits = [(64, 160, 8), (128, 160, 8), (256, 160, 24), (512, 160, 48), (1024, 200, 96)]
    for out, dk, dv in splits:
        m = build_attention("aa", out)
        assert (m.dk, m.dv, m.conv.out_channels) == (dk, dv, out - dv)
        assert m.qkv.out_channels == 2 * dk + dv and m.rel_w.shape == (2 * 56 - 1, dk // 8)
    grouped = build_attention("aa", 96, groups=32)  # lcm(8, 32) = 32 so that 96 - dv divides
    assert grouped.dv == 32 and grouped.conv.groups == 32
    narrow = randomize(build_attention("aa", C, min_width=32))
    assert narrow.dv == 0 and narrow.qkv is None and narrow.conv.out_channels == C
    x = randn(2, C, 5, 6)
    assert_close(narrow(x), F.conv2d(x, narrow.conv.weight, padding=1))


def attention_macs(m, h, w):
    """Closed form: convolution, qkv, W^O, q k^T and attention x v, relative logits (per pixel)."""
    p = h * w
    conv = 9 * m.channels * (m.out_channels - m.dv) * p
    qkv, proj = m.channels * (2 * m.dk + m.dv), m.dv**2
    return conv + p * (qkv + proj + p * (m.dk + m.dv) + (h + w) * m.dk)


def test_flop_counter_sees_the_attention():
    m = build_attention("aa", 64).eval()
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
        m(torch.randn(1, 64, 7, 9))
    assert counter.get_total_flops() / 2 == attention_macs(m, 7, 9)


def resnet_aa_params(depth_blocks, size_of_stage, widths=(64, 128, 256, 512), min_width=0):
    """ResNet parameters with AA: each augmented 3x3 (w -> w) loses 9 w dv conv weights and gains
    qkv w (2 dk + dv), W^O dv^2 and two relative tables of (2 size - 1) x 20."""
    total = 0
    for blocks, w, size in zip(depth_blocks, widths, size_of_stage, strict=True):
        if w < min_width:
            continue
        dk, dv = 160, max(w // 80, 1) * 8  # floor(0.1 w / 8) * 8, at least 8
        total += blocks * (-9 * w * dv + w * (2 * dk + dv) + dv**2 + 2 * (2 * size - 1) * 20)
    return total


def test_resnet_param_counts_against_the_paper():
    """AA-ResNet-50 / -101: 25.8M / 45.4M (AA paper Table 2; BA2M Table V prints 25.80, 45.40).

    The paper augments the last three stages and sizes each layer's relative tables for its map
    at 224 (28, 14, 7), as create_model does by default: 25.814M and 45.391M, within the AA
    paper's one decimal. ``min_width=128`` with every stage is the same layout. ``stages="all"``
    augments stage 1 too; a max_size the user gives wins: 56 in every layer adds 41K parameters
    to ResNet-50 (25.855M).
    """
    layers = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
    base = {50: 25_557_032, 101: 44_549_160}
    for depth, published in [(50, 25.80e6), (101, 45.40e6)]:
        model = create_model(f"resnet{depth}", attention="aa")
        paper = base[depth] + resnet_aa_params(layers[depth], (56, 28, 14, 7), min_width=128)
        assert count_params(model) == paper
        assert abs(paper - published) < 0.015e6, paper
        narrow = create_model(f"resnet{depth}", attention=("aa", {"min_width": 128}), stages="all")
        assert count_params(narrow) == paper
    everywhere = create_model("resnet50", attention="aa", stages="all")
    assert count_params(everywhere) == base[50] + resnet_aa_params(layers[50], (56, 28, 14, 7))
    fixed = create_model("resnet50", attention=("aa", {"max_size": 56}))
    extra = resnet_aa_params(layers[50], (56,) * 4, min_width=128)
    assert count_params(fixed) == base[50] + extra == 25_854_752


def test_default_stages_are_the_papers_last_three():
    """No AA in stage 1 by default, in any bottleneck ResNet (the CIFAR ResNet-83 too)."""
    for name in ("resnet50", "resnet83"):
        model = create_model(name, attention="aa")
        assert not aa_layers(model.stages[0])
        assert all(aa_layers(stage) for stage in model.stages[1:])


EVERY_STAGE = ("aa", {"stages": "all"})


def aa_layers(module):
    return [m for m in module.modules() if isinstance(m, AA)]


@pytest.mark.parametrize(
    ("name", "options", "sides"),
    [
        ("resnet50", {}, (56, 28, 14, 7)),  # the paper's maps at 224
        ("resnet50", {"input_size": 256}, (64, 32, 16, 8)),
        ("resnet50", {"input_size": 100, "stride_in_1x1": True}, (25, 13, 7, 4)),  # ceil(s / 2)
        ("resnet50_cifar", {}, (32, 16, 8, 4)),
    ],
)
def test_tables_are_sized_for_each_layers_map(name, options, sides):
    """Each layer's tables have 2 side - 1 entries for the side of its map at the input size the
    model is built for: 2 x 7 - 1 = 13 in ResNet-50's stage 4 at 224."""
    model = create_model(name, attention="aa", stages="all", model_options=options)
    for stage, side in zip(model.stages, sides, strict=True):
        layers = aa_layers(stage)
        assert layers and all(m.max_size == side for m in layers)
        assert all(m.rel_h.shape[0] == m.rel_w.shape[0] == 2 * side - 1 for m in layers)


def test_a_given_max_size_wins():
    for attention in [("aa", {"max_size": 60}), partial(AA, max_size=60)]:
        model = create_model("resnet50", attention=attention)
        assert {m.max_size for m in aa_layers(model)} == {60}


@pytest.mark.parametrize("block", [0, 1], ids=["strided-14-to-7", "7x7"])
def test_stage4_layer_of_resnet50_matches_formula(block):
    """The paper's smallest tables (13 entries), in ResNet-50's stage 4 at 224, against the
    reference: the strided first block pools 14x14 to 7x7, the others see 7x7."""
    layer = create_model("resnet50", attention="aa").stages[3][block].residual[3]
    m = randomize(layer, seed=6)
    assert m.max_size == 7 and m.rel_w.shape == (13, 20) and m.dv == 48
    side = 7 * m.stride
    x = randn(1, m.channels, side, side, seed=7)
    assert_close(m(x), aa_reference(x, m, m.stride))


def test_an_input_larger_than_built_for_is_refused():
    """A layer sized for a 32x32 map has no embedding for the offsets of a 40x40 one: the error
    names input_size, with which the model takes 40x40."""
    tiny = partial(ResNet, Bottleneck, (1, 1, 1), (16, 32, 64), stem="cifar", name="tiny")
    x = torch.randn(1, 3, 40, 40)
    with torch.no_grad():
        with pytest.raises(ValueError, match=r"max_size=32; got 40x40.*'input_size': N"):
            tiny(attention=plan_attention(EVERY_STAGE)).eval()(x)
        model = tiny(attention=plan_attention(EVERY_STAGE), input_size=40)
        assert model.eval()(x).shape == (1, 1000)


def test_resnet50_replaces_every_bottleneck_conv_and_trains():
    torch.manual_seed(0)
    model = create_model("resnet50", attention=EVERY_STAGE, num_classes=10)
    blocks = [b for b in model.modules() if isinstance(b, Bottleneck)]
    assert len(blocks) == 16 and all(isinstance(b.residual[3], AA) for b in blocks)
    inside = {id(c) for b in blocks for c in b.residual[3].modules()}
    convs3 = [c for c in model.stages.modules() if getattr(c, "kernel_size", None) == (3, 3)]
    assert convs3 and all(id(c) in inside for c in convs3)  # no plain 3x3 left in the stages
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    logits = model(x)
    F.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert torch.isfinite(logits).all()
    assert all(b.residual[3].rel_h.grad.abs().sum() > 0 for b in blocks)


def test_bad_input_and_options_name_the_module():
    m = build_attention("aa", C, **SMALL)
    with pytest.raises(ValueError, match="AA was built for 16 channels"):
        m(torch.randn(2, 8, 5, 5))
    with pytest.raises(ValueError, match="AA expects a 4-D input"):
        m(torch.randn(C, 5, 5))
    with pytest.raises(ValueError, match=r"AA: relative embeddings .* max_size=8"):
        m(torch.randn(1, C, 9, 4))
    with pytest.raises(ValueError, match="AA: need 0 <= dv <= 1"):
        build_attention("aa", C, dv=1.5)
    with pytest.raises(ValueError, match="AA: groups=3"):
        build_attention("aa", C, groups=3, **SMALL)
