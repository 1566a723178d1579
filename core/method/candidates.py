"""What a run chooses between, declared once: the regressor candidates, the fuser's two, and each decision's name.

A new regressor variant is one :class:`Candidate` in :data:`REGRESSOR_CANDIDATES`: the run's configuration
(``unimodal_candidates``), ``musefuse run --help`` and the docs read the names from :data:`OPTIONAL_CANDIDATES`,
the planner trains each asked-for candidate's models, and the rule of :mod:`musefuse.core.learning.decisions`
decides between them. A view combined from the trained candidates' predictions (``stack``) is one entry of
:data:`COMBINED_CANDIDATES`. This module imports nothing of musefuse, so the configuration can read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BASE = "plain"  # the regressor as configured: no difficulty input, the run's standardisation and delay
AVERAGE = "average"  # the mean of every trained candidate's predictions: needs no training of its own
STACK = "stack"  # their convex combination, weights fitted on out-of-fold predictions (core/learning/stacking.py)


@dataclass(frozen=True)
class Candidate:
    """A variant of a regressor: what it changes in the model the config describes."""

    name: str
    description: str
    re: bool = False  # the difficulty appended to its input
    per_recording: bool = False  # features z-scored per recording (standardise: recording)
    extra_shift_s: float = 0.0  # predict the label this much later than the run's label_shift
    settings: tuple[tuple[str, Any], ...] = ()  # model settings it overrides (ModelSettings fields)
    options: tuple[tuple[str, Any], ...] = ()  # how it is trained (core/learning/regressor.py reads them)


# The declared regressor candidates, simplest first (the order the rule goes through them).
REGRESSOR_CANDIDATES: dict[str, Candidate] = {c.name: c for c in (
    Candidate(BASE, "the features alone"),
    Candidate("re", "the features and the difficulty (reconstruction error)", re=True),
    Candidate("recording", "the features z-scored per recording (a subject's level and look removed)",
              per_recording=True),
    Candidate("delay+2s", "the label 2 s later than the run's label_shift (annotation delay)", extra_shift_s=2.0),
    Candidate("delay+4s", "the label 4 s later than the run's label_shift", extra_shift_s=4.0),
    Candidate("dropout", "dropout 0.3 between the recurrent layers (regularised)", settings=(("dropout", 0.3),)),
    Candidate("smaller", "2 recurrent layers of 32 units instead of 4 of 64", settings=(("layers", 2), ("hidden", 32))),
    Candidate("adversarial", "trained against a classifier of the train subject (gradient reversal, weight 0.3: "
              "states that do not tell subjects apart; core/learning/adversary.py)", options=(("adversary", 0.3),)),
)}

# Views made from the trained candidates' predictions, with no model of their own, asked for by name like the
# optional candidates and decided after them (and after ``average``, which ``average_candidates`` switches).
COMBINED_CANDIDATES: dict[str, str] = {
    STACK: "the trained candidates' predictions combined with weights ≥ 0 summing to 1, fitted by least squares (up "
           "to a free scale) on the train subjects' out-of-fold predictions and shrunk toward equal weights by a "
           "ridge worth 4 subjects (cross-fitted over the folds; needs two or more trained candidates and "
           "out-of-fold fusion inputs; trains nothing)",
}

# The candidates a run asks for by name (``unimodal_candidates``); plain and re follow ``re_unimodal`` instead.
OPTIONAL_CANDIDATES: tuple[str, ...] = tuple(n for n in REGRESSOR_CANDIDATES if n not in (BASE, "re")) + tuple(
    COMBINED_CANDIDATES)

# The fuser's two candidates, simplest first: without and with the difficulty input.
FUSION_CANDIDATES = {False: "no-re", True: "re"}
# With ``single_candidates``, each modality's own prediction after them: a fused prediction that does worse on the
# evidence than one modality alone is replaced by that modality's.
SINGLE = "single "


def single_candidate(modality: str) -> str:
    """The fusion decision's name for one modality's own prediction: 'single fau'."""
    return SINGLE + modality


def single_modality(candidate: str) -> str | None:
    """The modality a fusion candidate is the prediction of ('single fau' -> 'fau'); None: a fuser."""
    return candidate.removeprefix(SINGLE) if candidate.startswith(SINGLE) else None


def unimodal_candidates(re_setting: bool | str, asked: Sequence[str]) -> list[Candidate]:
    """A regressor's candidates, simplest first: the difficulty input as ``re_setting`` (``re_unimodal``, False
    where the estimator gives no signal) says — both where the data decide ('devel'), one where it is forced —
    then the ``asked`` optional candidates in declaration order."""
    names = [BASE, "re"] if re_setting == "devel" else (["re"] if re_setting else [BASE])
    names += [n for n in OPTIONAL_CANDIDATES if n in asked and n in REGRESSOR_CANDIDATES]
    return [REGRESSOR_CANDIDATES[n] for n in names]


def describe(name: str) -> str:
    """What an optional candidate is, for the config's field description and ``run --help``."""
    return REGRESSOR_CANDIDATES[name].description if name in REGRESSOR_CANDIDATES else COMBINED_CANDIDATES[name]


def unimodal_decision(modality: str, target: str) -> str:
    """The name of a regressor's decision, as the log, decisions.json and the store's task labels say it."""
    return f"unimodal {modality} → {target}: model"


def fusion_decision(target: str) -> str:
    """The name of a fuser's decision (whether it reads the difficulty)."""
    return f"fusion → {target}: difficulty input"
