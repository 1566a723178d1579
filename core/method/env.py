"""The worker context of the method: what its task runners read (:class:`TaskEnv`: the standardised dataset, the
plugin host, the device and the store), and the data key every task's spec holds."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musefuse.core.data.dataset import Dataset, Standardiser
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.engine.task import Ref
from musefuse.core.method.stages import model_input
from musefuse.core.plugin_host import PluginHost


@dataclass
class TaskEnv:
    """What running a task needs, built once per process."""

    dataset: Dataset  # standardised
    host: PluginHost
    device: Any  # torch.device
    store: ArtifactStore
    _features: dict[tuple[str, str, bool], list[np.ndarray]] = field(default_factory=dict)

    def index(self, ids: Sequence[str]) -> list[int]:
        pos = {s.id: i for i, s in enumerate(self.dataset.subjects)}
        return [pos[i] for i in ids]

    def features(self, modality: str, missing: str, standardise_on: Sequence[str] | None = None,
                 per_recording: bool = False) -> list[np.ndarray]:
        """Gap-filled model input of every subject (computed once per process; stages.model_input).

        ``standardise_on`` (a fold model's fit subjects): z-scored again with those subjects' statistics
        alone, so that the subjects the fold holds out are as new to the model's input scaling as devel
        and test subjects are to the run's (not cached: a fold's copy is needed by one task).
        ``per_recording`` (``standardise: recording``): each recording z-scored with its own statistics
        last, for a modality that is standardised at all.
        """
        raw = [s.features[modality] for s in self.dataset.subjects]
        mod = self.host.modality(modality)
        if standardise_on is not None:
            own = input_standardiser(self.dataset, self.host, modality, standardise_on)
            return model_input(raw, mod, missing, per_recording, own)  # type: ignore[arg-type]
        key = (modality, missing, per_recording and mod.standardise)
        if key not in self._features:
            self._features[key] = model_input(raw, mod, missing, per_recording)  # type: ignore[arg-type]
        return self._features[key]

    def signal(self, refs: Sequence[Ref]) -> list[np.ndarray]:
        """One (T,) array per subject, assembled from upstream tasks' signals (later refs override)."""
        merged: dict[str, np.ndarray] = {}
        for key, ids in refs:
            sig = self.store.signals(key)
            merged.update(sig if ids is None else {i: sig[i] for i in ids})
        return [merged[s.id] for s in self.dataset.subjects]

    def labels(self, target: str) -> list[np.ndarray]:
        return [s.labels[target] for s in self.dataset.subjects]


def input_standardiser(dataset: Dataset, host: PluginHost, modality: str,
                       fit_ids: Sequence[str]) -> Standardiser | None:
    """A fold model's own input scaling, over the (run-standardised) features of its fit subjects;
    None for a modality that is not standardised."""
    if not host.modality(modality).standardise:
        return None
    by_id = {s.id: s for s in dataset.subjects}
    return Standardiser.fit([by_id[i].features[modality] for i in fit_ids])


def data_key(dataset: Dataset, modality: str | None = None) -> str:
    """What a task's data are: labels, partitions and timelines, plus one modality's files if it reads them.

    Keyed per modality, a regressor trained in a run of egemaps+fau is reused by a run of
    egemaps+vggface+fau on the same data. The timelines enter because an unlabelled subject's
    timeline is the union of every loaded modality's timestamps (docs/data.md).
    """
    parts = dataset.part_fingerprints
    if not parts:  # a dataset built in memory (e.g. corrupted copies): all of it
        return dataset.fingerprint
    h = hashlib.sha256(parts["labels"].encode())
    for s in dataset.subjects:
        h.update(s.id.encode())
        h.update(np.ascontiguousarray(s.timestamps, dtype=np.int64).tobytes())
    if modality is not None:
        h.update(parts[modality].encode())
    return h.hexdigest()
