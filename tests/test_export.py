"""Exports of every attention module and block type, checked against PyTorch, and `attnzoo export`.

Every export is checked at a batch size other than the one it was exported with, so that a batch
axis baked in as a constant fails. An ONNX export takes seconds even for a tiny network, so each
module is tried in one, dealt round the networks so that every block type is exported too. The
registered full-size networks are made of these blocks and are left out for time (docs/export.md
has their differences).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from itertools import cycle

import onnx
import pytest
import torch
from torch import nn

from attnzoo import list_attention
from attnzoo.attention.spec import AttentionSpec
from attnzoo.cli.main import main
from attnzoo.engine import TrainConfig, train
from attnzoo.export import (
    EXAMPLE_BATCH,
    ROUNDING,
    TOLERANCE,
    export,
    export_onnx,
    tolerance,
    verify,
    verify_onnx,
)
from attnzoo.models import plan_attention
from attnzoo.models.densenet import DenseNet
from attnzoo.models.inverted_residual import InvertedResidualNet
from attnzoo.models.placement import AttentionPlan
from attnzoo.models.resnet import ResNet
from attnzoo.models.shufflenetv2 import ShuffleNetV2
from tests.models.test_forward import CONV_NETS, TINY_RESNETS, image_size, placements

CHECK_BATCH = EXAMPLE_BATCH + 3
# The lightweight families with a few blocks each (full size: 4 to 30 s per export here).
TINY_LIGHTWEIGHT: dict[str, Callable[[AttentionPlan], nn.Module]] = {
    "densenet": lambda plan: DenseNet((2, 2), growth_rate=8, attention=plan),
    "mobilenetv2": lambda plan: InvertedResidualNet(
        (((1, 8, 1, 3, 1),), ((6, 16, 2, 3, 2),)), activation=nn.ReLU6, attention=plan
    ),
    "efficientnet": lambda plan: InvertedResidualNet(
        (((1, 8, 1, 3, 1),), ((6, 16, 2, 5, 2),)),
        activation=nn.SiLU,
        se_ratio=0.25,
        attention=plan,
        drop_rate=0.2,
    ),
    "shufflenetv2": lambda plan: ShuffleNetV2((16, 32), (2, 2), 64, attention=plan),
}
NETWORKS = [*TINY_RESNETS, *TINY_LIGHTWEIGHT]


def deal() -> list[tuple[str, str]]:
    """(module, network) pairs: modules in place of a block convolution go round the bottleneck
    networks, the others round the rest."""
    conv_nets = cycle(sorted(CONV_NETS))
    other_nets = cycle([n for n in NETWORKS if n not in CONV_NETS])
    return [
        (name, next(conv_nets if "conv" in placements(name) else other_nets))
        for name in list_attention()
    ]


PAIRS = deal()


def build(net: str, attention: AttentionSpec = None) -> nn.Module:
    torch.manual_seed(0)
    plan = plan_attention(attention)
    if net in TINY_RESNETS:
        return ResNet(**TINY_RESNETS[net], num_classes=10, attention=plan, name=net)
    return TINY_LIGHTWEIGHT[net](plan)


def size_of(model: nn.Module) -> int:
    """Half the usual test images (the attention of AA and SASA is quadratic in positions)."""
    return image_size(model) // 2


def images(n: int, size: int) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(n))


def calibrated(model: nn.Module) -> nn.Module:
    """``model`` in eval mode with noisy parameters and BatchNorm statistics of its activations.

    A fresh network is degenerate in eval mode and a broken export could match it: zero-initialised
    gates and normalisation scales make modules identities and the logits constant, and unit
    running variances make deep networks' logits explode.
    """
    size = size_of(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator))
        for m in model.modules():
            if getattr(m, "num_batches_tracked", None) is not None:
                m.num_batches_tracked.zero_()
                m.momentum = None  # a cumulative average from zero: the next batch's statistics
        model.train()(images(8, size))
        logits = model.eval()(images(4, size))
    # An export that mixed up or dropped images must show in the differences it is checked by.
    assert logits.std(0).mean() > 100 * TOLERANCE, "the logits hardly depend on the image"
    return model


def export_diff(model: nn.Module, tmp_path, fmt: str = "onnx") -> float:
    size = size_of(model)
    path = export(model, tmp_path / "model", (3, size, size), fmt)
    return verify(model, path, images(CHECK_BATCH, size), fmt)


def test_pairs_cover_every_module_and_network():
    assert {m for m, _ in PAIRS} == set(list_attention())
    assert {n for _, n in PAIRS} == set(NETWORKS)


@pytest.mark.parametrize(("attention", "net"), PAIRS, ids=["-".join(p) for p in PAIRS])
def test_every_module_and_block_type_exports_to_onnx(attention, net, tmp_path):
    # BA2M is deployed: with its default eval_mode="identity" it is not in the export.
    assert export_diff(calibrated(build(net, attention)), tmp_path) <= TOLERANCE


def test_ba2m_batch_mode_exports_to_onnx_without_the_channel_branch(tmp_path):
    # The softmax over the batch must follow the batch size the file is run with.
    model = calibrated(build("basic", ("ba2m", {"eval_mode": "batch", "branches": "lsa+gsa"})))
    assert export_diff(model, tmp_path) <= TOLERANCE


def test_ba2m_batch_mode_needs_a_fallback(tmp_path):
    # With CA and a spatial branch, mean_of_max sorts and searches: ONNX has no searchsorted.
    model = calibrated(build("basic", ("ba2m", {"eval_mode": "batch"})))
    with pytest.raises(ValueError, match=r"aten\.searchsorted.*use the 'export' format"):
        export_onnx(model, tmp_path / "model.onnx", (3, 16, 16))
    assert not list(tmp_path.iterdir())
    assert export_diff(model, tmp_path, "export") <= TOLERANCE
    assert export_diff(model, tmp_path, "torchscript") <= TOLERANCE


def test_bad_arguments_are_named(tmp_path, monkeypatch):
    model = build("basic")
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export(model, tmp_path / "model", (3, 32, 32), "tflite")
    with pytest.raises(ValueError, match=r"one image's \(channels, height, width\)"):
        export(model, tmp_path / "model", (2, 3, 32, 32))
    with pytest.raises(ValueError, match="opset 18 or later, not 17"):
        export_onnx(model, tmp_path / "model.onnx", (3, 32, 32), opset=17)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"needs onnxruntime.*pip install 'attnzoo\[onnx\]'"):
        verify_onnx(model, tmp_path / "model.onnx", images(1, 32))


@pytest.mark.parametrize(("weight", "expected"), [(0.5, TOLERANCE), (50.0, 50 * TOLERANCE)])
def test_tolerance_grows_with_logits_beyond_one(weight, expected):
    model = nn.Linear(1, 1, bias=False)
    nn.init.constant_(model.weight, weight)
    assert tolerance(model, torch.ones(2, 1)) == pytest.approx(expected)


def test_tolerance_grows_with_pytorchs_own_rounding():
    # (1e8 x + 1) - 1e8 x: 1 in float64, 0 in float32, where 1e8 + 1 rounds to 1e8.
    model = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(1e8)
        model[0].bias.copy_(torch.tensor([1.0, 0.0]))
        model[1].weight.copy_(torch.tensor([[1.0, -1.0]]))
    assert tolerance(model, torch.ones(2, 1)) == ROUNDING * 1.0


def printed(capsys: pytest.CaptureFixture[str]) -> tuple[str, float]:
    """The path and the difference `attnzoo export` printed."""
    line = capsys.readouterr().out
    path, diff = re.fullmatch(r"(\S+)  max abs diff (\S+) from PyTorch .*\n", line).groups()
    return path, float(diff)


def test_cli_exports_a_trained_checkpoint(tiny_cifar10, tmp_path, capsys, monkeypatch):
    config = TrainConfig(
        model="resnet20",
        data=str(tiny_cifar10),
        epochs=1,
        train_per_class=10,
        batch_size=20,
        eval_batch_size=50,
        out_dir=str(tmp_path / "run"),
        tensorboard=False,
    )
    train(config, progress=False)
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    capsys.readouterr()

    assert main(["export", str(checkpoint), "--batch-size", "3"]) == 0
    path, diff = printed(capsys)
    assert path == str(checkpoint.with_suffix(".onnx"))
    assert diff <= TOLERANCE
    shape = onnx.load(path).graph.input[0].type.tensor_type.shape
    assert [d.dim_param or d.dim_value for d in shape.dim] == ["batch", 3, 32, 32]

    program = tmp_path / "resnet20.pt2"
    args = ["--format", "export", "--output", str(program), "--input-size", "40", "--no-verify"]
    assert main(["export", str(checkpoint), *args]) == 0
    assert capsys.readouterr().out == f"{program}\n"
    with open(program, "rb") as f:
        loaded = torch.export.load(f).module()  # refuses inputs of another size than exported
    assert loaded(images(CHECK_BATCH, 40)).shape == (CHECK_BATCH, 10)

    assert main(["export", str(checkpoint), "--format", "torchscript", "--batch-size", "1"]) == 0
    path, diff = printed(capsys)
    assert path == str(checkpoint.with_suffix(".torchscript"))
    assert diff <= TOLERANCE

    monkeypatch.setattr("attnzoo.export.verify", lambda *args: 1.0)
    assert main(["export", str(checkpoint), "--format", "export", "--output", str(program)]) == 2
    assert "differs from the PyTorch model by 1.00e+00" in capsys.readouterr().err

    monkeypatch.setitem(sys.modules, "onnxscript", None)
    assert main(["export", str(checkpoint), "--output", str(tmp_path / "x.onnx")]) == 2
    assert "needs onnxscript, which is not installed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content", "flags", "message"),
    [
        ("missing.safetensors", None, [], "checkpoint not found"),
        ("junk.safetensors", b"not a checkpoint", [], "not a safetensors checkpoint"),
        ("any.safetensors", None, ["--batch-size", "0"], "--batch-size must be at least 1"),
        ("any.safetensors", None, ["--input-size", "-1"], "--input-size must be at least 1"),
        ("any.safetensors", None, ["--output", "."], "--output . is a directory"),
    ],
)
def test_cli_errors_are_one_line(name, content, flags, message, tmp_path, capsys):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    assert main(["export", str(tmp_path / name), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnzoo export: error: ") and message in err
    assert err.count("\n") == 1


def test_cli_refuses_an_unknown_format(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "checkpoint.safetensors", "--format", "tflite"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tflite'" in capsys.readouterr().err
