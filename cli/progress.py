"""Progress on stderr for runs of concurrent tasks.

On a terminal: one live bar per running model (epochs, best devel score so far, time). Elsewhere
(a log file, CI, a cluster job) no bars: the run's log prints one plain line per finished model
with its time and best score (musefuse.core.method.pipeline.describe_fit), and while models are
still training a line at least every minute says which, at which epoch. Bar and log show the
same number: the best epoch's so far, which is the one a finished model keeps.
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from musefuse.cli.common import err
from musefuse.core.engine.task import Task

HEARTBEAT_SECONDS = 50  # without bars, say what is training at least this often


class RichReporter:
    """Implements musefuse.core.engine.executors.Reporter; use as a context manager."""

    def __init__(self, enabled: bool | None = None) -> None:
        enabled = err.is_terminal if enabled is None else enabled
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}", style="bold"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[score]}"), TimeElapsedColumn(),
            console=err, disable=not enabled, transient=False,
        )
        self.enabled = enabled
        self.bars: dict[str, Any] = {}  # task key -> rich task id
        self.best: dict[str, float] = {}
        self.finished_keys: set[str] = set()
        self.running: dict[str, tuple[Task, int]] = {}  # key -> (task, last epoch), for the heartbeat
        self.last_line = time.monotonic()

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def started(self, task: Task) -> None:
        if task.key not in self.bars and task.key not in self.finished_keys:
            self.bars[task.key] = self.progress.add_task(task.label, total=task.max_epochs, score="")

    def epoch(self, task: Task, epoch: int, score: float) -> None:
        if task.key in self.finished_keys:  # a late event from a worker
            return
        self.started(task)
        lower_better = task.lower_is_better
        best = self.best.get(task.key)
        if math.isfinite(score) and (best is None or (score < best if lower_better else score > best)):
            self.best[task.key] = best = score
        shown = "" if best is None else f"{task.metric} {best:.4f}"
        self.progress.update(self.bars[task.key], completed=epoch, score=shown)
        self.running[task.key] = (task, epoch)
        if not self.enabled and time.monotonic() - self.last_line > HEARTBEAT_SECONDS:
            self.log("training: " + "; ".join(f"{t.label} (epoch {e}/{t.max_epochs})"
                                              for t, e in self.running.values()))

    def finished(self, task: Task, info: dict[str, Any], reused: bool) -> None:
        self.finished_keys.add(task.key)
        self.running.pop(task.key, None)
        bar = self.bars.pop(task.key, None)
        if bar is not None:
            self.progress.remove_task(bar)  # the log line printed for it says the rest

    def log(self, message: str) -> None:
        self.progress.console.print(message, highlight=False, markup=False, soft_wrap=True)  # a log line stays one line
        self.last_line = time.monotonic()
