"""The method's task kinds and their runners: estimator, fold-mean, calibration, regressor, stack, fuser, decision.

Each runner reads its task's spec (through :class:`~musefuse.core.method.spec.Spec`), its inputs from the
worker context (:class:`~musefuse.core.method.env.TaskEnv`: data, plugins, upstream signals from the store) and
applies its stage with the functions a fitted pipeline applies too (:mod:`.stages`). The engine writes what it
produced into the store. Importing this module registers the kinds (musefuse.core.engine.kinds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from musefuse.core.engine.kinds import Produced, Progress, TaskKind, register_kind
from musefuse.core.engine.task import Task
from musefuse.core.interfaces import FitContext, TrainingBudget
from musefuse.core.learning import stacking
from musefuse.core.learning.calibration import apply_calibration, reference_quantiles
from musefuse.core.learning.decisions import decide, se_threshold
from musefuse.core.learning.regressor import Regressor
from musefuse.core.method import stages
from musefuse.core.method.boundary import Plugin, in_task
from musefuse.core.method.env import TaskEnv, data_key
from musefuse.core.method.spec import FusionInputs, Spec

Fit = Callable[[Spec, TaskEnv, list[int], list[int], "FitContext | None"], tuple[dict, dict, list[np.ndarray], Any]]


def _model_input(spec: Spec, env: TaskEnv) -> list[np.ndarray]:
    """A model's features: the run's standardisation, or its fit subjects' own (``standardise: fit``), then
    per recording where the run asks for it (``feature_scaling: recording``, see plan.feature_scaling)."""
    return env.features(spec.modality, spec.missing, standardise_on=spec.fit_ids if spec.own_scaling else None,
                        per_recording=spec.per_recording)


def _fit_estimator(spec: Spec, env: TaskEnv, fit, devel, ctx):
    x = _model_input(spec, env)
    plugin = Plugin(env.host, "estimator", spec.plugin)  # its calls and outputs checked (boundary.py)
    est = plugin.create()
    plugin.call("fit()", est.fit, [x[i] for i in fit], [x[i] for i in devel], ctx)
    tensors, meta = plugin.state(est)
    difficulty = stages.difficulty(plugin, est, x, env.dataset.subjects)
    return tensors, {"plugin": plugin.name, **meta}, difficulty, plugin.fit_result(est)


def _fit_fold_mean(spec: Spec, env: TaskEnv, fit, devel, ctx):
    members = [env.signal(refs) for refs in spec.members]
    return {}, {"members": len(members)}, stages.mean_signal(members), None


def _fit_calibration(spec: Spec, env: TaskEnv, fit, devel, ctx):
    import torch

    d = env.signal(spec.difficulty)
    reference = reference_quantiles([d[i] for i in fit])  # the train subjects' signal (out-of-fold if asked)
    return ({"reference": torch.from_numpy(reference)}, {"method": spec.method},
            apply_calibration(spec.method, d, reference), None)


def _fit_regressor(spec: Spec, env: TaskEnv, fit, devel, ctx):
    x = _model_input(spec, env)
    d = None if spec.difficulty is None else env.signal(spec.difficulty)
    xd, y = stages.regressor_input(x, d), env.labels(spec.target)
    reg, result = Regressor.fit([xd[i] for i in fit], [y[i] for i in fit], [xd[i] for i in devel],
                                [y[i] for i in devel], ctx, spec.shift, int(d is not None))
    return *reg.state(), stages.predict_unimodal(reg, x, d), result


def _fit_stack(spec: Spec, env: TaskEnv, fit, devel, ctx):
    """A regressor's trained candidates weighed (core/learning/stacking.py): every train subject's stacked
    prediction from the weights fitted on the other folds' subjects, everyone else's from the all-train weights
    (the checkpoint ``weights``, which a run folder keeps for ``predict``)."""
    import torch

    names = list(spec.candidates)
    views = [env.signal(refs) for refs in spec.candidates.values()]  # train subjects: out-of-fold predictions
    stacked, weights, per_fold = stacking.cross_fit(views, env.labels(spec.target), fit,
                                                    [env.index(held) for held in spec.held])
    tensors = {"weights": torch.from_numpy(weights), "fold_weights": torch.from_numpy(per_fold)}
    return tensors, {"candidates": names, "method": spec.method}, stacked, {
        "weights": {n: round(float(w), 6) for n, w in zip(names, weights, strict=True)},
        "fold_weights": [{n: round(float(w), 6) for n, w in zip(names, row, strict=True)} for row in per_fold]}


def _fit_fold_view(spec: Spec, env: TaskEnv, fit, devel, ctx):
    """One fold's models of the candidate the regressor's decision kept, their mean (plan._fold_views)."""
    candidates = spec.view_candidates
    chosen = next(iter(candidates)) if spec.follows is None else env.store.fit_info(spec.follows)["choice"]
    return {}, {"choice": chosen}, stages.mean_signal([env.signal(refs) for refs in candidates[chosen]]), {
        "choice": chosen}


def fusion_matrix(env: TaskEnv, inputs: FusionInputs) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Per subject, (T, M) predictions and (T, M) difficulties (None when the fuser gets none)."""
    preds = [env.signal(inputs.predictions(m)) for m in inputs.modalities]
    diffs = [env.signal(inputs.difficulty(m)) for m in inputs.modalities] if inputs.reads_difficulty else None
    return stages.fusion_input(preds, diffs)


def _fit_fuser(spec: Spec, env: TaskEnv, fit, devel, ctx):
    plugin = Plugin(env.host, "fuser", spec.plugin)  # its calls and outputs checked (boundary.py)
    fuser = plugin.create()
    y = env.labels(spec.target)
    fp, fd = fusion_matrix(env, spec.fit_inputs)  # train subjects: in-sample or out-of-fold signals
    ap, ad = fusion_matrix(env, spec.inputs)  # everyone else (and the run's outputs)

    def pick(xs, idx):
        return None if xs is None else [xs[i] for i in idx]

    folds = [fusion_matrix(env, inputs) for inputs in spec.per_fold or []]  # fusion_apply: per-fold
    held_out = (pick(ap, devel), pick(ad, devel), pick(y, devel))
    if folds:  # early stopping reads what the fuser will be given: each devel subject once per fold
        held_out = ([x for p, _ in folds for x in pick(p, devel)],
                    None if ad is None else [x for _, d in folds for x in pick(d, devel)], pick(y, devel) * len(folds))
    plugin.call("fit()", fuser.fit, pick(fp, fit), pick(fd, fit), pick(y, fit), held_out, ctx)
    tensors, meta = plugin.state(fuser)
    subjects = env.dataset.subjects
    fused = stages.fuse(plugin, fuser, ap, ad, subjects)  # train subjects: from their out-of-fold inputs
    if folds:  # everyone else: the mean of the fold-by-fold fused outputs
        per_fold = stages.mean_signal([stages.fuse(plugin, fuser, p, d, subjects) for p, d in folds])
        train = set(fit)
        fused = [fused[i] if i in train else per_fold[i] for i in range(len(subjects))]
    return tensors, {"plugin": plugin.name, **meta}, fused, plugin.fit_result(fuser)


def _fit_decision(spec: Spec, env: TaskEnv, fit, devel, ctx):
    """The rule of musefuse.core.learning.decisions on the candidates' predictions of the evidence subjects
    (``fit_ids``); its output is the chosen candidate's signal, so what follows reads the choice."""
    y = env.labels(spec.target)
    outputs = {name: env.signal(refs) for name, refs in spec.candidates.items()}
    parts = [env.dataset.subjects[i].partition for i in fit]
    decision = decide(spec.decision, {n: [o[i] for i in fit] for n, o in outputs.items()}, [y[i] for i in fit],
                      spec.evidence, parts, threshold=se_threshold(spec.threshold, len(outputs) - 1),
                      within_best=spec.threshold == "within-best")
    return {}, {"choice": decision.chosen}, outputs[decision.chosen], {"choice": decision.chosen,
                                                                       "decision": decision.as_json()}


def _runner(fit_stage: Fit) -> Callable[[Task, TaskEnv, Progress | None], Produced]:
    """A task kind's runner: check the data, build the fit context, run the stage under the task's name."""
    def run(task: Task, env: TaskEnv, progress: Progress | None) -> Produced:
        started = time.perf_counter()
        spec = Spec(task.spec)
        if data_key(env.dataset, spec.modality) != spec.data:
            raise RuntimeError(f"{task.label}: the data changed since the run was planned (fingerprint mismatch).")
        fit, devel = env.index(spec.fit_ids), env.index(spec.devel_ids)
        ctx = None if not spec.fitted else FitContext(
            device=env.device, seed=spec.seed, settings=spec.settings, loss=spec.loss,
            budget=TrainingBudget(**spec.budget), weight_decay=spec.weight_decay, options=spec.options,
            progress=progress)
        with in_task(task.label):  # a plugin's failure names this task
            tensors, meta, outputs, result = fit_stage(spec, env, fit, devel, ctx)
        info = _fit_summary(task, result, time.perf_counter() - started)
        signals = {s.id: o for s, o in zip(env.dataset.subjects, outputs, strict=True)}
        return Produced(tensors, meta, signals, info)
    return run


def _fit_summary(task: Task, result: Any, seconds: float) -> dict[str, Any]:
    info: dict[str, Any] = {"label": task.label, "metric": task.metric, "seconds": round(seconds, 3)}
    if isinstance(result, dict):  # a decision's choice and scores
        info.update(result)
    elif result is not None:
        info.update(best_epoch=result.best_epoch, epochs_run=result.epochs_run, best_score=result.best_score,
                    frames_per_second=result.frames_per_second, history=result.history)
    return info


def _epochs(raw: dict[str, Any]) -> int:
    spec = Spec(raw)
    return int(spec.budget["epochs"]) if spec.fitted else 1


for _name, _fit in {"estimator": _fit_estimator, "fold-mean": _fit_fold_mean, "calibration": _fit_calibration,
                    "regressor": _fit_regressor, "stack": _fit_stack,
                    "fold-view": _fit_fold_view, "fuser": _fit_fuser,
                    "decision": _fit_decision}.items():
    register_kind(TaskKind(_name, _runner(_fit), metric="devel recon. loss" if _name == "estimator" else "devel CCC",
                           lower_is_better=_name == "estimator", epochs=_epochs))
