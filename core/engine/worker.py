"""The life of a local worker process (LocalExecutor): tied to its parent first, then its context built.

This module is light on purpose: at the top it imports only :mod:`.parent` (the standard library), and the
method's factory arrives pickled into bytes, so nothing heavy (torch, numpy, the method and its plugins) is
imported before :func:`init_worker` has armed the parent-death signal. A spawned worker unpickles its
initializer's arguments before it runs any of it; a factory passed as an object would import the method then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from musefuse.core import procs

_CONTEXT: Any = None  # what the method's runners need in this process (built once, by its factory)
_STORE: Any = None
_EVENTS: Any = None


def init_worker(factory: bytes, store: str, threads: int, events: Any, parent_pid: int) -> None:
    """Tie the worker to its parent, then build the worker context (e.g. the data, loaded once)."""
    global _CONTEXT, _STORE, _EVENTS
    procs.die_with_parent(parent_pid)
    import pickle

    from musefuse.core.engine.executors import apply_threads
    from musefuse.core.engine.store import WorkerStore

    apply_threads(threads)
    _STORE = WorkerStore(Path(store), parent_pid)
    _CONTEXT = pickle.loads(factory)(_STORE)  # imports the method, which registers its task kinds
    _EVENTS = events


def work(task: Any) -> dict[str, Any]:
    """Run one task in this worker; started and epoch events go to the parent through the queue."""
    from musefuse.core.engine.kinds import run_task

    _EVENTS.put(("started", task.key, 0, 0.0))
    return run_task(task, _CONTEXT, _STORE, lambda e, s: _EVENTS.put(("epoch", task.key, e, s)))
