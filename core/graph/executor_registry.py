"""Executors by name (``--executor``): each a factory with its own options model.

A new executor is one :func:`register` call: its name, the pydantic model of its options (fields
named like the run's config fields it reads, e.g. ``ray_address``) and a factory that builds it for
a loaded dataset. An optional ``check`` runs before any data is read (a missing extra fails early).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from musefuse.core.errors import ConfigError, unknown
from musefuse.core.graph.executors import Executor, InProcessExecutor, LocalExecutor, Parallelism, WorkerSpec
from musefuse.core.graph.ray_executor import RayExecutor, import_ray
from musefuse.core.graph.store import ArtifactStore
from musefuse.core.graph.tasks import TaskEnv


@dataclass(frozen=True)
class ExecutorSetting:
    """What every executor is built from: the run's parallelism, data, plugins, device and store."""

    par: Parallelism
    dataset: Any  # the loaded, standardised Dataset (its root is re-read by worker processes)
    host: Any  # PluginHost
    device: Any  # torch.device
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


def check_executor(cfg: Any) -> None:
    """Fail before any data is read when ``cfg.execution.executor`` is unknown or cannot run here."""
    executor_entry(cfg.execution.executor).check()


def make_executor(cfg: Any, par: Parallelism, dataset: Any, host: Any, device: Any, store: ArtifactStore,
                  log: Any = None) -> Executor:
    """The executor ``cfg.execution.executor`` names, with its options read from the execution fields of the same
    names."""
    entry = executor_entry(cfg.execution.executor)
    options = entry.options.model_validate({name: getattr(cfg.execution, name) for name in entry.options.model_fields})
    return entry.build(ExecutorSetting(par, dataset, host, device, store, log), options)


def _inprocess(s: ExecutorSetting, _options: NoOptions) -> Executor:
    return InProcessExecutor(TaskEnv(s.dataset, s.host, s.device, s.store), s.par.threads)


def _local(s: ExecutorSetting, options: NoOptions) -> Executor:
    if s.par.workers <= 1:  # a single worker process would only add its start-up
        return _inprocess(s, options)
    spec = WorkerSpec(Path(s.dataset.root), tuple(s.dataset.modalities), tuple(s.dataset.targets),
                      s.dataset.fingerprint, str(s.device), s.par.threads, s.store.root)
    return LocalExecutor(spec, s.par.workers)


def _ray(s: ExecutorSetting, options: RayOptions) -> Executor:
    return RayExecutor(s.dataset, s.store.root, str(s.device), s.par.threads, options.ray_address,
                       options.gpus_per_task, log=s.log or (lambda _m: None))


register("local", NoOptions, _local)  # worker processes (one: in this process)
register("inprocess", NoOptions, _inprocess)  # one model at a time, in this process
register("ray", RayOptions, _ray, check=import_ray)  # Ray tasks on a local instance or a cluster (docs/ray.md)
