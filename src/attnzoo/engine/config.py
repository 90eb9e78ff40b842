"""The training configuration: one flat dataclass, validated before any work starts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..models import list_models, plan_attention

SCHEDULES = ("constant", "step", "multistep", "cosine")


@dataclass
class TrainConfig:
    model: str = "resnet20"
    attention: list[str] = field(default_factory=list)
    # Options per attention module, keyed by its name: {"ba2m": {"tau": 0.5}}.
    attention_options: dict[str, dict[str, Any]] = field(default_factory=dict)
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
    padding: int = 4  # random-crop padding of the CIFAR augmentation (0 disables the crop)
    seed: int = 0
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
        for key in ("train_per_class", "test_per_class"):
            need(getattr(self, key) is None or getattr(self, key) >= 1, key, "must be positive")
        stray = sorted(set(self.attention_options) - set(self.attention))
        need(not stray, "attention_options", f"names modules not in attention: {stray}")
        plan_attention(self.attention_spec())  # unknown names or options fail here

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"config: unknown key(s) {', '.join(unknown)}")
        return cls(**values)
