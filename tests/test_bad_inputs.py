"""Bad input to ``data/prepare.py``, ``train.py``, ``eval.py`` and the benchmark runner, run as a user would (issue 16).

Every case runs the command in a subprocess inside its own copy of a tiny prepared set
(synth-drive, 3 samples, no maps) and one finished smoke run, and asserts the three
properties of the issue: a non-zero exit, no Python traceback, a message naming the flag or
file at fault — and that nothing under the case's folder was created, changed or removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DS = "synth-drive"
DRIVE = Path("raw/synthetic/DRIVE/Drive_source")
PROC = Path("proc") / DS
RUN = Path("runs") / DS / "ce" / "seed0" / "fold0"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}


def command(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """raw/ (synthetic replica), proc/synth-drive (processed) and runs/ (one finished smoke run)."""
    root = tmp_path_factory.mktemp("bad_inputs")
    done = command(
        "data/prepare.py",
        "--dataset",
        DS,
        "--maps",
        "none",
        "--synth-samples",
        "3",
        "--raw-root",
        "raw",
        "--out-root",
        "proc",
        "--no-progress",
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    done = command("train.py", *TRAIN, cwd=root)
    assert done.returncode == 0, done.stderr
    return root


def listing(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with (size, mtime, mode): any write, removal or chmod shows."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        is_file = path.is_file()  # a folder's mtime moves when a lock comes and goes: not a write
        out[str(path.relative_to(root))] = (
            st.st_size if is_file else 0,
            st.st_mtime_ns if is_file else 0,
            st.st_mode,
        )
    return out


# ----------------------------------------------------------------------------- mutations


def write(rel: str | Path, data: bytes) -> Callable[[Path], None]:
    return lambda root: (root / rel).write_bytes(data)


def truncate(rel: str | Path, keep: float = 0.5) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = (root / rel).read_bytes()
        (root / rel).write_bytes(data[: int(len(data) * keep)])

    return apply


def remove(rel: str | Path) -> Callable[[Path], None]:
    return lambda root: (root / rel).unlink()


def save_image(rel: str | Path, array: np.ndarray, mode: str | None = None) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        Image.fromarray(array, mode=mode).save(root / rel)

    return apply


def edit_json(rel: str | Path, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        data = json.loads((root / rel).read_text())
        change(data)
        (root / rel).write_text(json.dumps(data))

    return apply


def claim_wce_map(array: np.ndarray | None, data: bytes | None = None) -> Callable[[Path], None]:
    """metadata.json records a ``wce`` map; maps/wce/000.npy is ``array`` (or raw ``data``), others valid."""

    def apply(root: Path) -> None:
        meta = json.loads((root / PROC / "metadata.json").read_text())
        meta["maps"]["wce"] = {"seconds": 0.0}
        (root / PROC / "metadata.json").write_text(json.dumps(meta))
        folder = root / PROC / "maps" / "wce"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(meta["num_samples"]):
            np.save(folder / f"{i:03d}.npy", np.ones(meta["padded_size"], np.float32))
        if array is not None:
            np.save(folder / "000.npy", array)
        if data is not None:
            (folder / "000.npy").write_bytes(data)

    return apply


def unfinished_run(then: Callable[[Path], None]) -> Callable[[Path], None]:
    """Make the smoke run unfinished (resumable), then apply ``then`` to it."""

    def apply(root: Path) -> None:
        for name in ("timing.json", "test_metrics.csv"):
            (root / RUN / name).unlink()
        then(root)

    return apply


def chain(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda root: [step(root) for step in steps]


# ----------------------------------------------------------------------------- the cases

PREP = (
    "--raw-root",
    "raw",
    "--out-root",
    "newproc",
    "--maps",
    "none",
    "--no-progress",
    "--synth-samples",
    "3",
)
PREP_OLD = ("--raw-root", "raw", "--out-root", "proc", "--no-progress")
TRAIN = (
    "--loss",
    "ce",
    "--dataset",
    DS,
    "--data-root",
    "proc",
    "--profile",
    "smoke",
    "--out",
    "runs",
    "--no-progress",
    "--device",
    "cpu",
)
EVAL = ("--runs", "runs", "--out", "res", "--data-root", "proc")
SIZE = (160, 160)


@dataclass(frozen=True)
class Case:
    id: str
    script: str
    args: tuple[str, ...]
    expect: tuple[str, ...]  # every one must appear in stderr
    mutate: Callable[[Path], None] | None = None
    skip: str | None = None


def _root_skip() -> str | None:
    return (
        "running as root: permissions do not stop reads"
        if hasattr(os, "geteuid") and os.geteuid() == 0
        else None
    )


def _cuda_skip() -> str | None:
    import torch

    return "CUDA is available here: --device cuda is valid" if torch.cuda.is_available() else None


def _tensorboard_skip() -> str | None:
    import importlib.util

    return "tensorboard is installed" if importlib.util.find_spec("tensorboard") else None


BENCH = (
    "--profile",
    "smoke",
    "--datasets",
    DS,
    "--losses",
    "dice",
    "--seeds",
    "0",
    "--folds",
    "0",
    "--raw-root",
    "raw",
    "--data-root",
    "proc",
    "--runs",
    "runs",
    "--results",
    "res",
)
A_FILE = "proc/synth-drive/metadata.json"
P, T, E, R = "data/prepare.py", "train.py", "eval.py", "scripts/run_benchmark.py"
CASES = [
    # data/prepare.py: flags
    Case("prep-unknown-dataset", P, ("--dataset", "synth-drve", *PREP), ("synth-drve", "synth-drive")),
    Case("prep-no-dataset", P, PREP, ("--dataset",)),
    Case("prep-synth-samples-0", P, ("--dataset", DS, *PREP, "--synth-samples", "0"), ("--synth-samples",)),
    Case(
        "prep-synth-samples-neg", P, ("--dataset", DS, *PREP, "--synth-samples", "-2"), ("--synth-samples",)
    ),
    Case("prep-seed-neg", P, ("--dataset", DS, "--seed", "-1", *PREP), ("--seed",)),
    Case("prep-seed-text", P, ("--dataset", DS, "--seed", "one", *PREP), ("--seed",)),
    Case("prep-synth-seed-neg", P, ("--dataset", DS, "--synth-seed", "-1", *PREP), ("--synth-seed",)),
    Case("prep-workers-0", P, ("--dataset", DS, "--workers", "0", *PREP), ("--workers",)),
    Case(
        "prep-unknown-map",
        P,
        ("--dataset", DS, "--raw-root", "raw", "--out-root", "newproc", "--maps", "wcee"),
        ("--maps", "wcee"),
    ),
    Case(
        "prep-raw-root-empty",
        P,
        (
            "--dataset",
            "drive",
            "--raw-root",
            "proc",
            "--out-root",
            "newproc",
            "--maps",
            "none",
            "--overwrite",
        ),
        ("--raw-root",),
    ),
    Case(
        "prep-out-root-file",
        P,
        (
            "--dataset",
            DS,
            "--synth-samples",
            "3",
            "--raw-root",
            "raw",
            "--out-root",
            "proc/synth-drive/metadata.json",
            "--maps",
            "none",
        ),
        ("metadata.json",),
    ),
    # data/prepare.py: processed layout of an existing output
    Case(
        "prep-metadata-corrupt",
        P,
        ("--dataset", DS, "--seed", "5", *PREP_OLD),
        ("metadata.json",),
        truncate(PROC / "metadata.json"),
    ),
    Case(
        "prep-splits-corrupt",
        P,
        ("--dataset", DS, "--seed", "5", *PREP_OLD),
        ("splits.json",),
        write(PROC / "splits.json", b'{"splits": '),
    ),
    Case(
        "prep-splits-range",
        P,
        ("--dataset", DS, "--seed", "5", *PREP_OLD),
        ("splits.json", "[0, 3)"),
        edit_json(PROC / "splits.json", lambda d: d["splits"]["0"][0]["test"].append(99)),
    ),
    Case(
        "prep-mask-truncated",
        P,
        ("--dataset", DS, "--maps", "wce", *PREP_OLD),
        ("masks/000.png",),
        truncate(PROC / "masks/000.png", 0.3),
    ),
    # data/prepare.py: raw layout
    Case(
        "raw-image-truncated",
        P,
        ("--dataset", DS, *PREP),
        ("01_test.tif",),
        truncate(DRIVE / "test/images/01_test.tif"),
    ),
    Case(
        "raw-image-empty",
        P,
        ("--dataset", DS, *PREP),
        ("01_test.tif",),
        write(DRIVE / "test/images/01_test.tif", b""),
    ),
    Case(
        "raw-manual-missing",
        P,
        ("--dataset", DS, *PREP),
        ("01_manual1.gif",),
        remove(DRIVE / "test/1st_manual/01_manual1.gif"),
    ),
    Case(
        "raw-fov-missing",
        P,
        ("--dataset", DS, *PREP),
        ("02_training",),
        remove(DRIVE / "training/mask/02_training_mask.gif"),
    ),
    Case(
        "raw-manual-wrong-size",
        P,
        ("--dataset", DS, *PREP),
        ("01_manual1.gif",),
        save_image(DRIVE / "test/1st_manual/01_manual1.gif", np.zeros((20, 30), np.uint8)),
    ),
    Case(
        "raw-manual-values",
        P,
        ("--dataset", DS, *PREP),
        ("01_manual1.gif",),
        save_image(
            DRIVE / "test/1st_manual/01_manual1.gif", np.tile(np.arange(160, dtype=np.uint8), (160, 1))
        ),
    ),
    Case(
        "raw-image-gray-dtype",
        P,
        ("--dataset", DS, *PREP),
        ("01_test.tif",),
        save_image(DRIVE / "test/images/01_test.tif", np.zeros((160, 160), np.uint16)),
    ),
    Case(
        "raw-marker-corrupt",
        P,
        ("--dataset", DS, *PREP),
        ("synth-drive.json",),
        write(Path("raw/synthetic/synth-drive.json"), b"{not json"),
    ),
    Case(
        "raw-image-unreadable",
        P,
        ("--dataset", DS, *PREP),
        ("01_test.tif",),
        lambda r: os.chmod(r / DRIVE / "test/images/01_test.tif", 0),
        skip=_root_skip(),
    ),
    # train.py: flags
    Case("train-crop-divisibility", T, (*TRAIN, "--crop", "50"), ("--crop", "16")),
    Case("train-crop-too-large", T, (*TRAIN, "--crop", "320"), ("--crop", "160x160")),
    Case("train-crop-three", T, (*TRAIN, "--crop", "16", "16", "16"), ("--crop",)),
    Case("train-seed-neg", T, (*TRAIN, "--seed", "-1"), ("--seed",)),
    Case("train-device-unknown", T, (*TRAIN, "--device", "gpu0"), ("--device", "gpu0")),
    Case("train-device-no-cuda", T, (*TRAIN, "--device", "cuda"), ("--device", "CUDA"), skip=_cuda_skip()),
    Case("train-workers-neg", T, (*TRAIN, "--workers", "-1"), ("--workers",)),
    Case("train-epochs-0", T, (*TRAIN, "--epochs", "0"), ("--epochs",)),
    Case("train-batch-0", T, (*TRAIN, "--batch-size", "0"), ("--batch-size",)),
    Case("train-lr-nan", T, (*TRAIN, "--lr", "nan"), ("--lr",)),
    Case("train-lr-inf", T, (*TRAIN, "--lr", "inf", "--amp", "--deterministic"), ("--lr",)),
    Case("train-width-0", T, (*TRAIN, "--width", "0"), ("--width",)),
    Case("train-unknown-loss", T, ("--loss", "dcie", *TRAIN[2:]), ("dcie", "dice")),
    Case("train-loss-kwarg", T, (*TRAIN, "--loss-kwargs", "gama=1"), ("--loss-kwargs", "gama")),
    Case("train-unknown-dataset", T, (*TRAIN, "--dataset", "synth-drvie"), ("synth-drvie",)),
    Case("train-fold-7", T, (*TRAIN, "--fold", "7"), ("--fold",)),
    Case("train-profile", T, (*TRAIN, "--profile", "fast"), ("--profile",)),
    Case("train-data-root-missing", T, (*TRAIN, "--data-root", "nowhere"), ("nowhere", "data/prepare.py")),
    Case("train-out-file", T, (*TRAIN, "--out", "proc/synth-drive/metadata.json"), ("--out",)),
    Case("train-channels-last-value", T, (*TRAIN, "--channels-last=yes"), ("--channels-last",)),
    Case("train-list-losses-value", T, ("--list-losses=all",), ("--list-losses",)),
    Case("train-check-value", T, (*TRAIN, "--check=1"), ("--check",)),
    Case("train-loss-bad-sum", T, ("--loss", "ce+-1*dice", *TRAIN[2:]), ("ce+-1*dice",)),
    Case(
        "train-loss-broken-plugin",
        T,
        ("--loss", "tests.plugins.example:no_gradient", *TRAIN[2:]),
        ("no gradient",),
    ),
    Case(
        "train-tensorboard-missing",
        T,
        (*TRAIN, "--tensorboard"),
        ("--tensorboard",),
        skip=_tensorboard_skip(),
    ),
    # train.py: checkpoint under --resume
    Case(
        "train-resume-truncated",
        T,
        (*TRAIN, "--resume"),
        ("last.pt", "--overwrite"),
        unfinished_run(truncate(RUN / "last.pt")),
    ),
    Case(
        "train-resume-empty",
        T,
        (*TRAIN, "--resume"),
        ("last.pt", "--overwrite"),
        unfinished_run(write(RUN / "last.pt", b"")),
    ),
    Case(
        "train-resume-not-ckpt",
        T,
        (*TRAIN, "--resume"),
        ("last.pt", "--overwrite"),
        unfinished_run(lambda r: __import__("torch").save([1, 2], r / RUN / "last.pt")),
    ),
    # train.py: processed layout
    Case(
        "train-splits-corrupt", T, (*TRAIN, "--overwrite"), ("splits.json",), truncate(PROC / "splits.json")
    ),
    Case(
        "train-metadata-corrupt",
        T,
        (*TRAIN, "--overwrite"),
        ("metadata.json",),
        write(PROC / "metadata.json", b""),
    ),
    Case(
        "train-metadata-channels",
        T,
        (*TRAIN, "--overwrite"),
        ("metadata.json", "channels"),
        edit_json(PROC / "metadata.json", lambda d: d.update(channels=2)),
    ),
    Case(
        "train-metadata-weight",
        T,
        (*TRAIN, "--overwrite"),
        ("metadata.json", "class_weight"),
        edit_json(PROC / "metadata.json", lambda d: d["samples"][1].update(class_weight=[1.0, float("nan")])),
    ),
    Case(
        "train-image-truncated",
        T,
        (*TRAIN, "--overwrite"),
        ("images/002.png",),
        truncate(PROC / "images/002.png"),
    ),
    Case(
        "train-image-empty",
        T,
        (*TRAIN, "--overwrite"),
        ("images/001.png",),
        write(PROC / "images/001.png", b""),
    ),
    Case(
        "train-image-gray",
        T,
        (*TRAIN, "--overwrite"),
        ("images/000.png", "shape"),
        save_image(PROC / "images/000.png", np.zeros(SIZE, np.uint8)),
    ),
    Case(
        "train-image-dtype",
        T,
        (*TRAIN, "--overwrite"),
        ("images/000.png", "uint8"),
        save_image(PROC / "images/000.png", np.zeros(SIZE, np.uint16)),
    ),
    Case(
        "train-mask-values",
        T,
        (*TRAIN, "--overwrite"),
        ("masks/001.png", "0 and 255"),
        save_image(PROC / "masks/001.png", np.full(SIZE, 7, np.uint8)),
    ),
    Case(
        "train-mask-size",
        T,
        (*TRAIN, "--overwrite"),
        ("masks/000.png", "shape"),
        save_image(PROC / "masks/000.png", np.zeros((160, 144), np.uint8)),
    ),
    Case(
        "train-fov-missing",
        T,
        (*TRAIN, "--overwrite"),
        ("fov/002.png", "missing"),
        remove(PROC / "fov/002.png"),
    ),
    Case(
        "train-map-dtype",
        T,
        ("--loss", "wce", *TRAIN[2:], "--overwrite"),
        ("maps/wce/000.npy", "float32"),
        claim_wce_map(np.ones(SIZE, np.float64)),
    ),
    Case(
        "train-map-shape",
        T,
        ("--loss", "wce", *TRAIN[2:], "--overwrite"),
        ("maps/wce/000.npy", "shape"),
        claim_wce_map(np.ones((1, *SIZE), np.float32)),
    ),
    Case(
        "train-map-truncated",
        T,
        ("--loss", "wce", *TRAIN[2:], "--overwrite"),
        ("maps/wce/000.npy",),
        claim_wce_map(
            None,
            data=b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (160, 160), }"
            + b" " * 49
            + b"\n"
            + b"\0" * 100,
        ),
    ),
    Case(
        "train-image-unreadable",
        T,
        (*TRAIN, "--overwrite"),
        ("images/000.png",),
        lambda r: os.chmod(r / PROC / "images/000.png", 0),
        skip=_root_skip(),
    ),
    # eval.py: flags
    Case("eval-runs-missing", E, ("--runs", "nowhere", "--out", "res"), ("--runs", "nowhere")),
    Case("eval-unknown-dataset", E, (*EVAL, "--datasets", "synth-drvie"), ("--datasets", "synth-drive")),
    Case("eval-unknown-loss", E, (*EVAL, "--losses", "spww"), ("--losses", "spw")),
    Case("eval-bad-run-name", E, (*EVAL, "--losses", "spw+gamma"), ("--losses", "spw+gamma")),
    Case("eval-profile", E, (*EVAL, "--profile", "fast"), ("--profile",)),
    Case("eval-images-0", E, (*EVAL, "--images", "0"), ("--images",)),
    Case("eval-out-exists", E, ("--runs", "runs", "--out", "proc", "--name", "x"), ("proc", "--overwrite")),
    Case("eval-reference-unknown", E, (*EVAL, "--reference", "spww"), ("--reference", "spww")),
    Case(
        "eval-also-reference-unknown", E, (*EVAL, "--also-reference", "cee"), ("--also-reference cee", "ce")
    ),
    Case("eval-compare-unknown", E, (*EVAL, "--compare", "ce", "nope"), ("--compare", "nope")),
    Case("eval-correction", E, (*EVAL, "--correction", "bonferoni"), ("--correction",)),
    Case("eval-n-boot-0", E, (*EVAL, "--n-boot", "0"), ("--n-boot",)),
    Case("eval-boot-seed-neg", E, (*EVAL, "--boot-seed", "-1"), ("--boot-seed",)),
    Case("eval-mixed-model-value", E, (*EVAL, "--mixed-model=yes"), ("--mixed-model",)),
    Case("eval-bench-missing", E, (*EVAL, "--bench-csv", "bench.csv"), ("--bench-csv", "bench.csv")),
    Case("eval-bench-columns", E, (*EVAL, "--bench-csv", "proc/synth-drive/metadata.json"), ("--bench-csv",)),
    Case(
        "eval-data-root-missing",
        E,
        ("--runs", "runs", "--out", "res", "--data-root", "nowhere"),
        ("--data-root",),
    ),
    # eval.py: run folder files
    Case(
        "eval-metrics-empty",
        E,
        (*EVAL, "--overwrite"),
        ("test_metrics.csv",),
        write(RUN / "test_metrics.csv", b""),
    ),
    Case(
        "eval-metrics-columns",
        E,
        (*EVAL,),
        ("test_metrics.csv", "columns"),
        write(RUN / "test_metrics.csv", b"index,id\n0,a\n"),
    ),
    Case("eval-config-corrupt", E, (*EVAL,), ("config.json",), truncate(RUN / "config.json")),
    Case("eval-timing-corrupt", E, (*EVAL,), ("timing.json",), write(RUN / "timing.json", b"[1, 2]")),
    Case("eval-log-missing", E, (*EVAL,), ("log.csv",), remove(RUN / "log.csv")),
    # scripts/run_benchmark.py (segloss-bench): flags
    Case("bench-unknown-dataset", R, (*BENCH, "--datasets", "synth-drve"), ("--datasets", "synth-drive")),
    Case("bench-unknown-loss", R, (*BENCH, "--losses", "dicee"), ("--losses", "dice")),
    Case("bench-bad-sum", R, (*BENCH, "--losses", "ce+*dice"), ("--losses",)),
    Case("bench-seed-neg", R, (*BENCH, "--seeds", "-1"), ("--seeds",)),
    Case("bench-seed-text", R, (*BENCH, "--seeds", "x"), ("--seeds",)),
    Case("bench-fold-3", R, (*BENCH, "--folds", "3"), ("--folds",)),
    Case("bench-profile", R, (*BENCH, "--profile", "fast"), ("--profile",)),
    Case("bench-workers-0", R, (*BENCH, "--workers", "0"), ("--workers",)),
    Case("bench-retries-neg", R, (*BENCH, "--retries", "-1"), ("--retries",)),
    Case("bench-cpus-0", R, (*BENCH, "--cpus-per-run", "0"), ("--cpus-per-run",)),
    Case("bench-gpus-neg", R, (*BENCH, "--gpus-per-run", "-1"), ("--gpus-per-run",)),
    Case(
        "bench-gpus-fraction-slurm",
        R,
        (*BENCH, "--backend", "slurm", "--gpus-per-run", "0.5"),
        ("--gpus-per-run",),
    ),
    Case("bench-memory-0", R, (*BENCH, "--memory-per-run", "0"), ("--memory-per-run",)),
    Case("bench-memory-text", R, (*BENCH, "--memory-per-run", "lots"), ("--memory-per-run",)),
    Case("bench-backend", R, (*BENCH, "--backend", "mpi"), ("--backend",)),
    Case("bench-slurm-cluster", R, (*BENCH, "--slurm-cluster", "pbs"), ("--slurm-cluster",)),
    Case("bench-slurm-time-0", R, (*BENCH, "--slurm-time", "0"), ("--slurm-time",)),
    Case("bench-slurm-partition-empty", R, (*BENCH, "--slurm-partition", " "), ("--slurm-partition",)),
    Case("bench-slurm-folder-file", R, (*BENCH, "--slurm-folder", A_FILE), ("--slurm-folder", A_FILE)),
    Case("bench-ray-tmp-file", R, (*BENCH, "--ray-tmp", A_FILE), ("--ray-tmp", A_FILE)),
    Case(
        "bench-address-closed",
        R,
        (*BENCH, "--backend", "ray", "--address", "127.0.0.1:1"),
        ("--address", "127.0.0.1:1"),
    ),
    Case("bench-address-form", R, (*BENCH, "--backend", "ray", "--address", "nowhere"), ("--address",)),
    Case("bench-train-args-quote", R, (*BENCH, "--train-args", '"--crop'), ("--train-args",)),
    Case("bench-train-args-owned", R, (*BENCH, "--train-args", "--seed 3"), ("--train-args", "--seed")),
    Case("bench-train-args-crop", R, (*BENCH, "--train-args", "--crop 100"), ("--train-args", "--crop")),
    Case("bench-train-args-unknown", R, (*BENCH, "--train-args=--bogus 1"), ("--train-args", "--bogus")),
    Case("bench-reference", R, (*BENCH, "--reference", "dicee"), ("--reference", "dice")),
    Case(
        "bench-raw-root-empty",
        R,
        (*BENCH, "--datasets", "drive", "--raw-root", "nowhere", "--data-root", "newproc"),
        ("--raw-root", "DRIVE"),
    ),
    Case("bench-data-root-file", R, (*BENCH, "--data-root", A_FILE), ("--data-root",)),
    Case("bench-runs-file", R, (*BENCH, "--runs", A_FILE), ("--runs", A_FILE)),
    Case("bench-results-file", R, (*BENCH, "--results", A_FILE), ("--results", A_FILE)),
    Case("bench-storage-file", R, (*BENCH, "--storage", A_FILE), ("--storage", A_FILE)),
    Case("bench-dry-run-value", R, (*BENCH, "--dry-run=1"), ("--dry-run",)),
    Case("bench-bench-value", R, (*BENCH, "--bench=yes"), ("--bench",)),
    Case("bench-no-eval-value", R, (*BENCH, "--no-eval=1"), ("--no-eval",)),
    Case("bench-overwrite-value", R, (*BENCH, "--overwrite=1"), ("--overwrite",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, base: Path, tmp_path: Path):
    if case.skip:
        pytest.skip(case.skip)
    root = tmp_path / "case"
    shutil.copytree(base, root, symlinks=True)
    if case.mutate is not None:
        case.mutate(root)
    before = listing(root)
    try:
        done = command(case.script, *case.args, cwd=root)
        after = listing(root)
    finally:
        for path in root.rglob("*"):  # undo chmod 0 so pytest can clean up
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)
    message = f"{case.script} {' '.join(case.args)}\nstdout: {done.stdout}\nstderr: {done.stderr}"
    assert done.returncode != 0, message
    assert "Traceback" not in done.stderr, message
    for text in case.expect:
        assert text in done.stderr, f"{text!r} not named\n{message}"
    assert after == before, f"written: {sorted(set(after.items()) ^ set(before.items()))}\n{message}"


def test_enough_cases_cover_every_flag():
    """Issue 16 asks for at least 40 cases and every flag of the four commands (from their usage line)."""
    assert len(CASES) >= 40
    flags = {a.split("=")[0] for c in CASES for a in c.args if a.startswith("--")}
    for script in (P, T, E, R):
        usage = command(script, "--help", cwd=REPO).stdout.split("\n\n")[0]
        named = set(re.findall(r"\[?(--[a-z][a-z-]*)", usage)) - {"--help"}
        assert named, f"{script}: no flags found in its usage line"
        assert named <= flags, f"{script}: flags without a bad-input case: {sorted(named - flags)}"
