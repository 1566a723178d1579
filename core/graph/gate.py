"""The difficulty gate: a model reads the difficulty signal only where that wins on devel.

With ``re_unimodal`` / ``re_fusion`` at "devel" (the default), each regressor (modality × target) and
each fuser is trained twice, with and without the difficulty appended to its input. The two start
from the same weights (paired initialisation, :func:`musefuse.core.learning.models.seeded_model`),
so they differ by the input alone. A cheap *gate* task then scores both on devel and passes on the
outputs of the one with the higher CCC (a tie keeps the model without the signal, the simpler one);
later stages read what the gate chose, and ``predict`` follows the same choice (the run folder's
``difficulty_inputs.json``).

Why devel and not out-of-fold train scores: devel subjects are unseen by every model of both
variants, exactly as test and new subjects are, and devel CCC is what MuSe selects on. Out-of-fold
scores would need every fold regressor trained twice (double the fold cost) and would score models
of a different kind than the ones that predict test. The devel score is the early-stopping score
too, which flatters both variants alike, so the comparison stays fair.

A run is planned in rounds (:func:`musefuse.core.graph.plan.plan_run`): the gate of each regressor
must have run before the fold regressors and fusers that read its choice can be keyed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The two candidates of a gate, by whether they read the difficulty.
CANDIDATES = {True: "re", False: "no-re"}


@dataclass(frozen=True)
class Choice:
    """Whether one model reads the difficulty, and how that was decided."""

    re: bool
    by: str = "config"  # "devel": chosen by a gate; "config": forced by re_unimodal / re_fusion
    devel_ccc: dict[str, float | None] | None = None  # the gate's scores: {"re": ..., "no-re": ...}

    def as_json(self) -> dict[str, Any]:
        return {"re": self.re, "by": self.by, "devel_ccc": self.devel_ccc}

    @classmethod
    def from_json(cls, raw: Any) -> Choice:
        if not isinstance(raw, dict) or not isinstance(raw.get("re"), bool):
            raise ValueError("expected {'re': true|false, ...}")
        return cls(raw["re"], str(raw.get("by", "config")), raw.get("devel_ccc"))

    @classmethod
    def from_gate(cls, info: dict[str, Any]) -> Choice:
        """From a finished gate task's fit summary (see :func:`decide`)."""
        return cls(info["choice"] == CANDIDATES[True], "devel", info["devel_ccc"])


def decide(scores: dict[str, float | None]) -> str:
    """The candidate to keep: 're' only where it beats 'no-re' on devel (an unscored candidate never wins)."""
    re, no_re = scores[CANDIDATES[True]], scores[CANDIDATES[False]]
    wins = re is not None and (no_re is None or re > no_re)
    return CANDIDATES[wins]


def describe(info: dict[str, Any]) -> str:
    """'devel CCC with RE 0.5512, without 0.5831 → without RE'."""
    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.4f}"

    scores = info["devel_ccc"]
    verdict = "with RE" if info["choice"] == CANDIDATES[True] else "without RE"
    return f"devel CCC with RE {fmt(scores['re'])}, without {fmt(scores['no-re'])} → {verdict}"
