"""One training run (one fold): epochs, validation, checkpoints, test, run-folder outputs.

The run follows PAPER_SPEC §6 with the recipe of a profile (training/config.py) and
writes exactly the files of docs/ARCHITECTURE.md §6. Determinism and exact resume rest
on two choices:

- the order of training samples comes from a ``DistributedSampler`` (also with one
  process) whose permutation depends only on (seed, epoch);
- each training sample's augmentation draws from global generators reseeded from
  (seed, epoch, sample index) just before the sample is read (:class:`SeededSamples`).

So an epoch re-run after a resume, a run with another worker count, or the same global
batch split over torchrun processes sees the same samples with the same augmentations.
The RNG states are still saved in every checkpoint (STYLE.md) and restored on resume.
"""

from __future__ import annotations

import math
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from data.io import atomic_save_png, atomic_write_json
from data.prepare import git_commit
from losses import SegLoss, build_loss
from metrics.paper import miou
from models import UNet

from .checkpoint import capture_rng_states, load_checkpoint, restore_rng_states, save_checkpoint, write_csv
from .config import run_dir as make_run_dir
from .distributed import DistInfo, all_reduce_mean, barrier, broadcast_object, global_batchnorm

LOG_FIELDS = ("epoch", "train_loss", "val_miou", "lr", "epoch_seconds", "loss_seconds")
#: The recipe and identity keys that must match to resume a run.
RESUME_KEYS = ("dataset", "loss", "loss_kwargs", "recipe", "fold", "seed", "split_seed", "world_size")
#: Threshold on p for validation mIoU and every test metric (PAPER_SPEC §6-§7).
THRESHOLD = 0.5


class TrainingError(RuntimeError):
    """A run that cannot start or continue; the message says why and what to do."""


@dataclass
class RunSpec:
    """Every resolved setting of one run (what ``config.json`` records)."""

    dataset: str
    data_root: Path
    loss: str
    loss_kwargs: dict[str, Any]
    run_name: str
    profile: str
    recipe: dict[str, Any]
    fold: int
    seed: int
    split_seed: int
    device: str
    amp: bool
    deterministic: bool
    workers: int
    out: Path
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return make_run_dir(self.out, self.dataset, self.run_name, self.seed, self.fold)


# ----------------------------------------------------------------------------- seeding


def derive_seed(*parts: int) -> int:
    """A 32-bit seed that depends on every part (NumPy's SeedSequence hashing)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global generator and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - the global generator is what augmentation code draws from
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive Python/NumPy seeds from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """``--deterministic``: deterministic kernels (torch warns, naming any op that has none)."""
    if deterministic:
        # cuBLAS needs this workspace setting for reproducible results (set before first use).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


class SeededSamples(Dataset):
    """Wrap a training data set so sample ``i`` of epoch ``e`` is augmented from seed (s, e, i).

    ``set_epoch`` must be called before each epoch's DataLoader iterator is created (the
    wrapper is copied into the workers at that moment).
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed, self.epoch = dataset, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        seed_everything(derive_seed(self.seed, self.epoch, i))
        return self.dataset[i]


# ----------------------------------------------------------------------------- building


def build_datasets(spec: RunSpec, loss: SegLoss):
    """The fold's train (with the loss's maps), validation and test data sets (ARCHITECTURE §3)."""
    from data.datasets import SegmentationDataset  # the data layer imports torch; keep it local

    root = Path(spec.data_root) / spec.dataset
    crop = tuple(spec.recipe["crop"]) if spec.recipe["crop"] is not None else None
    common = {"root": root, "fold": spec.fold, "seed": spec.split_seed}
    train = SegmentationDataset(split="train", maps=tuple(loss.required_maps), crop=crop, **common)
    val = SegmentationDataset(split="val", **common)
    test = SegmentationDataset(split="test", **common)
    return train, val, test


def build_model(in_channels: int, width: int, device: torch.device) -> UNet:
    return UNet(in_channels=in_channels, width=width).to(device)


def build_optimizer(model: nn.Module, recipe: Mapping[str, Any]):
    """Adam (default betas, no weight decay) and StepLR(lr_step, lr_gamma), PAPER_SPEC §6."""
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=recipe["lr_step"], gamma=recipe["lr_gamma"])
    return optimizer, scheduler


def train_loader(dataset: SeededSamples, spec: RunSpec, info: DistInfo) -> tuple[DataLoader, DistributedSampler]:
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


def eval_loader(dataset: Dataset, spec: RunSpec) -> DataLoader:
    """Full padded images, batch size 1, in index order (PAPER_SPEC §4.5)."""
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=spec.workers)


# ----------------------------------------------------------------------------- steps


def to_device(extras: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in extras.items()}


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work so wall-clock timings are true (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
    """Mean per-image mIoU at threshold 0.5 over the validation images (PAPER_SPEC §6-§7)."""
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


# ----------------------------------------------------------------------------- provenance


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str | None]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cuda": torch.version.cuda,
        "platform": platform.platform(),
    }


def peak_memory(device: torch.device) -> tuple[int, str]:
    """Peak memory in bytes: CUDA allocator peak on GPU, else the process's max RSS."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda"
    # ru_maxrss is in KiB on Linux.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "rss"


def config_record(spec: RunSpec, info: DistInfo, device: torch.device, in_channels: int) -> dict[str, Any]:
    """``config.json``: every setting needed to rerun (docs/ARCHITECTURE.md §6)."""
    record = asdict(spec)
    record["data_root"] = str(spec.data_root)
    record["out"] = str(spec.out)
    record.pop("extra")
    record.update(
        world_size=info.world_size,
        batch_size_per_process=spec.recipe["batch_size"] // info.world_size,
        in_channels=in_channels,
        model={"name": "UNet", "width": spec.recipe["width"], "in_channels": in_channels, "num_classes": 2},
        optimizer={"name": "Adam", "lr": spec.recipe["lr"], "betas": [0.9, 0.999], "weight_decay": 0.0},
        scheduler={"name": "StepLR", "step_size": spec.recipe["lr_step"], "gamma": spec.recipe["lr_gamma"]},
        threshold=THRESHOLD,
        device_name=device_name(device),
        versions=versions(),
        git_commit=git_commit(),
        **spec.extra,
    )
    return record


# ----------------------------------------------------------------------------- run folder


def is_finished(folder: Path) -> bool:
    """A run is finished when ``timing.json`` and ``test_metrics.csv`` exist (ARCHITECTURE §6)."""
    return (folder / "timing.json").is_file() and (folder / "test_metrics.csv").is_file()


def prepare_run_dir(spec: RunSpec, info: DistInfo) -> str:
    """Decide what to do with the run folder: ``"skip"``, ``"resume"`` or ``"fresh"`` (rank 0 decides)."""
    folder = spec.run_dir
    action = "fresh"
    if info.is_main:
        if folder.exists() and spec.overwrite:
            shutil.rmtree(folder)
        elif is_finished(folder):
            action = "skip"
        elif (folder / "last.pt").is_file():
            if not spec.resume:
                action = (
                    f"run folder {folder} holds an unfinished run (last.pt); pass --resume to continue it "
                    "or --overwrite to start again"
                )
            else:
                action = "resume"
        folder.mkdir(parents=True, exist_ok=True)
    action = broadcast_object(action)
    if action not in ("skip", "resume", "fresh"):
        raise TrainingError(action)
    return action


def checkpoint_state(
    model: nn.Module, optimizer, scheduler, scaler, epoch: int, best: dict, history: dict, config: dict
) -> dict[str, Any]:
    """Everything needed to continue after ``epoch`` (0-based, completed)."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": epoch,
        "best_val_miou": best["val_miou"],
        "best_epoch": best["epoch"],
        "log": history["log"],
        "loss_iter_seconds": history["loss_iter_seconds"],
        "elapsed_seconds": history["elapsed_seconds"],
        "config": {k: config[k] for k in RESUME_KEYS},
        "rng": capture_rng_states(),
    }


def check_resumable(ckpt: Mapping[str, Any], config: Mapping[str, Any], path: Path) -> None:
    """Refuse to resume a checkpoint made with other settings (would silently mix two runs)."""
    saved = ckpt["config"]
    diff = [k for k in RESUME_KEYS if saved.get(k) != config[k]]
    if diff:
        detail = "; ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {config[k]!r}" for k in diff)
        raise TrainingError(f"cannot resume {path}: settings differ ({detail}); use --overwrite to start again")


def write_test_outputs(
    model: nn.Module, dataset, loader: DataLoader, spec: RunSpec, device: torch.device, folder: Path
) -> list[dict[str, Any]]:
    """Test the model on the fold's test images: ``predictions/NNN.png`` and ``test_metrics.csv``."""
    from metrics import compute_metrics

    model.eval()
    rows = []
    batches = tqdm(loader, desc="test", leave=False, disable=not spec.progress)
    for position, (image, target, extras) in enumerate(batches):  # in split order (shuffle=False)
        index = int(extras["index"][0])
        prob = predict_probability(model, image, device, spec.amp)
        atomic_save_png(folder / "predictions" / f"{index:03d}.png", np.round(255.0 * prob).astype(np.uint8))
        fov = extras["fov"][0].numpy() if "fov" in extras else None
        metrics = compute_metrics(
            prob, target[0].numpy(), spec.dataset, fov=fov, instances=dataset.load_instances(position)
        )
        rows.append({"index": index, "id": dataset.sample_ids[position], **metrics})
    if not rows:
        raise TrainingError("the test split is empty")
    write_csv(folder / "test_metrics.csv", list(rows[0]), rows)
    return rows


# ----------------------------------------------------------------------------- the run


def log(msg: str, info: DistInfo) -> None:
    """Print on rank 0 only, without breaking tqdm bars."""
    if info.is_main:
        tqdm.write(msg, file=sys.stdout)
        sys.stdout.flush()


def run_fold(spec: RunSpec, info: DistInfo, device: torch.device) -> Path:
    """Train, validate and test one fold; write the run folder; return its path."""
    folder = spec.run_dir
    action = prepare_run_dir(spec, info)
    if action == "skip":
        log(f"{folder} is finished; skipping (pass --overwrite to run it again)", info)
        return folder
    if action == "fresh" and spec.resume:
        log(f"{folder} has no last.pt to resume; starting it from epoch 0", info)
    t_resume = time.perf_counter()
    progress = spec.progress and info.is_main
    configure_determinism(spec.deterministic, device)

    loss_fn = build_loss(spec.loss, **spec.loss_kwargs).to(device)
    train_ds, val_ds, test_ds = build_datasets(spec, loss_fn)
    in_channels = int(train_ds.metadata["channels"])
    config = config_record(spec, info, device, in_channels)
    seed_everything(spec.seed)  # the same initial weights on every rank and after a resume
    model = build_model(in_channels, spec.recipe["width"], device)
    optimizer, scheduler = build_optimizer(model, spec.recipe)
    scaler = torch.amp.GradScaler("cuda", enabled=spec.amp)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    best = {"val_miou": -math.inf, "epoch": -1}
    history: dict[str, Any] = {"log": [], "loss_iter_seconds": [], "elapsed_seconds": 0.0}
    start_epoch = 0
    if action == "resume":
        ckpt = load_checkpoint(folder / "last.pt")
        check_resumable(ckpt, config, folder / "last.pt")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        best = {"val_miou": ckpt["best_val_miou"], "epoch": ckpt["best_epoch"]}
        history = {k: ckpt[k] for k in ("log", "loss_iter_seconds", "elapsed_seconds")}
        start_epoch = ckpt["epoch"] + 1
        restore_rng_states(ckpt["rng"])
        log(f"resuming {folder} after epoch {ckpt['epoch']} (best val mIoU {best['val_miou']:.4f})", info)
    if info.is_main:
        atomic_write_json(folder / "config.json", config)

    net: nn.Module = model
    if info.enabled:
        model = global_batchnorm(model, device)
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    seeded = SeededSamples(train_ds, spec.seed)
    loader, sampler = train_loader(seeded, spec, info)
    val_loader = eval_loader(val_ds, spec)
    epochs = spec.recipe["epochs"]

    for epoch in tqdm(range(start_epoch, epochs), desc="epochs", disable=not progress):
        sampler.set_epoch(epoch)
        seeded.set_epoch(epoch)
        loss_fn.set_epoch(epoch)
        net.train()
        lr = optimizer.param_groups[0]["lr"]
        losses, loss_seconds = [], []
        synchronize(device)
        t_epoch = time.perf_counter()
        for it, batch in enumerate(tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress)):
            step = train_step(
                net, loss_fn, batch, optimizer, scaler, spec.recipe, device, spec.amp,
                where=f"epoch {epoch}, iteration {it} ({spec.loss} on {spec.dataset}, fold {spec.fold})",
            )
            losses.append(step.loss)
            loss_seconds.append(step.loss_seconds)
        synchronize(device)
        epoch_seconds = time.perf_counter() - t_epoch
        scheduler.step()

        # Profiles may validate every few epochs to save time (cpu); the last epoch is always validated.
        validated = (epoch + 1) % spec.recipe["val_every"] == 0 or epoch + 1 == epochs
        val_miou = math.nan
        if validated:
            val_miou = validate(model, val_loader, device, spec.amp, progress) if info.is_main else None
            val_miou = broadcast_object(val_miou)
        history["log"].append(
            {
                "epoch": epoch,
                "train_loss": float(np.mean(losses)),
                "val_miou": val_miou,
                "lr": lr,
                "epoch_seconds": epoch_seconds,
                "loss_seconds": float(np.sum(loss_seconds)),
            }
        )
        history["loss_iter_seconds"].extend(loss_seconds)
        history["elapsed_seconds"] += time.perf_counter() - t_resume
        t_resume = time.perf_counter()
        if info.is_main:
            if validated and val_miou > best["val_miou"]:
                best = {"val_miou": val_miou, "epoch": epoch}
                save_checkpoint(
                    folder / "best.pt",
                    checkpoint_state(model, optimizer, scheduler, scaler, epoch, best, history, config),
                )
            save_checkpoint(
                folder / "last.pt", checkpoint_state(model, optimizer, scheduler, scaler, epoch, best, history, config)
            )
            write_csv(folder / "log.csv", LOG_FIELDS, history["log"])
        best = broadcast_object(best)
        log(
            f"epoch {epoch + 1}/{epochs}  train_loss {history['log'][-1]['train_loss']:.4f}  "
            f"val_miou {val_miou:.4f}  lr {lr:.3g}  {epoch_seconds:.1f} s (loss {sum(loss_seconds):.2f} s)",
            info,
        )
        barrier()

    if info.is_main:
        ckpt = load_checkpoint(folder / "best.pt")
        model.load_state_dict(ckpt["model"])
        write_test_outputs(model, test_ds, eval_loader(test_ds, spec), spec, device, folder)
        history["elapsed_seconds"] += time.perf_counter() - t_resume
        write_timing(folder, history, device)
        log(f"best val mIoU {best['val_miou']:.4f} at epoch {best['epoch'] + 1}; wrote {folder}", info)
    barrier()
    return folder


def write_timing(folder: Path, history: Mapping[str, Any], device: torch.device) -> None:
    """``timing.json`` (ARCHITECTURE §6): medians over epochs and iterations, peak memory, device."""
    memory, kind = peak_memory(device)
    epoch_seconds = [row["epoch_seconds"] for row in history["log"]]
    atomic_write_json(
        folder / "timing.json",
        {
            "epoch_seconds_median": statistics.median(epoch_seconds) if epoch_seconds else None,
            "loss_seconds_per_iter_median": (
                statistics.median(history["loss_iter_seconds"]) if history["loss_iter_seconds"] else None
            ),
            "peak_memory_bytes": memory,
            "memory_kind": kind,
            "device_name": device_name(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "total_seconds": history["elapsed_seconds"],
        },
    )


def run_folds(spec: RunSpec, folds: Iterable[int], info: DistInfo, device: torch.device) -> list[Path]:
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
