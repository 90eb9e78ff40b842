"""BA2M's ``gsa_impl``: the explicit (HW x HW) attention matrix against SDPA.

Both must compute the same function; they differ only in what autograd keeps for the backward pass,
which is checked through the tensors it saves (``saved_tensors_hooks``): cheap, and independent of
profiler output formats.
"""

import pytest
import torch
from tests.attention.reference import randn, randomize

from attnzoo import build_attention

C, H, W = 64, 5, 7  # a non-square map, so that HW x HW is not confused with H x W


def ba2m(impl: str, **options) -> torch.nn.Module:
    return randomize(build_attention("ba2m", C, gsa_impl=impl, **options), seed=21).train()


@pytest.mark.parametrize("options", [{}, {"gsa_groups": 4, "sar": "spatial"}], ids=str)
def test_both_impls_give_the_same_outputs_and_gradients(options):
    sdpa, explicit = ba2m("sdpa", **options), ba2m("explicit", **options)
    x = randn(4, C, H, W, seed=22)
    g = randn(4, C, H, W, seed=23)
    results = []
    for m in (sdpa, explicit):
        xg = x.clone().requires_grad_(True)
        y = m(xg)
        params = [p for _, p in sorted(m.named_parameters())]
        grads = torch.autograd.grad(y, [xg, *params], g)
        results.append((y, grads))
    (y0, g0), (y1, g1) = results
    torch.testing.assert_close(y1, y0, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(y0, x)  # the weighting is not trivial
    for a, b in zip(g1, g0, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert g0[0].abs().sum() > 0


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
    for impl in ("sdpa", "explicit"):
        m = build_attention("ba2m", C, gsa_impl=impl, gsa_groups=groups).to(dtype).train()
        kept[impl] = [s for s in saved_shapes(m, x) if s[-2:] == (hw, hw)]
    assert (n, groups, hw, hw) in kept["explicit"]  # the softmax output (and matmul's view of it)
    assert kept["sdpa"] == []


def test_gsa_impl_is_validated():
    with pytest.raises(ValueError, match="gsa_impl"):
        build_attention("ba2m", C, gsa_impl="flash")
    assert build_attention("ba2m", C).gsa.impl == "sdpa"
