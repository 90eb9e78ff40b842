"""The shape every backbone shares: stem, stages, a module after each stage, a pooled linear head.

Backbone families build their stem and stages (with attention inside blocks through the plan's
layer factory) and hand them to :class:`StagedNet`, which places the between-stage modules and
provides ``features`` (per-stage maps, for detection and segmentation necks) and ``forward_head``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

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
        head: nn.Module | None = None,
        num_features: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        """``head`` runs on the last stage's map before pooling (e.g. a pre-activation net's final
        BN-ReLU, or MobileNetV2's 1x1 expansion to ``num_features`` channels)."""
        super().__init__()
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
            raise ValueError(
                f"{self.name} expects input of shape (N, {self.in_chans}, H, W); "
                f"got {tuple(x.shape)}"
            )
        x = self.stem(x)
        out = []
        for stage, attn in zip(self.stages, self.stage_attn, strict=True):
            x = attn(stage(x))
            out.append(x)
        return out

    def forward_head(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Logits from the per-stage maps (only the last is used)."""
        return self.fc(self.dropout(self.head(features[-1]).mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.features(x))
