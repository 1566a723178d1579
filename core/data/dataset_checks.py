"""Checks a run makes on its loaded data before training, which ``validate`` makes too: run settings that cannot
work on these data (``check_settings``) and labels that never change (``constant_labels``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musefuse.core.data.dataset import STEP_SECONDS, Dataset
from musefuse.core.data.loader import LABELS_DIR
from musefuse.core.errors import ConfigError


def check_settings(
    dataset: Dataset,
    *,
    label_shift: float = 0.0,
    window: int | None = None,
    folds: int | None = None,
    out_of_fold: bool = False,
) -> list[str]:
    """Run settings that cannot work on this dataset: a ConfigError naming the option; returns warnings.

    - ``--label-shift`` at least as long as every train subject: no label would be left to train on;
    - ``--folds`` (out-of-fold) above the number of train subjects: some folds would be empty;
    - ``--window`` longer than every subject: a warning (each subject becomes one window).
    """
    warnings: list[str] = []
    train = dataset.partition("train")
    lengths = [len(s.timestamps) for s in train]
    shift = round(label_shift / STEP_SECONDS)
    if shift and lengths and shift >= max(lengths):
        raise ConfigError(
            f"'label_shift': {label_shift:g} s is {shift} steps, but the longest train subject has {max(lengths)} "
            f"steps ({max(lengths) * STEP_SECONDS:g} s): no label would be left to train on."
        )
    if shift and lengths and shift >= min(lengths):
        short = sum(n <= shift for n in lengths)
        warnings.append(f"--label-shift {label_shift:g} s leaves no label for {short} of {len(lengths)} train "
                        "subject(s), which are shorter.")
    short = too_few_for_folds(folds, len(train)) if out_of_fold and folds is not None else None
    if short:
        raise ConfigError(short)
    everyone = [len(s.timestamps) for s in dataset.subjects]
    if window is not None and everyone and window > max(everyone):
        warnings.append(f"--window {window} is longer than every subject (the longest has {max(everyone)} "
                        "steps): each subject is trained on as one window.")
    warnings += [f"{where}: {message}" for where, message in constant_labels(dataset)]
    return warnings


def too_few_for_folds(folds: int, train: int) -> str | None:
    """Out-of-fold inputs over fewer train subjects than folds: some folds would be empty."""
    if folds <= train:
        return None
    return (f"'folds': {folds} folds need at least {folds} train subjects, but the data have {train}; "
            f"use --folds {max(2, train)} or fewer.")


def constant_labels(dataset: Dataset) -> list[tuple[str, str]]:
    """(where, message) per partition and target whose labels never change (where: the label folder), then per
    recording whose label never changes in a partition whose labels do (where: its label file).

    A CCC against constant labels is undefined (0 or NaN): a constant partition trains, early-stops or scores on
    nothing. A constant recording (on real self-report data several are) leaves its partition's CCC defined, but
    its own CCC is not."""
    role = {"train": "the models learn nothing from it", "devel": "early stopping and the devel choices "
            "(difficulty gate, mean shrinkage) choose on noise", "test": "its test scores mean nothing"}
    out, whole = [], set()
    for part in dict.fromkeys(s.partition for s in dataset.subjects):
        for t in dataset.targets:
            labelled = [s for s in dataset.partition(part) if s.is_scored(t)]
            values = np.concatenate([_finite(s, t) for s in labelled] or [np.zeros(0)])
            if len(values) < 2 or values.min() != values.max():
                continue
            whole.add((part, t))
            folder = Path(dataset.root) / LABELS_DIR / t
            files = ", ".join(f"{s.id}.csv" for s in labelled[:8]) + (", …" if len(labelled) > 8 else "")
            out.append((str(folder), f"every {part} label of '{t}' is {float(values[0]):g} ({len(labelled)} "
                        f"file(s): {files}): CCC is undefined on constant labels, so "
                        f"{role.get(part, f'its {part} scores mean nothing')}."))
    for s in dataset.subjects:
        for t in dataset.targets:
            y = _finite(s, t) if s.is_scored(t) else np.zeros(0)
            if len(y) < 2 or y.min() != y.max() or (s.partition, t) in whole:
                continue
            out.append((str(Path(dataset.root) / LABELS_DIR / t / f"{s.id}.csv"),
                        f"the '{t}' label of recording '{s.id}' ({s.partition}) never changes (every value "
                        f"{float(y[0]):g}): it has no CCC of its own, so the per-recording mean (ccc_per_subject) "
                        f"counts it as 0; the {s.partition} CCC over all recordings is unaffected."))
    return out


def _finite(subject, target: str) -> np.ndarray:
    y = subject.labels[target]
    return y[np.isfinite(y)]
