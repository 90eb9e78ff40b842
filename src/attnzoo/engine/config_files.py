"""Experiment YAML files: found by path or by name, named ones shipped inside the package.

A name ``NAME`` is looked up as ``./configs/NAME.yaml`` (a user's own recipes, which win), then as
the packaged ``attnzoo/configs/NAME.yaml`` (the papers' recipes, read through
``importlib.resources`` so that they work from an installed wheel as from a clone).
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from ..validation import AttnzooError

ConfigFile = Path | Traversable


def packaged_configs() -> Traversable:
    """The folder of named configs inside the installed package."""
    return resources.files("attnzoo") / "configs"


def config_dirs() -> list[ConfigFile]:
    """Where configs are looked up by name, in order: ./configs, then the packaged ones."""
    return [Path("configs"), packaged_configs()]


def _yaml_files(folder: ConfigFile) -> list[ConfigFile]:
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.name.endswith(".yaml") and p.is_file()]


def list_configs() -> list[str]:
    """The names ``--config`` and ``attnzoo sweep`` accept: ./configs/ and packaged ones."""
    return sorted({p.name.removesuffix(".yaml") for d in config_dirs() for p in _yaml_files(d)})


def config_path(name_or_path: str) -> ConfigFile:
    """A config file given by path, or by name (``NAME`` -> ``configs/NAME.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidates = [d / f"{name_or_path}.yaml" for d in config_dirs()]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"config {name_or_path!r} not found: no such file, no ./configs/{name_or_path}.yaml "
            f"and no packaged config of that name. Known configs: "
            f"{', '.join(list_configs()) or 'none'}"
        )
    return found


def _identity(path: ConfigFile) -> str:
    return str(path.resolve()) if isinstance(path, Path) else str(path)


def read_config_file(name_or_path: str, _chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """A YAML experiment file, by path or by name (see :func:`config_path`).

    The file holds TrainConfig keys at the top level and, optionally, ``description``, a
    ``sweep`` section (``models``, ``attention``, ``seeds``, ``published``, ``variants``) read by
    ``attnzoo sweep``, and ``extends: OTHER``: the training settings of config OTHER (a name or a
    path; not its description or sweep), which this file's keys override.
    """
    path = config_path(name_or_path)
    if _identity(path) in _chain:
        cycle = " -> ".join((*_chain, _identity(path)))
        raise AttnzooError(f"config {path}: extends itself ({cycle})")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise AttnzooError(f"config {path}: invalid YAML: {err}") from None
    if not isinstance(values, dict):
        raise AttnzooError(f"config {path}: expected a mapping of keys to values")
    values.pop("description", None)
    parent = values.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise AttnzooError(f"config {path}: extends={parent!r} should name a config")
        inherited = read_config_file(parent, (*_chain, _identity(path)))
        inherited.pop("sweep", None)
        values = {**inherited, **values}
    out_dir = values.get("out_dir")
    if isinstance(out_dir, str) and (Path(out_dir).is_absolute() or ".." in Path(out_dir).parts):
        # A config file may come from anyone: it must not pick where files are written.
        raise AttnzooError(
            f"config {path}: out_dir={out_dir!r} must be a relative path inside the working "
            "directory; give out_dir outside the file (on the command line) to write elsewhere"
        )
    return values
