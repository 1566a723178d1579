"""How each kind of worker builds the method's worker context (a :class:`~musefuse.core.method.env.TaskEnv`):
the factories the engine's executors are handed. Importing this module registers the method's task kinds
(:mod:`.kinds`), so a worker that unpickles a factory can run every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from musefuse.core.data.dataset import Dataset
from musefuse.core.engine.executor_registry import WorkerContexts
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.errors import MusefuseError
from musefuse.core.method import kinds  # noqa: F401 - registers the method's task kinds in this process
from musefuse.core.method.env import TaskEnv
from musefuse.core.plugin_host import PluginHost, get_host


def _device(name: str) -> Any:
    import torch

    torch.backends.cudnn.benchmark = False  # fixed kernels, as in the main process
    return torch.device(name)


@dataclass(frozen=True)
class FromFolder:
    """A worker process on this machine: loads the data once from their folder (parsed CSVs come from the
    binary cache) and standardises them as the run did; all picklable."""

    data: Path
    modalities: tuple[str, ...]
    targets: tuple[str, ...]
    fingerprint: str
    device: str

    def __call__(self, store: ArtifactStore) -> TaskEnv:
        from musefuse.core.data.loader import load_dataset, standardise

        device = _device(self.device)
        host = get_host(quiet=True)  # the parent has printed the plugins' warnings
        modalities = [host.modality(n) for n in self.modalities]
        dataset = load_dataset(self.data, modalities, list(self.targets))
        standardise(dataset, modalities)
        if dataset.fingerprint != self.fingerprint:
            raise MusefuseError(f"{self.data}: the data changed while the run was starting; run again.")
        return TaskEnv(dataset, host, device, store)


@dataclass(frozen=True)
class Carrying:
    """A worker anywhere (Ray): the loaded, standardised dataset travels with the factory."""

    dataset: Dataset
    device: str

    def __call__(self, store: ArtifactStore) -> TaskEnv:
        return TaskEnv(self.dataset, get_host(quiet=True), _device(self.device), store)


def worker_contexts(dataset: Dataset, host: PluginHost, device: Any) -> WorkerContexts:
    """The factories the executors build a TaskEnv with: here (this process's host and dataset, which may live
    only in memory), in a spawned process (the data read again from their folder) and on a Ray node."""
    name = str(device)
    return WorkerContexts(
        here=lambda store: TaskEnv(dataset, host, device, store),
        spawned=FromFolder(Path(dataset.root), tuple(dataset.modalities), tuple(dataset.targets),
                           dataset.fingerprint, name),
        shipped=Carrying(dataset, name))
