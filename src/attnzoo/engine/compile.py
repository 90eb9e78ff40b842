"""``torch.compile`` as the trainer and the benchmarks use it, with a choice of mode.

* ``"default"``: inductor's fused kernels;
* ``"max-autotune-no-cudagraphs"``: also tunes matrix products and convolutions (slow to compile);
* ``"reduce-overhead"``: replays the compiled kernels as CUDA graphs, removing launch overhead, for
  networks whose many small kernels leave the GPU waiting (attention modules on small maps). It
  needs static shapes: the trainer drops the last partial training batch (it always does), and an
  evaluation batch of another size is recorded as a graph of its own. On the CPU it compiles as
  ``"default"`` (PyTorch skips CUDA graphs there).
"""

from __future__ import annotations

import torch
from torch import nn

from ..validation import AttnzooError

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")


def check_compile_mode(mode: str) -> None:
    if mode not in COMPILE_MODES:
        raise AttnzooError(
            f"compile mode {mode!r} is not valid; choose one of {', '.join(COMPILE_MODES)}"
        )


def compile_model(model: nn.Module, mode: str = "default") -> nn.Module:
    """``torch.compile(model, mode=mode)``; the mode checked first, with one clear error."""
    check_compile_mode(mode)
    return torch.compile(model, mode=None if mode == "default" else mode)


def step_begin(mode: str | None) -> None:
    """Mark a new training iteration for CUDA graphs: the previous step's graph outputs (logits,
    loss) may be overwritten from here on. A no-op in the other modes."""
    if mode == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()
