"""Scores of a run as flat records (results.json), and the paper-style summary of them."""

from __future__ import annotations

from typing import Any

from musefuse.core.data.dataset import PARTITIONS
from musefuse.core.graph.gate import Choice
from musefuse.core.graph.pipeline import Fitted, Outputs
from musefuse.core.learning.mean_shrink import MeanShrink
from musefuse.core.learning.metrics import partition_scores


def score_records(fitted: Fitted, out: Outputs, seed: int) -> list[dict[str, Any]]:
    """One record per (stage, modalities, target, partition); ``ccc`` is None where unscored.

    A record with target 'combined' holds the mean of the arousal and valence CCC (the MuSe score).
    """
    cfg = fitted.config
    names = [m.name for m in fitted.modalities]
    fuser = fitted.fusers[cfg.targets[0]].name if fitted.fusers else None
    records: list[dict[str, Any]] = []
    for part in PARTITIONS:
        idx = [i for i, s in enumerate(out.subjects) if s.partition == part]
        if not idx:
            continue
        golds = {t: [out.subjects[i].labels[t] for i in idx] for t in cfg.targets}
        base = {"partition": part, "seed": seed}
        for m in names:
            for t in cfg.targets:
                sc = partition_scores([out.unimodal[(m, t)][i] for i in idx], golds[t])
                records.append(_record("unimodal", [m], t, sc, **_re(fitted.regressor_re[(m, t)]), fuser=None, **base))
        for t in cfg.targets:
            if t in out.fusion:
                sc = partition_scores([out.fusion[t][i] for i in idx], golds[t])
                records.append(_record("fusion", names, t, sc, **_re(fitted.fusion_re[t]), fuser=fuser,
                                       **_shrink(fitted.mean_shrink.get(t)), **base))
    return records + combined_records(records)


def _re(choice: Choice) -> dict[str, Any]:
    """Whether the model read the difficulty; where a devel gate chose, its scores with and without."""
    return {"re": choice.re, **({"re_gate": choice.devel_ccc} if choice.by == "devel" else {})}


def _shrink(shrink: MeanShrink | None) -> dict[str, Any]:
    """λ of the fusion's recording-mean shrinkage; where devel chose it, the devel CCC at each λ."""
    if shrink is None:
        return {}
    return {"mean_shrink": shrink.lam, **({"mean_shrink_devel": shrink.devel_ccc} if shrink.by == "devel" else {})}


def _record(stage: str, modalities: list[str], target: str, sc: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "stage": stage, "modalities": modalities, "target": target, "partition": extra.pop("partition"),
        "ccc": sc["ccc"], "ccc_per_subject": sc["ccc_per_subject_mean"], "pearson": sc["pearson"],
        "rmse": sc["rmse"], "n_frames": sc["n_frames"], **extra,
    }


def combined_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean of arousal and valence CCC per (stage, modalities, partition), where both were scored."""
    out = []
    for r in records:
        if r["target"] != "arousal":
            continue
        twin = next((v for v in records if v["target"] == "valence" and v["stage"] == r["stage"]
                     and v["modalities"] == r["modalities"] and v["partition"] == r["partition"]), None)
        if twin is None:
            continue
        both = None if r["ccc"] is None or twin["ccc"] is None else (r["ccc"] + twin["ccc"]) / 2
        out.append({**{k: v for k, v in r.items() if k not in ("re_gate", "mean_shrink_devel")}, "target": "combined",
                    "ccc": both, "ccc_per_subject": None, "pearson": None, "rmse": None, "n_frames": None,
                    "re": r["re"] if r["re"] == twin["re"] else None,  # None: one target's model reads it
                    **({"mean_shrink": r["mean_shrink"] if r["mean_shrink"] == twin.get("mean_shrink") else None}
                       if "mean_shrink" in r else {})})
    return out
