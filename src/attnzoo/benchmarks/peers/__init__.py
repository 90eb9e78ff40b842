"""Each attention module's function written the plain way, as timm writes its modules: the peer
every benchmark table compares attnzoo's implementation against.

A peer is built from an attnzoo module and takes over its layers (copies of them, so the same
weights): the forward is the paper's formula in stock PyTorch operators (``mean``, ``amax``, 1x1
convolutions, ``sigmoid``, a product, ``q @ k``), differentiated by plain autograd, with none of
:mod:`attnzoo.attention._ops`'s custom backward passes, sorted-prefix tricks or fused kernels that
attnzoo's modules use. Where timm has the module (SE, CBAM, ECA, GC, GE, SK) the peer follows
timm's forward; AA follows timm's ``BottleneckAttn`` and SASA its ``HaloAttn``, with the module's
own options (offset tables, masked borders); the others (BAM, SPEM, SRM, SGE, IEBN, BA2M) follow
the authors' code. Layers that already are stock PyTorch (convolution stacks, SK's paths, BA2M's
GSA, which runs ``scaled_dot_product_attention`` as timm's attention layers do) are reused as they
are. A peer keeps its module's parameter names where they sort alike, and computes in the input's
dtype (some modules take half-precision statistics in float32).

``tests/benchmarks/test_peers.py`` checks in float64 that each peer computes its module's
function, in training and evaluation. :func:`with_peers` swaps every module of a network for its
peer, in the same place (for SK, AA and SASA: in place of the same convolution).
"""

from __future__ import annotations

from torch import nn

from ...attention import AA, BA2M, BAM, CBAM, ECA, GC, GE, IEBN, SASA, SE, SGE, SK, SPEM, SRM
from ...attention.registry import get_attention_class, list_attention
from ...validation import AttnzooError
from .convs import AAPeer, SASAPeer, SKPeer
from .gates import ECAPeer, GCPeer, GEPeer, IEBNPeer, SEPeer, SPEMPeer, SRMPeer
from .maps import BA2MPeer, BAMPeer, CBAMPeer, SGEPeer

PEERS: dict[type[nn.Module], type[nn.Module]] = {
    SE: SEPeer,
    CBAM: CBAMPeer,
    BAM: BAMPeer,
    SPEM: SPEMPeer,
    ECA: ECAPeer,
    GC: GCPeer,
    BA2M: BA2MPeer,
    SRM: SRMPeer,
    SGE: SGEPeer,
    GE: GEPeer,
    IEBN: IEBNPeer,
    SK: SKPeer,
    AA: AAPeer,
    SASA: SASAPeer,
}


def peer_names() -> tuple[str, ...]:
    """The registered attention names that have a peer, sorted."""
    return tuple(name for name in list_attention() if get_attention_class(name) in PEERS)


PEER_NAMES = peer_names()  # every built-in module; a user's own registered module has none


def peer(module: nn.Module) -> nn.Module:
    """The peer of an attnzoo attention module, with copies of its layers (same weights)."""
    try:
        cls = PEERS[type(module)]
    except KeyError:
        raise AttnzooError(f"no plain-PyTorch peer for {type(module).__name__}") from None
    return cls(module).train(module.training)


def with_peers(model: nn.Module) -> nn.Module:
    """Replace, in place, every attention module of ``model`` that has a peer by its peer."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in PEERS:
                setattr(parent, name, peer(child))
    return model


__all__ = [
    "PEERS",
    "PEER_NAMES",
    "AAPeer",
    "BA2MPeer",
    "BAMPeer",
    "CBAMPeer",
    "ECAPeer",
    "GCPeer",
    "GEPeer",
    "IEBNPeer",
    "SASAPeer",
    "SEPeer",
    "SGEPeer",
    "SKPeer",
    "SPEMPeer",
    "SRMPeer",
    "peer",
    "peer_names",
    "with_peers",
]
