"""``create_model(..., pretrained=PATH)``: weights from a run attnzoo trained.

attnzoo distributes no pretrained weights. ``pretrained`` takes a run directory (its
``checkpoint.safetensors``) or a checkpoint file written by ``attnzoo train``, whose tensors are
stored under their ``state_dict`` names (tensors named ``~...`` are the optimiser's and the
trainer's state). A classifier of another size than the model's (fine-tuning on other classes) is
left freshly initialised, as timm does; any other difference is an error.
"""

from __future__ import annotations

import os
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

CHECKPOINT = "checkpoint.safetensors"  # the file name attnzoo train writes in a run directory
NOT_DISTRIBUTED = (
    "attnzoo distributes no pretrained weights: pass pretrained=PATH, a run directory or "
    "checkpoint written by attnzoo train"
)


def checkpoint_file(run_dir_or_checkpoint: str | os.PathLike) -> Path:
    """The checkpoint of a run directory, or the checkpoint file given."""
    path = Path(run_dir_or_checkpoint)
    if path.is_dir():
        path = path / CHECKPOINT
        if not path.is_file():
            raise FileNotFoundError(f"no {CHECKPOINT} in {path.parent}: not a training run")
    elif not path.is_file():
        raise FileNotFoundError(f"no run directory or checkpoint at {path}")
    return path


def load_pretrained(model: nn.Module, pretrained: str | os.PathLike, classifier: str) -> None:
    """Load a trained run's weights into ``model``; ``classifier`` names its last layer."""
    if isinstance(pretrained, bool):
        raise ValueError(NOT_DISTRIBUTED)
    try:
        path = checkpoint_file(pretrained)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"pretrained={str(pretrained)!r}: {err}") from None
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as err:
        raise ValueError(f"pretrained={str(path)!r} is not a safetensors file: {err}") from None
    weights = {k: v for k, v in tensors.items() if not k.startswith("~")}
    if weights and all(k.startswith("t") and k[1:].isdigit() for k in weights):
        raise ValueError(
            f"{path} is an attnzoo checkpoint of format 1 (tensors named t0 ... tN): load it "
            "with attnzoo.load_run"
        )
    own = model.state_dict()
    head = [k for k in weights if k.startswith(f"{classifier}.")]
    resized = any(k in own and own[k].shape != weights[k].shape for k in head)
    if resized:  # another number of classes: keep the fresh classifier
        weights = {k: v for k, v in weights.items() if k not in head}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not (resized and k.startswith(f"{classifier}."))]
    if missing or unexpected:
        raise ValueError(
            f"pretrained={str(path)!r} does not fit this model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]} (a run of another model or attention?)"
        )
