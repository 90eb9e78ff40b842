"""The shape every backbone shares: stem, stages, a module after each stage, a pooled linear head.

Backbone families build their stem and stages (with attention inside blocks through the plan's
layer factory) and hand them to :class:`StagedNet`, which places the between-stage modules and
provides timm's interface: ``forward_features`` (the unpooled map the classifier pools),
``forward_head``, ``reset_classifier`` and ``feature_info``, plus ``features`` (per-stage maps, for
detection and segmentation necks).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..validation import AttnzooError
from .placement import AttentionPlan


class StagedNet(nn.Module):
    """stem -> [stage -> stage attention] x S -> head (pre-pool layers) -> global mean -> fc."""

    def __init__(
        self,
        name: str,
        in_chans: int,
        num_classes: int,
        stem: nn.Module,
        stages: Sequence[nn.Module],
        stage_channels: Sequence[int],
        attention: AttentionPlan,
        *,
        reductions: Sequence[int],
        head: nn.Module | None = None,
        num_features: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        """``reductions``: each stage's output stride (input size / map size). ``head`` runs on
        the last stage's map before pooling (e.g. a pre-activation net's final BN-ReLU, or
        MobileNetV2's 1x1 expansion to ``num_features`` channels)."""
        super().__init__()
        if len(reductions) != len(stages) or len(stage_channels) != len(stages):
            raise AttnzooError(f"{name}: one channel count and one reduction per stage")
        # timm's form: what a feature-pyramid neck needs to know of each stage.
        self.feature_info = [
            {"num_chs": c, "reduction": r, "module": f"stages.{i}"}
            for i, (c, r) in enumerate(zip(stage_channels, reductions, strict=True))
        ]
        self.name, self.in_chans, self.num_classes = name, in_chans, num_classes
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.stage_attn = attention.stage_layers(stage_channels, name)
        self.head = head if head is not None else nn.Identity()
        self.num_features = num_features or stage_channels[-1]
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.num_features, num_classes)
        attention.check_conv_placed(self, name)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-stage feature maps (after each stage's attention module)."""
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise AttnzooError(
                f"{self.name} expects input of shape (N, {self.in_chans}, H, W); "
                f"got {tuple(x.shape)}"
            )
        x = self.stem(x)
        out = []
        for stage, attn in zip(self.stages, self.stage_attn, strict=True):
            x = attn(stage(x))
            out.append(x)
        return out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The map the classifier pools: the last stage's output through ``head``, of
        ``num_features`` channels (timm's ``forward_features``)."""
        return self.head(self.features(x)[-1])

    def forward_head(
        self, x: torch.Tensor | list[torch.Tensor], pre_logits: bool = False
    ) -> torch.Tensor:
        """Logits from :meth:`forward_features`' map, or from the per-stage maps of
        :meth:`features` (only the last is used); ``pre_logits``: the pooled features instead."""
        if isinstance(x, list | tuple):
            x = self.head(x[-1])
        pooled = self.dropout(x.mean((2, 3)))
        return pooled if pre_logits else self.fc(pooled)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """A new, freshly initialised classifier for ``num_classes`` (0: none, the model then
        returns the pooled features), as timm's ``reset_classifier``."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise AttnzooError(f"{self.name}: num_classes must be an int >= 0, got {num_classes!r}")
        self.num_classes = num_classes
        device = self.fc.weight.device if isinstance(self.fc, nn.Linear) else None
        self.fc = (
            nn.Linear(self.num_features, num_classes, device=device)
            if num_classes > 0
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
