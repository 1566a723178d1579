"""The tasks of a run, built from its configuration: each spec holds everything the task's outputs depend on.

The dicts built here are hashed into the task keys (musefuse.core.engine.task), so they are written exactly as
the previous release wrote them: a key is left out where it has no value (never ``None`` in its place), and
settings that came later enter a spec only when they are set (``feature_scaling``, ``weight_decay``, ``init``,
``standardise``), so that models trained before keep their keys. tests/test_task_keys.py holds every key.
The runners read these dicts through :class:`musefuse.core.method.spec.Spec`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import STEP_SECONDS, Dataset
from musefuse.core.engine.task import Ref, Task
from musefuse.core.errors import ConfigError
from musefuse.core.learning import stacking
from musefuse.core.learning.decisions import RULE
from musefuse.core.method.candidates import Candidate
from musefuse.core.method.env import data_key
from musefuse.core.plugin_host import PluginHost

# A model with a difficulty input starts from the no-signal model's weights (models.seeded_model). In the key
# of those models only, so that models trained before are not reused and models without the signal keep theirs.
PAIRED_INIT = {True: {"init": "paired"}, False: {}}


def model_seed(seed: int, *parts: str) -> int:
    """A distinct, reproducible seed per model (same run seed -> same seeds everywhere)."""
    digest = hashlib.sha256("/".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def folds(cfg: RunConfig, dataset: Dataset) -> list[list[str]]:
    """Held-out subject Ids of each of ``cfg.method.ensemble.folds`` folds over the train partition (seeded)."""
    train_idx = [i for i, s in enumerate(dataset.subjects) if s.partition == "train"]
    k = cfg.method.ensemble.folds
    if k > len(train_idx):
        raise ConfigError(f"'folds': {k} folds need at least {k} train subjects (the data have {len(train_idx)}).")
    order = np.random.default_rng(cfg.execution.seed).permutation(train_idx)
    return [[dataset.subjects[i].id for i in held] for held in np.array_split(order, k)]


def fused_per_fold(cfg: RunConfig, fuser_learned: bool) -> int:
    """How many folds' predictions a fuser fuses one at a time for unseen subjects (``fusion_apply: per-fold``,
    with out-of-fold train inputs and a fuser that learns); 0: it reads their mean."""
    fusion = cfg.method.fusion
    per_fold = fusion.fusion_apply == "per-fold" and fusion.fusion_train == "out-of-fold" and fuser_learned
    return cfg.method.ensemble.folds if per_fold else 0


def fit_budget(cfg: RunConfig) -> dict[str, Any]:
    """The training budget in a model's key (with the loss: what every learned model is fitted for)."""
    return {"loss": cfg.model.loss, **cfg.budget.resolved().key()}


def feature_scaling(cfg: RunConfig) -> dict[str, str]:
    """Per-recording standardisation (``standardise: recording``) in the key of every model, only when asked
    for, so that the keys of models trained with train statistics stay as they were.

    Every model reads it, the auto-encoders included: the difficulty must describe the input the regressor
    reads; it then flags what is unusual within a recording, no longer how far a subject sits from the train
    population. A fold model's own scaling (``fold_standardise``) is affine per column and the per-recording
    z-scoring, applied after it, cancels it: the two settings need no special case, and with ``recording``
    held-out train subjects are scaled exactly like devel and test ones, which is what fold scaling is for.
    """
    return {"feature_scaling": "recording"} if cfg.inputs.standardise == "recording" else {}


def regularisation(cfg: RunConfig) -> dict[str, float]:
    """Weight decay in the key of regressors and fusers (the models that take it), only when set."""
    return {"weight_decay": cfg.model.weight_decay} if cfg.model.weight_decay else {}


def fold_tag(k: int, n: int) -> str:
    return f"fold {k + 1}/{n} "


def inner_split(fit_ids: list[str], seed: int) -> tuple[list[str], list[str]]:
    """``fold_stopping: inner``: a fold model's fit subjects split into those it learns from and a quarter (at
    least 2) that stop its training, so that devel only judges. The same split for every model of one fold."""
    n = max(2, round(len(fit_ids) / 4))
    if len(fit_ids) - n < 2:
        raise ConfigError(f"'fold_stopping: inner' holds out {n} of a fold model's {len(fit_ids)} subjects and "
                          "leaves too few to learn from: use fold_stopping: devel, or fewer folds.")
    inner = set(np.random.default_rng(seed).permutation(fit_ids)[:n].tolist())
    return [i for i in fit_ids if i not in inner], [i for i in fit_ids if i in inner]


def keep(train: list[str], held: list[str]) -> list[str]:
    out = set(held)
    return [i for i in train if i not in out]


@dataclass
class RunFacts:
    """What every task of one run shares — its settings, data, plugins and which signals are out-of-fold — and
    the builders of each kind's task."""

    cfg: RunConfig
    dataset: Dataset
    modalities: list[Any]  # the run's Modality plugins, in its order
    est_cls: Any
    ids: dict[str, list[str]]  # partition -> subject Ids (train, devel)
    common: dict[str, Any]  # in the spec of every model
    held: list[list[str]]  # each fold's held-out train subjects ([] without folds)
    oof_fusion: bool  # the fuser learns from out-of-fold predictions
    oof_difficulty: bool  # train subjects' difficulty from the fold estimators
    calibrated: bool
    fold_mean: bool  # unseen subjects' difficulty: the mean of the fold estimators'
    shared_signal: bool  # fold models read the run's difficulty signal, not their own estimator's
    needs_fold_estimators: bool
    fusion_setting: bool | str  # re_fusion where the fuser can read the difficulty, else False
    decided_fusion: bool  # the data decide whether the fuser reads the difficulty
    per_fold_fusion: bool  # unseen subjects fused one fold at a time (fusion_apply: per-fold)
    other_fusers: list[str]  # the fuser_candidates planned beside the run's fuser

    @classmethod
    def of(cls, cfg: RunConfig, dataset: Dataset, host: PluginHost, device_type: str) -> RunFacts:
        difficulty, decisions, fusion = cfg.method.difficulty, cfg.method.decisions, cfg.method.fusion
        est_cls, fuser_cls = host.estimator(difficulty.estimator), host.fuser(fusion.fuser)
        ids = {p: [s.id for s in dataset.subjects if s.partition == p] for p in ("train", "devel")}
        if len(set(decisions.fuser_candidates)) < len(decisions.fuser_candidates):
            raise ConfigError(f"fuser_candidates {decisions.fuser_candidates}: name each fuser once.")
        for name in decisions.fuser_candidates:  # an unknown plugin is named here, before anything trains
            host.fuser(name)
        # the run's own fuser is the first candidate already; the mean baseline is not replaced
        others = [n for n in decisions.fuser_candidates if n != fusion.fuser] if fuser_cls.learned else []
        used = [("estimator", difficulty.estimator), ("fuser", fusion.fuser)] + [
            ("fuser", name) for name in others] + [("modality", m) for m in cfg.inputs.modalities]
        origins = {f"{kind} {name}": _origin(host, kind, name) for kind, name in used}
        common = {"data": data_key(dataset), "device": device_type, "missing": cfg.inputs.missing,
                  "devel_ids": ids["devel"], "plugins": {k: v for k, v in origins.items() if v},  # third-party code
                  "fit": fit_budget(cfg), **feature_scaling(cfg)}
        uses_signal = est_cls.gives_signal and bool(decisions.re_unimodal or decisions.re_fusion)
        oof_fusion = fusion.fusion_train == "out-of-fold" and fuser_cls.learned
        oof_difficulty = difficulty.difficulty_train == "out-of-fold" and uses_signal
        calibrated = difficulty.difficulty_calibration != "none" and uses_signal
        fold_mean = difficulty.difficulty_unseen == "fold-mean" and uses_signal
        shared_signal = oof_difficulty or calibrated or fold_mean
        held = folds(cfg, dataset) if (oof_fusion or oof_difficulty or fold_mean) else []
        # A fuser that learns nothing is not decided on (it reads no difficulty unless forced to be given it).
        readable = est_cls.gives_signal and (fuser_cls.learned or decisions.re_fusion != "devel")
        fusion_setting = decisions.re_fusion if readable else False
        return cls(cfg, dataset, [host.modality(n) for n in cfg.inputs.modalities], est_cls, ids, common, held,
                   oof_fusion, oof_difficulty, calibrated, fold_mean, shared_signal,
                   oof_difficulty or fold_mean or (oof_fusion and not shared_signal), fusion_setting,
                   fusion_setting == "devel", fused_per_fold(cfg, fuser_learned=fuser_cls.learned) > 0, others)

    def own_scaling(self, tag: str) -> dict[str, str]:
        """A fold model standardises its input on its own subjects (in the key only then: older keys stay)."""
        return {"standardise": "fit"} if tag and self.cfg.method.ensemble.fold_standardise else {}

    def estimator(self, m, tag: str, fit_ids: list[str]) -> Task:
        cfg, difficulty = self.cfg, self.cfg.method.difficulty
        return Task("estimator", f"{tag}difficulty {m.name}", {
            **self.common, "data": data_key(self.dataset, m.name), "plugin": difficulty.estimator, "modality": m.name,
            "fit_ids": fit_ids, **self.own_scaling(tag),
            "settings": cfg.model.settings_for(m.settings_for(cfg.inputs.targets[0])).model_dump(),
            "seed": model_seed(cfg.execution.seed, tag, "estimator", m.name),
            "options": difficulty.options_for(self.est_cls)})

    def fold_mean_difficulty(self, m, fold_estimators: list[Task]) -> Task:
        return Task("fold-mean", f"difficulty {m.name} (mean of {len(self.held)} folds)", {
            "data": data_key(self.dataset, m.name), "modality": m.name, "fit_ids": self.ids["train"],
            "members": {"refs": [[e.key, None] for e in fold_estimators]}})

    def calibration(self, m, difficulty: list[Ref]) -> Task:
        method = self.cfg.method.difficulty.difficulty_calibration
        return Task("calibration", f"calibration ({method}) {m.name}", {
            "data": data_key(self.dataset, m.name), "modality": m.name, "method": method,
            "fit_ids": self.ids["train"], "difficulty": {"refs": difficulty}})

    def regressor(self, m, t: str, tag: str, fit_ids: list[str], difficulty: list[Ref] | None, cand: Candidate,
                  named: bool) -> Task:
        cfg = self.cfg
        scaling = {"feature_scaling": "recording"} if cand.per_recording else {}
        stopping = {}
        if tag and cfg.method.ensemble.fold_stopping == "inner":  # in the key only then: older keys stay
            fit_ids, inner = inner_split(fit_ids, model_seed(cfg.execution.seed, tag, "inner"))
            stopping = {"devel_ids": inner}
        return Task("regressor", f"{tag}unimodal {m.name} → {t}{f' ({cand.name})' if named else ''}", {
            **self.common, **scaling, "data": data_key(self.dataset, m.name), "modality": m.name, "target": t,
            "fit_ids": fit_ids, **stopping, **self.own_scaling(tag),
            "settings": {**cfg.model.settings_for(m.settings_for(t), m.name, t).model_dump(), **dict(cand.settings)},
            "seed": model_seed(cfg.execution.seed, tag, "regressor", m.name, t),
            "shift": round((cfg.inputs.label_shift + cand.extra_shift_s) / STEP_SECONDS), **regularisation(cfg),
            "difficulty": {"refs": difficulty} if difficulty else None, **PAIRED_INIT[bool(difficulty)],
            **({"options": dict(cand.options)} if cand.options else {})})

    def averaged(self, label: str, modality: str | None, members: list[list[Ref]]) -> Task:
        """A signal that is the mean of others (fold models' predictions, or candidates')."""
        return Task("fold-mean", label, {
            "data": data_key(self.dataset, modality), "modality": modality, "fit_ids": self.ids["train"],
            "members": [{"refs": refs} for refs in members]})

    def stack(self, m, t: str, candidates: dict[str, list[Ref]]) -> Task:
        """A regressor's ``stack`` view (core/learning/stacking.py): its trained candidates' predictions combined
        with weights fitted on the train subjects' out-of-fold predictions, cross-fitted over the run's folds
        (``held``) so that no train subject's stacked prediction used its own labels."""
        return Task("stack", f"unimodal {m.name} → {t} (stack of {len(candidates)} candidates)", {
            "data": data_key(self.dataset, m.name), "modality": m.name, "target": t, "fit_ids": self.ids["train"],
            "held": self.held, "method": stacking.METHOD, "order": list(candidates),
            "candidates": {n: {"refs": refs} for n, refs in candidates.items()}})

    def decision(self, name: str, target: str, candidates: dict[str, list[Ref]], pooled: bool) -> Task:
        """A decision task: the rule of core/learning/decisions.py on the candidates' unseen-subject predictions
        (``pooled``: out-of-fold train and devel subjects; else devel alone)."""
        ids = self.ids
        return Task("decision", f"decision {name}", {
            "data": data_key(self.dataset), "target": target, "decision": name,
            "fit_ids": ids["train"] + ids["devel"] if pooled else ids["devel"],
            "evidence": "out-of-fold train + devel" if pooled else "devel", "rule": RULE,
            # only where asked: the default's decisions keep the keys of every earlier release
            **({"threshold": rule} if (rule := self.cfg.method.decisions.decision_rule) != "one-se" else {}),
            "order": list(candidates), "candidates": {n: {"refs": refs} for n, refs in candidates.items()}})

    def fold_view(self, m, t: str, tag: str, candidates: dict[str, list[Ref]], decision: Task | None) -> Task:
        """One fold's prediction of a regressor (``fusion_apply: per-fold``): the mean of the fold's models of the
        candidate its ``decision`` kept (``candidates``: name -> the models averaged, one ref each)."""
        return Task("fold-view", f"{tag}unimodal {m.name} → {t} (as decided)", {
            "data": data_key(self.dataset, m.name), "modality": m.name, "target": t, "fit_ids": self.ids["train"],
            "order": list(candidates), "candidates": {n: [{"refs": [ref]} for ref in refs]
                                                      for n, refs in candidates.items()},
            "follows": None if decision is None else {"refs": [[decision.key, None]]}})

    def fuser(self, t: str, re: bool, names: list[str], predictions: dict[str, list[Ref]],
              difficulty: dict[str, list[Ref]], fit_difficulty: dict[str, list[Ref]],
              per_fold: list[dict[str, list[Ref]]] | None = None, plugin: str | None = None) -> Task:
        """A fuser of target ``t``; ``re``: it reads the difficulty (the train subjects' ``fit_difficulty``);
        ``per_fold``: each fold's predictions of every modality, fused one fold at a time for unseen subjects
        (``fusion_apply: per-fold``; in the key only then); ``plugin``: one of the ``fuser_candidates`` (None: the
        run's fuser)."""
        cfg = self.cfg
        inputs = {"modalities": names, "predictions": {m: {"refs": predictions[m]} for m in names},
                  "difficulty": {m: {"refs": difficulty[m]} for m in names} if re else None}
        fit_inputs = {**inputs, "difficulty": {m: {"refs": fit_difficulty[m]} for m in names} if re else None}
        fuser = plugin or cfg.method.fusion.fuser
        folds = {} if per_fold is None else {"per_fold": [{m: {"refs": fold[m]} for m in names} for fold in per_fold]}
        variant = "" if re or plugin else " (no RE)" * self.decided_fusion
        return Task("fuser", f"fusion ({fuser}) → {t}{variant}", {
            **self.common, "plugin": fuser, "target": t, "fit_ids": self.ids["train"],
            "settings": cfg.model.fusion_settings().model_dump(), "seed": model_seed(cfg.execution.seed, "fuser", t),
            "inputs": inputs, "fit_inputs": fit_inputs, **regularisation(cfg), **PAIRED_INIT[re], **folds})


def _origin(host: PluginHost, kind: str, name: str) -> str | None:
    """'distribution version' of a third-party plugin (built-ins change with NUMERICS_VERSION instead)."""
    info = next((i for i in host.entries(kind) if i.name == name or (kind == "modality" and i.obj.name == name)), None)
    return None if info is None or info.source == "musefuse" else f"{info.source} {info.version}"
