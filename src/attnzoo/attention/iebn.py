"""Instance-enhancement batch normalisation (Liang, Huang, Liang, Yang, "Instance Enhancement Batch
Normalization: an Adaptive Regulator of Batch Noise", AAAI 2020).

BatchNorm whose affine scale is rescaled per sample and channel by a gate on the input's mean:

    y = BN_no_affine(x) * (gamma * sigmoid(w * GAP(x) + b)) + beta

with per-channel gamma = 1, beta = 0, w = 0, b = -1 at initialisation (so the scale starts at
sigmoid(-1) gamma, about 0.27 gamma), as the authors' code (gbup-group/IEBN,
``models/cifar/iebn_resnet.py``); SPEM's per-channel linear gate comes from here. The running
statistics, ``eps`` and ``momentum`` behave as ``nn.BatchNorm2d``'s, under the same names.

IEBN is a normalisation layer, meant to *replace* BatchNorm: :func:`replace_batchnorm` swaps every
``nn.BatchNorm2d`` of a model for an IEBN with its statistics and affine parameters. The authors
replace the BNs of the stem and of every block but keep plain BN on projection shortcuts; in an
attnzoo ResNet that is ``replace_batchnorm(model, lambda name, bn: "shortcut" not in name)``.
Registered as ``"iebn"`` too, so ``create_model(..., attention="iebn")`` builds, but there it
normalises the block's already normalised output a second time: not the paper's network.

Deviations: the parameters have shape (C,) as BatchNorm's, not the code's (1, C, 1, 1), so a
BatchNorm's state dict loads into an IEBN (``strict=False``: the gate is new); and IEBN is a
plain ``nn.Module``, not a ``_BatchNorm`` subclass, so ``nn.SyncBatchNorm.convert_sync_batchnorm``
cannot silently turn it back into a gateless BatchNorm (under DDP its statistics stay per process).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_feature_map, check_momentum, check_positive, check_train_positions
from .base import AttentionModule
from .registry import register_attention


@register_attention("iebn")
class IEBN(AttentionModule):
    option_help: ClassVar[dict[str, str]] = {
        "eps": "added to the variance, as nn.BatchNorm2d's",
        "momentum": "as nn.BatchNorm2d's (None: cumulative average)",
        "track_running_stats": "keep running statistics for evaluation (False: batch "
        "statistics always), as nn.BatchNorm2d's",
    }

    def __init__(
        self,
        channels: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        check_positive("IEBN", "eps", eps)
        check_momentum("IEBN", "momentum", momentum)
        self.channels, self.eps, self.momentum = channels, eps, momentum
        self.track_running_stats = track_running_stats
        self.weight = nn.Parameter(torch.ones(channels))  # gamma
        self.bias = nn.Parameter(torch.zeros(channels))  # beta
        self.gate_weight = nn.Parameter(torch.zeros(channels))  # the code's weight_readjust
        self.gate_bias = nn.Parameter(torch.full((channels,), -1.0))  # the code's bias_readjust
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(channels))
            self.register_buffer("running_var", torch.ones(channels))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("IEBN", x, self.channels)
        check_train_positions("IEBN", x, self.training, "it is a batch normalisation")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average, as nn.BatchNorm2d
                factor = 1.0 / float(self.num_batches_tracked)
        x_hat = F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            None,
            None,
            self.training or self.running_mean is None,
            factor,
            self.eps,
        )

        def per_channel(t: torch.Tensor) -> torch.Tensor:
            return t.view(1, -1, 1, 1)

        z = x.mean((2, 3), keepdim=True)  # the gate reads the input, not the normalised map
        gate = torch.sigmoid(per_channel(self.gate_weight) * z + per_channel(self.gate_bias))
        return x_hat * (per_channel(self.weight) * gate) + per_channel(self.bias)

    @classmethod
    def from_batchnorm(cls, bn: nn.BatchNorm2d) -> IEBN:
        """An IEBN with ``bn``'s settings, mode, statistics and affine parameters (gamma = 1,
        beta = 0 if it has none), on its device and in its dtype; the gate starts as in
        ``__init__``, so the output is not ``bn``'s: its scale starts at about 0.27 gamma."""
        iebn = cls(bn.num_features, bn.eps, bn.momentum, bn.track_running_stats)
        like = next((t for t in (bn.weight, bn.running_mean) if t is not None), None)
        if like is not None:
            iebn.to(device=like.device, dtype=like.dtype)
        iebn.load_state_dict(bn.state_dict(), strict=False)  # the gate is not in bn's state
        return iebn.train(bn.training)


def replace_batchnorm(
    model: nn.Module, include: Callable[[str, nn.BatchNorm2d], bool] | None = None
) -> nn.Module:
    """Swap every ``nn.BatchNorm2d`` of ``model`` (in place) for :meth:`IEBN.from_batchnorm`.

    ``include(name, bn)``, given the module's qualified name, chooses which ones (all by default,
    BatchNorms inside attention modules included). Returns ``model`` (an IEBN if ``model`` is itself
    a BatchNorm). A BatchNorm shared by several parents becomes one shared IEBN. Build the optimiser
    afterwards: the parameters are new.
    """
    if isinstance(model, nn.BatchNorm2d) and (include is None or include("", model)):
        return IEBN.from_batchnorm(model)
    swapped: dict[int, IEBN] = {}
    for name, parent in list(model.named_modules()):
        # _modules, not named_children(): that one skips a repeated child of the same parent.
        for child_name, child in list(parent._modules.items()):
            full = f"{name}.{child_name}" if name else child_name
            if not isinstance(child, nn.BatchNorm2d) or (include and not include(full, child)):
                continue
            if id(child) not in swapped:
                swapped[id(child)] = IEBN.from_batchnorm(child)
            setattr(parent, child_name, swapped[id(child)])
    return model
