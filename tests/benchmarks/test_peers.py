"""The plain-PyTorch peers compute their modules' functions (float64, copied weights)."""

from __future__ import annotations

import pytest
import torch
from tests.attention.reference import randn, randomize

from attnzoo import create_model
from attnzoo.attention import aux_loss, build_attention
from attnzoo.benchmarks.peers import PEER_NAMES, PEERS, peer, with_peers

VARIANTS = [(name, {}) for name in PEER_NAMES] + [
    ("bam", {"form": "code"}),
    ("gc", {"fusion": "both"}),
    ("ba2m", {"branches": "ca+gsa", "sar": "spatial", "scale": "none", "tau": 0.5}),
    ("ba2m", {"branches": "lsa"}),
    ("ba2m", {"eval_mode": "batch"}),
]


def outputs_and_grads(module, x, g):
    x = x.detach().clone().requires_grad_()
    y = module(x)
    loss = (y * g).sum() + aux_loss(module)
    params = [p for _, p in sorted(module.named_parameters())]
    return y, torch.autograd.grad(loss, [x, *params], allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=lambda v: str(v))
def test_peer_computes_the_modules_function(name, options, training):
    module = randomize(build_attention(name, 32, **options), seed=1).train(training)
    twin = peer(module)
    assert not any(type(m) in PEERS for m in twin.modules())
    x, g = randn(4, 32, 6, 5, seed=2), randn(4, 32, 6, 5, seed=3)
    y, grads = outputs_and_grads(module, x, g)
    y_peer, grads_peer = outputs_and_grads(twin, x, g)
    torch.testing.assert_close(y_peer, y, rtol=1e-6, atol=1e-9)
    assert len(grads_peer) == len(grads)  # the same parameters, in the same (sorted) order
    for got, want in zip(grads_peer, grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)
    for (n, a), (_, b) in zip(module.named_buffers(), twin.named_buffers(), strict=True):
        torch.testing.assert_close(b, a, msg=n)  # BatchNorm statistics updated alike


def test_peers_use_no_custom_autograd_function():
    x = randn(4, 32, 6, 5, seed=4).requires_grad_()
    for name in PEER_NAMES:
        twin = peer(randomize(build_attention(name, 32), seed=5).train())
        node, seen = twin(x).grad_fn, []
        stack = [node]
        while stack:
            node = stack.pop()
            if node is not None and node not in seen:
                seen.append(node)
                stack += [next_node for next_node, _ in node.next_functions]
        assert not any("BackwardCFunction" in type(n).__name__ for n in seen), name


def test_with_peers_swaps_every_module_and_keeps_the_network_function():
    torch.manual_seed(0)
    model = create_model("resnet20", attention=["se", "ba2m"]).double().train()
    plain = with_peers(create_model("resnet20", attention=["se", "ba2m"]).double())
    plain.load_state_dict(model.state_dict())
    counts = [sum(type(m) is cls for m in model.modules()) for cls in PEERS]
    peer_counts = [sum(type(m) is cls for m in plain.modules()) for cls in PEERS.values()]
    assert counts == peer_counts and sum(counts) == 9 + 3
    assert not any(type(m) in PEERS for m in plain.modules())
    x = randn(4, 3, 16, 16, seed=6)
    torch.testing.assert_close(plain.train()(x), model(x), rtol=1e-6, atol=1e-9)


def test_a_module_without_peer_is_refused():
    with pytest.raises(ValueError, match="no plain-PyTorch peer for SRM"):
        peer(build_attention("srm", 8))
