"""load_run: a trained run back as a model in eval mode with its config."""

import pytest
import torch
from safetensors.torch import load_file

import attnzoo
from attnzoo.engine import TrainConfig, train
from attnzoo.engine.evaluate import evaluate_checkpoint


@pytest.fixture
def trained_run(tiny_cifar10, tmp_path):
    config = TrainConfig(
        model="resnet20",
        attention=["ba2m"],
        data=str(tiny_cifar10),
        epochs=1,
        batch_size=20,
        eval_batch_size=50,
        lr=0.05,
        out_dir=str(tmp_path / "run"),
        tensorboard=False,
    )
    summary = train(config, progress=False)
    return tmp_path / "run", config, summary


def test_load_run_gives_the_trained_model_in_eval_mode_and_its_config(trained_run):
    run_dir, config, summary = trained_run
    model, loaded = attnzoo.load_run(run_dir)
    assert not model.training
    assert loaded.to_dict() == config.to_dict()
    weights = load_file(run_dir / "checkpoint.safetensors")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
    # The same network the evaluation command builds: its test accuracy is the run's.
    again, _ = attnzoo.load_run(run_dir / "checkpoint.safetensors")
    assert evaluate_checkpoint(run_dir / "checkpoint.safetensors")["top1"] == summary["top1"]
    images = torch.randn(4, 3, 32, 32)
    assert torch.equal(model(images), again(images))


def test_plain_safetensors_loads_into_a_fresh_model(trained_run):
    run_dir, _, _ = trained_run
    fresh = attnzoo.create_model("resnet20", 10, attention="ba2m")
    tensors = load_file(run_dir / "checkpoint.safetensors")
    fresh.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("~")})
    model, _ = attnzoo.load_run(run_dir)
    images = torch.randn(4, 3, 32, 32)
    assert torch.equal(fresh.eval()(images), model(images))


def test_load_run_names_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no checkpoint.safetensors in .*: not a training"):
        attnzoo.load_run(tmp_path)
    with pytest.raises(FileNotFoundError, match="no run directory or checkpoint at"):
        attnzoo.load_run(tmp_path / "nope")
