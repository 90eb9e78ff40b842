"""BA2M's GSA fast path, the projection folded into one-channel values, against its plain path,
``scaled_dot_product_attention`` then the projection (test_ba2m.py checks the plain path against
the explicit (HW x HW) formula).

Both must compute the same function; they differ in the order of the products and in what autograd
keeps for the backward pass, which is checked through the tensors it saves
(``saved_tensors_hooks``): cheap, and independent of profiler output formats.
"""

import pytest
import torch
from tests.attention.reference import randn, randomize

from attnzoo import build_attention
from attnzoo.attention import _ops, _scalar_attention

C, H, W = 64, 5, 7  # a non-square map, so that HW x HW is not confused with H x W


def outputs_and_grads(m: torch.nn.Module, x: torch.Tensor, g: torch.Tensor, fast: bool):
    xg = x.clone().requires_grad_(True)
    with _ops.fast_paths(fast):
        y = m(xg)
    params = [p for _, p in sorted(m.named_parameters())]
    return y, torch.autograd.grad(y, [xg, *params], g)


@pytest.mark.parametrize("options", [{}, {"gsa_groups": 4, "sar": "spatial"}], ids=str)
def test_the_fold_gives_the_plain_outputs_and_gradients(options):
    m = randomize(build_attention("ba2m", C, **options), seed=21).train()
    x, g = randn(4, C, H, W, seed=22), randn(4, C, H, W, seed=23)
    y0, g0 = outputs_and_grads(m, x, g, fast=False)
    y1, g1 = outputs_and_grads(m, x, g, fast=True)
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


def test_the_gsa_folds_with_the_fast_paths_in_eager_cpu_execution_only(monkeypatch):
    calls = []
    monkeypatch.setattr(_scalar_attention, "attend", lambda q, k, v: calls.append(q) or v)
    gsa = build_attention("ba2m", C).gsa
    x = torch.zeros(2, C, H, W)
    with _ops.fast_paths(False):
        gsa(x)
    assert calls == []
    with _ops.fast_paths(True):
        gsa(x)
        assert len(calls) == 1
        assert not _ops.fast_path(x.to("meta"))  # any other device
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
        gsa(x)
    assert len(calls) == 1


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
def test_neither_path_keeps_the_attention_matrix(dtype, groups):
    n, hw = 3, H * W
    x = torch.randn(n, C, H, W, dtype=dtype, requires_grad=True)
    m = build_attention("ba2m", C, gsa_groups=groups).to(dtype).train()
    for fast in (False, True):
        with _ops.fast_paths(fast):
            shapes = saved_shapes(m, x)
        assert len(shapes) > 10  # the hook sees what autograd saves
        assert [s for s in shapes if s[-2:] == (hw, hw)] == [], fast
