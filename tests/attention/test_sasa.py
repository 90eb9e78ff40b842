"""SASA against y_ij = sum_{ab in N_k(ij)} softmax_ab(q_ij.k_ab + q_ij.r_{a-i,b-j}) v_ab
(docs/modules.md, SASA; Ramachandran et al. 2019, Eq. 2-3), written with explicit neighbourhood
loops, in float64."""

import pytest
import torch
import torch.nn.functional as F
from tests.attention.reference import assert_close, avg_pool_ceil, randn, randomize
from torch.utils.flop_counter import FlopCounterMode

import attnzoo.attention.sasa  # noqa: F401  (registers "sasa")
from attnzoo import build_attention
from attnzoo.attention.sasa import SASA
from attnzoo.benchmarks.complexity import complexity
from attnzoo.models import count_params, create_model
from attnzoo.models.resnet import Bottleneck

C = 16


def sasa_reference(x, m):
    groups = m.q.groups
    q, k, v = (F.conv2d(x, conv.weight, groups=groups) for conv in (m.q, m.k, m.v))
    n, out, h, w = q.shape
    heads, size = m.heads, m.kernel_size
    d, p = out // heads, size // 2
    q, k, v = (t.reshape(n, heads, d, h, w) for t in (q, k, v))
    if m.scaled:
        q = q * d**-0.5
    y = torch.zeros_like(v)
    for i in range(h):
        for j in range(w):
            qij = q[..., i, j]  # (N, heads, d)
            # Only pixels of the image are neighbours: the softmax runs over those.
            cells = [
                (a, b)
                for a in range(max(i - p, 0), min(i + p + 1, h))
                for b in range(max(j - p, 0), min(j + p + 1, w))
            ]
            logits = torch.stack(
                [
                    (qij * k[..., a, b]).sum(-1)
                    + (qij[..., : d // 2] * m.rel_rows[:, a - i + p]).sum(-1)
                    + (qij[..., d // 2 :] * m.rel_cols[:, b - j + p]).sum(-1)
                    for a, b in cells
                ],
                -1,
            )  # (N, heads, |cells|)
            e = torch.exp(logits - logits.max(-1, keepdim=True).values)
            weights = e / e.sum(-1, keepdim=True)
            for t, (a, b) in enumerate(cells):
                y[..., i, j] += weights[..., t, None] * v[..., a, b]
    y = y.reshape(n, out, h, w)
    return avg_pool_ceil(y, m.stride) if m.stride > 1 else y


CASES = {  # k7: the paper's extent, larger than these maps, so every pixel is at a border
    "k7": dict(heads=4),
    "k3": dict(heads=2, kernel_size=3),
    "unscaled": dict(heads=4, kernel_size=3, scaled=False),
    "wider-out-grouped": dict(heads=4, kernel_size=5, out_channels=24, groups=2),
}


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("shape", [(2, C, 5, 6), (2, C, 7, 4)], ids=str)
@pytest.mark.parametrize("case", CASES)
def test_matches_formula(case, shape, stride):
    m = randomize(build_attention("sasa", C, stride=stride, **CASES[case]), seed=1)
    x = randn(*shape, seed=2)
    assert_close(m(x), sasa_reference(x, m))


def test_border_neighbours_are_masked_not_zero_keys():
    """A constant map gives equal values everywhere: masked attention returns them unchanged at
    the border too, where zero-padded keys and values would pull the output towards zero."""
    m = randomize(build_attention("sasa", C, heads=4, kernel_size=3), seed=3)
    x = randn(1, C, 1, 1, seed=4).expand(1, C, 5, 6).contiguous()
    y = m(x)
    assert_close(y, y[:, :, 2:3, 2:3].expand_as(y))


def test_complexity_counts_the_attention():
    """Closed form per pixel: q, k, v (3 Cin Cout), relative logits (k Cout), which the flop
    counter sees, and the window products (2 k^2 Cout), element-wise products it cannot see, which
    SASA declares (uncounted_macs) and the complexity counter adds."""
    m = build_attention("sasa", 64).eval()
    x = torch.randn(1, 64, 6, 6)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        m(x)
    seen, declared = 3 * 64 * 64 + 7 * 64, 2 * 49 * 64
    assert counter.get_total_flops() / 2 == 36 * seen
    assert m.uncounted_macs(x) == 36 * declared
    assert complexity(m, 6, in_chans=64)["eval_macs"] == 36 * (seen + declared)


def test_resnet50_param_count_against_the_paper():
    """SASA ResNet-50: 18.0M (SASA paper Table 1, "conv-stem" and "full"; BA2M Table V: 18.00).

    Closed form: each 3x3 (9 w^2) becomes q, k, v (3 w^2) plus 7 w relative-embedding entries;
    18.04M. The paper's "full" model also swaps the 7x7 stem for an attention stem of about as
    few parameters; ours keeps the convolution stem (the paper's "conv-stem" model).
    """
    model = create_model("resnet50", attention="sasa")
    blocks_and_widths = [(3, 64), (4, 128), (6, 256), (3, 512)]
    change = sum(n * (-6 * w * w + 7 * w) for n, w in blocks_and_widths)
    assert count_params(model) == 25_557_032 + change == 18_038_632
    assert round(count_params(model) / 1e6, 1) == 18.0


def test_resnet50_replaces_every_bottleneck_conv_and_trains():
    torch.manual_seed(0)
    model = create_model("resnet50", attention="sasa", num_classes=10)
    blocks = [b for b in model.modules() if isinstance(b, Bottleneck)]
    assert len(blocks) == 16 and all(isinstance(b.residual[3], SASA) for b in blocks)
    assert not [c for c in model.stages.modules() if getattr(c, "kernel_size", 1) == (3, 3)]
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    logits = model(x)
    F.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert torch.isfinite(logits).all()
    assert all(b.residual[3].rel_rows.grad.abs().sum() > 0 for b in blocks)


def test_bad_input_and_options_name_the_module():
    m = build_attention("sasa", C, heads=4)
    with pytest.raises(ValueError, match="SASA was built for 16 channels"):
        m(torch.randn(2, 8, 5, 5))
    with pytest.raises(ValueError, match="SASA expects a 4-D input"):
        m(torch.randn(C, 5, 5))
    with pytest.raises(ValueError, match="SASA: kernel_size"):
        build_attention("sasa", C, kernel_size=4)
    with pytest.raises(ValueError, match="SASA: out_channels=16 must split into 16 heads"):
        build_attention("sasa", C, heads=16)
    with pytest.raises(ValueError, match="SASA: groups=3"):
        build_attention("sasa", C, heads=4, groups=3)
