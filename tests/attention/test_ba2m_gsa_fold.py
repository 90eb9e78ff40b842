"""BA2M's ``gsa_impl``: the projection folded into one-channel values, SDPA, and the explicit
(HW x HW) attention matrix.

All must compute the same function; they differ in the order of the products and in what autograd
keeps for the backward pass, which is checked through the tensors it saves
(``saved_tensors_hooks``): cheap, and independent of profiler output formats.
"""

import pytest
import torch
from tests.attention.reference import randn, randomize

from attnzoo import build_attention
from attnzoo.attention import _scalar_attention
from attnzoo.attention.ba2m import GSA_IMPLS

C, H, W = 64, 5, 7  # a non-square map, so that HW x HW is not confused with H x W


def ba2m(impl: str, **options) -> torch.nn.Module:
    return randomize(build_attention("ba2m", C, gsa_impl=impl, **options), seed=21).train()


def outputs_and_grads(m: torch.nn.Module, x: torch.Tensor, g: torch.Tensor):
    xg = x.clone().requires_grad_(True)
    y = m(xg)
    params = [p for _, p in sorted(m.named_parameters())]
    return y, torch.autograd.grad(y, [xg, *params], g)


@pytest.mark.parametrize("impl", ["auto", "folded", "sdpa"])
@pytest.mark.parametrize("options", [{}, {"gsa_groups": 4, "sar": "spatial"}], ids=str)
def test_every_impl_gives_the_explicit_outputs_and_gradients(impl, options):
    x, g = randn(4, C, H, W, seed=22), randn(4, C, H, W, seed=23)
    y0, g0 = outputs_and_grads(ba2m("explicit", **options), x, g)
    y1, g1 = outputs_and_grads(ba2m(impl, **options), x, g)
    torch.testing.assert_close(y1, y0, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(y0, x)  # the weighting is not trivial
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert g0[0].abs().sum() > 0


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize(
    "block", [2 * (H * W) ** 2, H * W * 4, 1], ids=["2-samples", "4-rows", "1"]
)
def test_folded_attention_is_the_same_in_any_blocks(monkeypatch, block, threads):
    """Blocks of several samples, of a few rows, and of one row (a row longer than the block);
    a block spans as many samples as threads, so 3 threads leave a partial last block."""
    b, d, n = 5, 8, H * W
    q, k, v = randn(b, d, n, seed=24), randn(b, d, n, seed=25), randn(b, 1, n, seed=26)
    g = randn(b, 1, n, seed=27)
    inputs = [t.requires_grad_(True) for t in (q, k, v)]
    p = torch.softmax(q.transpose(1, 2) @ k / d**0.5, dim=-1)
    expected = (p @ v.transpose(1, 2)).transpose(1, 2)
    expected_grads = torch.autograd.grad(expected, inputs, g)
    monkeypatch.setattr(_scalar_attention, "BLOCK", block)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    blocks = [(s, r) for s, r, _ in _scalar_attention._Workspace(q, 1)]
    assert sum((s.stop - s.start) * (r.stop - r.start) for s, r in blocks) == b * n
    out = _scalar_attention.attend(q, k, v)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)
    for a, e in zip(torch.autograd.grad(out, inputs, g), expected_grads, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12)


def test_folded_attention_runs_in_float32_under_autocast():
    q, k, v = (torch.randn(2, 8, 30) for _ in range(3))
    v = v[:, :1]
    expected = _scalar_attention.attend(q, k, v)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = _scalar_attention.attend(q.bfloat16(), k.bfloat16(), v.bfloat16())
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), expected, rtol=2e-2, atol=2e-2)


def test_auto_folds_in_eager_cpu_execution_only(monkeypatch):
    gsa = build_attention("ba2m", C).gsa
    assert gsa.impl == "auto"
    x = torch.zeros(2, C, H, W)
    assert gsa.chosen_impl(x) == "folded"
    assert gsa.chosen_impl(x.to("meta")) == "sdpa"  # any other device
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    assert gsa.chosen_impl(x) == "sdpa"


def saved_shapes(m: torch.nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    """Shapes of every tensor autograd saves for the backward pass of m(x)."""
    shapes = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x)
    return shapes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("groups", [1, 2])
def test_only_the_explicit_impl_keeps_the_attention_matrix(dtype, groups):
    n, hw = 3, H * W
    x = torch.randn(n, C, H, W, dtype=dtype, requires_grad=True)
    kept = {}
    for impl in GSA_IMPLS:
        m = build_attention("ba2m", C, gsa_impl=impl, gsa_groups=groups).to(dtype).train()
        kept[impl] = [s for s in saved_shapes(m, x) if s[-2:] == (hw, hw)]
    assert (n, groups, hw, hw) in kept["explicit"]  # the softmax output (and matmul's view of it)
    assert kept["sdpa"] == kept["folded"] == kept["auto"] == []


def test_gsa_impl_is_validated():
    with pytest.raises(ValueError, match="gsa_impl"):
        build_attention("ba2m", C, gsa_impl="flash")
