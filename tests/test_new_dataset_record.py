"""Adding a data set = one record + its reader: prepare, the trainer and the evaluator pick a new
record up with no other change (docs/ARCHITECTURE.md §1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import eval as eval_cli
import train
from data import registry
from data.prepare import main as prepare_main
from data.processing import ProcessedSample, centred_padding, pad
from data.raw import MissingRawDataError, RawSample, Source

NAME = "toy-discs"


def read_toy(base: Path) -> list[RawSample]:
    """Reader of a made-up layout: ``<base>/TOY/NN.npy`` gray images with a disc mask beside them."""
    top = base / "TOY"
    if not top.is_dir():
        raise MissingRawDataError(top, "TOY folder")
    out = []
    for path in sorted(top.glob("*_image.npy")):
        sid = path.name.removesuffix("_image.npy")
        label = top / f"{sid}_label.npy"
        out.append(
            RawSample(
                sid, np.load(path), np.load(label), sources=(Source("image", path), Source("mask", label))
            )
        )
    return out


def process_toy(sid: str, image: np.ndarray, label: np.ndarray, fov) -> ProcessedSample:
    padding = centred_padding(image.shape[:2])
    return ProcessedSample(
        sid,
        pad(image, padding, "edge"),
        pad(label, padding, "constant") > 0,
        None,
        None,
        tuple(image.shape[:2]),
        padding,
    )


def write_raw(root: Path, n: int = 6) -> None:
    top = root / "TOY"
    top.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:40, :40]
    for i in range(n):
        cy, cx, r = rng.integers(12, 28, 2).tolist() + [int(rng.integers(5, 10))]
        label = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)
        image = np.clip(60 + 120 * label + rng.normal(0, 20, label.shape), 0, 255).astype(np.uint8)
        np.save(top / f"{i:02d}_image.npy", image)
        np.save(top / f"{i:02d}_label.npy", label)


@pytest.fixture
def toy_record(monkeypatch):
    """The registry with one more record for the duration of a test (every module sees the one dict)."""
    record = registry.DatasetRecord(
        NAME,
        "Toy discs",
        raw_dirs=("TOY",),
        read=read_toy,
        process_sample=process_toy,
        class1="disc",
        channels=1,
        train_crop=None,
        has_fov=False,
        has_instances=False,
        family="em",
        download="tests/test_new_dataset_record.py",
    )
    monkeypatch.setitem(registry.DATASETS, NAME, record)
    return record


def test_register_refuses_a_duplicate_name_and_an_unknown_family(toy_record):
    with pytest.raises(ValueError, match="registered already"):
        registry.register(toy_record)
    with pytest.raises(ValueError, match="family must be one of"):
        registry.register(
            registry.DatasetRecord(**{**toy_record.__dict__, "name": "other", "family": "nope"})
        )


@pytest.mark.slow
def test_prepare_train_and_evaluate_a_new_record(toy_record, tmp_path, capsys):
    raw, processed, runs, results = (
        tmp_path / "raw",
        tmp_path / "processed",
        tmp_path / "runs",
        tmp_path / "res",
    )
    write_raw(raw)
    assert (
        prepare_main(
            [
                "--dataset",
                NAME,
                "--raw-root",
                str(raw),
                "--out-root",
                str(processed),
                "--maps",
                "none",
                "--no-progress",
            ]
        )
        == 0
    )
    metadata = json.loads((processed / NAME / "metadata.json").read_text())
    assert metadata["num_samples"] == 6 and metadata["family"] == "em" and metadata["padded_size"] == [64, 64]

    args = [
        "--loss",
        "ce",
        "--dataset",
        NAME,
        "--data-root",
        str(processed),
        "--profile",
        "smoke",
        "--out",
        str(runs),
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert train.main(args) == 0
    folder = runs / NAME / "ce" / "seed0" / "fold0"
    assert (folder / "test_metrics.csv").is_file() and (folder / "train.log").is_file()
    assert "are_snemi" in (folder / "test_metrics.csv").read_text().splitlines()[0]  # the record's family

    assert eval_cli.main(["--runs", str(runs), "--out", str(results), "--data-root", str(processed)]) == 0
    table = (results / "table1.md").read_text()
    assert "Toy discs" in table
