"""Parameters and multiply-adds of a model, counted by ``torch.utils.flop_counter``.

The counter sees every matrix product, including those inside attention, unlike counters that only
hook convolution and linear layers. PyTorch's counter knows the GPU kernels of scaled-dot-product
attention but not the CPU one, which it would count as zero; we register the same formula for it.
It reports FLOPs as 2 per multiply-add; we report multiply-adds (MACs), as the papers do.
Normalisation, activations, pooling and element-wise products are not counted (as in the papers'
counters): only convolutions, matrix products and attention.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ..attention import AttentionModule, get_attention_class, list_attention
from ..models import count_params


def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


CUSTOM_FLOPS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}


def complexity(model: nn.Module, input_size: int, in_chans: int = 3) -> dict[str, float]:
    """Parameter count and multiply-adds of one forward pass of a single image.

    ``eval_macs``: eval mode, where modules that are the identity at inference (BA2M with
    ``eval_mode="identity"``) cost nothing. ``train_macs``: per image of a training-mode forward
    pass of a batch of two, which counts batch-coupled modules as the papers do.
    """
    costs = module_costs(model, input_size, in_chans)
    return {
        "params": count_params(model),
        "eval_macs": costs[0].eval_macs,
        "train_macs": costs[0].train_macs,
    }


@dataclass(frozen=True)
class ModuleCost:
    name: str  # "total", "attention", or a child's path such as "stages.0" or "stage_attn.3"
    params: int
    eval_macs: float
    train_macs: float


def module_costs(model: nn.Module, input_size: int, in_chans: int = 3) -> list[ModuleCost]:
    """Cost of the whole model, of all its attention modules together, then of each child that
    costs anything, a ``ModuleList`` item by item (each stage, each between-stage module)."""
    # A copy, so that the training-mode pass leaves the caller's BatchNorm statistics alone.
    model = copy.deepcopy(model)
    eval_counts = _macs(model.eval(), torch.zeros(1, in_chans, input_size, input_size))
    train_counts = _macs(model.train(), torch.randn(2, in_chans, input_size, input_size))
    root = type(model).__name__

    def cost(name: str, paths: list[str]) -> ModuleCost:
        modules = [model.get_submodule(p) for p in paths]
        params = sum(count_params(m) for m in modules)
        keys = [f"{root}.{p}" if p else root for p in paths]
        return ModuleCost(
            name,
            params,
            sum(eval_counts.get(k, 0) for k in keys),
            sum(train_counts.get(k, 0) for k in keys) / 2,
        )

    parts = []
    for name, child in model.named_children():
        if isinstance(child, nn.ModuleList):
            parts += [cost(f"{name}.{i}", [f"{name}.{i}"]) for i in range(len(child))]
        else:
            parts.append(cost(name, [name]))
    # Children that cost nothing (identity heads, dropout, empty stage slots) are left out.
    parts = [p for p in parts if p.params or p.eval_macs or p.train_macs]
    return [cost("total", [""]), cost("attention", _attention_paths(model)), *parts]


def _attention_paths(model: nn.Module) -> list[str]:
    """Paths of the outermost attention modules (those of a registered attention class)."""
    kinds = tuple(get_attention_class(name) for name in list_attention())
    paths: list[str] = []
    for path, module in model.named_modules():
        inside = any(path.startswith(p + ".") for p in paths)
        if isinstance(module, kinds) and not inside:
            paths.append(path)
    return paths


def _macs(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Multiply-adds per module path (prefixed by the root class name, as the counter names), with
    what attention modules declare as uncounted (:meth:`AttentionModule.uncounted_macs`) added to
    the module and every module above it."""
    root = type(model).__name__
    uncounted: dict[str, int] = {}

    def declare(path: str, module: AttentionModule, args: tuple) -> None:
        uncounted[path] = uncounted.get(path, 0) + module.uncounted_macs(args[0])

    handles = [
        m.register_forward_pre_hook(functools.partial(declare, path))
        for path, m in model.named_modules()
        if isinstance(m, AttentionModule)
    ]
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as c:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    macs = {name: sum(ops.values()) / 2 for name, ops in c.get_flop_counts().items()}
    for path, extra in uncounted.items():
        parts = [root, *path.split(".")] if path else [root]
        for key in ["Global", *(".".join(parts[:i]) for i in range(1, len(parts) + 1))]:
            macs[key] = macs.get(key, 0) + extra
    return macs
