"""What a run writes besides its results: train.log, progress.png, TensorBoard scalars, sums and plugins
trained end to end (docs/ARCHITECTURE.md §6)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import train
from common.run_folder import PROGRESS_PLOT, TENSORBOARD, TRAIN_LOG, RunId

DATASET = "synth-drive"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from data.prepare import main as prepare_main

    raw, out = tmp_path_factory.mktemp("raw"), tmp_path_factory.mktemp("processed")
    args = [
        "--dataset",
        DATASET,
        "--raw-root",
        str(raw),
        "--out-root",
        str(out),
        "--maps",
        "wce",
        "--no-progress",
    ]
    assert prepare_main(args) == 0
    return out


def run(data_root: Path, out: Path, loss: str, *extra: str) -> int:
    args = [
        "--loss",
        loss,
        "--dataset",
        DATASET,
        "--data-root",
        str(data_root),
        "--profile",
        "smoke",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-progress",
        "--epochs",
        "2",
        *extra,
    ]
    return train.main(args)


def test_train_log_progress_plot_and_tensorboard(data_root, tmp_path):
    pytest.importorskip("tensorboard")
    assert run(data_root, tmp_path, "ce", "--tensorboard") == 0
    folder = RunId(DATASET, "ce", 0, 0).folder(tmp_path)
    log = (folder / TRAIN_LOG).read_text()
    assert "epoch 1/2" in log and "epoch 2/2" in log and "best val mIoU" in log
    assert (folder / PROGRESS_PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events = list((folder / TENSORBOARD).glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_tensorboard_missing_is_a_clear_error(data_root, tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a)
    )
    with pytest.raises(SystemExit) as exit_info:
        run(data_root, tmp_path, "ce", "--tensorboard")
    assert exit_info.value.code != 0
    assert "pip install tensorboard" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing created


def test_a_weighted_sum_trains_into_its_canonical_run_folder(data_root, tmp_path):
    assert run(data_root, tmp_path, "dice + 0.5*wce") == 0
    folder = RunId(DATASET, "dice+0.5*wce", 0, 0).folder(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    assert config["run_name"] == "dice+0.5*wce" and config["loss"] == "dice + 0.5*wce"
    assert run(data_root, tmp_path, "1*dice+0.50*wce") == 0  # the same loss written otherwise: skipped
    rows = list(csv.DictReader((folder / "log.csv").open()))
    assert len(rows) == 2


def test_a_plugin_loss_trains_and_a_broken_one_is_refused(data_root, tmp_path, capsys):
    assert run(data_root, tmp_path, "tests.plugins.example:MyLoss") == 0
    assert (
        RunId(DATASET, "tests.plugins.example:MyLoss", 0, 0).folder(tmp_path) / "test_metrics.csv"
    ).is_file()
    with pytest.raises(SystemExit):
        run(data_root, tmp_path / "bad", "tests.plugins.example:no_gradient")
    assert "no gradient" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_list_losses_lists_every_loss_and_the_recipes(capsys):
    from losses import LOSSES

    assert train.main(["--list-losses"]) == 0
    out = capsys.readouterr().out
    assert all(f"\n{name}" in f"\n{out}" for name in LOSSES) and len(LOSSES) >= 19
    assert "cbdice+2*ce+dice" in out and "0.5*betti_matching+dice" in out


def test_channels_last_trains_to_the_same_metrics_up_to_float_order(data_root, tmp_path):
    import numpy as np

    assert run(data_root, tmp_path / "a", "ce") == 0
    assert run(data_root, tmp_path / "b", "ce", "--channels-last") == 0
    a, b = (
        list(csv.DictReader((RunId(DATASET, "ce", 0, 0).folder(tmp_path / k) / "log.csv").open()))
        for k in "ab"
    )
    assert np.allclose([float(r["train_loss"]) for r in a], [float(r["train_loss"]) for r in b], rtol=1e-3)
    config = json.loads((RunId(DATASET, "ce", 0, 0).folder(tmp_path / "b") / "config.json").read_text())
    assert config["channels_last"] is True
