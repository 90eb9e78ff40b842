"""Placement: in blocks or after chosen stages, per module, and the errors for impossible ones."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from attnzoo.attention import BA2M, BAM, SE, ConvAttentionModule
from attnzoo.models import create_model


def blocks(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.stages.modules() if hasattr(m, "attn")]


def kinds(model: nn.Module) -> list[str]:
    return [type(m).__name__ for m in model.stage_attn]


# The BA2M paper's Table XIII: every non-empty subset of ResNet-50's four stages.
SUBSETS = [s for r in range(1, 5) for s in itertools.combinations((1, 2, 3, 4), r)]


def test_table_xiii_has_fifteen_subsets():
    assert len(SUBSETS) == 15


@pytest.mark.parametrize("stages", SUBSETS, ids=[",".join(map(str, s)) for s in SUBSETS])
def test_every_stage_subset_of_a_four_stage_resnet(stages):
    model = create_model("resnet18", attention="ba2m", placement="stage", stages=stages)
    expected = ["BA2M" if i in stages else "Identity" for i in (1, 2, 3, 4)]
    assert kinds(model) == expected
    channels = [m.channels for m in model.stage_attn if isinstance(m, BA2M)]
    assert channels == [(64, 128, 256, 512)[i - 1] for i in stages]
    assert not any(isinstance(b.attn, BA2M) for b in blocks(model))


def test_resnet50_stages_two_and_four_run():
    model = create_model("resnet50", attention="ba2m", placement="stage", stages=(2, 4))
    assert kinds(model) == ["Identity", "BA2M", "Identity", "BA2M"]
    assert [m.channels for m in model.stage_attn if isinstance(m, BA2M)] == [512, 2048]
    logits = model(torch.randn(4, 3, 64, 64))
    assert logits.shape == (4, 1000)


def test_a_single_stage_number_is_accepted():
    model = create_model("resnet20", attention="bam", stages=2, placement="stage")
    assert kinds(model) == ["Identity", "BAM", "Identity"]


def test_ba2m_inside_every_block_table_vii():
    model = create_model("resnet20", attention="ba2m", placement="block")
    assert all(isinstance(b.attn, BA2M) for b in blocks(model))
    assert kinds(model) == ["Identity"] * 3
    assert [b.attn.channels for b in blocks(model)] == [16] * 3 + [32] * 3 + [64] * 3
    logits = model(torch.randn(4, 3, 32, 32))
    logits.sum().backward()


def test_block_modules_after_stages_and_stage_modules_in_blocks():
    model = create_model(
        "resnet20", attention=[("se", {"placement": "stage"}), ("bam", {"placement": "block"})]
    )
    assert kinds(model) == ["SE", "SE", "SE"]
    assert all(isinstance(b.attn, BAM) for b in blocks(model))


def test_pairs_carry_placement_stages_and_options():
    model = create_model(
        "resnet18",
        attention=["se", ("ba2m", {"placement": "stage", "stages": [1, 3], "tau": 0.5})],
    )
    assert all(isinstance(b.attn, SE) for b in blocks(model))
    assert kinds(model) == ["BA2M", "Identity", "BA2M", "Identity"]
    assert {m.tau for m in model.stage_attn if isinstance(m, BA2M)} == {0.5}


def test_default_places_come_from_the_module_class():
    bam = create_model("resnet50", attention="bam")  # after stages 1-3, as the BAM paper
    assert kinds(bam) == ["BAM", "BAM", "BAM", "Identity"]
    bam_all = create_model("resnet50", attention="bam", stages=(1, 2, 3, 4), placement="stage")
    assert kinds(bam_all) == ["BAM"] * 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(placement="stage", stages=(5,)), r"resnet50 has 4 stages, numbered 1 to 4"),
        (dict(placement="stage", stages=(0, 2)), r"stage numbers counted from 1"),
        (dict(placement="stage", stages=()), r"non-empty"),
        (dict(placement="stage", stages=(True,)), r"stage numbers"),
        (dict(placement="middle"), r"unknown placement 'middle'; valid: block, stage"),
    ],
)
def test_impossible_placements_are_named(kwargs, message):
    attention = "se"
    with pytest.raises(ValueError, match=message):
        create_model("resnet50", attention=attention, **kwargs)


def test_stage_number_out_of_range_for_a_three_stage_net():
    with pytest.raises(ValueError, match=r"resnet20 has 3 stages.*ba2m.*stages=\(4,\)"):
        create_model("resnet20", attention="ba2m", placement="stage", stages=(4,))


def test_block_modules_in_chosen_stages_only():
    # GCNet's "c3-c5" setting: GC in the blocks of ResNet-50's stages 2 to 4 only.
    model = create_model("resnet50", attention="se", stages=(2, 3, 4))
    per_stage = [[isinstance(b.attn, SE) for b in stage] for stage in model.stages]
    assert per_stage == [[False] * 3, [True] * 4, [True] * 6, [True] * 3]
    assert kinds(model) == ["Identity"] * 4
    with pytest.raises(ValueError, match=r"resnet50 has 4 stages.*se.*stages=\(5,\)"):
        create_model("resnet50", attention="se", stages=(5,))


def test_conv_modules_in_chosen_stages_only():
    """A conv-placed module replaces the 3x3 of the chosen stages' bottlenecks only; the other
    stages keep their convolution (and a stage number the backbone lacks is named)."""
    model = create_model("resnet50", attention="sk", stages=(2, 4))
    per_stage = [{type(b.residual[3]).__name__ for b in stage} for stage in model.stages]
    assert per_stage == [{"Conv2d"}, {"SK"}, {"Conv2d"}, {"SK"}]
    with pytest.raises(ValueError, match=r"resnet50 has 4 stages.*sk.*stages=\(5,\)"):
        create_model("resnet50", attention="sk", stages=(5,))


def test_a_module_refusing_a_placement(monkeypatch):
    # Modules that replace a convolution (SK, AA, SASA) can only go inside blocks: a class
    # lists what it takes in `placements`, and asking for another is an error naming it.
    monkeypatch.setattr(SE, "placements", ("block",), raising=False)
    with pytest.raises(ValueError, match=r"se cannot be placed at 'stage'; it takes: block"):
        create_model("resnet20", attention="se", placement="stage")
    assert isinstance(blocks(create_model("resnet20", attention="se"))[0].attn, SE)


def test_placement_without_attention_or_beside_a_list():
    with pytest.raises(ValueError, match=r"\['placement'\] given without an attention"):
        create_model("resnet20", placement="stage")
    with pytest.raises(ValueError, match=r"the keywords place one module"):
        create_model("resnet20", attention=["se", "ba2m"], stages=(1,))


def test_a_name_and_a_placement_word_are_refused_not_two_modules():
    with pytest.raises(ValueError, match=r"\('ba2m', 'block'\) is none of the forms.*\(name, "):
        create_model("resnet20", attention=("ba2m", "block"))
    model = create_model("resnet20", attention=("ba2m", {"placement": "block"}))
    assert all(isinstance(b.attn, BA2M) for b in blocks(model))
    with pytest.raises(ValueError, match="unknown placement 'blok'"):
        create_model("resnet20", attention=[("ba2m", {"placement": "blok"})])


class Sided(ConvAttentionModule):
    """A 3x3 convolution that keeps the map side it is told through the feature_size hook."""

    feature_size_option = "side"

    def __init__(
        self, channels: int, out_channels: int, stride: int = 1, groups: int = 1, side: int = 0
    ) -> None:
        super().__init__(channels, out_channels, stride, groups)
        self.side, self.seen = side, None
        self.conv = nn.Conv2d(channels, out_channels, 3, stride, 1, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        self.seen = y.shape[-1]
        return y


@pytest.mark.parametrize(
    ("name", "options", "size", "sides"),
    [
        ("resnet50", {}, 224, (56, 28, 14, 7)),
        ("resnet50", {"input_size": 100}, 100, (25, 13, 7, 4)),  # odd sides round up
        ("resnet50", {"input_size": 99, "stride_in_1x1": True}, 99, (25, 13, 7, 4)),
        ("resnet83", {}, 32, (32, 16, 8)),
        ("resnet83", {"input_size": 20}, 20, (20, 10, 5)),
    ],
)
def test_conv_modules_are_told_the_side_of_their_map(name, options, size, sides):
    """The side told at construction is the side each module then sees at that input size."""
    model = create_model(name, attention=Sided, model_options=options).eval()
    told = [[m.side for m in stage.modules() if isinstance(m, Sided)] for stage in model.stages]
    assert [set(t) for t in told] == [{s} for s in sides]
    with torch.no_grad():
        model(torch.randn(1, 3, size, size))
    assert [m.seen for m in model.modules() if isinstance(m, Sided)] == [s for t in told for s in t]


def test_a_given_feature_size_option_wins():
    model = create_model("resnet50", attention=(Sided, {"side": 9}))
    assert {m.side for m in model.modules() if isinstance(m, Sided)} == {9}
    with pytest.raises(ValueError, match="input_size must be a positive int"):
        create_model("resnet50", attention=Sided, model_options={"input_size": 0})
