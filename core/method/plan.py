"""A run as a DAG of tasks, planned stage by stage as the paper's figure draws it::

    estimators(m[, fold]) [→ fold-mean(m)] [→ calibration(m)] → regressors(m, t[, fold], candidate)
        [→ decision(m, t)] [→ fold-view(m, t, fold)] → fusers(t[, with / without the difficulty]) [→ decision(t)]

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

Choices made from data (:mod:`musefuse.core.learning.decisions`) are decision tasks whose output is the chosen
candidate's signal, so a plan is complete at once: what follows a decision reads its output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import Dataset
from musefuse.core.engine.task import Ref, Task
from musefuse.core.errors import ConfigError
from musefuse.core.method.candidates import (
    AVERAGE,
    FUSION_CANDIDATES,
    STACK,
    Candidate,
    fusion_decision,
    single_candidate,
    unimodal_candidates,
    unimodal_decision,
)
from musefuse.core.method.tasks import RunFacts, fold_tag, keep
from musefuse.core.plugin_host import PluginHost


@dataclass
class UnimodalPlan:
    """One regressor (modality × target): its candidates' models, the decision between them, and its output.

    With out-of-fold fusion inputs (the default) every candidate is ``folds`` fold models: each train subject's
    prediction comes from the model that held it out, and every other subject's is the mean of the fold models
    (an ensemble, at no extra training; with ``all_train_member`` the model fitted on all train subjects is one
    member more, last). Otherwise a candidate is one model fitted on all train subjects.
    """

    candidates: dict[str, list[Task]]  # name -> its models (the fold models [+ all-train], or the all-train one)
    refs: dict[str, list[Ref]]  # name -> its predictions of every subject (AVERAGE: of all candidates)
    decision: Task | None  # None: one candidate, set by the config
    output: list[Ref]  # what the fuser reads: the decision's output, or the one candidate's predictions
    stack: Task | None = None  # the stack view's task (its weights), where asked for

    def members(self, chosen: str) -> list[Task]:
        """The models whose mean predicts unseen subjects for the chosen candidate (the stack: whose weighted
        candidate means, :meth:`member_candidates`)."""
        return [task for _, task in self.member_candidates(chosen)]

    def member_candidates(self, chosen: str) -> list[tuple[str, Task]]:
        """(trained candidate, model) of each model the chosen candidate predicts with: every trained candidate's
        models for the average and the stack, the candidate's own otherwise."""
        names = list(self.candidates) if chosen in (AVERAGE, STACK) else [chosen]
        return [(name, task) for name in names for task in self.candidates[name]]


@dataclass
class RunPlan:
    """The tasks of one run (dependencies first) and which of them make the run's outputs."""

    tasks: list[Task] = field(default_factory=list)
    estimators: dict[str, Task] = field(default_factory=dict)  # modality -> all-train estimator (not with fold-mean)
    fold_estimators: dict[str, list[Task]] = field(default_factory=dict)  # modality -> its fold estimators
    difficulty: dict[str, list[Ref]] = field(default_factory=dict)  # modality -> the run's difficulty signal
    calibrations: dict[str, Task] = field(default_factory=dict)  # modality -> calibration (when asked for)
    unimodal: dict[tuple[str, str], UnimodalPlan] = field(default_factory=dict)  # (modality, target) -> regressor
    fusers: dict[str, dict[str, Task]] = field(default_factory=dict)  # target -> {candidate name: fuser}
    fusion_decisions: dict[str, Task] = field(default_factory=dict)  # target -> decision between its fusers
    fusion_candidates: dict[str, dict[str, list[Ref]]] = field(default_factory=dict)  # target -> what it decides
    fusion_output: dict[str, list[Ref]] = field(default_factory=dict)  # target -> the fused predictions
    held: list[list[str]] = field(default_factory=list)  # each fold's held-out train subjects

    def add(self, task: Task) -> Task:
        if all(t.key != task.key for t in self.tasks):
            self.tasks.append(task)
        return task


def plan_run(cfg: RunConfig, dataset: Dataset, host: PluginHost, device_type: str) -> RunPlan:
    """Every task of the run described by ``cfg`` on ``dataset``, dependencies first."""
    run = RunFacts.of(cfg, dataset, host, device_type)
    plan = RunPlan(held=run.held)
    estimators(run, plan)
    regressors(run, plan)
    fusers(run, plan)
    return plan


def estimators(run: RunFacts, plan: RunPlan) -> None:
    """Stage 1: each modality's difficulty signal — all-train and fold estimators, their mean, its calibration."""
    held, train = run.held, run.ids["train"]
    for m in run.modalities:
        plan.fold_estimators[m.name] = [plan.add(run.estimator(m, fold_tag(k, len(held)), keep(train, h)))
                                        for k, h in enumerate(held)] if run.needs_fold_estimators else []
        if run.fold_mean:  # unseen subjects: the mean of the fold estimators' signals (no all-train estimator)
            mean = plan.add(run.fold_mean_difficulty(m, plan.fold_estimators[m.name]))
            plan.difficulty[m.name] = [[mean.key, None]]
        else:
            plan.estimators[m.name] = plan.add(run.estimator(m, "", train))
            plan.difficulty[m.name] = [[plan.estimators[m.name].key, None]]
        if run.oof_difficulty:  # each train subject's from the fold estimator that did not see it
            plan.difficulty[m.name] += [[e.key, h] for e, h in zip(plan.fold_estimators[m.name], held, strict=True)]
        if run.calibrated:  # the run's signal becomes the calibrated one, referenced to its train values
            plan.calibrations[m.name] = plan.add(run.calibration(m, plan.difficulty[m.name]))
            plan.difficulty[m.name] = [[plan.calibrations[m.name].key, None]]


def regressors(run: RunFacts, plan: RunPlan) -> None:
    """Stage 2: each regressor's candidates (trained as fold models where the fuser learns from out-of-fold
    predictions, the default; else as one all-train model each), and the decision that keeps one of them."""
    for m in run.modalities:
        for t in run.cfg.inputs.targets:
            plan.unimodal[(m.name, t)] = _unimodal(run, plan, m, t)


def _unimodal(run: RunFacts, plan: RunPlan, m, t: str) -> UnimodalPlan:
    """The candidates of one regressor, their predictions, and the decision between them."""
    held, train = run.held, run.ids["train"]
    cands = unimodal_candidates(run.cfg.method.decisions.re_unimodal if run.est_cls.gives_signal else False,
                                run.cfg.method.decisions.unimodal_candidates)
    named = len(cands) > 1
    models: dict[str, list[Task]] = {}
    refs: dict[str, list[Ref]] = {}

    def all_train(c: Candidate) -> Task:  # the candidate fitted on every train subject (in-sample fusion's only model)
        return plan.add(run.regressor(m, t, "", train, plan.difficulty[m.name] if c.re else None, c, named))

    for c in cands:
        if run.oof_fusion:  # fold models: out-of-fold for train subjects, their mean for everyone else
            models[c.name] = [
                plan.add(run.regressor(m, t, fold_tag(k, len(held)), keep(train, h),
                                       None if not c.re else plan.difficulty[m.name] if run.shared_signal else
                                       [[plan.fold_estimators[m.name][k].key, None]], c, named))
                for k, h in enumerate(held)]
            oof = [[r.key, h] for r, h in zip(models[c.name], held, strict=True)]
            mean_of = f"{len(held)} folds"
            if run.cfg.method.ensemble.all_train_member:  # the model that saw every train subject: one member more
                models[c.name].append(all_train(c))
                mean_of += " and all train"
            ensemble = plan.add(run.averaged(f"unimodal {m.name} → {t}{f' ({c.name})' if named else ''} (mean of "
                                             f"{mean_of})", m.name, [[[r.key, None]] for r in models[c.name]]))
            refs[c.name] = [[ensemble.key, None]] + oof
        else:
            models[c.name] = [all_train(c)]
            refs[c.name] = [[models[c.name][0].key, None]]
    # the candidates' mean: free, and less dependent on any one
    if named and run.cfg.method.decisions.average_candidates:
        refs[AVERAGE] = [[plan.add(run.averaged(f"unimodal {m.name} → {t} (average of {len(cands)} candidates)",
                                                m.name, list(refs.values()))).key, None]]
    # the candidates weighed on out-of-fold predictions (opt-in): needs the fold models' out-of-fold predictions
    stack = None
    if named and STACK in run.cfg.method.decisions.unimodal_candidates:
        if not run.oof_fusion:
            raise ConfigError("'unimodal_candidates: stack' fits its weights on the train subjects' out-of-fold "
                              "predictions: it needs fusion_train: out-of-fold and a learned fuser (this run: fuser "
                              f"'{run.cfg.method.fusion.fuser}', fusion_train: {run.cfg.method.fusion.fusion_train}).")
        stack = plan.add(run.stack(m, t, {c.name: refs[c.name] for c in cands}))
        refs[STACK] = [[stack.key, None]]
    if not named:
        return UnimodalPlan(models, refs, None, refs[cands[0].name])
    decision = plan.add(run.decision(unimodal_decision(m.name, t), t, refs, pooled=run.oof_fusion))
    return UnimodalPlan(models, refs, decision, [[decision.key, None]], stack)


def fusers(run: RunFacts, plan: RunPlan) -> None:
    """Stage 3: one fuser per target (two where the data decide whether it reads the difficulty; one more per
    ``fuser_candidates`` plugin), and the decision between them (and, with ``single_candidates``, each modality's
    own prediction)."""
    names = [m.name for m in run.modalities]
    if run.oof_fusion and not run.shared_signal:  # train subjects' difficulty from the fold estimators
        fit_difficulty = {m: [[plan.estimators[m].key, None]] + [
            [e.key, h] for e, h in zip(plan.fold_estimators[m], run.held, strict=True)] for m in names}
    else:
        fit_difficulty = {m: plan.difficulty[m] for m in names}
    for t in run.cfg.inputs.targets:
        predictions = {m: plan.unimodal[(m, t)].output for m in names}
        per_fold = _fold_views(run, plan, t) if run.per_fold_fusion else None
        variants = (False, True) if run.decided_fusion else (bool(run.fusion_setting),)
        plan.fusers[t] = {FUSION_CANDIDATES[re]: plan.add(run.fuser(
            t, re, names, predictions, plan.difficulty, fit_difficulty, per_fold)) for re in variants}
        for plugin in run.other_fusers:  # fuser_candidates, after the run's own
            plan.fusers[t][plugin] = plan.add(run.fuser(t, False, names, predictions, plan.difficulty,
                                                        fit_difficulty, per_fold, plugin=plugin))
        candidates = {name: [[task.key, None]] for name, task in plan.fusers[t].items()}
        if run.cfg.method.decisions.single_candidates:  # each modality's own prediction, after the fusers
            candidates |= {single_candidate(m): predictions[m] for m in names}
        plan.fusion_candidates[t] = candidates
        if len(candidates) > 1:  # fusers have no out-of-fold predictions: devel is their only unseen evidence
            plan.fusion_decisions[t] = plan.add(run.decision(fusion_decision(t), t, candidates, pooled=False))
            plan.fusion_output[t] = [[plan.fusion_decisions[t].key, None]]
        else:
            plan.fusion_output[t] = [[next(iter(plan.fusers[t].values())).key, None]]


def _fold_views(run: RunFacts, plan: RunPlan, t: str) -> list[dict[str, list[Ref]]]:
    """``fusion_apply: per-fold``: per fold, every modality's prediction by that fold's models of the kept
    candidate (a "fold-view" task each), so the fuser reads one fold model's predictions of an unseen subject, as
    it learned from one fold model's predictions of each train subject."""
    views: list[dict[str, list[Ref]]] = [{} for _ in run.held]
    for m in run.modalities:
        up = plan.unimodal[(m.name, t)]
        if run.cfg.method.ensemble.all_train_member:
            raise ConfigError("'fusion_apply: per-fold' fuses each fold's models' predictions, and the all-train "
                              "member belongs to no fold: use one or the other (all_train_member).")
        if up.stack is not None:
            raise ConfigError("'fusion_apply: per-fold' fuses each fold's kept candidate, and the stack candidate "
                              "combines candidates with weights fitted across folds: use one or the other.")
        for k, view in enumerate(views):
            fold = {name: [[models[k].key, None]] for name, models in up.candidates.items()}
            if AVERAGE in up.refs:  # the average of the candidates: the mean of every candidate's fold-k model
                fold[AVERAGE] = [ref for refs in list(fold.values()) for ref in refs]
            task = plan.add(run.fold_view(m, t, fold_tag(k, len(run.held)), fold, up.decision))
            view[m.name] = [[task.key, None]]
    return views
