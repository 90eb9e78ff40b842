"""The plain-PyTorch peers compute their modules' functions (float64, copied weights)."""

from __future__ import annotations

import copy

import pytest
import torch
from tests.attention.reference import randn, randomize

from attnzoo import create_model
from attnzoo.attention import aux_loss, build_attention, get_attention_class, list_attention
from attnzoo.benchmarks.peers import PEER_NAMES, PEERS, peer, with_peers

VARIANTS = [(name, {}) for name in PEER_NAMES] + [
    ("bam", {"form": "code"}),
    ("gc", {"fusion": "both"}),
    ("ba2m", {"branches": "ca+gsa", "sar": "spatial", "scale": "none", "tau": 0.5}),
    ("ba2m", {"branches": "lsa"}),
    ("ba2m", {"eval_mode": "batch"}),
    ("srm", {"unbiased": False, "eps": 1e-3}),
    ("sge", {"groups": 4}),
    ("ge", {"extent": 2}),
    ("ge", {"extent": 4, "param": True}),
    ("ge", {"param": True, "mlp": True}),
    ("ge", {"param": True, "feat_size": 6}),
    ("iebn", {"momentum": None}),
    ("iebn", {"track_running_stats": False}),
    ("sk", {"paths": 3, "stride": 2, "dilated": False}),
    ("aa", {"stride": 2, "heads": 4}),
    ("aa", {"relative": False}),
    ("aa", {"dv": 1.0, "max_size": 8}),
    ("sasa", {"stride": 2, "kernel_size": 3, "groups": 2}),
    ("sasa", {"scaled": False, "heads": 2}),
]


def outputs_and_grads(module, x):
    x = x.detach().clone().requires_grad_()
    y = module(x)
    g = randn(*y.shape, seed=3)  # the same for both: strided modules shrink the map
    loss = (y * g).sum() + aux_loss(module)
    params = [p for _, p in sorted(module.named_parameters())]
    return y, torch.autograd.grad(loss, [x, *params], allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=lambda v: str(v))
def test_peer_computes_the_modules_function(name, options, training):
    module = randomize(build_attention(name, 32, **options), seed=1).train(training)
    twin = peer(module)
    assert not any(type(m) in PEERS for m in twin.modules())
    x = randn(4, 32, 6, 5, seed=2)
    y, grads = outputs_and_grads(module, x)
    y_peer, grads_peer = outputs_and_grads(twin, x)
    torch.testing.assert_close(y_peer, y, rtol=1e-6, atol=1e-9)
    assert len(grads_peer) == len(grads)  # the same parameters, in the same (sorted) order
    for got, want in zip(grads_peer, grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-9)
    for (n, a), (_, b) in zip(module.named_buffers(), twin.named_buffers(), strict=True):
        torch.testing.assert_close(b, a, msg=n)  # BatchNorm statistics updated alike


@pytest.mark.parametrize("name", PEER_NAMES)
def test_peers_take_channels_last_input(name):
    module = randomize(build_attention(name, 32), seed=7).train()
    x = randn(4, 32, 6, 5, seed=8).contiguous(memory_format=torch.channels_last)
    y_peer = peer(module)(x)  # the peer first: both update their own copies of the statistics
    torch.testing.assert_close(y_peer, module(x), rtol=1e-6, atol=1e-9)


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


NETWORKS = [
    ("resnet20", ["se", "ba2m"]),
    ("resnet83", ["sk", "srm"]),  # SK, AA, SASA: peers in place of the bottleneck's 3x3 conv
    ("resnet83", [("aa", {"max_size": 8}), "iebn"]),
    ("resnet83", [("sasa", {"kernel_size": 3}), "ge"]),
]


@pytest.mark.parametrize(("model_name", "attention"), NETWORKS, ids=lambda v: str(v))
def test_with_peers_swaps_every_module_and_keeps_the_network_function(model_name, attention):
    torch.manual_seed(0)
    model = create_model(model_name, attention=attention).double().train()
    plain = with_peers(copy.deepcopy(model))  # the peers take copies of the modules' weights
    counts = [sum(type(m) is cls for m in model.modules()) for cls in PEERS]
    peer_counts = [sum(type(m) is cls for m in plain.modules()) for cls in PEERS.values()]
    assert counts == peer_counts and sum(c > 0 for c in counts) == len(attention)
    assert not any(type(m) in PEERS for m in plain.modules())
    x = randn(2, 3, 8, 8, seed=6)
    torch.testing.assert_close(plain.train()(x), model(x), rtol=1e-6, atol=1e-9)


def test_every_registered_module_has_a_peer():
    # Modules registered by attnzoo itself; a user's own module (or a test's) may have none.
    own = [n for n in list_attention() if get_attention_class(n).__module__.startswith("attnzoo.")]
    assert [n for n in own if get_attention_class(n) not in PEERS] == []
    assert set(own) <= set(PEER_NAMES)


def test_a_module_without_peer_is_refused():
    with pytest.raises(ValueError, match="no plain-PyTorch peer for Identity"):
        peer(torch.nn.Identity())
