"""Frozen BatchNorm for fine-tuning: a pretrained network's normalisation kept as it was learned.

With small fine-tuning batches the batch statistics are noisy, and updating the running ones
drifts them away from those the pretrained weights were trained with; detectors built on
ImageNet backbones (torchvision's, Detectron2's) therefore freeze them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import AttnzooError


class FrozenBatchNorm2d(nn.Module):
    """A BatchNorm2d fixed at its running statistics and affine parameters.

    As ``torchvision.ops.FrozenBatchNorm2d``: it always normalises with the running statistics
    (eval mode whatever ``model.train()`` says) and nothing of it is trained. Deviations: its
    ``weight`` and ``bias`` stay parameters (``requires_grad`` off) rather than buffers, and it
    keeps ``num_batches_tracked``, so that its ``state_dict`` is a BatchNorm2d's: a checkpoint
    loads into the network with plain BatchNorm (``attnzoo eval``), which in eval mode computes
    the same. It computes ``F.batch_norm`` in inference mode, the function BatchNorm2d's eval mode
    calls, not torchvision's folded scale and shift.
    """

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        if not (bn.affine and bn.track_running_stats):
            raise AttnzooError(
                "FrozenBatchNorm2d needs a BatchNorm2d with affine parameters and "
                "running statistics"
            )
        self.num_features, self.eps = bn.num_features, bn.eps
        self.weight, self.bias = bn.weight, bn.bias
        self.weight.requires_grad_(False)
        self.bias.requires_grad_(False)
        self.register_buffer("running_mean", bn.running_mean)
        self.register_buffer("running_var", bn.running_var)
        self.register_buffer("num_batches_tracked", bn.num_batches_tracked)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


def freeze_batchnorm(model: nn.Module, names: set[str] | None = None) -> list[str]:
    """Replace ``model``'s BatchNorm2d layers named in ``names`` (all when None) by
    :class:`FrozenBatchNorm2d`, in place; return the names replaced."""
    frozen = []
    for name, module in list(model.named_modules()):
        if type(module) is nn.BatchNorm2d and (names is None or name in names):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, FrozenBatchNorm2d(module))
            frozen.append(name)
    return frozen


def freeze_pretrained_batchnorm(model: nn.Module) -> list[str]:
    """Freeze the BatchNorm layers whose statistics ``create_model(..., pretrained=...)`` loaded
    (``model.pretrained_report``); the attention modules' new ones keep training."""
    report = getattr(model, "pretrained_report", None)
    if report is None:
        raise AttnzooError("freeze_bn freezes the pretrained BatchNorm layers: set pretrained")
    loaded = {n.removesuffix(".running_mean") for n in report.loaded if n.endswith(".running_mean")}
    return freeze_batchnorm(model, loaded)
