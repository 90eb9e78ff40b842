"""BAM against its formula (docs/modules.md, BAM) in float64, in both forms, train and eval.

Paper form (default): Mc = BN1d(W1 (W0 GAP(x) + b0) + b1), no activation inside;
Ms = BN(conv1x1(dconv3x3(dconv3x3(conv1x1(x))))), C -> C/16 -> C/16 -> C/16 -> 1, BN + ReLU between
the convolutions, dilation 4, padding 4; y = x + x * sigmoid(Mc + Ms).
Code form: BN1d + ReLU after W0, no final BN in either branch, y = x + x * sigmoid(Mc * Ms).
"""

import pytest
import torch
from tests.attention.reference import assert_close, bn, conv, conv1x1, fc, randn, randomize
from torch import nn

from attnzoo import build_attention

C = 64
H = C // 16
relu, sigmoid = torch.relu, torch.sigmoid


def layers(m, kind):
    return [layer for layer in m.modules() if isinstance(layer, kind)]


def spatial_trunk(m, x, training):
    """conv1x1 C -> h, then two 3x3 convs (dilation 4, padding 4), each followed by BN + ReLU; then
    the conv1x1 h -> 1. Returns the pre-BN map and the BatchNorm2d layers left after the trunk."""
    convs, bns = layers(m.spatial_att, nn.Conv2d), layers(m.spatial_att, nn.BatchNorm2d)
    assert len(convs) == 4
    y = relu(bn(conv1x1(x, convs[0].weight, convs[0].bias), bns[0], training))
    for i in (1, 2):
        y = conv(y, convs[i].weight, convs[i].bias, padding=4, dilation=4)
        y = relu(bn(y, bns[i], training))
    return conv1x1(y, convs[3].weight, convs[3].bias), bns[3:]


def paper_reference(m, x, training):
    (w0, w1), (channel_bn,) = layers(m.channel_att, nn.Linear), layers(m, nn.BatchNorm1d)
    mc = bn(fc(fc(x.mean((2, 3)), w0.weight, w0.bias), w1.weight, w1.bias), channel_bn, training)
    ms, (spatial_bn,) = spatial_trunk(m, x, training)
    ms = bn(ms, spatial_bn, training)
    return x + x * sigmoid(mc[:, :, None, None] + ms)


def code_reference(m, x, training):
    (w0, w1), (hidden_bn,) = layers(m.channel_att, nn.Linear), layers(m, nn.BatchNorm1d)
    hidden = relu(bn(fc(x.mean((2, 3)), w0.weight, w0.bias), hidden_bn, training))
    mc = fc(hidden, w1.weight, w1.bias)
    ms, rest = spatial_trunk(m, x, training)
    assert rest == []  # no final BN in the code form
    return x + x * sigmoid(mc[:, :, None, None] * ms)


REFERENCES = {"paper": paper_reference, "code": code_reference}


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("form", ["paper", "code"])
@pytest.mark.parametrize("shape", [(4, C, 6, 9), (3, C, 5, 3)], ids=str)
def test_matches_formula(form, training, shape):
    options = {} if form == "paper" else {"form": "code"}
    m = randomize(build_attention("bam", C, **options), seed=1).train(training)
    x = randn(*shape, seed=2)
    assert_close(m(x), REFERENCES[form](m, x, training))


def test_paper_form_is_the_default():
    m = randomize(build_attention("bam", C), seed=3)
    x = randn(4, C, 7, 5, seed=4)
    assert_close(m(x), paper_reference(m, x, True))
    assert len(layers(m, nn.BatchNorm2d)) == 4  # three between the convs, one final


@pytest.mark.parametrize("form", ["paper", "code"])
def test_layer_shapes(form):
    m = build_attention("bam", C, form=form)
    w0, w1 = layers(m.channel_att, nn.Linear)
    assert w0.weight.shape == (H, C) and w1.weight.shape == (C, H)
    convs = layers(m.spatial_att, nn.Conv2d)
    assert [tuple(c.weight.shape) for c in convs] == [
        (H, C, 1, 1),
        (H, H, 3, 3),
        (H, H, 3, 3),
        (1, H, 1, 1),
    ]
    assert [c.dilation for c in convs[1:3]] == [(4, 4), (4, 4)]
    assert len(layers(m, nn.BatchNorm1d)) == 1
    assert len(layers(m, nn.BatchNorm2d)) == (4 if form == "paper" else 3)


@pytest.mark.parametrize("form", ["paper", "code"])
def test_batch_of_one_in_training_is_a_clear_error(form):
    m = randomize(build_attention("bam", C, form=form))
    x = randn(1, C, 5, 6, seed=5)
    with pytest.raises(ValueError, match="batch"):
        m(x)
    m.eval()
    assert_close(m(x), REFERENCES[form](m, x, False))


def test_invalid_form_is_named():
    with pytest.raises(ValueError, match="form"):
        build_attention("bam", C, form="both")


@pytest.mark.parametrize("form", ["paper", "code"])
def test_gradients_match_formula(form):
    """Gradients through the module against autograd through the formula."""
    options = {} if form == "paper" else {"form": "code"}
    m = randomize(build_attention("bam", C, **options), seed=3).train()
    x = randn(4, C, 6, 9, seed=4).requires_grad_()
    g = randn(4, C, 6, 9, seed=5)
    inputs = [x, *m.parameters()]
    got = torch.autograd.grad(m(x), inputs, g)
    want = torch.autograd.grad(REFERENCES[form](m, x, True), inputs, g)
    for a, b in zip(got, want, strict=True):
        assert_close(a, b)
