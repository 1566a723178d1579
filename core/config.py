"""The run configuration: one pydantic model of groups (inputs, model, method, budget, execution, output).

Every field keeps one name across the layers: a CLI flag ``--weight-decay``, a flat YAML key ``weight_decay: 0.01``
(as every release wrote and read them) and the leaf of its group, ``cfg.model.weight_decay``. ``FIELD_PATHS``
(derived from the models, so it cannot drift) says where each name lives; a flat mapping is nested by it on the
way in, so flat and nested YAML files, and the flat ``config.yaml`` of older run folders, all load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from musefuse.core.data.dataset import MissingPolicy
from musefuse.core.errors import ConfigError
from musefuse.core.interfaces import ModelSettings, RnnType, TrainingBudget
from musefuse.core.learning.decisions import DecisionRule
from musefuse.core.method.candidates import OPTIONAL_CANDIDATES, describe
from musefuse.core.presets import PIPELINES, PRESET_THREADS, PRESETS

CANDIDATES_DESCRIBED = "; ".join(f"{n}: {describe(n)}" for n in OPTIONAL_CANDIDATES)

# Run folders written before estimator options were the plugin's own (musefuse <= 0.1 main): flat name -> option.
_LEGACY_ESTIMATOR_FIELDS = {"ae_bottleneck": "bottleneck", "ae_noise": "noise", "re_smoothing": "smoothing"}


class _Group(BaseModel):
    """A group of settings: unknown names are errors, assignments are checked."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class InputsConfig(_Group):
    """What to run on: the feature sets, the data, the targets, and how features and labels are read."""

    modalities: list[str] = Field(
        ["egemaps", "vggface", "fau"], description="The feature sets, one regressor per modality and target.")
    data: Path | None = Field(
        None, description="The MuSe-layout data folder; None: the embedded synthetic Ulm-TSST-like dataset.")
    targets: list[str] = Field(["arousal", "valence"], description="The label dimensions to predict.")
    missing: MissingPolicy = Field("zero", description="How missing feature rows are filled: zero, ffill or mask.")
    standardise: Literal["train", "recording"] = Field("train", description=(
        "Feature standardisation: train (z-scored with the train partition's statistics) or recording (each "
        "subject's recording z-scored with its own mean and std, as the MuSe 2021 baselines do for eGeMAPS; "
        "every model's input, the auto-encoders' included, and `predict` follows; core/data/recording.py)."))
    label_shift: float = Field(
        0.0, ge=0, description="Seconds; predict the label this much later (rater lag).")

    @field_validator("modalities", "targets")
    @classmethod
    def _non_empty_unique(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one")
        if len(set(value)) != len(value):
            raise ValueError(f"names repeat: {value}")
        return value


class ModelConfig(_Group):
    """The regressors' and fusers' settings (None: the modality's registry default per target) and loss."""

    rnn: RnnType | None = Field(None, description="Recurrent cell: lstm, bilstm, gru or bigru; None: the modality's.")
    layers: int | None = Field(None, ge=1, description="Recurrent layers; None: the modality's.")
    hidden: int | None = Field(None, ge=1, description="Hidden units per direction; None: the modality's.")
    lr: float | None = Field(None, gt=0, description="Adam learning rate; None: the modality's.")
    dropout: float | None = Field(None, ge=0, lt=1, description="Dropout between layers; None: the modality's.")
    loss: Literal["ccc", "mse", "l1"] = Field("ccc", description="Loss of regressors and fusers (ccc: 1 - CCC).")
    weight_decay: float = Field(0.0, ge=0, description=(
        "Weight decay of the regressors and fusers (decoupled: AdamW, each weight shrunk by lr x weight_decay per "
        "step; core/learning/training.py); 0: plain Adam, as the paper. The auto-encoders never decay."))
    model_settings: dict[str, dict[str, dict[str, Any]]] = Field({}, description=(
        "Per-regressor settings, modality -> target -> {rnn, layers, hidden, lr, dropout} (any subset): the most "
        "specific level, over the fields above and the modality defaults. Auto-encoders and the fuser keep theirs. "
        "`musefuse select` writes the devel-best ones in this form."))

    @field_validator("model_settings")
    @classmethod
    def _known_settings(cls, value: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
        for modality, per_target in value.items():
            for target, settings in per_target.items():
                try:
                    ModelSettings.model_validate(settings)  # names and ranges; unset fields stay unset
                except ValidationError as exc:
                    raise ValueError(f"{modality}.{target}: {describe_error(exc, 'model settings')}") from None
        return value

    def settings_for(self, modality_defaults: ModelSettings, modality: str | None = None,
                     target: str | None = None) -> ModelSettings:
        """A modality's default settings with this run's explicit overrides applied (then, for one
        regressor, its ``model_settings`` entry)."""
        overrides = {k: getattr(self, k) for k in ("rnn", "layers", "hidden", "lr", "dropout")}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if modality is not None and target is not None:
            overrides.update(self.model_settings.get(modality, {}).get(target, {}))
        return ModelSettings.model_validate({**modality_defaults.model_dump(), **overrides})

    def fusion_settings(self) -> ModelSettings:
        """The fuser's settings: the paper's 4-layer BiRNN, with this run's overrides."""
        return self.settings_for(ModelSettings(lr=0.005))


class DifficultyConfig(_Group):
    """The difficulty signal: its estimator, where each partition's comes from, its calibration."""

    estimator: str = Field("ae-re", description="Difficulty estimator plugin; none: no difficulty signal at all.")
    estimator_options: dict[str, Any] = Field(
        {}, description="The estimator plugin's own typed options (its `Options` model).")
    difficulty_train: Literal["in-sample", "out-of-fold"] = Field("out-of-fold", description=(
        "Where train subjects' difficulty comes from: out-of-fold (an estimator that never saw the subject) or "
        "in-sample (the paper's). Chosen on devel, docs/results.md \"Difficulty that transfers\"."))
    difficulty_unseen: Literal["all-train", "fold-mean"] = Field("fold-mean", description=(
        "Where devel, test and new subjects' difficulty comes from: the mean of the fold estimators' (the models "
        "that gave train subjects theirs, so no partition reads a better trained estimator than another) or the "
        "estimator fitted on all train subjects. docs/results.md \"Difficulty that transfers\"."))
    difficulty_calibration: Literal["none", "per-recording", "quantile", "clip"] = Field("none", description=(
        "Calibration of the difficulty signal against its train distribution (core/learning/calibration.py)."))

    def options_for(self, estimator: type) -> dict[str, Any]:
        """The estimator plugin's options: ``estimator_options`` validated by its ``Options`` model."""
        try:
            return estimator.Options(**self.estimator_options).model_dump()
        except ValidationError as exc:
            raise ConfigError(describe_error(exc, f"'estimator_options' of estimator '{estimator.name}'")) from None


class DecisionsConfig(_Group):
    """What is decided from data: the difficulty in each stage, the regressors' candidates."""

    re_unimodal: bool | Literal["devel"] = Field("devel", description=(
        "Difficulty appended to the regressors' input: devel (each regressor is trained with and without it, and "
        "the rule of core/learning/decisions.py keeps the one that predicts unseen subjects better: out-of-fold "
        "train and devel predictions pooled, a subject-bootstrap standard error to beat), true or false (forced). "
        "On held-out subjects the RE misled the models that read it, so a signal that does not clearly help is "
        "left out."))
    re_fusion: bool | Literal["devel"] = Field("devel", description=(
        "Difficulty appended to the fuser's input: devel (decided by the same rule, on devel: fusers have no "
        "out-of-fold predictions), true or false."))
    unimodal_candidates: list[Literal[OPTIONAL_CANDIDATES]] = Field(  # declared in core/method/candidates.py
        [], description=(
            "More variants of every regressor to train and decide between, beyond the difficulty input "
            f"(re_unimodal). {CANDIDATES_DESCRIBED}. Each is decided per regressor by the rule of "
            "core/learning/decisions.py on out-of-fold + devel predictions; each trained one costs its fold models."))
    single_candidates: bool = Field(False, description=(
        "The fusion decision also scores each modality's own prediction, after the fusers: one replaces the fused "
        "prediction where it beats it on devel by more than the bootstrap standard error of its gain (a fusion "
        "that does clearly worse than one of its inputs is then not what the run predicts with)."))
    fuser_candidates: list[str] = Field(["convex"], description=(
        "More fuser plugins the fusion decision scores after the run's fuser (and before each modality's own "
        "prediction): each learns from the same inputs, reads no difficulty, and replaces the fuser only where it "
        "beats the one kept before it on devel by more than the bootstrap standard error of its gain. A weak "
        "recurrent fuser (few train subjects) then gives way to one weight per modality, which about 20 subjects "
        "can set. The run's own fuser is skipped in this list, and a fuser that learns nothing (the mean baseline) "
        "is never replaced; none ([]) for the fuser alone. Chosen on the worlds matrix, docs/results.md "
        "\"Worlds\"."))
    decision_rule: DecisionRule = Field("one-se", description=(
        "Which rule keeps a candidate: one-se (simplest first, a candidate's gain over the one kept must exceed one "
        "bootstrap standard error, however many candidates), bonferroni (more SEs as candidates grow: each of k "
        "comparisons at 1/k of one SE's level, so a decision "
        "over seven candidates keeps one no better than the simplest about 12 % of the time instead of 42 %; "
        "one comparison is one SE under both, the default's plain / re / average 1.41 SE), or within-best (the "
        "one-standard-error rule in its usual form: the simplest candidate whose CCC is within one SE of the best "
        "candidate's; no devel condition). docs/results.md \"The decision rule under the null\"."))
    average_candidates: bool = Field(True, description=(
        "Where a regressor has several candidates, their average is one more (needs no training); the rule keeps "
        "it only where it wins on unseen subjects."))

    @field_validator("fuser_candidates", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value in ("none", ["none"]) else value


class FusionConfig(_Group):
    """The late fusion: its plugin, its train inputs, the shrinkage of its output."""

    fuser: str = Field("birnn", description="Fuser plugin; mean (the unimodal predictions' average) is the baseline.")
    fusion_train: Literal["in-sample", "out-of-fold"] = Field("out-of-fold", description=(
        "The fuser's train inputs: out-of-fold (predictions and difficulty from models that never saw the subject) "
        "or in-sample (the paper's: over-fitted predictions, the more so the longer the regressors train). "
        "Chosen on devel, docs/results.md \"Training budget\"."))
    fusion_apply: Literal["fold-mean", "per-fold"] = Field("fold-mean", description=(
        "With out-of-fold train inputs, what the fuser reads for devel, test and new subjects: the mean of the "
        "fold models' predictions (fold-mean), or each fold's models' predictions, fused one fold at a time and the "
        "fused outputs averaged (per-fold: the fuser then reads at use what it learned from, one fold model's "
        "predictions, not their smoother mean; early stopping reads each devel subject once per fold). Not with "
        "the stack candidate."))
    mean_shrink: float | Literal["devel"] = Field(0.0, description=(
        "How far each recording's fused prediction is pulled toward the train label mean, keeping its course "
        "within the recording: 0 (not at all; the default) to 1 (every recording centred on it), or devel (chosen "
        "per target from 0, 0.25, 0.5, 0.75, 1 on devel CCC; a λ > 0 must gain more than the bootstrap standard "
        "error of its gain, a tie keeps the smaller). Not chosen on devel by default: on synthetic data devel's "
        "few recordings chose λ = 1 where it cost test valence 0.12 and 0.31 (docs/results.md). For subjects "
        "whose overall level the models cannot predict (core/learning/mean_shrink.py); needs no label, so "
        "`predict` applies it too."))

    @field_validator("mean_shrink", mode="before")
    @classmethod
    def _shrink_or_devel(cls, value: Any) -> float | str:
        if value == "devel":
            return value
        try:
            lam = float(value)
        except (TypeError, ValueError):
            lam = float("nan")
        if not 0 <= lam <= 1:  # NaN fails too
            raise ValueError(f"expected a number from 0 to 1, or devel; got {value!r}")
        return lam


class EnsembleConfig(_Group):
    """Models that are averaged: the fold models over train subjects, the pipelines of several seeds."""

    folds: int = Field(3, ge=2, description="Folds over train subjects, for out-of-fold fusion inputs and difficulty.")
    fold_standardise: bool = Field(True, description=(
        "Fold models standardise features on their own subjects, so that held-out train subjects are as new to them "
        "as devel and test subjects are to the all-train models. Without it an auto-encoder reads its held-out "
        "subjects closer to the origin than new ones (docs/results.md \"Difficulty that transfers\")."))
    fold_stopping: Literal["devel", "inner"] = Field("devel", description=(
        "What stops the training of a fold regressor: devel (the run's devel subjects, which then also judge the "
        "candidates and the fusion), or inner (a quarter of its own fit subjects, at least 2, held out from its "
        "training; devel then only judges, at the cost of fewer subjects to learn from)."))
    all_train_member: bool = Field(False, description=(
        "Each regressor candidate's model fitted on every train subject joins its fold models in predicting devel, "
        "test and new subjects (their mean, one member more); train subjects keep their out-of-fold predictions, "
        "which the fuser learns from. A fold model sees (folds - 1) / folds of the train subjects; this member "
        "sees them all, at the cost of one more model per candidate. Not with fusion_apply: per-fold."))
    ensemble_seeds: int = Field(1, ge=1, description=(
        "Pipelines trained with seeds seed, seed + 1, …, their predictions averaged (every stage); each costs a "
        "whole pipeline. 1: one pipeline (the default at the CPU budget; the fold models of each regressor are an "
        "ensemble already). The run folder keeps every member under ensemble/seed-<s>/ and predict averages them."))


class MethodConfig(_Group):
    """The method (docs/pipeline.md): difficulty -> regressors (decided candidates) -> fusion, and its ensembles."""

    pipeline: Literal["default", "paper"] = Field("default", description=(
        "paper: the paper's exact pipeline (the difficulty in both stages, in-sample train signals, one all-train "
        "auto-encoder; PIPELINES in core/presets.py); fields set explicitly win."))
    difficulty: DifficultyConfig = Field(default_factory=DifficultyConfig)
    decisions: DecisionsConfig = Field(default_factory=DecisionsConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    ensemble: EnsembleConfig = Field(default_factory=EnsembleConfig)


class BudgetConfig(_Group):
    """The training budget: a preset, and its fields (None takes the preset's, see ``RunConfig.with_preset``)."""

    preset: Literal["auto", "cpu", "paper"] = Field(
        "auto", description="Training budget; auto: paper on CUDA, cpu otherwise.")
    epochs: int | None = Field(None, ge=1, description="Maximum epochs per model; None: the preset's.")
    patience: int | None = Field(
        None, ge=1, description="Epochs without a better devel CCC before training stops; None: the preset's.")
    window: int | None = Field(
        None, ge=2, description="Training window, frames (MuSe 2021 baseline: 100 s at 2 Hz); None: the preset's.")
    hop: int | None = Field(None, ge=1, description="Training window hop, frames; None: the preset's.")
    batch_size: int | None = Field(None, ge=1, description="Training windows per batch; None: the preset's.")
    lr_schedule: Literal["none", "plateau"] | None = Field(None, description=(
        "none: plain early stopping; plateau: halve lr from the best weights (training.py); None: the preset's."))

    def resolved(self) -> TrainingBudget:
        """The training budget of every learned model (the preset's, with the fields set explicitly)."""
        unset = [k for k in TrainingBudget.model_fields if getattr(self, k) is None]
        if unset:
            raise ConfigError(f"The training budget is not resolved ({', '.join(unset)}): call with_preset first.")
        return TrainingBudget(**{k: getattr(self, k) for k in TrainingBudget.model_fields})


class ExecutionConfig(_Group):
    """Where and how tasks run, and the seed every model's own derives from (the seed and the device type are in
    the task keys; the rest is not)."""

    seed: int = Field(0, ge=0, description="Random seed; every model derives its own from it and its name.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto: CUDA when present.")
    threads: int | None = Field(
        None, ge=1, description="torch CPU threads per worker; None: the preset's, else torch's.")
    workers: int | None = Field(None, ge=1, description="Concurrent trainings; None: chosen from the hardware.")
    executor: Literal["local", "inprocess", "ray"] = Field(
        "local", description=("local: worker processes; inprocess: one model at a time, in this process; "
                              "ray: tasks on a Ray cluster (docs/ray.md)."))
    ray_address: str | None = Field(
        None, description="Executor ray: the cluster to join; None: $RAY_ADDRESS, else a local instance.")
    gpus_per_task: float | None = Field(
        None, gt=0, le=1, description="Executor ray on CUDA: GPU share per training.")
    store: Path | None = Field(
        None, description="The artifact store; None: the user cache (see musefuse.core.engine.store).")


class OutputConfig(_Group):
    """The run folder."""

    out: Path | None = Field(None, description="The run folder; None: `runs/<timestamp>`.")
    overwrite: bool = Field(False, description="Reuse a non-empty run folder.")


class RunConfig(_Group):
    """Everything that determines a run, in groups; accepts flat names too (``RunConfig(lr=0.001)``)."""

    inputs: InputsConfig = Field(default_factory=InputsConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    method: MethodConfig = Field(default_factory=MethodConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, values: Any) -> Any:
        """Flat names (a flat YAML file, an older run folder's config.yaml, ``RunConfig(lr=...)``) into groups."""
        return nest(values) if isinstance(values, dict) else values

    def with_preset(self, cuda: bool) -> RunConfig:
        """Apply the preset (training budget) and the pipeline to the fields the user did not set explicitly."""
        name = self.budget.preset if self.budget.preset != "auto" else ("paper" if cuda else "cpu")
        preset = {**PRESETS[name].model_dump(), **({"threads": PRESET_THREADS[name]} if name in PRESET_THREADS else {})}
        values, given = flatten(self), flatten(self, explicit=True)
        for k, v in {**preset, **PIPELINES[self.method.pipeline]}.items():
            if k not in given or (k in preset and values[k] is None):
                values[k] = v
        return RunConfig.model_validate({**values, "preset": name})


def _paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    paths: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, _Group):
            paths.update(_paths(info.annotation, (*prefix, name)))
        else:
            paths[name] = prefix
    return paths


# Flat name -> its group path (``lr`` -> ("model",), ``fuser`` -> ("method", "fusion")): the one mapping between
# flags / flat YAML keys and the nested model. Group names (``GROUPS``) are never field names, so a key is one or
# the other.
FIELD_PATHS: dict[str, tuple[str, ...]] = _paths(RunConfig)
GROUPS = frozenset(p for path in FIELD_PATHS.values() for p in path)
assert not GROUPS & FIELD_PATHS.keys(), "a group and a field share a name"


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """A mapping of flat names and/or groups as ``RunConfig`` reads it; an unknown key is left for its error."""
    values = dict(values)
    if any(k in values for k in _LEGACY_ESTIMATOR_FIELDS):
        options = dict(values.get("estimator_options") or {})
        for old, new in _LEGACY_ESTIMATOR_FIELDS.items():
            if old in values:
                options.setdefault(new, values.pop(old))
        values["estimator_options"] = options
    nested: dict[str, Any] = {}
    for key, value in values.items():
        if key in FIELD_PATHS:
            where = nested
            for group in FIELD_PATHS[key]:
                where = where.setdefault(group, {})
            where[key] = value
        elif key in GROUPS and isinstance(value, dict):
            nested[key] = merge_nested(nested.get(key, {}), value)
        else:
            nested[key] = value
    return nested


def ungroup(values: dict[str, Any]) -> dict[str, Any]:
    """A config mapping (a config.yaml, flat or in groups) with its groups dissolved: flat name -> value."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in GROUPS and isinstance(value, dict):
            out.update(ungroup(value))
        else:
            out[key] = value
    return out


def merge_nested(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """``b`` over ``a``, group by group (new dicts: neither is changed)."""
    out = dict(a)
    for k, v in b.items():
        if k in GROUPS and isinstance(v, dict):
            out[k] = merge_nested(out[k] if isinstance(out.get(k), dict) else {}, v)
        else:
            out[k] = v
    return out


def flatten(cfg: BaseModel, explicit: bool = False) -> dict[str, Any]:
    """Flat name -> value of every field (``explicit``: only those set explicitly, not left at their default)."""
    out: dict[str, Any] = {}
    for name in (cfg.model_fields_set if explicit else type(cfg).model_fields):
        value = getattr(cfg, name)
        if isinstance(value, _Group):
            out.update(flatten(value, explicit))
        else:
            out[name] = value
    return out


def is_set(cfg: RunConfig, name: str) -> bool:
    """Whether the flat field ``name`` was set explicitly (a file, a flag or a preset), not left at its default."""
    return name in flatten(cfg, explicit=True)


def updated(cfg: RunConfig, **fields: Any) -> RunConfig:
    """``cfg`` with the named flat fields set (checked); what was set explicitly stays so, as do these."""
    return RunConfig.model_validate(merge_nested(cfg.model_dump(exclude_unset=True), nest(fields)))


def describe_error(exc: ValidationError, source: str) -> str:
    parts = []
    for e in exc.errors():
        loc = list(e["loc"])
        while len(loc) > 1 and loc[0] in GROUPS:  # a field by its flat name, as flags and flat files name it
            loc.pop(0)
        field = ".".join(str(p) for p in loc) or "(config)"
        allowed = ""
        if e["type"] == "literal_error" and str(e["ctx"]["expected"]) not in e["msg"]:  # pydantic may list them
            allowed = f" (allowed: {e['ctx']['expected']})"
        parts.append(f"'{field}': {e['msg']}{allowed}")
    return f"Invalid configuration ({source}): " + "; ".join(parts)
