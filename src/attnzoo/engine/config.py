"""The training configuration: one flat dataclass, validated before any work starts."""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import validation
from ..attention.spec import parse_setting, spec_name
from ..models import check_model_options, list_models, plan_attention
from ..run_keys import config_changes
from ..validation import AttnzooError
from .compile import COMPILE_MODES
from .losses import LOSSES

SCHEDULES = ("constant", "step", "multistep", "cosine")
AUGMENTS = ("cifar", "imagenet")
AMP = ("none", "bf16", "fp16")


def _field(default: Any, help: str, **meta: Any) -> Any:
    """A TrainConfig field: its default, its one-line help (the command line's too) and, for a
    string with fixed values, ``choices``. A mutable default is copied per instance."""
    meta = {"help": help, **meta}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


# A field that the command line sets through flags of the spec grammar, not a --NAME of its own.
_NO_FLAG = {"flag": False}


@dataclass
class TrainConfig:
    """Every setting of a training run; each field's type, default and help are declared here
    once, and the YAML loader, the checks and the ``attnzoo train`` flags are derived from them."""

    task: str = _field(
        "classification", "what to train: classification, or a task registered by register_task"
    )
    model: str = _field("resnet20", "backbone name (see `attnzoo list`)")
    attention: list[str] = _field(
        [], "one attention setting: a module name or names joined by '+' (se+ba2m)", **_NO_FLAG
    )
    attention_options: dict[str, dict[str, Any]] = _field(
        {}, "options per attention module, keyed by its name: {ba2m: {tau: 0.5}}", **_NO_FLAG
    )
    model_options: dict[str, Any] = _field(
        {}, "backbone options, e.g. {drop_rate: 0.3}", **_NO_FLAG
    )
    pretrained: str = _field(
        "",
        "start from published weights, timm:NAME[.TAG] or torchvision:NAME[.WEIGHTS] (attnzoo "
        "list --pretrained), a weights file, or a run directory ('': from scratch)",
    )
    pretrained_strict: bool = _field(
        False, "a tensor of the pretrained source that has no place in the model is an error"
    )
    pretrained_preprocess: bool = _field(
        True,
        "with a timm/torchvision pretrained source: its mean and std and (imagenet augment) its "
        "input size, resize and interpolation, not the data's statistics and image_size",
    )
    data: str = _field(
        "cifar10",
        "built-in dataset name (cifar10, cifar10-jpeg, cifar100, fashion-mnist) or a path in a "
        "supported format",
    )
    download: bool = _field(
        True,
        "fetch a missing built-in dataset from its official archive (--no-download: never)",
    )
    train_per_class: int | None = _field(
        None, "keep only the first K training images of each class"
    )
    test_per_class: int | None = _field(None, "keep only the first K test images of each class")
    val_split: float = _field(
        0.0,
        "training images held out as a validation split, never trained on, evaluated each epoch: "
        "a count (1 or more) or a fraction (below 1), class-balanced, drawn by the seed; 0: none",
    )
    epochs: int = _field(10, "training epochs")
    batch_size: int = _field(128, "images per step and per process")
    eval_batch_size: int = _field(500, "images per evaluation step")
    lr: float = _field(0.1, "peak learning rate")
    momentum: float = _field(0.9, "SGD momentum")
    weight_decay: float = _field(5e-4, "SGD weight decay")
    schedule: str = _field("cosine", "learning-rate schedule", choices=SCHEDULES)
    milestones: list[int] = _field([], "epochs at which multistep multiplies the lr by gamma")
    step_size: int = _field(30, "epochs between lr decays for the step schedule")
    gamma: float = _field(0.1, "lr decay factor of the step and multistep schedules")
    warmup_epochs: float = _field(0.0, "linear lr warm-up length in epochs (fractions allowed)")
    nesterov: bool = _field(False, "Nesterov momentum")
    label_smoothing: float = _field(0.0, "label smoothing of the cross-entropy")
    loss: str = _field(
        "ce",
        "ce, or a loss re-weighting baseline (engine/losses.py): focal, ohem (hardest share of "
        "each batch)",
        choices=LOSSES,
    )
    focal_gamma: float = _field(2.0, "focusing exponent of the focal loss")
    ohem_fraction: float = _field(0.7, "share of each batch, hardest first, that OHEM trains on")
    lr_scales: dict[str, float] = _field(
        {},
        "learning-rate multipliers by parameter-name pattern, first match wins: {'stages.*': 0.1} "
        "(e.g. a pretrained backbone at a tenth, new modules and head at the full rate)",
    )
    freeze: list[str] = _field(
        [], "parameter-name patterns not trained, e.g. ['stem.*', 'stages.0.*']"
    )
    pretrained_lr_scale: float = _field(
        1.0,
        "learning-rate multiplier of the parameters loaded from pretrained (lr_scales patterns "
        "take precedence; new attention modules and head: the full rate)",
    )
    freeze_bn: bool = _field(
        False,
        "the BatchNorm layers loaded from pretrained always normalise with their running "
        "statistics, and their scales and shifts are not trained",
    )
    norm_bias_decay: bool = _field(
        True, "weight decay on normalisation weights and biases (--no-... to skip)"
    )
    augment: str = _field(
        "cifar",
        "cifar: whole dataset in memory, batched pad-crop-flip; imagenet: decoded in worker "
        "processes, RandomResizedCrop + flip (train), resize + centre crop (test)",
        choices=AUGMENTS,
    )
    padding: int = _field(4, "zero padding of the CIFAR random crop (0: no crop)")
    resize: int = _field(
        0,
        "cifar augment: resize the images to this size after the crop (224: CIFAR for ImageNet "
        "weights; 0: as stored)",
    )
    image_size: int = _field(224, "crop size of the imagenet augmentation")
    workers: int = _field(
        4, "image-decoding processes of the imagenet augmentation and of detection"
    )
    device: str = _field("auto", "cpu, cuda, cuda:N, or auto: cuda when available")
    amp: str = _field(
        "none", "mixed precision: bf16 (CPU/GPU) or fp16 with a gradient scaler (GPU)", choices=AMP
    )
    channels_last: bool = _field(False, "channels-last memory format")
    compile: bool = _field(False, "torch.compile the model")
    compile_mode: str = _field(
        "default",
        "torch.compile's mode with --compile (reduce-overhead: CUDA graphs)",
        choices=COMPILE_MODES,
    )
    sync_bn: bool = _field(False, "BatchNorm statistics over all processes (torchrun)")
    seed: int = _field(0, "random seed")
    resume: str = _field(
        "", "'auto': continue from the run directory's checkpoint; or a checkpoint path"
    )
    save_every: int = _field(0, "also checkpoint every N steps within an epoch (0: at epoch ends)")
    keep_every: int = _field(
        0, "keep every N-th epoch's checkpoint as epoch-NNN.safetensors (for analysis)"
    )
    tensorboard: bool = _field(
        True, "write TensorBoard event files (extra attnzoo[tensorboard]; warns when missing)"
    )
    out_dir: str = _field("", "run directory (default runs/<model>-<attention>-s<seed>)")
    detector: str = _field(
        "faster_rcnn",
        "detection task: faster_rcnn or retinanet (instance-segmentation: Mask R-CNN)",
        choices=("faster_rcnn", "retinanet"),
    )
    min_size: int = _field(800, "detection: resize the shorter image side to this (COCO: 800)")
    train_sizes: list[int] = _field(
        [],
        "detection: multi-scale training: each training image's shorter side drawn from these "
        "(e.g. [640, 672, 704, 736, 768, 800]); testing resizes to min_size ([]: min_size)",
    )
    aspect_ratio_group_factor: int = _field(
        3,
        "detection: batch training images of one aspect-ratio group, 2 x N + 2 groups "
        "(torchvision's reference; 0: wider than tall or not; -1: no grouping)",
    )
    max_size: int = _field(1333, "detection: longest image side at most (COCO: 1333)")
    trainable_stages: int | None = _field(
        None,
        "detection: trained stages counted from the top, the stem last (torchvision's "
        "trainable_backbone_layers; default 3 with pretrained, all without)",
    )
    fpn_channels: int = _field(256, "detection: channels of the feature pyramid")
    cls_loss: str = _field(
        "focal",
        "detection, RetinaNet: classification loss, focal (sigmoid focal loss, alpha 0.25, "
        "gamma 2) or softmax (cross-entropy over background and the classes)",
        choices=("focal", "softmax"),  # models.detection_heads.CLS_LOSSES (not imported:
        # that module imports torchvision's detection models, 1.5 s of every process's start)
    )
    ohem: bool = _field(
        False,
        "detection, Faster/Mask R-CNN: train the box head on each image's hardest RoIs by loss "
        "(online hard example mining) instead of a random 1:3 sample",
    )
    allow_dirty: bool = _field(
        False,
        "train a run under a results/ directory from code with uncommitted changes (their diff "
        "is saved in the run directory as code.diff)",
    )

    def __post_init__(self) -> None:
        if not self.out_dir:
            self.out_dir = f"runs/{self.model}-{spec_name(self.attention)}-s{self.seed}"

    def attention_spec(self) -> list[tuple[str, dict[str, Any]]]:
        """The ``attention`` argument of ``create_model`` for this configuration."""
        return [(name, dict(self.attention_options.get(name, {}))) for name in self.attention]

    def validate(self) -> None:
        """Raise an AttnzooError naming the first impossible setting: a value outside its
        declared ``choices``, a number out of range, or settings that do not go together."""
        for f in config_fields():
            choices = f.metadata.get("choices")
            _need(
                self,
                not choices or getattr(self, f.name) in choices,
                f.name,
                f"must be one of {', '.join(choices or ())}",
            )
        need = functools.partial(_need, self)
        need(self.model in list_models(), "model", f"is unknown; valid: {', '.join(list_models())}")
        need(self.epochs >= 1, "epochs", "must be at least 1")
        need(self.batch_size >= 2, "batch_size", "must be at least 2 (BatchNorm in training)")
        need(self.eval_batch_size >= 1, "eval_batch_size", "must be positive")
        need(self.lr > 0, "lr", "must be positive")
        need(0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        need(self.weight_decay >= 0, "weight_decay", "must be non-negative")
        need(self.step_size >= 1, "step_size", "must be at least 1")
        need(0 < self.gamma <= 1, "gamma", "must be in (0, 1]")
        need(0 <= self.warmup_epochs < self.epochs, "warmup_epochs", "must be in [0, epochs)")
        need(self.padding >= 0, "padding", "must be non-negative")
        need(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        need(self.focal_gamma >= 0, "focal_gamma", "must be non-negative")
        need(0 < self.ohem_fraction <= 1, "ohem_fraction", "must be in (0, 1]")
        need(self.image_size >= 8, "image_size", "must be at least 8")
        need(self.resize == 0 or self.resize >= 8, "resize", "must be 0 or at least 8")
        need(self.pretrained_lr_scale >= 0, "pretrained_lr_scale", "must be non-negative")
        need(self.workers >= 0, "workers", "must be non-negative")
        need(all(v >= 0 for v in self.lr_scales.values()), "lr_scales", "must be non-negative")
        need(self.save_every >= 0, "save_every", "must be non-negative")
        need(self.keep_every >= 0, "keep_every", "must be non-negative")
        need(
            self.val_split >= 0 and (self.val_split < 1 or float(self.val_split).is_integer()),
            "val_split",
            "must be 0, a fraction below 1 or a whole number of images",
        )
        for key in ("train_per_class", "test_per_class"):
            need(getattr(self, key) is None or getattr(self, key) >= 1, key, "must be positive")
        self._check_combinations()
        plan_attention(self.attention_spec())  # unknown names or options fail here
        check_model_options(self.model, self.model_options)

    def _check_combinations(self) -> None:
        need = functools.partial(_need, self)
        need(not self.nesterov or self.momentum > 0, "nesterov", "needs momentum > 0")
        need(
            self.loss != "focal" or self.label_smoothing == 0,
            "label_smoothing",
            "is not defined for the focal loss; set it to 0",
        )
        need(
            self.resize == 0 or self.augment == "cifar",
            "resize",
            "is for augment=cifar; augment=imagenet crops image_size",
        )
        need(
            self.val_split == 0 or self.augment == "cifar",
            "val_split",
            "is for augment=cifar (data held in memory)",
        )
        need(
            self.pretrained_lr_scale == 1 or bool(self.pretrained),
            "pretrained_lr_scale",
            "scales the pretrained parameters: set pretrained",
        )
        need(
            not self.freeze_bn or bool(self.pretrained),
            "freeze_bn",
            "freezes the pretrained BatchNorm layers: set pretrained",
        )
        need(
            self.resume in ("", "auto") or Path(self.resume).is_file(),
            "resume",
            "must be '', 'auto' or an existing checkpoint file",
        )
        stray = sorted(set(self.attention_options) - set(self.attention))
        need(not stray, "attention_options", f"names modules not in attention: {stray}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from plain values (YAML, JSON), with unknown keys and wrong types named.

        ``attention`` may be a spec string (``"se+ba2m"``, see :mod:`attnzoo.attention.spec`); a
        string that spells a number is read as one where the field is numeric (YAML 1.1, which
        PyYAML follows, reads ``1e-3`` as a string).
        """
        hints = field_types()
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise AttnzooError(f"config: unknown key(s) {', '.join(unknown)}")
        values = dict(values)
        if isinstance(values.get("attention"), str):
            values["attention"] = parse_setting(values["attention"], "config: attention=")
        return cls(**{key: coerce(key, value, hints[key]) for key, value in values.items()})


def _need(config: TrainConfig, ok: bool, key: str, what: str) -> None:
    if not ok:
        raise AttnzooError(f"config: {key}={getattr(config, key)!r} {what}")


def config_fields() -> list[dataclasses.Field]:
    """TrainConfig's fields, in order; ``metadata`` holds ``help`` (and ``choices``, ``flag``)."""
    return list(dataclasses.fields(TrainConfig))


@functools.cache
def field_types() -> dict[str, Any]:
    """Each TrainConfig field's declared type, as a typing object (``int | None``, ...)."""
    return typing.get_type_hints(TrainConfig)


def type_name(hint: Any) -> str:
    """``int``, ``int | None``, ``list[int]``: a type as it is written in the declaration."""
    return hint.__name__ if isinstance(hint, type) and not typing.get_args(hint) else str(hint)


def coerce(key: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the declared type ``hint`` (a string that spells a number is
    read as one); a ValueError names the key, the type and the value otherwise."""
    try:
        return validation.coerce(value, hint, numeric_strings=True)
    except (TypeError, ValueError):
        message = f"config: {key}={value!r} should be of type {type_name(hint)}"
        raise AttnzooError(message) from None


def changes_since(saved: dict[str, Any], config: TrainConfig) -> dict[str, tuple]:
    """:func:`~attnzoo.run_keys.config_changes` from a run's ``saved`` config to ``config``.

    A setting the saved config lacks was written before the setting existed, and that run did
    what the setting's default does (a new setting's default keeps the old behaviour): it reads as
    its default, so that adding a setting does not make every earlier run a different one.
    """
    defaults = TrainConfig().to_dict()
    known = {**{k: v for k, v in defaults.items() if k not in saved}, **saved}
    return config_changes(known, config.to_dict())
