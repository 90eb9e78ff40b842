"""The attention registry: names, options, shapes, input errors, and registering a new module."""

import re

import pytest
import torch
from torch import nn

from attnzoo import build_attention, list_attention, register_attention
from attnzoo.attention import registry

PAPER_MODULES = ("ba2m", "bam", "cbam", "se", "spem")
# A few options each paper module must accept (from docs/modules.md), checked in the error message.
SOME_OPTIONS = {
    "se": ("reduction",),
    "cbam": ("reduction",),
    "bam": ("reduction", "form"),
    "spem": ("alpha",),
    "ba2m": ("reduction", "min_channels", "branches", "sar", "scale", "tau", "eval_mode", "sync"),
}
C = 16


def test_list_attention_has_the_paper_modules():
    names = list_attention()
    assert set(PAPER_MODULES) <= set(names)
    assert names == sorted(names)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="nope") as info:
        build_attention("nope", C)
    for name in PAPER_MODULES:
        assert re.search(rf"\b{name}\b", str(info.value)), name


@pytest.mark.parametrize("name", PAPER_MODULES)
def test_unknown_option_lists_valid_ones(name):
    with pytest.raises(ValueError, match="not_an_option") as info:
        build_attention(name, C, not_an_option=1)
    message = str(info.value)
    assert re.search(rf"\b{name}\b", message)
    for option in SOME_OPTIONS[name]:
        assert re.search(rf"\b{option}\b", message), option


@pytest.mark.parametrize(
    ("name", "options", "hidden"),
    [
        ("se", {"reduction": 4}, 32),
        ("cbam", {"reduction": 4}, 32),
        ("bam", {"reduction": 4}, 32),
        ("ba2m", {"reduction": 2}, 64),  # above the minimum of 32
        ("ba2m", {"reduction": 16, "min_channels": 48}, 48),
    ],
)
def test_options_are_passed_through(name, options, hidden):
    m = build_attention(name, 128, **options)
    assert isinstance(m, registry.get_attention_class(name))
    assert any(hidden in p.shape for p in m.parameters())
    default = build_attention(name, 128)
    assert not any(hidden in p.shape for p in default.parameters())


def test_spem_alpha_is_passed_through():
    assert build_attention("spem", C, alpha=0.5).aux_loss().item() == 0.5 * 0.5


@pytest.mark.parametrize("name", list_attention())
@pytest.mark.parametrize("size", [(5, 3), (7, 9), (1, 5), (3, 1)], ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_shape_is_preserved(name, size, training):
    m = build_attention(name, C).train(training)
    x = torch.randn(3, C, *size)
    y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", list_attention())
@pytest.mark.parametrize("shape", [(3, C, 8), (2, C, 3, 4, 5), (C,)], ids=str)
def test_wrong_rank_names_module_and_shape(name, shape):
    m = build_attention(name, C)
    with pytest.raises(ValueError, match=rf"(?i)\b{name}\b") as info:
        m(torch.randn(shape))
    assert str(tuple(shape)) in str(info.value)


@pytest.mark.parametrize("name", list_attention())
def test_wrong_channel_count_names_module_and_shape(name):
    m = build_attention(name, C)
    with pytest.raises(ValueError, match=rf"(?i)\b{name}\b") as info:
        m(torch.randn(3, 8, 4, 4))
    message = str(info.value)
    assert "(3, 8, 4, 4)" in message and str(C) in message


@pytest.fixture
def scratch_name():
    name = "scratch_attention_for_tests"
    assert name not in registry._REGISTRY
    yield name
    registry._REGISTRY.pop(name, None)


def test_registering_a_new_module(scratch_name):
    @register_attention(scratch_name)
    class Gain(nn.Module):
        def __init__(self, channels: int, gain: float = 1.0) -> None:
            super().__init__()
            self.channels, self.gain = channels, gain

        def forward(self, x):
            return x * self.gain

    assert scratch_name in list_attention()
    m = build_attention(scratch_name, 4, gain=2.0)
    assert isinstance(m, Gain) and m.channels == 4
    assert torch.equal(m(torch.ones(1, 4, 2, 3)), torch.full((1, 4, 2, 3), 2.0))
    with pytest.raises(ValueError, match=r"unknown option.*valid options: gain"):
        build_attention(scratch_name, 4, scale=2.0)
    with pytest.raises(ValueError, match="already registered"):
        register_attention(scratch_name)(Gain)
    with pytest.raises(ValueError, match="already registered"):
        register_attention("se")(Gain)
    assert registry.get_attention_class("se") is not Gain


def test_scratch_module_was_cleaned_up():
    assert "scratch_attention_for_tests" not in list_attention()


@pytest.mark.parametrize("name", list_attention())
def test_an_option_of_the_wrong_type_is_one_value_error_naming_it(name):
    """Every number option of every module: a string (YAML's reading of '1e-3' in older configs,
    or a typo) is refused before any tensor is built, naming the module and the option."""
    import inspect
    import typing

    from attnzoo.attention import get_attention_class

    cls = get_attention_class(name)
    hints = typing.get_type_hints(cls.__init__)
    params = [k for k in inspect.signature(cls.__init__).parameters if k != "channels"]
    numbers = [k for k in params if hints.get(k) in (int, float)]
    for option in numbers:
        with pytest.raises(ValueError, match=rf"{cls.__name__}: {option}='abc' should be"):
            build_attention(name, 64, **{option: "abc"})


def test_option_types_accept_what_the_signature_allows():
    assert build_attention("ba2m", 64, tau=1).tau == 1  # an int is a float
    build_attention("ba2m", 64, branches=["ca", "gsa"])  # a list for an Iterable[str]
    with pytest.raises(ValueError, match=r"reduction=2\.5 should be int"):
        build_attention("se", 512, reduction=2.5)
    with pytest.raises(ValueError, match="should be int"):
        build_attention("se", 512, reduction=True)  # a bool is no count
