"""Test the best checkpoint of a fold: ``predictions/NNN.png`` and ``test_metrics.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from common import run_folder as rf
from data.files import atomic_save_png
from metrics import compute_metrics

from .checkpoint import write_csv
from .errors import TrainingError
from .steps import predict_probability


def score_test_images(
    model: nn.Module, dataset, loader: DataLoader, family: str, spec, device, folder: Path
) -> list[dict]:
    """Predict every test image in split order, save its probability PNG, return its metric row."""
    model.eval()
    rows: list[dict[str, Any]] = []
    batches = tqdm(loader, desc="test", leave=False, disable=not spec.progress)
    for position, (image, target, extras) in enumerate(batches):  # in split order (shuffle=False)
        index = int(extras["index"][0])
        prob = predict_probability(model, image, device, spec.amp)
        atomic_save_png(rf.prediction_path(folder, index), np.round(255.0 * prob).astype(np.uint8))
        fov = extras["fov"][0].numpy() if "fov" in extras else None
        metrics = compute_metrics(
            prob, target[0].numpy(), family, fov=fov, instances=dataset.load_instances(position)
        )
        rows.append({"index": index, "id": dataset.sample_ids[position], **metrics})
    return rows


def write_test_outputs(
    model: nn.Module, dataset, loader: DataLoader, family: str, spec, device, folder: Path
) -> list[dict]:
    """Test the model on the fold's test images and write ``test_metrics.csv`` (one row per image)."""
    rows = score_test_images(model, dataset, loader, family, spec, device, folder)
    if not rows:
        raise TrainingError("the test split is empty")
    write_csv(folder / rf.TEST_METRICS, list(rows[0]), rows)
    return rows
