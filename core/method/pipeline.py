"""The paper's pipeline: difficulty estimator -> unimodal regressors -> late fusion, per run.

``train`` plans a run's tasks (:mod:`.plan`), runs what the artifact store lacks with an executor
(:mod:`musefuse.core.engine.executors`) and collects a :class:`Fitted` pipeline and its :class:`Outputs` from the store.
``Fitted.apply`` runs the fitted stages on any dataset with the same modalities (the run's own data,
or new data for ``musefuse predict``), so a run's test predictions and ``predict``'s are one code path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musefuse.core import fileio
from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import Dataset, Standardiser, Subject
from musefuse.core.engine.executors import Executor, InProcessExecutor, Reporter, SilentReporter, run_plan
from musefuse.core.engine.store import ArtifactStore, default_store
from musefuse.core.engine.task import Task
from musefuse.core.errors import MusefuseError
from musefuse.core.interfaces import DifficultyEstimator, FitContext, Fuser, Modality
from musefuse.core.learning import mean_shrink, stacking
from musefuse.core.learning.calibration import apply_calibration
from musefuse.core.learning.decisions import Decision, configured
from musefuse.core.learning.mean_shrink import MeanShrink
from musefuse.core.learning.regressor import Regressor
from musefuse.core.method import stages
from musefuse.core.method.boundary import Plugin
from musefuse.core.method.candidates import (
    STACK,
    fusion_decision,
    single_modality,
    unimodal_decision,
)
from musefuse.core.method.env import TaskEnv, input_standardiser
from musefuse.core.method.plan import RunPlan, UnimodalPlan, plan_run
from musefuse.core.method.spec import Spec
from musefuse.core.method.tasks import fused_per_fold, model_seed
from musefuse.core.method.workers import worker_contexts
from musefuse.core.plugin_host import PluginHost, get_host

__all__ = ["Ensemble", "Fitted", "Outputs", "train", "collect", "fit_context", "model_seed", "Reporter"]


@dataclass
class Outputs:
    """Per-subject signals of every stage, in the order of the subjects they were computed for."""

    subjects: list[Subject]
    difficulty: dict[str, list[np.ndarray]] = field(default_factory=dict)  # modality -> (T,) each
    unimodal: dict[tuple[str, str], list[np.ndarray]] = field(default_factory=dict)  # (modality, target)
    fusion: dict[str, list[np.ndarray]] = field(default_factory=dict)  # target -> (T,) each


@dataclass
class Member:
    """One model of a regressor: its mean with the others predicts (one member: a single model)."""

    regressor: Regressor
    re: bool  # reads the difficulty
    per_recording: bool  # its features z-scored per recording
    own: Standardiser | None = None  # a fold model's own input scaling (None: the run's)
    # the kept candidate is the stack: (the trained candidate this model belongs to, that candidate's weight)
    stack: tuple[str, float] | None = None


@dataclass
class Fitted:
    """Everything a run learned; applies to any dataset that has the run's modalities."""

    config: RunConfig
    modalities: list[Modality]
    stats: dict[str, Standardiser]
    # modality -> its difficulty estimator(s): the all-train one, or the fold ones whose signals are averaged
    # (``difficulty_unseen: fold-mean``), each with the input standardisation it was fitted with (None: the run's)
    estimators: dict[str, list[tuple[Standardiser | None, DifficultyEstimator]]]
    regressors: dict[tuple[str, str], list[Member]]  # the models of the kept candidate (their mean predicts)
    fusers: dict[str, Fuser]
    gives_signal: bool
    fusion_re: dict[str, bool]  # whether each target's fuser reads the difficulty
    # what was decided and on which evidence (core/learning/decisions.py): per regressor, per fuser
    unimodal_decisions: dict[tuple[str, str], Decision] = field(default_factory=dict)
    fusion_decisions: dict[str, Decision] = field(default_factory=dict)
    calibrations: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)  # modality -> (method, reference)
    # target -> how far each recording's fused prediction is pulled to the train label mean (none: not at all)
    mean_shrink: dict[str, MeanShrink] = field(default_factory=dict)
    host: PluginHost | None = field(default=None, repr=False)  # whose plugins it calls (None: the process's)
    # fusion_apply: per-fold — the number of folds whose models' predictions are fused one fold at a time (0: the
    # fuser reads the members' mean). A regressor's members are listed candidate by candidate, each one's fold
    # models in fold order, so member i belongs to fold i % folds.
    fused_per_fold: int = 0

    @property
    def fusion_single(self) -> dict[str, str]:
        """target -> the modality whose own prediction the fusion decision kept (``single_candidates``)."""
        return {t: m for t, d in self.fusion_decisions.items() if (m := single_modality(d.chosen)) is not None}

    def reads_re(self, modality: str, target: str) -> bool | None:
        """Whether a regressor reads the difficulty: True, False, or None where some of its members do."""
        flags = {member.re for member in self.regressors[(modality, target)]}
        return flags.pop() if len(flags) == 1 else None

    # -- inputs of each stage ------------------------------------------------------------------
    def features(self, subjects: Sequence[Subject], modality: str, own: Standardiser | None = None,
                 per_recording: bool | None = None) -> list[np.ndarray]:
        """Model input as in training (stages.model_input): ``own``: a fold model's input scaling;
        ``per_recording``: z-scored per recording (None: as the run's ``standardise`` says)."""
        if per_recording is None:
            per_recording = self.config.inputs.standardise == "recording"
        return stages.model_input([s.features[modality] for s in subjects], self._modality(modality),
                                  self.config.inputs.missing, per_recording, own)

    def _modality(self, name: str) -> Modality:
        return next(m for m in self.modalities if m.name == name)

    def difficulty(self, subjects: Sequence[Subject], modality: str,
                   features: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """(T,) difficulty per subject: the mean over the modality's estimators (one, or its fold estimators).
        ``features``: the subjects' :meth:`features`, when the caller has them already."""
        signals = []
        for own, est in self.estimators[modality]:
            x = (features or self.features(subjects, modality)) if own is None else self.features(
                subjects, modality, own)
            signals.append(stages.difficulty(self._plugin("estimator", est), est, x, subjects))
        return stages.mean_signal(signals)

    def _plugin(self, kind: str, obj: Any) -> Plugin:
        """The plugin ``obj`` is, its calls and outputs checked as in a task (boundary.py)."""
        return Plugin(self.host or get_host(), kind, obj.name, during="while the fitted pipeline predicted")

    def member_predictions(self, subjects: Sequence[Subject], modality: str, target: str,
                           difficulty: list[np.ndarray] | None) -> list[list[np.ndarray]]:
        """Each of the regressor's members' predictions (each with the input it was trained on)."""
        preds = []
        for member in self.regressors[(modality, target)]:
            per_recording = member.per_recording or self.config.inputs.standardise == "recording"
            x = self.features(subjects, modality, member.own, per_recording)
            preds.append(stages.predict_unimodal(member.regressor, x, difficulty if member.re else None))
        return preds

    def predict_unimodal(self, subjects: Sequence[Subject], modality: str, target: str,
                         difficulty: list[np.ndarray] | None,
                         preds: list[list[np.ndarray]] | None = None) -> list[np.ndarray]:
        """The mean of the regressor's members' predictions (``preds``: already made); where the stack was kept,
        each trained candidate's members' mean weighed by the stack's weight (core/learning/stacking.py), as the
        run's stack task combined the candidates' fold means."""
        members = self.regressors[(modality, target)]
        if preds is None:
            preds = self.member_predictions(subjects, modality, target, difficulty)
        if members[0].stack is None:
            return stages.mean_signal(preds)
        weights: dict[str, float] = {}
        groups: dict[str, list[list[np.ndarray]]] = {}
        for member, pred in zip(members, preds, strict=True):
            name, weights[name] = member.stack
            groups.setdefault(name, []).append(pred)
        return stacking.combine([weights[n] for n in groups], [stages.mean_signal(g) for g in groups.values()])

    def fusion_inputs(
        self, out: Outputs, target: str, idx: Sequence[int] | None = None,
        unimodal: dict[tuple[str, str], list[np.ndarray]] | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """(T, M) predictions and (T, M) difficulties (None when the fuser reads no difficulty); ``unimodal``:
        other predictions than ``out``'s (one fold's)."""
        names = [m.name for m in self.modalities]
        rows = range(len(out.subjects)) if idx is None else idx
        preds = [[(unimodal or out.unimodal)[(m, target)][i] for i in rows] for m in names]
        re = self.fusion_re[target]
        return stages.fusion_input(preds, [[out.difficulty[m][i] for i in rows] for m in names] if re else None)

    # -- applying a fitted pipeline ------------------------------------------------------------
    def apply(self, subjects: list[Subject], stage: str = "fusion") -> Outputs:
        """Run the fitted stages on standardised subjects (up to ``stage``: 'unimodal' or 'fusion')."""
        out = Outputs(subjects)
        k = self.fused_per_fold
        folds: list[dict[tuple[str, str], list[np.ndarray]]] = [{} for _ in range(k)]  # each fold's predictions
        for m in self.modalities:
            x = self.features(subjects, m.name)
            out.difficulty[m.name] = self.difficulty(subjects, m.name, x)
            if m.name in self.calibrations:
                method, reference = self.calibrations[m.name]
                out.difficulty[m.name] = apply_calibration(method, out.difficulty[m.name], reference)
            for t in self.config.inputs.targets:
                preds = self.member_predictions(subjects, m.name, t, out.difficulty[m.name])
                out.unimodal[(m.name, t)] = self.predict_unimodal(subjects, m.name, t, out.difficulty[m.name], preds)
                for i, fold in enumerate(folds):
                    fold[(m.name, t)] = stages.mean_signal(preds[i::k])
        if stage == "fusion":
            for t in self.config.inputs.targets:
                if t in self.fusion_single:  # the decision kept one modality's own prediction
                    out.fusion[t] = self.shrink(t, out.unimodal[(self.fusion_single[t], t)])
                    continue
                plugin, fuser = self._plugin("fuser", self.fusers[t]), self.fusers[t]
                fused = [stages.fuse(plugin, fuser, *self.fusion_inputs(out, t, unimodal=fold), subjects)
                         for fold in folds] or [stages.fuse(plugin, fuser, *self.fusion_inputs(out, t), subjects)]
                out.fusion[t] = self.shrink(t, stages.mean_signal(fused))
        return out

    def shrink(self, target: str, fused: list[np.ndarray]) -> list[np.ndarray]:
        """The fuser's predictions with their recording-mean shrinkage (core/learning/mean_shrink.py)."""
        return self.mean_shrink[target].apply(fused) if target in self.mean_shrink else fused

    # -- checkpoints (a run folder's layout: musefuse.core.runs.checkpoints) ----------------------
    @classmethod
    def from_checkpoints(cls, config: RunConfig, host: PluginHost, device: Any, stats: dict[str, Standardiser],
                         estimators: dict[str, list[tuple[Standardiser | None, Path]]],
                         regressors: dict[tuple[str, str], list[tuple[Any, ...]]],
                         fusers: dict[str, Path], calibrations: dict[str, Path], fusion_re: dict[str, bool],
                         decisions: tuple[dict[tuple[str, str], Decision], dict[str, Decision]],
                         shrinks: dict[str, MeanShrink]) -> Fitted:
        """Rebuild every stage from its checkpoint (path stems of safetensors + JSON pairs); a regressor's
        members as (path, reads the difficulty, per-recording features, own input scaling[, (candidate, stack
        weight) where the stack was kept])."""
        def plugin(kind: str, path: Path) -> Any:  # load() called and checked as in a task (boundary.py)
            tensors, meta = fileio.load_tensors(path, device)
            return Plugin(host, kind, meta["plugin"], during=f"while loading {path}").load(tensors, meta, device)

        def calibration(path: Path) -> tuple[str, np.ndarray]:
            tensors, meta = fileio.load_tensors(path)
            return str(meta["method"]), tensors["reference"].numpy()

        def member(path: Path, re: bool, per_recording: bool, own: Standardiser | None,
                   stack: tuple[str, float] | None = None) -> Member:
            return Member(Regressor.load(*fileio.load_tensors(path, device), device), re, per_recording, own, stack)

        return cls(
            config, [host.modality(n) for n in config.inputs.modalities], stats,
            {m: [(own, plugin("estimator", p)) for own, p in members] for m, members in estimators.items()},
            {k: [member(*args) for args in members] for k, members in regressors.items()},
            {t: plugin("fuser", p) for t, p in fusers.items()},
            host.estimator(config.method.difficulty.estimator).gives_signal, fusion_re, *decisions,
            {m: calibration(p) for m, p in calibrations.items()}, shrinks, host,
            fused_per_fold(config, host.fuser(config.method.fusion.fuser).learned))


@dataclass
class Ensemble:
    """Pipelines of several seeds (``ensemble_seeds``) that predict as one: their outputs averaged per stage."""

    members: list[Fitted]

    def __getattr__(self, name: str) -> Any:  # what describes the run (config, modalities, stats): the first's
        if name == "members":
            raise AttributeError(name)
        return getattr(self.members[0], name)

    @property
    def unimodal_decisions(self) -> dict:  # each member decided for itself: the records name no one choice
        return {}

    fusion_decisions = unimodal_decisions

    @property
    def fusion_re(self) -> dict[str, bool | None]:
        return {t: (lambda flags: flags.pop() if len(flags) == 1 else None)({m.fusion_re[t] for m in self.members})
                for t in self.members[0].fusion_re}

    def reads_re(self, modality: str, target: str) -> bool | None:
        flags = {m.reads_re(modality, target) for m in self.members}
        return flags.pop() if len(flags) == 1 else None

    def apply(self, subjects: list[Subject], stage: str = "fusion") -> Outputs:
        return average_outputs([m.apply(subjects, stage) for m in self.members])


def average_outputs(outputs: Sequence[Outputs]) -> Outputs:
    """The mean of several pipelines' outputs on the same subjects (difficulty: the first's)."""
    first = outputs[0]
    return Outputs(first.subjects, first.difficulty,
                   {k: stages.mean_signal([o.unimodal[k] for o in outputs]) for k in first.unimodal},
                   {t: stages.mean_signal([o.fusion[t] for o in outputs]) for t in first.fusion})


def fit_context(cfg: RunConfig, device: Any, settings: Any, seed: int, **options: Any) -> FitContext:
    """A FitContext with this run's training budget (for models fitted outside the task graph)."""
    return FitContext(device=device, seed=seed, settings=settings, loss=cfg.model.loss, budget=cfg.budget.resolved(),
                      weight_decay=cfg.model.weight_decay, options=options)


def collect(plan: RunPlan, store: ArtifactStore, cfg: RunConfig, dataset: Dataset, stats: dict[str, Standardiser],
            host: PluginHost, device: Any) -> tuple[Fitted, Outputs]:
    """The fitted pipeline and its outputs on every subject, read back from the store."""
    def estimators(m: str) -> list[tuple[Standardiser | None, Path]]:
        if m in plan.estimators:  # the all-train estimator
            return [(None, store.checkpoint(plan.estimators[m].key))]
        return [(_own_standardiser(t, dataset, host), store.checkpoint(t.key)) for t in plan.fold_estimators[m]]

    env = TaskEnv(dataset, host, device, store)

    def decided(task: Task | None, label: str, refs: dict[str, list]) -> Decision:
        if task is None:
            return configured(label, next(iter(refs)))
        decision = Decision.from_json(store.fit_info(task.key)["decision"])
        # what later stages read is the chosen candidate's output: a store entry whose choice was rewritten (its
        # checksums too) would otherwise have the fuser read one candidate and predict use another
        kept, chosen = env.signal([[task.key, None]]), env.signal(refs[decision.chosen])
        if not all(np.array_equal(a, b) for a, b in zip(kept, chosen, strict=True)):
            raise MusefuseError(f"The store entry of '{task.label}' ({store.path(task.key)}) says it chose "
                                f"'{decision.chosen}' but holds another candidate's predictions; remove it "
                                f"(musefuse store rm {task.key[:12]}) and run again.")
        return decision

    unimodal = {k: decided(up.decision, unimodal_decision(*k), up.refs) for k, up in plan.unimodal.items()}
    fusion = {t: decided(plan.fusion_decisions.get(t), fusion_decision(t), plan.fusion_candidates[t])
              for t in plan.fusers}
    kept = {t: plan.fusers[t][kept_fuser(d, list(plan.fusers[t]))] for t, d in fusion.items()}
    fusion_re = {t: task.spec["inputs"]["difficulty"] is not None for t, task in kept.items()}

    def stack_weights(up: UnimodalPlan, chosen: str) -> dict[str, float] | None:
        """The kept stack's all-train weights per trained candidate, from its task's checkpoint (None: not kept)."""
        if chosen != STACK or up.stack is None:
            return None
        tensors, meta = fileio.load_tensors(store.checkpoint(up.stack.key))
        return dict(zip(meta["candidates"], map(float, tensors["weights"].tolist()), strict=True))

    def members(up: UnimodalPlan, chosen: str) -> list[tuple[Any, ...]]:
        weights = stack_weights(up, chosen)
        return [(store.checkpoint(task.key), Spec(task.spec).difficulty is not None, Spec(task.spec).per_recording,
                 _own_standardiser(task, dataset, host), None if weights is None else (name, weights[name]))
                for name, task in up.member_candidates(chosen)]

    regressors = {k: members(up, unimodal[k].chosen) for k, up in plan.unimodal.items()}
    fitted = Fitted.from_checkpoints(
        cfg, host, device, stats, {m: estimators(m) for m in plan.difficulty}, regressors,
        {t: store.checkpoint(task.key) for t, task in kept.items()},
        {m: store.checkpoint(task.key) for m, task in plan.calibrations.items()}, fusion_re, (unimodal, fusion), {})
    out = Outputs(dataset.subjects)
    for m, refs in plan.difficulty.items():
        out.difficulty[m] = env.signal(refs)
    for k, up in plan.unimodal.items():
        out.unimodal[k] = env.signal(up.output)
    for t, refs in plan.fusion_output.items():
        out.fusion[t] = env.signal(refs)
    fitted.mean_shrink = choose_mean_shrink(cfg, out)
    out.fusion = {t: fitted.shrink(t, preds) for t, preds in out.fusion.items()}
    return fitted, out


def kept_fuser(decision: Decision, fusers: list[str]) -> str:
    """The fuser a run keeps (a candidate name): the one the decision chose, or where it kept a single modality's
    prediction instead, the fuser that scored highest on the evidence (saved with the run, not used)."""
    if single_modality(decision.chosen) is None:
        return decision.chosen
    ccc = {name: decision.candidates[name].get("ccc") for name in fusers}
    return max(fusers, key=lambda name: float("-inf") if ccc[name] is None else ccc[name])


def choose_mean_shrink(cfg: RunConfig, out: Outputs) -> dict[str, MeanShrink]:
    """Each target's recording-mean shrinkage: ``cfg.method.fusion.mean_shrink``, or chosen on the devel subjects'
    fusion CCC."""
    def golds(part: str, t: str) -> list[np.ndarray]:
        return [s.labels[t] for s in out.subjects if s.partition == part and t in s.labels]

    chosen = {}
    for t, preds in out.fusion.items():
        devel = [i for i, s in enumerate(out.subjects) if s.partition == "devel" and t in s.labels]
        chosen[t] = mean_shrink.choose(cfg.method.fusion.mean_shrink, [preds[i] for i in devel], golds("devel", t),
                                       mean_shrink.train_mean(golds("train", t)))
    return chosen


def _own_standardiser(task: Task, dataset: Dataset, host: PluginHost) -> Standardiser | None:
    spec = Spec(task.spec)
    return input_standardiser(dataset, host, spec.modality, spec.fit_ids) if spec.own_scaling else None


def train(
    cfg: RunConfig,
    dataset: Dataset,
    stats: dict[str, Standardiser],
    host: PluginHost,
    device: Any,
    reporter: Reporter | None = None,
    log: Callable[[str], None] = lambda _m: None,
    store: ArtifactStore | None = None,
    executor: Executor | None = None,
) -> tuple[Fitted, Outputs]:
    """Fit every stage (reusing what the store has); returns the fitted pipeline and its outputs.

    The fuser learns from the train subjects' unimodal predictions and difficulties: in-sample ones
    (models that saw those subjects, as the paper appears to do) or out-of-fold ones (``cfg.method.ensemble.folds``
    folds over train subjects: each train subject's predictions and RE come from models that did
    not see it), per ``cfg.method.fusion.fusion_train``; ``cfg.method.difficulty.difficulty_train`` does the same
    for the difficulty.
    Without an executor, tasks run in this process on ``dataset`` as given (which may live only in
    memory, e.g. corrupted copies).
    """
    store = store or ArtifactStore(cfg.execution.store or default_store())
    executor = executor or InProcessExecutor(worker_contexts(dataset, host, device).here(store), store)
    plan = plan_run(cfg, dataset, host, getattr(device, "type", str(device)))
    run_plan(plan.tasks, store, executor, TaskLog(reporter or SilentReporter(), log))
    return collect(plan, store, cfg, dataset, stats, host, device)


class TaskLog:
    """Forwards task events to a reporter and writes one plain line per finished task to the log."""

    def __init__(self, reporter: Reporter, log: Callable[[str], None]) -> None:
        self.reporter, self.log = reporter, log
        self.entries: list[dict[str, Any]] = []  # one per task, in order of finishing (tasks.json)

    def started(self, task: Task) -> None:
        self.reporter.started(task)

    def epoch(self, task: Task, epoch: int, score: float) -> None:
        self.reporter.epoch(task, epoch, score)

    def warn(self, message: str) -> None:
        """A problem found while planning (e.g. a damaged store entry that is trained again)."""
        self.log(f"warning: {message}")

    def finished(self, task: Task, info: dict[str, Any], reused: bool) -> None:
        self.reporter.finished(task, info, reused)
        self.log(describe_fit(task, info, reused))
        self.entries.append({"label": task.label, "kind": task.kind, "key": task.key, "reused": reused,
                             "settings": task.spec.get("settings"),  # the values used (config.yaml's nulls resolved)
                             **{k: v for k, v in info.items() if k not in ("label", "history")}})


def describe_fit(task: Task, info: dict[str, Any], reused: bool) -> str:
    """One log line per task, its verb saying what happened: 'trained unimodal fau → arousal: best epoch 7/12,
    devel CCC 0.7312, 21.4s, 12000 frames/s', 'decided unimodal fau → arousal: model: CCC …', 'averaged …'."""
    if task.kind == "decision":
        name = task.label.removeprefix("decision ")
        return f"{'reused ' if reused else 'decided'} {name}: {Decision.from_json(info['decision']).describe()}"
    verb = "reused " if reused else "trained"
    if task.kind == "stack":
        weights = ", ".join(f"{n} {w:.2f}" for n, w in info.get("weights", {}).items())
        return f"{'reused ' if reused else 'stacked'} {task.label}: weights {weights}" + (
            "" if reused else f" ({info['seconds']:.1f}s)")
    if "best_epoch" not in info:  # a mean or a calibration: no training, no epochs
        if reused:
            return f"{verb} {task.label}"
        verb = "averaged" if task.kind in ("fold-mean", "fold-view") else "fitted"
        return f"{verb} {task.label} ({info['seconds']:.1f}s)"
    return (f"{verb} {task.label}: best epoch {info['best_epoch']}/{info['epochs_run']}, {info['metric']} "
            f"{info['best_score']:.4f}, {info['seconds']:.1f}s, {info['frames_per_second']:.0f} frames/s")
