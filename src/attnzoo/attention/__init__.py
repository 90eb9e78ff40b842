"""Attention modules for CNN feature maps, one file each, built by name with build_attention."""

from .ba2m import BA2M
from .bam import BAM
from .cbam import CBAM
from .losses import aux_loss
from .registry import (
    attention_options,
    build_attention,
    get_attention_class,
    list_attention,
    register_attention,
)
from .se import SE
from .spem import SPEM

__all__ = [
    "BA2M",
    "BAM",
    "CBAM",
    "SE",
    "SPEM",
    "attention_options",
    "aux_loss",
    "build_attention",
    "get_attention_class",
    "list_attention",
    "register_attention",
]
