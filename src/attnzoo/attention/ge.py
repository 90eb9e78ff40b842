"""Gather-Excite (Hu, Shen, Albanie, Sun, Vedaldi, "Gather-Excite: Exploiting Feature Context in
Convolutional Neural Networks", NeurIPS 2018).

y = x * sigmoid(interpolate(excite(gather(x)), H x W)), nearest-neighbour interpolation back to the
input size (a 1 x 1 gathered map simply broadcasts). ``extent`` 0 gathers over the whole map;
e = 2, 4, 8 gather over neighbourhoods about e wide into a map e times smaller on each side.

* ``param=False`` (GE-θ⁻, parameter free): average pooling, global, or kernel 2e-1, stride e,
  padding e-1 without counting the padding (as timm's ``gather_excite.py``; the authors released
  only global-extent models).
* ``param=True`` (GE-θ): depth-wise convolutions without bias, each followed by BatchNorm. Global:
  one k x k convolution covering the whole k x k map, as in the authors' Caffe prototxt
  (hujie-frank/GENet, ``RN50-GEP.prototxt``: k = 56, 28, 14, 7 in ResNet-50's stages at 224 px).
  Extent e: log2(e) 3 x 3 stride-2 convolutions (padding 1) with ReLU between them, as timm.
* ``mlp=True`` (GE-θ+ with ``param=True``): an SE-like excite C -> C/r -> C (1 x 1 convolutions
  with biases, ReLU inside, N(0, 0.01) weights) after the gather, and a ReLU between the gather's
  last BatchNorm and it, as the authors' ``RN50-GEPP.prototxt`` (timm has no such ReLU). With
  ``param=False, extent=0`` it computes SE.

Deviation (global GE-θ): the authors' kernel fits only the map size it was built for. Here
``feat_size`` sets k, an int or a mapping from channel count to k (a backbone hands a module only
its channels; widths a mapping leaves out get the default k = 7), and a map of another size is
first average-pooled to k x k (adaptive pooling), so any input size works; at H = W = k this is
the authors' operator exactly. The authors' ResNet-50 / 101 at 224 px:
``create_model("resnet50", attention=("ge", {"param": True, "feat_size": RESNET50_FEAT_SIZE}))``.

Parameters added to ResNet-50 (25.557M; the 16 blocks' widths C sum to 15104): GE-θ⁻ none;
GE-θ with extent e: 11 C per halving (e = 2, 4, 8: +0.166M, +0.332M, +0.498M); global GE-θ:
(k^2 + 2) C, +0.770M with k = 7 everywhere, +5.550M = 31.107M with the authors' per-stage k;
GE-θ+ adds the MLP's 2.531M: 33.638M. BA2M's Table V prints 31.20M (+5.64M) for ResNet-50 + GE:
global GE-θ with the authors' kernels is the only variant within 2.4M of it; the remaining 0.09M
matches nothing in the authors' prototxt. Its ResNet-101 "+GE" cell (33.70M at 3.87 GFLOPs, both
ResNet-50-sized) fits GE-θ+ on ResNet-50 (33.638M), not ResNet-101 (53.546M with global GE-θ).
Its WRN-28-10 + GE (Table XI, 36.30M) is below that backbone's 36.54M, which no variant can be.
The default is GE-θ⁻ with global extent (the authors' ``RN50-GEPF.prototxt``): it needs no map
size, so it means the same at any resolution, and adds no parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import AttnzooError
from ._checks import check_feature_map, check_positive, check_train_batch
from .base import AttentionModule
from .registry import register_attention

DEFAULT_FEAT_SIZE = 7
# The authors' global kernel sizes: ResNet-50 / 101 stage widths -> their map side at 224 px.
RESNET50_FEAT_SIZE = {256: 56, 512: 28, 1024: 14, 2048: 7}


def _depthwise(channels: int, kernel_size: int, stride: int) -> nn.Conv2d:
    conv = nn.Conv2d(
        channels,
        channels,
        kernel_size,
        stride,
        kernel_size // 2 if stride > 1 else 0,
        groups=channels,
        bias=False,
    )
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # Caffe's "msra" filler (fan in)
    return conv


def _feat_size(channels: int, feat_size: int | Mapping[int, int] | None) -> int:
    sizes = feat_size if isinstance(feat_size, Mapping) else {channels: feat_size}
    for size in sizes.values():
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise AttnzooError(
                f"GE: feat_size must be a positive int (or map to one), got {size!r}"
            )
    # Widths a mapping leaves out (e.g. the 64 channels create_model validates options with)
    # get the default.
    size = sizes.get(channels)
    return DEFAULT_FEAT_SIZE if size is None else size


@register_attention("ge")
class GE(AttentionModule):
    option_help: ClassVar[dict[str, str]] = {
        "extent": "E: 0 gathers over the whole map, a power of two over neighbourhoods about "
        "E wide",
        "param": "a learned (depth-wise convolution) gather instead of average pooling",
        "mlp": "the SE-like excite MLP after the gather",
        "reduction": "r, the ratio of C to the MLP's hidden width",
        "feat_size": "K for the global learned gather: an int, or a map from channel count to "
        "K (widths left out, and None, get 7)",
    }

    def __init__(
        self,
        channels: int,
        extent: int = 0,
        param: bool = False,
        mlp: bool = False,
        reduction: int = 16,
        feat_size: int | Mapping[int, int] | None = None,
    ) -> None:
        super().__init__()
        powers = {0} | {2**i for i in range(1, 16)}
        if isinstance(extent, bool) or extent not in powers:
            raise AttnzooError(
                f"GE: extent must be 0 (global) or a power of two such as 2, 4, 8; got {extent!r}"
            )
        for name, flag in (("param", param), ("mlp", mlp)):
            if not isinstance(flag, bool):
                raise AttnzooError(f"GE: {name} must be True or False, got {flag!r}")
        check_positive("GE", "reduction", reduction)
        if feat_size is not None and not (param and extent == 0):
            raise AttnzooError("GE: feat_size only applies to param=True with extent=0")
        self.channels, self.extent, self.param = channels, extent, param
        self.kernel = _feat_size(channels, feat_size) if param and extent == 0 else 0
        self.gather: nn.Sequential | None = None
        if param:
            layers: list[nn.Module] = []
            for i in range(int(math.log2(extent)) if extent else 1):
                if i:
                    layers.append(nn.ReLU(inplace=True))
                k, s = (3, 2) if extent else (self.kernel, 1)
                layers += [_depthwise(channels, k, s), nn.BatchNorm2d(channels)]
            if mlp:  # the authors' GE-θ+ rectifies the gathered map before the excite MLP
                layers.append(nn.ReLU(inplace=True))
            self.gather = nn.Sequential(*layers)
        self.mlp: nn.Sequential | None = None
        if mlp:
            hidden = max(int(channels // reduction), 1)
            down, up = nn.Conv2d(channels, hidden, 1), nn.Conv2d(hidden, channels, 1)
            for conv in (down, up):  # the authors' filler: gaussian std 0.01, zero bias
                nn.init.normal_(conv.weight, std=0.01)
                nn.init.zeros_(conv.bias)
            self.mlp = nn.Sequential(down, nn.ReLU(inplace=True), up)

    def _gathers_to_one(self, height: int, width: int) -> bool:
        """Whether the parametric gather ends on a 1 x 1 map (its BatchNorm then needs N > 1)."""
        if self.extent == 0:
            return True
        for _ in range(int(math.log2(self.extent))):  # each 3 x 3, stride 2, padding 1
            height, width = (height - 1) // 2 + 1, (width - 1) // 2 + 1
        return height * width == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("GE", x, self.channels)
        size = x.shape[-2:]
        if self.gather is None:
            if self.extent == 0:
                g = x.mean((2, 3), keepdim=True)
            else:
                e = self.extent
                g = F.avg_pool2d(x, 2 * e - 1, e, e - 1, count_include_pad=False)
        else:
            if self._gathers_to_one(*size):
                check_train_batch("GE", x, self.training, "BatchNorm over a 1 x 1 gathered map")
            if self.extent == 0 and tuple(size) != (self.kernel, self.kernel):
                x_in = F.adaptive_avg_pool2d(x, self.kernel)  # other sizes: see the docstring
            else:
                x_in = x
            g = self.gather(x_in)
        if self.mlp is not None:
            g = self.mlp(g)
        if g.shape[-2:] != (1, 1):
            g = F.interpolate(g, size=size, mode="nearest")
        return x * torch.sigmoid(g)
