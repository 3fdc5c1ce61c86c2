"""Fabricated finished runs and processed data sets for the evaluator's and the runner's tests.

Only files of the contracts in docs/ARCHITECTURE.md §2 and §6 are written; nothing is trained.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from evaluation.naming import ALWAYS_METRICS


def write_run(
    runs: Path,
    dataset: str,
    run_name: str,
    seed: int,
    fold: int,
    values: dict[str, list[float]],
    indices: list[int] | None = None,
    epochs: int = 3,
    epoch_seconds: float = 1.0,
    peak_bytes: int = 2**20,
    size: tuple[int, int] = (8, 8),
    extra: dict[str, list[float]] | None = None,
) -> Path:
    """A finished run folder; metrics not in ``values`` get 0.0; predictions are all-zero PNGs of ``size``."""
    n = len(next(iter(values.values())))
    indices = list(range(n)) if indices is None else indices
    folder = runs / dataset / run_name / f"seed{seed}" / f"fold{fold}"
    (folder / "predictions").mkdir(parents=True)
    loss = run_name.split("+")[0]
    (folder / "config.json").write_text(
        json.dumps(
            {
                "dataset": dataset,
                "loss": loss,
                "run_name": run_name,
                "profile": "smoke",
                "fold": fold,
                "seed": seed,
            }
        )
    )
    lines = ["epoch,train_loss,val_miou,lr,epoch_seconds,loss_seconds"]
    lines += [f"{e},{1.0 / (e + 1)},{0.5 + 0.1 * e},0.001,{epoch_seconds},0.1" for e in range(epochs)]
    (folder / "log.csv").write_text("\n".join(lines) + "\n")
    cols = {m: values.get(m, [0.0] * n) for m in ALWAYS_METRICS} | (extra or {})
    header = ["index", "id", *cols]
    rows = [
        ",".join([str(i), f"s{i:02d}", *(repr(float(cols[c][k])) for c in cols)])
        for k, i in enumerate(indices)
    ]
    (folder / "test_metrics.csv").write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    for i in indices:
        Image.fromarray(np.zeros(size, np.uint8)).save(folder / "predictions" / f"{i:03d}.png")
    (folder / "timing.json").write_text(
        json.dumps(
            {
                "epoch_seconds_median": epoch_seconds,
                "loss_seconds_per_iter_median": 0.01,
                "peak_memory_bytes": peak_bytes,
                "memory_kind": "rss",
                "device_name": "cpu",
                "torch": "2.x",
                "threads": 2,
                "total_seconds": 3.0,
            }
        )
    )
    return folder


def write_processed(
    root: Path, dataset: str, n: int, size: tuple[int, int] = (8, 8), maps: dict | None = None
) -> Path:
    """A minimal processed data set: gray images, masks with a class-1 square, metadata.json."""
    folder = root / dataset
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i in range(n):
        Image.fromarray(np.full(size, 40 * (i % 5), np.uint8)).save(folder / "images" / f"{i:03d}.png")
        mask = np.zeros(size, np.uint8)
        mask[2:5, 2:5] = 255
        Image.fromarray(mask).save(folder / "masks" / f"{i:03d}.png")
    (folder / "metadata.json").write_text(json.dumps({"name": dataset, "num_samples": n, "maps": maps or {}}))
    return folder
