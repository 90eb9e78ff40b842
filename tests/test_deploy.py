"""attnzoo.deploy: inference copies without the modules that are the identity at inference."""

import pytest
import torch
from torch import nn

from attnzoo import create_model, deploy
from attnzoo.attention.ba2m import BA2M
from attnzoo.attention.base import AttentionModule
from attnzoo.attention.se import SE
from attnzoo.benchmarks import complexity
from attnzoo.models import count_params

pytestmark = pytest.mark.usefixtures("one_thread")  # small models


def count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_eval_outputs(original: nn.Module, deployed: nn.Module) -> None:
    original.eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for batch in (4, 1):
            x = torch.randn(batch, 3, 32, 32, generator=gen)
            assert torch.equal(deployed(x), original(x)), batch


def test_ba2m_is_removed_and_outputs_are_unchanged():
    torch.manual_seed(0)
    model = create_model("resnet20", attention="ba2m")
    before = state(model)
    deployed = deploy(model)

    assert count(deployed, BA2M) == 0
    assert not deployed.training
    assert not any(p.requires_grad for p in deployed.parameters())
    assert count_params(deployed) == count_params(create_model("resnet20"))
    # the original is untouched: modules, mode, gradients, weights and statistics
    assert count(model, BA2M) == 3
    assert model.training
    assert all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert_same_eval_outputs(model, deployed)


def test_deployed_model_costs_the_baseline():
    deployed = deploy(create_model("resnet20", attention="ba2m"))
    plain = complexity(create_model("resnet20"), 32)
    got = complexity(deployed, 32)
    assert got["params"] == plain["params"]
    assert got["eval_macs"] == plain["eval_macs"]
    assert got["train_macs"] == plain["train_macs"]  # nothing batch-coupled left either


def test_other_attention_stays():
    model = create_model("resnet20", attention=["se", "ba2m"])
    deployed = deploy(model)
    assert count(deployed, BA2M) == 0
    assert count(deployed, SE) == count(model, SE) > 0
    assert_same_eval_outputs(model, deployed)


def test_only_the_identity_element_of_a_shared_slot_is_replaced():
    model = create_model("resnet20", attention=[("se", {"placement": "stage"}), "ba2m"])
    deployed = deploy(model)
    for slot in deployed.stage_attn:
        assert isinstance(slot, nn.Sequential) and len(slot) == 2
        assert isinstance(slot[0], SE) and type(slot[1]) is nn.Identity
    assert set(deployed.state_dict()) < set(model.state_dict())  # SE keeps its keys
    assert_same_eval_outputs(model, deployed)


def test_a_slot_of_identities_only_is_fine():
    model = create_model("resnet20", attention=["ba2m", ("ba2m", {"tau": 0.5})])
    deployed = deploy(model)
    assert count(deployed, BA2M) == 0
    assert count_params(deployed) == count_params(create_model("resnet20"))
    assert_same_eval_outputs(model, deployed)


def test_ba2m_with_batch_evaluation_stays():
    model = create_model("resnet20", attention=("ba2m", {"eval_mode": "batch"}))
    deployed = deploy(model)
    assert count(deployed, BA2M) == count(model, BA2M) == 3
    assert_same_eval_outputs(model, deployed)


class _Skip(AttentionModule):
    def __init__(self, identity: bool) -> None:
        super().__init__()
        self.identity = identity
        self.scale = nn.Parameter(torch.tensor(2.0))

    def identity_at_inference(self) -> bool:
        return self.identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.identity and not self.training else x * self.scale


def test_the_protocol_is_generic():
    model = nn.Sequential(nn.Linear(3, 3), _Skip(True), nn.Sequential(_Skip(True), _Skip(False)))
    deployed = deploy(model)
    assert [type(m) for m in deployed.modules()] == [
        nn.Sequential,
        nn.Linear,
        nn.Identity,
        nn.Sequential,
        nn.Identity,
        _Skip,
    ]
    assert type(deploy(_Skip(True))) is nn.Identity
    assert isinstance(deploy(_Skip(False)), _Skip)
