"""The training configuration: one flat dataclass, validated before any work starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models import check_model_options, list_models, plan_attention
from ..run_keys import RESUMABLE_CHANGES  # noqa: F401  (re-exported: trainer, sweep)

# Re-exported: configs by name and path live in config_files.py.
from .config_files import (  # noqa: F401
    config_dirs,
    config_path,
    list_configs,
    read_config_file,
)
from .losses import LOSSES

SCHEDULES = ("constant", "step", "multistep", "cosine")
AUGMENTS = ("cifar", "imagenet")
AMP = ("none", "bf16", "fp16")


@dataclass
class TrainConfig:
    model: str = "resnet20"
    attention: list[str] = field(default_factory=list)
    # Options per attention module, keyed by its name: {"ba2m": {"tau": 0.5}}.
    attention_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_options: dict[str, Any] = field(default_factory=dict)  # e.g. {"drop_rate": 0.3}
    data: str = "cifar10"
    train_per_class: int | None = None  # keep the first k training images of each class
    test_per_class: int | None = None
    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 500
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: list[int] = field(default_factory=list)  # epochs, for "multistep"
    step_size: int = 30  # epochs, for "step"
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    nesterov: bool = False
    label_smoothing: float = 0.0
    loss: str = "ce"  # "focal" or "ohem": loss re-weighting baselines, see engine/losses.py
    focal_gamma: float = 2.0
    ohem_fraction: float = 0.7  # share of each batch, hardest first, that OHEM trains on
    norm_bias_decay: bool = True  # False: no weight decay on normalisation weights and biases
    # "cifar": whole dataset in memory, batched pad-crop-flip; "imagenet": images decoded in
    # worker processes, RandomResizedCrop + flip for training, resize + centre crop for testing.
    augment: str = "cifar"
    padding: int = 4  # random-crop padding of the CIFAR augmentation (0 disables the crop)
    image_size: int = 224  # crop size of the ImageNet augmentation
    workers: int = 4  # decoding processes of the ImageNet augmentation
    device: str = "auto"  # auto: cuda when available
    amp: str = "none"  # bf16 autocast (CPU or GPU), or fp16 with a gradient scaler (GPU)
    channels_last: bool = False
    compile: bool = False  # torch.compile the model
    sync_bn: bool = False  # BatchNorm statistics over all processes' batches
    seed: int = 0
    resume: str = ""  # "auto": continue from the run directory's checkpoint, if any
    save_every: int = 0  # also checkpoint every N steps within an epoch (0: at epoch ends only)
    keep_every: int = 0  # keep the checkpoint of every N-th epoch as epoch-NNN.safetensors
    tensorboard: bool = True  # write TensorBoard event files when tensorboard is installed
    out_dir: str = ""  # default: runs/<model>-<attention>-s<seed>

    def __post_init__(self) -> None:
        if not self.out_dir:
            self.out_dir = f"runs/{self.model}-{'+'.join(self.attention) or 'none'}-s{self.seed}"

    def attention_spec(self) -> list[tuple[str, dict[str, Any]]]:
        """The ``attention`` argument of ``create_model`` for this configuration."""
        return [(name, dict(self.attention_options.get(name, {}))) for name in self.attention]

    def validate(self) -> None:
        """Raise a ValueError naming the first impossible setting."""

        def need(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise ValueError(f"config: {key}={getattr(self, key)!r} {what}")

        need(self.model in list_models(), "model", f"is unknown; valid: {', '.join(list_models())}")
        need(self.epochs >= 1, "epochs", "must be at least 1")
        need(self.batch_size >= 2, "batch_size", "must be at least 2 (BatchNorm in training)")
        need(self.eval_batch_size >= 1, "eval_batch_size", "must be positive")
        need(self.lr > 0, "lr", "must be positive")
        need(0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        need(self.weight_decay >= 0, "weight_decay", "must be non-negative")
        need(self.schedule in SCHEDULES, "schedule", f"must be one of {', '.join(SCHEDULES)}")
        need(self.step_size >= 1, "step_size", "must be at least 1")
        need(0 < self.gamma <= 1, "gamma", "must be in (0, 1]")
        need(0 <= self.warmup_epochs < self.epochs, "warmup_epochs", "must be in [0, epochs)")
        need(self.padding >= 0, "padding", "must be non-negative")
        need(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        need(not self.nesterov or self.momentum > 0, "nesterov", "needs momentum > 0")
        need(self.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}")
        need(self.focal_gamma >= 0, "focal_gamma", "must be non-negative")
        need(0 < self.ohem_fraction <= 1, "ohem_fraction", "must be in (0, 1]")
        need(self.loss != "focal" or self.label_smoothing == 0, "label_smoothing",
             "is not defined for the focal loss; set it to 0")  # fmt: skip
        need(self.augment in AUGMENTS, "augment", f"must be one of {', '.join(AUGMENTS)}")
        need(self.image_size >= 8, "image_size", "must be at least 8")
        need(self.workers >= 0, "workers", "must be non-negative")
        need(self.amp in AMP, "amp", f"must be one of {', '.join(AMP)}")
        need(self.save_every >= 0, "save_every", "must be non-negative")
        need(self.keep_every >= 0, "keep_every", "must be non-negative")
        need(self.resume in ("", "auto") or Path(self.resume).is_file(), "resume",
             "must be '', 'auto' or an existing checkpoint file")  # fmt: skip
        for key in ("train_per_class", "test_per_class"):
            need(getattr(self, key) is None or getattr(self, key) >= 1, key, "must be positive")
        stray = sorted(set(self.attention_options) - set(self.attention))
        need(not stray, "attention_options", f"names modules not in attention: {stray}")
        plan_attention(self.attention_spec())  # unknown names or options fail here
        check_model_options(self.model, self.model_options)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from plain values (YAML, JSON), with unknown keys and wrong types named."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"config: unknown key(s) {', '.join(unknown)}")
        for key, value in values.items():
            _check_type(key, value, fields[key].type)
        return cls(**values)


_TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "int | None": (int,)}


def _check_type(key: str, value: Any, annotation: str) -> None:
    if value is None and "None" in annotation:
        return
    if annotation.startswith("list["):
        ok = isinstance(value, list)
    elif annotation.startswith("dict["):
        ok = isinstance(value, dict)
    else:
        expected = _TYPES[annotation]
        # bool is an int in Python; a YAML "true" must not pass for an epoch count.
        ok = isinstance(value, expected) and (annotation == "bool" or not isinstance(value, bool))
    if not ok:
        raise ValueError(f"config: {key}={value!r} should be of type {annotation}")
