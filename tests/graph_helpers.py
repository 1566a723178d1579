"""Helpers shared by the task-graph tests (test_graph.py, test_ray.py)."""

from __future__ import annotations

from pathlib import Path

from musefuse.core.config import RunConfig
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.plugin_host import get_host

# In-sample difficulty and fusion inputs, the all-train auto-encoder for everyone, the RE forced into both stages
# and no fuser candidates keep a two-modality graph at 2 estimators, 4 regressors, 2 fusers; the out-of-fold
# defaults are exercised by the CLI tests, decisions by test_decisions.py.
TINY = {"layers": 1, "hidden": 8, "epochs": 2, "threads": 1, "device": "cpu", "preset": "cpu",
        "difficulty_train": "in-sample", "fusion_train": "in-sample", "difficulty_unseen": "all-train",
        "re_unimodal": True, "re_fusion": True, "fuser_candidates": []}


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


# The default method (decided difficulty, out-of-fold fusion inputs and difficulty, fold-mean difficulty for
# unseen subjects) at TINY's size, on two modalities: what the decision, stacking and fold tests plan and run.
MODS = ["egemaps", "fau"]
DEFAULTS = {**TINY, "re_unimodal": "devel", "re_fusion": "devel", "fusion_train": "out-of-fold",
            "difficulty_train": "out-of-fold", "difficulty_unseen": "fold-mean", "fuser_candidates": ["convex"]}


def small_data(tmp_path_factory, name: str, **synth) -> Path:
    """Small synthetic data of MODS (seed 2; ``synth``: more write_synthetic arguments)."""
    from musefuse.lab.synth import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp(name) / "small", small=True, seed=2, modalities=MODS, **synth)


def config(data: Path, **changes) -> RunConfig:
    """The DEFAULTS run of MODS on ``data``, with ``changes``."""
    return RunConfig(**{"modalities": MODS, "data": data, **DEFAULTS, **changes}).with_preset(cuda=False)
