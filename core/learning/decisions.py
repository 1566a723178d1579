"""Every choice a run makes from data: the candidates, and the one rule that picks among them.

A run decides, per regressor (modality × target), which variant of the model predicts (with or without the
difficulty input, per-recording standardisation, a longer annotation delay, or the average of all of them), per
fuser whether it reads the difficulty, and, where asked, how far each recording's fused level is pulled to the
train mean (:mod:`musefuse.core.learning.mean_shrink`). All of them are decided here, the same way.

**The evidence** is what the candidates predicted for subjects they never saw, pooled: out-of-fold predictions
for the train subjects (each from the fold model that held the subject out; the fold models exist anyway, they
give the fuser its train inputs) and the devel subjects' predictions — about 55 subjects in MuSe-Stress instead
of devel's 14. A single devel partition is a noisy judge: on held-out MuSe-layout data one model's devel and test
CCC differed by up to 0.4, and the devel-only gate this replaces flipped its choices from seed to seed. Where no
out-of-fold predictions exist (fusers, in-sample pipelines) the evidence is devel alone, and the decision says so.

**The rule**: candidates are declared simplest first. Each is scored by the CCC over all evidence frames, and by
a subject bootstrap (recordings resampled with replacement, :data:`DRAWS` draws from a fixed seed, every
candidate scored on the same draws). Going through the candidates in order, a candidate replaces the one kept so
far only where its CCC gain is larger than the bootstrap standard error of that gain (the one-standard-error
rule of model selection, applied to paired differences) and, where devel is pooled with out-of-fold evidence, it
does not lose on devel. The second condition is there because out-of-fold train subjects share their partition
with the data the models learned from: a recording artefact that tracks the labels of train subjects only (the
``re-misleads`` synthetic variant) looks like a gain on them, and only devel subjects can show it is not. An
unscored candidate never wins. So a more complex candidate must win clearly on unseen subjects, and a tie keeps
the simpler one.

The candidates are declared in :mod:`musefuse.core.method.candidates`: adding one is one declaration there; the
planner trains each asked-for candidate's fold models, and the decision task scores them with :func:`decide`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from musefuse.core.learning.metrics import bootstrap_cccs, ccc_ci95, partition_scores

DRAWS = 200  # subject resamples for a standard error (the choice is reproducible: the seed is fixed)
# In every decision task's key: a stored decision made by another version of the rule is never reused.
RULE = "one-se, must not lose on devel (2026-12)"
# How many standard errors a gain must exceed. one-se: one, whatever the number of candidates (the rule above).
# bonferroni: with k comparisons (candidates after the simplest) each one is made at 1/k of the level one SE gives
# a single comparison, 1 - Φ(1) ≈ 0.16, so that the decision as a whole keeps a candidate no better than the
# simplest about as rarely as one comparison at one SE does (k = 1 is one SE; 6 comparisons need 1.94).
# within-best: the one-standard-error rule in its usual form — the simplest candidate whose CCC is within one SE
# of the best candidate's (that candidate's own bootstrap SE); no sequence of comparisons, no devel condition.
# benchmarks/rule_null.py measures all three (docs/results.md "The decision rule under the null").
DecisionRule = Literal["one-se", "bonferroni", "within-best"]


def se_threshold(rule: DecisionRule, comparisons: int) -> float:
    """The SE multiple a candidate's gain must exceed, for a decision with ``comparisons`` comparisons."""
    if rule != "bonferroni" or comparisons <= 1:
        return 1.0
    z = NormalDist()
    return z.inv_cdf(1 - (1 - z.cdf(1.0)) / comparisons)


@dataclass(frozen=True)
class Decision:
    """One choice, as written to decisions.json: what was decided, what was kept, and on what evidence."""

    decision: str  # "unimodal vggface → arousal: model"
    chosen: str
    # name -> {"ccc", "se", "gain_se" and "compared_with" (the SE of its gain over the candidate kept when the rule
    # reached it, and that candidate's name), "devel_ccc" (where devel is pooled)}
    candidates: dict[str, dict[str, float | None]]
    n_subjects: int
    evidence: str  # "out-of-fold train + devel" | "devel" | "config"
    notes: list[str] = field(default_factory=list)  # e.g. devel and out-of-fold evidence disagree

    def as_json(self) -> dict[str, Any]:
        return {"decision": self.decision, "chosen": self.chosen, "candidates": self.candidates,
                "n_subjects": self.n_subjects, "evidence": self.evidence, "notes": list(self.notes)}

    @classmethod
    def from_json(cls, raw: Any) -> Decision:
        if not isinstance(raw, dict) or not isinstance(raw.get("chosen"), str) or not isinstance(
                raw.get("candidates"), dict) or raw["chosen"] not in raw["candidates"]:
            raise ValueError("expected {'decision', 'chosen' (one of 'candidates'), 'candidates', ...}")
        return cls(str(raw.get("decision", "")), raw["chosen"], raw["candidates"], int(raw.get("n_subjects", 0)),
                   str(raw.get("evidence", "")), list(raw.get("notes", [])))

    def describe(self) -> str:
        """'CCC plain 0.5120 ± 0.0410, re 0.5300 ± 0.0400 → plain (55 subjects, out-of-fold train + devel)'."""
        parts = []
        for name, sc in self.candidates.items():
            if sc.get("ccc") is None:
                parts.append(f"{name} —")
                continue
            text = f"{name} {sc['ccc']:.4f}" + (f" ± {sc['se']:.4f}" if sc.get("se") is not None else "")
            parts.append(text)
        where = f"{self.n_subjects} subjects, {self.evidence}"
        return f"CCC {', '.join(parts)} → {self.chosen} ({where})"


def configured(decision: str, chosen: str) -> Decision:
    """A choice the configuration made (nothing was scored)."""
    return Decision(decision, chosen, {chosen: {"ccc": None, "se": None, "gain_se": None}}, 0, "config")


def decide(decision: str, signals: dict[str, Sequence[np.ndarray] | None], golds: Sequence[np.ndarray],
           evidence: str, partitions: Sequence[str] | None = None, threshold: float = 1.0,
           within_best: bool = False) -> Decision:
    """Apply the rule to candidates' predictions of the evidence subjects (``signals``, simplest first).

    ``threshold``: how many standard errors a gain must exceed (:func:`se_threshold`; 1 unless asked otherwise).
    ``within_best``: the usual one-SE rule instead (``decision_rule: within-best``): the simplest candidate within
    one SE of the best, each candidate compared with the best.

    ``partitions`` (one per subject, 'train' / 'devel'): where devel is pooled with out-of-fold evidence, a
    candidate must also not lose on devel, and the decision notes where the kept candidate's devel and
    out-of-fold scores disagree by more than their 95% intervals.
    """
    golds = list(golds)
    points = {n: None if s is None else partition_scores(list(s), golds)["ccc"] for n, s in signals.items()}
    scored = {n: list(s) for n, s in signals.items() if s is not None and points[n] is not None}
    draws = bootstrap_cccs(scored, golds, DRAWS) if scored else None
    devel = _devel_scores(scored, golds, partitions)
    order = [n for n in signals if n in scored]
    chosen = order[0] if order else next(iter(signals))
    compared: dict[str, tuple[str, float]] = {}  # candidate -> (the one it was compared with, SE of that gain)
    if within_best:  # every candidate against the best, with the best's own SE
        if draws is not None and order:
            best = max(order, key=lambda n: points[n])
            best_se = float(np.std(draws[best]))
            compared = {n: (best, best_se) for n in order if n != best}
            chosen = next(n for n in order if points[best] - points[n] <= best_se)
    else:  # simplest first, each against the one kept so far
        for name in order[1:]:
            gain = points[name] - points[chosen]
            holds_on_devel = not devel or devel[name] >= devel[chosen]
            if draws is not None:
                compared[name] = (chosen, float(np.std(draws[name] - draws[chosen])))
                if gain > threshold * compared[name][1] and holds_on_devel:
                    chosen = name
    table = {}
    for n in signals:
        if n not in scored or draws is None:
            table[n] = {"ccc": _round(points[n]), "se": None, "gain_se": None}
            continue
        against, gain_se = compared.get(n, (None, None))
        table[n] = {"ccc": _round(points[n]), "se": _round(float(np.std(draws[n]))), "gain_se": _round(gain_se),
                    **({"compared_with": against} if against else {}),
                    **({"devel_ccc": _round(devel[n])} if devel else {})}
    n_subjects = sum(1 for g in golds if np.isfinite(g).any())
    notes = _disagreement(signals.get(chosen), golds, partitions) if chosen in scored else []
    if threshold != 1.0:
        notes.append(f"a gain had to exceed {threshold:.2f} standard errors (decision_rule: bonferroni)")
    if within_best:
        notes.append("the simplest candidate within one standard error of the best (decision_rule: within-best)")
    return Decision(decision, chosen, table, n_subjects, evidence, notes)


def _devel_scores(scored: dict[str, list[np.ndarray]], golds: list[np.ndarray],
                  partitions: Sequence[str] | None) -> dict[str, float]:
    """Each candidate's CCC on the devel subjects alone, where the evidence pools them with others ({} if not)."""
    if partitions is None or set(partitions) <= {"devel"} or "devel" not in partitions:
        return {}
    idx = [i for i, p in enumerate(partitions) if p == "devel"]
    scores = {n: partition_scores([s[i] for i in idx], [golds[i] for i in idx])["ccc"] for n, s in scored.items()}
    return {} if any(v is None for v in scores.values()) else scores


def _disagreement(preds: Sequence[np.ndarray] | None, golds: list[np.ndarray],
                  partitions: Sequence[str] | None) -> list[str]:
    """A note where the devel and the out-of-fold (train) evidence of the kept candidate do not overlap."""
    if preds is None or partitions is None or {"train", "devel"} - set(partitions):
        return []
    parts = {}
    for part in ("train", "devel"):
        idx = [i for i, p in enumerate(partitions) if p == part]
        sub_p, sub_g = [preds[i] for i in idx], [golds[i] for i in idx]
        ccc, ci = partition_scores(sub_p, sub_g)["ccc"], ccc_ci95(sub_p, sub_g)
        if ccc is None or ci is None:
            return []
        parts[part] = (ccc, ci)
    (oof, oof_ci), (dev, dev_ci) = parts["train"], parts["devel"]
    if oof_ci[1] < dev_ci[0] or dev_ci[1] < oof_ci[0]:
        return [f"devel CCC {dev:.3f} [{dev_ci[0]:.3f}, {dev_ci[1]:.3f}] and out-of-fold CCC {oof:.3f} "
                f"[{oof_ci[0]:.3f}, {oof_ci[1]:.3f}] disagree beyond their 95% intervals: devel alone would mislead"]
    return []


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 6)
