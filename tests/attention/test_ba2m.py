"""BA2M against a float64 reference of the reconstruction (docs/modules.md, BA2M; docs/ba2m.md),
and its properties.

The reference materialises everything the module is allowed to avoid: the explicit (HW x HW)
attention matrix softmax(q k^T / sqrt(h/G)) v per group, and the (N, C, H, W) max map before the
mean over channels.
"""

import itertools
import math

import pytest
import torch
from tests.attention.reference import assert_close, bn, conv, conv1x1, fc, randn, randomize
from torch import nn

from attnzoo import build_attention
from attnzoo.attention.ba2m import mean_of_max

C = 64
ALL = ("ca", "lsa", "gsa")
SUBSETS = [b for r in (1, 2, 3) for b in itertools.combinations(ALL, r)]
sigmoid, relu = torch.sigmoid, torch.relu


@pytest.fixture(scope="module")
def x():
    return randn(6, C, 5, 7, seed=11)


def convs_and_bns(branch):
    return (
        [layer for layer in branch.modules() if isinstance(layer, nn.Conv2d)],
        [layer for layer in branch.modules() if isinstance(layer, nn.BatchNorm2d)],
    )


def ca_reference(m, x, training):
    """BN1d(W1 ReLU(W0 GAP(x) + b0) + b1), (N, C, 1, 1)."""
    ca = m.ca
    a = fc(relu(fc(x.mean((2, 3)), ca.fc0.weight, ca.fc0.bias)), ca.fc1.weight, ca.fc1.bias)
    return bn(a, ca.bn, training)[:, :, None, None]


def lsa_reference(m, x, training, groups, dilation):
    """BN(conv1x1_{h->1}(ReLU(BN(conv3x3_{h->h}(ReLU(BN(conv1x1_{C->h}(x)))))))), (N, 1, H, W)."""
    (c0, c1, c2), (b0, b1, b2) = convs_and_bns(m.lsa)
    y = relu(bn(conv1x1(x, c0.weight, c0.bias), b0, training))
    y = conv(y, c1.weight, c1.bias, padding=dilation, dilation=dilation, groups=groups)
    y = relu(bn(y, b1, training))
    return bn(conv1x1(y, c2.weight, c2.bias), b2, training)


def gsa_reference(m, x, training, groups):
    """BN(conv1x1_{h->1}(softmax(q k^T / sqrt(h/G)) v)) over the HW positions, (N, 1, H, W)."""
    n, c, height, width = x.shape
    wq, wk, wv = m.gsa.qkv.weight.reshape(-1, c).chunk(3)  # q, k, v = conv1x1_{C->h}(x)
    hidden = wq.shape[0]
    d = hidden // groups
    tokens = x.reshape(n, c, height * width)

    def heads(w):  # (N, h, HW) -> (N, G, HW, h/G): group g holds channels g*d .. (g+1)*d - 1
        return torch.einsum("oc,ncp->nop", w, tokens).reshape(n, groups, d, -1).transpose(2, 3)

    q, k, v = heads(wq), heads(wk), heads(wv)
    scores = torch.einsum("ngid,ngjd->ngij", q, k) / math.sqrt(d)  # (N, G, HW, HW)
    o = torch.einsum("ngij,ngjd->ngid", torch.softmax(scores, dim=-1), v)
    o = o.transpose(2, 3).reshape(n, hidden, height, width)
    return bn(conv1x1(o, m.gsa.proj.weight, m.gsa.proj.bias), m.gsa.bn, training)


def ba2m_reference(
    m,
    x,
    *,
    branches=ALL,
    sar="sample",
    scale="N",
    tau=1.0,
    lsa_groups=1,
    lsa_dilation=1,
    gsa_groups=1,
    training=True,
):
    """Returns (output, batch weights)."""
    n = x.shape[0]
    maps = []
    if "ca" in branches:
        maps.append(sigmoid(ca_reference(m, x, training)))
    if "lsa" in branches:
        maps.append(sigmoid(lsa_reference(m, x, training, lsa_groups, lsa_dilation)))
    if "gsa" in branches:
        maps.append(sigmoid(gsa_reference(m, x, training, gsa_groups)))
    full = torch.stack([t.expand_as(x) for t in maps]).amax(0)  # max over branches, (N, C, H, W)
    s = full.mean(1, keepdim=True)  # SAR map S, (N, 1, H, W)
    if sar == "sample":
        s = s.mean((2, 3), keepdim=True)  # one scalar per sample
    w = torch.softmax(s / tau, dim=0)  # over the batch (per position in the spatial mode)
    if scale == "N":
        w = n * w
    return x * w, w


REFERENCE_KEYS = ("sar", "scale", "tau", "lsa_groups", "lsa_dilation", "gsa_groups")


def check_against_reference(options, x, *, training=True, seed=0):
    m = randomize(build_attention("ba2m", C, **options), seed=seed).train(training)
    keys = {k: v for k, v in options.items() if k in REFERENCE_KEYS}
    if "branches" in options:
        keys["branches"] = options["branches"].split("+")
    expected, weights = ba2m_reference(m, x, training=training, **keys)
    assert_close(m(x), expected)
    # (a CA-only spatial SAR is constant over H, W and may keep the shape (N, 1, 1, 1))
    assert_close(m.batch_weights(x).double().expand_as(weights), weights)
    assert weights.std() > 1e-3  # the weighting is not trivially uniform
    return m


def test_default_options_match_reference(x):
    check_against_reference({}, x)


def test_second_shape_matches_reference():
    check_against_reference({}, randn(4, C, 3, 8, seed=12), seed=1)


@pytest.mark.parametrize("sar", ["sample", "spatial"])
@pytest.mark.parametrize("branches", SUBSETS, ids="+".join)
def test_branch_subsets_match_reference(branches, sar, x):
    m = check_against_reference({"branches": "+".join(branches), "sar": sar}, x, seed=2)
    for name in ALL:
        assert (getattr(m, name) is not None) == (name in branches), name
    if branches != ("ca",):
        expected = {name: 0 for name in ALL}
        for name in branches:
            expected[name] = sum(p.numel() for p in getattr(m, name).parameters())
        assert sum(p.numel() for p in m.parameters()) == sum(expected.values())


@pytest.mark.parametrize(
    "options",
    [
        {"sar": "spatial"},
        {"scale": "none"},
        {"tau": 0.5},
        {"tau": 3.0, "sar": "spatial"},
        {"gsa_groups": 2},
        {"gsa_groups": 4, "branches": "gsa"},
        {"lsa_groups": 2, "lsa_dilation": 2},
        {"lsa_groups": 4, "branches": "lsa"},
        {"lsa_dilation": 3, "sar": "spatial"},
        {"reduction": 4, "min_channels": 8},
        {"reduction": 16, "min_channels": 2, "gsa_groups": 2},
        {"sar": "spatial", "scale": "none", "tau": 0.5, "branches": "ca+gsa"},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_options_match_reference(options, x):
    check_against_reference(options, x, seed=3)


@pytest.mark.parametrize(
    "options",
    [{}, {"sar": "spatial"}, {"scale": "none", "lsa_groups": 2, "gsa_groups": 2}],
    ids=str,
)
def test_eval_mode_batch_uses_running_statistics(options, x):
    m = check_against_reference({"eval_mode": "batch", **options}, x, training=False, seed=4)
    assert not torch.allclose(m(x), x)


@pytest.mark.parametrize(
    ("channels", "options", "hidden"),
    [
        (C, {}, 32),  # C // 32 = 2, at least 32
        (256, {}, 32),
        (2048, {}, 64),  # C // 32
        (C, {"reduction": 4, "min_channels": 8}, 16),
        (C, {"reduction": 16, "min_channels": 2}, 4),
        (C, {"reduction": 64, "min_channels": 3}, 3),
    ],
)
def test_hidden_width_and_parameter_shapes(channels, options, hidden):
    m = build_attention("ba2m", channels, **options)
    c, h = channels, hidden
    expected = {
        "ca.fc0.weight": (h, c),
        "ca.fc0.bias": (h,),
        "ca.fc1.weight": (c, h),
        "ca.fc1.bias": (c,),
        "ca.bn.weight": (c,),
        "ca.bn.bias": (c,),
        "gsa.qkv.weight": (3 * h, c, 1, 1),
        "gsa.proj.weight": (1, h, 1, 1),
        "gsa.bn.weight": (1,),
        "gsa.bn.bias": (1,),
    }
    shapes = {name: tuple(p.shape) for name, p in m.named_parameters()}
    assert {k: shapes.get(k) for k in expected} == expected
    convs, bns = convs_and_bns(m.lsa)
    assert [tuple(layer.weight.shape) for layer in convs] == [
        (h, c, 1, 1),
        (h, h, 3, 3),
        (1, h, 1, 1),
    ]
    assert [layer.num_features for layer in bns] == [h, h, 1]
    assert len(shapes) == len(expected) + sum(2 for _ in bns) + len(convs) + sum(
        layer.bias is not None for layer in convs
    )


def test_lsa_options_change_the_3x3_conv():
    m = build_attention("ba2m", C, lsa_groups=2, lsa_dilation=2)
    (_, middle, _), _ = convs_and_bns(m.lsa)
    assert middle.weight.shape == (32, 16, 3, 3) and middle.dilation == (2, 2)


@pytest.mark.parametrize("sar", ["sample", "spatial"])
@pytest.mark.parametrize("scale", ["N", "none"])
def test_batch_weights_are_normalised(sar, scale, x):
    m = randomize(build_attention("ba2m", C, sar=sar, scale=scale), seed=5)
    w = m.batch_weights(x).double()
    expected_shape = (len(x), 1, 1, 1) if sar == "sample" else (len(x), 1, *x.shape[2:])
    assert w.shape == expected_shape
    assert torch.all(w > 0)
    if scale == "N":
        assert_close(w.mean(0), torch.ones_like(w[0]))  # per position in the spatial mode
    else:
        assert_close(w.sum(0), torch.ones_like(w[0]))
    assert w.std(0).min() > 1e-4  # not uniform at any position


@pytest.mark.parametrize("sar", ["sample", "spatial"])
def test_batch_of_one_is_the_identity(sar, x):
    m = randomize(build_attention("ba2m", C, sar=sar), seed=6)
    stats = {k: v.clone() for k, v in m.state_dict().items()}
    one = x[:1]
    assert torch.equal(m.train()(one), one)
    # BatchNorm statistics are not updated by such a batch
    for k, v in m.state_dict().items():
        assert torch.equal(v, stats[k]), k
    batch_eval = randomize(build_attention("ba2m", C, sar=sar, eval_mode="batch"), seed=6).eval()
    assert_close(batch_eval(one), one)
    assert_close(
        batch_eval.batch_weights(one).double(),
        torch.ones_like(batch_eval.batch_weights(one).double()),
    )


@pytest.mark.parametrize("sar", ["sample", "spatial"])
def test_eval_mode_is_the_identity_by_default(sar, x):
    m = randomize(build_attention("ba2m", C, sar=sar), seed=7).eval()
    assert torch.equal(m(x), x)
    assert not torch.allclose(m.train()(x), x)


@pytest.mark.parametrize("sar", ["sample", "spatial"])
def test_permuting_the_batch_permutes_the_output(sar, x):
    m = randomize(build_attention("ba2m", C, sar=sar), seed=8).train()
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    y = m(x)
    assert_close(m(x[perm]), y[perm])
    assert not torch.allclose(y, x)


@pytest.mark.parametrize("sar", ["sample", "spatial"])
def test_gradients_reach_every_branch(sar, x):
    m = randomize(build_attention("ba2m", C, sar=sar), seed=9).train()
    xg = x.clone().requires_grad_(True)
    (m(xg) * randn(*x.shape, seed=13)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    for branch in ALL:
        assert any(p.grad.abs().sum() > 0 for p in getattr(m, branch).parameters()), branch
    # the weights are differentiated too, not only used as constants
    w = m.batch_weights(x).detach().to(x.dtype)
    assert not torch.allclose(xg.grad, w * randn(*x.shape, seed=13))


def test_eval_mode_batch_applies_a_non_trivial_weighting(x):
    m = randomize(build_attention("ba2m", C, eval_mode="batch"), seed=10).eval()
    y = m(x)
    ratio = (y / x).amax((1, 2, 3))
    assert ratio.std() > 1e-3
    assert_close(ratio.mean(), torch.tensor(1.0, dtype=torch.float64))
    assert_close(y, ba2m_reference(m, x, training=False)[0])


def test_global_sync_needs_a_process_group(x):
    m = build_attention("ba2m", C, sync="global").double()
    with pytest.raises(RuntimeError, match="process group"):
        m(x)


@pytest.mark.parametrize("shapes", [((3, 10), (4, 5)), ((1, 7), (1, 1)), ((5, 1), (2, 3))])
def test_mean_of_max_equals_materialised_form(shapes):
    (n, c), (h, w) = shapes
    a = torch.rand(n, c, 1, 1, dtype=torch.float64)
    b = torch.rand(n, 1, h, w, dtype=torch.float64) * 1.6 - 0.3  # below, inside and above a
    b.view(-1)[0] = -1.0  # below every channel
    b.view(-1)[-1] = 2.0  # above every channel
    a.requires_grad_(True)
    b.requires_grad_(True)
    fast = mean_of_max(a, b)
    materialised = torch.maximum(a.expand(n, c, h, w), b.expand(n, c, h, w)).mean(1, keepdim=True)
    assert fast.shape == (n, 1, h, w)
    assert_close(fast, materialised)
    g = torch.randn(n, 1, h, w, dtype=torch.float64)
    for got, want in zip(
        torch.autograd.grad(fast, (a, b), g),
        torch.autograd.grad(materialised, (a, b), g),
        strict=True,
    ):
        assert_close(got, want)


def test_mean_of_max_gradcheck():
    a = torch.rand(3, 10, 1, 1, dtype=torch.float64, requires_grad=True)
    b = (torch.rand(3, 1, 4, 5, dtype=torch.float64) * 1.4 - 0.2).requires_grad_(True)
    assert torch.autograd.gradcheck(mean_of_max, (a, b))


def test_autocast_bfloat16_weights_are_float32():
    torch.manual_seed(0)
    m = build_attention("ba2m", C)
    x32 = torch.randn(4, C, 6, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        w = m.batch_weights(x32)
        y = m(x32)
    assert w.dtype == torch.float32
    assert torch.isfinite(y.float()).all()
    assert_close(w.mean(), torch.tensor(1.0))


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"sar": "foo"}, "sar"),
        ({"scale": "batch"}, "scale"),
        ({"eval_mode": "off"}, "eval_mode"),
        ({"sync": "all"}, "sync"),
        ({"branches": "xyz"}, "branches"),
        ({"branches": ""}, "branches"),
        ({"branches": "ca+ca"}, "branches"),
        ({"tau": 0}, "tau"),
        ({"tau": -1.0}, "tau"),
        ({"lsa_groups": 3}, "lsa_groups"),  # hidden 32
        ({"lsa_groups": 0}, "lsa_groups"),
        ({"gsa_groups": 5}, "gsa_groups"),
        ({"lsa_dilation": 0}, "lsa_dilation"),
        ({"reduction": 0}, "reduction"),
    ],
    ids=str,
)
def test_invalid_options_are_named(options, name):
    with pytest.raises(ValueError, match=name):
        build_attention("ba2m", C, **options)


def test_whole_module_passes_gradcheck_in_float64():
    """The batch softmax keeps float64 inputs in float64 (it only lifts lower precisions)."""
    m = build_attention("ba2m", 8, min_channels=4, branches="ca+lsa").double()
    x = torch.randn(3, 8, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))


def saved_shapes(m: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    """Shapes of every tensor autograd saves for the backward pass of m(x) (through
    ``saved_tensors_hooks``: cheap, and independent of profiler output formats)."""
    shapes = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x)
    return shapes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("groups", [1, 2])
def test_the_gsa_keeps_no_attention_matrix(dtype, groups):
    """The reference above builds the (HW x HW) matrix; the module's backward pass must not keep
    it (a non-square map, so that HW x HW is not confused with H x W)."""
    h, w = 5, 7
    x = torch.randn(3, C, h, w, dtype=dtype, requires_grad=True)
    m = build_attention("ba2m", C, gsa_groups=groups).to(dtype).train()
    shapes = saved_shapes(m, x)
    assert len(shapes) > 10  # the hook sees what autograd saves
    assert [s for s in shapes if s[-2:] == (h * w, h * w)] == []
