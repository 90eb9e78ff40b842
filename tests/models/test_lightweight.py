"""The lightweight CIFAR backbones (BA2M paper, Table X): parameter counts, per-stage features,
training with block and stage attention, and where the in-block attention sits."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnzoo.attention import BA2M, SE
from attnzoo.models import count_params, create_model
from attnzoo.models.densenet import DenseLayer
from attnzoo.models.inverted_residual import InvertedResidual
from attnzoo.models.shufflenetv2 import ShuffleDownUnit, ShuffleUnit

NAMES = ["densenet100_bc", "shufflenetv2_cifar", "mobilenetv2_cifar", "efficientnet_b0_cifar"]


# Closed-form parameter counts, layer by layer from the architecture papers (BN: 2 per channel).
# The BA2M paper's Table X (0.76M, 1.3M, 2.26M, 2.80M with 100 classes) matches no public variant
# of these networks (see each module's docstring), so the counts are checked against these, and,
# with 1000 classes, against torchvision's published counts of the same architectures.
def densenet100_bc(classes: int) -> int:
    k, c = 12, 24
    total = 27 * c  # 3x3 stem to 2k
    for block in range(3):
        if block:  # transition: BN, 1x1 to half the channels
            total += 2 * c + c * (c // 2)
            c //= 2
        for _ in range(16):  # BN, 1x1 to 4k, BN, 3x3 to k
            total += 2 * c + c * 4 * k + 2 * 4 * k + 4 * k * 9 * k
            c += k
    return total + 2 * c + (c + 1) * classes  # final BN, classifier


def shufflenetv2(classes: int) -> int:
    def branch(cin: int, c: int) -> int:  # 1x1-BN, 3x3 depthwise-BN, 1x1-BN
        return cin * c + 2 * c + 9 * c + 2 * c + c * c + 2 * c

    total, cin = 27 * 24 + 2 * 24, 24
    for c, units in ((116, 4), (232, 8), (464, 4)):
        half = c // 2
        total += 9 * cin + 2 * cin + cin * half + 2 * half + branch(cin, half)  # stride-2 unit
        total += (units - 1) * branch(half, half)
        cin = c
    return total + 464 * 1024 + 2 * 1024 + 1025 * classes


def mobilenetv2(classes: int) -> int:
    total, cin = 27 * 32 + 2 * 32, 32
    for t, c, n in (
        (1, 16, 1),
        (6, 24, 2),
        (6, 32, 3),
        (6, 64, 4),
        (6, 96, 3),
        (6, 160, 3),
        (6, 320, 1),
    ):
        for _ in range(n):
            h = cin * t
            expand = cin * h + 2 * h if t != 1 else 0
            total += expand + 9 * h + 2 * h + h * c + 2 * c
            cin = c
    return total + 320 * 1280 + 2 * 1280 + 1281 * classes


def efficientnet_b0(classes: int) -> int:
    total, cin = 27 * 32 + 2 * 32, 32
    for t, c, n, k in (
        (1, 16, 1, 3),
        (6, 24, 2, 3),
        (6, 40, 2, 5),
        (6, 80, 3, 3),
        (6, 112, 3, 5),
        (6, 192, 4, 5),
        (6, 320, 1, 3),
    ):
        for _ in range(n):
            h, s = cin * t, cin // 4  # SE to a quarter of the block's input width, with biases
            expand = cin * h + 2 * h if t != 1 else 0
            total += expand + k * k * h + 2 * h + (h * s + s) + (s * h + h) + h * c + 2 * c
            cin = c
    return total + 320 * 1280 + 2 * 1280 + 1281 * classes


# (model, closed form, the paper's Table X in millions, our excess over it in millions (module
# docstrings), torchvision's published 1000-class count of the same architecture)
COUNTS = [
    ("densenet100_bc", densenet100_bc, 0.76, 0.040, None),
    ("shufflenetv2_cifar", shufflenetv2, 1.3, 0.056, 2_278_604),  # shufflenet_v2_x1_0
    ("mobilenetv2_cifar", mobilenetv2, 2.26, 0.092, 3_504_872),  # mobilenet_v2
    ("efficientnet_b0_cifar", efficientnet_b0, 2.80, 1.336, 5_288_548),  # efficientnet_b0
]


@pytest.mark.parametrize(("name", "formula", "published", "excess", "torchvision"), COUNTS)
def test_parameter_count(name, formula, published, excess, torchvision):
    ours = count_params(create_model(name, 100))
    assert ours == formula(100)
    assert round(ours / 1e6 - published, 3) == excess
    assert count_params(create_model(name)) == formula(10)
    if torchvision:
        assert count_params(create_model(name, 1000)) == formula(1000) == torchvision


def test_densenet_matches_its_paper():
    # Huang et al., Table 2: DenseNet-BC (L = 100, k = 12), 0.8M parameters (10-class head).
    assert round(densenet100_bc(10) / 1e6, 1) == 0.8


FEATURES = [
    ("densenet100_bc", [216, 300, 342], [32, 16, 8], 342),
    ("shufflenetv2_cifar", [116, 232, 464], [16, 8, 4], 1024),
    ("mobilenetv2_cifar", [24, 32, 96, 320], [32, 16, 8, 4], 1280),
    ("efficientnet_b0_cifar", [16, 24, 40, 112, 320], [32, 16, 8, 4, 2], 1280),
]


@pytest.mark.parametrize(("name", "channels", "spatial", "num_features"), FEATURES)
def test_features_per_resolution(name, channels, spatial, num_features):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = model.features(x)
        assert [tuple(f.shape) for f in features] == [
            (2, c, s, s) for c, s in zip(channels, spatial, strict=True)
        ]
        assert model.num_features == num_features
        torch.testing.assert_close(model.forward_head(features), model(x))


@pytest.mark.parametrize("attention", ["se", "ba2m"])
@pytest.mark.parametrize("name", NAMES)
def test_trains_with_attention(name, attention):
    torch.manual_seed(0)
    model = create_model(name, 100, attention=attention).train()
    blocks = [m for m in model.stages.modules() if hasattr(m, "attn")]
    in_blocks, after_stages = (SE, nn.Identity) if attention == "se" else (nn.Identity, BA2M)
    assert blocks and all(type(b.attn) is in_blocks for b in blocks)
    assert all(type(a) is after_stages for a in model.stage_attn)
    x = torch.randn(4, 3, 32, 32)
    logits = model(x)
    assert logits.shape == (4, 100)
    assert torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.arange(4)).backward()
    for param_name, p in model.named_parameters():
        assert p.grad is not None, param_name
        assert torch.isfinite(p.grad).all(), param_name


def widths(*groups: tuple[int, int]) -> list[int]:
    return [width for width, count in groups for _ in range(count)]


# The channels of each block's attention module, block by block (module docstrings).
SE_CHANNELS = {
    "densenet100_bc": widths((12, 48)),  # the k new maps of each dense layer
    "shufflenetv2_cifar": widths((58, 4), (116, 8), (232, 4)),  # the transformed half
    "mobilenetv2_cifar": widths(
        (16, 1), (24, 2), (32, 3), (64, 4), (96, 3), (160, 3), (320, 1)
    ),  # the block's output width
    "efficientnet_b0_cifar": widths(
        (16, 1), (24, 2), (40, 2), (80, 3), (112, 3), (192, 4), (320, 1)
    ),
}


@pytest.mark.parametrize("name", NAMES)
def test_block_attention_placement(name):
    """Each block's SE sits on the branch, after the layer the docstring names, and its output is
    what the block concatenates (DenseNet, ShuffleNetV2) or adds to its input (the others)."""
    torch.manual_seed(0)
    model = create_model(name, attention="se").eval()
    blocks = [m for m in model.stages.modules() if hasattr(m, "attn")]
    assert [b.attn.channels for b in blocks] == SE_CHANNELS[name]
    assert all(isinstance(b.attn, SE) for b in blocks)
    last = {DenseLayer: nn.Conv2d, InvertedResidual: nn.BatchNorm2d}
    for b in blocks:  # ShuffleNetV2: BN-ReLU
        kind = last.get(type(b), nn.ReLU)
        assert isinstance(b.branch[-1], kind)
        if kind is nn.ReLU:
            assert isinstance(b.branch[-2], nn.BatchNorm2d)

    seen: dict[nn.Module, list[torch.Tensor]] = {}

    def record(module, inputs, output):
        seen[module] = [inputs[0].clone(), output.clone()]

    for b in blocks:
        b.register_forward_hook(record)
        b.attn.register_forward_hook(record)
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    for b in blocks:
        (x, y), (branch_out, a) = seen[b], seen[b.attn]
        assert not torch.equal(branch_out, a)
        if isinstance(b, DenseLayer):
            torch.testing.assert_close(y, torch.cat([x, a], 1))
        elif isinstance(b, ShuffleUnit | ShuffleDownUnit):
            torch.testing.assert_close(y[:, 1::2], a)  # the shuffle interleaves the halves
            if isinstance(b, ShuffleUnit):
                torch.testing.assert_close(y[:, 0::2], x.chunk(2, 1)[0])
        else:
            torch.testing.assert_close(y, x + a if b.residual else a)
