"""One training run (one fold): build, resume, train epochs, validate, checkpoint, test.

The run follows the paper's recipe (docs/METHOD.md §6) with the settings of a profile
(:mod:`training.config`) and writes the files of docs/ARCHITECTURE.md §6 through
:mod:`training.run_files`. Each piece is a small function over a :class:`FoldState`.
"""

from __future__ import annotations

import logging
import math
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from common import run_folder as rf
from data.files import atomic_write_json
from data.registry import get_dataset
from losses import SegLoss, build_loss
from models import UNet

from . import run_files
from .checkpoint import damaged_checkpoint, load_checkpoint, restore_rng_states, save_checkpoint
from .device import synchronize
from .distributed import DistInfo, barrier, broadcast_object, global_batchnorm
from .errors import TrainingError
from .run_files import RunSettings
from .seeding import SeededSamples, configure_determinism, seed_everything, seed_worker
from .steps import train_step, validate
from .testing import write_test_outputs

LOG_FIELDS = rf.LOG_COLUMNS


# ----------------------------------------------------------------------------- building


def build_datasets(spec: RunSettings, loss: SegLoss):
    """The fold's train (with the loss's maps), validation and test data sets (ARCHITECTURE §3)."""
    from data.datasets import SegmentationDataset

    root = Path(spec.data_root) / spec.dataset
    crop = tuple(spec.recipe["crop"]) if spec.recipe["crop"] is not None else None
    common = {"root": root, "fold": spec.fold, "seed": spec.split_seed}
    train = SegmentationDataset(split="train", maps=tuple(loss.required_maps), crop=crop, **common)
    val = SegmentationDataset(split="val", **common)
    test = SegmentationDataset(split="test", **common)
    return train, val, test


def build_model(in_channels: int, width: int, device: torch.device, channels_last: bool = False) -> UNet:
    """The U-Net on ``device``; ``channels_last`` stores its weights NHWC (convolutions then run NHWC:
    about 20% faster on CPU for the cpu profile, results equal up to float summation order)."""
    model = UNet(in_channels=in_channels, width=width).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def build_optimizer(model: nn.Module, recipe: Mapping[str, Any]):
    """Adam (default betas, no weight decay) and StepLR(lr_step, lr_gamma), docs/METHOD.md §6."""
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=recipe["lr_step"], gamma=recipe["lr_gamma"]
    )
    return optimizer, scheduler


def train_loader(
    dataset: SeededSamples, spec: RunSettings, info: DistInfo
) -> tuple[DataLoader, DistributedSampler]:
    """Shuffled loader of ``batch_size / world_size`` samples per process."""
    batch = spec.recipe["batch_size"]
    if batch % info.world_size:
        raise TrainingError(
            f"--batch-size {batch} must be divisible by the number of torchrun processes ({info.world_size})"
        )
    # One sampler for one and many processes: the permutation depends only on (seed, epoch).
    sampler = DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=spec.seed, drop_last=False
    )
    loader = DataLoader(
        dataset,
        batch_size=batch // info.world_size,
        sampler=sampler,
        num_workers=spec.workers,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(spec.seed),
        pin_memory=torch.device(spec.device).type == "cuda",
    )
    return loader, sampler


def eval_loader(dataset: Dataset, spec: RunSettings) -> DataLoader:
    """Full padded images, batch size 1, in index order (docs/METHOD.md §4.5)."""
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=spec.workers)


# ----------------------------------------------------------------------------- state


@dataclass
class FoldState:
    """Everything one fold's training holds between epochs."""

    spec: RunSettings
    info: DistInfo
    device: torch.device
    folder: Path
    loss_fn: SegLoss
    datasets: tuple
    config: dict
    model: nn.Module
    optimizer: Any
    scheduler: Any
    scaler: Any
    best: dict = field(default_factory=lambda: {"val_miou": -math.inf, "epoch": -1})
    history: dict = field(
        default_factory=lambda: {"log": [], "loss_iter_seconds": [], "elapsed_seconds": 0.0}
    )
    start_epoch: int = 0
    epoch: int = -1
    t_mark: float = field(default_factory=time.perf_counter)
    net: nn.Module | None = None
    loaders: dict = field(default_factory=dict)
    logger: logging.Logger | None = None
    tensorboard: Any = None


def log(msg: str, state: FoldState | None, info: DistInfo) -> None:
    """Print on rank 0 only, without breaking tqdm bars; also into the run's train.log."""
    if info.is_main:
        tqdm.write(msg, file=sys.stdout)
        sys.stdout.flush()
        if state is not None and state.logger is not None:
            state.logger.info(msg)


def build_state(spec: RunSettings, info: DistInfo, device: torch.device, t_start: float) -> FoldState:
    """Loss, data, config record, model, optimizer (seeded so every rank and a resume agree)."""
    configure_determinism(spec.deterministic, device)
    loss_fn = build_loss(spec.loss, **spec.loss_kwargs).to(device)
    datasets = build_datasets(spec, loss_fn)
    in_channels = int(datasets[0].metadata["channels"])
    config = run_files.config_record(spec, info, device, in_channels)
    seed_everything(spec.seed)  # the same initial weights on every rank and after a resume
    model = build_model(in_channels, spec.recipe["width"], device, spec.channels_last)
    optimizer, scheduler = build_optimizer(model, spec.recipe)
    scaler = torch.amp.GradScaler("cuda", enabled=spec.amp)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return FoldState(
        spec,
        info,
        device,
        spec.run_dir,
        loss_fn,
        datasets,
        config,
        model,
        optimizer,
        scheduler,
        scaler,
        t_mark=t_start,
    )


def resume(state: FoldState) -> None:
    """Load ``last.pt`` into the state (weights, optimizer, schedule, history, RNG states).

    Raises:
        TrainingError: the checkpoint cannot be read, lacks an entry or does not fit this model
            (the file is kept; ``--overwrite`` restarts), or was made with other settings.
    """
    path = state.folder / rf.LAST_CHECKPOINT
    ckpt = load_checkpoint(path)
    try:
        run_files.check_resumable(ckpt, state.config, path)
        state.model.load_state_dict(ckpt["model"])
        state.optimizer.load_state_dict(ckpt["optimizer"])
        state.scheduler.load_state_dict(ckpt["scheduler"])
        state.scaler.load_state_dict(ckpt["scaler"])
        state.best = {"val_miou": ckpt["best_val_miou"], "epoch": ckpt["best_epoch"]}
        state.history = {k: ckpt[k] for k in ("log", "loss_iter_seconds", "elapsed_seconds")}
        state.start_epoch = ckpt["epoch"] + 1
        restore_rng_states(ckpt["rng"])
    except (KeyError, TypeError, AttributeError, ValueError, RuntimeError) as err:
        if isinstance(err, TrainingError):
            raise
        raise TrainingError(damaged_checkpoint(path, f"{type(err).__name__}: {err}")) from err
    log(
        f"resuming {state.folder} after epoch {ckpt['epoch']} (best val mIoU {state.best['val_miou']:.4f})",
        state,
        state.info,
    )


def attach_outputs(state: FoldState) -> None:
    """Rank 0: config.json, train.log and (``--tensorboard``) TensorBoard scalars."""
    if not state.info.is_main:
        return
    atomic_write_json(state.folder / rf.CONFIG, state.config)
    state.logger = run_files.run_logger(state.folder)
    state.logger.info("run %s: %s", state.spec.run_id, state.spec.command)
    if state.spec.tensorboard:
        state.tensorboard = run_files.TensorBoardScalars(state.folder)


def wrap_and_load(state: FoldState) -> None:
    """DDP wrapping (global BatchNorm) under torchrun, then the training and validation loaders."""
    spec, info, device = state.spec, state.info, state.device
    state.net = state.model
    if info.enabled:
        state.model = global_batchnorm(state.model, device)
        ids = [device.index] if device.type == "cuda" else None
        state.net = nn.parallel.DistributedDataParallel(state.model, device_ids=ids)
    seeded = SeededSamples(state.datasets[0], spec.seed)
    loader, sampler = train_loader(seeded, spec, info)
    state.loaders = {
        "seeded": seeded,
        "train": loader,
        "sampler": sampler,
        "val": eval_loader(state.datasets[1], spec),
    }


# ----------------------------------------------------------------------------- epochs


def train_epoch(state: FoldState, epoch: int) -> dict[str, Any]:
    """One pass over the training loader; returns the epoch's log row (without validation)."""
    spec, loaders = state.spec, state.loaders
    loaders["sampler"].set_epoch(epoch)
    loaders["seeded"].set_epoch(epoch)
    state.loss_fn.set_epoch(epoch)
    state.net.train()
    lr = state.optimizer.param_groups[0]["lr"]
    losses, loss_seconds = [], []
    progress = spec.progress and state.info.is_main
    synchronize(state.device)
    t_epoch = time.perf_counter()
    for it, batch in enumerate(
        tqdm(loaders["train"], desc=f"epoch {epoch}", leave=False, disable=not progress)
    ):
        where = f"epoch {epoch}, iteration {it} ({spec.loss} on {spec.dataset}, fold {spec.fold})"
        step = train_step(
            state.net,
            state.loss_fn,
            batch,
            state.optimizer,
            state.scaler,
            spec.recipe,
            state.device,
            spec.amp,
            where=where,
        )
        losses.append(step.loss)
        loss_seconds.append(step.loss_seconds)
    synchronize(state.device)
    epoch_seconds = time.perf_counter() - t_epoch
    state.scheduler.step()
    state.history["loss_iter_seconds"].extend(loss_seconds)
    return {
        "epoch": epoch,
        "train_loss": float(np.mean(losses)),
        "val_miou": math.nan,
        "lr": lr,
        "epoch_seconds": epoch_seconds,
        "loss_seconds": float(np.sum(loss_seconds)),
    }


def validate_epoch(state: FoldState, epoch: int) -> float:
    """Validation mIoU when this epoch is validated (every ``val_every`` and the last), else NaN."""
    epochs = state.spec.recipe["epochs"]
    if (epoch + 1) % state.spec.recipe["val_every"] and epoch + 1 != epochs:
        return math.nan
    progress = state.spec.progress and state.info.is_main
    value = (
        validate(state.model, state.loaders["val"], state.device, state.spec.amp, progress)
        if state.info.is_main
        else None
    )
    return broadcast_object(value)


def save_epoch(state: FoldState, row: dict[str, Any]) -> None:
    """Rank 0: best.pt (on a better validation mIoU), last.pt, log.csv, progress.png, TensorBoard."""
    state.history["log"].append(row)
    state.history["elapsed_seconds"] += time.perf_counter() - state.t_mark
    state.t_mark = time.perf_counter()
    state.epoch = row["epoch"]
    if state.info.is_main:
        if not math.isnan(row["val_miou"]) and row["val_miou"] > state.best["val_miou"]:
            state.best = {"val_miou": row["val_miou"], "epoch": row["epoch"]}
            save_checkpoint(
                state.folder / rf.BEST_CHECKPOINT, run_files.checkpoint_state(state, state.config)
            )
        save_checkpoint(state.folder / rf.LAST_CHECKPOINT, run_files.checkpoint_state(state, state.config))
        run_files.write_log(state.folder, state.history["log"])
        run_files.write_progress_plot(state.folder, state.history["log"], str(state.spec.run_id))
        if state.tensorboard is not None:
            state.tensorboard.add_epoch(row)
    state.best = broadcast_object(state.best)


def epoch_line(row: Mapping[str, Any], epochs: int) -> str:
    return (
        f"epoch {row['epoch'] + 1}/{epochs}  train_loss {row['train_loss']:.4f}  val_miou {row['val_miou']:.4f}  "
        f"lr {row['lr']:.3g}  {row['epoch_seconds']:.1f} s (loss {row['loss_seconds']:.2f} s)"
    )


def finish(state: FoldState) -> None:
    """Rank 0: test the best checkpoint, write test_metrics.csv and (last) timing.json."""
    if not state.info.is_main:
        return
    state.model.load_state_dict(load_checkpoint(state.folder / rf.BEST_CHECKPOINT)["model"])
    test_ds = state.datasets[2]
    family = get_dataset(state.spec.dataset).family
    write_test_outputs(
        state.model, test_ds, eval_loader(test_ds, state.spec), family, state.spec, state.device, state.folder
    )
    state.history["elapsed_seconds"] += time.perf_counter() - state.t_mark
    run_files.write_timing(state.folder, state.history, state.device)
    best = state.best
    log(
        f"best val mIoU {best['val_miou']:.4f} at epoch {best['epoch'] + 1}; wrote {state.folder}",
        state,
        state.info,
    )


# ----------------------------------------------------------------------------- the run


def run_fold(spec: RunSettings, info: DistInfo, device: torch.device) -> Path:
    """Train, validate and test one fold under the folder's lock; write the run folder; return its path."""
    folder = spec.run_dir
    existed = folder.exists()
    action, lock = run_files.prepare_run_dir(spec, info)
    try:
        if action == "skip":
            log(f"{folder} is finished; skipping (pass --overwrite to run it again)", None, info)
            return folder
        if action == "fresh" and spec.resume:
            log(f"{folder} has no last.pt to resume; starting it from epoch 0", None, info)
        train_locked(spec, info, device, action)
    except BaseException:
        if info.is_main and not existed:
            discard_new_folder(folder, spec.out)
        raise
    finally:
        run_files.release_lock(lock)
    barrier()
    return folder


def train_locked(spec: RunSettings, info: DistInfo, device: torch.device, action: str) -> None:
    """Build (or resume) the fold's state, train its epochs and test it; the caller holds the lock."""
    state = build_state(spec, info, device, time.perf_counter())
    if action == "resume":
        resume(state)
    attach_outputs(state)
    try:
        wrap_and_load(state)
        epochs = spec.recipe["epochs"]
        for epoch in tqdm(
            range(state.start_epoch, epochs), desc="epochs", disable=not (spec.progress and info.is_main)
        ):
            row = train_epoch(state, epoch)
            row["val_miou"] = validate_epoch(state, epoch)
            save_epoch(state, row)
            log(epoch_line(row, epochs), state, info)
            barrier()
        finish(state)
    finally:
        close_outputs(state)


def discard_new_folder(folder: Path, out: Path) -> None:
    """A run this command created that failed before its first checkpoint leaves nothing behind.

    Removes ``folder`` (unless it holds ``last.pt``: that run is resumable) and the parents this
    command created, up to ``out`` (kept).
    """
    if not folder.is_dir() or (folder / rf.LAST_CHECKPOINT).is_file():
        return
    shutil.rmtree(folder, ignore_errors=True)
    out = Path(out).resolve()
    for parent in folder.resolve().parents:
        if parent == out or out not in parent.parents:
            break
        try:
            parent.rmdir()  # only when empty
        except OSError:
            break


def close_outputs(state: FoldState) -> None:
    if state.tensorboard is not None:
        state.tensorboard.close()
    if state.logger is not None:
        run_files.close_logger(state.logger)


def run_folds(spec: RunSettings, folds: Iterable[int], info: DistInfo, device: torch.device) -> list[Path]:
    """Run ``folds`` in order (``--fold all``), skipping finished ones."""
    out = []
    for fold in folds:
        spec.fold = fold
        out.append(run_fold(spec, info, device))
    return out


def warn_amp_on_cpu(device: torch.device, amp: bool, warn: Callable[[str], None] | None = None) -> bool:
    """``--amp`` is CUDA-only: warn and return False elsewhere."""
    if amp and device.type != "cuda":
        message = f"--amp needs a CUDA device; running in float32 on {device.type} (--amp ignored)"
        (warn or (lambda m: warnings.warn(m, stacklevel=3)))(message)
        return False
    return amp
