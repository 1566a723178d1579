"""The run configuration: one pydantic model; every CLI flag maps to one field, a YAML file can set any."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from musefuse.core.data.dataset import MissingPolicy
from musefuse.core.errors import ConfigError
from musefuse.core.interfaces import ModelSettings, RnnType

# Presets change only the training budget, never the architecture (4 x 64 BiGRU stays).
# `paper`: the paper's budget and plain early stopping (sec. 4.3). `cpu`: chosen on devel from the
# quality-vs-time curve on this project's 2-core CPU (benchmarks/budget_curve.py, README "Training budget").
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"epochs": 100, "patience": 15, "window": 200, "hop": 100, "lr_schedule": "none"},
    # One torch thread: the recurrences are many small steps that a second thread barely speeds up
    # (3.7 vs 3.8 s/epoch measured), while two threads on a busy 2-core machine oversubscribe it badly.
    # 30 epochs / patience 10 cost 1.6x the time and were no better on devel; plateau beat plain patience.
    "cpu": {"epochs": 15, "patience": 5, "window": 100, "hop": 100, "threads": 1, "lr_schedule": "plateau"},
}
# Printed at start: what a preset costs against `paper`, as measured (benchmarks/results/budget*/).
PRESET_COST = {
    "cpu": "costs, against 'paper' (embedded data, no RE, 3 seeds): fusion test CCC -0.007 arousal / -0.021 "
           "valence in about 0.3x the time; held-out MuSe-layout data lost 0.13 arousal at the old cpu budget, "
           "so use --preset paper when you can (README 'Training budget').",
}


_LEGACY_ESTIMATOR_FIELDS = {"ae_bottleneck": "bottleneck", "ae_noise": "noise", "re_smoothing": "smoothing"}


class RunConfig(BaseModel):
    """Everything that determines a run. Unset model fields fall back to each modality's defaults."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # What to run on
    modalities: list[str] = ["egemaps", "vggface", "fau"]
    data: Path | None = None  # None: the embedded synthetic Ulm-TSST-like dataset
    targets: list[str] = ["arousal", "valence"]
    # Models (None: the modality's registry default per target)
    rnn: RnnType | None = None
    layers: int | None = Field(None, ge=1)
    hidden: int | None = Field(None, ge=1)
    lr: float | None = Field(None, gt=0)
    dropout: float | None = Field(None, ge=0, lt=1)
    loss: Literal["ccc", "mse", "l1"] = "ccc"
    # Per-regressor settings, modality -> target -> {rnn, layers, hidden, lr, dropout} (any subset):
    # the most specific level, over the fields above and the modality defaults. Auto-encoders and the
    # fuser keep theirs. `musefuse select` writes the devel-best ones in this form.
    model_settings: dict[str, dict[str, dict[str, Any]]] = {}
    # Stages
    estimator: str = "ae-re"
    fuser: str = "birnn"
    re_unimodal: bool = True  # difficulty appended to the regressors' input
    re_fusion: bool = True  # difficulty appended to the fuser's input
    # The fuser's train inputs: out-of-fold (default; predictions and difficulty from models that never saw the
    # subject) or in-sample (the paper's: over-fitted predictions, the more so the longer the regressors train).
    # Chosen on devel, README "Training budget".
    fusion_train: Literal["in-sample", "out-of-fold"] = "out-of-fold"
    folds: int = Field(3, ge=2)  # for out-of-fold fusion inputs and difficulty
    # Fold models standardise features on their own subjects, so that held-out train subjects are as new to
    # them as devel and test subjects are to the all-train models. Without it an auto-encoder reads its
    # held-out subjects closer to the origin than new ones (README "Difficulty that transfers").
    fold_standardise: bool = True
    # Where train subjects' difficulty comes from: out-of-fold (default; an estimator that never saw the
    # subject) or in-sample (the paper's). Chosen on devel, README "Difficulty that transfers".
    difficulty_train: Literal["in-sample", "out-of-fold"] = "out-of-fold"
    # Where devel, test and new subjects' difficulty comes from: the mean of the fold estimators' (default; the
    # models that gave train subjects theirs, so no partition reads a better trained estimator than another)
    # or the estimator fitted on all train subjects. README "Difficulty that transfers".
    difficulty_unseen: Literal["all-train", "fold-mean"] = "fold-mean"
    # Calibration of the difficulty signal against its train distribution (core/learning/calibration.py)
    difficulty_calibration: Literal["none", "per-recording", "quantile", "clip"] = "none"
    estimator_options: dict[str, Any] = {}  # the estimator plugin's own typed options (its `Options` model)
    label_shift: float = Field(0.0, ge=0)  # seconds; predict the label this much later (rater lag)
    missing: MissingPolicy = "zero"
    # Training budget
    preset: Literal["auto", "cpu", "paper"] = "auto"  # auto: paper on CUDA, cpu otherwise
    epochs: int = Field(100, ge=1)  # at most
    patience: int = Field(15, ge=1)  # early stopping on devel CCC
    window: int = Field(200, ge=2)  # training window, frames (MuSe 2021 baseline: 100 s at 2 Hz)
    hop: int = Field(100, ge=1)  # training window hop, frames
    batch_size: int = Field(32, ge=1)
    lr_schedule: Literal["none", "plateau"] = "none"  # plateau: halve lr from the best weights (training.py)
    # Execution
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1)  # torch CPU threads per worker; None: the preset's, else torch's
    workers: int | None = Field(None, ge=1)  # concurrent trainings; None: chosen from the hardware
    executor: Literal["local", "inprocess", "ray"] = "local"  # inprocess: one model at a time, in this process
    ray_address: str | None = None  # executor ray: the cluster to join; None: $RAY_ADDRESS, else a local instance
    gpus_per_task: float | None = Field(None, gt=0, le=1)  # executor ray on CUDA: GPU share per training
    store: Path | None = None  # the artifact store; None: the user cache (see musefuse.core.graph.store)
    out: Path | None = None  # the run folder; None: runs/<timestamp>
    overwrite: bool = False

    @model_validator(mode="before")
    @classmethod
    def _legacy_estimator_fields(cls, values: Any) -> Any:
        """Run folders written before estimator options were the plugin's own (musefuse ≤ 0.1 main)."""
        if isinstance(values, dict) and any(k in values for k in _LEGACY_ESTIMATOR_FIELDS):
            values = dict(values)
            options = dict(values.get("estimator_options") or {})
            for old, new in _LEGACY_ESTIMATOR_FIELDS.items():
                if old in values:
                    options.setdefault(new, values.pop(old))
            values["estimator_options"] = options
        return values

    @field_validator("modalities", "targets")
    @classmethod
    def _non_empty_unique(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one")
        if len(set(value)) != len(value):
            raise ValueError(f"names repeat: {value}")
        return value

    @field_validator("model_settings")
    @classmethod
    def _known_settings(cls, value: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
        for modality, per_target in value.items():
            for target, settings in per_target.items():
                try:
                    ModelSettings.model_validate(settings)  # names and ranges; unset fields stay unset
                except ValidationError as exc:
                    raise ValueError(f"{modality}.{target}: {_describe(exc, 'model settings')}") from None
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

    def options_for(self, estimator: type) -> dict[str, Any]:
        """The estimator plugin's options: ``estimator_options`` validated by its ``Options`` model."""
        try:
            return estimator.Options(**self.estimator_options).model_dump()
        except ValidationError as exc:
            raise ConfigError(_describe(exc, f"'estimator_options' of estimator '{estimator.name}'")) from None

    def fusion_settings(self) -> ModelSettings:
        """The fuser's settings: the paper's 4-layer BiRNN, with this run's overrides."""
        return self.settings_for(ModelSettings(lr=0.005))

    def with_preset(self, cuda: bool) -> RunConfig:
        """Apply the preset to the budget fields the user did not set explicitly."""
        name = self.preset if self.preset != "auto" else ("paper" if cuda else "cpu")
        update = {k: v for k, v in PRESETS[name].items() if k not in self.model_fields_set}
        resolved = self.model_copy(update={**update, "preset": name})
        return RunConfig.model_validate(resolved.model_dump())


def _describe(exc: ValidationError, source: str) -> str:
    parts = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(config)"
        allowed = ""
        if e["type"] == "literal_error" and str(e["ctx"]["expected"]) not in e["msg"]:  # pydantic may list them
            allowed = f" (allowed: {e['ctx']['expected']})"
        parts.append(f"'{field}': {e['msg']}{allowed}")
    return f"Invalid configuration ({source}): " + "; ".join(parts)


def build_config(file: Path | None = None, **flags: Any) -> RunConfig:
    """YAML file first, then every flag that was given (not None) on top; errors name the field."""
    values: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"Cannot read config file {file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"Config file {file} must hold a mapping of field: value.")
        values.update(loaded)
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        return RunConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(file) if file else "command line")) from None
