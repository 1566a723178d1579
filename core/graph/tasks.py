"""Every model fit is a task: explicit inputs, a content-hash key, outputs in the artifact store.

A task's ``spec`` holds everything its outputs depend on — the resolved model settings, the
training budget, the seed, the data (dataset fingerprint and the subject Ids it is fitted on) and
the *refs* of the upstream signals it reads. A ref is ``[task key, subject Ids or None]``: "take
these subjects' signal from that task" (None: every subject). A list of refs is read in order,
later refs overriding earlier ones, which is how out-of-fold signals are assembled:
``[[all_train_key, None], [fold1_key, fold1_ids], ...]``. The key is the sha256 of the spec, so a
changed setting, changed data or a changed upstream model gives a new key and never a stale reuse.

Running a task needs a :class:`TaskEnv` (the standardised dataset, the plugin host, the device and
the store); executors build one per process.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from musefuse.core.data.dataset import Dataset, Standardiser
from musefuse.core.graph.boundary import Plugin, in_task
from musefuse.core.graph.store import ArtifactStore, task_key
from musefuse.core.graph.wiring import feature_input, fusion_input, mean_signal, regressor_input
from musefuse.core.interfaces import FitContext, ModelSettings, TrainingBudget
from musefuse.core.learning.calibration import apply_calibration, reference_quantiles
from musefuse.core.learning.decisions import decide
from musefuse.core.learning.regressor import Regressor
from musefuse.core.plugin_host import PluginHost

# Bump when a code change alters what any task computes from the same spec: old artifacts then
# stop matching instead of being reused.
NUMERICS_VERSION = 1

Kind = Literal["estimator", "fold-mean", "calibration", "regressor", "fuser", "decision"]
Ref = list  # [task key, list of subject Ids | None]


@dataclass(frozen=True)
class Task:
    """One model fit. ``deps`` are the keys of the tasks whose signals it reads."""

    kind: Kind
    label: str  # for people: "difficulty vggface", "fold 2/3 unimodal fau → arousal"
    spec: dict[str, Any]
    key: str = field(init=False)
    deps: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", task_key(self.kind, self.spec, NUMERICS_VERSION))
        object.__setattr__(self, "deps", tuple(dict.fromkeys(_ref_keys(self.spec))))

    @property
    def max_epochs(self) -> int:
        return int(self.spec["fit"]["epochs"]) if "fit" in self.spec else 1

    @property
    def metric(self) -> str:
        return "devel recon. loss" if self.kind == "estimator" else "devel CCC"

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, "key": self.key, "numerics": NUMERICS_VERSION,
                "spec": self.spec}


def _ref_keys(obj: Any) -> list[str]:
    """Every task key mentioned in a spec's refs (values under keys named 'refs')."""
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "refs":
                out += [r[0] for r in v]
            else:
                out += _ref_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            out += _ref_keys(v)
    return out


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
        """Gap-filled model input of every subject (computed once per process).

        ``standardise_on`` (a fold model's fit subjects): z-scored again with those subjects' statistics
        alone, so that the subjects the fold holds out are as new to the model's input scaling as devel
        and test subjects are to the run's (not cached: a fold's copy is needed by one task).
        ``per_recording`` (``standardise: recording``): each recording z-scored with its own statistics
        last, for a modality that is standardised at all (wiring.feature_input).
        """
        per_recording = per_recording and self.host.modality(modality).standardise
        own = None if standardise_on is None else input_standardiser(self.dataset, self.host, modality, standardise_on)
        if own is not None:
            return [feature_input(own.transform(s.features[modality]), missing, per_recording)  # type: ignore[arg-type]
                    for s in self.dataset.subjects]
        key = (modality, missing, per_recording)
        if key not in self._features:
            self._features[key] = [feature_input(s.features[modality], missing, per_recording)  # type: ignore[arg-type]
                                   for s in self.dataset.subjects]
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


Progress = Callable[[int, float], None]


def run_task(task: Task, env: TaskEnv, progress: Progress | None = None) -> dict[str, Any]:
    """Fit the task's model, write its artifact into the store; returns its fit summary."""
    started = time.perf_counter()
    spec = task.spec
    if data_key(env.dataset, spec.get("modality")) != spec["data"]:
        raise RuntimeError(f"{task.label}: the data changed since the run was planned (fingerprint mismatch).")
    fit, devel = env.index(spec["fit_ids"]), env.index(spec.get("devel_ids", []))
    fit_spec = spec.get("fit")  # a model's loss and training budget (plan.fit_budget); decisions and means have none
    ctx = None if fit_spec is None else FitContext(
        device=env.device, seed=spec["seed"], settings=ModelSettings(**spec["settings"]), loss=fit_spec["loss"],
        budget=TrainingBudget(**{k: v for k, v in fit_spec.items() if k != "loss"}),
        weight_decay=spec.get("weight_decay", 0.0), options=dict(spec.get("options", {})), progress=progress)
    with in_task(task.label):  # a plugin's failure names this task
        tensors, meta, outputs, result = _RUNNERS[task.kind](spec, env, fit, devel, ctx)
    info = _fit_summary(task, result, time.perf_counter() - started)
    signals = {s.id: o for s, o in zip(env.dataset.subjects, outputs, strict=True)}
    env.store.put(task.key, task.describe(), tensors, meta, signals, info)
    return info


def _model_input(spec, env: TaskEnv) -> list[np.ndarray]:
    """A model's features: the run's standardisation, or its fit subjects' own (``standardise: fit``), then
    per recording where the run asks for it (``feature_scaling: recording``, see plan.feature_scaling)."""
    own = spec["fit_ids"] if spec.get("standardise") == "fit" else None
    return env.features(spec["modality"], spec["missing"], standardise_on=own,
                        per_recording=spec.get("feature_scaling") == "recording")


def _fit_estimator(spec, env: TaskEnv, fit, devel, ctx):
    x = _model_input(spec, env)
    plugin = Plugin(env.host, "estimator", spec["plugin"])  # its calls and outputs checked (boundary.py)
    est = plugin.create()
    plugin.call("fit()", est.fit, [x[i] for i in fit], [x[i] for i in devel], ctx)
    tensors, meta = plugin.state(est)
    difficulty = plugin.signals("difficulty()", plugin.call("difficulty()", est.difficulty, x), env.dataset.subjects)
    return tensors, {"plugin": plugin.name, **meta}, difficulty, plugin.fit_result(est)


def _fit_fold_mean(spec, env: TaskEnv, fit, devel, ctx):
    raw = spec["members"]  # {"refs": [ref, ...]}: one ref a member; [{"refs": [...]}, ...]: a ref list a member
    members = [env.signal([ref]) for ref in raw["refs"]] if isinstance(raw, dict) else [env.signal(m["refs"])
                                                                                        for m in raw]
    return {}, {"members": len(members)}, mean_signal(members), None


def _fit_calibration(spec, env: TaskEnv, fit, devel, ctx):
    import torch

    d = env.signal(spec["difficulty"]["refs"])
    reference = reference_quantiles([d[i] for i in fit])  # the train subjects' signal (out-of-fold if asked)
    return ({"reference": torch.from_numpy(reference)}, {"method": spec["method"]},
            apply_calibration(spec["method"], d, reference), None)


def _fit_regressor(spec, env: TaskEnv, fit, devel, ctx):
    x = regressor_input(_model_input(spec, env), env.signal(spec["difficulty"]["refs"]) if spec["difficulty"] else None)
    y = env.labels(spec["target"])
    reg, result = Regressor.fit([x[i] for i in fit], [y[i] for i in fit], [x[i] for i in devel],
                                [y[i] for i in devel], ctx, spec["shift"], int(spec["difficulty"] is not None))
    return *reg.state(), reg.predict(x), result


def fusion_matrix(env: TaskEnv, inputs: dict[str, Any]) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Per subject, (T, M) predictions and (T, M) difficulties (None when the fuser gets none)."""
    preds = [env.signal(inputs["predictions"][m]["refs"]) for m in inputs["modalities"]]
    diffs = None if inputs["difficulty"] is None else [
        env.signal(inputs["difficulty"][m]["refs"]) for m in inputs["modalities"]]
    return fusion_input(preds, diffs)


def _fit_fuser(spec, env: TaskEnv, fit, devel, ctx):
    plugin = Plugin(env.host, "fuser", spec["plugin"])  # its calls and outputs checked (boundary.py)
    fuser = plugin.create()
    y = env.labels(spec["target"])
    fp, fd = fusion_matrix(env, spec["fit_inputs"])  # train subjects: in-sample or out-of-fold signals
    ap, ad = fusion_matrix(env, spec["inputs"])  # everyone else (and the run's outputs)

    def pick(xs, idx):
        return None if xs is None else [xs[i] for i in idx]

    plugin.call("fit()", fuser.fit, pick(fp, fit), pick(fd, fit), pick(y, fit),
                (pick(ap, devel), pick(ad, devel), pick(y, devel)), ctx)
    tensors, meta = plugin.state(fuser)
    fused = plugin.signals("predict()", plugin.call("predict()", fuser.predict, ap, ad), env.dataset.subjects)
    return tensors, {"plugin": plugin.name, **meta}, fused, plugin.fit_result(fuser)


def _fit_decision(spec, env: TaskEnv, fit, devel, ctx):
    """The rule of musefuse.core.learning.decisions on the candidates' predictions of the evidence subjects
    (``fit_ids``); its output is the chosen candidate's signal, so what follows reads the choice."""
    y = env.labels(spec["target"])
    outputs = {name: env.signal(spec["candidates"][name]["refs"]) for name in spec["order"]}
    parts = [env.dataset.subjects[i].partition for i in fit]
    decision = decide(spec["decision"], {n: [o[i] for i in fit] for n, o in outputs.items()}, [y[i] for i in fit],
                      spec["evidence"], parts)
    return {}, {"choice": decision.chosen}, outputs[decision.chosen], {"choice": decision.chosen,
                                                                       "decision": decision.as_json()}


_RUNNERS = {"estimator": _fit_estimator, "fold-mean": _fit_fold_mean, "calibration": _fit_calibration,
            "regressor": _fit_regressor, "fuser": _fit_fuser, "decision": _fit_decision}


def _fit_summary(task: Task, result: Any, seconds: float) -> dict[str, Any]:
    info: dict[str, Any] = {"label": task.label, "metric": task.metric, "seconds": round(seconds, 3)}
    if isinstance(result, dict):  # a decision's choice and scores
        info.update(result)
    elif result is not None:
        info.update(best_epoch=result.best_epoch, epochs_run=result.epochs_run, best_score=result.best_score,
                    frames_per_second=result.frames_per_second, history=result.history)
    return info
