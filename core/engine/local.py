"""The local executor: ready tasks run concurrently in worker processes on this machine.

``workers`` processes (``concurrent.futures``, spawn), each building its worker context once (the method's
factory: for musefuse, the data loaded from its folder); on CPU they use the cores, on CUDA several trainings
share the GPU. A worker dies with the process that started it, whatever kills that (SIGKILL included), and never
writes a store entry once it is gone (:mod:`.parent`, :class:`~musefuse.core.engine.store.WorkerStore`).

When tasks fail, the others that are running finish into the store, nothing new starts, and every failure is
reported (one failure is raised as it is; several as one error naming each).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue as queue_mod
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from musefuse.core.engine.executors import Executor, Reporter, why_failed
from musefuse.core.engine.task import Task
from musefuse.core.engine.worker import init_worker, work
from musefuse.core.errors import MusefuseError

RESUME = "Finished models are kept in the store: run the same command again to resume."


class LocalExecutor(Executor):
    """Ready tasks run concurrently in ``workers`` processes (a spawn-based ``ProcessPoolExecutor``).

    ``factory(store)`` builds a worker's context (picklable: it travels to every worker); ``store`` is the
    artifact store's root; ``threads`` torch threads per worker.
    """

    def __init__(self, factory: Callable[[Any], Any], store: Path, threads: int, workers: int) -> None:
        self.factory, self.store, self.threads, self.workers = factory, Path(store), threads, workers

    def execute(self, tasks: Sequence[Task], reporter: Reporter) -> None:
        if not tasks:
            return
        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked; spawn works everywhere
        events = context.Queue()
        by_key = {t.key: t for t in tasks}
        done: set[str] = set()  # keys finished in this call; deps outside `tasks` are already in the store
        todo = list(tasks)
        running: dict[Future, Task] = {}
        failed: list[tuple[Task, BaseException]] = []
        # pickled here, unpickled by the worker once it is tied to this process (worker.py)
        initargs = (pickle.dumps(self.factory), str(self.store), self.threads, events, os.getpid())
        with ProcessPoolExecutor(min(self.workers, len(tasks)), mp_context=context, initializer=init_worker,
                                 initargs=initargs) as pool:
            try:
                while running or (todo and not failed):
                    if not failed:  # after a failure nothing new starts; what runs finishes into the store
                        for task in [t for t in todo if all(d in done or d not in by_key for d in t.deps)]:
                            todo.remove(task)
                            running[pool.submit(work, task)] = task
                    finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                    _drain(events, by_key, reporter)
                    for future in finished:
                        task = running.pop(future)
                        try:
                            info = future.result()
                        except BrokenProcessPool:
                            names = ", ".join(t.label for t in [task, *running.values()])
                            raise MusefuseError(f"A worker process died (killed, or out of memory) while training: "
                                                f"{names}. {RESUME}") from None
                        except Exception as exc:  # noqa: BLE001 - a task's failure, reported with the others'
                            failed.append((task, exc))
                            continue
                        done.add(task.key)
                        reporter.finished(task, info, reused=False)
            except BaseException:
                for future in running:
                    future.cancel()
                pool.shutdown(wait=True, cancel_futures=True)  # the running tasks finish into the store
                for future, task in running.items():  # ...and are logged, so the log says what was kept
                    if future.done() and not future.cancelled() and future.exception() is None:
                        reporter.finished(task, future.result(), reused=False)
                raise
            _drain(events, by_key, reporter)
        if failed:
            raise _failure(failed, len(tasks))


def _failure(failed: list[tuple[Task, BaseException]], total: int) -> BaseException:
    """One failure as it was raised; several as one error that names each task and why it failed."""
    if len(failed) == 1:
        return failed[0][1]
    details = [f"{task.label}:\n{exc.details}" for task, exc in failed if getattr(exc, "details", None)]
    error = MusefuseError(f"{len(failed)} of {total} task(s) failed:\n"
                          + "\n".join(f"  {task.label}: {why_failed(exc)}" for task, exc in failed) + f"\n{RESUME}"
                          + ("\nThe plugins' tracebacks are in the run's log.txt (--debug prints them)."
                             if details else ""))
    error.details = "\n".join(details) or None  # log.txt and --debug
    return error


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
