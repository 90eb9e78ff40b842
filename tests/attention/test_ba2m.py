"""BA2M against a reference written from the reconstruction in METHODS.md / docs/ba2m.md."""

import itertools
import math

import pytest
import torch
from tests.attention.reference import assert_close, bn, conv, linear, randomize

from attnzoo import build_attention
from attnzoo.attention.ba2m import mean_of_max

torch.manual_seed(0)
C = 64
X = torch.randn(6, C, 5, 7, dtype=torch.float64)


def reference(m, x, *, branches, sar="sample", scale="N", tau=1.0, groups=1, training=True):
    """Materialises every intermediate: explicit attention matrix and (N, C, H, W) max map."""
    n, _, h, w = x.shape
    maps = []
    if "ca" in branches:
        ca = m.ca
        a = bn(linear(torch.relu(linear(x.mean((2, 3)), ca.fc0)), ca.fc1), ca.bn, training)
        maps.append(torch.sigmoid(a)[:, :, None, None].expand_as(x))
    if "lsa" in branches:
        c1, b1, _, c2, b2, _, c3, b3 = m.lsa.body
        y = torch.relu(bn(conv(x, c1), b1, training))
        y = torch.relu(bn(conv(y, c2), b2, training))
        maps.append(torch.sigmoid(bn(conv(y, c3), b3, training)).expand_as(x))
    if "gsa" in branches:
        q, k, v = conv(x, m.gsa.qkv).chunk(3, dim=1)
        d = q.shape[1] // groups
        tokens = lambda t: t.reshape(n, groups, d, h * w).transpose(2, 3)  # noqa: E731
        attn = torch.softmax(tokens(q) @ tokens(k).transpose(2, 3) / math.sqrt(d), dim=-1)
        o = (attn @ tokens(v)).transpose(2, 3).reshape(n, groups * d, h, w)
        maps.append(torch.sigmoid(bn(conv(o, m.gsa.proj), m.gsa.bn, training)).expand_as(x))
    s = torch.stack(maps).amax(0).mean(1, keepdim=True)  # (N, 1, H, W)
    if sar == "sample":
        s = s.mean((2, 3), keepdim=True)
    weights = torch.softmax(s / tau, dim=0) * (n if scale == "N" else 1)
    return x * weights


ALL = ("ca", "lsa", "gsa")
SUBSETS = [c for r in (1, 2, 3) for c in itertools.combinations(ALL, r)]


@pytest.mark.parametrize("branches", SUBSETS, ids=lambda b: "+".join(b))
def test_every_branch_subset_matches_reference(branches):
    m = randomize(build_attention("ba2m", C, branches="+".join(branches)))
    for name in ALL:
        assert (getattr(m, name) is not None) == (name in branches)
    assert_close(m(X), reference(m, X, branches=branches))


@pytest.mark.parametrize(
    "options",
    [
        {"sar": "spatial"},
        {"scale": "none"},
        {"tau": 0.5},
        {"gsa_groups": 4},
        {"lsa_groups": 2, "lsa_dilation": 2},
        {"reduction": 4, "min_channels": 8},
        {"sar": "spatial", "scale": "none", "tau": 2.0},
    ],
)
def test_options_match_reference(options):
    m = randomize(build_attention("ba2m", C, **options))
    keys = {k: options[k] for k in ("sar", "scale", "tau") if k in options}
    expected = reference(m, X, branches=ALL, groups=options.get("gsa_groups", 1), **keys)
    assert_close(m(X), expected)


def test_hidden_width():
    assert build_attention("ba2m", 2048).ca.fc0.out_features == 64  # C // 32
    assert build_attention("ba2m", 256).ca.fc0.out_features == 32  # at least 32
    m = build_attention("ba2m", 64, reduction=4, min_channels=8)
    assert m.ca.fc0.out_features == 16 and m.gsa.qkv.out_channels == 48
    assert m.lsa.body[3].dilation == (1, 1) and m.lsa.body[3].groups == 1


def test_eval_mode_with_running_statistics():
    m = randomize(build_attention("ba2m", C, eval_mode="batch")).eval()
    assert_close(m(X), reference(m, X, branches=ALL, training=False))


@pytest.mark.parametrize("sar", ["sample", "spatial"])
def test_weights_average_to_one(sar):
    m = randomize(build_attention("ba2m", C, sar=sar))
    w = m.batch_weights(X)
    assert_close(w.mean(0), torch.ones_like(w.mean(0), dtype=torch.float32))
    w_none = randomize(build_attention("ba2m", C, sar=sar, scale="none")).batch_weights(X)
    assert_close(w_none.sum(0), torch.ones_like(w_none.sum(0)))
    assert w.dtype == torch.float32 and w.std() > 0


def test_batch_of_one_is_identity():
    train = randomize(build_attention("ba2m", C))
    assert torch.equal(train(X[:1]), X[:1])
    evaluating = randomize(build_attention("ba2m", C, eval_mode="batch")).eval()
    assert_close(evaluating(X[:1]), X[:1])


def test_eval_mode_is_identity_by_default():
    m = randomize(build_attention("ba2m", C)).eval()
    assert torch.equal(m(X), X)
    batch = randomize(build_attention("ba2m", C, eval_mode="batch")).eval()
    assert not torch.allclose(batch(X), X)


def test_permuting_the_batch_permutes_the_output():
    m = randomize(build_attention("ba2m", C, sar="spatial"))
    perm = torch.randperm(len(X))
    assert_close(m(X[perm]), m(X)[perm])


def test_gradients_reach_every_branch():
    m = randomize(build_attention("ba2m", C))
    (m(X) * torch.randn_like(X)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_mean_of_max_matches_materialised_form_and_gradcheck():
    a = torch.rand(3, 10, 1, 1, dtype=torch.float64, requires_grad=True)
    b = torch.rand(3, 1, 4, 5, dtype=torch.float64, requires_grad=True)
    assert_close(mean_of_max(a, b), torch.maximum(a, b).mean(1, keepdim=True))
    assert torch.autograd.gradcheck(mean_of_max, (a, b))


def test_weights_are_float32_under_autocast():
    m = build_attention("ba2m", C)
    x = torch.randn(4, C, 6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        w = m.batch_weights(x)
        y = m(x)
    assert w.dtype == torch.float32 and torch.isfinite(y.float()).all()


def test_global_sync_needs_a_process_group():
    m = build_attention("ba2m", C, sync="global")
    with pytest.raises(RuntimeError, match="process group"):
        m(torch.randn(4, C, 4, 4))


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"sar": "foo"}, "sar"),
        ({"scale": "batch"}, "scale"),
        ({"eval_mode": "off"}, "eval_mode"),
        ({"sync": "all"}, "sync"),
        ({"branches": "xyz"}, "branches"),
        ({"branches": ""}, "branches"),
        ({"tau": 0}, "tau"),
        ({"lsa_groups": 3}, "lsa_groups"),
        ({"gsa_groups": 5}, "gsa_groups"),
    ],
)
def test_invalid_options(options, name):
    with pytest.raises(ValueError, match=name):
        build_attention("ba2m", C, **options)
