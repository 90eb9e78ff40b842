"""Where published weights are: ``timm:NAME[.TAG]``, ``torchvision:NAME[.WEIGHTS]`` or a file.

Weights are found where timm and torchvision themselves keep them, without any network call:

* timm: the Hugging Face hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``~/.cache/huggingface/hub``), ``models--timm--NAME.TAG/refs/main`` naming the snapshot whose
  ``model.safetensors`` (or older ``pytorch_model.bin``) is read, as ``HF_HUB_OFFLINE=1`` reads
  it; weights timm still fetches from a URL are looked for as torchvision's below;
* torchvision: ``$TORCH_HOME/hub/checkpoints/`` (``torch.hub.get_dir()``) and the file name of
  the weights enum's URL (``resnet50-11ad3fa6.pth`` for ``resnet50.IMAGENET1K_V2``).

A file that is missing is one line naming where it was looked for and the command that fetches it.
Each source also gives its preprocessing as a dict with timm's ``pretrained_cfg`` keys
(``input_size``, ``interpolation``, ``mean``, ``std``, ``crop_pct``; torchvision's ``transforms()``
read into them, with ``resize_size`` besides); a plain file has none.
"""

from __future__ import annotations

import importlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from ..io import atomic_write, atomic_write_text
from ..validation import AttnzooError

LIBRARIES = ("timm", "torchvision")
HF_FILES = ("model.safetensors", "pytorch_model.bin")  # in the order timm tries them


@dataclass(frozen=True)
class Source:
    """Published weights found on disk: ``spec`` as given, the file, the preprocessing."""

    spec: str
    path: Path
    cfg: dict[str, Any] | None


@dataclass(frozen=True)
class _Where:
    """Where a library keeps one source's weights, its preprocessing and how to fetch it."""

    cfg: dict[str, Any]
    fetch: str  # the Python that downloads it
    hf_repo: str | None = None
    hf_files: tuple[str, ...] = HF_FILES
    hub_file: Path | None = None


def _module(library: str, spec: str) -> Any:
    try:
        return importlib.import_module(f"{library}.models")
    except ImportError:
        raise AttnzooError(
            f"pretrained={spec!r} needs {library}: pip install {library} (or attnzoo[pretrained])"
        ) from None


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache, as huggingface_hub resolves it, read at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    default_home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    return Path(os.environ.get("HF_HOME", default_home)) / "hub"


def _hf_repo(repo_id: str) -> Path:
    return hf_hub_cache() / f"models--{repo_id.replace('/', '--')}"


def _hf_cached(repo_id: str, filenames: tuple[str, ...]) -> Path | None:
    """The first of ``filenames`` in the snapshot that ``refs/main`` names, or None."""
    ref = _hf_repo(repo_id) / "refs" / "main"
    if ref.is_file():
        snapshot = _hf_repo(repo_id) / "snapshots" / ref.read_text().strip()
        return next((snapshot / f for f in filenames if (snapshot / f).is_file()), None)
    return None


def _hub_file(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url.split("?")[0])


def _timm(name: str, spec: str) -> _Where:
    models = _module("timm", spec)
    try:
        cfg = models.get_pretrained_cfg(name, allow_unregistered=False)
    except RuntimeError as err:  # an unknown tag of a known architecture
        raise AttnzooError(f"pretrained={spec!r}: {err} (see attnzoo list --pretrained)") from None
    if cfg is None:
        raise AttnzooError(f"pretrained={spec!r}: timm has no pretrained weights named {name!r}")
    full = f"{cfg.architecture}.{cfg.tag}"
    keys = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode", "num_classes")
    return _Where(
        cfg={"source": f"timm:{full}", **{k: getattr(cfg, k) for k in keys}},
        fetch=f"import timm; timm.create_model('{full}', pretrained=True)",
        hf_repo=cfg.hf_hub_id or None,
        hf_files=(cfg.hf_hub_filename,) if cfg.hf_hub_filename else HF_FILES,
        hub_file=_hub_file(cfg.url) if cfg.url else None,
    )


def _torchvision_cfg(weights: Any, source: str) -> dict[str, Any]:
    transform = weights.transforms()
    crop, resize = transform.crop_size[0], transform.resize_size[0]
    return {
        "source": source,
        "input_size": (3, crop, crop),
        "interpolation": transform.interpolation.value,
        "mean": tuple(transform.mean),
        "std": tuple(transform.std),
        "crop_pct": crop / resize,
        "crop_mode": "center",
        "resize_size": resize,
        "num_classes": len(weights.meta["categories"]),
    }


def _torchvision(name: str, spec: str) -> _Where:
    models = _module("torchvision", spec)
    arch, _, tag = name.partition(".")
    try:
        weights = models.get_model_weights(arch)[tag or "DEFAULT"]
    except (ValueError, KeyError):
        raise AttnzooError(
            f"pretrained={spec!r}: torchvision has no weights {name!r}; see attnzoo list "
            "--pretrained"
        ) from None
    return _Where(
        cfg=_torchvision_cfg(weights, f"torchvision:{arch}.{weights.name}"),
        fetch=f"import torchvision; torchvision.models.{arch}(weights='{weights.name}')",
        hub_file=_hub_file(weights.url),
    )


def _where(spec: str) -> _Where:
    library, _, name = spec.partition(":")
    if library not in LIBRARIES or not name:
        raise AttnzooError(
            f"pretrained={spec!r}: unknown source; give timm:NAME[.TAG] or "
            "torchvision:NAME[.WEIGHTS]"
        )
    return (_timm if library == "timm" else _torchvision)(name, spec)


def find_source(spec: str) -> Source:
    """The weights file and preprocessing that ``spec`` (``timm:...``, ``torchvision:...``)
    names; see the module docstring. Missing: a FileNotFoundError of one line."""
    where = _where(spec)
    looked = []
    if where.hf_repo:
        path = _hf_cached(where.hf_repo, where.hf_files)
        if path is not None:
            return Source(spec, path, where.cfg)
        looked.append(f"{_hf_repo(where.hf_repo)}/snapshots/<refs/main>/{where.hf_files[0]}")
    if where.hub_file is not None:
        if where.hub_file.is_file():
            return Source(spec, where.hub_file, where.cfg)
        looked.append(str(where.hub_file))
    raise FileNotFoundError(
        f"pretrained={spec!r}: no weights at {' nor '.join(looked)}; fetch them once online "
        f'with: python -c "{where.fetch}"'
    )


def cache_weights(spec: str, tensors: dict[str, torch.Tensor], revision: str = "local") -> Path:
    """Write ``tensors`` where :func:`find_source` looks for ``spec``, atomically: a snapshot
    ``revision`` of the Hugging Face cache (and ``refs/main`` naming it) for weights hosted
    there, else ``$TORCH_HOME/hub/checkpoints``. For weights copied onto an offline machine,
    and for tests."""
    where = _where(spec)
    if where.hf_repo:
        path = _hf_repo(where.hf_repo) / "snapshots" / revision / where.hf_files[0]
    elif where.hub_file is not None:
        path = where.hub_file
    else:
        raise AttnzooError(f"{spec}: timm names no place for these weights")
    if path.suffix == ".safetensors":
        data = save({k: v.contiguous() for k, v in tensors.items()})
        atomic_write(path, lambda f: f.write(data))
    else:
        atomic_write(path, lambda f: torch.save(tensors, f))
    if where.hf_repo:  # the snapshot is complete: point refs/main at it
        atomic_write_text(_hf_repo(where.hf_repo) / "refs" / "main", revision)
    return path


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file, or of a pickled state dict read with
    ``weights_only=True`` (a dict that nests it under ``state_dict`` or ``model`` is unwrapped)."""
    if path.suffix == ".safetensors":
        try:
            return load_file(path)
        except (SafetensorError, OSError) as err:
            raise AttnzooError(f"{path} is not a safetensors file: {err}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AttnzooError(
            f"{path}: not a plain tensor file; torch.load(weights_only=True) refused it ({reason})"
        ) from None
    if isinstance(state, dict):
        state = state.get("state_dict", state.get("model", state))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AttnzooError(f"{path} holds no state dict (a dict of tensors)")
    return state
