"""Check a processed data set before anything is trained on it (docs/ARCHITECTURE.md §2).

``verify_processed(root, maps)`` reads ``metadata.json`` and ``splits.json`` and checks every
file the trainer will open: each PNG is decoded (a truncated or corrupt file fails here, not
in epoch 3), masks and FOVs must hold only {0, 255}, images must have the recorded size and
channels, and each ``.npy`` (instances, requested maps) must have the contract's shape and
dtype and a file size that matches its header (a truncated array). Every error is a
:class:`data.DataError` naming the file and what was expected, so ``train.py`` can refuse a
damaged set before it creates a run folder (issue 16, classes 1 and 3).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from data import DataError
from data.files import read_json

#: Channels of each precomputed map (ARCHITECTURE §2: wce (H,W), abw (2,H,W), skea_topo (4,H,W)).
MAP_SHAPES = {"wce": 0, "abw": 2, "skea_topo": 4}
_MODES = {1: "L", 3: "RGB"}
_SPLITS = ("train", "val", "test")


def _fail(path: Path, what: str) -> DataError:
    return DataError(f"{path}: {what}; rebuild it with data/prepare.py --overwrite")


def _require(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise _fail(path, what)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_int(v) and v > 0 for v in value)


def check_metadata(meta: Any, path: Path) -> dict:
    """The keys of ``metadata.json`` the trainer uses, with their types and ranges."""
    _require(isinstance(meta, dict), path, f"expected a JSON object, got {type(meta).__name__}")
    for key in ("name", "channels", "num_samples", "samples", "mean", "std"):
        _require(key in meta, path, f"missing key {key!r}")
    channels, n = meta["channels"], meta["num_samples"]
    _require(channels in _MODES and _is_int(channels), path, f"channels must be 1 or 3, got {channels!r}")
    _require(_is_int(n) and n >= 3, path, f"num_samples must be an int >= 3, got {n!r}")
    samples = meta["samples"]
    _require(
        isinstance(samples, list) and len(samples) == n, path, f"samples must list num_samples = {n} entries"
    )
    for key in ("mean", "std"):
        values = meta[key]
        ok = (
            isinstance(values, list)
            and len(values) == channels
            and all(isinstance(v, (int, float)) for v in values)
        )
        _require(
            ok and all(math.isfinite(v) for v in values), path, f"{key} must be {channels} finite numbers"
        )
    _require(all(v > 0 for v in meta["std"]), path, f"std must be positive, got {meta['std']}")
    for i, sample in enumerate(samples):
        check_sample_record(sample, i, meta, path)
    return meta


def check_sample_record(sample: Any, i: int, meta: Mapping[str, Any], path: Path) -> None:
    """One ``samples[i]`` entry: index, id, padded size and a finite positive class weight pair."""
    _require(isinstance(sample, dict) and sample.get("index") == i, path, f"samples[{i}] must have index {i}")
    _require("id" in sample, path, f"samples[{i}] has no id")
    _require(
        _size_pair(sample.get("padded_size", meta.get("padded_size"))),
        path,
        f"samples[{i}]: no [H, W] padded_size",
    )
    weight = sample.get("class_weight")
    ok = isinstance(weight, list) and len(weight) == 2 and all(isinstance(w, (int, float)) for w in weight)
    _require(
        ok and all(math.isfinite(w) and w > 0 for w in weight),
        path,
        f"samples[{i}].class_weight must be 2 finite positive numbers, got {weight!r}",
    )


def check_splits(splits: Any, path: Path, num_samples: int) -> dict:
    """``{"splits": {seed: [{"train", "val", "test"} × folds]}}`` with indices in range."""
    table = splits.get("splits") if isinstance(splits, dict) else None
    _require(
        isinstance(table, dict) and table, path, "expected {'splits': {seed: [folds]}} with at least one seed"
    )
    for seed, folds in table.items():
        _require(seed.lstrip("-").isdigit(), path, f"split seed key {seed!r} is not an integer")
        _require(isinstance(folds, list) and folds, path, f"seed {seed}: expected a list of folds")
        for k, fold in enumerate(folds):
            _require(
                isinstance(fold, dict) and all(s in fold for s in _SPLITS),
                path,
                f"seed {seed} fold {k}: expected keys {list(_SPLITS)}",
            )
            for split in _SPLITS:
                ids = fold[split]
                ok = isinstance(ids, list) and ids and all(_is_int(i) and 0 <= i < num_samples for i in ids)
                _require(
                    ok, path, f"seed {seed} fold {k} {split}: expected sample indices in [0, {num_samples})"
                )
    return splits


def _decode_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im)
    except FileNotFoundError as err:
        raise _fail(path, "missing") from err
    except (OSError, ValueError, SyntaxError) as err:
        raise _fail(path, f"cannot decode PNG ({type(err).__name__}: {err})") from err


def check_png(path: Path, size: tuple[int, int], channels: int, binary: bool) -> None:
    """Decode ``path`` and check size, channels, dtype and (``binary``) values in {0, 255}."""
    array = _decode_png(path)
    shape = (*size, channels) if channels == 3 else tuple(size)
    _require(array.dtype == np.uint8, path, f"expected uint8, got {array.dtype}")
    _require(array.shape == shape, path, f"expected shape {shape}, got {array.shape}")
    if binary:
        extra = np.setdiff1d(np.unique(array), [0, 255])
        _require(extra.size == 0, path, f"expected only values 0 and 255, found {extra[:5].tolist()}")


def check_npy(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """``.npy`` shape and dtype, memory-mapped (a truncated file fails to map; nothing is read)."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError as err:
        raise _fail(path, "missing") from err
    except (OSError, ValueError, EOFError) as err:
        raise _fail(path, f"not a complete .npy array ({type(err).__name__}: {err})") from err
    _require(isinstance(array, np.ndarray), path, "expected one array")
    _require(array.dtype == np.dtype(dtype), path, f"expected dtype {np.dtype(dtype)}, got {array.dtype}")
    _require(array.shape == tuple(shape), path, f"expected shape {tuple(shape)}, got {array.shape}")


def check_sample_files(root: Path, meta: Mapping[str, Any], i: int, maps: Iterable[str]) -> None:
    """Every file of sample ``i``: image, mask, fov, instances and the requested maps."""
    sample = meta["samples"][i]
    size = tuple(sample.get("padded_size") or meta["padded_size"])
    name = f"{i:03d}"
    check_png(root / "images" / f"{name}.png", size, meta["channels"], binary=False)
    check_png(root / "masks" / f"{name}.png", size, 1, binary=True)
    if meta.get("has_fov") or (root / "fov").is_dir():
        check_png(root / "fov" / f"{name}.png", size, 1, binary=True)
    if meta.get("has_instances"):
        check_npy(root / "instances" / f"{name}.npy", size, np.int32)
    for m in maps:
        shape = size if MAP_SHAPES[m] == 0 else (MAP_SHAPES[m], *size)
        check_npy(root / "maps" / m / f"{name}.npy", shape, np.float32)


def verify_processed(root: str | os.PathLike, maps: Iterable[str] = ()) -> dict:
    """Check ``metadata.json``, ``splits.json`` and every sample file under ``root``; return the metadata.

    Raises:
        DataError: the first problem found, naming the file and what was expected.
    """
    root = Path(root)
    maps = [m for m in maps if m in MAP_SHAPES]
    meta = check_metadata(read_json(root / "metadata.json"), root / "metadata.json")
    check_splits(read_json(root / "splits.json"), root / "splits.json", meta["num_samples"])
    for i in range(meta["num_samples"]):
        check_sample_files(root, meta, i, maps)
    return meta


def sample_sizes(meta: Mapping[str, Any]) -> list[tuple[int, int]]:
    """Padded ``(H, W)`` of every sample (per sample where sizes differ, as in GlaS)."""
    return [tuple(s.get("padded_size") or meta["padded_size"]) for s in meta["samples"]]
