"""attention/_ops.py, the fast paths, against the plain path they replace: same values, same
gradients, functions and modules; and the one switch that chooses between them."""

import pytest
import torch
from tests.attention.reference import assert_close, randn, randomize
from torch.profiler import ProfilerActivity, profile

from attnzoo import build_attention
from attnzoo.attention import _ops

N, C, H, W = 3, 4, 5, 6
FAST = ("cbam", "spem")  # the modules with fast paths in _ops


@pytest.fixture(autouse=True)
def _fast_paths():
    """On here (conftest.py turns them off for the other attention tests)."""
    with _ops.fast_paths(True):
        yield


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


def test_without_autograd_the_plain_operators_run(monkeypatch):
    """Inference never enters the autograd functions, so exporters that cannot trace them
    (TorchScript) see plain operators."""

    def refuse(*args):
        raise AssertionError("an autograd function ran without autograd")

    for function in (_ops._Scale, _ops._Extremum):
        monkeypatch.setattr(function, "apply", refuse)
    x, a = randn(N, C, H, W, seed=16), randn(N, C, 1, 1, seed=17)
    assert_close(_ops.scale(x, a), x * a)  # nothing requires grad
    x.requires_grad_()
    with torch.no_grad():
        assert_close(_ops.amax(x, (2, 3)), x.amax((2, 3), keepdim=True))
        assert_close(_ops.amin(x, (1,)), x.amin(1, keepdim=True))


def _every_op(x, gate):
    """All of _ops in one expression, so that one gradient covers every function."""
    y = _ops.scale(x, gate)
    return y + _ops.amax(y, (2, 3)) + _ops.amin(y, (1,)) + _ops.mean(y, (2, 3))


@pytest.mark.parametrize("why", ["switched_off", "compiling"])
def test_plain_path_when_switched_off_and_under_compile_gives_the_same_numbers(why, monkeypatch):
    """With the switch off and under torch.compile the functions take autograd's plain
    operators; values and gradients are those of the fast path."""
    inputs = [randn(N, C, H, W, seed=19), randn(N, C, 1, 1, seed=20)]
    y_fast, g_fast = grads(_every_op, inputs)

    def refuse(*args):
        raise AssertionError("an autograd function ran on the plain path")

    for function in (_ops._Scale, _ops._Extremum):
        monkeypatch.setattr(function, "apply", refuse)
    if why == "switched_off":
        monkeypatch.setattr(_ops, "_fast_paths", False)
    else:
        monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    y_plain, g_plain = grads(_every_op, inputs)
    assert_close(y_plain, y_fast)
    for got, want in zip(g_plain, g_fast, strict=True):
        assert_close(got, want)


@pytest.mark.parametrize("name", FAST)
def test_a_module_s_fast_path_gives_its_plain_outputs_and_gradients(name):
    m = randomize(build_attention(name, C), seed=23).train()
    x, g = randn(N, C, H, W, seed=24), randn(N, C, H, W, seed=25)
    params = [p for _, p in sorted(m.named_parameters())]
    results = []
    for fast in (True, False):
        xg = x.clone().requires_grad_()
        with _ops.fast_paths(fast):
            y = m(xg)
        results.append((y, torch.autograd.grad(y, [xg, *params], g)))
    (y_fast, g_fast), (y_plain, g_plain) = results
    assert_close(y_fast, y_plain)
    for a, b in zip(g_fast, g_plain, strict=True):
        assert_close(a, b)
    assert g_plain[0].abs().sum() > 0


def test_the_switch_and_its_environment_variable(monkeypatch):
    assert _ops.set_fast_paths(False) is True and not _ops.fast_paths_enabled()
    assert not _ops.fast_path(torch.zeros(1))
    assert _ops.set_fast_paths(True) is False and _ops.fast_path(torch.zeros(1))
    for value, expected in (("0", False), ("1", True)):
        monkeypatch.setenv("ATTNZOO_FAST_PATHS", value)
        assert _ops._from_environment() is expected
    with monkeypatch.context() as patch:
        patch.setenv("ATTNZOO_FAST_PATHS", "yes")
        patch.setattr(_ops, "_fast_paths", None)  # not read yet
        with pytest.raises(ValueError, match="ATTNZOO_FAST_PATHS must be 0 or 1, got 'yes'"):
            build_attention("cbam", C)(randn(N, C, H, W, seed=26).requires_grad_())


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


# With the fast paths off (autograd's formulas): CBAM 12, SPEM 10.
@pytest.mark.parametrize(("name", "most"), [("cbam", 6), ("spem", 4)])
def test_full_size_allocations_per_training_pass(name, most):
    allocations = full_size_allocations(
        build_attention(name, 256).train(), torch.randn(4, 256, 6, 6)
    )
    assert len(allocations) <= most, allocations
    with _ops.fast_paths(False):
        plain = full_size_allocations(build_attention(name, 256).train(), torch.randn(4, 256, 6, 6))
    assert len(plain) > len(allocations), plain
