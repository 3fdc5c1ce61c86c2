"""The inter-observer ("human") row: second observer scored against the first with compute_metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from evaluation.observer import INTER_OBSERVER, inter_observer_frame, second_observer_indices
from metrics import compute_metrics


def _save(path, mask):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(path)


@pytest.fixture()
def processed(tmp_path):
    """A 3-sample processed vessel set; samples 0 and 2 have a second observer."""
    root = tmp_path / "synth-stare"
    first = np.zeros((3, 8, 8), bool)
    first[:, 4, :] = True
    second = first.copy()
    second[2, 5, :4] = True  # 4 extra vessel pixels, 2 of them outside the FOV
    fov = np.ones((8, 8), bool)
    fov[5, :2] = False
    for i in range(3):
        _save(root / "masks" / f"{i:03d}.png", first[i])
        _save(root / "fov" / f"{i:03d}.png", fov)
    for i in (0, 2):
        _save(root / "masks2" / f"{i:03d}.png", second[i])
    meta = {"name": "synth-stare", "samples": [{"index": i, "id": f"im{i:04d}"} for i in range(3)]}
    (root / "metadata.json").write_text(json.dumps(meta))
    return root, first, second, fov


def test_rows_and_values(processed):
    root, first, second, fov = processed
    assert second_observer_indices(root) == [0, 2]
    frame = inter_observer_frame(root)
    assert frame["run"].tolist() == [INTER_OBSERVER] * 2 and frame["index"].tolist() == [0, 2]
    assert frame["id"].tolist() == ["im0000", "im0002"] and (frame["dataset"] == "synth-stare").all()
    assert frame.loc[0, "miou"] == 1.0 and frame.loc[0, "fov_acc"] == 1.0
    # sample 2: inside the FOV (62 px) 2 false vessel pixels; all 8 true vessel pixels found
    assert frame.loc[1, "fov_acc"] == pytest.approx(60 / 62)
    assert frame.loc[1, "fov_sens"] == 1.0 and frame.loc[1, "fov_spec"] == pytest.approx(52 / 54)
    expected = compute_metrics(second[2].astype(float), first[2], "drive", fov=fov)
    for key, value in expected.items():
        assert frame.loc[1, key] == pytest.approx(value, nan_ok=True)


def test_selected_indices_and_errors(processed, tmp_path):
    root = processed[0]
    assert inter_observer_frame(root, indices=[2])["index"].tolist() == [2]
    with pytest.raises(ValueError, match=r"indices \[1\]"):
        inter_observer_frame(root, indices=[1, 2])
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "metadata.json").write_text(json.dumps({"name": "synth-glas", "samples": []}))
    with pytest.raises(ValueError, match="no second-observer masks"):
        inter_observer_frame(tmp_path / "plain")
