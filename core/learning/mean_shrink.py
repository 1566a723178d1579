"""Recording-mean shrinkage of the fused prediction: how much to trust a recording's predicted level.

MuSe scores CCC over all recordings concatenated, so a recording whose predicted *level* is off
costs as much as a wrong course within it. Where the models rank subjects' overall levels well, the
predicted level is worth keeping; where they do not (on held-out subjects, predicted and true
per-subject means correlated weakly while the within-subject CCC stayed 0.57–0.68), each
recording's predicted level is noise that lowers CCC. The label-free post-processing

    ŷ' = ŷ − λ · (mean of ŷ over the recording − μ),      μ: the train labels' mean,

keeps the course within each recording and pulls its level toward μ: λ = 0 leaves the prediction
as it is, λ = 1 centres every recording on μ. It reads no label of the recording, so it applies
to test and new subjects alike. With ``mean_shrink: devel`` (the default) λ is chosen per target
from :data:`GRID` on devel CCC (a tie keeps the smaller λ), like the difficulty gate; on data whose
levels the models do predict, devel keeps λ = 0 and nothing changes.

``benchmarks/subject_means.py`` measures the same on finished run folders (per-recording means'
correlation, and test CCC at each λ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from musefuse.core.learning.metrics import partition_scores

GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class MeanShrink:
    """One target's shrinkage: λ, the train label mean μ, and how λ was set."""

    lam: float
    train_mean: float
    by: str = "config"  # "devel": chosen on devel from GRID; "config": set by mean_shrink
    devel_ccc: dict[str, float | None] | None = None  # the devel CCC at each λ of GRID, when chosen

    def apply(self, preds: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The shrunk predictions, one (T,) array per recording (an empty recording stays empty)."""
        if self.lam == 0:
            return list(preds)
        return [p - np.float32(self.lam * (float(p.mean(dtype=np.float64)) - self.train_mean)) if len(p) else p
                for p in preds]

    def as_json(self) -> dict[str, Any]:
        return {"lambda": self.lam, "train_mean": self.train_mean, "by": self.by, "devel_ccc": self.devel_ccc}

    @classmethod
    def from_json(cls, raw: Any) -> MeanShrink:
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k), int | float) for k in ("lambda", "train_mean")):
            raise ValueError("expected {'lambda': number, 'train_mean': number, ...}")
        return cls(float(raw["lambda"]), float(raw["train_mean"]), str(raw.get("by", "config")), raw.get("devel_ccc"))


def train_mean(golds: Sequence[np.ndarray]) -> float:
    """The mean of every finite train label (0.0 when there is none)."""
    values = np.concatenate([g[np.isfinite(g)] for g in golds]) if golds else np.zeros(0)
    return float(values.mean()) if len(values) else 0.0


def choose(setting: float | str, preds: Sequence[np.ndarray], golds: Sequence[np.ndarray], mu: float) -> MeanShrink:
    """The shrinkage for one target: ``setting`` a fixed λ, or 'devel' (``preds``/``golds``: devel recordings)."""
    if setting != "devel":
        return MeanShrink(float(setting), mu)
    scores = {f"{lam:g}": partition_scores(MeanShrink(lam, mu).apply(preds), list(golds))["ccc"] for lam in GRID}
    scored = {lam: scores[f"{lam:g}"] for lam in GRID if scores[f"{lam:g}"] is not None}
    lam = max(scored, key=lambda x: (scored[x], -x)) if scored else 0.0  # unscored devel: keep the prediction
    return MeanShrink(lam, mu, "devel", scores)


def describe(target: str, shrink: MeanShrink) -> str:
    """'recording-mean shrinkage fusion → arousal: devel CCC λ=0 0.8329, λ=0.25 0.8102, … → λ=0' (a log line;
    not 'decided …', which the log keeps for tasks)."""
    if shrink.devel_ccc is None:
        return f"recording-mean shrinkage fusion → {target}: λ={shrink.lam:g} (set)"
    scores = ", ".join(f"λ={k} {'—' if v is None else f'{v:.4f}'}" for k, v in shrink.devel_ccc.items())
    return f"recording-mean shrinkage fusion → {target}: devel CCC {scores} → λ={shrink.lam:g}"
