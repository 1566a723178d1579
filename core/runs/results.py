"""Scores of a run as flat records (results.json), and the paper-style summary of them."""

from __future__ import annotations

from typing import Any

import numpy as np

from musefuse.core.data.dataset import PARTITIONS
from musefuse.core.learning.decisions import Decision
from musefuse.core.learning.mean_shrink import MeanShrink
from musefuse.core.learning.metrics import interval95, jackknife_cccs, partition_scores
from musefuse.core.method.pipeline import Fitted, Outputs


def score_records(fitted: Fitted, out: Outputs, seed: int) -> list[dict[str, Any]]:
    """One record per (stage, modalities, target, partition); ``ccc`` is None where unscored.

    A record with target 'combined' holds the mean of the arousal and valence CCC (the MuSe score). ``ccc_ci95``
    is the 95% interval of a record's CCC over recordings (delete-one-recording jackknife on Fisher's z,
    :func:`~musefuse.core.learning.metrics.interval95`); None ("n/a") where fewer than 3 recordings are labelled.
    """
    cfg = fitted.config
    names = [m.name for m in fitted.modalities]
    records: list[dict[str, Any]] = []
    for part in PARTITIONS:
        idx = [i for i, s in enumerate(out.subjects) if s.partition == part]
        if not idx:
            continue
        golds = {t: [out.subjects[i].labels[t] for i in idx] for t in cfg.inputs.targets}
        base = {"partition": part, "seed": seed}
        for m in names:
            for t in cfg.inputs.targets:
                preds = [out.unimodal[(m, t)][i] for i in idx]
                records.append(_record("unimodal", [m], t, preds, golds[t], re=fitted.reads_re(m, t),
                                       **_chosen(fitted.unimodal_decisions.get((m, t))), fuser=None, **base))
        for t in cfg.inputs.targets:
            if t in out.fusion:
                preds = [out.fusion[t][i] for i in idx]
                records.append(_record("fusion", names, t, preds, golds[t], re=fitted.fusion_re[t],
                                       **_chosen(fitted.fusion_decisions.get(t)), fuser=fitted.fusers[t].name,
                                       **_shrink(fitted.mean_shrink.get(t)), **base))
    records += combined_records(records)
    for r in records:
        r.pop("_left_out", None)
    return records


def _chosen(decision: Decision | None) -> dict[str, Any]:
    """The candidate a model is, where the data chose it (decisions.json has the evidence)."""
    return {} if decision is None or decision.evidence == "config" else {"chosen": decision.chosen}


def _shrink(shrink: MeanShrink | None) -> dict[str, Any]:
    """λ of the fusion's recording-mean shrinkage; where devel chose it, the devel CCC at each λ."""
    if shrink is None:
        return {}
    return {"mean_shrink": shrink.lam, **({"mean_shrink_devel": shrink.devel_ccc} if shrink.by == "devel" else {})}


def _record(stage: str, modalities: list[str], target: str, preds: list, golds: list, **extra: Any) -> dict[str, Any]:
    sc = partition_scores(preds, golds)
    left_out = None if sc["ccc"] is None else jackknife_cccs(preds, golds)
    labelled = [i for i, g in enumerate(golds) if np.isfinite(g).any()]
    return {
        "stage": stage, "modalities": modalities, "target": target, "partition": extra.pop("partition"),
        "ccc": sc["ccc"], "ccc_ci95": interval95(sc["ccc"], left_out), "_left_out": (labelled, left_out),
        "ccc_per_subject": sc["ccc_per_subject_mean"], "pearson": sc["pearson"],
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
        # the same recordings left out for both targets: the combined score's own delete-one-recording values
        (rec_a, out_a), (rec_v, out_v) = r.get("_left_out", ([], None)), twin.get("_left_out", ([], None))
        paired = out_a is not None and out_v is not None and rec_a == rec_v
        out.append({**{k: v for k, v in r.items() if k not in ("chosen", "mean_shrink_devel")}, "target": "combined",
                    "ccc": both, "ccc_ci95": interval95(both, (out_a + out_v) / 2) if paired else None,
                    "ccc_per_subject": None, "pearson": None, "rmse": None, "n_frames": None,
                    "re": r["re"] if r["re"] == twin["re"] else None,  # None: one target's reads it
                    "fuser": r.get("fuser") if r.get("fuser") == twin.get("fuser") else None,  # None: two kept
                    **({"mean_shrink": r["mean_shrink"] if r["mean_shrink"] == twin.get("mean_shrink") else None}
                       if "mean_shrink" in r else {})})
    return out
