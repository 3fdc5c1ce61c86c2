"""Every flag of ``segloss-bench`` checked before anything is planned, prepared or written (issue 16).

Each check raises ``ValueError`` whose message names the flag and what was expected; the command
line turns it into ``run_benchmark: error: …`` and exit code 2. The trainer's own flags passed
through ``--train-args`` are checked by ``train.py --check`` (one call per data set, see
:func:`train_check_commands`), so the runner does not duplicate the trainer's rules.
"""

from __future__ import annotations

import argparse
import math
import shlex
from pathlib import Path

from common.names import did_you_mean

#: train.py flags the runner sets itself for every run; ``--train-args`` may not set them.
RUNNER_OWNED_TRAIN_FLAGS = (
    "--loss",
    "--loss-kwargs",
    "--dataset",
    "--data-root",
    "--profile",
    "--seed",
    "--fold",
    "--out",
    "--resume",
    "--overwrite",
    "--list-losses",
    "--check",
)


def check_arguments(args: argparse.Namespace) -> None:
    """The runner's own flags: names, ranges, paths and per-backend settings."""
    check_names_and_ranges(args)
    check_paths(args)
    check_backend_flags(args)
    train_args(args.train_args)


def check_names_and_ranges(args: argparse.Namespace) -> None:
    from data.registry import DATASETS

    for name in args.datasets:
        if name not in DATASETS:
            raise ValueError(did_you_mean("--datasets data set", name, DATASETS))
    bad_seeds = [s for s in args.seeds if not 0 <= s < 2**32]
    if bad_seeds:
        raise ValueError(f"--seeds must be in [0, 2**32), got {bad_seeds}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.retries < 0:
        raise ValueError(f"--retries must be >= 0, got {args.retries}")
    if args.cpus_per_run is not None and args.cpus_per_run < 1:
        raise ValueError(f"--cpus-per-run must be >= 1, got {args.cpus_per_run}")
    if not (math.isfinite(args.gpus_per_run) and args.gpus_per_run >= 0):
        raise ValueError(f"--gpus-per-run must be a number >= 0, got {args.gpus_per_run}")
    memory = args.memory_per_run
    if memory is not None and not (math.isfinite(memory) and memory > 0):
        raise ValueError(f"--memory-per-run must be a number of GB > 0, got {memory}")


def check_paths(args: argparse.Namespace) -> None:
    """Output folders must be folders (or absent); a raw root must hold what has to be prepared."""
    folders = [("--runs", args.runs), ("--results", args.results), ("--storage", args.storage)]
    folders += [("--slurm-folder", args.slurm_folder), ("--ray-tmp", args.ray_tmp)]
    for flag, path in folders:
        if path is not None and Path(path).exists() and not Path(path).is_dir():
            raise ValueError(f"{flag} {path} exists and is not a folder")
    if args.data_root.exists() and not args.data_root.is_dir():
        raise ValueError(f"--data-root {args.data_root} exists and is not a folder")
    check_raw_data(args.datasets, args.raw_root, args.data_root)


def check_raw_data(datasets: list[str], raw_root: Path, data_root: Path) -> None:
    """A real data set not yet prepared under ``data_root`` needs its raw folders under ``raw_root``."""
    from data.registry import DATASETS

    for name in datasets:
        record = DATASETS[name]
        if record.is_synthetic or (data_root / name / "metadata.json").is_file():
            continue  # a replica is written on demand; a prepared set only gains seeds or maps
        if not record.present(raw_root):
            raise ValueError(
                f"--raw-root {raw_root} holds none of {', '.join(record.raw_dirs)}, needed to prepare "
                f"{name!r} into --data-root {data_root} (see docs/DATASETS.md for the raw layout)"
            )


def check_backend_flags(args: argparse.Namespace) -> None:
    if args.slurm_time < 1:
        raise ValueError(f"--slurm-time must be >= 1 minute, got {args.slurm_time}")
    if args.slurm_partition is not None and not args.slurm_partition.strip():
        raise ValueError("--slurm-partition must not be empty (leave it out for the default partition)")
    if args.backend == "slurm" and args.gpus_per_run != int(args.gpus_per_run):
        raise ValueError(f"--gpus-per-run must be a whole number on --backend slurm, got {args.gpus_per_run}")


def train_args(text: str) -> list[str]:
    """``--train-args`` split as a shell would, without the flags the runner sets for every run."""
    try:
        words = shlex.split(text)
    except ValueError as err:
        raise ValueError(f"--train-args {text!r}: {err}") from None
    owned = sorted({w.split("=")[0] for w in words} & set(RUNNER_OWNED_TRAIN_FLAGS))
    if owned:
        raise ValueError(
            f"--train-args may not set {', '.join(owned)}: the runner sets them for each run "
            "(use --losses, --datasets, --seeds, --folds, --profile, --data-root, --storage, --overwrite)"
        )
    return words


def check_reference(reference: str | None, run_names: list[str], canonical) -> str | None:
    """``--reference`` must be one of the planned run names (eval.py ranks them against it)."""
    if reference is None:
        return None
    try:
        name = canonical(reference)
    except ValueError:
        name = reference
    if name not in run_names:
        raise ValueError(did_you_mean("--reference run name (one of --losses)", reference, run_names))
    return name
