"""Recording-mean shrinkage of the fused prediction: how much to trust a recording's predicted level.

MuSe scores CCC over all recordings concatenated, so a recording whose predicted *level* is off
costs as much as a wrong course within it. Where the models rank subjects' overall levels well, the
predicted level is worth keeping; where they do not (on held-out subjects, predicted and true
per-subject means correlated weakly while the within-subject CCC stayed 0.57–0.68), each
recording's predicted level is noise that lowers CCC. The label-free post-processing

    ŷ' = ŷ − λ · (mean of ŷ over the recording − μ),      μ: the train labels' mean,

keeps the course within each recording and pulls its level toward μ: λ = 0 leaves the prediction
as it is, λ = 1 centres every recording on μ. It reads no label of the recording, so it applies
to test and new subjects alike.

The default is λ = 0. With ``mean_shrink: devel`` λ is chosen per target on devel, but only on the
evidence devel can give: a devel partition holds few recordings (14 in MuSe-Stress), and a gain from
moving their levels is a statement about those few subjects. So λ is decided by the rule of every
data-driven choice (:mod:`musefuse.core.learning.decisions`): going up :data:`GRID`, a larger λ replaces
the one kept so far only where its devel CCC gain exceeds the standard error of that gain over resampled
devel recordings (paired subject bootstrap, fixed seed; a tie keeps the smaller λ). Even so, devel can mislead: on
synthetic data whose devel subjects' levels ran against the test subjects', it chose λ = 1 and cost
test valence 0.12 and 0.31 (docs/results.md), which is why devel does not choose by default.

``benchmarks/subject_means.py`` measures the same on finished run folders (per-recording means'
correlation, and test CCC at each λ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from musefuse.core.learning import decisions

GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class MeanShrink:
    """One target's shrinkage: λ, the train label mean μ, and how λ was set."""

    lam: float
    train_mean: float
    by: str = "config"  # "devel": chosen on devel from GRID; "config": set by mean_shrink
    devel_ccc: dict[str, float | None] | None = None  # the devel CCC at each λ of GRID, when chosen
    gain_se: dict[str, float | None] | None = None  # SE of each λ's gain over the λ kept when the rule reached it

    def apply(self, preds: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The shrunk predictions, one (T,) array per recording (an empty recording stays empty)."""
        if self.lam == 0:
            return list(preds)
        return [p - np.float32(self.lam * (float(p.mean(dtype=np.float64)) - self.train_mean)) if len(p) else p
                for p in preds]

    def as_json(self) -> dict[str, Any]:
        return {"lambda": self.lam, "train_mean": self.train_mean, "by": self.by, "devel_ccc": self.devel_ccc,
                "gain_se": self.gain_se}

    @classmethod
    def from_json(cls, raw: Any) -> MeanShrink:
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k), int | float) for k in ("lambda", "train_mean")):
            raise ValueError("expected {'lambda': number, 'train_mean': number, ...}")
        return cls(float(raw["lambda"]), float(raw["train_mean"]), str(raw.get("by", "config")), raw.get("devel_ccc"),
                   raw.get("gain_se"))


def train_mean(golds: Sequence[np.ndarray]) -> float:
    """The mean of every finite train label (0.0 when there is none)."""
    values = np.concatenate([g[np.isfinite(g)] for g in golds]) if golds else np.zeros(0)
    return float(values.mean()) if len(values) else 0.0


def choose(setting: float | str, preds: Sequence[np.ndarray], golds: Sequence[np.ndarray], mu: float) -> MeanShrink:
    """The shrinkage for one target: ``setting`` a fixed λ, or 'devel' (``preds``/``golds``: devel recordings),
    decided by the rule every data-driven choice follows (musefuse.core.learning.decisions): λ from small to
    large, a larger one kept only where it beats the one kept so far by more than the standard error of the gain."""
    if setting != "devel":
        return MeanShrink(float(setting), mu)
    shrunk = {f"{lam:g}": MeanShrink(lam, mu).apply(preds) for lam in GRID}
    decision = decisions.decide("fusion: recording-mean shrinkage", shrunk, list(golds), "devel")
    table = decision.candidates
    return MeanShrink(float(decision.chosen), mu, "devel", {k: c["ccc"] for k, c in table.items()},
                      {k: c["gain_se"] for k, c in table.items()})


def describe(target: str, shrink: MeanShrink) -> str:
    """'recording-mean shrinkage fusion → arousal: devel CCC λ=0 0.8329, λ=0.25 0.8402 (gain se 0.0300), … → λ=0'
    (a log line; not 'decided …', which the log keeps for tasks)."""
    if shrink.devel_ccc is None:
        return f"recording-mean shrinkage fusion → {target}: λ={shrink.lam:g} (set)"
    se = shrink.gain_se or {}

    def one(k: str, v: float | None) -> str:
        score = "—" if v is None else f"{v:.4f}"
        return score if k == "0" or se.get(k) is None else f"{score} (gain se {se[k]:.4f})"

    scores = ", ".join(f"λ={k} {one(k, v)}" for k, v in shrink.devel_ccc.items())
    return (f"recording-mean shrinkage fusion → {target}: devel CCC {scores} → λ={shrink.lam:g} "
            "(a λ > 0 must gain more than its standard error)")
