"""``torchrun`` plumbing: process group from ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``.

Single-process training stays the default: without ``WORLD_SIZE > 1`` in the
environment nothing here creates a process group. Under ``torchrun`` the backend is
NCCL on CUDA and gloo on CPU; rank 0 prints and writes, every rank trains.
BatchNorm is made global-batch before the model is wrapped (:func:`global_batchnorm`):
``nn.SyncBatchNorm`` on CUDA, :class:`GlobalBatchNorm2d` on CPU, so N processes train the
network one process would train on the same global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


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


def group_active() -> bool:
    """Whether a default process group exists (torchrun with several processes)."""
    return dist.is_available() and dist.is_initialized()


def destroy_process_group() -> None:
    if group_active():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if group_active():
        dist.barrier()


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of ``value`` over ranks (returns ``value`` itself in a single process)."""
    if not group_active():
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()


def broadcast_object(obj, src: int = 0):
    """Send a picklable ``obj`` from rank ``src`` to every rank (identity in a single process)."""
    if not group_active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


# ----------------------------------------------------------------------------- global-batch BatchNorm


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes whose backward is the sum of every process's gradient.

    With y = Σ_r x_r on every rank and the DDP objective (1/W) Σ_r L_r(y), the gradient with
    respect to x_r is Σ_k ∂L_k/∂y (the 1/W is DDP's gradient averaging), so backward is itself
    an all-reduce sum.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch over every process.

    ``nn.SyncBatchNorm`` does this on CUDA only (it refuses CPU tensors), so under torchrun
    with gloo each process would otherwise normalise by the statistics of its own shard and
    train a different network than one process given the whole batch. Here the per-channel
    sums go through a differentiable all-reduce (:class:`_AllReduceSum`), whose backward sums
    the gradients of every process, so forward and backward equal those of one
    BatchNorm2d on the concatenated batch (up to float summation order).

    Two passes (mean, then the sum of squared deviations) rather than E[x²] − E[x]², which
    loses precision when the mean is large against the spread. Running statistics are
    updated as ``nn.BatchNorm2d`` does: momentum (or the cumulative average when momentum is
    None), unbiased variance n/(n−1). Outside training or in a single process this is
    ``nn.BatchNorm2d`` unchanged, and the state-dict keys are the same, so checkpoints load
    into the plain model.

    Input (N, C, H, W); N may differ between processes (the counts are reduced too).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and group_active() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = (0, 2, 3)
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float64)
        dist.all_reduce(count)
        n = float(count[0])
        mean = _AllReduceSum.apply(x.sum(dims)) / n
        centred = x - mean[None, :, None, None]
        var = _AllReduceSum.apply(centred.square().sum(dims)) / n
        y = centred * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach(), n)
        return y

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * (n / max(n - 1.0, 1.0))
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)


def global_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Make every BatchNorm2d of ``model`` normalise over the global batch of all processes.

    CUDA: ``nn.SyncBatchNorm``; CPU: :class:`GlobalBatchNorm2d` (same parameters and
    buffers, swapped in place). Call before wrapping the model in DistributedDataParallel.
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = GlobalBatchNorm2d
    return model
