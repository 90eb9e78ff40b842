"""Parameters and multiply-adds of a model, counted by ``torch.utils.flop_counter``.

The counter sees every matrix product, including those inside attention, unlike counters that only
hook convolution and linear layers. PyTorch's counter knows the GPU kernels of scaled-dot-product
attention but not the CPU one, which it would count as zero; we register the same formula for it.
It reports FLOPs as 2 per multiply-add; we report multiply-adds (MACs), as the papers do.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ..models import count_params


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


CUSTOM_FLOPS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}


def complexity(model: nn.Module, input_size: int, in_chans: int = 3) -> dict[str, float]:
    """Parameter count and multiply-adds of one forward pass of a single image, in eval mode.

    Modules that are the identity at inference (BA2M with ``eval_mode="identity"``) cost nothing
    here; ``train_macs`` counts one image of a training-mode forward pass of a batch of two.
    """
    params = count_params(model)
    # A copy, so that the training-mode pass leaves the caller's BatchNorm statistics alone.
    model = copy.deepcopy(model)
    eval_macs = _macs(model.eval(), torch.zeros(1, in_chans, input_size, input_size))
    train_macs = _macs(model.train(), torch.randn(2, in_chans, input_size, input_size)) / 2
    return {"params": params, "eval_macs": eval_macs, "train_macs": train_macs}


def _macs(model: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
        model(x)
    return counter.get_total_flops() / 2
