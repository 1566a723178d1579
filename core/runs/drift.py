"""Does a difficulty signal look the same on devel and test as on train? Per modality, in train-sd units.

A difficulty estimator learns on train subjects. If it partly memorises them (an auto-encoder
reconstructs faces it has seen better than new ones), its signal is lower on train than on anyone
else, and every model that learned from train values meets a shifted input on devel, test and in
use. This module measures that shift without any label or hidden set, so a user on real data sees it.

Per modality and partition: the mean and std of the signal over all frames of the partition's
subjects, expressed in **train units** — (mean_p − mean_train) / sd_train and sd_p / sd_train, so
train reads mean 0, std 1. A partition whose mean moves by more than ``threshold`` train sd
(``DRIFT_THRESHOLD``, 0.25) gets a warning.

Why 0.25 train sd: a partition mean moves by chance too, because partitions hold different people.
That chance spread is ``sampling_sd`` below (sd of the per-subject means on train / sqrt(n)); for
Ulm-TSST-sized partitions (14 subjects) it was about 0.05–0.1 train sd for an out-of-fold RE on our
synthetic data (benchmarks/results/re_drift.md), so 0.25 is beyond that noise, while the harmful
drifts measured on a real held-out set (issue 10: VGGFace RE +0.47 devel / +0.63 test, which cost
fusion 0.25 CCC on arousal) are well above it. The acceptance goal for a sound signal is stricter
(within 0.1 sd); the warning is meant to fire only where something is clearly wrong.

Example::

    report = difficulty_drift({"vggface": re_per_subject}, partitions)   # partitions[i] of subject i
    for w in drift_warnings(report):
        log(w)
    print(drift_table(report))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

DRIFT_THRESHOLD = 0.25  # train sd; see the module docstring for why
REFERENCE = "train"
CHECKED = ("devel", "test")  # the partitions a warning is raised for (others are reported only)


@dataclass(frozen=True)
class PartitionDrift:
    """One partition's signal, in train units (train itself: mean 0, std 1)."""

    subjects: int
    frames: int  # finite frames counted
    mean: float  # (mean_p - mean_train) / sd_train
    std: float  # sd_p / sd_train
    sampling_sd: float  # chance spread of `mean` for this many subjects: sd of train subject means / sqrt(n)


@dataclass(frozen=True)
class ModalityDrift:
    """One modality's signal across partitions, plus the raw train statistics that define the units."""

    modality: str
    train_mean: float  # raw units
    train_std: float  # raw units
    partitions: dict[str, PartitionDrift]
    threshold: float
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def difficulty_drift(
    signals: Mapping[str, Sequence[np.ndarray]],
    partitions: Sequence[str],
    threshold: float = DRIFT_THRESHOLD,
) -> dict[str, ModalityDrift]:
    """Per modality, each partition's signal in train units, with warnings for devel/test drift.

    ``signals[modality][i]`` is subject i's (T_i,) difficulty (NaN frames are ignored);
    ``partitions[i]`` is subject i's partition ('train', 'devel', 'test', or any other name, which
    is reported but not warned about). A modality without finite train frames is skipped with a
    warning of its own. Pure: reads nothing, writes nothing.
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0 train sd, got {threshold}")
    parts = list(partitions)
    out: dict[str, ModalityDrift] = {}
    for name, seqs in signals.items():
        if len(seqs) != len(parts):
            raise ValueError(f"{name}: {len(seqs)} signals but {len(parts)} partitions; give one per subject")
        groups: dict[str, list[np.ndarray]] = {}
        for x, p in zip(seqs, parts, strict=True):
            v = np.asarray(x, dtype=np.float64).ravel()
            groups.setdefault(p, []).append(v[np.isfinite(v)])
        train = [v for v in groups.get(REFERENCE, []) if v.size]
        if not train:
            out[name] = ModalityDrift(name, float("nan"), float("nan"), {}, threshold,
                                      [f"{name}: no finite difficulty values on train; drift not measured."])
            continue
        flat = np.concatenate(train)
        mu, sd = float(flat.mean()), float(flat.std())
        scale = sd if sd > 1e-12 else 1.0  # a constant signal: report raw differences
        between = float(np.std([(v.mean() - mu) / scale for v in train])) if len(train) > 1 else 0.0
        stats: dict[str, PartitionDrift] = {}
        for p in sorted(groups, key=lambda q: (q != REFERENCE, q not in CHECKED, q)):
            vs = [v for v in groups[p] if v.size]
            if not vs:
                continue
            allv = np.concatenate(vs)
            stats[p] = PartitionDrift(
                subjects=len(vs), frames=int(allv.size), mean=float((allv.mean() - mu) / scale),
                std=float(allv.std() / scale), sampling_sd=between / np.sqrt(len(vs)),
            )
        warnings = [
            f"{name}: difficulty on {p} drifts {s.mean:+.2f} train sd from train (threshold ±{threshold:g}; "
            f"different subjects alone would move it about ±{s.sampling_sd:.2f}). Models that learned from "
            "train values meet shifted inputs there (the estimator may have memorised its train subjects: "
            "out-of-fold difficulty or a calibration of the signal should remove this)."
            for p, s in stats.items()
            if p in CHECKED and abs(s.mean) > threshold
        ]
        out[name] = ModalityDrift(name, mu, sd, stats, threshold, warnings)
    return out


def drift_warnings(report: Mapping[str, ModalityDrift]) -> list[str]:
    """Every warning of a :func:`difficulty_drift` report, modality by modality."""
    return [w for m in report.values() for w in m.warnings]


def drift_table(report: Mapping[str, ModalityDrift]) -> str:
    """A markdown table: one row per modality, mean ± std per partition in train units, a flag per drift."""
    parts = list(dict.fromkeys(p for m in report.values() for p in m.partitions))
    lines = ["| modality | " + " | ".join(f"{p} mean ± std" for p in parts) + " |",
             "|---|" + "---|" * len(parts)]
    for m in report.values():
        cells = []
        for p in parts:
            s = m.partitions.get(p)
            flag = " ⚠" if s is not None and p in CHECKED and abs(s.mean) > m.threshold else ""
            cells.append("—" if s is None else f"{s.mean:+.2f} ± {s.std:.2f}{flag}")
        lines.append(f"| {m.modality} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
