"""Parameter counts against the published tables (ImageNet head unless stated)."""

import pytest
import torch

from attnzoo import create_model


def millions(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


@pytest.mark.parametrize(
    ("name", "attention", "num_classes", "published", "tolerance"),
    [
        ("resnet18", None, None, 11.69, 0.005),
        ("resnet34", None, None, 21.80, 0.005),
        ("resnet50", None, None, 25.56, 0.005),
        ("resnet101", None, None, 44.55, 0.005),
        ("resnet18", "se", None, 11.78, 0.005),
        ("resnet50", "se", None, 28.09, 0.005),
        ("resnet50", "cbam", None, 28.09, 0.005),
        ("resnet50", "bam", None, 25.92, 0.005),
        ("resnet101", "se", None, 49.33, 0.005),
        ("resnet101", "cbam", None, 49.33, 0.005),
        ("resnet101", "bam", None, 44.91, 0.005),
        ("resnet50_cifar", None, 100, 23.71, 0.005),  # BA2M paper, CIFAR-100
        ("resnet164", None, 10, 1.70, 0.005),  # SPEM paper, CIFAR-10 head
        ("resnet20", None, 10, 0.27, 0.01),  # He et al. 2016, Table 6
        ("resnet32", None, 10, 0.46, 0.01),
        ("resnet56", None, 10, 0.85, 0.01),
        ("resnet110", None, 10, 1.7, 0.03),
    ],
)
def test_published_parameter_counts(name, attention, num_classes, published, tolerance):
    model = create_model(name, num_classes, attention=attention)
    assert millions(model) == pytest.approx(published, abs=tolerance)


def ba2m_params(c: int, reduction: int = 32, min_channels: int = 32) -> int:
    """Our reconstruction's parameters, from its formulas (docs/ba2m.md)."""
    h = max(c // reduction, min_channels)
    ca = (c * h + h) + (h * c + c) + 2 * c
    lsa = c * h + 2 * h + 9 * h * h + 2 * h + h + 2
    gsa = 3 * c * h + h + 2
    return ca + lsa + gsa


def test_ba2m_overhead_on_cifar_resnet50():
    base = create_model("resnet50_cifar", 100)
    ours = create_model("resnet50_cifar", 100, attention="ba2m")
    added = sum(p.numel() for p in ours.parameters()) - sum(p.numel() for p in base.parameters())
    assert added == sum(ba2m_params(c) for c in (256, 512, 1024, 2048))
    print(f"\nBA2M on CIFAR ResNet-50: +{added / 1e6:.2f}M params (paper, Table XI: +0.50M)")


def modules_of(model, kind):
    return [m for m in model.modules() if type(m).__name__ == kind]


def test_default_placements():
    se = modules_of(create_model("resnet50", attention="se"), "SE")
    assert len(se) == 16
    bam = modules_of(create_model("resnet50", attention="bam"), "BAM")
    assert [m.channels for m in bam] == [256, 512, 1024]
    ba2m = modules_of(create_model("resnet50", attention="ba2m"), "BA2M")
    assert [m.channels for m in ba2m] == [256, 512, 1024, 2048]
    assert len(modules_of(create_model("resnet20", attention="bam"), "BAM")) == 2
    model = create_model("resnet50", attention="bam")
    assert isinstance(model.stage_attn[3], torch.nn.Identity)  # not after the last stage


def test_combination_places_each_module_at_its_default():
    model = create_model("resnet20", attention=["se", "ba2m"])
    assert len(modules_of(model, "SE")) == 9 and len(modules_of(model, "BA2M")) == 3
    model = create_model("resnet20", attention=[("se", {"reduction": 8}), ("ba2m", {"tau": 0.5})])
    assert modules_of(model, "SE")[0].fc1.out_channels == 2
    assert all(m.tau == 0.5 for m in modules_of(model, "BA2M"))
    model = create_model("resnet20", attention=["se", "cbam"])
    assert [type(m).__name__ for m in model.stages[0][0].attn] == ["SE", "CBAM"]


def test_shortcuts():
    he = create_model("resnet20")
    assert sum(p.numel() for p in he.stages[1][0].shortcut.parameters()) == 0  # option A
    x = torch.randn(2, 16, 8, 8)
    out = he.stages[1][0].shortcut(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2]) and not out[:, :8].any()
    bottleneck = create_model("resnet164")
    assert isinstance(bottleneck.stages[1][0].shortcut[0], torch.nn.Conv2d)  # projection
