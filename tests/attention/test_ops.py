"""attention/_ops.py against the autograd formulas it replaces: same values, same gradients."""

import pytest
import torch
from tests.attention.reference import assert_close, randn
from torch.profiler import ProfilerActivity, profile

from attnzoo import build_attention
from attnzoo.attention import _ops

N, C, H, W = 3, 4, 5, 6


def grads(fn, inputs, seed=0):
    """Output and gradients of fn(*inputs) for a fixed random upstream gradient."""
    inputs = [t.detach().clone().requires_grad_() for t in inputs]
    y = fn(*inputs)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return y, torch.autograd.grad(y, inputs, g)


@pytest.mark.parametrize(
    "gate_shape", [(N, C, 1, 1), (N, 1, H, W), (N, 1, 1, 1), (N, C, H, W)], ids=str
)
def test_scale_matches_mul(gate_shape):
    # The full-size gate is the case where the product must not be reused for grad_x.
    x, gate = randn(N, C, H, W, seed=1), randn(*gate_shape, seed=2)
    y, (gx, gg) = grads(_ops.scale, [x, gate])
    y_ref, (gx_ref, gg_ref) = grads(torch.mul, [x, gate])
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    assert_close(gg, gg_ref)
    assert torch.autograd.gradcheck(_ops.scale, (x.requires_grad_(), gate.requires_grad_()))


@pytest.mark.parametrize("needs", [(True, False), (False, True)], ids=["x", "gate"])
def test_scale_with_one_input_requiring_grad(needs):
    x, gate = randn(N, C, H, W, seed=3), randn(N, C, 1, 1, seed=4)
    for t, need in zip((x, gate), needs, strict=True):
        t.requires_grad_(need)
    g = randn(N, C, H, W, seed=5)
    (got,) = torch.autograd.grad(_ops.scale(x, gate), [x if needs[0] else gate], g)
    (want,) = torch.autograd.grad(x * gate, [x if needs[0] else gate], g)
    assert_close(got, want)


def test_scale_gives_each_input_its_own_dtype():
    x = randn(N, C, H, W, seed=6).float().requires_grad_()
    gate = randn(N, C, 1, 1, seed=7).requires_grad_()
    y = _ops.scale(x, gate)
    assert y.dtype == torch.float64
    y.sum().backward()
    assert x.grad.dtype == torch.float32 and gate.grad.dtype == torch.float64
    torch.testing.assert_close(x.grad, gate.expand_as(x).float().detach())


@pytest.mark.parametrize("dims", [(2, 3), (1,)], ids=str)
def test_mean_matches_mean(dims):
    x = randn(N, C, H, W, seed=8)
    y, (gx,) = grads(lambda t: _ops.mean(t, dims), [x])
    y_ref, (gx_ref,) = grads(lambda t: t.mean(dims, keepdim=True), [x])
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)


@pytest.mark.parametrize("largest", [True, False], ids=["amax", "amin"])
@pytest.mark.parametrize("dims", [(2, 3), (1,)], ids=str)
def test_extremum_matches_autograd_also_with_ties(largest, dims):
    # Few distinct values: most maxima and minima are tied, and autograd splits their gradient.
    x = torch.randint(0, 3, (N, C, H, W), generator=torch.Generator().manual_seed(9)).double()
    ours = _ops.amax if largest else _ops.amin

    def theirs(t):
        return t.amax(dims, keepdim=True) if largest else t.amin(dims, keepdim=True)

    y, (gx,) = grads(lambda t: ours(t, dims), [x])
    y_ref, (gx_ref,) = grads(theirs, [x])
    assert_close(y, y_ref)
    assert_close(gx, gx_ref)
    assert (gx.abs() > 0).sum() > y.numel()  # there were ties


def test_extremum_counts_ties_exactly_in_bfloat16():
    # 257 is not a bfloat16 number: a count summed in bfloat16 would give 256.
    x = torch.ones(1, 1, 1, 257, dtype=torch.bfloat16, requires_grad=True)
    _ops.amax(x, (2, 3)).sum().backward()
    expected = torch.full_like(x, 1 / 257)
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=0)


def test_second_derivatives_are_refused_not_wrong():
    x = randn(N, C, H, W, seed=10).requires_grad_()
    gate = randn(N, C, 1, 1, seed=11).requires_grad_()
    (gx,) = torch.autograd.grad(_ops.scale(x, gate).sum(), [x], create_graph=True)
    with pytest.raises(RuntimeError):  # d(gx)/d(gate) would be 1, not the 0 of a constant
        gx.sum().backward()


@pytest.mark.parametrize("needs", [(True, True, True), (False, True, False), (True, False, True)])
def test_residual_gate_matches_autograd(needs):
    x, a, b = randn(N, C, H, W, seed=12), randn(N, C, 1, 1, seed=13), randn(N, 1, H, W, seed=14)
    inputs = [t.requires_grad_(need) for t, need in zip((x, a, b), needs, strict=True)]
    wanted = [t for t in inputs if t.requires_grad]
    g = randn(N, C, H, W, seed=15)
    y = _ops.residual_gate(*inputs)
    y_ref = x + x * torch.sigmoid(a + b)
    assert_close(y, y_ref)
    for got, want in zip(
        torch.autograd.grad(y, wanted, g), torch.autograd.grad(y_ref, wanted, g), strict=True
    ):
        assert_close(got, want)


def test_without_autograd_the_plain_operators_run(monkeypatch):
    """Inference never enters the autograd functions, so exporters that cannot trace them
    (TorchScript) see plain operators."""

    def refuse(*args):
        raise AssertionError("an autograd function ran without autograd")

    for function in (_ops._Scale, _ops._Extremum, _ops._ResidualGate):
        monkeypatch.setattr(function, "apply", refuse)
    x, a, b = randn(N, C, H, W, seed=16), randn(N, C, 1, 1, seed=17), randn(N, 1, H, W, seed=18)
    assert_close(_ops.scale(x, a), x * a)  # nothing requires grad
    x.requires_grad_()
    with torch.no_grad():
        assert_close(_ops.amax(x, (2, 3)), x.amax((2, 3), keepdim=True))
        assert_close(_ops.amin(x, (1,)), x.amin(1, keepdim=True))
        assert_close(_ops.residual_gate(x, a, b), x + x * torch.sigmoid(a + b))


def _every_op(x, gate, a, b):
    """All of _ops in one expression, so that one gradient covers every function."""
    y = _ops.scale(x, gate) + _ops.residual_gate(x, a, b)
    return y + _ops.amax(y, (2, 3)) + _ops.amin(y, (1,)) + _ops.mean(y, (2, 3))


@pytest.mark.parametrize("why", ["other_device", "compiling"])
def test_plain_path_off_the_cpu_and_under_compile_gives_the_same_numbers(why, monkeypatch):
    """On a device outside CUSTOM_DEVICES (a GPU) and under torch.compile the functions take
    autograd's plain operators; values and gradients are those of the custom path."""
    inputs = [randn(N, C, H, W, seed=19), randn(N, C, 1, 1, seed=20)]
    inputs += [randn(N, C, 1, 1, seed=21), randn(N, 1, H, W, seed=22)]
    y_custom, g_custom = grads(_every_op, inputs)

    def refuse(*args):
        raise AssertionError("an autograd function ran on the plain path")

    for function in (_ops._Scale, _ops._Extremum, _ops._ResidualGate):
        monkeypatch.setattr(function, "apply", refuse)
    if why == "other_device":
        monkeypatch.setattr(_ops, "CUSTOM_DEVICES", {"cuda"})
    else:
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    y_plain, g_plain = grads(_every_op, inputs)
    assert_close(y_plain, y_custom)
    for got, want in zip(g_plain, g_custom, strict=True):
        assert_close(got, want)


def full_size_allocations(module: torch.nn.Module, x: torch.Tensor) -> list[str]:
    """The operators that allocate a tensor at least as large as ``x`` in a forward and backward
    pass of ``module`` (the profiler's memory events; counts, not timings)."""
    g = torch.randn_like(x)
    x = x.requires_grad_() * 1  # not a leaf: its gradient is passed on, as inside a network
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        torch.autograd.grad(module(x), x, g)
    size = x.numel() * x.element_size()
    big = [e for e in prof.events() if e.name.startswith("aten::") and e.cpu_memory_usage >= size]
    # An operator's allocation also counts in the operators that call it: keep the innermost.
    return [e.name for e in big if not any(c in big for c in e.cpu_children)]


# Before attention/_ops.py (autograd's formulas): SE 4, CBAM 12, SPEM 10, BAM 10, BA2M 6.
@pytest.mark.parametrize(
    ("name", "most"), [("se", 2), ("cbam", 6), ("spem", 4), ("bam", 5), ("ba2m", 4)]
)
def test_full_size_allocations_per_training_pass(name, most):
    # 256 channels: BA2M's hidden width (32) is then narrower than its input, as in a network.
    allocations = full_size_allocations(
        build_attention(name, 256).train(), torch.randn(4, 256, 6, 6)
    )
    assert len(allocations) <= most, allocations
