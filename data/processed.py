"""Checks on a processed data set (docs/ARCHITECTURE.md §2): is it there, has it the maps, which split seed.

The errors name the ``data/prepare.py`` command that fixes them.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from data.files import read_json


def missing_maps(folder: Path, metadata: dict, names: Sequence[str]) -> list[str]:
    """Maps of ``names`` that ``folder`` does not hold complete (recorded and all files present)."""
    n = metadata["num_samples"]
    return [
        m
        for m in names
        if m not in metadata.get("maps", {})
        or not all((folder / "maps" / m / f"{i:03d}.npy").is_file() for i in range(n))
    ]


def prepare_command(dataset: str, data_root: Path, maps: Iterable[str] = ()) -> str:
    """The ``data/prepare.py`` command line that writes ``dataset`` (with ``maps``) under ``data_root``."""
    args = ["python", "data/prepare.py", "--dataset", dataset, "--out-root", str(data_root)]
    maps = list(maps)
    if maps:
        args += ["--maps", *maps]
    return shlex.join(args)


def processed_root(data_root: Path, dataset: str, maps: Iterable[str] = ()) -> Path:
    """``<data_root>/<dataset>`` after checking it holds a processed set with every map in ``maps``.

    Raises:
        FileNotFoundError: no ``metadata.json`` / ``splits.json``, or a map folder is
            missing; the message names the prepare command to run.
    """
    root = Path(data_root) / dataset
    maps = list(maps)
    for name in ("metadata.json", "splits.json"):
        if not (root / name).is_file():
            raise FileNotFoundError(
                f"processed data set {dataset!r} not found ({root / name} is missing); prepare it with: "
                f"{prepare_command(dataset, data_root, maps)}"
            )
    missing = missing_maps(root, read_json(root / "metadata.json"), maps)
    if missing:
        raise FileNotFoundError(
            f"processed data set {dataset!r} at {root} lacks the weight map(s) {missing} this loss needs; "
            f"compute them with: {prepare_command(dataset, data_root, missing)}"
        )
    return root


def resolve_split_seed(root: Path, seed: int) -> int:
    """The split seed to train on: ``seed`` when ``splits.json`` holds it, else its only seed.

    Raises:
        ValueError: several split seeds are stored and ``seed`` is not one of them.
    """
    path = Path(root) / "splits.json"
    splits = read_json(path).get("splits", {})
    if not isinstance(splits, dict) or not splits:
        raise ValueError(f"{path}: expected {{'splits': {{seed: [3 folds]}}}}, found no split seeds")
    if str(seed) in splits:
        return int(seed)
    if len(splits) == 1:
        return int(next(iter(splits)))
    raise ValueError(
        f"--seed {seed}: {path} holds split seeds {sorted(splits, key=int)} but not {seed}; "
        f"pass one of them or write it with data/prepare.py --seed {seed}"
    )
