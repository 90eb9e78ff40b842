import pytest
import torch
from torch import nn

from attnzoo import build_attention, list_attention, register_attention
from attnzoo.attention import registry

PAPER_MODULES = {"se", "cbam", "bam", "ba2m", "spem"}


def test_list_attention():
    assert set(list_attention()) >= PAPER_MODULES


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown attention 'nope'.*ba2m.*cbam"):
        build_attention("nope", 16)


def test_unknown_option_lists_valid_ones():
    with pytest.raises(ValueError, match=r"'se' got unknown option.*tau.*valid options: reduction"):
        build_attention("se", 16, tau=1.0)


@pytest.mark.parametrize("name", sorted(PAPER_MODULES))
@pytest.mark.parametrize("size", [(1, 1), (5, 3), (9, 16)])
def test_shape_is_preserved(name, size):
    m = build_attention(name, 16)
    x = torch.randn(3, 16, *size)
    assert m(x).shape == x.shape
    assert m.eval()(x).shape == x.shape


@pytest.mark.parametrize("name", sorted(PAPER_MODULES))
def test_bad_input_names_module_and_shape(name):
    m = build_attention(name, 16)
    with pytest.raises(ValueError, match=rf"(?i){name}.*4-D.*\(3, 16, 8\)"):
        m(torch.randn(3, 16, 8))
    with pytest.raises(ValueError, match=rf"(?i){name}.*16 channels.*8 channels"):
        m(torch.randn(3, 8, 4, 4))


def test_registering_a_new_module():
    @register_attention("identity_test")
    class IdentityAttention(nn.Module):
        def __init__(self, channels: int, gain: float = 1.0) -> None:
            super().__init__()
            self.gain = gain

        def forward(self, x):
            return x * self.gain

    try:
        m = build_attention("identity_test", 4, gain=2.0)
        assert torch.equal(m(torch.ones(1, 4, 2, 2)), torch.full((1, 4, 2, 2), 2.0))
        with pytest.raises(ValueError, match="already registered"):
            register_attention("identity_test")(IdentityAttention)
    finally:
        registry._REGISTRY.pop("identity_test")
