"""The files a training run writes into its run folder (docs/ARCHITECTURE.md §6).

Paths and file names come from :mod:`common.run_folder`; this module decides what goes in
them: ``config.json`` (every setting needed to rerun), ``log.csv`` (one row per epoch),
``timing.json``, the checkpoint payload, ``train.log`` (epoch lines and warnings through
:mod:`logging`), ``progress.png`` (loss and validation curves) and optional TensorBoard
scalars. Every file is written atomically (temporary name, then rename).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import socket
import statistics
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from common import run_folder as rf
from common.provenance import git_commit
from data.files import atomic_write_bytes, atomic_write_json, pid_alive

from .checkpoint import capture_rng_states, write_csv
from .device import device_name, peak_memory, versions
from .distributed import DistInfo, broadcast_object
from .errors import TrainingError
from .steps import THRESHOLD

#: The recipe and identity keys that must match to resume a run.
RESUME_KEYS = ("dataset", "loss", "loss_kwargs", "recipe", "fold", "seed", "split_seed", "world_size")


@dataclass
class RunSettings:
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
    tensorboard: bool = False
    channels_last: bool = False
    command: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> rf.RunId:
        return rf.RunId(self.dataset, self.run_name, self.seed, self.fold)

    @property
    def run_dir(self) -> Path:
        return self.run_id.folder(self.out)


def config_record(
    spec: RunSettings, info: DistInfo, device: torch.device, in_channels: int
) -> dict[str, Any]:
    """``config.json``: every setting needed to rerun (docs/ARCHITECTURE.md §6)."""
    record = asdict(spec)
    record["data_root"] = str(spec.data_root)
    record["out"] = str(spec.out)
    record.pop("extra")
    record.pop("tensorboard")
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


def clear_folder(folder: Path, keep: str = rf.LOCK) -> None:
    """Delete everything in ``folder`` except ``keep`` (``--overwrite`` under our own lock)."""
    for path in folder.iterdir():
        if path.name == keep:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def remove_stray_temporaries(folder: Path) -> list[Path]:
    """Delete ``.<name>.*.tmp`` files of atomic writes a killed run left (we hold the lock)."""
    stray = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for path in stray:
        path.unlink(missing_ok=True)
    return stray


def folder_action(spec: RunSettings) -> str:
    """What to do with the run folder: ``"skip"``, ``"resume"``, ``"fresh"`` or an error message."""
    folder = spec.run_dir
    if folder.exists() and spec.overwrite:
        clear_folder(folder)
        return "fresh"
    if rf.is_finished(folder):
        return "skip"
    if (folder / rf.LAST_CHECKPOINT).is_file():
        if spec.resume:
            return "resume"
        return (
            f"run folder {folder} holds an unfinished run ({rf.LAST_CHECKPOINT}); pass --resume to continue it "
            "or --overwrite to start again"
        )
    return "fresh"


# ----------------------------------------------------------------------------- the lock


def lock_holder() -> dict[str, Any]:
    """What a lock file records about its holder: host, pid, start time (epoch seconds and ISO)."""
    now = time.time()
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": now,
        "started_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
    }


def read_lock(path: Path) -> dict[str, Any] | None:
    """The holder recorded in ``path``; None when the file is empty or not the JSON we write."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(holder, dict) or not isinstance(holder.get("host"), str):
        return None
    if not isinstance(holder.get("pid"), int) or not isinstance(holder.get("started"), (int, float)):
        return None
    return holder


def lock_is_stale(path: Path, holder: dict[str, Any] | None, now: float | None = None) -> bool:
    """Dead pid on this host, or older than :data:`common.run_folder.STALE_LOCK_SECONDS` elsewhere.

    An unreadable lock (a holder killed between creating and filling it) is stale once its file
    is older than a minute: a live holder fills it within microseconds.
    """
    now = time.time() if now is None else now
    if holder is None:
        try:
            return now - path.stat().st_mtime > 60
        except FileNotFoundError:
            return True
    if holder["host"] == socket.gethostname():
        return not pid_alive(holder["pid"])
    return now - holder["started"] > rf.STALE_LOCK_SECONDS


def _create_lock(path: Path) -> bool:
    """Atomically create ``path`` holding :func:`lock_holder`; False if it exists already."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(lock_holder(), f)
    return True


def _holder_text(holder: dict[str, Any] | None) -> str:
    if holder is None:
        return "another process"
    return f"{holder['host']} pid {holder['pid']} since {holder.get('started_iso', holder['started'])}"


def acquire_lock(folder: Path) -> Path:
    """Take ``<folder>/run.lock`` for this process; break a stale one with a warning.

    Raises:
        TrainingError: a live process (on this host, or on another host within the timeout)
            holds the lock; the message names it.
    """
    path = folder / rf.LOCK
    for _ in range(3):
        if _create_lock(path):
            return path
        holder = read_lock(path)
        if not lock_is_stale(path, holder):
            raise TrainingError(
                f"run folder {folder} is in use by {_holder_text(holder)} ({path}); wait for it to finish, "
                "or delete the lock file if that process is gone"
            )
        warnings.warn(f"breaking the stale lock {path} of {_holder_text(holder)}", UserWarning, stacklevel=2)
        # Two breakers of one stale lock may both unlink; the O_EXCL create still lets one win.
        path.unlink(missing_ok=True)
    raise TrainingError(f"could not take the lock {path}: other processes keep taking it")


def release_lock(path: Path | None) -> None:
    """Remove the lock if this process still holds it (never someone else's)."""
    if path is None:
        return
    holder = read_lock(path)
    if holder is not None and holder["pid"] == os.getpid() and holder["host"] == socket.gethostname():
        path.unlink(missing_ok=True)


def prepare_run_dir(spec: RunSettings, info: DistInfo) -> tuple[str, Path | None]:
    """Rank 0 takes the folder's lock, then decides :func:`folder_action`; every rank gets the decision.

    Returns the action and the lock path (None on other ranks); the caller releases the lock
    with :func:`release_lock`. On a refusal the lock is released here.
    """
    action, lock = "fresh", None
    if info.is_main:
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            lock = acquire_lock(spec.run_dir)
        except TrainingError as err:
            action = str(err)
        else:
            remove_stray_temporaries(spec.run_dir)
            action = folder_action(spec)
    action = broadcast_object(action)
    if action not in ("skip", "resume", "fresh"):
        release_lock(lock)
        raise TrainingError(action)
    return action, lock


def checkpoint_state(state: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """Everything needed to continue after ``state.epoch`` (0-based, completed)."""
    return {
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "scaler": state.scaler.state_dict(),
        "epoch": state.epoch,
        "best_val_miou": state.best["val_miou"],
        "best_epoch": state.best["epoch"],
        "log": state.history["log"],
        "loss_iter_seconds": state.history["loss_iter_seconds"],
        "elapsed_seconds": state.history["elapsed_seconds"],
        "config": {k: config[k] for k in RESUME_KEYS},
        "rng": capture_rng_states(),
    }


def check_resumable(ckpt: Mapping[str, Any], config: Mapping[str, Any], path: Path) -> None:
    """Refuse to resume a checkpoint made with other settings (would silently mix two runs)."""
    saved = ckpt["config"]
    diff = [k for k in RESUME_KEYS if saved.get(k) != config[k]]
    if diff:
        detail = "; ".join(f"{k}: checkpoint {saved.get(k)!r} vs now {config[k]!r}" for k in diff)
        raise TrainingError(
            f"cannot resume {path}: settings differ ({detail}); use --overwrite to start again"
        )


def write_log(folder: Path, rows: list[dict[str, Any]]) -> None:
    """``log.csv``: one row per finished epoch, columns :data:`common.run_folder.LOG_COLUMNS`."""
    write_csv(folder / rf.LOG, rf.LOG_COLUMNS, rows)


def write_timing(folder: Path, history: Mapping[str, Any], device: torch.device) -> None:
    """``timing.json``: medians over epochs and iterations, peak memory, device."""
    memory, kind = peak_memory(device)
    epoch_seconds = [row["epoch_seconds"] for row in history["log"]]
    iters = history["loss_iter_seconds"]
    atomic_write_json(
        folder / rf.TIMING,
        {
            "epoch_seconds_median": statistics.median(epoch_seconds) if epoch_seconds else None,
            "loss_seconds_per_iter_median": statistics.median(iters) if iters else None,
            "peak_memory_bytes": memory,
            "memory_kind": kind,
            "device_name": device_name(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "total_seconds": history["elapsed_seconds"],
        },
    )


_WARNINGS = logging.getLogger("py.warnings")


def run_logger(folder: Path) -> logging.Logger:
    """A logger appending to ``<folder>/train.log`` (resumed runs append); Python warnings
    raised during the run go there too, and still to the console."""
    logger = logging.getLogger("segloss.run")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    close_logger(logger)
    handler = logging.FileHandler(folder / rf.TRAIN_LOG, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("%(message)s"))
    for h in (handler, console):
        _WARNINGS.addHandler(h)
    _WARNINGS.propagate = False
    logging.captureWarnings(True)
    return logger


def close_logger(logger: logging.Logger) -> None:
    """Detach and close the handlers of :func:`run_logger`; warnings go back to the console."""
    logging.captureWarnings(False)
    for log in (logger, _WARNINGS):
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def write_progress_plot(folder: Path, rows: list[dict[str, Any]], title: str) -> None:
    """``progress.png``: training loss and validation mIoU per epoch (two axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] + 1 for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(epochs, [r["train_loss"] for r in rows], color="tab:blue", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss", color="tab:blue")
    val = [
        (e, r["val_miou"])
        for e, r in zip(epochs, rows)
        if r["val_miou"] is not None and not math.isnan(r["val_miou"])
    ]
    if val:
        twin = ax.twinx()
        twin.plot(*zip(*val), "o-", color="tab:orange", label="val mIoU")
        twin.set_ylabel("validation mIoU", color="tab:orange")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(folder / rf.PROGRESS_PLOT, buf.getvalue())


class TensorBoardScalars:
    """``--tensorboard``: epoch scalars under ``<run>/tensorboard`` (needs the ``tensorboard`` package)."""

    def __init__(self, folder: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:  # torch raises ImportError naming the missing package
            raise TrainingError(
                "--tensorboard needs the tensorboard package: pip install tensorboard "
                f"(or pip install -e .[tensorboard]); {err}"
            ) from err
        self.writer = SummaryWriter(log_dir=str(folder / rf.TENSORBOARD))

    def add_epoch(self, row: Mapping[str, Any]) -> None:
        step = int(row["epoch"]) + 1
        for key in ("train_loss", "lr", "epoch_seconds", "loss_seconds"):
            self.writer.add_scalar(key, float(row[key]), step)
        if row["val_miou"] is not None and not math.isnan(row["val_miou"]):
            self.writer.add_scalar("val_miou", float(row["val_miou"]), step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
