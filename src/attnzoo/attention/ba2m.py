"""BA2M / BM: batch-aware attention (Cheng et al., "BA^2M: A Batch Aware Attention Module for Image
Classification", 2021).

The paper released no code and its equations did not survive; this is the project's reconstruction
(docs/ba2m.md), verified against the paper's prose and tables. Three sample-wise branches score each
sample:

    CA  = BN1d(W1 ReLU(W0 GAP(x) + b0) + b1)                                  (N, C, 1, 1)
    LSA = BN(conv1x1_{h->1} ReLU BN conv3x3_{h->h} ReLU BN conv1x1_{C->h}(x))  (N, 1, H, W)
    GSA = BN(conv1x1_{h->1}(softmax(q k^T / sqrt(h/G)) v))                    (N, 1, H, W)

with q, k, v = conv1x1_{C->h}(x) split into G groups, and
h = max(C // reduction, min_channels). The sample-wise attention representation (SAR) is
S = mean_C max(sigmoid(CA), sigmoid(LSA), sigmoid(GSA)); ``sar="sample"`` averages it over (H, W)
to one score per sample, ``sar="spatial"`` keeps the map. The scores of the batch go through a
softmax over the batch dimension, w = softmax(s / tau), and y_i = N * w_i * x_i. The factor N
(``scale="N"``) keeps the mean weight at 1 so that the module can be switched off at inference
without a change of scale; ``scale="none"`` gives the literal y_i = w_i * x_i.

At inference the paper deactivates the module: ``eval_mode="identity"`` (default) returns x,
``eval_mode="batch"`` applies the softmax over the evaluation batch. A batch of one always gets
weight 1, so the module returns its input unchanged (in training too: the softmax over one sample
has no gradient, and its BatchNorm statistics are left as they are).

The GSA runs ``scaled_dot_product_attention``, then its projection W^O: one implementation on
every device; ``attnzoo complexity`` counts its two (HW x HW x h/G) products per group, q k^T and
p v. (A CPU fast path that folded W^O into one-channel values was removed: it saved
nothing measurable of a ResNet-50's training step, docs/benchmarks.md, "Fast paths".)

``sync="global"`` takes the softmax over the batches of all data-parallel processes (scores gathered
with their gradients); it needs an initialised ``torch.distributed`` process group and equal batch
sizes on every process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..validation import AttnzooError
from ._checks import check_choice, check_feature_map, check_positive
from .base import AttentionModule
from .registry import register_attention

BRANCHES = ("ca", "lsa", "gsa")


def _parse_branches(branches: str | Iterable[str]) -> tuple[str, ...]:
    names = branches.replace("+", ",").split(",") if isinstance(branches, str) else branches
    chosen = tuple(name.strip().lower() for name in names)
    if (
        not chosen
        or any(name not in BRANCHES for name in chosen)
        or len(set(chosen)) != len(chosen)
    ):
        raise AttnzooError(
            f"BA2M: branches={branches!r} is not valid; give a non-empty subset of "
            f"{', '.join(BRANCHES)} (e.g. 'ca+gsa')"
        )
    return tuple(name for name in BRANCHES if name in chosen)


def hidden_width(channels: int, reduction: int = 32, min_channels: int = 32) -> int:
    """The branches' hidden width, max(C / r, L), with BA2M's defaults r = L = 32."""
    return max(channels // reduction, min_channels)


class ChannelBranch(nn.Module):
    """CA: SE-style MLP on the pooled features, batch-normalised over the batch."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc0 = nn.Linear(channels, hidden)
        self.fc1 = nn.Linear(hidden, channels)
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean((2, 3))
        return self.bn(self.fc1(torch.relu(self.fc0(pooled))))[:, :, None, None]


class LocalSpatialBranch(nn.Module):
    """LSA: a bottleneck of 1x1, 3x3, 1x1 convolutions down to one map."""

    def __init__(self, channels: int, hidden: int, groups: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(
                hidden, hidden, 3, padding=dilation, dilation=dilation, groups=groups, bias=False
            ),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1, bias=False),
            nn.BatchNorm2d(1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class GlobalSpatialBranch(nn.Module):
    """GSA: multi-head self-attention over the H*W positions, projected to one map.

    q, k and v (h channels each, G groups) come from one 1x1 convolution; each group attends
    through ``scaled_dot_product_attention``, whose fused kernels keep no (HW x HW) matrix, and
    W^O (h -> 1) projects the result to one map.
    """

    def __init__(self, channels: int, hidden: int, groups: int) -> None:
        super().__init__()
        self.groups = groups
        self.qkv = nn.Conv2d(channels, 3 * hidden, 1, bias=False)
        self.proj = nn.Conv2d(hidden, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        # (N, 3h, H, W) -> 3 x (N, G, HW, h/G): tokens are positions, features are channels.
        qkv = self.qkv(x).reshape(n, 3, self.groups, -1, h * w).transpose(-1, -2).contiguous()
        o = F.scaled_dot_product_attention(*qkv.unbind(1))
        return self.bn(self.proj(o.transpose(-1, -2).reshape(n, -1, h, w)))


def mean_of_max(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """mean_c max(a[n, c], b[n, p]) for a: (N, C, 1, 1), b: (N, 1, H, W), as (N, 1, H, W).

    Equal to ``torch.maximum(a, b).mean(1, keepdim=True)`` without building the (N, C, H, W) map:
    with a sorted, the channels below b contribute b each and the rest their own sum.
    """
    n, c = a.shape[:2]
    a_sorted, _ = a.reshape(n, c).sort(dim=1)
    prefix = F.pad(a_sorted.cumsum(1), (1, 0))  # prefix[:, k] = sum of the k smallest
    flat_b = b.reshape(n, -1)
    below = torch.searchsorted(a_sorted.detach().contiguous(), flat_b.detach().contiguous())
    above_sum = prefix[:, -1:] - prefix.gather(1, below)
    return ((flat_b * below + above_sum) / c).reshape(b.shape)


@register_attention("ba2m")
class BA2M(AttentionModule):
    default_placement = "stage"
    option_help: ClassVar[dict[str, str]] = {
        "reduction": "r, the ratio of C to the hidden width h",
        "min_channels": "L, the smallest hidden width",
        "branches": "the branches used, e.g. 'ca+gsa' (Table IX's ablation)",
        "sar": "'sample': one score per sample; 'spatial': one per position",
        "scale": "'N': weights N w (mean 1); 'none': the literal w",
        "tau": "the temperature of the batch softmax",
        "eval_mode": "'identity': return x in evaluation; 'batch': the softmax over the "
        "evaluation batch",
        "sync": "'local': softmax over each process's batch; 'global': over all data-parallel "
        "processes",
        "lsa_groups": "groups of the LSA's 3x3 convolution",
        "lsa_dilation": "dilation of the LSA's 3x3 convolution",
        "gsa_groups": "G, the attention groups of the GSA (must divide h)",
    }

    def __init__(
        self,
        channels: int,
        reduction: int = 32,
        min_channels: int = 32,
        branches: str | Iterable[str] = BRANCHES,
        sar: str = "sample",
        scale: str = "N",
        tau: float = 1.0,
        eval_mode: str = "identity",
        sync: str = "local",
        lsa_groups: int = 1,
        lsa_dilation: int = 1,
        gsa_groups: int = 1,
    ) -> None:
        super().__init__()
        check_positive("BA2M", "reduction", reduction)
        check_positive("BA2M", "tau", tau)
        check_choice("BA2M", "sar", sar, ("sample", "spatial"))
        check_choice("BA2M", "scale", scale, ("N", "none"))
        check_choice("BA2M", "eval_mode", eval_mode, ("identity", "batch"))
        check_choice("BA2M", "sync", sync, ("local", "global"))
        hidden = hidden_width(channels, reduction, min_channels)
        for option, groups in (("lsa_groups", lsa_groups), ("gsa_groups", gsa_groups)):
            if groups < 1 or hidden % groups:
                raise AttnzooError(
                    f"BA2M: {option}={groups!r} must divide the hidden width {hidden}"
                )
        check_positive("BA2M", "lsa_dilation", lsa_dilation)
        self.channels = channels
        self.branches = _parse_branches(branches)
        self.sar, self.scale, self.tau = sar, scale, tau
        self.eval_mode, self.sync = eval_mode, sync
        self.ca = ChannelBranch(channels, hidden) if "ca" in self.branches else None
        self.lsa = (
            LocalSpatialBranch(channels, hidden, lsa_groups, lsa_dilation)
            if "lsa" in self.branches
            else None
        )
        self.gsa = (
            GlobalSpatialBranch(channels, hidden, gsa_groups) if "gsa" in self.branches else None
        )

    def identity_at_inference(self) -> bool:
        """Whether the eval-mode forward returns its input unchanged, so that
        :func:`attnzoo.deploy` can drop the module (``eval_mode="identity"``)."""
        return self.eval_mode == "identity"

    def attention_representation(self, x: torch.Tensor) -> torch.Tensor:
        """The SAR: one score per sample (N, 1, 1, 1), or per position (N, 1, H, W) if spatial."""
        spatial = [
            torch.sigmoid(branch(x)) for branch in (self.lsa, self.gsa) if branch is not None
        ]
        b = torch.stack(spatial).amax(0) if spatial else None
        if self.ca is None:
            s = b
        elif b is None:
            s = torch.sigmoid(self.ca(x)).mean(1, keepdim=True)
        else:
            s = mean_of_max(torch.sigmoid(self.ca(x)), b)
        return s.mean((2, 3), keepdim=True) if self.sar == "sample" else s

    def batch_weights(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample multipliers: N * softmax over the batch (no N if scale="none")."""
        # The softmax over the batch runs in at least float32, also under autocast.
        s = self.attention_representation(x)
        s = s.to(torch.promote_types(s.dtype, torch.float32)) / self.tau
        if self.sync == "global":
            return self._global_weights(s)
        w = torch.softmax(s, dim=0)
        return w * s.shape[0] if self.scale == "N" else w

    def _global_weights(self, s: torch.Tensor) -> torch.Tensor:
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(
                "BA2M: sync='global' needs an initialised torch.distributed process group "
                "(launch with torchrun); use sync='local' for single-process training"
            )
        from torch.distributed.nn.functional import all_gather  # keeps gradients across ranks

        gathered = all_gather(s)
        if any(g.shape != s.shape for g in gathered):
            raise RuntimeError("BA2M: sync='global' needs the same batch size on every process")
        w = torch.softmax(torch.cat(gathered), dim=0)
        rank, n = dist.get_rank(), s.shape[0]
        w = w[rank * n : (rank + 1) * n]
        return w * (n * len(gathered)) if self.scale == "N" else w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("BA2M", x, self.channels)
        if not self.training and self.eval_mode == "identity":
            return x
        if x.shape[0] == 1 and self.sync == "local":
            return x
        return x * self.batch_weights(x).to(x.dtype)
