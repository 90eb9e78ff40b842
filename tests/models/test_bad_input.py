import pytest
import torch

from attnzoo import create_model


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown model 'resnet9'.*resnet20"):
        create_model("resnet9")


def test_unknown_attention_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown attention 'xse'.*ba2m"):
        create_model("resnet20", attention="xse")


def test_bad_attention_options():
    with pytest.raises(ValueError, match="sar='foo'"):
        create_model("resnet20", attention="ba2m", sar="foo")
    with pytest.raises(ValueError, match=r"unknown option.*colour"):
        create_model("resnet20", attention="ba2m", colour=1)
    with pytest.raises(ValueError, match=r"\(name, options\) pair"):
        create_model("resnet20", attention=["se", "ba2m"], tau=0.5)
    with pytest.raises(ValueError, match="without an attention"):
        create_model("resnet20", tau=0.5)


def test_bad_input_shape_names_model():
    model = create_model("resnet20")
    with pytest.raises(ValueError, match=r"resnet20 expects input of shape \(N, 3, H, W\)"):
        model(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"got \(3, 32, 32\)"):
        model(torch.randn(3, 32, 32))


def test_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes"):
        create_model("resnet20", 0)


def test_batch_of_one_in_training():
    with pytest.raises(ValueError, match="batch size 1"):
        create_model("resnet20", attention="bam")(torch.randn(1, 3, 32, 32))
    out = create_model("resnet20", attention="ba2m")(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 10)
