"""BA2M's sync="global": two gloo processes on loopback against one process over the whole batch."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from attnzoo import build_attention

C, N = 16, 6


def make_inputs():
    torch.manual_seed(0)
    module = build_attention("ba2m", C, min_channels=8, eval_mode="batch").double()
    x = torch.randn(N, C, 4, 5, dtype=torch.float64)
    upstream = torch.randn_like(x)  # a fixed gradient arriving from later layers
    # Eval mode: BatchNorm uses running statistics, so only the batch softmax couples samples.
    return module.eval(), x, upstream


def worker(rank: int, world: int, port: int, out: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    torch.set_num_threads(1)
    module, x, upstream = make_inputs()
    module.sync = "global"
    part = slice(rank * N // world, (rank + 1) * N // world)
    x_local = x[part].clone().requires_grad_()
    y = module(x_local)
    (y * upstream[part]).sum().backward()
    torch.save({"y": y.detach(), "grad": x_local.grad}, f"{out}/rank{rank}.pt")
    dist.barrier()  # neither rank tears gloo down while the other still talks to it
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_global_sync_matches_one_process_over_the_full_batch(tmp_path):
    mp.spawn(worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    module, x, upstream = make_inputs()
    x.requires_grad_()
    y = module(x)
    (y * upstream).sum().backward()
    parts = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    torch.testing.assert_close(torch.cat([p["y"] for p in parts]), y.detach())
    torch.testing.assert_close(torch.cat([p["grad"] for p in parts]), x.grad)
    # sync="local" on the same halves weights each half on its own, which differs.
    local = torch.cat([module(half) for half in x.detach().chunk(2)])
    assert not torch.allclose(local, y.detach())
