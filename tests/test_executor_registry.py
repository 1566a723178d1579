"""Executors by name: --executor picks a registered factory, which gets its own options from the config."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from musefuse.core.engine import executor_registry as registry
from musefuse.core.engine.executors import InProcessExecutor, Parallelism
from musefuse.core.engine.local import LocalExecutor
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.errors import ConfigError

# what a method hands the executors: a factory per place a task can run (here plain values stand for them)
CONTEXTS = registry.WorkerContexts(here=lambda store: "context", spawned="rebuilds from the data folder",
                                   shipped="carries the data")


def build(executor: str, workers: int = 1, **fields):
    execution = SimpleNamespace(executor=executor, **fields)  # the fields of cfg.execution
    return registry.make_executor(execution, Parallelism(workers, 1), CONTEXTS, "cpu", ArtifactStore(Path("store")))


def test_local_runs_in_process_with_one_worker_and_in_worker_processes_with_more():
    assert isinstance(build("local", workers=1), InProcessExecutor)
    pool = build("local", workers=3)
    assert isinstance(pool, LocalExecutor) and pool.workers == 3
    assert pool.factory == "rebuilds from the data folder" and pool.store == Path("store")
    assert isinstance(build("inprocess", workers=3), InProcessExecutor)


def test_an_unknown_executor_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"Unknown executor 'rya'\. Did you mean 'ray'.*Known: inprocess, local, ray"):
        build("rya")


def test_a_registered_executor_gets_its_options_from_the_config_fields_of_their_names(monkeypatch):
    class Options(BaseModel):
        queue: str = "default"

    built = []

    def factory(setting, options):
        built.append((setting.par.workers, options.queue))
        return InProcessExecutor(None, setting.store)

    monkeypatch.setitem(registry.EXECUTORS, "slurm", registry.ExecutorEntry(Options, factory))
    build("slurm", workers=4, queue="gpu", unrelated=1)
    assert built == [(4, "gpu")]
