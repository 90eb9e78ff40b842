"""Multi-process data parallelism: process-group setup from the launcher's environment, metric
reduction, per-rank RNG states, and synchronised BatchNorm that also works on CPU (gloo).

``torchrun --nproc_per_node K -m attnzoo train ...`` sets RANK, WORLD_SIZE and LOCAL_RANK. A Slurm
job step of several tasks (``srun``, or submitit, which starts one task per GPU through srun)
sets SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID and SLURM_JOB_NODELIST instead; they are turned
into torchrun's variables, with the first node of the job as the rendezvous (submitit's
``TorchDistributedEnvironment`` does the same). A plain ``attnzoo train`` sees none of them and
runs as the single process of a world of one.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..validation import AttnzooError

CPU = torch.device("cpu")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    device: torch.device = CPU

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, shows progress and writes files."""
        return self.rank == 0


def process_rank() -> int:
    """This process's rank in torchrun's world (0 in a plain run), also after :func:`teardown`."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def resolve_device(name: str) -> torch.device:
    """ "auto" is CUDA when available, else CPU; an explicit "cuda" without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AttnzooError(f"config: device={name!r} but no CUDA device is available")
    return torch.device(name)


def slurm_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """torchrun's variables for a task of a Slurm job step of several tasks; {} otherwise.

    Only inside a job step (SLURM_STEP_ID set: srun or submitit): the batch script of a
    many-task allocation runs once and is no member of a process group.
    """
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env or "SLURM_STEP_ID" not in env or int(env.get("SLURM_NTASKS", 1)) < 2:
        return {}
    nodes = env.get("SLURM_STEP_NODELIST") or env["SLURM_JOB_NODELIST"]
    hosts = subprocess.run(
        ["scontrol", "show", "hostnames", nodes], capture_output=True, text=True, check=True
    ).stdout.split()
    # One port per job, the same on every task; several jobs may share a node.
    port = env.get("MASTER_PORT") or str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000)
    return {
        "RANK": env["SLURM_PROCID"],
        "WORLD_SIZE": env["SLURM_NTASKS"],
        "LOCAL_RANK": env.get("SLURM_LOCALID", "0"),
        "MASTER_ADDR": env.get("MASTER_ADDR") or hosts[0],
        "MASTER_PORT": port,
    }


def launcher_rank() -> int:
    """This process's rank as the launcher (torchrun or Slurm) gives it, before any setup."""
    return int(os.environ.get("RANK") or os.environ.get("SLURM_PROCID") or 0)


def setup(device: str) -> World:
    """Join the process group the launcher describes (NCCL on GPUs, gloo on CPU), if any."""
    os.environ.update(slurm_environment())
    size = int(os.environ.get("WORLD_SIZE", "1"))
    target = resolve_device(device)
    if size == 1:
        return World(device=target)
    if target.type == "cuda":
        target = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), target)


def teardown(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.barrier()  # no rank leaves while another still talks to it
        dist.destroy_process_group()


def all_sum(world: World, values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over all processes (float64: counts stay exact)."""
    if world.size == 1:
        return values
    totals = torch.tensor(values, dtype=torch.float64, device=world.device)
    dist.all_reduce(totals)
    return totals.tolist()


def broadcast_buffers(world: World, model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm's running statistics). DDP broadcasts them at
    the start of each training forward, but the step then updates each rank's from its own batch:
    without this, each rank would evaluate its shard with different statistics, and a rank's
    model would not be the one the checkpoint (rank 0's) holds."""
    if world.size > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)


def gather_rng_states(world: World) -> list[torch.Tensor]:
    """Every rank's torch CPU (and current CUDA) generator state, in rank order, on every rank."""
    state = torch.get_rng_state()
    if torch.cuda.is_available():
        state = torch.cat([state, torch.cuda.get_rng_state()])
    if world.size == 1:
        return [state]
    states = [torch.empty_like(state) for _ in range(world.size)]
    dist.all_gather_object(states, state)  # byte tensors of one size; objects keep it simple
    return states


def set_rng_state(world: World, states: list[torch.Tensor]) -> None:
    """Restore this rank's generators from :func:`gather_rng_states`' list."""
    if len(states) != world.size:
        raise AttnzooError(
            f"the checkpoint holds RNG states of {len(states)} processes but this run has "
            f"{world.size}: resume with the same number of processes"
        )
    state = states[world.rank]
    cpu_size = torch.get_rng_state().numel()
    torch.set_rng_state(state[:cpu_size])
    if torch.cuda.is_available() and state.numel() > cpu_size:
        torch.cuda.set_rng_state(state[cpu_size:])


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose gradient is again the sum over processes: every process's loss
    depends on every process's contribution."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm (1d, 2d or 3d) whose training statistics cover the batches of all processes.

    ``nn.SyncBatchNorm`` runs only on GPUs; this computes the same statistics on any backend
    from one autograd-aware all-reduce of per-channel sums, sums of squares and counts, so
    gradients flow back through the other processes' samples too. Outside training, or in a
    world of one, it is plain batch normalisation.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise AttnzooError(f"GlobalBatchNorm: expected (N, C, ...) input, got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels, dims = x.shape[1], [0, *range(2, x.dim())]
        count = x.new_full((1,), x.numel() // channels)
        stats = _AllReduceSum.apply(torch.cat([x.sum(dims), x.square().sum(dims), count]))
        total = stats[-1]
        mean = stats[:channels] / total
        var = (stats[channels:-1] / total - mean.square()).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                factor = self.momentum
                if factor is None:  # cumulative moving average, as nn.BatchNorm
                    factor = 1.0 / float(self.num_batches_tracked)
                unbiased = var * total / (total - 1).clamp_min(1)
                self.running_mean.lerp_(mean, factor)
                self.running_var.lerp_(unbiased, factor)
        scale = torch.rsqrt(var + self.eps)
        if self.affine:
            scale = scale * self.weight
        shift = -mean * scale + (self.bias if self.affine else 0)
        shape = (channels,) + (1,) * (x.dim() - 2)
        return x * scale.view(shape) + shift.view(shape)


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm of ``model`` made to use the statistics of the global batch."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
            synced = GlobalBatchNorm(
                child.num_features,
                child.eps,
                child.momentum,
                child.affine,
                child.track_running_stats,
            )
            reference = next(iter(child.state_dict().values()), None)
            if reference is not None:  # same device and dtype as the layer it replaces
                synced = synced.to(reference.device, reference.dtype)
            synced.load_state_dict(child.state_dict())
            setattr(model, name, synced)
        else:
            sync_batchnorm(child, device)
    return model
