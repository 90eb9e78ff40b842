"""Data-parallel training with two gloo processes on loopback against one process.

(a) With synchronised BatchNorm, two processes with batch B end with the weights of one process
with batch 2B; without it they differ (each BatchNorm sees only its half). (b) BA2M with
sync="global" (and synchronised BatchNorm) matches one process over the full batch; (c) with
sync="local" it does not.
"""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from attnzoo import build_attention
from attnzoo.engine import TrainConfig, load_checkpoint, train
from attnzoo.engine.distributed import sync_batchnorm

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="no torch.distributed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_rank(rank: int, world: int, port: int) -> None:
    """Make this spawned process rank ``rank`` of ``world`` as torchrun would, on one thread."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        OMP_NUM_THREADS="1",
    )
    torch.set_num_threads(1)


def worker(rank: int, world: int, port: int, values: dict) -> None:
    as_rank(rank, world, port)
    train(TrainConfig(**values), progress=False)


# A small lr: five steps of float32 training then amplify rounding differences little.
def config(data, out_dir, **overrides) -> dict:
    values = dict(
        model="resnet20",
        data=str(data),
        epochs=1,
        batch_size=40,
        eval_batch_size=50,
        lr=0.001,
        schedule="constant",
        seed=0,
        out_dir=str(out_dir),
        tensorboard=False,
        device="cpu",
    )
    return {**values, **overrides}


def two_processes(values: dict) -> dict:
    values = {**values, "batch_size": values["batch_size"] // 2}
    mp.spawn(worker, args=(2, free_port(), values), nprocs=2, join=True)
    return load_checkpoint(f"{values['out_dir']}/checkpoint.safetensors")["model"]


def one_process(values: dict) -> dict:
    train(TrainConfig(**values), progress=False)
    return load_checkpoint(f"{values['out_dir']}/checkpoint.safetensors")["model"]


def max_difference(a: dict, b: dict) -> float:
    return max(
        (a[k].double() - b[k].double()).abs().max().item() for k in a if a[k].is_floating_point()
    )


def test_two_processes_match_one_with_twice_the_batch(tiny_cifar10, tmp_path):
    single = one_process(config(tiny_cifar10, tmp_path / "one"))
    synced = two_processes(config(tiny_cifar10, tmp_path / "sync", sync_bn=True))
    unsynced = two_processes(config(tiny_cifar10, tmp_path / "local"))
    assert max_difference(single, synced) < 1e-4
    assert max_difference(single, unsynced) > 100 * max_difference(single, synced)


def test_ba2m_global_batch_softmax_across_processes(tiny_cifar10, tmp_path):
    ba2m = {"attention": ["ba2m"], "sync_bn": True}
    single = one_process(config(tiny_cifar10, tmp_path / "one", attention=["ba2m"]))
    synced = two_processes(
        config(
            tiny_cifar10,
            tmp_path / "global",
            **ba2m,
            attention_options={"ba2m": {"sync": "global"}},
        )
    )
    local = two_processes(config(tiny_cifar10, tmp_path / "local", **ba2m))
    assert max_difference(single, synced) < 1e-4
    # Per-process softmaxes train another model: their difference is well above the rounding
    # bound (5e-3 against 1e-4 and below; the rounding drift itself, 4e-5 to 6e-5, moves with the
    # order of the GSA's float32 products, so it is not the yardstick).
    assert max_difference(single, local) > 10 * 1e-4


def module_case(sync: str):
    """BA2M in training mode (BatchNorm1d in CA, BatchNorm2d in LSA), float64."""
    torch.manual_seed(0)
    module = build_attention("ba2m", 16, min_channels=8, sync=sync).double().train()
    x = torch.randn(8, 16, 5, 6, dtype=torch.float64)
    return module, x, torch.randn_like(x)


def module_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    module, x, upstream = module_case("global")
    module = sync_batchnorm(module, torch.device("cpu"))
    part = slice(rank * 4, rank * 4 + 4)
    x_local = x[part].clone().requires_grad_()
    y = module(x_local)
    (y * upstream[part]).sum().backward()
    grads = {k: p.grad for k, p in module.named_parameters()}
    for g in grads.values():  # what DDP does: the mean of the processes' gradients
        dist.all_reduce(g)
        g /= world
    torch.save({"y": y.detach(), "x": x_local.grad, **grads}, f"{out}/rank{rank}.pt")
    dist.barrier()
    # Leave without running gloo's destructors: after a backward through all_gather they could
    # (rarely, seen once in CI) abort with "terminate called without an active exception".
    os._exit(0)


def test_synchronised_batchnorm_and_global_ba2m_match_one_process_exactly(tmp_path):
    mp.spawn(module_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    module, x, upstream = module_case("local")
    x.requires_grad_()
    y = module(x)
    (y * upstream).sum().backward()
    parts = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    torch.testing.assert_close(torch.cat([p["y"] for p in parts]), y.detach())
    torch.testing.assert_close(torch.cat([p["x"] for p in parts]), x.grad)
    for name, p in module.named_parameters():
        # Rank 0's gradient is the sum over the batch / 2: the full batch's mean loss, halved.
        torch.testing.assert_close(parts[0][name] * 2, p.grad, msg=name)


def buffers_worker(rank: int, world: int, port: int, out: str) -> None:
    from attnzoo.engine.distributed import World, broadcast_buffers

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    bn = torch.nn.BatchNorm2d(3).train()
    bn(torch.randn(4, 3, 2, 2, generator=torch.Generator().manual_seed(rank)))  # rank's own stats
    mine = {k: v.clone() for k, v in bn.state_dict().items()}
    broadcast_buffers(World(rank, world), bn)
    torch.save({"before": mine, "after": bn.state_dict()}, f"{out}/{rank}.pt")
    dist.destroy_process_group()


def test_every_rank_evaluates_with_rank_zeros_batchnorm_statistics(tmp_path):
    """The trainer broadcasts rank 0's buffers before evaluating: without synchronised
    BatchNorm, each rank's running statistics come from its own batches."""
    mp.spawn(buffers_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    zero, one = (torch.load(tmp_path / f"{r}.pt", weights_only=True) for r in (0, 1))
    assert not torch.equal(zero["before"]["running_mean"], one["before"]["running_mean"])
    for name, value in zero["before"].items():
        assert torch.equal(zero["after"][name], value) and torch.equal(one["after"][name], value)
