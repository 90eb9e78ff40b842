"""Parameter counts against the published tables, and where the attention modules go.

Expected values come from the papers (or from closed-form counts written out by hand below), never
from running the code. Counts are of trainable parameters; buffers (BatchNorm statistics) excluded.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnzoo.attention import BA2M, BAM, CBAM, SE
from attnzoo.models import create_model, list_models


@pytest.fixture(autouse=True)
def on_the_meta_device():
    """Counting needs the shapes only: every model here is built on the meta device, with nothing
    allocated or initialised (building the 100M-parameter nets took most of this file's time)."""
    with torch.device("meta"):
        yield


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def millions(model: nn.Module) -> float:
    return count(model) / 1e6


def of_type(model: nn.Module, kind: type[nn.Module]) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


# (model, attention, num_classes, published millions, source). num_classes None: the default head,
# which must be the ImageNet 1000-class head for ImageNet backbones and 10 classes for CIFAR ones.
PUBLISHED = [
    ("resnet18", None, None, 11.69, "He et al. 2016 / torchvision"),
    ("resnet34", None, None, 21.80, "He et al. 2016 / torchvision"),
    ("resnet50", None, None, 25.56, "He et al. 2016 / torchvision"),
    ("resnet101", None, None, 44.55, "He et al. 2016 / torchvision"),
    ("resnet50", "se", None, 28.09, "SE paper, Table 2"),
    ("resnet50", "cbam", None, 28.09, "CBAM paper, Table 4"),
    ("resnet50", "bam", None, 25.92, "BAM paper, Table 4"),
    ("resnet101", "se", None, 49.33, "SE paper, Table 2"),
    ("resnet101", "cbam", None, 49.33, "CBAM paper, Table 4"),
    ("resnet101", "bam", None, 44.91, "BAM paper, Table 4"),
    ("resnet18", "se", None, 11.78, "CBAM paper, Table 4"),
    ("resnet50_cifar", None, 100, 23.71, "BA2M paper, CIFAR-100"),
    ("resnet164", None, None, 1.70, "SPEM paper, CIFAR-10 head"),
    ("wrn18_1_5", None, None, 25.88, "CBAM paper, Table 4"),
    ("wrn18_1_5", "se", None, 26.07, "CBAM paper, Table 4"),
    ("wrn18_1_5", "cbam", None, 26.08, "CBAM paper, Table 4"),
    ("wrn18_1_5", "bam", None, 25.93, "BA2M paper, Table XII"),
    ("wrn18_2", None, None, 45.62, "CBAM paper, Table 4"),
    ("wrn18_2", "se", None, 45.97, "CBAM paper, Table 4"),
    ("wrn18_2", "bam", None, 45.71, "BA2M paper, Table XII"),
    ("resnext50_32x4d", "se", None, 27.56, "CBAM paper, Table 4"),
    ("resnext50_32x4d", "cbam", None, 27.56, "CBAM paper, Table 4"),
    ("resnext50_32x4d", "bam", None, 25.39, "BA2M paper, Table XII"),
    ("resnext101_32x4d", None, None, 44.18, "CBAM paper, Table 4"),
    ("resnext101_32x4d", "se", None, 48.96, "CBAM paper, Table 4"),
    ("resnext101_32x4d", "cbam", None, 48.96, "CBAM paper, Table 4"),
    ("preresnet110", None, 100, 1.73, "BA2M paper, Table XI"),
    ("preresnet110", "bam", 100, 1.73, "BA2M paper, Table XI"),
    ("preresnet164", None, None, 1.70, "He et al. 2016b, Table 2 (1.7M)"),
    ("wrn28_8", None, 100, 23.40, "BA2M paper, Table XI"),
    ("wrn28_8", "se", 100, 23.58, "BA2M paper, Table XI"),
    ("wrn28_8", "bam", 100, 23.42, "BA2M paper, Table XI"),
    ("wrn28_10", None, 100, 36.54, "BA2M paper, Table XI"),
    ("wrn28_10", "bam", 100, 36.57, "BA2M paper, Table XI"),
    ("resnext29_8x64d", None, 100, 34.52, "BA2M paper, Table XI"),
    ("resnext29_8x64d", "bam", 100, 34.61, "BA2M paper, Table XI"),
    ("resnet101_cifar", None, 100, 42.70, "BA2M paper, Table XI"),
    ("resnet101_cifar", "bam", 100, 43.06, "BA2M paper, Table XI"),
    ("resnet50_cifar", "se", 100, 26.24, "BA2M paper, Table VI"),
    ("resnet50_cifar", "bam", 100, 24.07, "BA2M paper, Table VI"),
    ("resnet164", "se", None, 1.91, "SPEM paper, Table 1"),
    ("resnet164", "spem", 100, 1.76, "SPEM paper, Table 1"),
]


@pytest.mark.parametrize(
    ("name", "attention", "num_classes", "published", "source"),
    PUBLISHED,
    ids=[f"{n}-{a or 'plain'}" for n, a, *_ in PUBLISHED],
)
def test_published_parameter_counts(name, attention, num_classes, published, source):
    model = create_model(name, num_classes, attention=attention)
    got = millions(model)
    assert abs(got - published) <= 0.005, f"{name}+{attention}: {got:.4f}M, {source}: {published}M"


# He et al. 2016, Table 6 (CIFAR-10, option A shortcuts). The table prints 0.27/0.46/0.85 to 0.01M
# and ResNet-110 as "1.7M", to 0.1M only: its tolerance is half a unit of that last digit.
HE_CIFAR = [("resnet20", 0.27, 0.01), ("resnet32", 0.46, 0.01), ("resnet56", 0.85, 0.01)]
HE_CIFAR += [("resnet110", 1.7, 0.05)]


@pytest.mark.parametrize(("name", "published", "tolerance"), HE_CIFAR)
def test_he_cifar_resnets_table6(name, published, tolerance):
    model = create_model(name)
    assert model.fc.out_features == 10
    assert abs(millions(model) - published) <= tolerance


def he_cifar_params(n: int, num_classes: int = 10) -> int:
    """Exact count of He et al.'s 6n + 2 CIFAR ResNet with parameter-free (option A) shortcuts.

    Stem conv 3x3 (3 -> 16) + BN; stages of n basic blocks (two 3x3 convs + two BNs) at widths
    16/32/64, the first conv of stages 2 and 3 taking the previous width; linear head 64 -> classes.
    """
    stem = 9 * 3 * 16 + 2 * 16
    total = stem
    cin = 16
    for width in (16, 32, 64):
        for _ in range(n):
            total += 9 * cin * width + 9 * width * width + 2 * (2 * width)
            cin = width
    return total + 64 * num_classes + num_classes


@pytest.mark.parametrize(("name", "n"), [("resnet20", 3), ("resnet32", 5), ("resnet56", 9)])
def test_he_cifar_resnets_exact(name, n):
    # Any parameter in a shortcut (or a missing one elsewhere) changes this exact count.
    assert count(create_model(name)) == he_cifar_params(n)
    assert count(create_model(name, 100)) == he_cifar_params(n, 100)


def test_he_cifar_formula_matches_known_totals():
    # Guards the formula itself with the widely quoted exact totals of these networks.
    assert he_cifar_params(3) == 269_722
    assert he_cifar_params(18) == 1_727_962


def test_resnet110_exact():
    assert count(create_model("resnet110")) == 1_727_962


# torchvision's documented exact counts for the same architectures (ImageNet head).
TORCHVISION = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_imagenet_resnets_match_torchvision_exactly(name):
    assert count(create_model(name)) == TORCHVISION[name]


def test_cifar_stem_changes_only_the_stem_and_head():
    # The CIFAR-stem ResNet-50 swaps the 7x7 stem conv (3*64*49) for a 3x3 one (3*64*9) and the
    # 1000-class head (2048*1000 + 1000) for a 100-class one (2048*100 + 100).
    expected = TORCHVISION["resnet50"] - 3 * 64 * 49 + 3 * 64 * 9 - 2048 * 900 - 900
    assert count(create_model("resnet50_cifar", 100)) == expected


def test_default_heads():
    # ImageNet backbones default to the 1000-class head; every CIFAR backbone to 10 classes.
    imagenet = {*TORCHVISION, "wrn18_1_5", "wrn18_2", "resnext101_32x4d", "sknet50", "sknet101"}
    imagenet |= {"resnet26", "resnext26_32x4d"}  # timm's 26-layer backbones
    for name in list_models():
        expected = 1000 if name in imagenet else 10
        assert create_model(name).fc.out_features == expected, name


def ba2m_expected(channels: int) -> int:
    """Parameters of one BA2M with the reconstruction's defaults (R = 32, h >= 32), by hand.

    CA: Linear C -> h (weights + bias), Linear h -> C (weights + bias), BN1d(C) (weight + bias).
    LSA: conv1x1 C -> h (no bias), BN(h), conv3x3 h -> h (no bias), BN(h), conv1x1 h -> 1, BN(1).
    GSA: conv1x1 C -> 3h (q, k, v; no bias), conv1x1 h -> 1 (no bias), BN(1).
    """
    c = channels
    h = max(c // 32, 32)
    ca = c * h + h + h * c + c + 2 * c
    lsa = c * h + 2 * h + 9 * h * h + 2 * h + h + 2
    gsa = 3 * c * h + h + 2
    return ca + lsa + gsa


def test_ba2m_overhead_on_cifar_resnet50():
    base = create_model("resnet50_cifar", 100)
    model = create_model("resnet50_cifar", 100, attention="ba2m")
    per_stage = [ba2m_expected(c) for c in (256, 512, 1024, 2048)]
    modules = of_type(model, BA2M)
    assert [count(m) for m in modules] == per_stage
    added = count(model) - count(base)
    assert added == sum(per_stage)
    print(
        f"\nBA2M on CIFAR-100 ResNet-50: base {count(base) / 1e6:.2f}M (paper 23.71M), "
        f"+{added / 1e6:.2f}M ours vs +0.50M in the paper (23.71M -> 24.21M); "
        f"per stage {', '.join(f'{p / 1e6:.3f}M' for p in per_stage)}"
    )


def test_se_inside_every_block_of_resnet50():
    model = create_model("resnet50", attention="se")
    blocks = [block for stage in model.stages for block in stage]
    assert len(blocks) == 3 + 4 + 6 + 3
    assert len(of_type(model, SE)) == 16
    for block in blocks:
        assert isinstance(block.attn, SE)
        # On the residual branch's output: the channels of its last BatchNorm.
        assert block.attn.channels == block.residual[-1].num_features
    assert all(isinstance(a, nn.Identity) for a in model.stage_attn)


def test_bam_after_stages_one_to_three_of_resnet50():
    model = create_model("resnet50", attention="bam")
    assert [m.channels for m in of_type(model, BAM)] == [256, 512, 1024]
    assert [type(a) for a in model.stage_attn] == [BAM, BAM, BAM, nn.Identity]
    assert [a.channels for a in model.stage_attn[:3]] == [256, 512, 1024]
    assert not any(isinstance(b.attn, BAM) for s in model.stages for b in s)


def test_ba2m_after_every_stage_of_resnet50():
    model = create_model("resnet50", attention="ba2m")
    assert [type(a) for a in model.stage_attn] == [BA2M] * 4
    assert [a.channels for a in model.stage_attn] == [256, 512, 1024, 2048]
    assert len(of_type(model, BA2M)) == 4
    assert all(isinstance(b.attn, nn.Identity) for s in model.stages for b in s)


def test_bam_after_all_but_last_stage_of_resnet20():
    model = create_model("resnet20", attention="bam")
    assert [type(a) for a in model.stage_attn] == [BAM, BAM, nn.Identity]
    assert [a.channels for a in model.stage_attn[:2]] == [16, 32]
    assert len(of_type(model, BAM)) == 2


def test_cbam_inside_every_block_of_resnet20():
    model = create_model("resnet20", attention="cbam")
    assert len(of_type(model, CBAM)) == 9
    widths = [b.attn.channels for s in model.stages for b in s]
    assert widths == [16] * 3 + [32] * 3 + [64] * 3


def test_se_on_resnet18_adds_the_published_overhead():
    # Eight SE modules (one per basic block), r = 16: C*C/16 + C/16 + C/16*C + C each.
    widths = [64, 64, 128, 128, 256, 256, 512, 512]
    added = sum(2 * c * (c // 16) + c // 16 + c for c in widths)
    assert count(create_model("resnet18", attention="se")) - TORCHVISION["resnet18"] == added


def test_attention_parameters_belong_to_the_model():
    # Module weights must be registered (else the optimiser never sees them).
    model = create_model("resnet20", attention="spem")
    spem_params = sum(count(b.attn) for s in model.stages for b in s)
    assert spem_params == sum(4 * c + 2 for c in [16] * 3 + [32] * 3 + [64] * 3)
    assert count(model) == he_cifar_params(3) + spem_params
