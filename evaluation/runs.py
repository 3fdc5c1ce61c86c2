"""Discover and validate finished run folders (docs/ARCHITECTURE.md §6).

Layout: ``<runs>/<dataset>/<run-name>/seed<S>/fold<k>/`` with ``config.json``, ``log.csv``,
``test_metrics.csv``, ``predictions/NNN.png`` and ``timing.json``. A run is finished when
``timing.json`` and ``test_metrics.csv`` exist. A finished run whose files cannot be read or lack
contract columns is *corrupt*: it is reported and skipped, never fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common import run_folder as rf

from .naming import ALWAYS_METRICS

TEST_COLUMNS: tuple[str, ...] = (*rf.TEST_KEY_COLUMNS, *ALWAYS_METRICS)
LOG_COLUMNS: tuple[str, ...] = rf.LOG_COLUMNS


class CorruptRun(ValueError):
    """A finished run folder whose files cannot be used; the message names the file and the problem."""


@dataclass
class Run:
    """One finished, validated run: its key, its folder and its parsed files."""

    dataset: str
    run_name: str
    seed: int
    fold: int
    path: Path
    config: dict
    metrics: pd.DataFrame  # one row per test image, TEST_COLUMNS first
    log: pd.DataFrame  # one row per epoch, LOG_COLUMNS
    timing: dict

    @property
    def key(self) -> tuple[str, str, int, int]:
        return (self.dataset, self.run_name, self.seed, self.fold)

    def prediction_path(self, index: int) -> Path:
        return rf.prediction_path(self.path, index)


@dataclass
class Discovery:
    """What :func:`discover_runs` found: usable runs, corrupt folders (path, reason), unfinished folders."""

    runs: list[Run] = field(default_factory=list)
    corrupt: list[tuple[Path, str]] = field(default_factory=list)
    unfinished: list[Path] = field(default_factory=list)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise CorruptRun(f"{path}: missing") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptRun(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise CorruptRun(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_csv(path: Path, required: tuple[str, ...], numeric: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as err:
        raise CorruptRun(f"{path}: missing") from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CorruptRun(f"{path}: not a readable CSV ({err})") from err
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise CorruptRun(f"{path}: missing columns {missing} (has {list(frame.columns)})")
    if frame.empty:
        raise CorruptRun(f"{path}: no rows")
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any() and not frame[column].isna().equals(values.isna()):
            raise CorruptRun(f"{path}: column {column!r} holds non-numeric values")
        frame[column] = values
    return frame


def load_run(folder: Path) -> Run:
    """Parse and validate one finished run folder ``<runs>/<dataset>/<run-name>/seed<S>/fold<k>``.

    Raises:
        CorruptRun: unreadable JSON/CSV, missing contract columns, duplicate test indices, or a
            config.json that disagrees with the folder's dataset/seed/fold.
    """
    try:
        run_id = rf.RunId.from_folder(folder)
    except rf.RunFolderError as err:
        raise CorruptRun(str(err)) from err
    dataset, run_name, seed, fold = run_id.dataset, run_id.run_name, run_id.seed, run_id.fold
    config = _read_json(folder / rf.CONFIG)
    for key, expected in (("dataset", dataset), ("fold", fold), ("seed", seed), ("run_name", run_name)):
        if key in config and str(config[key]) != str(expected):
            raise CorruptRun(
                f"{folder / rf.CONFIG}: {key} = {config[key]!r} but the folder says {expected!r}"
            )
    metrics = _read_csv(folder / rf.TEST_METRICS, TEST_COLUMNS, ("index", *ALWAYS_METRICS))
    if metrics["index"].isna().any() or metrics["index"].duplicated().any():
        raise CorruptRun(f"{folder / rf.TEST_METRICS}: column 'index' has missing or duplicate values")
    metrics["index"] = metrics["index"].astype(np.int64)
    log = _read_csv(folder / rf.LOG, LOG_COLUMNS, LOG_COLUMNS)
    timing = _read_json(folder / rf.TIMING)
    return Run(dataset, run_name, seed, fold, folder, config, metrics, log, timing)


def _selected(value: str, allowed) -> bool:
    return allowed is None or value in allowed


def discover_runs(root: Path, datasets=None, run_names=None, profile: str | None = None) -> Discovery:
    """Every ``<root>/<dataset>/<run-name>/seed<S>/fold<k>`` folder, validated.

    Args:
        root: the runs folder (``--runs``).
        datasets, run_names: keep only these (None = all).
        profile: keep only runs whose config.json ``profile`` equals it (None = all).
    """
    found = Discovery()
    if not root.is_dir():
        raise FileNotFoundError(f"runs folder {root} does not exist (expected runs/<dataset>/<run-name>/...)")
    for run_id, folder in rf.iter_run_folders(root):
        if not _selected(run_id.dataset, datasets) or not _selected(run_id.run_name, run_names):
            continue
        if not rf.is_finished(folder):
            found.unfinished.append(folder)
            continue
        try:
            run = load_run(folder)
        except CorruptRun as err:
            found.corrupt.append((folder, str(err)))
            continue
        if profile is not None and run.config.get("profile") != profile:
            continue
        found.runs.append(run)
    return found
