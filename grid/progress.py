"""Progress over a grid: one line per finished run, counts, ETA, and the same lines in a grid log file.

Issue 15 §5: each line names the run, its time and its headline metric (mean test mIoU of
``test_metrics.csv``), then done / running / failed counts and an ETA from the finished runs.
"""

from __future__ import annotations

import math
import re
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .plan import format_duration
from .run_one import RunResult, RunSpec


class Progress:
    """Thread-safe counters and the per-run lines (stdout and, when given, an appended log file)."""

    def __init__(
        self, total: int, workers: int, log_path: Path | None = None, stream=None, fixed_slots: bool = True
    ):
        self.total, self.workers = total, max(1, workers)
        self.fixed_slots = fixed_slots  # False on a cluster, where --workers does not size the pool
        self.done = self.failed = self.running = 0
        self.seconds: list[float] = []
        self.busy = 0.0  # seconds of every finished run, failed ones included
        self.failures: list[RunResult] = []
        self.log_path = log_path
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._start = time.perf_counter()

    def eta(self) -> float | None:
        """Seconds left: mean time of the finished runs × runs left / workers (None before the first)."""
        if not self.seconds:
            return None
        left = self.total - self.done - self.failed
        return math.fsum(self.seconds) / len(self.seconds) * math.ceil(left / self.workers)

    def started(self, spec: RunSpec) -> None:
        with self._lock:
            self.running += 1

    def set_running(self, running: int) -> None:
        """The running count seen from outside (Ray, Slurm: run folders holding a lock); a line when it changes."""
        with self._lock:
            if running == self.running:
                return
            self.running = running
            self.emit(f"grid: running {running}, done {self.done}, failed {self.failed} of {self.total}")

    def finished(self, result: RunResult) -> None:
        with self._lock:
            self.running = max(0, self.running - 1)
            self.busy += result.seconds
            if result.ok:
                self.done += 1
                self.seconds.append(result.seconds)
            else:
                self.failed += 1
                self.failures.append(result)
            self.emit(self.line(result))

    def line(self, result: RunResult) -> str:
        n = self.done + self.failed
        if result.ok:
            metric = "n/a" if result.miou is None else f"{result.miou:.4f}"
            what = f"ok     {result.label}  {format_duration(result.seconds)}  test mIoU {metric}"
            what += f"  on {result.node}" if result.node else ""
        else:
            what = f"FAILED {result.error}"
        eta = self.eta()
        return (
            f"[{n}/{self.total}] {what} | done {self.done}, running {self.running}, failed {self.failed}"
            f" | ETA {'?' if eta is None else format_duration(eta)}"
        )

    def emit(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def efficiency(self, wall: float) -> float | None:
        """Scheduler efficiency: run seconds / (workers × wall seconds); None without fixed slots or time."""
        if not self.fixed_slots or wall <= 0 or not self.busy:
            return None
        return self.busy / (self.workers * wall)

    def summary(self, wall: float | None = None) -> str:
        wall = time.perf_counter() - self._start if wall is None else wall
        text = f"grid: {self.done} done, {self.failed} failed of {self.total} in {format_duration(wall)}"
        efficiency = self.efficiency(wall)
        if efficiency is not None:
            text += (
                f"; runs took {format_duration(self.busy)} of {self.workers} worker(s) × "
                f"{format_duration(wall)}: scheduler efficiency {efficiency:.3f}"
            )
        return text


# ---------------------------------------------------------------- efficiency of past grids, from grid.log

_STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"
_START = re.compile(_STAMP + r" grid: (\d+) train\.py runs on \S+ with (\d+) worker\(s\)")
_RUN = re.compile(_STAMP + r" \[\d+/\d+\] (?:ok     \S+  (\d+)(m|h)(\d+)(s|m)|FAILED)")


@dataclass
class Segment:
    """One invocation of the grid on a fixed pool, as its lines in grid.log record it."""

    start: str
    workers: int
    planned: int
    runs: int = 0
    busy: float = 0.0  # seconds of the finished runs (as printed, to the second; failed runs not timed)
    wall: float = 0.0  # first line to the last run line

    @property
    def efficiency(self) -> float | None:
        return self.busy / (self.workers * self.wall) if self.wall > 0 and self.busy else None


def _seconds(big: str, unit: str, small: str) -> float:
    return int(big) * (3600 if unit == "h" else 60) + int(small) * (60 if unit == "h" else 1)


def log_segments(text: str) -> list[Segment]:
    """The local-pool grids recorded in a grid.log (cluster grids have no fixed pool and are skipped)."""
    segments: list[Segment] = []
    current, began = None, None
    for line in text.splitlines():
        if m := _START.match(line):
            current = Segment(m[1], int(m[3]), int(m[2]))
            began = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S")
            segments.append(current)
        elif current is not None and (m := _RUN.match(line)):
            current.runs += 1
            if m[2] is not None:
                current.busy += _seconds(m[2], m[3], m[4])
            current.wall = (datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S") - began).total_seconds()
        elif " grid: " in line and " train.py runs " in line:
            current = None  # a cluster grid's first line
    return [s for s in segments if s.runs]


def log_report(path: Path) -> str:
    """A Markdown table (scripts/bench_grid.py --from-log) of the local-pool grids in ``path`` (a runs folder's grid.log); ValueError if none."""
    try:
        segments = log_segments(path.read_text())
    except OSError as err:
        raise ValueError(f"cannot read ({err.strerror})") from None
    if not segments:
        raise ValueError("no local-pool grid with a finished run in it")
    lines = [
        f"# Scheduler efficiency of the grids recorded in {path}",
        "",
        "| started | workers | runs finished / planned | wall | run time | efficiency |",
        "|---|---|---|---|---|---|",
    ]
    for s in segments:
        lines.append(
            f"| {s.start} | {s.workers} | {s.runs} / {s.planned} | {format_duration(s.wall)} | "
            f"{format_duration(s.busy)} | {s.efficiency:.3f} |"
        )
    busy = sum(s.busy for s in segments)
    slots = sum(s.workers * s.wall for s in segments)
    lines.append(
        f"| all | | {sum(s.runs for s in segments)} | | {format_duration(busy)} | {busy / slots:.3f} |"
    )
    return "\n".join(lines) + "\n"
