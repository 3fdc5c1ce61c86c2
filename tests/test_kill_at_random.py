"""SIGKILL ``data/prepare.py``, ``train.py`` and ``eval.py`` at seeded random times (issue 16).

After each kill the output folder must be absent, complete or (a run) resumable, and the same
command run again must succeed and leave a complete output (with no staging leftovers).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from common import run_folder as rf

REPO = Path(__file__).resolve().parents[1]
DS = "synth-drive"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
TRIALS = 3
RNG = random.Random(16)
#: Kill delays (seconds after start): spread over import time and the work itself.
DELAYS = {
    name: [RNG.uniform(0.5, hi) for _ in range(TRIALS)]
    for name, hi in (("prepare", 3.0), ("train", 8.0), ("eval", 8.0))
}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300
    )


def kill_after(args: list[str], cwd: Path, delay: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def prepare_args(root: Path) -> list[str]:
    return [
        str(REPO / "data/prepare.py"),
        "--dataset",
        DS,
        "--maps",
        "wce",
        "--synth-samples",
        "3",
        "--raw-root",
        str(root / "raw"),
        "--out-root",
        str(root / "proc"),
        "--no-progress",
        "--workers",
        "1",
    ]


def prepared_complete(folder: Path) -> bool:
    return (folder / "metadata.json").is_file() and all(
        (folder / sub / f"{i:03d}.{ext}").is_file()
        for i in range(3)
        for sub, ext in (("images", "png"), ("masks", "png"), ("maps/wce", "npy"))
    )


def no_staging_leftovers(parent: Path) -> bool:
    return not [p for p in parent.glob(".*") if p.name.endswith((".tmp", ".old"))]


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
def test_prepare_killed(tmp_path, trial):
    kill_after(prepare_args(tmp_path), tmp_path, DELAYS["prepare"][trial])
    out = tmp_path / "proc" / DS
    assert not out.exists() or prepared_complete(out)
    done = run(prepare_args(tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert prepared_complete(out) and no_staging_leftovers(out.parent)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kill")
    done = run(prepare_args(root), root)
    assert done.returncode == 0, done.stderr
    return root / "proc"


def train_args(data_root: Path, out: Path) -> list[str]:
    return [
        str(REPO / "train.py"),
        "--loss",
        "ce",
        "--dataset",
        DS,
        "--data-root",
        str(data_root),
        "--profile",
        "smoke",
        "--epochs",
        "3",
        "--out",
        str(out),
        "--no-progress",
        "--device",
        "cpu",
        "--resume",
    ]


def run_state(folder: Path) -> str:
    if not folder.exists():
        return "absent"
    if rf.is_finished(folder):
        return "complete"
    if (folder / rf.LAST_CHECKPOINT).is_file():
        return "resumable"
    return "fresh"  # folder without a checkpoint: the next run starts it from epoch 0


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
def test_train_killed(prepared, tmp_path, trial):
    out = tmp_path / "runs"
    folder = rf.RunId(DS, "ce", 0, 0).folder(out)
    kill_after(train_args(prepared, out), tmp_path, DELAYS["train"][trial])
    state = run_state(folder)
    assert state in ("absent", "complete", "resumable", "fresh")
    if state == "resumable":
        import torch

        torch.load(folder / rf.LAST_CHECKPOINT, weights_only=True)  # a whole checkpoint, never half
    done = run(train_args(prepared, out), tmp_path)
    assert done.returncode == 0, done.stderr
    assert rf.is_finished(folder) and not (folder / rf.LOCK).exists()
    assert not list(folder.glob(".*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
def test_eval_killed(prepared, tmp_path, trial):
    runs = tmp_path / "runs"
    done = run(train_args(prepared, runs), tmp_path)
    assert done.returncode == 0, done.stderr
    args = [
        str(REPO / "eval.py"),
        "--runs",
        str(runs),
        "--out",
        str(tmp_path / "res"),
        "--data-root",
        str(prepared),
    ]
    kill_after(args, tmp_path, DELAYS["eval"][trial])
    res = tmp_path / "res"
    assert not res.exists() or (res / "manifest.json").is_file()
    if res.exists():
        args.append("--overwrite")
    done = run(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (res / "manifest.json").is_file() and no_staging_leftovers(tmp_path)
