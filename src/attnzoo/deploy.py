"""Inference copies of models, with the modules that do nothing at inference taken out.

Some attention modules act only in training: BA2M with ``eval_mode="identity"`` returns its input
in eval mode. Left in place they still cost parameters, a call and an input check per forward pass,
so a deployed model would not cost exactly its baseline. :func:`deploy` removes them.

A module opts in through the :class:`~attnzoo.attention.base.AttentionModule` hook
``identity_at_inference(self) -> bool``, returning True when its eval-mode forward returns its input
unchanged (whatever its options make of the training-mode forward). :func:`deploy` finds such
modules without knowing them by name, so a new module needs only this method. Other modules, and
those whose hook returns False, are kept.
"""

from __future__ import annotations

import copy

from torch import nn

from .attention.base import AttentionModule


def is_identity_at_inference(module: nn.Module) -> bool:
    """Whether ``module`` declares that its eval-mode forward returns its input unchanged."""
    return isinstance(module, AttentionModule) and module.identity_at_inference()


def deploy(model: nn.Module) -> nn.Module:
    """An inference copy of ``model``: eval mode, no parameter requiring gradients, and every
    module that is the identity at inference replaced by ``nn.Identity``.

    ``model`` itself is left untouched. Where several modules share a slot (an ``nn.Sequential``),
    only the identity ones are replaced, in place, so the others keep their order and state-dict
    keys. The copy is meant for inference only: switching it back to training would train a
    network without the removed modules.
    """
    if is_identity_at_inference(model):
        return nn.Identity()
    model = copy.deepcopy(model).eval()
    model.requires_grad_(False)
    _replace_identities(model)
    return model


def _replace_identities(module: nn.Module) -> None:
    for name, child in module.named_children():
        if is_identity_at_inference(child):
            # setattr on a Module with a Module value goes to _modules, also for the "0", "1"
            # names of an nn.Sequential or nn.ModuleList, so containers keep their length.
            setattr(module, name, nn.Identity())
        else:
            _replace_identities(child)
