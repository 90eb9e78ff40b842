"""Module classes and partials where a name goes (as timm's get_attn), declared hooks, backbone
keywords, and options checked at the width the backbone uses."""

from __future__ import annotations

from functools import partial

import pytest
from torch import nn

from attnzoo.attention import BA2M, SE, AttentionModule, get_attention_class, list_attention
from attnzoo.models import create_model


def attn_modules(model: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


def test_every_registered_module_declares_the_hooks():
    for name in list_attention():
        assert issubclass(get_attention_class(name), AttentionModule), name


def test_a_class_and_a_partial_stand_for_a_name():
    by_name = create_model("resnet20", attention="se")
    by_class = create_model("resnet20", attention=SE)
    assert len(attn_modules(by_class, SE)) == len(attn_modules(by_name, SE)) == 9
    model = create_model("resnet20", attention=partial(BA2M, tau=0.5))
    assert [m.tau for m in attn_modules(model, BA2M)] == [0.5] * 3  # BA2M's own placement
    pair = create_model(
        "resnet20", attention=[SE, (partial(BA2M, tau=2.0), {"placement": "block"})]
    )
    assert len(attn_modules(pair, SE)) == 9 and len(attn_modules(pair, BA2M)) == 9
    with pytest.raises(ValueError, match=r"attention 'se' got unknown option\(s\) tau"):
        create_model("resnet20", attention=(SE, {"tau": 0.5}))


def test_an_unregistered_module_class_takes_the_default_hooks():
    class Gain(nn.Module):
        def __init__(self, channels: int, gain: float = 1.0) -> None:
            super().__init__()
            self.gain = gain

        def forward(self, x):
            return x * self.gain

    model = create_model("resnet20", attention=partial(Gain, gain=2.0))
    assert [m.gain for m in attn_modules(model, Gain)] == [2.0] * 9  # "block", all stages
    with pytest.raises(ValueError, match=r"nn\.Module class or a functools\.partial"):
        create_model("resnet20", attention=len)
    with pytest.raises(ValueError, match=r"an nn\.Module class or a functools\.partial of one"):
        create_model("resnet20", attention=int)


def test_backbone_options_go_to_the_backbone():
    plain = create_model("mobilenetv2_cifar", model_options={"drop_rate": 0.2})
    assert plain.dropout.p == 0.2
    with_attention = create_model(
        "mobilenetv2_cifar", attention="se", model_options={"drop_rate": 0.3}
    )
    assert with_attention.dropout.p == 0.3
    with pytest.raises(ValueError, match=r"unknown model option\(s\) \['pretend'\].*drop_rate"):
        create_model("mobilenetv2_cifar", model_options={"pretend": True})


def test_options_are_checked_at_the_real_width():
    # hidden = max(C / 32, 32): 32 at 64 channels, 64 at 2048; gsa_groups=64 fits only the latter,
    # so a throwaway 64-channel module would have refused it.
    model = create_model("resnet50", attention=("ba2m", {"gsa_groups": 64}), stages=(4,))
    assert len(attn_modules(model, BA2M)) == 1
    with pytest.raises(ValueError, match=r"ba2m at 256 channels: BA2M: gsa_groups=64"):
        create_model("resnet50", attention=("ba2m", {"gsa_groups": 64}), stages=(1,))
