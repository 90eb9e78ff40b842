"""BatchNorm statistics re-estimated with BA2M off, against statistics computed by hand."""

import copy

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import update_bn

from attnzoo.analysis.bn_recalibrate import (
    evaluate_recalibrated,
    recalibrate_batchnorm,
    recalibrated_model,
)
from attnzoo.attention import BA2M
from attnzoo.cli.main import main
from attnzoo.data import load_dataset, normalize
from attnzoo.engine import load_checkpoint

# One worker trains the session fixture `runs` (conftest.py) for the whole folder.
pytestmark = pytest.mark.xdist_group("analysis")


def _net(scale: str = "none") -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), BA2M(8, scale=scale), nn.BatchNorm2d(8, momentum=0.3)
    )


def test_statistics_are_the_batch_average_with_ba2m_as_the_identity():
    net = _net()
    net[2].running_mean.fill_(5.0)  # stale statistics, to be replaced
    batches = [torch.randn(6, 3, 5, 5), torch.randn(4, 3, 5, 5) + 1]
    assert recalibrate_batchnorm(net, batches) == 10
    with torch.no_grad():
        features = [net[0](b) for b in batches]  # BA2M off: the conv's output itself
    mean = torch.stack([f.mean((0, 2, 3)) for f in features]).mean(0)
    var = torch.stack([f.var((0, 2, 3), unbiased=True) for f in features]).mean(0)
    torch.testing.assert_close(net[2].running_mean, mean)
    torch.testing.assert_close(net[2].running_var, var)
    assert not net.training and not net[2].training and net[2].momentum == 0.3


def test_a_network_without_attention_gets_what_update_bn_gives():
    """Without modules that differ between modes, this is torch's own update_bn."""
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)
    )
    reference = copy.deepcopy(net)
    batches = [torch.randn(5, 3, 6, 6) for _ in range(3)]
    recalibrate_batchnorm(net, batches)
    update_bn(batches, reference)
    for ours, theirs in zip(net.modules(), reference.modules(), strict=True):
        if isinstance(ours, nn.BatchNorm2d):
            torch.testing.assert_close(ours.running_mean, theirs.running_mean)
            torch.testing.assert_close(ours.running_var, theirs.running_var)


def test_refusals():
    with pytest.raises(ValueError, match="no BatchNorm layer"):
        recalibrate_batchnorm(nn.Conv2d(3, 3, 1), [torch.randn(2, 3, 4, 4)])
    net = _net()
    with pytest.raises(ValueError, match="no images"):
        recalibrate_batchnorm(net, [])
    assert net[2].momentum == 0.3


def test_a_checkpoint_recalibrated_on_its_training_images(runs, capsys):
    checkpoint = runs["ba2m"] / "checkpoint.safetensors"
    state = load_checkpoint(checkpoint)
    stats = state["data"]["mean"], state["data"]["std"]
    train = load_dataset(str(runs["data"]), "train", max_per_class=10)
    model, seen = recalibrated_model(checkpoint, data=str(runs["data"]))
    assert seen == len(train.labels) == 100  # the run's train_per_class 10, 10 classes
    # The first BatchNorm sees the stem's output of each image: with 5 equal batches of 20, the
    # average of the batch means is the mean over all training images, in any batching.
    stem, norm = model.stem[0], model.stem[1]
    with torch.no_grad():
        features = stem(normalize(train.images, *stats))
    torch.testing.assert_close(norm.running_mean, features.mean((0, 2, 3)))

    result = evaluate_recalibrated(checkpoint, data=str(runs["data"]), batch_size=7)
    test = load_dataset(str(runs["data"]), "test")
    with torch.no_grad():
        hits = (model(normalize(test.images, *stats)).argmax(1) == test.labels).float().mean()
    assert result["top1"] == pytest.approx(100 * hits.item())
    assert result["recalibrated_on"] == 100

    args = ["eval", "--checkpoint", str(checkpoint), "--data", str(runs["data"])]
    assert main([*args, "--recalibrate-bn", "--batch-size", "7"]) == 0
    printed = capsys.readouterr().out
    assert '"recalibrated_on": 100' in printed and f'"top1": {result["top1"]}' in printed
    assert main([*args, "--recalibrate-bn", "--split", "train"]) == 2
    assert "--recalibrate-bn evaluates the test split" in capsys.readouterr().err
