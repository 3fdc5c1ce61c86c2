"""Complete checkpoints (model, optimizer, scheduler, scaler, RNG states) and atomic CSVs.

Every file of a run goes through :func:`data.files.atomic_write_bytes` (temporary name in
its folder, then rename), so a run killed at any moment never leaves a
half-written file (docs/ARCHITECTURE.md §6). Checkpoints hold only tensors and plain
Python values so they load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import csv
import io
import pickle
import random
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data.files import atomic_write_bytes

from .errors import TrainingError


def write_csv(path: Path | str, fieldnames: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Atomically write ``rows`` (dicts with exactly ``fieldnames``) as CSV with a header."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


def capture_rng_states() -> dict[str, Any]:
    """Python, NumPy, torch CPU (and CUDA, when present) generator states as safe-to-load values."""
    # The legacy global NumPy generator is the one third-party code draws from, so it is
    # part of the state to restore (a local Generator would not cover it).
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_states`."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    n = states["numpy"]
    np.random.set_state(  # noqa: NPY002
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path | str, state: Mapping[str, Any]) -> None:
    """Atomically ``torch.save`` a checkpoint dict (temp file + rename)."""
    buf = io.BytesIO()
    torch.save(dict(state), buf)
    atomic_write_bytes(path, buf.getvalue())


def damaged_checkpoint(path: Path | str, detail: str) -> str:
    """The error message for an unusable checkpoint: names it and says what to do (issue 16)."""
    return (
        f"checkpoint {path} is damaged ({detail}); pass --overwrite to restart the run "
        "(the file is left in place)"
    )


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU (``weights_only``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        TrainingError: the file is truncated, empty or not a checkpoint (never deleted here).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise TrainingError(damaged_checkpoint(path, f"{type(err).__name__}: {err}")) from err
    if not isinstance(ckpt, dict):
        raise TrainingError(damaged_checkpoint(path, f"holds a {type(ckpt).__name__}, not a checkpoint dict"))
    return ckpt
