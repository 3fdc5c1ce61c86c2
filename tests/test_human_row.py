"""The human row (evaluation/observer.py, issue 17 §5): the second observer beside every loss, on the
same test images; read back from the committed copy so that eval.py regenerates it without data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fake_runs import write_processed, write_run
from PIL import Image

from evaluation import evaluate
from evaluation.observer import (
    INTER_OBSERVER,
    OBSERVER_CSV,
    human_row_frame,
    human_row_markdown,
    observer_scores,
)


def observer_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run": INTER_OBSERVER,
            "dataset": "drive",
            "index": [0, 1],
            "id": ["01_test", "02_test"],
            "miou": [0.8, 0.6],
            "fov_acc": [0.95, 0.93],
        }
    )


def prediction_rows() -> pd.DataFrame:
    # ce: two seeds; image 2 has no second annotation and must not count
    rows = [
        ("drive", "ce", 0, 0, 0, 0.5, 0.90),
        ("drive", "ce", 0, 1, 1, 0.7, 0.92),
        ("drive", "ce", 0, 1, 2, 0.1, 0.10),
        ("drive", "ce", 1, 0, 0, 0.6, 0.91),
        ("drive", "spw", 0, 0, 0, 0.9, 0.96),
        ("isbi2012", "ce", 0, 0, 0, 0.3, float("nan")),
    ]
    return pd.DataFrame(rows, columns=["dataset", "run_name", "seed", "fold", "index", "miou", "fov_acc"])


def test_each_row_is_the_mean_over_the_images_the_observer_annotated():
    frame = human_row_frame(prediction_rows(), observer_rows()).set_index("row")
    assert list(frame.index) == [INTER_OBSERVER, "ce", "spw"]  # isbi2012 has no observer: no rows
    assert frame.loc[INTER_OBSERVER, "miou"] == pytest.approx(0.7)
    assert frame.loc["ce", "miou"] == pytest.approx((0.5 + 0.7 + 0.6) / 3)  # image 2 left out
    assert frame.loc["ce", "n_predictions"] == 3 and frame.loc["ce", "n_images"] == 2
    assert frame.loc["spw", "fov_acc"] == pytest.approx(0.96)


def test_markdown_puts_the_observer_first_with_the_row_labels():
    text = human_row_markdown(human_row_frame(prediction_rows(), observer_rows()))
    body = [line for line in text.splitlines() if line.startswith("| ") and "Row" not in line]
    assert body[0].startswith("| Inter-observer (2nd vs 1st) | 2 | 0.700 |")
    assert body[1].startswith("| CE | 3 | 0.600 |") and body[2].startswith("| SPW | 1 | 0.900 |")
    assert "## DRIVE: 2 test images with a second annotation" in text


def test_committed_scores_are_read_back_and_missing_vessel_data_is_noted(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    scores, notes = observer_scores(runs, tmp_path / "processed", ["drive", "isbi2012"])
    assert scores.empty and notes == [
        f"drive: inter-observer row skipped ({tmp_path / 'processed' / 'drive'} not found; "
        f"--data-root {tmp_path / 'processed'})"
    ]  # isbi2012 has no second observer: no note
    observer_rows().to_csv(runs / OBSERVER_CSV, index=False)
    scores, notes = observer_scores(runs, tmp_path / "processed", ["drive"])
    assert notes == [] and scores["miou"].tolist() == [0.8, 0.6]
    assert observer_scores(runs, tmp_path, ["stare"])[0].empty  # other data sets filtered out


def test_eval_writes_the_human_row_and_regenerates_it_without_the_data(tmp_path):
    runs, data = tmp_path / "runs", tmp_path / "processed"
    for fold, images in {0: [0, 1, 2], 1: [3, 4, 5]}.items():
        write_run(runs, "drive", "ce", 0, fold, {"miou": [0.5, 0.6, 0.7]}, images)
    folder = write_processed(data, "drive", 6)
    (folder / "masks2").mkdir()
    for i in (0, 3):  # the second observer annotated two images: one agrees, one misses a row
        mask = np.asarray(Image.open(folder / "masks" / f"{i:03d}.png")).copy()
        mask[2] = 0 if i == 3 else mask[2]
        Image.fromarray(mask).save(folder / "masks2" / f"{i:03d}.png")
    meta = json.loads((folder / "metadata.json").read_text())
    meta["samples"] = [{"id": f"{i:02d}_test"} for i in range(6)]
    (folder / "metadata.json").write_text(json.dumps(meta))
    evaluate(runs, tmp_path / "a", data_root=data, n_boot=50)
    table = pd.read_csv(tmp_path / "a" / "human_row.csv").set_index("row")
    assert table.loc["ce", "miou"] == pytest.approx((0.5 + 0.5) / 2)  # images 0 and 3 (first of each fold)
    assert table.loc[INTER_OBSERVER, "n_images"] == 2 and table.loc[INTER_OBSERVER, "mdice"] < 1.0
    empty = tmp_path / "empty"
    empty.mkdir()
    evaluate(tmp_path / "a" / "runs", tmp_path / "b", data_root=empty, n_boot=50)
    for name in ("human_row.csv", "human_row.md", f"runs/{OBSERVER_CSV}"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_a_committed_copy_does_not_hide_a_data_set_it_lacks(tmp_path):
    # the copy was written when only DRIVE had runs; STARE's row must still come from --data-root
    runs, data = tmp_path / "runs", tmp_path / "processed"
    runs.mkdir()
    observer_rows().to_csv(runs / OBSERVER_CSV, index=False)
    folder = write_processed(data, "stare", 3)
    (folder / "masks2").mkdir()
    mask = np.asarray(Image.open(folder / "masks" / "001.png"))
    Image.fromarray(mask).save(folder / "masks2" / "001.png")  # agrees with the first observer
    meta = json.loads((folder / "metadata.json").read_text())
    meta["samples"] = [{"id": f"im{i:04d}"} for i in range(3)]
    (folder / "metadata.json").write_text(json.dumps(meta))
    scores, notes = observer_scores(runs, data, ["drive", "stare"])
    assert notes == [] and sorted(set(scores["dataset"])) == ["drive", "stare"]
    assert scores[scores["dataset"] == "drive"]["miou"].tolist() == [0.8, 0.6]  # from the copy
    stare = scores[scores["dataset"] == "stare"]
    assert stare["index"].tolist() == [1] and stare["miou"].tolist() == [pytest.approx(1.0)]
