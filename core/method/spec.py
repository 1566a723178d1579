"""A typed view over a task's spec: what the runners read, by name and type instead of by string.

The spec itself stays the plain dict the plan builds, because it is what a task's key hashes: a typed model
that wrote ``None`` where the plan leaves a key out, or a default where it has none, would change the keys of
every stored model. So the plan (:mod:`.plan`) keeps writing exactly the dicts of the previous release
(tests/test_task_keys.py holds every key), and the runners read them through :class:`Spec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from musefuse.core.engine.task import Ref
from musefuse.core.interfaces import ModelSettings


@dataclass(frozen=True)
class Spec:
    raw: dict[str, Any]

    # -- every kind --------------------------------------------------------------------------------------------
    @property
    def data(self) -> str:  # env.data_key of the data it reads
        return self.raw["data"]

    @property
    def modality(self) -> str | None:  # None: a task over every modality (decision, fuser)
        return self.raw.get("modality")

    @property
    def fit_ids(self) -> list[str]:  # the subjects it is fitted on (a decision: its evidence subjects)
        return self.raw["fit_ids"]

    @property
    def devel_ids(self) -> list[str]:  # the subjects early stopping reads
        return self.raw.get("devel_ids", [])

    @property
    def target(self) -> str:
        return self.raw["target"]

    # -- models (estimator, regressor, fuser) ------------------------------------------------------------------
    @property
    def fitted(self) -> bool:  # has a loss and a training budget (plan.fit_budget); decisions and means have none
        return "fit" in self.raw

    @property
    def loss(self) -> str:
        return self.raw["fit"]["loss"]

    @property
    def budget(self) -> dict[str, Any]:  # TrainingBudget fields
        return {k: v for k, v in self.raw["fit"].items() if k != "loss"}

    @property
    def seed(self) -> int:
        return self.raw["seed"]

    @property
    def settings(self) -> ModelSettings:
        return ModelSettings(**self.raw["settings"])

    @property
    def weight_decay(self) -> float:
        return self.raw.get("weight_decay", 0.0)

    @property
    def options(self) -> dict[str, Any]:  # a plugin's own options
        return dict(self.raw.get("options", {}))

    @property
    def plugin(self) -> str:
        return self.raw["plugin"]

    @property
    def missing(self) -> str:
        return self.raw["missing"]

    @property
    def own_scaling(self) -> bool:  # a fold model standardises its input on its fit subjects
        return self.raw.get("standardise") == "fit"

    @property
    def per_recording(self) -> bool:  # features z-scored per recording
        return self.raw.get("feature_scaling") == "recording"

    # -- regressor ---------------------------------------------------------------------------------------------
    @property
    def difficulty(self) -> list[Ref] | None:  # the difficulty it reads (regressor, calibration); None: none
        entry = self.raw["difficulty"]
        return None if entry is None else entry["refs"]

    @property
    def shift(self) -> int:  # label shift in steps
        return self.raw["shift"]

    # -- calibration -------------------------------------------------------------------------------------------
    @property
    def method(self) -> str:
        return self.raw["method"]

    # -- fold-mean ---------------------------------------------------------------------------------------------
    @property
    def members(self) -> list[list[Ref]]:
        """The signals averaged: each a ref list. Written two ways: ``{"refs": [ref, ...]}`` (one ref a member,
        fold estimators) or ``[{"refs": [...]}, ...]`` (a ref list a member)."""
        raw = self.raw["members"]
        return [[ref] for ref in raw["refs"]] if isinstance(raw, dict) else [m["refs"] for m in raw]

    # -- stack -------------------------------------------------------------------------------------------------
    @property
    def held(self) -> list[list[str]]:  # each fold's held-out train subjects (the stack's cross-fitting)
        return self.raw["held"]

    # -- fold-view ---------------------------------------------------------------------------------------------
    @property
    def view_candidates(self) -> dict[str, list[list[Ref]]]:  # name -> the signals averaged, simplest first
        return {name: [m["refs"] for m in self.raw["candidates"][name]] for name in self.raw["order"]}

    @property
    def follows(self) -> str | None:  # the key of the decision whose choice it takes (None: one candidate)
        entry = self.raw["follows"]
        return None if entry is None else entry["refs"][0][0]

    # -- fuser -------------------------------------------------------------------------------------------------
    @property
    def per_fold(self) -> list[FusionInputs] | None:  # each fold's predictions, fused one fold at a time
        folds = self.raw.get("per_fold")
        if folds is None:
            return None
        inputs = self.raw["inputs"]
        return [FusionInputs({**inputs, "predictions": fold}) for fold in folds]

    @property
    def inputs(self) -> FusionInputs:  # everyone's (and the run's outputs)
        return FusionInputs(self.raw["inputs"])

    @property
    def fit_inputs(self) -> FusionInputs:  # the train subjects': in-sample or out-of-fold signals
        return FusionInputs(self.raw["fit_inputs"])

    # -- decision (and stack) ------------------------------------------------------------------------------
    @property
    def decision(self) -> str:
        return self.raw["decision"]

    @property
    def evidence(self) -> str:
        return self.raw["evidence"]

    @property
    def threshold(self) -> str:  # a decision's SE threshold rule (core/learning/decisions.py se_threshold)
        return self.raw.get("threshold", "one-se")

    @property
    def candidates(self) -> dict[str, list[Ref]]:  # name -> its predictions, simplest first
        return {name: self.raw["candidates"][name]["refs"] for name in self.raw["order"]}


@dataclass(frozen=True)
class FusionInputs:
    raw: dict[str, Any]

    @property
    def modalities(self) -> list[str]:
        return self.raw["modalities"]

    def predictions(self, modality: str) -> list[Ref]:
        return self.raw["predictions"][modality]["refs"]

    @property
    def reads_difficulty(self) -> bool:
        return self.raw["difficulty"] is not None

    def difficulty(self, modality: str) -> list[Ref]:
        return self.raw["difficulty"][modality]["refs"]
