"""The run-folder contract, in one place (docs/ARCHITECTURE.md §6).

A run is one (data set, run name, seed, fold); its folder is
``<runs>/<dataset>/<run-name>/seed<S>/fold<k>/``. The run name is the loss name, plus
``+k1=v1,k2=v2`` (sorted keys) when the loss has keyword arguments, e.g.
``spw+use_prediction=False``. The trainer writes these folders, the benchmark runner plans
over them and the evaluator reads them; none of them spells a path or a file name itself.
A run is *finished* when ``timing.json`` and ``test_metrics.csv`` exist (the trainer writes
them last, atomically).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG = "config.json"
LOG = "log.csv"
TEST_METRICS = "test_metrics.csv"
TIMING = "timing.json"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
PREDICTIONS = "predictions"
TRAIN_LOG = "train.log"
PROGRESS_PLOT = "progress.png"
TENSORBOARD = "tensorboard"
#: One writer per run folder: the trainer holds this file (JSON: host, pid, start time) for the
#: whole run, created with O_CREAT|O_EXCL and removed when the run ends (training/run_files.py).
LOCK = "run.lock"
#: A lock held by a process on another host is taken as abandoned after this many seconds
#: (its pid cannot be probed from here); on the same host a dead pid breaks it at once.
#: 24 h is longer than any single fold of the paper profile on one GPU.
STALE_LOCK_SECONDS = 24 * 3600

#: The small files that describe a finished run; the evaluator copies them into results/.
SMALL_FILES: tuple[str, ...] = (CONFIG, TEST_METRICS, LOG, TIMING)
#: ``log.csv`` columns, one row per epoch (``val_miou`` is NaN on epochs that are not validated).
LOG_COLUMNS: tuple[str, ...] = ("epoch", "train_loss", "val_miou", "lr", "epoch_seconds", "loss_seconds")
#: Columns of ``test_metrics.csv`` before the metric columns.
TEST_KEY_COLUMNS: tuple[str, ...] = ("index", "id")

_SEED_DIR = re.compile(r"^seed(\d+)$")
_FOLD_DIR = re.compile(r"^fold(\d+)$")
_GLOB = "*/*/seed*/fold*"


class RunFolderError(ValueError):
    """A path that is not a run folder, or a run name that cannot be parsed."""


def run_name(loss: str, loss_kwargs: Mapping[str, Any] | None = None) -> str:
    """``loss`` or ``loss+k1=v1,k2=v2`` with sorted keys."""
    if not loss_kwargs:
        return loss
    return loss + "+" + ",".join(f"{k}={loss_kwargs[k]}" for k in sorted(loss_kwargs))


def split_run_name(name: str) -> tuple[str, dict[str, str]]:
    """``"spw+use_prediction=False"`` → ``("spw", {"use_prediction": "False"})`` (values stay strings).

    A weighted sum of losses (``"ce+0.5*dice"``, canonical form of ``losses.spec``) has no
    run-name keywords: it is returned whole, ``("ce+0.5*dice", {})``.

    Raises:
        RunFolderError: no loss before ``+``, or a ``+`` part that is not ``k=v`` pairs.
    """
    loss, sep, rest = name.partition("+")
    if not loss:
        raise RunFolderError(f"run name {name!r} has no loss name before '+'")
    kwargs: dict[str, str] = {}
    if sep and ("=" not in rest or any(c in name for c in "[]*") or "+" in rest):
        return name, {}
    if sep:
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            if not eq or not key or not value:
                raise RunFolderError(f"run name {name!r}: expected 'loss+k1=v1,k2=v2', got part {item!r}")
            kwargs[key] = value
    return loss, kwargs


@dataclass(frozen=True, order=True)
class RunId:
    """The identity of one run; :meth:`folder` is where it lives under a runs root."""

    dataset: str
    run_name: str
    seed: int
    fold: int

    def folder(self, root: str | Path) -> Path:
        """``<root>/<dataset>/<run-name>/seed<S>/fold<k>``."""
        return Path(root) / self.dataset / self.run_name / seed_fold(self.seed, self.fold)

    @classmethod
    def from_folder(cls, folder: str | Path) -> RunId:
        """Parse ``…/<dataset>/<run-name>/seed<S>/fold<k>`` back into its identity."""
        folder = Path(folder)
        fold = _FOLD_DIR.match(folder.name)
        seed = _SEED_DIR.match(folder.parent.name)
        if not fold or not seed or not folder.parent.parent.name or not folder.parents[2].name:
            raise RunFolderError(f"{folder}: expected <dataset>/<run-name>/seed<S>/fold<k>")
        return cls(folder.parents[2].name, folder.parent.parent.name, int(seed.group(1)), int(fold.group(1)))

    @property
    def loss(self) -> str:
        return split_run_name(self.run_name)[0]

    @property
    def loss_kwargs(self) -> dict[str, str]:
        return split_run_name(self.run_name)[1]

    def __str__(self) -> str:
        return f"{self.dataset}/{self.run_name}/{seed_fold(self.seed, self.fold)}"


def seed_fold(seed: int, fold: int) -> str:
    """``seed<S>/fold<k>``: the last two levels of a run folder."""
    return f"seed{seed}/fold{fold}"


def grid_log_path(folders: list[Path]) -> Path:
    """The benchmark grid's log of one launch: ``…/seed<S>/fold<k>.grid.log`` (``fold0-1-2`` for the
    three folds in one process). Beside the run folder, not in it: the trainer owns the folder (creates
    it, deletes it on --overwrite) and the log of a failed start must survive that."""
    folds = "-".join(Path(f).name.removeprefix("fold") for f in folders)
    return Path(folders[0]).parent / f"fold{folds}.grid.log"


def is_finished(folder: str | Path) -> bool:
    """Finished = ``timing.json`` and ``test_metrics.csv`` exist (written last, atomically)."""
    folder = Path(folder)
    return (folder / TIMING).is_file() and (folder / TEST_METRICS).is_file()


def prediction_path(folder: str | Path, index: int) -> Path:
    """``predictions/NNN.png`` of 0-based sample ``index``."""
    return Path(folder) / PREDICTIONS / f"{index:03d}.png"


def read_profile(folder: str | Path) -> str | None:
    """The ``profile`` recorded in the run's ``config.json``, or None if absent/unreadable."""
    try:
        value = json.loads((Path(folder) / CONFIG).read_text()).get("profile")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def iter_run_folders(root: str | Path) -> Iterator[tuple[RunId, Path]]:
    """Every ``<root>/<dataset>/<run-name>/seed<S>/fold<k>`` folder, sorted, with its identity."""
    for folder in sorted(Path(root).glob(_GLOB)):
        if not folder.is_dir():
            continue
        try:
            yield RunId.from_folder(folder), folder
        except RunFolderError:
            continue
