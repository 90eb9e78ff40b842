"""SE, CBAM, BAM and SPEM against references written from METHODS.md, in float64."""

import pytest
import torch
from tests.attention.reference import assert_close, bn, conv, linear, randomize

from attnzoo import aux_loss, build_attention

torch.manual_seed(0)
X = torch.randn(4, 32, 7, 5, dtype=torch.float64)
sigmoid, relu = torch.sigmoid, torch.relu


def gap(x):
    return x.mean((2, 3))


def test_se_matches_formula():
    m = randomize(build_attention("se", 32))
    assert m.fc1.out_channels == 32 // 16
    s = sigmoid(linear(relu(linear(gap(X), m.fc1)), m.fc2))
    assert_close(m(X), X * s[:, :, None, None])


@pytest.mark.parametrize("training", [True, False])
def test_cbam_matches_formula(training):
    m = randomize(build_attention("cbam", 32)).train(training)
    mlp = lambda v: linear(relu(linear(v, m.mlp[0])), m.mlp[2])  # noqa: E731
    x1 = X * sigmoid(mlp(gap(X)) + mlp(X.amax((2, 3))))[:, :, None, None]
    descriptor = torch.stack([x1.mean(1), x1.amax(1)], dim=1)  # [mean; max], the paper's order
    ms = sigmoid(bn(conv(descriptor, m.spatial_conv), m.spatial_bn, training))
    assert_close(m(X), x1 * ms)


def test_cbam_spatial_gate_starts_at_one_half():
    m = build_attention("cbam", 32).eval().double()
    assert torch.all(m.spatial_bn.weight == 0)
    mlp_gate = sigmoid(m.mlp(X.mean((2, 3), keepdim=True)) + m.mlp(X.amax((2, 3), keepdim=True)))
    assert_close(m(X), X * mlp_gate * 0.5)


def bam_spatial(m, x, training):
    """conv1x1 -> (dilated conv3x3) x 2, each followed by BN + ReLU, then conv1x1 to one map."""
    layers = list(m.spatial_att)
    for i in range(0, 9, 3):
        x = relu(bn(conv(x, layers[i]), layers[i + 1], training))
        assert i == 0 or layers[i].dilation == (4, 4)
    return conv(x, layers[9]), layers[10:]


@pytest.mark.parametrize("training", [True, False])
def test_bam_paper_form(training):
    m = randomize(build_attention("bam", 32)).train(training)
    fc0, fc1, channel_bn = m.channel_att
    mc = bn(linear(linear(gap(X), fc0), fc1), channel_bn, training)  # no activation inside
    ms, (spatial_bn,) = bam_spatial(m, X, training)
    ms = bn(ms, spatial_bn, training)
    assert_close(m(X), X + X * sigmoid(mc[:, :, None, None] + ms))


@pytest.mark.parametrize("training", [True, False])
def test_bam_code_form(training):
    m = randomize(build_attention("bam", 32, form="code")).train(training)
    fc0, hidden_bn, _, fc1 = m.channel_att
    mc = linear(relu(bn(linear(gap(X), fc0), hidden_bn, training)), fc1)
    ms, rest = bam_spatial(m, X, training)
    assert rest == []  # no final BN in the code form
    assert_close(m(X), X + X * sigmoid(mc[:, :, None, None] * ms))


def test_bam_batch_of_one_in_training_is_a_clear_error():
    m = build_attention("bam", 32).double()
    with pytest.raises(ValueError, match="batch size 1"):
        m(X[:1])
    assert m.eval()(X[:1]).shape == X[:1].shape


def spem_reference(m, x):
    u = m.w2 * x.amax((2, 3), keepdim=True) + m.b2
    low = m.w2 * x.amin((2, 3), keepdim=True) + m.b2
    p1, p2 = m.p
    lam = p1**2 / (p1**2 + p2**2)
    return x * sigmoid(u + low) * sigmoid(m.w1 * (lam * u + (1 - lam) * low) + m.b1)


def test_spem_matches_authors_formula():
    m = randomize(build_attention("spem", 32))
    assert_close(m(X), spem_reference(m, X))


def test_spem_initial_gate():
    m = build_attention("spem", 32).double()
    assert_close(m(X), X * sigmoid(torch.tensor(-2.0)) * sigmoid(torch.tensor(-1.0)))


def test_aux_loss_sums_over_spem_modules():
    model = torch.nn.Sequential(
        build_attention("spem", 8, alpha=0.1), build_attention("spem", 8, alpha=0.3)
    )
    with torch.no_grad():
        model[1].p.copy_(torch.tensor([1.0, 2.0]))
    loss = aux_loss(model)
    assert loss.item() == pytest.approx(0.1 * 0.5 + 0.3 * 5.0)
    loss.backward()
    assert_close(model[1].p.grad, 2 * 0.3 * torch.tensor([1.0, 2.0]))
    assert aux_loss(torch.nn.Sequential(build_attention("se", 8))).item() == 0.0
