"""``create_model(..., pretrained=...)``: published weights, or weights from a run attnzoo trained.

attnzoo distributes no weights of its own. ``pretrained`` takes

* ``"timm:NAME[.TAG]"`` or ``"torchvision:NAME[.WEIGHTS]"``: published ImageNet weights, read
  from where those libraries keep them (:mod:`attnzoo.models.sources`) and placed by
  :mod:`attnzoo.models.transfer`; the model gets ``pretrained_report`` (what was loaded, left
  fresh, ignored) and ``pretrained_cfg`` (the source's preprocessing, timm's keys);
* a weights file in their layout (``.safetensors``, or ``.pth`` read with ``weights_only=True``),
  placed the same way, with no ``pretrained_cfg`` (None);
* a run directory (its ``checkpoint.safetensors``) or a checkpoint file written by
  ``attnzoo train``, whose tensors are stored under their ``state_dict`` names (tensors named
  ``~...`` are the optimiser's and the trainer's state). Any difference but the classifier's size
  is an error.

A classifier of another size than the model's (fine-tuning on other classes) is left freshly
initialised, as timm does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..validation import AttnzooError
from .sources import LIBRARIES, Source, find_source, read_tensors
from .transfer import PretrainedReport, place

CHECKPOINT = "checkpoint.safetensors"  # the file name attnzoo train writes in a run directory
NOT_DISTRIBUTED = (
    "attnzoo distributes no pretrained weights: pass pretrained='timm:NAME', "
    "'torchvision:NAME.WEIGHTS' (see attnzoo list --pretrained), a weights file, or a run "
    "directory or checkpoint written by attnzoo train"
)
# The names under which torchvision's and timm's ResNets start: a file in their layout.
PUBLISHED_FIRST = ("conv1.", "layer1.")


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


def find_pretrained(pretrained: str | os.PathLike) -> Source:
    """The file and the preprocessing (None for a file or a run) that ``pretrained`` names (see
    the module docstring), without reading the weights; an unknown source or a missing file is
    a one-line error."""
    if isinstance(pretrained, bool):
        raise AttnzooError(NOT_DISTRIBUTED)
    spec = str(pretrained)
    if spec.partition(":")[0] in LIBRARIES:
        return find_source(spec)
    try:
        return Source(spec, checkpoint_file(pretrained), None)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"pretrained={spec!r}: {err}, and not a source timm:NAME[.TAG] or "
            "torchvision:NAME[.WEIGHTS]"
        ) from None


def load_pretrained(
    model: nn.Module,
    pretrained: str | os.PathLike,
    classifier: str,
    attention: Sequence[type[nn.Module]] = (),
    strict: bool = False,
) -> PretrainedReport:
    """Load ``pretrained`` (see the module docstring) into ``model``, whose last layer
    ``classifier`` names and whose attention modules are of the classes ``attention`` (they may
    stay fresh); set ``model.pretrained_report`` and ``model.pretrained_cfg`` and return the
    report. ``strict``: a published tensor with no place in the model is an error."""
    source = find_pretrained(pretrained)
    tensors = read_tensors(source.path)
    if any(k.startswith(PUBLISHED_FIRST) for k in tensors):
        report = place(model, tensors, source.spec, attention, strict)
    else:
        report = _load_run(model, tensors, source.path, classifier)
    model.pretrained_report, model.pretrained_cfg = report, source.cfg
    return report


def _load_run(
    model: nn.Module, tensors: dict[str, torch.Tensor], path: Path, classifier: str
) -> PretrainedReport:
    """Load the weights of a run attnzoo trained (``state_dict`` names)."""
    weights = {k: v for k, v in tensors.items() if not k.startswith("~")}
    if weights and all(k.startswith("t") and k[1:].isdigit() for k in weights):
        raise AttnzooError(
            f"{path} is an attnzoo checkpoint of format 1 (tensors named t0 ... tN): load it "
            "with attnzoo.load_run"
        )
    own = model.state_dict()
    head = [k for k in weights if k.startswith(f"{classifier}.")]
    resized = any(k in own and own[k].shape != weights[k].shape for k in head)
    kept = [k for k in head if resized]
    if resized:  # another number of classes: keep the fresh classifier
        weights = {k: v for k, v in weights.items() if k not in head}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if not (resized and k.startswith(f"{classifier}."))]
    if missing or unexpected:
        raise AttnzooError(
            f"pretrained={str(path)!r} does not fit this model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]} (a run of another model or attention?)"
        )
    return PretrainedReport(str(path), tuple(weights), tuple(kept), tuple(kept))
