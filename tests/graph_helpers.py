"""Helpers shared by the task-graph tests (test_graph.py, test_ray.py)."""

from __future__ import annotations

from pathlib import Path

from musefuse.core.config import RunConfig
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.plugin_host import get_host

# In-sample difficulty and fusion inputs, the all-train auto-encoder for everyone, and the RE forced into both
# stages keep a two-modality graph at 2 estimators, 4 regressors, 2 fusers; the out-of-fold defaults are exercised
# by the CLI tests, decisions by test_decisions.py.
TINY = {"layers": 1, "hidden": 8, "epochs": 2, "threads": 1, "device": "cpu", "preset": "cpu",
        "difficulty_train": "in-sample", "fusion_train": "in-sample", "difficulty_unseen": "all-train",
        "re_unimodal": True, "re_fusion": True}


def loaded(data: Path, cfg: RunConfig):
    """The standardised dataset of ``cfg``'s modalities and targets, its statistics and the plugin host."""
    host = get_host()
    mods = [host.modality(m) for m in cfg.inputs.modalities]
    ds = load_dataset(data, mods, cfg.inputs.targets)
    return ds, standardise(ds, mods), host


class Recorder:
    """A reporter that remembers which tasks were trained and which reused, in order."""

    def __init__(self) -> None:
        self.trained: list[str] = []
        self.reused: list[str] = []

    def started(self, task): ...

    def epoch(self, task, epoch, score): ...

    def finished(self, task, info, reused):
        (self.reused if reused else self.trained).append(task.label)


def regressor(plan, modality: str, target: str):
    """The one model of a regressor that has one candidate of one model (RE forced, in-sample: ``TINY``)."""
    (models,) = plan.unimodal[(modality, target)].candidates.values()
    (model,) = models
    return model
