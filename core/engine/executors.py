"""Executors run the ready tasks of a DAG; results do not depend on which one runs them.

- :class:`InProcessExecutor`: one task at a time in this process (tests, debugging, in-memory data).
- :class:`~musefuse.core.engine.local.LocalExecutor`: worker processes on this machine.
- :class:`~musefuse.core.engine.ray_executor.RayExecutor`: Ray tasks, on one machine or a cluster.

A new executor implements :meth:`Executor.execute`: run the given tasks, each after its ``deps``, calling the
reporter as tasks start, progress and finish; it is registered by name in
:mod:`musefuse.core.engine.executor_registry`. :func:`run_plan` does the part every executor shares: tasks
already in the store are reported as reused and not run again.

For a fixed seed on CPU every executor gives identical results: each task seeds itself, reads its inputs from
the store, and runs with the same number of torch threads.
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from musefuse.core.engine.kinds import run_task
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.engine.task import Task
from musefuse.core.errors import MusefuseError, PluginRunError, first_line


class Reporter(Protocol):
    """Where task progress goes (live bars or plain lines in the CLI; nothing in tests)."""

    def started(self, task: Task) -> None: ...
    def epoch(self, task: Task, epoch: int, score: float) -> None: ...
    def finished(self, task: Task, info: dict[str, Any], reused: bool) -> None: ...


class SilentReporter:
    def started(self, task: Task) -> None: ...
    def epoch(self, task: Task, epoch: int, score: float) -> None: ...
    def finished(self, task: Task, info: dict[str, Any], reused: bool) -> None: ...


@dataclass(frozen=True)
class Parallelism:
    """How many trainings run at once, and torch threads for each."""

    workers: int
    threads: int

    def describe(self) -> str:
        plural = ("s" if self.workers > 1 else "", "s" if self.threads > 1 else "")
        return f"{self.workers} worker{plural[0]} × {self.threads} torch thread{plural[1]} each"


# Trainings that share one GPU by default: six concurrent paper-preset pipelines on one H200 gave
# 3.6x the throughput of one at a time (issue 9); beyond that the CPU side (16 cores) becomes the limit.
CUDA_WORKERS = 6


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parallelism(device_type: str, workers: int | None = None, threads: int | None = None) -> Parallelism:
    """The one place that decides workers and threads, for every command that runs models.

    CPU: enough workers to use the cores, each with ``threads`` torch threads (default: the cores
    shared out, at least 1). CUDA: several trainings share the GPU; each gets one CPU thread.
    """
    cores = cpu_cores()
    if device_type == "cuda":
        workers = workers or CUDA_WORKERS
        return Parallelism(workers, threads or 1)
    if workers is None:
        workers = max(1, cores // (threads or 1))
    return Parallelism(workers, threads or max(1, cores // workers))


def apply_threads(threads: int) -> None:
    """Set torch's intra-op threads (also for inference: the GRU waits at OpenMP barriers otherwise)."""
    import torch

    torch.set_num_threads(threads)


class Executor(ABC):
    @abstractmethod
    def execute(self, tasks: Sequence[Task], reporter: Reporter) -> None:
        """Run ``tasks`` (none of them in the store yet), each after the ones it depends on."""


def run_plan(tasks: Sequence[Task], store: ArtifactStore, executor: Executor, reporter: Reporter) -> dict[str, bool]:
    """Run what the store lacks; returns task key -> True where the artifact was reused.

    A stored artifact is reused only when its files are those that were written (checksums); a
    damaged one is reported through the reporter's ``warn`` (when it has one), moved aside, and its
    task runs again.
    """
    warn = getattr(reporter, "warn", None) or _warning
    reused = {t.key: store.trusted(t.key, t.label, warn) for t in tasks}
    for t in tasks:
        if reused[t.key]:
            reporter.finished(t, store.fit_info(t.key), reused=True)
    executor.execute([t for t in tasks if not reused[t.key]], reporter)
    return reused


def _warning(message: str) -> None:
    warnings.warn(message, stacklevel=3)


class InProcessExecutor(Executor):
    """One task at a time, in this process, with a worker context built here (its data may live only in
    memory, e.g. corrupted copies)."""

    def __init__(self, context: Any, store: ArtifactStore, threads: int | None = None) -> None:
        self.context, self.store, self.threads = context, store, threads

    def execute(self, tasks: Sequence[Task], reporter: Reporter) -> None:
        if self.threads:
            apply_threads(self.threads)
        for task in tasks:  # plans list dependencies first
            reporter.started(task)
            info = run_task(task, self.context, self.store, lambda e, s, t=task: reporter.epoch(t, e, s))
            reporter.finished(task, info, reused=False)


def why_failed(exc: BaseException) -> str:
    """One line on why a task failed: a plugin's failure as its summary, ours as its first line."""
    if isinstance(exc, PluginRunError):  # the plugin, its distribution and what it did (the line names the task)
        return exc.summary()
    if isinstance(exc, MusefuseError):
        return first_line(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
