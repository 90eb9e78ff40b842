"""The hooks every attention module declares, in one place.

Backbones, the trainer and :func:`attnzoo.deploy` never know a module by name: they read the
declarations of :class:`AttentionModule`. A module class overrides only the hooks where it differs
from the defaults below. A class that does not derive from it (any ``nn.Module`` taking
``channels`` first, as timm's ``get_attn`` accepts) is treated as declaring all the defaults.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from ..validation import AttnzooError, fits
from ._checks import conv_out_channels

# Where a module can go in a backbone (see attnzoo.models.placement for what each means).
PLACEMENTS = ("block", "stage", "conv")
# Which stages a module goes in by default: every one, every one but the first / the last.
STAGE_SETS = ("all", "all_but_first", "all_but_last")


class AttentionModule(nn.Module):
    """Base class of attention modules: maps (N, C, H, W) to the same shape, or, for ``"conv"``
    modules, replaces a convolution of ``channels`` inputs.

    Class-level hooks (read from the class, before any instance exists):

    * ``default_placement`` (``"block"``): where the module goes when the user names none:
      ``"block"`` (inside each block, on the branch the block adds), ``"stage"`` (after a stage)
      or ``"conv"`` (in place of each block's 3x3 convolution);
    * ``default_stages`` (``"all"``): which stages get it at its default placement: ``"all"``,
      ``"all_but_first"``, ``"all_but_last"`` (stage placement only) or a tuple of 1-based
      stage numbers; at another placement it goes in all stages unless ``stages`` is given;
    * ``placements`` (``("block", "stage")``): the placements the module can take;
    * ``ends_with_bn_relu`` (False): for ``"conv"`` modules, whether the output is already
      normalised and activated, so a bottleneck adds no BN-ReLU after it;
    * ``feature_size_option`` (None): for ``"conv"`` modules whose parameters depend on the size
      of the map they see (AA's relative-position tables), the name of the option that takes the
      side of that map; a backbone passes each layer's side at the input size the model is built
      for (224 for ImageNet backbones, 32 for CIFAR ones), unless the user gave that option;
    * ``option_help`` ({}): each constructor option's meaning in one line, by option name, which
      ``attnzoo list MODULE`` prints and docs/modules.md's options tables repeat; a module
      declares one for every option it takes.

    Instance-level hooks (methods, since the answer can depend on options and parameters):

    * :meth:`aux_loss` (None): a term the trainer adds to the task loss, e.g. SPEM's penalty;
    * :meth:`identity_at_inference` (False): whether the eval-mode forward returns its input
      unchanged, so :func:`attnzoo.deploy` may remove the module;
    * :meth:`uncounted_macs` (0): multiply-adds of a forward pass that the module computes as
      element-wise products and sums (SASA's window products), which ``torch.utils.flop_counter``
      does not see; the complexity counter adds them.
    """

    default_placement: ClassVar[str] = "block"
    default_stages: ClassVar[str | tuple[int, ...]] = "all"
    placements: ClassVar[tuple[str, ...]] = ("block", "stage")
    ends_with_bn_relu: ClassVar[bool] = False
    feature_size_option: ClassVar[str | None] = None
    option_help: ClassVar[dict[str, str]] = {}

    def aux_loss(self) -> torch.Tensor | None:
        """A scalar added to the training loss, or None when the module has none."""
        return None

    def identity_at_inference(self) -> bool:
        """Whether the eval-mode forward returns its input unchanged."""
        return False

    def uncounted_macs(self, x: torch.Tensor) -> int:
        """Multiply-adds of ``forward(x)`` that ``torch.utils.flop_counter`` cannot see."""
        return 0


class ConvAttentionModule(AttentionModule):
    """Base class of modules in place of a convolution (``"conv"`` placement only), built as
    ``cls(in_channels, out_channels=..., stride=..., groups=..., **options)``: SK, AA, SASA.

    Its constructor checks those four arguments (``out_channels`` None: ``channels``; ``groups``
    dividing both widths) and keeps them as attributes, errors naming the subclass.
    """

    placements: ClassVar[tuple[str, ...]] = ("conv",)
    default_placement: ClassVar[str] = "conv"

    def __init__(self, channels: int, out_channels: int | None, stride: int, groups: int) -> None:
        super().__init__()
        name = type(self).__name__
        self.out_channels = conv_out_channels(name, channels, out_channels, stride, groups)
        self.channels, self.stride, self.groups = channels, stride, groups


def module_class(factory: Callable[..., nn.Module]) -> type[nn.Module]:
    """The class that ``factory`` (a class, or a ``functools.partial`` of one) builds."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    if not (isinstance(factory, type) and issubclass(factory, nn.Module)):
        raise AttnzooError(
            f"an attention must be a name, an nn.Module class or a functools.partial of one; "
            f"got {factory!r}"
        )
    return factory


def hook_class(factory: Callable[..., nn.Module]) -> type[AttentionModule]:
    """The class whose attributes are ``factory``'s class hooks: its own, or
    :class:`AttentionModule` (the defaults) for a module that does not derive from it."""
    cls = module_class(factory)
    return cls if issubclass(cls, AttentionModule) else AttentionModule


def option_names(factory: Callable[..., nn.Module]) -> list[str]:
    """Keyword options ``factory`` still accepts (a partial's bound ones included, as timm
    lets them be overridden), from its signature."""
    cls = module_class(factory)
    params = inspect.signature(cls.__init__).parameters
    return [
        p
        for p, v in params.items()
        if p not in ("self", "channels") and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)
    ]


def check_option_names(name: str, factory: Callable[..., nn.Module], options: dict[str, Any]):
    """Raise a ValueError naming any option ``factory`` does not take and listing the valid."""
    cls = module_class(factory)
    params = inspect.signature(cls.__init__).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return
    valid = option_names(factory)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise AttnzooError(
            f"attention {name!r} got unknown option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(valid) or 'none'}"
        )
    check_option_types(name, factory, options)


def check_option_types(name: str, factory: Callable[..., nn.Module], options: dict[str, Any]):
    """Raise a ValueError naming the module, the option, its declared type and the value given
    when a value does not have the type the module's signature declares (so that a wrong type
    fails here, in one line, not deep inside PyTorch)."""
    cls = module_class(factory)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):  # an annotation this Python cannot evaluate: nothing to check
        return
    for key, value in options.items():
        if key in hints and not fits(value, hints[key]):
            declared = inspect.signature(cls.__init__).parameters[key].annotation
            shown = declared if isinstance(declared, str) else getattr(declared, "__name__", "")
            # "GE: param='yes' should be bool": the form of the modules' own value errors.
            raise AttnzooError(f"{cls.__name__}: {key}={value!r} should be {shown} ({name})")
