"""Softmax attention whose values have one channel, computed block by block.

``attend(q, k, v)`` returns ``softmax(q^T k / sqrt(d)) v^T`` for queries and keys of d channels
and a value of one channel, laid out channels-first as convolutions produce them: q, k (B, d, L),
v (B, 1, L), output (B, 1, L). BA2M's GSA projects its attention output to one map, so with the
projection folded into the values (W^O W_v) its attention is of this kind, and so costs two of
the four (L x L x d) matrix products of the forward pass and three of the five of the backward.

A fused kernel for it does not exist in PyTorch: ``scaled_dot_product_attention`` with a value
narrower than its keys takes the math path on the CPU, which keeps the (B, L, L) softmax for the
backward pass. Here the (L x L) scores are built for a block of rows at a time, at most
:data:`BLOCK` elements, and rebuilt in the backward pass, so memory stays O(B d L), as in flash
attention. With p the softmax and o the
output, the gradient of the scores is p_ij g_i (v_j - o_i): it needs o, which is saved, and no
product with the value as a matrix. The loop over blocks runs in Python, which costs about
10 us a block: it suits eager execution on the CPU, where BA2M uses it; on GPUs and under
``torch.compile``, BA2M runs ``scaled_dot_product_attention`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

# Elements of one block of scores: 2 MiB in float32. On the project's 2-core CPU, at one thread,
# the fastest of 2^18 to 2^20 at both 1024 positions (CIFAR stage 1) and 3136 (ImageNet 56x56).
BLOCK = 1 << 19


def _blocks(b: int, length: int) -> Iterator[tuple[slice, slice]]:
    """(batch, row) slices covering b x length rows: the same rows of as many samples as there are
    threads (matrix products split a batch between threads), each sample's share of a block at
    most BLOCK elements of scores (or one row, if a row is longer)."""
    rows = max(1, min(length, BLOCK // length))
    batch = max(1, BLOCK * torch.get_num_threads() // (rows * length))
    for i in range(0, b, batch):
        for r in range(0, length, rows):
            yield slice(i, i + batch), slice(r, r + rows)


def _probabilities(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """softmax over keys of (already scaled) q^T k: (b, d, rows), (b, d, L) -> (b, rows, L)."""
    return torch.softmax(torch.bmm(q.transpose(1, 2), k), dim=-1)


class _Attend(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> torch.Tensor:
        q = q * q.shape[1] ** -0.5
        o = q.new_empty(v.shape)
        for b, r in _blocks(q.shape[0], q.shape[2]):
            torch.bmm(v[b], _probabilities(q[b, :, r], k[b]).transpose(1, 2), out=o[b, :, r])
        ctx.save_for_backward(q, k, v, o)
        return o

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        q, k, v, o = ctx.saved_tensors  # q already scaled
        grad_q, grad_k, grad_v = torch.empty_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for b, r in _blocks(q.shape[0], q.shape[2]):
            p = _probabilities(q[b, :, r], k[b])
            g = grad[b, :, r]
            grad_v[b].baddbmm_(g, p)
            # dS_ij = p_ij g_i (v_j - o_i), built in p's memory.
            ds = p.mul_(v[b] - o[b, :, r].transpose(1, 2)).mul_(g.transpose(1, 2))
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
