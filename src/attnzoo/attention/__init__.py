"""Attention modules for CNN feature maps, one file each, built by name with build_attention.

Each file's docstring cites its paper and says where the module departs from it; docs/modules.md
in the repository collects them: every module's formula, options, default placement (the hooks of
:class:`AttentionModule`), source and deviations. Each module is plain PyTorch; two (CBAM and
SPEM) have faster CPU paths behind the library's one switch, :func:`set_fast_paths` (see
``_ops.py``).
"""

from ._ops import fast_paths, fast_paths_enabled, set_fast_paths
from .aa import AA
from .ba2m import BA2M
from .bam import BAM
from .base import AttentionModule, ConvAttentionModule
from .cbam import CBAM
from .eca import ECA
from .gc import GC
from .ge import GE
from .iebn import IEBN, replace_batchnorm
from .losses import aux_loss
from .registry import (
    build_attention,
    get_attention_class,
    list_attention,
    register_attention,
)
from .sasa import SASA
from .se import SE
from .sge import SGE
from .sk import SK
from .spem import SPEM
from .srm import SRM

__all__ = [
    "AA",
    "BA2M",
    "BAM",
    "CBAM",
    "ECA",
    "GC",
    "GE",
    "IEBN",
    "SASA",
    "SE",
    "SGE",
    "SK",
    "SPEM",
    "SRM",
    "AttentionModule",
    "ConvAttentionModule",
    "aux_loss",
    "build_attention",
    "fast_paths",
    "fast_paths_enabled",
    "get_attention_class",
    "list_attention",
    "register_attention",
    "replace_batchnorm",
    "set_fast_paths",
]
