"""Every backbone with every attention module: forward, backward, eval; combinations; features."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnzoo.attention import BA2M, CBAM, SE, get_attention_class, list_attention
from attnzoo.models import create_model, list_models, plan_attention
from attnzoo.models.densenet import DenseNet
from attnzoo.models.resnet import BasicBlock, Bottleneck, PreActBlock, PreActBottleneck, ResNet

ATTENTIONS = list_attention()


def placements(attention: str) -> tuple[str, ...]:
    return get_attention_class(attention).placements


# One small network per residual block type (and stem, shortcut kind): the grid of every attention
# module at every placement runs on these. The lightweight families are small at their real size.
TINY_RESNETS = {
    "basic": dict(
        block=BasicBlock, layers=(1, 1, 1), widths=(8, 16, 32), stem="cifar", shortcut="A"
    ),
    "bottleneck": dict(block=Bottleneck, layers=(1, 1, 1), widths=(16, 32, 64), stem="cifar"),
    "imagenet-stem": dict(block=BasicBlock, layers=(1, 1, 1, 1), widths=(8, 16, 32, 64)),
    "resnext": dict(
        block=Bottleneck, layers=(1, 1), widths=(32, 64), stem="cifar", groups=4, base_width=16
    ),
    "preact": dict(
        block=PreActBlock,
        layers=(1, 1, 1),
        widths=(8, 16, 32),
        stem="cifar",
        shortcut="conv",
        dropout=0.1,
    ),
    "preact-bottleneck": dict(
        block=PreActBottleneck,
        layers=(1, 1, 1),
        widths=(16, 32, 64),
        stem="cifar",
        shortcut="conv",
    ),
}
# ResNet variants: their blocks are the tiny ones.
FAMILIES = ("resn", "wrn", "wide_resn", "preres", "sknet")
LIGHTWEIGHT = [name for name in list_models() if not name.startswith(FAMILIES)]
NETWORKS = [*TINY_RESNETS, *LIGHTWEIGHT]
# Registered networks that repeat one block type many times run the grid shallower: two dense layers
# per block instead of 16 took DenseNet's 22 cases from a third of the grid's time to a twentieth.
SHALLOW = {"densenet100_bc": partial(DenseNet, (2, 2, 2), 12, 0.5)}
# Modules in place of a block's 3x3 convolution ("conv" placement) need bottleneck blocks
# (at least 16 planes: SASA splits them into 8 heads of an even width).
CONV_NETS = {"bottleneck", "resnext", "preact-bottleneck"}
GRID = [
    (net, attention, placement)
    for net in NETWORKS
    for attention in ATTENTIONS
    for placement in placements(attention)
    if placement != "conv" or net in CONV_NETS
]
NO_CONV = [
    (net, attention)
    for net in NETWORKS
    for attention in ATTENTIONS
    if "conv" in placements(attention) and net not in CONV_NETS
]


def build(net: str, attention: str | None = None, placement: str | None = None) -> nn.Module:
    # A named placement here means every stage (GC's default is stages 2-4, its paper's).
    stages = "all" if placement == "block" else None
    if net in TINY_RESNETS:
        plan = plan_attention(attention, placement, stages)
        return ResNet(**TINY_RESNETS[net], num_classes=10, attention=plan, name=net)
    if net in SHALLOW:
        return SHALLOW[net](attention=plan_attention(attention, placement, stages), name=net)
    return create_model(net, attention=attention, placement=placement, stages=stages)


def image_size(model: nn.Module) -> int:
    """64x64 for networks with the ImageNet stem (it divides by 4), 32x32 for CIFAR ones."""
    return 64 if any(isinstance(m, nn.MaxPool2d) for m in model.stem.modules()) else 32


def batch(model: nn.Module, n: int = 2, channels: int = 3, size: int | None = None) -> torch.Tensor:
    size = size or image_size(model)
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


@pytest.mark.parametrize(
    ("net", "attention", "placement"), GRID, ids=["-".join(case) for case in GRID]
)
def test_every_block_type_takes_every_module_at_every_placement(net, attention, placement):
    torch.manual_seed(0)
    model = build(net, attention, placement)
    kind = get_attention_class(attention)
    in_blocks = [m for b in blocks(model) for m in b.modules() if isinstance(m, kind)]
    after_stages = [m for m in model.stage_attn if isinstance(m, kind)]
    assert bool(in_blocks) == (placement != "stage")
    assert bool(after_stages) == (placement == "stage")
    if placement == "block":
        assert all(isinstance(b.attn, kind) for b in blocks(model))
    x = batch(model, n=4)
    train_step(model, x)
    eval_step(model, x)


@pytest.mark.parametrize(("net", "attention"), NO_CONV, ids=["-".join(c) for c in NO_CONV])
def test_conv_modules_need_a_block_convolution(net, attention):
    with pytest.raises(ValueError, match=f"{net} has no block convolution"):
        build(net, attention, "conv")


# Registered networks that are a smaller one's blocks at another depth or width: the combination
# is trained on the smaller one (a third of this test's time went to building these twice).
DEEPER = {
    "resnet34": "resnet18",
    "resnet101": "resnet50",
    "resnet152": "resnet50",
    "resnet101_cifar": "resnet50_cifar",
    "resnet152_cifar": "resnet50_cifar",
    "resnet32": "resnet20",
    "resnet56": "resnet20",
    "resnet110": "resnet20",
    "resnet245": "resnet164",
    "resnet326": "resnet164",
    "resnext101_32x4d": "resnext50_32x4d",
    "resnext101_32x8d": "resnext50_32x4d",
    "resnext101_64x4d": "resnext50_32x4d",
    "wide_resnet101_2": "wide_resnet50_2",
    "sknet101": "sknet50",
    "wrn28_10": "wrn28_8",
}


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_plain_and_with_a_combination(name):
    torch.manual_seed(0)
    plain = create_model(name)
    # Half the side: the plain checks need a map at every stage, not a large one (the ImageNet
    # nets' last is 1x1); full-size images took half of this test's time.
    x = batch(plain, size=image_size(plain) // 2)
    assert x.shape[-1] >= plain.feature_info[-1]["reduction"]
    train_step(plain, x)
    eval_step(plain, x)
    if name in DEEPER:
        with torch.device("meta"):  # its module types only: nothing allocated or initialised
            smaller = create_model(DEEPER[name], num_classes=plain.num_classes)
        assert DEEPER[name] not in DEEPER  # the smaller one trains the combination itself
        assert {type(m) for m in smaller.modules()} == {type(m) for m in plain.modules()}
        return
    # After one step, eval-mode activations of the deepest nets are large enough for batch-size
    # dependent float32 rounding to show: the batch-independence check stays on the plain model.
    combined = create_model(name, attention=["se", "ba2m"])
    train_step(combined, batch(combined, n=4))


def test_grid_covers_every_block_type_and_attention():
    assert {n for n, *_ in GRID} == set(TINY_RESNETS) | set(LIGHTWEIGHT)
    assert {a for _, a, _ in GRID} == set(ATTENTIONS)
    assert {"se", "cbam", "bam", "ba2m", "spem"} <= set(ATTENTIONS)
    assert len(LIGHTWEIGHT) >= 4  # DenseNet, MobileNetV2, ShuffleNetV2, EfficientNet
    for name, shallow in SHALLOW.items():  # a shallower twin is made of the same modules
        with torch.device("meta"):
            full = create_model(name)
        assert {type(m) for m in shallow().modules()} == {type(m) for m in full.modules()}


def blocks(model: nn.Module) -> list[nn.Module]:
    """Every module with an ``attn`` slot: the blocks of all the families."""
    return [m for m in model.stages.modules() if hasattr(m, "attn")]


@pytest.mark.parametrize("name", ["resnet20", "resnet18"])
def test_se_plus_ba2m(name):
    model = create_model(name, attention=["se", "ba2m"])
    assert all(isinstance(b.attn, SE) for b in blocks(model))
    assert all(isinstance(a, BA2M) for a in model.stage_attn)
    assert len(model.stage_attn) == len(model.stages)
    train_step(model, batch(model))
    eval_step(model, batch(model))


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
    train_step(model, batch(model))


def test_single_pair_and_partial_options():
    pair = create_model("resnet20", attention=("ba2m", {"tau": 0.25}))
    bound = create_model("resnet20", attention=partial(BA2M, tau=0.25))
    assert [a.tau for a in pair.stage_attn] == [a.tau for a in bound.stage_attn] == [0.25] * 3
    se = create_model("resnet20", attention=("se", {"reduction": 4}))
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
    train_step(model, batch(model))


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
    ("resnet152", 64, [256, 512, 1024, 2048], [16, 8, 4, 2]),
    ("preresnet110", 32, [16, 32, 64], [32, 16, 8]),
    ("preresnet164", 32, [64, 128, 256], [32, 16, 8]),
    ("wrn28_10", 32, [160, 320, 640], [32, 16, 8]),
    ("wrn18_1_5", 64, [96, 192, 384, 768], [16, 8, 4, 2]),
    ("resnext29_8x64d", 32, [256, 512, 1024], [32, 16, 8]),
    ("resnext50_32x4d", 64, [256, 512, 1024, 2048], [16, 8, 4, 2]),
]


@pytest.mark.parametrize(("name", "size", "channels", "spatial"), FEATURES)
def test_features_per_stage(name, size, channels, spatial):
    model = create_model(name).eval()
    x = batch(model, size=size)
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
    x = batch(model)
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
    x = batch(model, channels=1, size=28)
    train_step(model, x)
    eval_step(model, x)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        model(torch.randn(2, 3, 28, 28))


def test_num_classes_sets_the_head():
    model = create_model("resnet20", 7)
    assert model.num_classes == 7
    x = batch(model)
    assert train_step(model, x).shape == (2, 7)
