"""Checkpoints as safetensors: tensors in the file body, everything else as JSON in its header.

A checkpoint is one ``.safetensors`` file. Its tensors (weights, optimiser buffers, RNG states) are
stored by safetensors; the rest of the state (epoch, step, config, scheduler, scalars) is a JSON
skeleton in the header's metadata, with each tensor replaced by a reference to its key. The model's
tensors are stored under their ``state_dict`` names, every other tensor under a name starting with
``~`` (its place in the state, e.g. ``~optimizer/state/0/momentum_buffer``), which no module name
does: ``{k: v for k, v in safetensors.torch.load_file(p).items() if not k.startswith("~")}`` is
the model's state_dict. Checkpoints of format 1 (tensors named ``t0 ... tN``) still load. Loading
parses JSON and raw tensor bytes only: a checkpoint can never execute code, unlike a pickle
(``torch.load``). The header also holds the SHA-256 of the tensor bytes, so a truncated or
bit-flipped file is refused rather than trained on.

Saving keeps the previous checkpoint as ``<name>.prev.safetensors`` and replaces the current one by
an atomic rename, so a crash at any moment leaves at least one complete checkpoint behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from ..io import atomic_write
from ..validation import AttnzooError

FORMAT = "attnzoo-checkpoint-2"
_READABLE = ("attnzoo-checkpoint-1", FORMAT)  # 1: every tensor keyed t0 ... tN
STATE_PREFIX = "~"  # the tensors that are not the model's weights
_TENSOR, _ITEMS = "__tensor__", "__items__"


class CheckpointError(AttnzooError):
    """A checkpoint that cannot be used: truncated, corrupt, foreign, or not a checkpoint at all."""


def _tensor_key(path: tuple[str, ...], tensors: dict[str, torch.Tensor]) -> str:
    """The model's tensors by state_dict name, the rest by their place in the state after ``~``."""
    key = path[1] if len(path) == 2 and path[0] == "model" else STATE_PREFIX + "/".join(path)
    unique, n = key, 1
    while unique in tensors:  # int and str keys that print alike: never overwrite
        unique, n = f"{key}#{n}", n + 1
    return unique


def _encode(obj: Any, tensors: dict[str, torch.Tensor], path: tuple[str, ...] = ()) -> Any:
    """JSON skeleton of ``obj``; tensors move to ``tensors`` under named keys."""
    if isinstance(obj, torch.Tensor):
        key = _tensor_key(path, tensors)
        # A private contiguous copy: safetensors refuses views and tensors sharing storage.
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and _TENSOR not in obj and _ITEMS not in obj:
            return {k: _encode(v, tensors, (*path, k)) for k, v in obj.items()}
        # Optimiser state is keyed by int; JSON objects would turn the keys into strings.
        return {_ITEMS: [[k, _encode(v, tensors, (*path, str(k)))] for k, v in obj.items()]}
    if isinstance(obj, list | tuple):
        return [_encode(v, tensors, (*path, str(i))) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if _TENSOR in obj:
            return tensors[obj[_TENSOR]]
        if _ITEMS in obj:
            return {k: _decode(v, tensors) for k, v in obj[_ITEMS]}
        return {k: _decode(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    return obj


def previous_path(path: str | os.PathLike) -> Path:
    """Where the checkpoint before ``path`` is kept: ``checkpoint.prev.safetensors``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".safetensors") + ".prev.safetensors")


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically, keeping the file it replaces as the previous one."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_encode(state, tensors))
    # The tensor bytes do not depend on the metadata, so they can be hashed before it goes in.
    digest = hashlib.sha256(_payload(save_tensors(tensors))).hexdigest()
    data = save_tensors(tensors, metadata={"format": FORMAT, "state": skeleton, "sha256": digest})
    path = Path(path)
    try:
        # The new file is complete on disk before the old one moves aside; a crash between the
        # two renames leaves the previous checkpoint, which load_latest falls back to.
        tmp = atomic_write(path.with_name(f".{path.name}.new"), lambda f: f.write(data))
        if path.exists():
            os.replace(path, previous_path(path))
        os.replace(tmp, path)
    except OSError as err:  # a full disk, a read-only or vanished directory
        kept = next((p for p in (path, previous_path(path)) if p.is_file()), None)
        raise CheckpointError(
            f"cannot write checkpoint {path}: {err.strerror or err}; "
            + (f"the last good checkpoint {kept} is intact" if kept else "no earlier checkpoint")
        ) from None
    return path


def _payload(data: bytes) -> bytes:
    """The tensor bytes of a safetensors file: everything after its 8-byte size and header."""
    (size,) = struct.unpack("<Q", data[:8])
    return data[8 + size :]


def _header(data: bytes, path: Path) -> dict[str, Any]:
    if len(data) < 8:
        raise CheckpointError(f"{path} is truncated or empty ({len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise CheckpointError(
            f"{path} is not a safetensors checkpoint, or is truncated (header of {size} bytes in a "
            f"{len(data)}-byte file). attnzoo never unpickles: old torch.save files are refused."
        )
    try:
        return json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(
            f"{path} is not a safetensors checkpoint (unreadable header). attnzoo never "
            "unpickles: torch.save / pickle files are refused."
        ) from None


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU, verifying its checksum."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    data = path.read_bytes()
    meta = _header(data, path).get("__metadata__") or {}
    if meta.get("format") not in _READABLE:
        raise CheckpointError(f"{path} is a safetensors file but not an attnzoo checkpoint")
    if hashlib.sha256(_payload(data)).hexdigest() != meta.get("sha256"):
        raise CheckpointError(f"{path} is corrupt: its tensor data does not match its checksum")
    try:
        tensors = load_tensors(data)
    except SafetensorError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from None
    state = _decode(json.loads(meta["state"]), tensors)
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not an attnzoo checkpoint (no model or config entry)")
    return state


def load_latest(path: str | os.PathLike) -> tuple[dict[str, Any], Path] | None:
    """The newest readable checkpoint of ``path`` and its previous one, or None if neither exists.

    A corrupt current checkpoint falls back to the previous one with a warning; if both exist and
    neither reads, the current one's error is raised (nothing is silently restarted from scratch).
    """
    candidates = [p for p in (Path(path), previous_path(path)) if p.is_file()]
    errors = []
    for i, candidate in enumerate(candidates):
        try:
            return load_checkpoint(candidate), candidate
        except CheckpointError as err:
            errors.append(err)
            if i + 1 < len(candidates):
                warnings.warn(f"{err}; trying the previous checkpoint", stacklevel=2)
    if errors:
        raise CheckpointError(f"no readable checkpoint in {Path(path).parent}: {errors[0]}")
    return None
