"""train.py end to end on the synthetic DRIVE replica (smoke profile, seconds per run).

Every registered loss trains through the real ``train.main`` path; a run killed with
SIGKILL mid-training and resumed equals an uninterrupted one; the same seed gives the
same run; two gloo processes under torchrun train like one process; CLI errors speak.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import train
from losses import LOSSES, SegLoss
from training.checkpoint import load_checkpoint
from training.loop import LOG_FIELDS

REPO = Path(__file__).resolve().parents[1]
DATASET = "synth-drive"
TIMING_KEYS = {
    "epoch_seconds_median",
    "loss_seconds_per_iter_median",
    "peak_memory_bytes",
    "memory_kind",
    "device_name",
    "torch",
    "threads",
    "total_seconds",
}
CHECKPOINT_KEYS = {"model", "optimizer", "scheduler", "scaler", "epoch", "best_val_miou", "rng"}


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """synth-drive prepared once per session, with every weight map, by data/prepare.py."""
    from data.prepare import main as prepare_main

    raw = tmp_path_factory.mktemp("raw")
    out = tmp_path_factory.mktemp("processed")
    assert (
        prepare_main(["--dataset", DATASET, "--raw-root", str(raw), "--out-root", str(out), "--no-progress"])
        == 0
    )
    return out


def smoke_args(data_root: Path, out: Path, loss: str = "ce", *extra: str) -> list[str]:
    return [
        "--loss",
        loss,
        "--dataset",
        DATASET,
        "--data-root",
        str(data_root),
        "--out",
        str(out),
        "--profile",
        "smoke",
        "--device",
        "cpu",
        "--no-progress",
        *extra,
    ]


def run_folder(out: Path, name: str = "ce", seed: int = 0, fold: int = 0) -> Path:
    return out / DATASET / name / f"seed{seed}" / f"fold{fold}"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_cases(data_root: Path, fold: int = 0) -> list[int]:
    return json.loads((data_root / DATASET / "splits.json").read_text())["splits"]["0"][fold]["test"]


test_cases.__test__ = False  # a helper, not a test


def assert_complete_run(folder: Path, data_root: Path, loss: str) -> None:
    """Every file of docs/ARCHITECTURE.md §6 with the contract's content."""
    config = json.loads((folder / "config.json").read_text())
    assert config["loss"] == loss and config["dataset"] == DATASET and config["profile"] == "smoke"
    for key in (
        "loss_kwargs",
        "run_name",
        "recipe",
        "fold",
        "seed",
        "split_seed",
        "device",
        "amp",
        "versions",
        "git_commit",
        "command",
    ):
        assert key in config, key
    rows = read_csv(folder / "log.csv")
    assert list(rows[0]) == list(LOG_FIELDS) and len(rows) == config["recipe"]["epochs"]
    for row in rows:
        assert np.isfinite(float(row["train_loss"])) and 0.0 <= float(row["val_miou"]) <= 1.0
        assert 0.0 < float(row["loss_seconds"]) <= float(row["epoch_seconds"])
    for name in ("last.pt", "best.pt"):
        assert CHECKPOINT_KEYS <= set(load_checkpoint(folder / name))
    tests = test_cases(data_root)
    metrics = read_csv(folder / "test_metrics.csv")
    assert [int(r["index"]) for r in metrics] == tests
    assert {"index", "id", "miou", "mdice", "vi", "vi_split", "vi_merge", "ari", "mhd"} <= set(metrics[0])
    preds = sorted(p.name for p in (folder / "predictions").iterdir())
    assert preds == [f"{i:03d}.png" for i in sorted(tests)]
    png = np.asarray(Image.open(folder / "predictions" / preds[0]))
    assert png.dtype == np.uint8 and png.shape == (160, 160)
    timing = json.loads((folder / "timing.json").read_text())
    assert set(timing) == TIMING_KEYS and timing["memory_kind"] == "rss" and timing["peak_memory_bytes"] > 0
    assert not [p for p in folder.rglob("*.tmp")]


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_smoke_run_for_every_loss(loss, data_root, tmp_path):
    assert train.main(smoke_args(data_root, tmp_path, loss)) == 0
    assert_complete_run(run_folder(tmp_path, loss), data_root, loss)


def test_predictions_and_metrics_come_from_the_best_checkpoint(data_root, tmp_path):
    """Re-evaluating best.pt in a fresh model reproduces predictions/ and test_metrics.csv."""
    assert train.main(smoke_args(data_root, tmp_path, "bce", "--epochs", "2")) == 0  # alias of balanced_ce
    folder = run_folder(tmp_path, "balanced_ce")
    got = evaluate_checkpoint(folder / "best.pt", data_root)
    rows = read_csv(folder / "test_metrics.csv")
    for row in rows:
        index = int(row["index"])
        saved = np.asarray(Image.open(folder / "predictions" / f"{index:03d}.png"))
        np.testing.assert_array_equal(saved, np.round(255.0 * got[index]["prob"]).astype(np.uint8))
        assert float(row["miou"]) == pytest.approx(got[index]["miou"], abs=1e-9)


def evaluate_checkpoint(path: Path, data_root: Path, fold: int = 0) -> dict[int, dict]:
    """Single-process evaluation of a checkpoint on the fold's test images."""
    from data.datasets import SegmentationDataset
    from metrics import compute_metrics
    from models import UNet

    ckpt = load_checkpoint(path)
    ds = SegmentationDataset(data_root / DATASET, "test", fold, seed=0)
    model = UNet(in_channels=3, width=ckpt["model"]["head.weight"].shape[1]).eval()
    model.load_state_dict(ckpt["model"])
    out = {}
    for k in range(len(ds)):
        image, target, extras = ds[k]
        with torch.no_grad():
            prob = torch.softmax(model(image[None]), dim=1)[0, 1].numpy()
        fov = extras["fov"].numpy() if "fov" in extras else None
        index = int(extras["index"])
        out[index] = {"prob": prob, **compute_metrics(prob, target.numpy(), "drive", fov=fov)}
    return out


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def assert_same_run(a: Path, b: Path) -> None:
    for name in ("last.pt", "best.pt"):
        wa, wb = weights(a / name), weights(b / name)
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    assert read_csv(a / "test_metrics.csv") == read_csv(b / "test_metrics.csv")
    keep = ("epoch", "train_loss", "val_miou", "lr")
    assert [[r[k] for k in keep] for r in read_csv(a / "log.csv")] == [
        [r[k] for k in keep] for r in read_csv(b / "log.csv")
    ]


def test_same_seed_same_run_any_workers_other_seed_other_weights(data_root, tmp_path):
    args = ("--epochs", "1", "--deterministic")
    assert train.main(smoke_args(data_root, tmp_path / "a", "ce", *args)) == 0
    assert train.main(smoke_args(data_root, tmp_path / "b", "ce", *args)) == 0
    assert_same_run(run_folder(tmp_path / "a"), run_folder(tmp_path / "b"))
    # Augmentation is seeded per (seed, epoch, sample), so a worker process changes nothing.
    assert train.main(smoke_args(data_root, tmp_path / "w", "ce", *args, "--workers", "1")) == 0
    assert_same_run(run_folder(tmp_path / "a"), run_folder(tmp_path / "w"))
    assert train.main(smoke_args(data_root, tmp_path / "c", "ce", *args, "--seed", "1")) == 0
    wa, wc = (
        weights(run_folder(tmp_path / "a") / "last.pt"),
        weights(run_folder(tmp_path / "c", seed=1) / "last.pt"),
    )
    assert not torch.equal(wa["head.weight"], wc["head.weight"])


def test_resume_after_sigkill_equals_an_uninterrupted_run(data_root, tmp_path):
    args = ("--epochs", "3", "--deterministic", "--width", "8")
    # In a subprocess that is killed with SIGKILL as soon as epoch 0's checkpoint lands,
    # i.e. while epoch 1 trains.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as in this process (one_torch_thread in conftest)
    cmd = [sys.executable, str(REPO / "train.py"), *smoke_args(data_root, tmp_path / "killed", "ce", *args)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed = run_folder(tmp_path / "killed")
    deadline = time.monotonic() + 120
    while not (killed / "last.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert not (killed / "timing.json").exists()
    assert load_checkpoint(killed / "last.pt")["epoch"] < 2

    # Without --resume the unfinished run is refused, with it the run continues.
    assert train.main(smoke_args(data_root, tmp_path / "killed", "ce", *args)) == 1
    assert train.main(smoke_args(data_root, tmp_path / "killed", "ce", *args, "--resume")) == 0
    assert train.main(smoke_args(data_root, tmp_path / "whole", "ce", *args)) == 0
    assert_same_run(killed, run_folder(tmp_path / "whole"))


def test_finished_runs_are_skipped_and_fold_all_runs_the_rest(data_root, tmp_path, capsys):
    assert train.main(smoke_args(data_root, tmp_path, "ce")) == 0
    timing = run_folder(tmp_path) / "timing.json"
    stamp = timing.stat().st_mtime_ns
    assert train.main(smoke_args(data_root, tmp_path, "ce", "--fold", "all")) == 0
    assert timing.stat().st_mtime_ns == stamp
    assert "skipping" in capsys.readouterr().out
    for fold in (1, 2):
        assert (run_folder(tmp_path, fold=fold) / "test_metrics.csv").is_file()
    assert train.main(smoke_args(data_root, tmp_path, "ce", "--overwrite")) == 0
    assert timing.stat().st_mtime_ns != stamp


def test_loss_kwargs_name_the_run_and_reach_the_loss(data_root, tmp_path):
    assert train.main(smoke_args(data_root, tmp_path, "focal", "--loss-kwargs", "gamma=3")) == 0
    folder = run_folder(tmp_path, "focal+gamma=3.0")
    config = json.loads((folder / "config.json").read_text())
    assert config["loss_kwargs"] == {"gamma": 3.0} and config["run_name"] == "focal+gamma=3.0"


def test_torchrun_two_gloo_processes_train_like_one_process(data_root, tmp_path):
    # Same global batch (2) split 1 + 1 over two gloo processes. The step itself is shown equal
    # in test_distributed.py; over a run Adam turns float noise in gradients that are zero in
    # exact arithmetic into lr-sized steps, so the losses agree to ~1e-4, not bit for bit.
    args = ("ce", "--epochs", "2")
    assert train.main(smoke_args(data_root, tmp_path / "one", *args)) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(REPO / "train.py"),
        *smoke_args(data_root, tmp_path / "two", *args),
    ]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    one, two = run_folder(tmp_path / "one"), run_folder(tmp_path / "two")
    assert json.loads((two / "config.json").read_text())["world_size"] == 2
    assert done.stdout.count("best val mIoU") == 1  # rank 0 prints, rank 1 does not
    for row_one, row_two in zip(read_csv(one / "log.csv"), read_csv(two / "log.csv"), strict=True):
        assert float(row_two["train_loss"]) == pytest.approx(float(row_one["train_loss"]), rel=1e-3)
        assert float(row_two["val_miou"]) == pytest.approx(float(row_one["val_miou"]), abs=1e-3)
    for row_one, row_two in zip(
        read_csv(one / "test_metrics.csv"), read_csv(two / "test_metrics.csv"), strict=True
    ):
        for key in ("miou", "mdice", "vi", "ari"):
            assert float(row_two[key]) == pytest.approx(float(row_one[key]), abs=1e-3)
    # rank 0 evaluated the checkpoint it wrote
    got = evaluate_checkpoint(two / "best.pt", data_root)
    for row in read_csv(two / "test_metrics.csv"):
        assert float(row["miou"]) == pytest.approx(got[int(row["index"])]["miou"], rel=1e-6, abs=1e-9)


# ---------------------------------------------------------------------------------- errors


def test_unknown_loss_suggests_the_nearest(data_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(smoke_args(data_root, tmp_path, "dic"))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown loss 'dic'" in err and "Did you mean 'dice'?" in err


def test_unknown_loss_kwarg_lists_accepted_keys(data_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(smoke_args(data_root, tmp_path, "tversky", "--loss-kwargs", "gama=1"))
    assert exc.value.code == 2
    assert "accepted keys: alpha, beta" in capsys.readouterr().err


def test_missing_data_set_names_the_prepare_command(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train.main(smoke_args(tmp_path / "empty", tmp_path, "ce"))
    assert exc.value.code == 2
    assert f"python data/prepare.py --dataset {DATASET} --out-root" in capsys.readouterr().err


def test_amp_on_cpu_warns_and_runs_in_float32(data_root, tmp_path):
    with pytest.warns(UserWarning, match="--amp needs a CUDA device"):
        assert train.main(smoke_args(data_root, tmp_path, "ce", "--amp")) == 0
    assert json.loads((run_folder(tmp_path) / "config.json").read_text())["amp"] is False


class _NaNLoss(SegLoss):
    """A loss that is NaN from the first step: the run must stop and say where."""

    def compute(self, logits, target, maps):
        return logits.mean() * float("nan")


def test_nan_loss_stops_the_run_naming_epoch_and_iteration(data_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(LOSSES, "nan", _NaNLoss)
    assert train.main(smoke_args(data_root, tmp_path, "nan")) == 1
    assert "non-finite loss nan at epoch 0, iteration 0" in capsys.readouterr().err
    assert not (run_folder(tmp_path, "nan") / "last.pt").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_amp_run(data_root, tmp_path):
    args = [a if a != "cpu" else "cuda" for a in smoke_args(data_root, tmp_path, "spw", "--amp")]
    assert train.main(args) == 0
    timing = json.loads((run_folder(tmp_path, "spw") / "timing.json").read_text())
    assert timing["memory_kind"] == "cuda"
