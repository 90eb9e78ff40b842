"""Wide ResNets (Zagoruyko & Komodakis, BMVC 2016).

* CIFAR WRN-28-k: a 16-wide 3x3 stem, three stages of four pre-activation basic blocks of width
  16k/32k/64k, 1x1 projection shortcuts, dropout between the two convolutions (``dropout``,
  0 by default; the paper uses 0.3).
* ImageNet WRN-18 with widen 1.5 and 2.0 as in the CBAM paper's Table 4: ResNet-18 (post-activation
  basic blocks, 64-wide stem) with every stage's width multiplied, which gives its 25.88M and
  45.62M exactly.
"""

from __future__ import annotations

from functools import partial

from .placement import AttentionPlan
from .registry import register_model
from .resnet import BasicBlock, PreActBlock, ResNet


def _wrn28(
    k: int,
    *,
    num_classes: int,
    in_chans: int,
    attention: AttentionPlan,
    name: str,
    drop_rate: float = 0.0,
) -> ResNet:
    return ResNet(
        PreActBlock,
        (4, 4, 4),
        (16 * k, 32 * k, 64 * k),
        stem_width=16,
        stem="cifar",
        shortcut="conv",
        dropout=drop_rate,
        num_classes=num_classes,
        in_chans=in_chans,
        attention=attention,
        name=name,
    )


for k in (8, 10):
    register_model(f"wrn28_{k}", 10)(partial(_wrn28, k))

for widen, suffix in ((1.5, "1_5"), (2.0, "2")):
    register_model(f"wrn18_{suffix}", 1000)(
        partial(
            ResNet,
            BasicBlock,
            (2, 2, 2, 2),
            tuple(int(64 * widen * 2**i) for i in range(4)),
            stem_width=64,
        )
    )
