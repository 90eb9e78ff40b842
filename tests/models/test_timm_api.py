"""timm's model interface on every backbone: forward_features, forward_head, reset_classifier,
feature_info, list_models(pattern) and pretrained= from a run attnzoo trained."""

import pytest
import torch
from safetensors.torch import save_file

from attnzoo import create_model, list_models
from attnzoo.engine.checkpoint import save_checkpoint


def input_for(model, size=None):
    size = size or (64 if model.num_classes == 1000 else 32)
    torch.manual_seed(0)
    return torch.randn(2, model.in_chans, size, size)


@pytest.mark.parametrize("name", list_models())
def test_every_backbone_speaks_timm(name):
    model = create_model(name).eval()
    x = input_for(model)
    with torch.no_grad():
        maps = model.features(x)
        # feature_info, checked against the maps each stage really gives.
        assert [(i["num_chs"], i["reduction"]) for i in model.feature_info] == [
            (m.shape[1], x.shape[-1] // m.shape[-1]) for m in maps
        ]
        assert [i["module"] for i in model.feature_info] == [
            f"stages.{i}" for i in range(len(maps))
        ]
        unpooled = model.forward_features(x)
        assert unpooled.shape[:2] == (2, model.num_features)
        logits = model(x)
        torch.testing.assert_close(model.forward_head(unpooled), logits)
        pooled = model.forward_head(unpooled, pre_logits=True)
        torch.testing.assert_close(model.get_classifier()(pooled), logits)
        model.reset_classifier(7)
        assert model(x).shape == (2, 7) and model.num_classes == 7
        model.reset_classifier(0)
        torch.testing.assert_close(model(x), pooled)


def test_reset_classifier_refuses_a_bad_count():
    with pytest.raises(ValueError, match="num_classes must be an int >= 0"):
        create_model("resnet20").reset_classifier(-1)


def test_list_models_filters_with_wildcards_like_timm():
    assert list_models("resnet*") == sorted(n for n in list_models() if n.startswith("resnet"))
    assert "resnet20" in list_models("resnet*") and "resnext50_32x4d" not in list_models("resnet*")
    assert list_models("*_cifar") and all(n.endswith("_cifar") for n in list_models("*_cifar"))
    assert list_models("nothing-like-this*") == []


@pytest.fixture
def trained(tmp_path):
    torch.manual_seed(1)
    model = create_model("resnet20", attention="se")
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))  # not the fresh initialisation
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    optimizer.step()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "config": {}}
    save_checkpoint(tmp_path / "run" / "checkpoint.safetensors", state)
    return model, tmp_path / "run"


def test_pretrained_loads_a_trained_run(trained):
    model, run_dir = trained
    for source in (run_dir, run_dir / "checkpoint.safetensors", str(run_dir)):
        loaded = create_model("resnet20", attention="se", pretrained=source)
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key


def test_pretrained_with_other_classes_keeps_the_backbone_and_a_fresh_head(trained):
    model, run_dir = trained
    loaded = create_model("resnet20", 5, attention="se", pretrained=run_dir)
    assert loaded.fc.out_features == 5
    assert torch.equal(loaded.stem[0].weight, model.stem[0].weight)


def test_pretrained_says_what_it_cannot_do(trained, tmp_path):
    _, run_dir = trained
    with pytest.raises(ValueError, match="distributes no pretrained weights"):
        create_model("resnet20", pretrained=True)
    with pytest.raises(FileNotFoundError, match=r"pretrained=.*: no run directory or checkpoint"):
        create_model("resnet20", pretrained=tmp_path / "none")
    with pytest.raises(ValueError, match=r"does not fit this model: missing .*unexpected"):
        create_model("resnet20", pretrained=run_dir)  # trained with SE
    save_file({"t0": torch.zeros(1)}, tmp_path / "old.safetensors")
    with pytest.raises(ValueError, match=r"format 1 .*attnzoo.load_run"):
        create_model("resnet20", pretrained=tmp_path / "old.safetensors")
