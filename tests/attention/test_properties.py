"""Property-based: random valid shapes, dtypes and layouts for every registered module.

Each draw either works — the output has the expected shape, the input's dtype, and only finite
values — or raises a ValueError that names the module. Nothing else (no deep PyTorch traceback,
no NaN from a degenerate shape) is acceptable.
"""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnzoo.attention import build_attention, get_attention_class, list_attention

DTYPES = [torch.float32, torch.float64, torch.bfloat16]


def is_conv(name: str) -> bool:
    return get_attention_class(name).placements == ("conv",)


@st.composite
def inputs(draw, name: str):
    channels = draw(st.sampled_from([8, 16, 32]))
    options = {}
    if is_conv(name):
        options = {
            "out_channels": draw(st.sampled_from([8, 16])),
            "stride": draw(st.sampled_from([1, 2])),
        }
    shape = (
        draw(st.integers(1, 4)),
        channels,
        draw(st.integers(1, 9)),
        draw(st.integers(1, 9)),
    )
    return {
        "options": options,
        "shape": shape,
        "dtype": draw(st.sampled_from(DTYPES)),
        "channels_last": draw(st.booleans()),
        "training": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


def expected_shape(case) -> tuple[int, ...]:
    n, _, h, w = case["shape"]
    if not case["options"]:
        return case["shape"]
    stride = case["options"]["stride"]
    return (n, case["options"]["out_channels"], -(-h // stride), -(-w // stride))


@pytest.mark.parametrize("name", list_attention())
def test_random_inputs_work_or_fail_clearly(name):
    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(case=inputs(name))
    def check(case):
        torch.manual_seed(case["seed"])
        x = torch.randn(case["shape"], dtype=case["dtype"])
        if case["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        try:  # building may refuse the options too (e.g. channels a head count cannot split)
            module = build_attention(name, case["shape"][1], **case["options"])
            module = module.to(case["dtype"]).train(case["training"])
            with torch.no_grad():
                y = module(x)
        except ValueError as err:
            assert str(err).lower().startswith(name), err  # "SE: ...", "BA2M needs ..."
            return
        assert y.shape == expected_shape(case), (y.shape, case)
        assert y.dtype == case["dtype"]
        assert torch.isfinite(y).all(), case

    check()
