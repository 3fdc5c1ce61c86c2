"""The "human row": the second observer scored against the first (inter-observer agreement).

DRIVE (test images), CHASE_DB1 and STARE ship a second manual annotation; ``data/prepare.py``
writes it to ``masks2/NNN.png`` beside the first observer's ``masks/NNN.png`` (docs/ARCHITECTURE.md
§2). Scoring it with the same :func:`metrics.compute_metrics` as the models' predictions (its
binary mask as the probability map, the first observer as ground truth, the FOV where the set
has one) shows how close the losses come to human variation (issue 17, item 5; Staal et al.,
IEEE TMI 2004 report the DRIVE second observer the same way).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from data.registry import get_dataset

from .naming import dataset_label, order_datasets, order_rows, row_label
from .render import fmt, markdown_table

#: Row label of the inter-observer frame (the ``run`` column), as tables print it.
INTER_OBSERVER = "inter-observer"


def _read_mask(path: Path) -> np.ndarray:
    """A processed 0/255 PNG as bool (H, W)."""
    with Image.open(path) as im:
        return np.asarray(im) > 127


def second_observer_indices(root: Path) -> list[int]:
    """Sample indices of a processed data set that have a ``masks2/NNN.png`` (sorted)."""
    folder = Path(root) / "masks2"
    if not folder.is_dir():
        return []
    return sorted(int(p.stem) for p in folder.glob("[0-9][0-9][0-9].png"))


def inter_observer_frame(root: str | Path, indices=None) -> pd.DataFrame:
    """Per-image metrics of the second observer against the first, one row per image.

    Args:
        root: processed data set folder (``<out-root>/<name>/``); its ``metadata.json`` names the set.
        indices: sample indices to score (e.g. a fold's test split); default every sample with a
            second annotation.

    Returns:
        DataFrame with columns ``run`` (= ``"inter-observer"``), ``dataset``, ``index``, ``id``, then
        every key :func:`metrics.compute_metrics` returns for the data set.

    Raises:
        ValueError: the folder has no second-observer masks, or an asked index has none.
    """
    from metrics import compute_metrics

    root = Path(root)
    meta = json.loads((root / "metadata.json").read_text(encoding="utf-8"))
    have = second_observer_indices(root)
    if not have:
        raise ValueError(
            f"{root} has no second-observer masks (masks2/); only DRIVE, CHASE_DB1 and STARE have them"
        )
    wanted = have if indices is None else [int(i) for i in indices]
    missing = sorted(set(wanted) - set(have))
    if missing:
        raise ValueError(f"{root}: no second-observer mask for sample indices {missing[:10]}")
    rows = []
    for i in wanted:
        name = f"{i:03d}.png"
        fov_path = root / "fov" / name
        fov = _read_mask(fov_path) if fov_path.is_file() else None
        second = _read_mask(root / "masks2" / name).astype(np.float64)
        scores = compute_metrics(
            second, _read_mask(root / "masks" / name), get_dataset(meta["name"]).family, fov=fov
        )
        rows.append(
            {
                "run": INTER_OBSERVER,
                "dataset": meta["name"],
                "index": i,
                "id": meta["samples"][i]["id"],
                **scores,
            }
        )
    return pd.DataFrame(rows)


#: Per-image inter-observer scores, written beside the run files (``<out>/runs/``) so that
#: ``eval.py --runs <out>/runs`` regenerates the human row without the processed data.
OBSERVER_CSV = "inter_observer.csv"
#: Columns of the human-row table: the paper's four, then the vessel family's FOV and topology metrics.
HUMAN_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("miou", "mIoU", 3),
    ("mdice", "mDice", 3),
    ("vi", "VI", 2),
    ("ari", "ARI", 3),
    ("fov_acc", "Acc (FOV)", 4),
    ("fov_sens", "Sens (FOV)", 4),
    ("fov_spec", "Spec (FOV)", 4),
    ("cldice", "clDice", 3),
    ("betti0_err", "Betti-0 err", 1),
    ("betti1_err", "Betti-1 err", 1),
)


def observer_scores(runs_root: Path, data_root: Path, datasets) -> tuple[pd.DataFrame, list[str]]:
    """Per-image inter-observer rows of ``datasets``, and notes on the sets that have none.

    A data set found in ``runs_root/inter_observer.csv`` (a committed copy) is taken from it; every
    other one is computed from its processed set under ``data_root`` when that has ``masks2/``. So a
    copy written before a data set had runs does not hide that data set's row.
    """
    frames, notes, copied = [], [], set()
    committed = Path(runs_root) / OBSERVER_CSV
    if committed.is_file():
        frame = pd.read_csv(committed)
        frame = frame[frame["dataset"].isin(list(datasets))]
        copied = set(frame["dataset"])
        frames.append(frame)
    for dataset in [d for d in datasets if d not in copied]:
        root = Path(data_root) / dataset
        if second_observer_indices(root):
            frames.append(inter_observer_frame(root))
        elif get_dataset(dataset).family == "drive" and not root.is_dir():  # the vessel sets have observers
            notes.append(f"{dataset}: inter-observer row skipped ({root} not found; --data-root {data_root})")
    frames = [f for f in frames if not f.empty]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), notes


def human_row_frame(images: pd.DataFrame, observer: pd.DataFrame) -> pd.DataFrame:
    """Per data set: the second observer and every run name, on the images that have a second annotation.

    Each run name's value is the mean over its runs' predictions of those test images (every seed,
    every fold whose test split holds one); the observer's is the mean over the same images.

    Returns:
        DataFrame with ``dataset, row, n_images, n_predictions`` and one column per metric of
        :data:`HUMAN_COLUMNS` present in both frames.
    """
    keys = [k for k, _, _ in HUMAN_COLUMNS if k in observer.columns and k in images.columns]
    rows = []
    for dataset, human in observer.groupby("dataset", sort=False):
        wanted = set(human["index"])
        preds = images[(images["dataset"] == dataset) & images["index"].isin(wanted)]
        rows.append(
            {
                "dataset": dataset,
                "row": INTER_OBSERVER,
                "n_images": len(human),
                "n_predictions": len(human),
                **human[keys].mean().to_dict(),
            }
        )
        for run_name, group in preds.groupby("run_name", sort=False):
            rows.append(
                {
                    "dataset": dataset,
                    "row": run_name,
                    "n_images": group["index"].nunique(),
                    "n_predictions": len(group),
                    **group[keys].apply(pd.to_numeric).mean().to_dict(),
                }
            )
    return pd.DataFrame(rows)


def human_row_markdown(frame: pd.DataFrame) -> str:
    """``human_row.md``: per data set, the inter-observer row above every loss row, same images."""
    columns = [(k, label, d) for k, label, d in HUMAN_COLUMNS if k in frame.columns]
    parts = [
        "# Human row: the second observer against the first\n",
        "Inter-observer agreement: the second manual annotation scored as a prediction against the first, "
        "with the same metrics and FOV as the models (`evaluation/observer.py`). Each loss row is the mean "
        "over its runs' predictions of the same test images (every seed; each image is in one fold's test "
        "split). Means over images; no test: this row is a yardstick, not a competitor.\n",
    ]
    for dataset in order_datasets(frame["dataset"].unique()):
        part = frame[frame["dataset"] == dataset].set_index("row")
        human = part.loc[INTER_OBSERVER]
        names = [INTER_OBSERVER, *order_rows([r for r in part.index if r != INTER_OBSERVER])]
        rows = [
            [
                "Inter-observer (2nd vs 1st)" if name == INTER_OBSERVER else row_label(name),
                int(part.loc[name, "n_predictions"]),
                *(fmt(part.loc[name, k], d) for k, _, d in columns),
            ]
            for name in names
        ]
        header = ["Row", "predictions", *(label for _, label, _ in columns)]
        parts.append(
            f"## {dataset_label(dataset)}: {int(human['n_images'])} test images with a second annotation\n"
        )
        parts.append(markdown_table(header, rows))
    return "\n".join(parts)


def write_human_row(out: Path, frame: pd.DataFrame) -> None:
    """``human_row.{csv,md}`` in ``out`` (nothing when no data set has a second observer)."""
    if frame.empty:
        return
    frame.to_csv(out / "human_row.csv", index=False, float_format="%.6g")
    (out / "human_row.md").write_text(human_row_markdown(frame), encoding="utf-8")
