"""Softmax attention whose values have one channel, computed block by block.

``attend(q, k, v)`` returns ``softmax(q^T k / sqrt(d)) v^T`` for queries and keys of d channels
and a value of one channel, laid out channels-first as convolutions produce them: q, k (B, d, L),
v (B, 1, L), output (B, 1, L). BA2M's GSA projects its attention output to one map, so with the
projection folded into the values (W^O W_v) its attention is of this kind: of the (L x L x d)
matrix products of attention with d value channels it keeps one of the two of the forward pass
(q^T k) and three of the five of a recomputing backward pass (q^T k again, and the gradients of
q and k); those with the value shrink to (L x L x 1).

A fused kernel for it does not exist in PyTorch: ``scaled_dot_product_attention`` with a value
narrower than its keys takes the math path on the CPU, which keeps the (B, L, L) softmax for the
backward pass. Here the (L x L) scores are built for a block of rows at a time, at most
:data:`BLOCK` elements per sample, in buffers reused from block to block, and rebuilt in the
backward pass, so memory stays O(B d L), as in flash attention. With p the softmax and o the
output, the gradient of the scores is p_ij g_i (v_j - o_i): it needs o, which is saved, and no
product with the value as a matrix. The loop over blocks runs in Python (at one thread, 64
blocks a pass for CIFAR stage 1 at batch 32, 304 for ImageNet's 56x56 at batch 16): it suits
eager execution on the CPU, where BA2M uses it; on GPUs and under ``torch.compile``, BA2M runs
``scaled_dot_product_attention`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

# Elements of one block of scores: 2 MiB in float32. On the project's 2-core CPU, at one thread,
# the fastest of 2^18 to 2^20 at both 1024 positions (CIFAR stage 1) and 3136 (ImageNet 56x56).
BLOCK = 1 << 19


class _Workspace:
    """The blocks of a pass over (B, d, L) inputs: their (batch, row) slices, with views of
    ``count`` buffers of scores allocated once per pass (a fresh multi-MiB tensor per block would
    fault its pages in anew each time). A block holds the same rows of as many samples as there
    are threads (matrix products split a batch between threads), each sample's share at most
    BLOCK elements of scores (or one row, if a row is longer)."""

    def __init__(self, like: torch.Tensor, count: int) -> None:
        self.n, self.length = like.shape[0], like.shape[2]
        self.rows = max(1, min(self.length, BLOCK // self.length))
        samples = BLOCK * torch.get_num_threads() // (self.rows * self.length)
        self.batch = min(self.n, max(1, samples))
        size = self.batch * self.rows * self.length
        self.buffers = [like.new_empty(size) for _ in range(count)]

    def __iter__(self) -> Iterator[tuple[slice, slice, list[torch.Tensor]]]:
        for i in range(0, self.n, self.batch):
            for r in range(0, self.length, self.rows):
                nb, nr = min(self.batch, self.n - i), min(self.rows, self.length - r)
                shape = (nb, nr, self.length)
                views = [buf[: nb * nr * self.length].view(shape) for buf in self.buffers]
                yield slice(i, i + nb), slice(r, r + nr), views


def _probabilities(q: torch.Tensor, k: torch.Tensor, out: torch.Tensor) -> None:
    """softmax over keys of (already scaled) q^T k, written into ``out``: (b, d, rows), (b, d, L)
    -> (b, rows, L). ATen's softmax may write over its input (it reads each row's maximum first,
    then writes the row); ``torch.softmax`` has no ``out=``."""
    torch.bmm(q.transpose(1, 2), k, out=out)
    torch.ops.aten._softmax.out(out, -1, False, out=out)


class _Attend(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        q = q * q.shape[1] ** -0.5
        o = q.new_empty(v.shape)
        for b, r, (p,) in _Workspace(q, 1):
            _probabilities(q[b, :, r], k[b], p)
            torch.bmm(v[b], p.transpose(1, 2), out=o[b, :, r])
        ctx.save_for_backward(q, k, v, o)
        return o

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        q, k, v, o = ctx.saved_tensors  # q already scaled
        grad_q, grad_k, grad_v = torch.empty_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for b, r, (p, diff) in _Workspace(q, 2):
            _probabilities(q[b, :, r], k[b], p)
            g = grad[b, :, r]
            grad_v[b].baddbmm_(g, p)
            # dS_ij = p_ij g_i (v_j - o_i), built in p's memory.
            torch.sub(v[b], o[b, :, r].transpose(1, 2), out=diff)
            ds = p.mul_(diff).mul_(g.transpose(1, 2))
            torch.bmm(k[b], ds.transpose(1, 2), out=grad_q[b, :, r])
            grad_k[b].baddbmm_(q[b, :, r], ds)
        return grad_q.mul_(q.shape[1] ** -0.5), grad_k, grad_v


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q^T k / sqrt(d)) v^T for q, k (B, d, L) and v (B, 1, L), as (B, 1, L).

    Computed in at least float32 with autocast off (the softmax's sums are long), returned in
    q's dtype. Backward: once-differentiable.
    """
    dtype = torch.promote_types(q.dtype, torch.float32)
    with torch.autocast(q.device.type, enabled=False):
        o = _Attend.apply(q.to(dtype), k.to(dtype), v.to(dtype))
    return o.to(q.dtype)
