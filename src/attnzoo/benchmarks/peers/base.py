"""What every peer does first: take its module's settings and copies of its layers."""

from __future__ import annotations

import copy
from typing import ClassVar

from torch import nn


class Peer(nn.Module):
    """Base of the peers, built from the module they stand for.

    ``layers`` names the module's layers and parameters (or None where the module has none) that
    the peer takes as copies: the same weights, but the peer trains its own, so it never shares
    state with its module; ``renamed`` does the same under the peer's own names ((peer name,
    module name) pairs). ``settings`` names plain values (ints, strings) it reads as they are.
    """

    layers: ClassVar[tuple[str, ...]] = ()
    renamed: ClassVar[tuple[tuple[str, str], ...]] = ()
    settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        for name in self.settings:
            setattr(self, name, getattr(module, name))
        for name, source in [*((n, n) for n in self.layers), *self.renamed]:
            setattr(self, name, copy.deepcopy(getattr(module, source)))
