"""Progress over a grid: one line per finished run, counts, ETA, and the same lines in a grid log file.

Issue 15 §5: each line names the run, its time and its headline metric (mean test mIoU of
``test_metrics.csv``), then done / running / failed counts and an ETA from the finished runs.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path

from .plan import format_duration
from .run_one import RunResult, RunSpec


class Progress:
    """Thread-safe counters and the per-run lines (stdout and, when given, an appended log file)."""

    def __init__(self, total: int, workers: int, log_path: Path | None = None, stream=None):
        self.total, self.workers = total, max(1, workers)
        self.done = self.failed = self.running = 0
        self.seconds: list[float] = []
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

    def summary(self) -> str:
        return (
            f"grid: {self.done} done, {self.failed} failed of {self.total} in "
            f"{format_duration(time.perf_counter() - self._start)}"
        )
