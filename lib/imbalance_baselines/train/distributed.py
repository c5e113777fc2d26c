"""Data-parallel training across processes (``torchrun --nproc-per-node N``), for the engine.

Each process holds every group's model; it draws its share of each epoch's sequence
(``samplers.shard_positions``), computes gradients on it, and the gradients are averaged over the
processes before every optimiser step, so all replicas stay identical: N processes with batch B
compute what one process with batch N*B computes, up to BatchNorm, whose batch statistics are per
process (as in DDP without SyncBatchNorm, which has no CPU implementation). Running statistics are
broadcast from rank 0 before evaluation and checkpoints (what DDP's ``broadcast_buffers`` does).
Rank 0 alone logs and writes checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_world(device: torch.device) -> World:
    """The process group, initialised from torchrun's environment when it is not yet."""
    if not dist.is_available():
        return World()
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        return World()
    return World(dist.get_rank(), dist.get_world_size())


def average_gradients(model: nn.Module, world: World) -> None:
    """Mean of every gradient over the processes, in one flat all-reduce."""
    if world.size == 1:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads]).div_(world.size)
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_buffers(model: nn.Module, world: World) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every process."""
    if world.size == 1:
        return
    for buffer in model.buffers():
        dist.broadcast(buffer, src=0)


def reduce_over_processes(values: torch.Tensor, world: World, operation: str = "sum") -> torch.Tensor:
    """Element-wise "sum" or "min" of ``values`` over the processes (a copy)."""
    values = values.clone()
    if world.size > 1:
        dist.all_reduce(values, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN}[operation])
    return values
