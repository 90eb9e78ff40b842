"""The GPU paths of the trainer and the bench: skipped without CUDA (CI), run on a lent GPU."""

import json

import pytest
import torch
from tests.engine.test_train import small_config

from attnzoo.benchmarks.bench import BenchConfig, run_bench
from attnzoo.engine import load_checkpoint, train
from attnzoo.engine.evaluate import evaluate_checkpoint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def epochs_logged(run_dir) -> list[int]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["epoch"] for line in lines]


def test_bf16_channels_last_compiled_training_on_the_device(tiny_cifar10, tmp_path):
    config = small_config(
        tiny_cifar10,
        tmp_path / "run",
        attention=["se", "ba2m"],
        device="cuda",
        amp="bf16",
        channels_last=True,
        compile=True,
    )
    summary = train(config, progress=False)
    assert summary["machine"]["gpu"] and 0 <= summary["top1"] <= 100
    assert torch.isfinite(torch.tensor(summary["train_loss"]))
    # The checkpoint holds CPU tensors: it evaluates on a machine without a GPU.
    state = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors")
    assert all(t.device.type == "cpu" for t in state["model"].values())
    assert evaluate_checkpoint(tmp_path / "run" / "checkpoint.safetensors")["top1"] == (
        pytest.approx(summary["top1"], abs=5.0)  # fp32 on CPU against bf16 on the GPU
    )


def test_fp16_training_saves_its_gradient_scaler(tiny_cifar10, tmp_path):
    run_dir = tmp_path / "run"
    config = small_config(tiny_cifar10, run_dir, attention=["ba2m"], device="cuda", amp="fp16")
    summary = train(config, progress=False)
    assert epochs_logged(run_dir) == [1, 2]
    assert torch.isfinite(torch.tensor(summary["train_loss"]))
    scaler = load_checkpoint(run_dir / "checkpoint.safetensors")["scaler"]
    assert scaler and scaler["scale"] > 0  # restored with the run on resume


def test_bench_measures_cuda_time_and_memory():
    configs = [BenchConfig("resnet20", names, 32, 16, device="cuda") for names in ((), ("ba2m",))]
    results = run_bench(configs, warmup=1, repeats=3)
    assert all(r.peak_mem_mb and r.peak_mem_mb > 0 for r in results)
    assert results[0].train_ratio == 1.0 and results[1].train_ratio > 0


def test_reduce_overhead_compiles_batchnorm_and_ba2m_with_cuda_graphs(tiny_cifar10, tmp_path):
    config = small_config(
        tiny_cifar10,
        tmp_path / "run",
        attention=["se", "ba2m"],
        device="cuda",
        compile=True,
        compile_mode="reduce-overhead",
    )
    summary = train(config, progress=False)
    assert torch.isfinite(torch.tensor(summary["train_loss"])) and 0 <= summary["top1"] <= 100
