"""Every backbone with every attention module: forward, backward, eval; combinations; features."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnzoo.attention import BA2M, CBAM, SE, list_attention
from attnzoo.models import create_model, list_models

IMAGENET = {"resnet18", "resnet34", "resnet50", "resnet101"}
# The full attention grid on these (one of each block type, stem and shortcut kind at least,
# resnet83 being the bottleneck 9n + 2 family that SPEM uses); every other (deeper) backbone is
# built only without attention and with BA2M, to keep this file fast on a 2-core CPU.
FULL_GRID = {
    "resnet18",
    "resnet18_cifar",
    "resnet20",
    "resnet32",
    "resnet34",
    "resnet50",
    "resnet50_cifar",
    "resnet83",
}
ATTENTIONS = [None, *list_attention()]

GRID = [
    (name, attention)
    for name in list_models()
    for attention in (ATTENTIONS if name in FULL_GRID else [None, "ba2m"])
]


def image_size(name: str) -> int:
    """64x64 for ImageNet stems; 32x32 for shallow CIFAR ones, 16x16 for the deep ones."""
    if name in IMAGENET:
        return 64
    return 32 if name in {"resnet18_cifar", "resnet20", "resnet32", "resnet50_cifar"} else 16


def batch(name: str, n: int = 2, channels: int = 3, size: int | None = None) -> torch.Tensor:
    size = size or image_size(name)
    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(0))


def train_step(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One training forward and backward; checks the logits and every parameter's gradient."""
    model.train()
    logits = model(x)
    assert logits.shape == (x.shape[0], model.num_classes)
    assert torch.isfinite(logits).all()
    target = torch.arange(x.shape[0]) % model.num_classes
    F.cross_entropy(logits, target).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing[:5]}"
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f"non-finite gradients: {bad[:5]}"
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())
    return logits


def eval_step(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eval forward; a sample's prediction must not depend on the rest of the batch."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        single = model(x[:1])
    assert logits.shape == (x.shape[0], model.num_classes)
    assert torch.isfinite(logits).all()
    atol = 1e-4 * max(1.0, logits.abs().max().item())
    torch.testing.assert_close(single, logits[:1], rtol=1e-4, atol=atol)
    return logits


@pytest.mark.parametrize(("name", "attention"), GRID, ids=[f"{n}-{a or 'plain'}" for n, a in GRID])
def test_train_and_eval(name, attention):
    torch.manual_seed(0)
    model = create_model(name, attention=attention)
    x = batch(name)
    train_step(model, x)
    eval_step(model, x)


def test_grid_covers_every_model_and_attention():
    assert {n for n, _ in GRID} == set(list_models())
    assert {a for _, a in GRID} == set(ATTENTIONS)
    assert {"se", "cbam", "bam", "ba2m", "spem"} <= set(list_attention())


def blocks(model: nn.Module) -> list[nn.Module]:
    return [block for stage in model.stages for block in stage]


@pytest.mark.parametrize("name", ["resnet20", "resnet18"])
def test_se_plus_ba2m(name):
    model = create_model(name, attention=["se", "ba2m"])
    assert all(isinstance(b.attn, SE) for b in blocks(model))
    assert all(isinstance(a, BA2M) for a in model.stage_attn)
    assert len(model.stage_attn) == len(model.stages)
    train_step(model, batch(name))
    eval_step(model, batch(name))


def test_options_per_module():
    model = create_model("resnet20", attention=[("se", {"reduction": 8}), ("ba2m", {"tau": 0.5})])
    for b in blocks(model):
        assert isinstance(b.attn, SE)
        assert b.attn.fc1.out_channels == b.attn.channels // 8
    stage_attn = list(model.stage_attn)
    assert all(isinstance(a, BA2M) for a in stage_attn)
    assert [a.tau for a in stage_attn] == [0.5] * 3
    # The SE's reduction must not leak into BA2M (hidden width max(C // 32, 32) = 32 here).
    assert [a.ca.fc0.out_features for a in stage_attn] == [32] * 3
    train_step(model, batch("resnet20"))


def test_single_pair_and_keyword_options():
    pair = create_model("resnet20", attention=("ba2m", {"tau": 0.25}))
    keyword = create_model("resnet20", attention="ba2m", tau=0.25)
    assert [a.tau for a in pair.stage_attn] == [a.tau for a in keyword.stage_attn] == [0.25] * 3
    se = create_model("resnet20", attention="se", reduction=4)
    assert [b.attn.fc1.out_channels for b in blocks(se)] == [4] * 3 + [8] * 3 + [16] * 3


@pytest.mark.parametrize("order", [("se", "cbam"), ("cbam", "se")])
def test_two_block_modules_run_in_sequence(order):
    model = create_model("resnet20", attention=list(order))
    kinds = {"se": SE, "cbam": CBAM}
    for b in blocks(model):
        assert [type(m) for m in b.attn] == [kinds[k] for k in order]
    first, second = blocks(model)[0].attn
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(blocks(model)[0].attn(x), second(first(x)))
    train_step(model, batch("resnet20"))


def test_none_string_means_no_attention():
    model = create_model("resnet20", attention="none")
    assert all(isinstance(b.attn, nn.Identity) for b in blocks(model))
    assert all(isinstance(a, nn.Identity) for a in model.stage_attn)


FEATURES = [
    ("resnet50", 64, [256, 512, 1024, 2048], [16, 8, 4, 2]),
    ("resnet18", 64, [64, 128, 256, 512], [16, 8, 4, 2]),
    ("resnet50_cifar", 32, [256, 512, 1024, 2048], [32, 16, 8, 4]),
    ("resnet20", 32, [16, 32, 64], [32, 16, 8]),
    ("resnet164", 32, [64, 128, 256], [32, 16, 8]),
]


@pytest.mark.parametrize(("name", "size", "channels", "spatial"), FEATURES)
def test_features_per_stage(name, size, channels, spatial):
    model = create_model(name).eval()
    x = batch(name, size=size)
    with torch.no_grad():
        features = model.features(x)
        assert [tuple(f.shape) for f in features] == [
            (2, c, s, s) for c, s in zip(channels, spatial, strict=True)
        ]
        assert model.num_features == channels[-1]
        torch.testing.assert_close(model.forward_head(features), model(x))


@pytest.mark.parametrize("attention", ["bam", "ba2m", ["se", "ba2m"]])
def test_features_include_stage_attention(attention):
    model = create_model("resnet20", attention=attention).eval()
    x = batch("resnet20")
    with torch.no_grad():
        features = model.features(x)
        assert [f.shape[1] for f in features] == [16, 32, 64]
        torch.testing.assert_close(model.forward_head(features), model(x))
        # Each map is the stage's output after the module placed after that stage.
        h = model.stem(x)
        for stage, attn, feature in zip(model.stages, model.stage_attn, features, strict=True):
            h = attn(stage(h))
            torch.testing.assert_close(feature, h)
        # The last map is the one the head pools: the logits follow from it alone.
        pooled = features[-1].mean((2, 3))
        torch.testing.assert_close(model.fc(pooled), model(x))


@pytest.mark.parametrize(
    ("name", "attention"), [("resnet20", None), ("resnet20", "ba2m"), ("resnet18", "bam")]
)
def test_single_channel_28x28(name, attention):
    # Fashion-MNIST: 1-channel 28x28 images, 10 classes.
    model = create_model(name, 10, in_chans=1, attention=attention)
    x = batch(name, channels=1, size=28)
    train_step(model, x)
    eval_step(model, x)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        model(torch.randn(2, 3, 28, 28))


def test_num_classes_sets_the_head():
    model = create_model("resnet20", 7)
    assert model.num_classes == 7
    x = batch("resnet20")
    assert train_step(model, x).shape == (2, 7)
