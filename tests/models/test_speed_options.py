"""The trainer's speed options with every module: bfloat16 autocast and channels-last memory.

One training step of a tiny bottleneck ResNet (which takes every module, conv-placed ones too)
under ``torch.autocast("cpu", bfloat16)`` with channels-last weights and inputs, against the same
step in float32: finite, and close at bfloat16's precision.
"""

import pytest
import torch
import torch.nn.functional as F
from tests.models.test_forward import ATTENTIONS, batch, build


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_bf16_autocast_and_channels_last_train_every_module(attention):
    torch.manual_seed(0)
    model = build("bottleneck", attention).train()
    reference = build("bottleneck", attention).train()
    reference.load_state_dict(model.state_dict())
    model = model.to(memory_format=torch.channels_last)
    x = batch(model, n=4, size=16)
    target = torch.arange(4) % model.num_classes
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x.contiguous(memory_format=torch.channels_last))
    F.cross_entropy(logits.float(), target).backward()
    expected = reference(x)
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    scale = expected.abs().max().item()
    assert (logits.float() - expected).abs().max().item() < 0.1 * max(scale, 1.0)
