"""Everything traces into one graph for torch.compile: each module alone in training (forward, aux
loss, backward) and in evaluation, and every backbone family with every module in training, with
``fullgraph=True``, which raises at the first graph break. A graph break is also what a host-device
synchronisation inside a forward causes (``.item()``, ``bool(tensor)``, a branch on a tensor's
value, ``.tolist()``, ``nonzero``): dynamo cannot trace data-dependent control flow, so these
tests double as the check that no forward synchronises. The "aot_eager" backend traces as inductor
does (dynamo, then AOT autograd for the backward) without generating code, which keeps this cheap;
the trainer's inductor path is tested in tests/engine/test_options.py.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch._dynamo
import torch.nn.functional as F

from attnzoo.attention import aux_loss, build_attention, get_attention_class, list_attention
from attnzoo.models.densenet import DenseNet
from attnzoo.models.efficientnet import SETTINGS as EFFICIENTNET
from attnzoo.models.inverted_residual import InvertedResidualNet
from attnzoo.models.mobilenetv2 import SETTINGS as MOBILENET
from attnzoo.models.placement import plan_attention
from attnzoo.models.resnet import BasicBlock, Bottleneck, PreActBlock, PreActBottleneck, ResNet
from attnzoo.models.shufflenetv2 import ShuffleNetV2
from attnzoo.models.sknet import sknet

CONV_MODULES = [
    n for n in list_attention() if "conv" in getattr(get_attention_class(n), "placements", ())
]
# Every module that goes inside blocks or after stages: they stack in one network.
STACKED = [n for n in list_attention() if n not in CONV_MODULES]


def compiled(fn):
    torch._dynamo.reset()
    return torch.compile(fn, backend="aot_eager", fullgraph=True)


def check_whole_graph(
    model: torch.nn.Module, x: torch.Tensor, training: bool, param_grads: bool = True
) -> None:
    """Compile a training step's loss (or an evaluation forward) as one graph; compare with
    eager on the same weights."""
    model.train(training)

    def loss(x):
        y = model(x)
        return F.cross_entropy(y.flatten(1), torch.zeros(len(x), dtype=torch.long)) + aux_loss(
            model
        )

    if training:  # the same random stream for both (dropout, drop path)
        step = compiled(loss)
        torch.manual_seed(1)
        expected = loss(x)
        torch.manual_seed(1)
        got = step(x)
        got.backward()
        trained = [p.grad is not None for p in model.parameters() if p.requires_grad]
        assert all(trained) if param_grads else not any(trained)
    else:
        with torch.no_grad():
            expected, got = model(x), compiled(model)(x)
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-4)


class Head(torch.nn.Module):
    """A module as a tiny network: its output pooled into two logits, so the loss is a scalar."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x).mean((2, 3))[:, :2]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", list_attention())
def test_module_compiles_whole_with_backward(name, training):
    torch.manual_seed(0)
    x = torch.randn(4, 64, 8, 8, requires_grad=training)  # GE's default has no parameters
    check_whole_graph(Head(build_attention(name, 64)), x, training)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_ba2m_batch_of_one_compiles_whole(training):
    """BA2M's batch-of-one path: the input returned as it is (in training too), one graph."""
    torch.manual_seed(0)
    module = build_attention("ba2m", 64, eval_mode="batch")
    x = torch.randn(1, 64, 8, 8, requires_grad=training)
    check_whole_graph(Head(module), x, training, param_grads=False)
    if training:  # the softmax over one sample is constant: the gradient passes straight through
        assert x.grad is not None


def test_spem_aux_loss_compiles_into_the_training_graph():
    torch.manual_seed(0)
    build = FAMILIES["resnet_cifar_A"][0]  # ResNet-20's blocks, one a stage
    model = build(num_classes=10, in_chans=3, attention=plan_attention("spem"), name="resnet")
    check_whole_graph(model, torch.randn(2, 3, 16, 16), training=True)
    assert all(p.grad is not None for n, p in model.named_parameters() if n.endswith(".p"))


def _resnet(block, layers, widths, **kw):
    return partial(ResNet, block, layers, widths, **kw)


def _first_groups(settings):
    """The first group of each of the first three stages, at most two blocks each: expansion 1
    and 6, strides 1 and 2, residual blocks (EfficientNet's 3x3 and 5x5 kernels too)."""
    firsts = (stage[0] for stage in settings[:3])
    return tuple(((t, c, min(n, 2), k, s),) for t, c, n, k, s in firsts)


# One small network per backbone family and block type of attnzoo.models (every registered
# backbone is one of these at another depth or width), with the conv-placed module each takes.
FAMILIES = {
    "resnet_cifar_A": (
        _resnet(BasicBlock, (1, 1, 1), (16, 32, 64), stem="cifar", shortcut="A"),
        None,
    ),
    "resnet_bottleneck": (_resnet(Bottleneck, (1, 1, 1, 1), (8, 16, 32, 64)), "aa"),
    "resnet_bottleneck_cifar_B": (
        _resnet(Bottleneck, (1, 1, 1), (16, 32, 64), stem="cifar", shortcut="B"),
        "sasa",
    ),
    "preresnet_A": (
        _resnet(PreActBlock, (1, 1, 1), (16, 32, 64), stem="cifar", shortcut="A"),
        None,
    ),
    "preresnet_bottleneck": (
        _resnet(PreActBottleneck, (1, 1, 1), (16, 32, 64), stem="cifar", shortcut="conv"),
        "aa",
    ),
    "wide_resnet": (
        _resnet(
            PreActBlock,
            (1, 1, 1),
            (32, 64, 128),
            stem_width=16,
            stem="cifar",
            shortcut="conv",
            dropout=0.3,
        ),
        None,
    ),
    "resnext": (
        _resnet(Bottleneck, (1, 1, 1), (64, 128, 256), stem="cifar", groups=8, base_width=8),
        "sk",
    ),
    "sknet": (partial(sknet, (1, 1, 1, 1)), None),
    "densenet": (partial(DenseNet, (2, 2, 2), 12, 0.5), None),
    "shufflenetv2": (partial(ShuffleNetV2, (24, 48, 96), (1, 1, 1), 128), None),
    "mobilenetv2": (
        partial(InvertedResidualNet, _first_groups(MOBILENET), activation=torch.nn.ReLU6),
        None,
    ),
    "efficientnet": (
        partial(
            InvertedResidualNet,
            _first_groups(EFFICIENTNET),
            activation=torch.nn.SiLU,
            se_ratio=0.25,
            drop_rate=0.2,
        ),
        None,
    ),
}


def spread(modules: list[str], num_stages: int) -> list[tuple[str, dict]]:
    """Each module in one stage, in turn, at its own placement (inside the blocks, after the
    stage, or in place of the blocks' convolution): every module is still traced in the
    family's block or after its stage, but a block holds a few modules, not all of them (the
    graph with all of them in every block made this test 40% of the file's time)."""
    return [(name, {"stages": [i % num_stages + 1]}) for i, name in enumerate(modules)]


def names_in(module: torch.nn.Module) -> set[str]:
    return {type(m).__name__.lower() for m in module.modules()}


# In training only: the forward and the backward, the costlier trace (a quarter of the suite's
# time with evaluation too). Each module's evaluation path compiles whole in
# test_module_compiles_whole_with_backward; the backbones have no evaluation-only code of their own.
@pytest.mark.parametrize("family", list(FAMILIES))
def test_backbone_with_every_module_compiles_whole(family):
    build, conv_module = FAMILIES[family]
    attention = STACKED + ([conv_module] if conv_module else [])
    num_stages = len(build(num_classes=10, in_chans=3, name=family).stages)
    spec = spread(attention, num_stages)
    torch.manual_seed(0)
    model = build(num_classes=10, in_chans=3, attention=plan_attention(spec), name=family)
    for name, options in spec:  # each module where the spec puts it
        stage = options["stages"][0] - 1
        after = get_attention_class(name).default_placement == "stage"
        assert name in names_in(model.stage_attn[stage] if after else model.stages[stage])
    check_whole_graph(model, torch.randn(2, 3, 32, 32), training=True)
