"""Wrong names, options and inputs fail early with a ValueError that says what is wrong."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from attnzoo.attention import BA2M, list_attention
from attnzoo.models import create_model, list_models


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'resnet9'") as info:
        create_model("resnet9")
    message = str(info.value)
    assert all(name in message for name in list_models())


def test_unknown_attention_lists_valid_names():
    with pytest.raises(ValueError, match="unknown attention 'sse'") as info:
        create_model("resnet20", attention="sse")
    message = str(info.value)
    assert all(name in message for name in list_attention())


def test_unknown_attention_inside_a_list():
    with pytest.raises(ValueError, match=r"unknown attention 'sse'.*ba2m"):
        create_model("resnet20", attention=["se", "sse"])
    with pytest.raises(ValueError, match=r"unknown attention 'sse'.*ba2m"):
        create_model("resnet20", attention=[("sse", {})])


def test_bad_option_value_is_named():
    with pytest.raises(ValueError, match=r"sar='foo'.*'sample'.*'spatial'"):
        create_model("resnet20", attention=("ba2m", {"sar": "foo"}))
    with pytest.raises(ValueError, match="tau"):
        create_model("resnet20", attention=("ba2m", {"tau": 0.0}))
    with pytest.raises(ValueError, match=r"form='nope'"):
        create_model("resnet20", attention=("bam", {"form": "nope"}))


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match=r"unknown option.*colour.*valid options:.*tau") as info:
        create_model("resnet20", attention=("ba2m", {"colour": "red"}))
    assert "ba2m" in str(info.value)
    with pytest.raises(ValueError, match=r"unknown option.*tau"):
        create_model("resnet20", attention=("se", {"tau": 0.5}))


def test_bad_option_inside_a_pair_is_named():
    with pytest.raises(ValueError, match=r"unknown option.*tau"):
        create_model("resnet20", attention=[("se", {"tau": 0.5}), "ba2m"])
    with pytest.raises(ValueError, match=r"sar='foo'"):
        create_model("resnet20", attention=["se", ("ba2m", {"sar": "foo"})])


def test_placement_with_a_list_explains_the_pair_form():
    with pytest.raises(ValueError, match=r"\(name, options\) pair") as info:
        create_model("resnet20", attention=["se", "ba2m"], placement="stage")
    assert "placement" in str(info.value)
    with pytest.raises(ValueError, match=r"\(name, options\) pair"):
        create_model("resnet20", attention="se+ba2m", stages=(2,))


def test_module_options_are_not_create_model_keywords():
    # No routing by signature: module options go in the spec, backbone options in model_options.
    with pytest.raises(TypeError, match="tau"):
        create_model("resnet20", attention="ba2m", tau=0.5)
    with pytest.raises(ValueError, match=r"stages.*without an attention"):
        create_model("resnet20", stages=(2,))


@pytest.mark.parametrize("name", ["resnet20", "resnet50"])
def test_wrong_channel_count_names_model_and_shape(name):
    model = create_model(name)
    with pytest.raises(ValueError, match=rf"{name} expects input of shape \(N, 3, H, W\)") as info:
        model(torch.randn(2, 1, 32, 32))
    assert "(2, 1, 32, 32)" in str(info.value)


@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 3, 32, 32, 1), (2, 3)])
def test_wrong_rank_names_model_and_shape(shape):
    model = create_model("resnet20")
    with pytest.raises(ValueError, match=r"resnet20 expects input of shape \(N, 3, H, W\)") as info:
        model(torch.randn(*shape))
    assert str(shape) in str(info.value)
    with pytest.raises(ValueError, match="resnet20"):
        model.features(torch.randn(*shape))


def test_in_chans_shapes_the_message():
    model = create_model("resnet18_cifar", in_chans=1)
    with pytest.raises(ValueError, match=r"resnet18_cifar expects input of shape \(N, 1, H, W\)"):
        model(torch.randn(2, 3, 28, 28))


@pytest.mark.parametrize("num_classes", [0, -1, 2.5, "10"])
def test_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match=r"resnet20: num_classes must be a positive int"):
        create_model("resnet20", num_classes)


@pytest.mark.parametrize("in_chans", [0, -3])
def test_bad_in_chans(in_chans):
    with pytest.raises(ValueError, match="in_chans"):
        create_model("resnet20", in_chans=in_chans)


def test_batch_of_one_in_training_through_bam():
    model = create_model("resnet20", attention="bam").train()
    with pytest.raises(ValueError, match=r"(?i)BAM.*batch.*batch size 1"):
        model(torch.randn(1, 3, 32, 32))
    # In eval mode (running statistics) a single image is fine.
    assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_batch_of_one_in_training_through_ba2m_is_the_identity():
    torch.manual_seed(0)
    model = create_model("resnet20", attention="ba2m").train()
    plain = copy.deepcopy(model)
    plain.stage_attn = nn.ModuleList(nn.Identity() for _ in plain.stage_attn)
    before = {k: v.clone() for k, v in model.state_dict().items() if "stage_attn" in k}
    x = torch.randn(1, 3, 32, 32)
    out = model(x)
    assert out.shape == (1, 10)
    torch.testing.assert_close(out, plain(x), rtol=0, atol=0)
    out.sum().backward()
    # BA2M took no part: its statistics are untouched and its weights got no gradient.
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    for module in model.stage_attn:
        assert isinstance(module, BA2M)
        assert all(p.grad is None for p in module.parameters())


def test_keyword_placement_beside_a_pair_is_refused_twice_not_dropped():
    with pytest.raises(ValueError, match=r"\['placement'\] given both in the spec and as keywords"):
        create_model("resnet20", attention=("ba2m", {"placement": "stage"}), placement="block")
    model = create_model("resnet20", attention=("ba2m", {"tau": 0.5, "sar": "spatial"}))
    assert all(m.sar == "spatial" and m.tau == 0.5 for m in model.stage_attn)
    inside = create_model("resnet20", attention=("ba2m", {"tau": 0.5}), placement="block")
    assert [m.tau for m in inside.modules() if isinstance(m, BA2M)] == [0.5] * 9


@pytest.mark.parametrize(
    "attention",
    [["ba2m", {"tau": 0.5}], [("se", 8)], [("se",)], [3]],
    ids=["bare-dict", "int-options", "one-tuple", "int"],
)
def test_malformed_list_items_explain_the_pair_form(attention):
    with pytest.raises(ValueError, match=r"\(name, options\)"):
        create_model("resnet20", attention=attention)


def test_bool_num_classes_is_refused():
    with pytest.raises(ValueError, match="num_classes"):
        create_model("resnet20", True)
