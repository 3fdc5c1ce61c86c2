"""Where runs train (``--storage``) and where their small outputs land (``--runs``), issue 15 §4.

On one machine both are the same folder and nothing moves. On a cluster the trainers write their
run folders (checkpoints included) under ``--storage``, a file system every node mounts, so that a
retried run resumes from its own ``last.pt`` on whichever node it lands; each finished run hands
its small outputs back to the driver, which writes them into its own ``--runs`` folder
(:func:`deposit_outputs`), where ``eval.py`` reads them.

"Shared" is checked, not assumed: the driver writes a token file into the storage root
(:func:`mark_storage`) and each run first checks that it sees the same token (:func:`storage_seen`);
a node that does not is refused with a message naming the path and the host.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

from common import run_folder as rf

#: Token file at the root of ``--storage`` (written by the driver, read by every run).
MARK = ".segloss-storage"
#: Files of a run folder returned to the driver, in write order: ``timing.json`` and
#: ``test_metrics.csv`` (what makes a run finished, docs/ARCHITECTURE.md §6) come last.
RETURNED_FIRST = (rf.CONFIG, rf.LOG, rf.TRAIN_LOG)
RETURNED_LAST = (rf.TEST_METRICS, rf.TIMING)


def mark_storage(storage: Path) -> str:
    """Create ``storage`` if needed and return its token (a new one the first time, then the same)."""
    storage.mkdir(parents=True, exist_ok=True)
    mark = storage / MARK
    if mark.is_file():
        token = mark.read_text(encoding="utf-8").strip()
        if token:
            return token
    token = f"{secrets.token_hex(8)} {socket.gethostname()}"
    tmp = mark.with_name(f"{MARK}.{os.getpid()}.tmp")
    tmp.write_text(token + "\n", encoding="utf-8")
    os.replace(tmp, mark)
    return token


def storage_seen(storage: str, token: str) -> str:
    """Empty when this process sees ``storage``'s token, else why not (for the run's error message)."""
    try:
        seen = (Path(storage) / MARK).read_text(encoding="utf-8").strip()
    except OSError as err:
        seen = f"unreadable ({err.strerror})"
    if seen == token:
        return ""
    return (
        f"--storage {storage} is not the driver's on host {socket.gethostname()} (its token file "
        f"{MARK} is {seen!r}): give a path on a file system that every node shares (docs/GRID.md)"
    )


def collect_outputs(folder: str | Path) -> dict[str, bytes]:
    """The small files and predictions of a finished run folder, keyed by relative path."""
    folder = Path(folder)
    names = [*RETURNED_FIRST, *sorted(p.relative_to(folder).as_posix() for p in _predictions(folder))]
    files = {name: (folder / name).read_bytes() for name in names if (folder / name).is_file()}
    files.update({name: (folder / name).read_bytes() for name in RETURNED_LAST})
    return files


def _predictions(folder: Path) -> list[Path]:
    return sorted((folder / rf.PREDICTIONS).glob("*.png"))


def deposit_outputs(files: dict[str, bytes], folder: str | Path) -> None:
    """Write returned files into the driver's run folder, each atomically, in the given order.

    ``timing.json`` is written last, so a driver killed mid-way leaves the run unfinished (the next
    grid resumes it: its storage folder is finished, so the trainer only returns the files again).
    """
    folder = Path(folder)
    for name, data in files.items():
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"returned file {name!r} would land outside the run folder {folder}")
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
