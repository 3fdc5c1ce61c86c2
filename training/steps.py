"""One optimizer step, and the model's class-1 probability for validation and test.

Both are the paper's recipe (docs/METHOD.md §6): Adam steps with gradient-norm clipping,
validation mIoU of the thresholded probability selecting the best checkpoint.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from losses import SegLoss
from metrics.paper import miou

from .device import synchronize
from .distributed import all_reduce_mean
from .errors import TrainingError

#: Threshold on p for validation mIoU and every test metric (docs/METHOD.md §6-§7).
THRESHOLD = 0.5


def to_device(extras: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in extras.items()}


@dataclass
class StepResult:
    loss: float
    loss_seconds: float


def train_step(
    model: nn.Module,
    loss_fn: SegLoss,
    batch,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    recipe: Mapping[str, Any],
    device: torch.device,
    amp: bool,
    where: str,
) -> StepResult:
    """One optimizer step; the loss forward+backward is timed on its own.

    The network's logits are cut from the graph (a float32 leaf) so the loss and its
    backward to the logits can be timed apart from the network; the network's backward
    then continues from the logits' gradient. The loss thus always sees float32 logits,
    also under AMP.
    """
    images, target, extras = batch
    images = images.to(device, non_blocking=True)
    target = target.to(device, non_blocking=True)
    maps = to_device(extras, device)
    optimizer.zero_grad(set_to_none=True)
    autocast = torch.autocast(device_type="cuda", dtype=torch.float16) if amp else nullcontext()
    with autocast:
        logits = model(images)
    leaf = logits.detach().float().requires_grad_(True)

    synchronize(device)
    t0 = time.perf_counter()
    loss = loss_fn(leaf, target, maps)
    synchronize(device)
    forward_seconds = time.perf_counter() - t0

    # Every process must agree to stop, or the others would wait forever in backward.
    global_loss = float(all_reduce_mean(loss.detach().reshape(1))[0])
    if not math.isfinite(global_loss):
        raise FloatingPointError(f"non-finite loss {global_loss} at {where}; stopping the run")

    synchronize(device)
    t0 = time.perf_counter()
    scaler.scale(loss).backward()
    synchronize(device)
    backward_seconds = time.perf_counter() - t0

    logits.backward(leaf.grad.to(logits.dtype))
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=recipe["clip_grad_norm"])
    scaler.step(optimizer)
    scaler.update()
    return StepResult(global_loss, forward_seconds + backward_seconds)


@torch.no_grad()
def predict_probability(model: nn.Module, image: torch.Tensor, device: torch.device, amp: bool) -> np.ndarray:
    """Class-1 probability ``(H, W)`` float32 of one ``(1, C, H, W)`` image (eval mode)."""
    autocast = torch.autocast(device_type="cuda", dtype=torch.float16) if amp else nullcontext()
    with autocast:
        logits = model(image.to(device))
    return torch.softmax(logits.float(), dim=1)[0, 1].cpu().numpy()


def validate(model: nn.Module, loader: DataLoader, device: torch.device, amp: bool, progress: bool) -> float:
    """Mean per-image mIoU at threshold 0.5 over the validation images (docs/METHOD.md §6-§7)."""
    model.eval()
    scores = []
    for image, target, _ in tqdm(loader, desc="val", leave=False, disable=not progress):
        prob = predict_probability(model, image, device, amp)
        scores.append(miou(prob > THRESHOLD, target[0].numpy()))
    if not scores:
        raise TrainingError("the validation split is empty; cannot select the best checkpoint")
    # miou is NaN only when a class is absent from both prediction and target of an image;
    # such an image says nothing about the model, so it is left out of the mean.
    mean = float(np.nanmean(scores)) if not np.all(np.isnan(scores)) else 0.0
    return mean
