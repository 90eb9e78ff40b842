"""Every backbone with every attention kind runs forward and backward, in train and eval mode."""

import pytest
import torch

from attnzoo import create_model, list_attention, list_models

# The full attention grid on one network of each block type and stem; the rest with BA2M only.
SHALLOW = ["resnet18", "resnet50", "resnet20", "resnet83"]
ATTENTION = [None, *list_attention()]


def input_for(name: str) -> torch.Tensor:
    """Small inputs keep the grid fast: 16x16 for the wide CIFAR-stem ResNets, else 32x32."""
    size = 16 if name.endswith("_cifar") else 32
    return torch.randn(2, 3, size, size)


def run(model: torch.nn.Module, x: torch.Tensor) -> None:
    model.train()
    logits = model(x)
    assert logits.shape == (len(x), model.num_classes)
    logits.square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize("attention", ATTENTION)
@pytest.mark.parametrize("name", SHALLOW)
def test_shallow_models_with_every_attention(name, attention):
    run(create_model(name, 10, attention=attention), input_for(name))


@pytest.mark.parametrize("name", sorted(set(list_models()) - set(SHALLOW)))
@pytest.mark.parametrize("attention", [None, "ba2m"])
def test_every_other_model(name, attention):
    run(create_model(name, 10, attention=attention), input_for(name))


@pytest.mark.parametrize(
    "attention", [["se", "ba2m"], [("se", {"reduction": 8}), ("ba2m", {"tau": 0.5})]]
)
def test_combinations(attention):
    run(create_model("resnet20", attention=attention), input_for("resnet20"))


def test_features_and_head():
    model = create_model("resnet50").eval()
    x = torch.randn(1, 3, 64, 64)
    features = model.features(x)
    assert [tuple(f.shape[1:]) for f in features] == [
        (256, 16, 16),
        (512, 8, 8),
        (1024, 4, 4),
        (2048, 2, 2),
    ]
    torch.testing.assert_close(model.forward_head(features), model(x))
    he = create_model("resnet20").eval()
    shapes = [tuple(f.shape[1:]) for f in he.features(torch.randn(1, 3, 32, 32))]
    assert shapes == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]


def test_grey_input():
    model = create_model("resnet20", in_chans=1, attention="ba2m")
    run(model, torch.randn(2, 1, 28, 28))
