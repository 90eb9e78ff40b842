"""Per-parameter-group optimiser settings: learning-rate scales and frozen parameters by name."""

import pytest
import torch

from attnzoo import create_model
from attnzoo.engine import TrainConfig
from attnzoo.engine.optim import build_optimizer


def _groups(config: TrainConfig, model) -> dict[str, tuple[float, float]]:
    """Each trained parameter's name -> (lr, weight decay) of the group that holds it."""
    names = {id(p): n for n, p in model.named_parameters()}
    optimizer = build_optimizer(model, config)
    return {
        names[id(p)]: (group["lr"], group["weight_decay"])
        for group in optimizer.param_groups
        for p in group["params"]
    }


def test_backbone_scaled_new_modules_at_full_rate_and_frozen_stem():
    model = create_model("resnet20", 10, attention="se")
    config = TrainConfig(
        lr=0.1,
        weight_decay=1e-4,
        norm_bias_decay=False,
        freeze=["stem.*"],
        lr_scales={"*.attn.*": 1.0, "stages.*": 0.1},
    )
    groups = _groups(config, model)
    for name, param in model.named_parameters():
        if name.startswith("stem."):
            assert not param.requires_grad and name not in groups
            continue
        lr, decay = groups[name]
        head_or_se = name.startswith("fc.") or ".attn." in name
        assert lr == pytest.approx(0.1 if head_or_se else 0.01), name
        assert decay == (1e-4 if param.ndim > 1 else 0.0), name
    assert any(".attn." in name for name in groups)  # the patterns really met SE's parameters


def test_frozen_parameters_do_not_move_and_scaled_ones_move_less():
    torch.manual_seed(0)
    model = create_model("resnet20", 10)
    config = TrainConfig(
        lr=0.1, momentum=0.0, weight_decay=0.0, freeze=["stem.*"], lr_scales={"stages.0.*": 0.5}
    )
    optimizer = build_optimizer(model, config)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model(torch.randn(4, 3, 32, 32)).square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    optimizer.step()
    after = dict(model.named_parameters())
    assert torch.equal(after["stem.0.weight"], before["stem.0.weight"])
    name = "stages.0.0.residual.0.weight"
    assert torch.allclose(before[name] - after[name], 0.05 * grads[name], atol=1e-7)
    assert torch.allclose(
        before["fc.weight"] - after["fc.weight"], 0.1 * grads["fc.weight"], atol=1e-7
    )


@pytest.mark.parametrize("key", ["freeze", "lr_scales"])
def test_a_pattern_that_matches_nothing_is_one_clear_error(key):
    value = ["stages.9.*"] if key == "freeze" else {"stages.9.*": 0.1}
    config = TrainConfig(**{key: value})
    with pytest.raises(ValueError, match=rf"{key} pattern\(s\) 'stages.9.\*' match no parameter"):
        build_optimizer(create_model("resnet20", 10), config)


def test_without_groups_the_optimiser_is_as_before():
    """No lr_scales: one group, or decayed weights then undecayed 1-D parameters, in order."""
    model = create_model("resnet20", 10)
    params = list(model.parameters())
    one = build_optimizer(model, TrainConfig(lr=0.1)).param_groups
    assert len(one) == 1 and one[0]["params"] == params
    two = build_optimizer(model, TrainConfig(lr=0.1, norm_bias_decay=False)).param_groups
    assert [g["params"] for g in two] == [
        [p for p in params if p.ndim > 1],
        [p for p in params if p.ndim <= 1],
    ]
