"""Executors by name (``--executor``): each a factory with its own options model.

A new executor is one :func:`register` call: its name, the pydantic model of its options (fields
named like the run's config fields it reads, e.g. ``ray_address``) and a factory that builds it from an
:class:`ExecutorSetting`. An optional ``check`` runs before any data is read (a missing extra fails early).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from musefuse.core.engine.executors import Executor, InProcessExecutor, Parallelism
from musefuse.core.engine.local import LocalExecutor
from musefuse.core.engine.ray_executor import RayExecutor, import_ray
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.errors import ConfigError, unknown

ContextFactory = Callable[[ArtifactStore], Any]  # the store -> a worker context (what the method's runners read)


@dataclass(frozen=True)
class WorkerContexts:
    """How the method builds its worker context, per place a task can run (each factory gets the store).

    The engine never looks inside a context: it hands it to the runner of each task kind.
    """

    here: ContextFactory  # in this process, from what it holds (its data may live only in memory)
    spawned: ContextFactory  # picklable: in a fresh process on this machine (reads the data from their folder)
    shipped: ContextFactory  # picklable, carrying its data: in a worker on any node (Ray's object store)


@dataclass(frozen=True)
class ExecutorSetting:
    """What every executor is built from: the run's parallelism, device, store and worker contexts."""

    par: Parallelism
    contexts: WorkerContexts
    device: str  # 'cpu' or 'cuda'
    store: ArtifactStore
    log: Callable[[str], None] | None = None


class NoOptions(BaseModel):
    model_config = ConfigDict(frozen=True)


class RayOptions(BaseModel):
    model_config = ConfigDict(frozen=True)

    ray_address: str | None = None  # the cluster to join; None: $RAY_ADDRESS, else a local instance
    gpus_per_task: float | None = None  # on CUDA: GPU share per training (RayExecutor checks it)


@dataclass(frozen=True)
class ExecutorEntry:
    options: type[BaseModel]
    build: Callable[[ExecutorSetting, Any], Executor]
    check: Callable[[], Any] = lambda: None


EXECUTORS: dict[str, ExecutorEntry] = {}


def register(name: str, options: type[BaseModel], build: Callable[[ExecutorSetting, Any], Executor],
             check: Callable[[], Any] = lambda: None) -> None:
    """Make ``--executor name`` build ``build(setting, options)``."""
    EXECUTORS[name] = ExecutorEntry(options, build, check)


def executor_entry(name: str) -> ExecutorEntry:
    if name not in EXECUTORS:
        raise ConfigError(unknown("executor", name, list(EXECUTORS)))
    return EXECUTORS[name]


def check_executor(execution: Any) -> None:
    """Fail before any data is read when ``execution.executor`` (the run's execution settings) is unknown or
    cannot run here."""
    executor_entry(execution.executor).check()


def make_executor(execution: Any, par: Parallelism, contexts: WorkerContexts, device: Any, store: ArtifactStore,
                  log: Any = None) -> Executor:
    """The executor ``execution.executor`` names, with its options read from the execution settings' fields of the
    same names."""
    entry = executor_entry(execution.executor)
    options = entry.options.model_validate({name: getattr(execution, name) for name in entry.options.model_fields})
    return entry.build(ExecutorSetting(par, contexts, str(device), store, log), options)


def _inprocess(s: ExecutorSetting, _options: NoOptions) -> Executor:
    return InProcessExecutor(s.contexts.here(s.store), s.store, s.par.threads)


def _local(s: ExecutorSetting, options: NoOptions) -> Executor:
    if s.par.workers <= 1:  # a single worker process would only add its start-up
        return _inprocess(s, options)
    return LocalExecutor(s.contexts.spawned, s.store.root, s.par.threads, s.par.workers)


def _ray(s: ExecutorSetting, options: RayOptions) -> Executor:
    return RayExecutor(s.contexts.shipped, s.store.root, s.device, s.par.threads, options.ray_address,
                       options.gpus_per_task, log=s.log or (lambda _m: None))


register("local", NoOptions, _local)  # worker processes (one: in this process)
register("inprocess", NoOptions, _inprocess)  # one model at a time, in this process
register("ray", RayOptions, _ray, check=import_ray)  # Ray tasks on a local instance or a cluster (docs/ray.md)
