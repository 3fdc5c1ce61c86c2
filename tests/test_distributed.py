"""Two gloo processes compute the same training step as one process given the whole batch.

The global batch of 2 images is split 1 + 1 over two processes (spawned here, gloo over a
file rendezvous). With :func:`training.distributed.global_batchnorm` the BatchNorm statistics
are those of the global batch, so the DDP-averaged gradients and the updated running
statistics must equal those of one process, up to float summation order. Per-process
BatchNorm (plain ``nn.BatchNorm2d`` under DDP) must not: that is the control.

Only one step is compared: Adam turns the float noise in gradients that are zero in exact
arithmetic (conv biases followed by BatchNorm) into steps of size lr, so whole runs agree in
their metrics, not in every weight (the torchrun test in test_train.py checks the metrics).
"""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from losses import build_loss
from models.unet import UNet
from training.distributed import GlobalBatchNorm2d, global_batchnorm

WORLD = 2


def _model() -> UNet:
    torch.manual_seed(0)
    return UNet(in_channels=3, width=4)


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images (2,3,32,32), targets (2,32,32) and per-image class weights (2,2) (SPW needs them)."""
    g = torch.Generator().manual_seed(1)
    images = (
        torch.randn(WORLD, 3, 32, 32, generator=g) * 2 + 0.5
    )  # mean far from 0: tests the two-pass variance
    target = (torch.rand(WORLD, 32, 32, generator=g) < 0.3).long()
    class_weight = torch.tensor([[0.6, 2.5], [0.7, 1.8]])
    return images, target, class_weight


def _step(
    model: torch.nn.Module, net: torch.nn.Module, loss_name: str, shard: slice
) -> dict[str, torch.Tensor]:
    """Forward + backward of one shard of the batch; gradients and BatchNorm buffers."""
    images, target, class_weight = (t[shard] for t in _batch())
    loss = build_loss(loss_name)(net(images), target, {"class_weight": class_weight})
    loss.backward()
    state = {f"grad:{n}": p.grad.detach().clone() for n, p in model.named_parameters()}
    state.update({f"buffer:{n}": b.detach().clone() for n, b in model.named_buffers()})
    return state


def _worker(rank: int, init_file: str, out: str, loss_name: str, global_bn: bool) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        model = _model()
        if global_bn:
            model = global_batchnorm(model, torch.device("cpu"))
        net = torch.nn.parallel.DistributedDataParallel(model)
        state = _step(model, net, loss_name, slice(rank, rank + 1))
        if rank == 0:
            torch.save(state, out)
    finally:
        dist.destroy_process_group()


def _ddp_step(tmp_path, loss_name: str, global_bn: bool) -> dict[str, torch.Tensor]:
    out = tmp_path / f"{loss_name}-{global_bn}.pt"
    init = tmp_path / f"init-{loss_name}-{global_bn}"
    mp.spawn(_worker, args=(str(init), str(out), loss_name, global_bn), nprocs=WORLD, join=True)
    return torch.load(out, weights_only=True)


def _single_step(loss_name: str) -> dict[str, torch.Tensor]:
    model = _model()
    return _step(model, model, loss_name, slice(None))


def _max_error(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> float:
    """Largest |difference| per kind (gradients, buffers) relative to that kind's largest value.

    Relative to the whole model's scale rather than per tensor: conv biases followed by
    BatchNorm have gradients that are 0 in exact arithmetic, i.e. pure float noise.
    """
    worst = 0.0
    for kind in ("grad:", "buffer:"):
        keys = [k for k, v in want.items() if k.startswith(kind) and v.is_floating_point()]
        scale = max(want[k].abs().max().item() for k in keys)
        worst = max(worst, max((got[k] - want[k]).abs().max().item() for k in keys) / scale)
    return worst


def test_global_batchnorm_ddp_step_equals_one_process_step(tmp_path):
    for loss_name in ("ce", "spw"):  # pixel-mean losses: the mean of equal shards' means is the mean
        want = _single_step(loss_name)
        got = _ddp_step(tmp_path, loss_name, global_bn=True)
        assert got.keys() == want.keys()
        assert _max_error(got, want) < 1e-4, loss_name


def test_per_process_batchnorm_is_not_the_same_step(tmp_path):
    # The control: without the global statistics the two-process step is a different computation.
    want = _single_step("ce")
    got = _ddp_step(tmp_path, "ce", global_bn=False)
    assert _max_error(got, want) > 1e-2, _max_error(got, want)


def test_global_batchnorm_in_one_process_is_batchnorm():
    # Without a process group the CPU replacement must be BatchNorm2d itself, buffers included.
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    swapped = global_batchnorm(copy.deepcopy(plain), torch.device("cpu"))
    assert type(swapped[1]) is GlobalBatchNorm2d
    x = torch.randn(4, 2, 8, 8)
    torch.testing.assert_close(swapped(x), plain(x), rtol=0, atol=0)
    torch.testing.assert_close(swapped[1].running_var, plain[1].running_var, rtol=0, atol=0)
    assert swapped.state_dict().keys() == plain.state_dict().keys()
