"""Fine-tuning from published weights: a timm-layout ResNet-18 written into a temporary Hugging Face
cache (no network), fine-tuned on the bundled CIFAR-10 with the shipped smoke config."""

from __future__ import annotations

import json
import re

import pytest
import torch
from tests.fixtures import BUNDLED_CIFAR10, randomized
from torch import nn

from attnzoo.cli.main import main
from attnzoo.data import channel_stats, load_dataset
from attnzoo.engine import TrainConfig, load_checkpoint, train
from attnzoo.engine import trainer as trainer_module
from attnzoo.engine.classification import Classification
from attnzoo.engine.config_files import read_config_file
from attnzoo.engine.data import stream_preprocessing
from attnzoo.engine.optim import build_optimizer
from attnzoo.models import create_model
from attnzoo.models.sources import cache_weights

torchvision = pytest.importorskip("torchvision")
pytest.importorskip("timm")  # the source's preprocessing is timm's pretrained_cfg
SOURCE = "timm:resnet18.a1_in1k"
FROZEN = ("stem.", "stages.0.")  # the smoke config's freeze patterns: the stem and stage 1
needs_bundled = pytest.mark.skipif(not BUNDLED_CIFAR10.is_file(), reason="no bundled CIFAR-10")
# Half the smoke config's images: 5 steps of 20 and 50 test images check the recipe as well.
HALF = {"train_per_class": 10, "test_per_class": 5}


def source_tensors() -> dict[str, torch.Tensor]:
    """A torchvision/timm-layout ResNet-18 (the two name its tensors alike) with random weights
    and BatchNorm statistics, so that a misplaced or retrained tensor shows."""
    return randomized(torchvision.models.resnet18()).state_dict()


@pytest.fixture(scope="module")
def published():
    return source_tensors()


def smoke_config(out_dir, **overrides) -> TrainConfig:
    values = read_config_file("finetune-cifar10-smoke")
    return TrainConfig.from_dict(
        {**values, "out_dir": str(out_dir), "tensorboard": False, **overrides}
    )


def backbone_pairs(model: nn.Module, published: dict[str, torch.Tensor]):
    """(attnzoo name, published tensor) in order: attnzoo's resnet18 holds torchvision's tensors in
    the same order and shapes (an independent reference for the loader's name mapping)."""
    ours = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    theirs = [k for k in published if not k.endswith("num_batches_tracked")]
    ours = [k for k in ours if not k.startswith("fc.")]
    theirs = [k for k in theirs if not k.startswith("fc.")]
    assert len(ours) == len(theirs)
    return [(a, published[b]) for a, b in zip(ours, theirs, strict=True)]


def bn_names(model: nn.Module) -> set[str]:
    return {
        f"{name}.{leaf}"
        for name, m in model.named_modules()
        if isinstance(m, nn.BatchNorm2d)
        for leaf in ("weight", "bias", "running_mean", "running_var")
    }


@needs_bundled
def test_finetune_starts_from_the_file_keeps_frozen_tensors_and_its_lr_groups(
    caches, published, one_thread
):
    cache_weights(SOURCE, published)
    config = smoke_config(caches / "run", attention=["se"], **HALF)
    info = {"classes": list(range(10)), "in_chans": 3}
    model = Classification().build_model(config, info)
    pairs = backbone_pairs(create_model("resnet18", 10), published)
    state = model.state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in pairs)  # step 0

    # The optimiser's groups: loaded, trainable parameters at lr x 0.1; SE and head at lr.
    names = [n for n, _ in model.named_parameters()]
    backbone_bn = bn_names(create_model("resnet18")) & set(names)
    frozen = {n for n in names if n.startswith(FROZEN)} | backbone_bn
    full = [n for n in names if n not in frozen and (".attn." in n or n.startswith("fc."))]
    scaled = [n for n in names if n not in frozen and n not in full]
    assert full and scaled
    ids = {id(p): n for n, p in model.named_parameters()}
    groups = build_optimizer(model, config).param_groups
    got = {tuple(sorted(ids[id(p)] for p in g["params"])): g["lr"] for g in groups}
    assert got == {tuple(sorted(full)): 0.01, tuple(sorted(scaled)): pytest.approx(0.001)}

    summary = train(config, progress=False)
    saved = load_checkpoint(caches / "run" / "checkpoint.safetensors")
    weights = saved["model"]
    for name, tensor in pairs:
        if name in frozen or name.endswith(("running_mean", "running_var")):
            assert torch.equal(weights[name], tensor), name  # frozen: unchanged
    trained = "stages.3.1.residual.0.weight"
    assert not torch.equal(weights[trained], state[trained])
    lrs = sorted(g["initial_lr"] for g in saved["optimizer"]["param_groups"])
    assert lrs == [pytest.approx(0.001), 0.01]
    # The source's mean and std, not the data's: stored for attnzoo eval.
    data = load_dataset("cifar10-jpeg", "train", False, max_per_class=HALF["train_per_class"])
    assert summary["data"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert summary["data"]["std"] == pytest.approx([0.229, 0.224, 0.225])
    assert summary["data"]["mean"] != pytest.approx(channel_stats(data.images)[0], abs=1e-3)
    assert summary["data"]["interpolation"] == "bicubic"


class Crash(Exception):
    pass


@needs_bundled
def test_finetune_resumes_bit_identically_and_evaluates_without_the_cache(
    caches, published, monkeypatch, capsys, one_thread
):
    cache_weights(SOURCE, published)
    common = {"resume": "auto", "save_every": 2, **HALF}
    reference = train(smoke_config(caches / "reference", **common), progress=False)

    step = trainer_module.train_step
    calls = []

    def crash_at_four(*args):
        calls.append(1)
        if len(calls) == 4:  # mid-epoch, after the step-2 checkpoint
            raise Crash
        step(*args)

    monkeypatch.setattr(trainer_module, "train_step", crash_at_four)
    with pytest.raises(Crash):
        train(smoke_config(caches / "resumed", **common), progress=False)
    monkeypatch.setattr(trainer_module, "train_step", step)
    assert load_checkpoint(caches / "resumed" / "checkpoint.safetensors")["step"] == 2
    train(smoke_config(caches / "resumed", **common), progress=False)

    expected = load_checkpoint(caches / "reference" / "checkpoint.safetensors")["model"]
    got = load_checkpoint(caches / "resumed" / "checkpoint.safetensors")["model"]
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)

    # attnzoo eval rebuilds the model from the checkpoint alone: no pretrained file needed.
    monkeypatch.setenv("HF_HUB_CACHE", str(caches / "empty"))
    capsys.readouterr()
    checkpoint = str(caches / "reference" / "checkpoint.safetensors")
    assert main(["eval", "--checkpoint", checkpoint, "--per-class", "5", "--no-download"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["loss"] == pytest.approx(reference["test_loss"], rel=1e-5)
    assert result["top1"] == reference["top1"]


@pytest.mark.parametrize(
    ("pretrained", "message"),
    [
        ("timm:nope", r"pretrained='timm:nope': .*\(nope\) has no pretrained"),
        ("timm:resnet18.a1_in1k", "no weights at .*models--timm--resnet18.a1_in1k"),
        ("nowhere/weights.safetensors", "no run directory or checkpoint at nowhere"),
    ],
)
def test_a_bad_pretrained_source_is_one_line_before_any_work(
    caches, tiny_cifar10, capsys, pretrained, message
):
    out = caches / "run"
    argv = [
        "train",
        "--pretrained",
        pretrained,
        "--model",
        "resnet18",
        "--data",
        str(tiny_cifar10),
        "--out-dir",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("attnzoo train: error: ")
    assert re.search(message, err), err
    assert not out.exists()


def test_frozen_batchnorm_stays_in_eval_mode_through_model_train(caches, published, one_thread):
    cache_weights(SOURCE, published)
    config = TrainConfig(model="resnet18", pretrained=SOURCE, freeze_bn=True, attention=["bam"])
    model = Classification().build_model(config, {"classes": list(range(10)), "in_chans": 3})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    reference = create_model("resnet18", 10, attention="bam")
    model.train()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    model(x).sum().backward()
    after = model.state_dict()
    bn = bn_names(create_model("resnet18", 10))  # the backbone's BatchNorm layers
    assert all(torch.equal(after[k], before[k]) for k in bn)  # statistics not updated
    assert all(p.grad is None for n, p in model.named_parameters() if n in bn)
    # BAM's own BatchNorm layers are new: they still train (statistics move).
    bam = [k for k in after if k.startswith("stage_attn.") and k.endswith("running_mean")]
    assert bam and any(not torch.equal(after[k], before[k]) for k in bam)
    # In training mode the frozen layers compute what BatchNorm computes in eval mode.
    reference.load_state_dict(model.state_dict())
    reference.train()
    for name, m in reference.named_modules():
        if f"{name}.running_mean" in bn:
            m.eval()
    assert torch.equal(model(x), reference(x))


def test_streamed_data_takes_the_sources_size_resize_and_interpolation(caches):
    cache_weights("torchvision:resnet50.IMAGENET1K_V2", {"x": torch.zeros(1)})
    cache_weights(SOURCE, {"x": torch.zeros(1)})
    tv = TrainConfig(model="resnet50", augment="imagenet", pretrained="torchvision:resnet50")
    # torchvision's IMAGENET1K_V2 transforms(): resize 232, crop 224, bilinear.
    assert stream_preprocessing(tv) == {
        "image_size": 224,
        "resize_size": 232,
        "interpolation": "bilinear",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
    }
    timm_config = TrainConfig(model="resnet18", augment="imagenet", pretrained=SOURCE)
    # timm's resnet18.a1_in1k: 224 at crop_pct 0.95 -> floor(224 / 0.95) = 235, bicubic.
    got = stream_preprocessing(timm_config)
    assert (got["image_size"], got["resize_size"], got["interpolation"]) == (224, 235, "bicubic")
    timm_config.image_size = 160
    with pytest.raises(ValueError, match=r"image_size=160, but timm:resnet18\.a1_in1k is prepared"):
        stream_preprocessing(timm_config)
    timm_config.pretrained_preprocess = False
    assert stream_preprocessing(timm_config)["image_size"] == 160


def test_a_resized_run_is_evaluated_at_its_size(tiny_cifar10, tmp_path, capsys, one_thread):
    """CIFAR at another size (as for 224 px ImageNet weights): the checkpoint says so, and
    attnzoo eval resizes the test images as the run did."""
    config = TrainConfig(
        model="resnet20",
        data=str(tiny_cifar10),
        epochs=1,
        train_per_class=10,
        batch_size=20,
        eval_batch_size=50,
        resize=48,
        out_dir=str(tmp_path / "run"),
        tensorboard=False,
    )
    summary = train(config, progress=False)
    assert (summary["data"]["image_size"], summary["data"]["resize"]) == (48, 48)
    capsys.readouterr()
    checkpoint = str(tmp_path / "run" / "checkpoint.safetensors")
    assert main(["eval", "--checkpoint", checkpoint, "--no-download"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["loss"] == pytest.approx(summary["test_loss"], rel=1e-5)
