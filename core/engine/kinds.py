"""The registry of task kinds: what a kind's runner computes, and how progress reports show it.

A method registers each of its kinds once, when its module of kinds is imported. A runner gets the task,
the worker context (whatever the method's factory built in this process) and a progress callback, and returns
what the store keeps of the task (:class:`Produced`); :func:`run_task` writes it, so a runner never writes the
store itself and an executor never needs to know what a kind does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from musefuse.core.engine.store import ArtifactStore
    from musefuse.core.engine.task import Task

Progress = Callable[[int, float], None]  # (epoch, score so far)


@dataclass
class Produced:
    """What a task leaves in the store: checkpoint tensors and their JSON metadata, one signal per subject
    (subject Id -> (T,) array) and its fit summary (fit.json)."""

    tensors: dict[str, Any]
    meta: dict[str, Any]
    signals: dict[str, Any]
    info: dict[str, Any]


@dataclass(frozen=True)
class TaskKind:
    name: str
    run: Callable[[Task, Any, Progress | None], Produced]  # (task, worker context, progress)
    metric: str = ""  # what a fit's best score is, for progress bars ("devel CCC")
    lower_is_better: bool = False
    epochs: Callable[[dict[str, Any]], int] = lambda _spec: 1  # at most, for progress bars


KINDS: dict[str, TaskKind] = {}


def register_kind(kind: TaskKind) -> None:
    KINDS[kind.name] = kind


def declared(name: str) -> TaskKind | None:
    return KINDS.get(name)


def run_task(task: Task, context: Any, store: ArtifactStore, progress: Progress | None = None) -> dict[str, Any]:
    """Run ``task`` with its kind's runner and write what it produced into ``store``; returns its fit summary."""
    kind = declared(task.kind)
    if kind is None:
        raise KeyError(f"task kind '{task.kind}' is not registered (its method was not imported in this process)")
    out = kind.run(task, context, progress)
    store.put(task.key, task.describe(), out.tensors, out.meta, out.signals, out.info)
    return out.info
