"""pretrained="timm:..." / "torchvision:..." / a file: published weights through the real cache
layouts (written here by hand, no network), compared with the source library's own model."""

from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file
from tests.fixtures import randomized

from attnzoo import create_model
from attnzoo.cli.main import main
from attnzoo.models.sources import cache_weights

torchvision = pytest.importorskip("torchvision")
X = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def hf_snapshot(caches, repo, tensors):
    """The layout huggingface_hub writes: models--ORG--NAME/snapshots/HASH/FILE, refs/main."""
    folder = caches / "hf" / f"models--{repo.replace('/', '--')}"
    (folder / "snapshots" / "0123abcd").mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0123abcd")
    save_file({k: v.contiguous() for k, v in tensors.items()}, folder / "snapshots/0123abcd/x")
    (folder / "snapshots/0123abcd/x").rename(folder / "snapshots/0123abcd/model.safetensors")


def torch_hub(caches, url, tensors):
    path = caches / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tensors, path)
    return path


def timm_reference(caches, monkeypatch, name):
    """timm's model of ``name`` with random weights, put in the HF cache; and timm's own
    pretrained=True load of them, offline (huggingface_hub read its cache path at import)."""
    timm = pytest.importorskip("timm")
    source = randomized(timm.create_model(name.split(".")[0]))
    hf_snapshot(caches, f"timm/{name}", source.state_dict())
    hub = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(caches / "hf"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    return timm.create_model(name, pretrained=True).eval()


def logits(model):
    with torch.no_grad():
        return model.eval()(X)


D, T = {"stem": "deep", "shortcut": "avg"}, {"stem": "tiered", "shortcut": "avg"}


@pytest.mark.parametrize(
    ("source", "model", "options"),
    [
        ("seresnet50.a1_in1k", "resnet50", {"attention": "se"}),
        ("ecaresnet26t.ra2_in1k", "resnet26", dict(model_options=T, attention="eca")),
        ("resnet26d.bt_in1k", "resnet26", dict(model_options=D)),
        ("seresnext26d_32x4d.bt_in1k", "resnext26_32x4d", dict(model_options=D, attention="se")),
    ],
)
def test_timm_weights_load_whole(caches, monkeypatch, source, model, options):
    reference = timm_reference(caches, monkeypatch, source)
    ours = create_model(model, pretrained=f"timm:{source}", **options)
    assert ours.pretrained_report.whole, ours.pretrained_report
    assert torch.allclose(logits(ours), logits(reference), rtol=0, atol=1e-5)
    cfg = reference.pretrained_cfg
    for key in ("input_size", "interpolation", "mean", "std", "crop_pct"):
        assert ours.pretrained_cfg[key] == cfg[key], key


@pytest.mark.parametrize(
    ("arch", "weights"), [("resnet18", "IMAGENET1K_V1"), ("resnext50_32x4d", "IMAGENET1K_V2")]
)
def test_torchvision_weights_load_whole(caches, arch, weights):
    enum = torchvision.models.get_model_weights(arch)[weights]
    reference = randomized(torchvision.models.get_model(arch))
    torch_hub(caches, enum.url, reference.state_dict())
    ours = create_model(arch, pretrained=f"torchvision:{arch}.{weights}")
    assert ours.pretrained_report.whole
    assert torch.allclose(logits(ours), logits(reference), rtol=0, atol=1e-5)
    # torchvision's documented evaluation transforms of these weights
    resize = {"IMAGENET1K_V1": 256, "IMAGENET1K_V2": 232}[weights]
    assert ours.pretrained_cfg["input_size"] == (3, 224, 224)
    assert ours.pretrained_cfg["resize_size"] == resize
    assert ours.pretrained_cfg["crop_pct"] == pytest.approx(224 / resize)
    assert ours.pretrained_cfg["interpolation"] == "bilinear"


def backbone_and_attention(model, attention_names):
    """The model's tensors in state_dict order, split: the backbone's (without the head) and
    the attention modules' (those under a name containing an attention prefix)."""
    backbone, attention = [], {}
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked") or name.startswith("fc."):
            continue
        if any(part in name for part in attention_names):
            attention[name] = t
        else:
            backbone.append(t)
    return backbone, attention


@pytest.mark.parametrize(
    ("arch", "attention"), [("resnet50", "cbam"), ("resnet18", "bam"), ("resnet18", "ba2m")]
)
def test_torchvision_backbone_into_other_attention(caches, arch, attention):
    enum = torchvision.models.get_model_weights(arch).DEFAULT  # what "torchvision:ARCH" names
    source = randomized(torchvision.models.get_model(arch)).state_dict()
    torch_hub(caches, enum.url, source)
    torch.manual_seed(3)
    fresh = create_model(arch, 10, attention=attention)
    torch.manual_seed(3)
    ours = create_model(arch, 10, attention=attention, pretrained=f"torchvision:{arch}")
    # Every backbone tensor, in torchvision's order (its layout is ours), placed exactly.
    expected = [t for k, t in source.items() if not k.startswith("fc.")]
    expected = [t for t in expected if t.dim() > 0]  # no num_batches_tracked counters
    loaded, attn = backbone_and_attention(ours, (".attn.", "stage_attn."))
    assert len(loaded) == len(expected)
    assert all(torch.equal(a, b) for a, b in zip(loaded, expected, strict=True))
    # The attention and the new head as the modules initialise them.
    _, attn_fresh = backbone_and_attention(fresh, (".attn.", "stage_attn."))
    assert attn and all(torch.equal(attn[k], attn_fresh[k]) for k in attn)
    assert torch.equal(ours.fc.weight, fresh.fc.weight)
    report = ours.pretrained_report
    assert not report.whole and set(report.ignored) == {"fc.weight", "fc.bias"}
    assert set(report.fresh) == {*attn, "fc.weight", "fc.bias"}


def test_strict_refuses_unplaced_source_tensors(caches, monkeypatch):
    timm_reference(caches, monkeypatch, "seresnet50.a1_in1k")
    model = create_model("resnet50", attention="cbam", pretrained="timm:seresnet50.a1_in1k")
    assert all(".se." in k for k in model.pretrained_report.ignored)
    assert len(model.pretrained_report.ignored) == 16 * 4  # 16 blocks, fc1/fc2 weight and bias
    with pytest.raises(ValueError, match=r"have no place in resnet50 with pretrained_strict") as e:
        create_model(
            "resnet50",
            attention="cbam",
            pretrained="timm:seresnet50.a1_in1k",
            pretrained_strict=True,
        )
    assert "\n" not in str(e.value)


def test_local_files_in_the_published_layout(tmp_path):
    reference = randomized(torchvision.models.resnet18())
    save_file(reference.state_dict(), tmp_path / "r18.safetensors")
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "r18.pth")
    for name in ("r18.safetensors", "r18.pth"):
        ours = create_model("resnet18", pretrained=tmp_path / name)
        assert torch.allclose(logits(ours), logits(reference), rtol=0, atol=1e-5)
        assert ours.pretrained_cfg is None and ours.pretrained_report.whole


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def one_line_error(kind, call, match):
    with pytest.raises(kind, match=match) as err:
        call()
    assert "\n" not in str(err.value)


def test_bad_sources_are_one_line(caches, tmp_path):
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"conv1.weight": Payload()}, f, protocol=2)
    one_line_error(
        ValueError,
        lambda: create_model("resnet18", pretrained=tmp_path / "evil.pth"),
        r"not a plain tensor file; torch.load\(weights_only=True\) refused",
    )
    one_line_error(
        FileNotFoundError,
        lambda: create_model("resnet18", pretrained="hub:x"),
        r"no run directory .* not a source timm:NAME",
    )
    one_line_error(
        ValueError,
        lambda: create_model("resnet18", pretrained="torchvision:resnet9"),
        r"torchvision has no weights 'resnet9'",
    )
    url = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.url
    expected = str(caches / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[1])
    one_line_error(
        FileNotFoundError,
        lambda: create_model("resnet50", pretrained="torchvision:resnet50"),
        rf"no weights at {expected}; fetch them once online with: "
        r"python -c",
    )
    torch_hub(caches, url, randomized(torchvision.models.resnet50()).state_dict())
    one_line_error(
        ValueError,
        lambda: create_model("resnet18", pretrained="torchvision:resnet50"),
        r"does not fit resnet18: .*wrong shape: layer1.0.conv1.weight",
    )
    one_line_error(
        ValueError,
        lambda: create_model("resnet50_cifar", pretrained="torchvision:resnet50"),
        r"does not fit resnet50_cifar",
    )
    one_line_error(
        ValueError,
        lambda: create_model("mobilenetv2_cifar", pretrained="torchvision:resnet50"),
        r"load into the post-activation ImageNet ResNets",
    )


def test_timm_missing_file_names_the_hf_cache(caches):
    pytest.importorskip("timm")
    expected = caches / "hf" / "models--timm--resnet50.a1_in1k" / "snapshots"
    one_line_error(
        FileNotFoundError,
        lambda: create_model("resnet50", pretrained="timm:resnet50"),
        rf"no weights at {expected}/<refs/main>/model.safetensors "
        r".*timm.create_model",
    )
    one_line_error(
        ValueError,
        lambda: create_model("resnet50", pretrained="timm:resnet50.nope"),
        r"Invalid pretrained tag",
    )


def test_cache_weights_writes_what_huggingface_hub_reads(caches):
    pytest.importorskip("timm")
    hub = pytest.importorskip("huggingface_hub")
    tensors = {"conv1.weight": torch.randn(2, 3)}
    path = cache_weights("timm:resnet50.a1_in1k", tensors)
    found = hub.try_to_load_from_cache(
        "timm/resnet50.a1_in1k", "model.safetensors", cache_dir=caches / "hf"
    )
    assert found == str(path)


def test_list_pretrained(capsys):
    assert main(["list", "--pretrained", "torchvision:*"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    expected = {f"torchvision:resnet50.{w.name}" for w in torchvision.models.ResNet50_Weights}
    assert expected <= {line.split()[0] for line in lines}
    assert all(line.split()[1] == "whole" for line in lines)
