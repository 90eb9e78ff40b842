"""SRM: Style-based Recalibration Module (Lee, Kim, Nam, ICCV 2019).

Style pooling: t = [mu, sigma], the per-channel mean and standard deviation over H, W.
Style integration: z_c = w_c0 * mu_c + w_c1 * sigma_c (a channel-wise fully connected layer: two
weights per channel, no bias), g = sigmoid(BN(z)), y = x * g.

Follows the authors' code (github.com/hyunjaelee410/style-based-recalibration-module): the weights
are one (C, 2) parameter ``cfc`` initialised to 0 (so g starts at sigmoid(BN(0)) = 0.5), BN is a
BatchNorm2d on the (N, C, 1, 1) vector, and sigma = sqrt(var + eps) with the unbiased 1 / (HW - 1)
variance and eps = 1e-5, as their style pooling has computed it since 2019-08-02 (commit f6221c7,
"FIX : style pooling"). Their first release used ``torch.std``, with no epsilon: ``eps=0.0`` gives
it. ``unbiased=False`` gives the 1 / (HW) variance instead.

Deviations, numerical only: the statistics are computed in float32 for half-precision inputs, and
a map with a single position has variance 0 (sigma = sqrt(eps)), where the unbiased estimator of
the authors' code gives NaN.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..validation import AttnzooError
from ._checks import check_feature_map, check_train_batch
from .base import AttentionModule
from .registry import register_attention


@register_attention("srm")
class SRM(AttentionModule):
    option_help: ClassVar[dict[str, str]] = {
        "unbiased": "divide by HW - 1 (True) or HW (False) in the variance",
        "eps": "added to the variance under the square root (1e-5: the authors' current code; "
        "0.0: their first release's torch.std)",
    }

    def __init__(self, channels: int, unbiased: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        if not eps >= 0:
            raise AttnzooError(f"SRM: eps must be >= 0, got {eps!r}")
        self.channels, self.unbiased, self.eps = channels, bool(unbiased), float(eps)
        self.cfc = nn.Parameter(torch.zeros(channels, 2))
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map("SRM", x, self.channels)
        check_train_batch("SRM", x, self.training, "its BatchNorm normalises z over the batch")
        flat = x.flatten(2)
        if flat.dtype in (torch.float16, torch.bfloat16):
            flat = flat.float()
        correction = 1 if self.unbiased and flat.shape[2] > 1 else 0
        if self.eps:
            var, mean = torch.var_mean(flat, dim=2, correction=correction)
            std = torch.sqrt(var + self.eps)
        else:  # torch's own std backward is finite (zero) for a constant channel; sqrt(var) is not
            std, mean = torch.std_mean(flat, dim=2, correction=correction)
        z = (mean * self.cfc[:, 0] + std * self.cfc[:, 1]).to(x.dtype)  # (N, C)
        return x * torch.sigmoid(self.bn(z[:, :, None, None]))
