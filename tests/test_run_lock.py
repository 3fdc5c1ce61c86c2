"""One writer per run folder (issue 16): ``run.lock`` taken by the trainer for the whole run.

Two ``train.py`` processes on one run: the second refuses, naming the holder, and writes
nothing; a stale lock (dead pid on this host, or older than ``STALE_LOCK_SECONDS`` from
another host) is broken with a warning; the lock is released when the run ends.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common import run_folder as rf
from training.errors import TrainingError
from training.run_files import acquire_lock, lock_is_stale, read_lock, release_lock

REPO = Path(__file__).resolve().parents[1]
DS = "synth-drive"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def dead_pid() -> int:
    """The pid of a process that has exited (reaped), so it names no live process."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


def write_lock(folder: Path, host: str, pid: int, started: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / rf.LOCK
    path.write_text(json.dumps({"host": host, "pid": pid, "started": started}))
    return path


def test_lock_is_exclusive_and_released(tmp_path):
    path = acquire_lock(tmp_path)
    holder = read_lock(path)
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    with pytest.raises(TrainingError, match=f"pid {os.getpid()}"):
        acquire_lock(tmp_path)  # held by a live process (this one)
    release_lock(path)
    assert not path.exists()


def test_release_leaves_another_holders_lock(tmp_path):
    path = write_lock(tmp_path, socket.gethostname(), os.getppid(), time.time())
    release_lock(path)
    assert path.exists()


def test_stale_rules(tmp_path):
    here, now = socket.gethostname(), time.time()
    assert lock_is_stale(tmp_path, {"host": here, "pid": dead_pid(), "started": now}, now)
    assert not lock_is_stale(tmp_path, {"host": here, "pid": os.getppid(), "started": now - 10**7}, now)
    other = "not-" + here
    assert not lock_is_stale(
        tmp_path, {"host": other, "pid": 1, "started": now - rf.STALE_LOCK_SECONDS + 60}, now
    )
    assert lock_is_stale(
        tmp_path, {"host": other, "pid": 1, "started": now - rf.STALE_LOCK_SECONDS - 60}, now
    )


def test_stale_lock_of_dead_pid_is_broken_with_a_warning(tmp_path):
    write_lock(tmp_path, socket.gethostname(), dead_pid(), time.time())
    with pytest.warns(UserWarning, match="stale lock"):
        path = acquire_lock(tmp_path)
    assert read_lock(path)["pid"] == os.getpid()
    release_lock(path)


def test_old_lock_from_another_host_is_broken(tmp_path):
    write_lock(tmp_path, "elsewhere.example", 1, time.time() - rf.STALE_LOCK_SECONDS - 1)
    with pytest.warns(UserWarning, match="elsewhere.example"):
        release_lock(acquire_lock(tmp_path))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lock")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "data/prepare.py"),
            "--dataset",
            DS,
            "--maps",
            "none",
            "--synth-samples",
            "3",
            "--raw-root",
            str(root / "raw"),
            "--out-root",
            str(root / "proc"),
            "--no-progress",
        ],
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return root / "proc"


def train_cmd(data_root: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(REPO / "train.py"),
        "--loss",
        "ce",
        "--dataset",
        DS,
        "--data-root",
        str(data_root),
        "--profile",
        "smoke",
        "--out",
        str(out),
        "--no-progress",
        "--device",
        "cpu",
        *extra,
    ]


def test_second_trainer_on_the_same_run_refuses(data_root, tmp_path):
    """Process A trains (held in its run by a 40-epoch smoke recipe, longer than B's start-up on a fast
    machine); B, started on the same run once A holds the lock, refuses."""
    out = tmp_path / "runs"
    folder = rf.RunId(DS, "ce", 0, 0).folder(out)
    first = subprocess.Popen(
        train_cmd(data_root, out, "--epochs", "40"),
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not (folder / rf.LOCK).exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert (folder / rf.LOCK).exists(), "the first trainer never took the lock"
    before = sorted(p.name for p in folder.iterdir())
    second = subprocess.run(
        train_cmd(data_root, out, "--epochs", "3", "--overwrite"),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out_a, err_a = first.communicate(timeout=900)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert f"pid {first.pid}" in second.stderr and "in use" in second.stderr, second.stderr
    assert set(before) - {rf.LOCK} <= {p.name for p in folder.iterdir()}  # B's --overwrite deleted nothing
    assert first.returncode == 0, err_a
    assert rf.is_finished(folder) and not (folder / rf.LOCK).exists()  # A finished and released


def test_trainer_breaks_a_stale_lock_and_finishes(data_root, tmp_path):
    out = tmp_path / "runs"
    folder = rf.RunId(DS, "ce", 0, 0).folder(out)
    write_lock(folder, socket.gethostname(), dead_pid(), time.time())
    done = subprocess.run(train_cmd(data_root, out), env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "stale lock" in done.stderr
    assert rf.is_finished(folder) and not (folder / rf.LOCK).exists()
