"""Every module traces into one graph for torch.compile: no graph breaks inside a module."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo

from attnzoo.attention import build_attention, list_attention


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("name", list_attention())
def test_no_graph_breaks(name, training):
    torch._dynamo.reset()
    module = build_attention(name, 64).train(training)
    explanation = torch._dynamo.explain(module)(torch.randn(2, 64, 8, 8))
    # An eval-mode module that is the identity (BA2M) traces to no graph at all: count -1.
    assert explanation.graph_break_count <= 0, explanation.break_reasons
    assert explanation.graph_count <= 1
