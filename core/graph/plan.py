"""A run as a DAG of tasks: estimator(m[, fold]) [→ calibration(m)] → regressor(m, t[, fold]) → fuser(t).

Fold tasks appear only where out-of-fold signals are asked for: ``fusion_train: out-of-fold``
(the fuser learns from train subjects' predictions by regressors that never saw them) and
``difficulty_train: out-of-fold`` (every train subject's difficulty comes from an estimator that
never saw it). Both use the same K folds, so the fold estimators are shared. A fold model also
standardises its features on its own subjects (``fold_standardise``): with the run's train-wide
statistics, the subjects it holds out would have helped place the origin its input is centred on.
Devel, test and new subjects get their difficulty from the all-train estimator, or, with
``difficulty_unseen: fold-mean``, from the mean of the fold estimators' (a "fold-mean" task): the same
kind of model that gave each train subject its out-of-fold signal, so no partition reads a better
trained estimator than another. A calibration task (``difficulty_calibration``) maps the run's
difficulty signal against its own train distribution; regressors and fuser then read the calibrated signal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import STEP_SECONDS, Dataset
from musefuse.core.errors import ConfigError
from musefuse.core.graph.tasks import Ref, Task, data_key
from musefuse.core.learning.decisions import AVERAGE, BASE, REGRESSOR_CANDIDATES, RULE, Candidate
from musefuse.core.plugin_host import PluginHost

# A model with a difficulty input starts from the no-signal model's weights (models.seeded_model). In the key
# of those models only, so that models trained before are not reused and models without the signal keep theirs.
PAIRED_INIT = {True: {"init": "paired"}, False: {}}


def model_seed(seed: int, *parts: str) -> int:
    """A distinct, reproducible seed per model (same run seed -> same seeds everywhere)."""
    digest = hashlib.sha256("/".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass
class UnimodalPlan:
    """One regressor (modality × target): its candidates' models, the decision between them, and its output.

    With out-of-fold fusion inputs (the default) every candidate is ``folds`` fold models: each train subject's
    prediction comes from the model that held it out, and every other subject's is the mean of the fold models
    (an ensemble, at no extra training). Otherwise a candidate is one model fitted on all train subjects.
    """

    candidates: dict[str, list[Task]]  # name -> its models (the fold models, or the one all-train model)
    refs: dict[str, list[Ref]]  # name -> its predictions of every subject (AVERAGE: of all candidates)
    decision: Task | None  # None: one candidate, set by the config
    output: list[Ref]  # what the fuser reads: the decision's output, or the one candidate's predictions

    def members(self, chosen: str) -> list[Task]:
        """The models whose mean predicts unseen subjects for the chosen candidate."""
        if chosen == AVERAGE:
            return [t for tasks in self.candidates.values() for t in tasks]
        return self.candidates[chosen]


@dataclass
class RunPlan:
    """The tasks of one run (dependencies first) and which of them make the run's outputs.

    Choices made from data (:mod:`musefuse.core.learning.decisions`) are decision tasks whose output is the chosen
    candidate's signal, so a plan is complete at once: what follows a decision reads its output.
    """

    tasks: list[Task] = field(default_factory=list)
    estimators: dict[str, Task] = field(default_factory=dict)  # modality -> all-train estimator (not with fold-mean)
    fold_estimators: dict[str, list[Task]] = field(default_factory=dict)  # modality -> its fold estimators
    difficulty: dict[str, list[Ref]] = field(default_factory=dict)  # modality -> the run's difficulty signal
    calibrations: dict[str, Task] = field(default_factory=dict)  # modality -> calibration (when asked for)
    unimodal: dict[tuple[str, str], UnimodalPlan] = field(default_factory=dict)  # (modality, target) -> regressor
    fusers: dict[str, dict[bool, Task]] = field(default_factory=dict)  # target -> {reads the RE: fuser}
    fusion_decisions: dict[str, Task] = field(default_factory=dict)  # target -> decision between its fusers
    fusion_output: dict[str, list[Ref]] = field(default_factory=dict)  # target -> the fused predictions
    held: list[list[str]] = field(default_factory=list)  # each fold's held-out train subjects
    complete: bool = True

    def add(self, task: Task) -> Task:
        if all(t.key != task.key for t in self.tasks):
            self.tasks.append(task)
        return task


def folds(cfg: RunConfig, dataset: Dataset) -> list[list[str]]:
    """Held-out subject Ids of each of ``cfg.method.ensemble.folds`` folds over the train partition (seeded)."""
    train_idx = [i for i, s in enumerate(dataset.subjects) if s.partition == "train"]
    k = cfg.method.ensemble.folds
    if k > len(train_idx):
        raise ConfigError(f"'folds': {k} folds need at least {k} train subjects (the data have {len(train_idx)}).")
    order = np.random.default_rng(cfg.execution.seed).permutation(train_idx)
    return [[dataset.subjects[i].id for i in held] for held in np.array_split(order, k)]


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


# A finished decision's fit summary by task key, None while it has not run (ArtifactStore.decision_info). Plans are
# complete at once since decisions became tasks whose output later stages read; the callback stays for planners
# that need a choice to key what follows.
Decided = Callable[[str], dict[str, Any] | None]


def plan_run(cfg: RunConfig, dataset: Dataset, host: PluginHost, device_type: str,
             decided: Decided = lambda _key: None) -> RunPlan:
    """Every task of the run described by ``cfg`` on ``dataset``, dependencies first.

    Each regressor's candidates (:func:`unimodal_candidates`) are trained as fold models where the fuser learns
    from out-of-fold predictions (the default), else as one all-train model each; a decision task keeps one of
    them by the rule of :mod:`musefuse.core.learning.decisions`, and the fuser reads the decision's output.
    """
    est_cls, fuser_cls = host.estimator(cfg.method.difficulty.estimator), host.fuser(cfg.method.fusion.fuser)
    modalities = [host.modality(n) for n in cfg.inputs.modalities]
    ids = {p: [s.id for s in dataset.subjects if s.partition == p] for p in ("train", "devel")}
    used = [("estimator", cfg.method.difficulty.estimator), ("fuser", cfg.method.fusion.fuser)] + [
        ("modality", m) for m in cfg.inputs.modalities]
    origins = {f"{kind} {name}": _origin(host, kind, name) for kind, name in used}
    common = {"data": data_key(dataset), "device": device_type, "missing": cfg.inputs.missing,
              "devel_ids": ids["devel"],
              "plugins": {k: v for k, v in origins.items() if v},  # third-party code versions
              "fit": fit_budget(cfg), **feature_scaling(cfg)}
    uses_signal = est_cls.gives_signal and bool(cfg.method.decisions.re_unimodal or cfg.method.decisions.re_fusion)
    oof_fusion = cfg.method.fusion.fusion_train == "out-of-fold" and fuser_cls.learned
    oof_difficulty = cfg.method.difficulty.difficulty_train == "out-of-fold" and uses_signal
    method = cfg.method.difficulty.difficulty_calibration
    calibrated = method != "none" and uses_signal
    fold_mean = cfg.method.difficulty.difficulty_unseen == "fold-mean" and uses_signal
    # fold models read the run's signal, not their own estimator's
    shared_signal = oof_difficulty or calibrated or fold_mean
    held = folds(cfg, dataset) if (oof_fusion or oof_difficulty or fold_mean) else []
    plan = RunPlan()

    def own_scaling(tag: str) -> dict[str, str]:
        """A fold model standardises its input on its own subjects (in the key only then: older keys stay)."""
        return {"standardise": "fit"} if tag and cfg.method.ensemble.fold_standardise else {}

    def estimator(m, tag: str, fit_ids: list[str]) -> Task:
        return plan.add(Task("estimator", f"{tag}difficulty {m.name}", {
            **common, "data": data_key(dataset, m.name), "plugin": cfg.method.difficulty.estimator, "modality": m.name,
            "fit_ids": fit_ids, **own_scaling(tag),
            "settings": cfg.model.settings_for(m.settings_for(cfg.inputs.targets[0])).model_dump(),
            "seed": model_seed(cfg.execution.seed, tag, "estimator", m.name),
            "options": cfg.method.difficulty.options_for(est_cls)}))

    def regressor(m, t: str, tag: str, fit_ids: list[str], difficulty: list[Ref] | None, cand: Candidate,
                  named: bool) -> Task:
        scaling = {"feature_scaling": "recording"} if cand.per_recording else {}
        return plan.add(Task("regressor", f"{tag}unimodal {m.name} → {t}{f' ({cand.name})' if named else ''}", {
            **common, **scaling, "data": data_key(dataset, m.name), "modality": m.name, "target": t,
            "fit_ids": fit_ids, **own_scaling(tag),
            "settings": {**cfg.model.settings_for(m.settings_for(t), m.name, t).model_dump(), **dict(cand.settings)},
            "seed": model_seed(cfg.execution.seed, tag, "regressor", m.name, t),
            "shift": round((cfg.inputs.label_shift + cand.extra_shift_s) / STEP_SECONDS), **regularisation(cfg),
            "difficulty": {"refs": difficulty} if difficulty else None, **PAIRED_INIT[bool(difficulty)]}))

    def averaged(label: str, modality: str | None, members: list[list[Ref]]) -> Task:
        """A signal that is the mean of others (fold models' predictions, or candidates')."""
        return plan.add(Task("fold-mean", label, {
            "data": data_key(dataset, modality), "modality": modality, "fit_ids": ids["train"],
            "members": [{"refs": refs} for refs in members]}))

    def decide(label: str, target: str, candidates: dict[str, list[Ref]], pooled: bool) -> Task:
        """A decision task: the rule of core/learning/decisions.py on the candidates' unseen-subject predictions."""
        return plan.add(Task("decision", f"decision {label}", {
            "data": data_key(dataset), "target": target, "decision": label,
            "fit_ids": ids["train"] + ids["devel"] if pooled else ids["devel"],
            "evidence": "out-of-fold train + devel" if pooled else "devel", "rule": RULE,
            "order": list(candidates), "candidates": {n: {"refs": refs} for n, refs in candidates.items()}}))

    # Stages 1-2 on all train subjects (the models for devel, test and new data), plus fold models.
    fold_est = plan.fold_estimators
    for m in modalities:
        needs_folds = oof_difficulty or fold_mean or (oof_fusion and not shared_signal)  # else nothing reads them
        fold_est[m.name] = [estimator(m, _tag(k, len(held)), _keep(ids["train"], h))
                            for k, h in enumerate(held)] if needs_folds else []
        if fold_mean:  # unseen subjects: the mean of the fold estimators' signals (no all-train estimator)
            mean = plan.add(Task("fold-mean", f"difficulty {m.name} (mean of {len(held)} folds)", {
                "data": data_key(dataset, m.name), "modality": m.name, "fit_ids": ids["train"],
                "members": {"refs": [[e.key, None] for e in fold_est[m.name]]}}))
            plan.difficulty[m.name] = [[mean.key, None]]
        else:
            plan.estimators[m.name] = estimator(m, "", ids["train"])
            plan.difficulty[m.name] = [[plan.estimators[m.name].key, None]]
        if oof_difficulty:  # each train subject's from the fold estimator that did not see it
            plan.difficulty[m.name] += [[e.key, h] for e, h in zip(fold_est[m.name], held, strict=True)]
        if calibrated:  # the run's signal becomes the calibrated one, referenced to its train values
            plan.calibrations[m.name] = plan.add(Task("calibration", f"calibration ({method}) {m.name}", {
                "data": data_key(dataset, m.name), "modality": m.name, "method": method, "fit_ids": ids["train"],
                "difficulty": {"refs": plan.difficulty[m.name]}}))
            plan.difficulty[m.name] = [[plan.calibrations[m.name].key, None]]
    def unimodal(m, t: str) -> UnimodalPlan:
        """The candidates of one regressor, their predictions, and the decision between them."""
        cands = unimodal_candidates(cfg, est_cls.gives_signal)
        named = len(cands) > 1
        models: dict[str, list[Task]] = {}
        refs: dict[str, list[Ref]] = {}
        for c in cands:
            if oof_fusion:  # fold models: out-of-fold for train subjects, their mean for everyone else
                models[c.name] = [
                    regressor(m, t, _tag(k, len(held)), _keep(ids["train"], h),
                              None if not c.re else
                              plan.difficulty[m.name] if shared_signal else [[fold_est[m.name][k].key, None]],
                              c, named)
                    for k, h in enumerate(held)]
                ensemble = averaged(f"unimodal {m.name} → {t}{f' ({c.name})' if named else ''} (mean of {len(held)} "
                                "folds)", m.name, [[[r.key, None]] for r in models[c.name]])
                refs[c.name] = [[ensemble.key, None]] + [[r.key, h] for r, h in zip(models[c.name], held,
                                                                                      strict=True)]
            else:
                models[c.name] = [regressor(m, t, "", ids["train"], plan.difficulty[m.name] if c.re else None, c,
                                            named)]
                refs[c.name] = [[models[c.name][0].key, None]]
        if named and cfg.method.decisions.average_candidates:  # the candidates' mean: free, less dependent on any one
            refs[AVERAGE] = [[averaged(f"unimodal {m.name} → {t} (average of {len(cands)} candidates)", m.name,
                                   list(refs.values())).key, None]]
        if not named:
            return UnimodalPlan(models, refs, None, refs[cands[0].name])
        decision = decide(f"unimodal {m.name} → {t}: model", t, refs, pooled=oof_fusion)
        return UnimodalPlan(models, refs, decision, [[decision.key, None]])

    plan.held = held
    for m in modalities:
        for t in cfg.inputs.targets:
            plan.unimodal[(m.name, t)] = unimodal(m, t)

    # Stage 3: one fuser per target (two where the decision is left to the data, with and without the RE).
    names = [m.name for m in modalities]

    def fuser(t: str, re: bool) -> Task:
        preds = {m: {"refs": plan.unimodal[(m, t)].output} for m in names}
        if oof_fusion and not shared_signal:  # the difficulty of train subjects from the fold estimators
            difficulty = {m: [[plan.estimators[m].key, None]] + [[e.key, h] for e, h in zip(fold_est[m], held,
                                                                                           strict=True)]
                          for m in names}
            fit_difficulty = {m: {"refs": difficulty[m]} for m in names}
        else:
            fit_difficulty = {m: {"refs": plan.difficulty[m]} for m in names}
        inputs = {"modalities": names, "predictions": preds,
                  "difficulty": {m: {"refs": plan.difficulty[m]} for m in names} if re else None}
        fit_inputs = {**inputs, "difficulty": fit_difficulty if re else None}
        fuser = cfg.method.fusion.fuser
        return plan.add(Task("fuser", f"fusion ({fuser}) → {t}{'' if re else ' (no RE)' * decided_fusion}", {
            **common, "plugin": cfg.method.fusion.fuser, "target": t, "fit_ids": ids["train"],
            "settings": cfg.model.fusion_settings().model_dump(), "seed": model_seed(cfg.execution.seed, "fuser", t),
            "inputs": inputs, "fit_inputs": fit_inputs, **regularisation(cfg), **PAIRED_INIT[re]}))

    # A fuser that learns nothing is not decided on (it reads no difficulty unless forced to be given it).
    readable = est_cls.gives_signal and (fuser_cls.learned or cfg.method.decisions.re_fusion != "devel")
    fusion_setting = cfg.method.decisions.re_fusion if readable else False
    decided_fusion = fusion_setting == "devel"
    for t in cfg.inputs.targets:
        variants = (False, True) if decided_fusion else (bool(fusion_setting),)
        plan.fusers[t] = {re: fuser(t, re) for re in variants}
        if decided_fusion:  # fusers have no out-of-fold predictions: devel is their only unseen evidence
            plan.fusion_decisions[t] = decide(f"fusion → {t}: difficulty input", t, {
                FUSION_CANDIDATES[re]: [[task.key, None]] for re, task in plan.fusers[t].items()}, pooled=False)
            plan.fusion_output[t] = [[plan.fusion_decisions[t].key, None]]
        else:
            plan.fusion_output[t] = [[plan.fusers[t][variants[0]].key, None]]
    return plan


# The fuser's two candidates, simplest first.
FUSION_CANDIDATES = {False: "no-re", True: "re"}


def unimodal_candidates(cfg: RunConfig, gives_signal: bool) -> list[Candidate]:
    """The regressor candidates of a run, simplest first: the difficulty input as ``re_unimodal`` says (both
    where the data decide, only one where it is forced), then ``unimodal_candidates`` in declaration order."""
    setting = cfg.method.decisions.re_unimodal if gives_signal else False
    names = [BASE, "re"] if setting == "devel" else (["re"] if setting else [BASE])
    asked = cfg.method.decisions.unimodal_candidates
    names += [n for n in REGRESSOR_CANDIDATES if n in asked and n not in (BASE, "re")]
    return [REGRESSOR_CANDIDATES[n] for n in names]


def _origin(host: PluginHost, kind: str, name: str) -> str | None:
    """'distribution version' of a third-party plugin (built-ins change with NUMERICS_VERSION instead)."""
    info = next((i for i in host.entries(kind) if i.name == name or (kind == "modality" and i.obj.name == name)), None)
    return None if info is None or info.source == "musefuse" else f"{info.source} {info.version}"


def _tag(k: int, n: int) -> str:
    return f"fold {k + 1}/{n} "


def _keep(train: list[str], held: list[str]) -> list[str]:
    out = set(held)
    return [i for i in train if i not in out]
