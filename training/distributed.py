"""``torchrun`` plumbing: process group from ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``.

Single-process training stays the default: without ``WORLD_SIZE > 1`` in the
environment nothing here creates a process group. Under ``torchrun`` the backend is
NCCL on CUDA and gloo on CPU; rank 0 prints and writes, every rank trains.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``; ``local_rank`` picks its GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_dist_info(environ: os._Environ | dict | None = None) -> DistInfo:
    """Read ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as torchrun sets them (defaults 0, 1, 0)."""
    env = os.environ if environ is None else environ
    try:
        info = DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))
    except ValueError as err:
        raise ValueError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers (torchrun sets them): {err}") from None
    if info.world_size < 1 or not 0 <= info.rank < info.world_size:
        raise ValueError(f"invalid torchrun environment: RANK={info.rank}, WORLD_SIZE={info.world_size}")
    return info


def device_for(requested: str, info: DistInfo) -> torch.device:
    """The device of this process: ``cuda:<local_rank>`` under torchrun on CUDA, else ``requested``."""
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {requested}: CUDA is not available on this machine; use --device cpu")
        if info.enabled and device.index is None:
            device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    return device


def init_process_group(info: DistInfo, device: torch.device) -> None:
    """Create the default process group when running under torchrun with several processes."""
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of ``value`` over ranks (returns ``value`` itself in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()


def broadcast_object(obj, src: int = 0):
    """Send a picklable ``obj`` from rank ``src`` to every rank (identity in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
