"""Executors run the ready tasks of a DAG; results do not depend on which one runs them.

- :class:`InProcessExecutor`: one task at a time in this process (tests, debugging, in-memory data).
- :class:`LocalExecutor`: ``workers`` processes (``concurrent.futures``, spawn), each loading the
  data once; on CPU they use the cores, on CUDA several trainings share the GPU. A worker dies with
  the process that started it, whatever kills that (SIGKILL included), and never writes a store
  entry once it is gone (:func:`die_with_parent`, :class:`WorkerStore`).

A new executor (e.g. Ray) implements :meth:`Executor.execute`: run the given tasks, each after its
``deps``, calling the reporter as tasks start, progress and finish; it is registered by name in
:mod:`musefuse.core.graph.executor_registry`. :func:`run_plan` does the part
every executor shares: tasks already in the store are reported as reused and not run again.

For a fixed seed on CPU every executor gives identical results: each task seeds itself, reads its
inputs from the store, and runs with the same number of torch threads.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue as queue_mod
import signal
import sys
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.errors import MusefuseError
from musefuse.core.graph.store import ArtifactStore
from musefuse.core.graph.tasks import Task, TaskEnv, run_task
from musefuse.core.plugin_host import get_host


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
    damaged one is reported through the reporter's ``warn`` (when it has one; TaskLog does), moved
    aside, and its task runs again.
    """
    warn = getattr(reporter, "warn", None) or _warning
    reused = {t.key: store.trusted(t.key, t.label, warn) for t in tasks}
    for t in tasks:
        if reused[t.key]:
            reporter.finished(t, store.fit_info(t.key), reused=True)
    executor.execute([t for t in tasks if not reused[t.key]], reporter)
    return reused


def run_in_rounds(plan: Callable[[Callable[[str], dict[str, Any] | None]], Sequence[Any]], store: ArtifactStore,
                  executor: Executor, reporter: Reporter) -> tuple[list[Any], dict[str, bool]]:
    """Plan, run, and plan again until every plan is complete; returns the plans and task key -> reused.

    ``plan(decided)`` gives the run plans (musefuse.core.graph.plan.RunPlan) as far as the decisions that have run
    allow (``decided``: a decision's fit summary from the store); a plan may stop at one that has not run. Each round
    runs only tasks no earlier round ran, so every task is reported once.
    """
    reused: dict[str, bool] = {}
    while True:
        plans = list(plan(store.decision_info))
        new = list({t.key: t for p in plans for t in p.tasks if t.key not in reused}.values())
        reused.update(run_plan(new, store, executor, reporter))
        if all(p.complete for p in plans):
            return plans, reused
        if not new:  # cannot happen with a store that keeps what it is given; never loop forever
            raise RuntimeError("planning made no progress: a decision task ran but the store does not have it")


def _warning(message: str) -> None:
    warnings.warn(message, stacklevel=3)


class InProcessExecutor(Executor):
    """One task at a time, in this process, on an already loaded dataset."""

    def __init__(self, env: TaskEnv, threads: int | None = None) -> None:
        self.env, self.threads = env, threads

    def execute(self, tasks: Sequence[Task], reporter: Reporter) -> None:
        if self.threads:
            apply_threads(self.threads)
        for task in tasks:  # plans list dependencies first
            reporter.started(task)
            info = run_task(task, self.env, lambda e, s, t=task: reporter.epoch(t, e, s))
            reporter.finished(task, info, reused=False)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to rebuild the run's data and plugins (all picklable)."""

    data: Path
    modalities: tuple[str, ...]
    targets: tuple[str, ...]
    fingerprint: str
    device: str
    threads: int
    store: Path


# A worker whose parent is gone exits at once with this status (nobody is left to read it).
ORPHAN_EXIT = 70
_WATCH_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _orphaned() -> None:
    os._exit(ORPHAN_EXIT)  # not SystemExit: no cleanup that could write anything, no waiting on the pool


def die_with_parent(parent: int, *, kernel: bool = True) -> None:
    """Make this worker process end when ``parent`` (the process that started it) ends, however it ends.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``; strictly, when the
    parent's thread that started the worker ends: LocalExecutor starts and shuts down its pool in one call,
    so that thread outlives its workers). Everywhere, a daemon thread checks ``os.getppid()`` every half
    second; a worker that finds itself orphaned (the parent died before the prctl took effect, or another
    platform) exits at once. ``kernel=False``: the watcher alone (tests of the fallback).
    """
    if kernel and sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the watcher below still works
            pass
    if os.getppid() != parent:
        _orphaned()

    def watch() -> None:
        while True:
            time.sleep(_WATCH_SECONDS)
            if os.getppid() != parent:
                _orphaned()

    threading.Thread(target=watch, name="musefuse-parent-watch", daemon=True).start()


class WorkerStore(ArtifactStore):
    """The artifact store as a worker process writes it: never once the process that started it is gone.

    A worker that was stopped and resumes after its run died (or a platform without PR_SET_PDEATHSIG)
    would otherwise write a finished task into a store that another run may be using by then.
    """

    def __init__(self, root: Path, parent: int) -> None:
        super().__init__(root)
        self.parent = parent

    def put(self, key: str, *args: Any, **kwargs: Any) -> None:
        if os.getppid() != self.parent:
            _orphaned()
        super().put(key, *args, **kwargs)


_ENV: TaskEnv | None = None
_EVENTS: Any = None


def _init_worker(spec: WorkerSpec, events: Any, parent: int) -> None:
    """Tie the worker to its parent, then load the data once (parsed CSVs come from the binary cache)."""
    global _ENV, _EVENTS
    die_with_parent(parent)
    import torch

    apply_threads(spec.threads)
    torch.backends.cudnn.benchmark = False  # fixed kernels, as in the main process
    host = get_host(quiet=True)  # the parent has printed the plugins' warnings
    modalities = [host.modality(n) for n in spec.modalities]
    dataset = load_dataset(spec.data, modalities, list(spec.targets))
    standardise(dataset, modalities)
    if dataset.fingerprint != spec.fingerprint:
        raise MusefuseError(f"{spec.data}: the data changed while the run was starting; run again.")
    _ENV, _EVENTS = TaskEnv(dataset, host, torch.device(spec.device), WorkerStore(spec.store, parent)), events


def _work(task: Task) -> dict[str, Any]:
    assert _ENV is not None
    _EVENTS.put(("started", task.key, 0, 0.0))
    return run_task(task, _ENV, lambda e, s: _EVENTS.put(("epoch", task.key, e, s)))


class LocalExecutor(Executor):
    """Ready tasks run concurrently in ``workers`` processes (a spawn-based ``ProcessPoolExecutor``)."""

    def __init__(self, spec: WorkerSpec, workers: int) -> None:
        self.spec, self.workers = spec, workers

    def execute(self, tasks: Sequence[Task], reporter: Reporter) -> None:
        if not tasks:
            return
        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked; spawn works everywhere
        events = context.Queue()
        by_key = {t.key: t for t in tasks}
        done = set()  # keys finished in this call; deps outside `tasks` are already in the store
        todo = list(tasks)
        running: dict[Future, Task] = {}
        workers = min(self.workers, len(tasks))
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(self.spec, events, os.getpid())) as pool:
            try:
                while todo or running:
                    for task in [t for t in todo if all(d in done or d not in by_key for d in t.deps)]:
                        todo.remove(task)
                        running[pool.submit(_work, task)] = task
                    finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain(events, by_key, reporter)
                    for future in finished:
                        task = running.pop(future)
                        info = future.result()
                        done.add(task.key)
                        reporter.finished(task, info, reused=False)
            except BrokenProcessPool:
                names = ", ".join(t.label for t in running.values())
                raise MusefuseError(f"A worker process died (killed, or out of memory) while training: {names}. "
                                    "Finished models are kept in the store: run the same command again to "
                                    "resume.") from None
            except BaseException:
                for future in running:
                    future.cancel()
                pool.shutdown(wait=True, cancel_futures=True)  # the running tasks finish into the store
                for future, task in running.items():  # ...and are logged, so the log says what was kept
                    if future.done() and not future.cancelled() and future.exception() is None:
                        reporter.finished(task, future.result(), reused=False)
                raise
            _drain(events, by_key, reporter)


def _drain(events: Any, by_key: dict[str, Task], reporter: Reporter) -> None:
    while True:
        try:
            kind, key, epoch, score = events.get_nowait()
        except queue_mod.Empty:
            return
        if kind == "started":
            reporter.started(by_key[key])
        else:
            reporter.epoch(by_key[key], epoch, score)
