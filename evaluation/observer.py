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
