"""What to corrupt and how: the --corrupt / --levels / --partitions specs, and corrupted copies of subjects.

Corruptions are Corruption plugins applied to standardised features. A subject's random draws are keyed by
(seed, corruption, subject) only, never by the level, so the curves of one seed are paired comparisons.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from musefuse.core.data.dataset import PARTITIONS, Dataset, Subject
from musefuse.core.errors import ConfigError, nearest
from musefuse.core.interfaces import Corruption
from musefuse.core.method.pipeline import model_seed
from musefuse.core.plugin_host import PluginHost

DEFAULT_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class CorruptionSpec:
    """One corruption of one modality, e.g. ``vggface:occlusion``."""

    modality: str
    corruption: str

    def __str__(self) -> str:
        return f"{self.modality}:{self.corruption}"


CorruptionSet = tuple[CorruptionSpec, ...]  # corruptions applied together, at the same level


def label(exp: CorruptionSet) -> str:
    return "+".join(str(s) for s in exp)


def parse_corrupt(text: str) -> list[CorruptionSet]:
    """'vggface:occlusion,egemaps:gaussian' -> two corruption sets; 'a:x+b:y' corrupts a and b together."""
    experiments = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        specs = []
        for item in part.split("+"):
            modality, sep, name = item.strip().partition(":")
            if not sep or not modality or not name:
                raise ConfigError(f"'corrupt': '{item.strip()}' is not MODALITY:CORRUPTION (e.g. vggface:occlusion).")
            specs.append(CorruptionSpec(modality.strip(), name.strip()))
        experiments.append(tuple(specs))
    if not experiments:
        raise ConfigError("'corrupt': name at least one MODALITY:CORRUPTION (e.g. vggface:occlusion).")
    return experiments


def parse_levels(text: str | Sequence[float]) -> list[float]:
    """Sorted, unique levels in [0, 1]; level 0 is always included (every curve starts clean)."""
    try:
        values = [float(v) for v in (text.split(",") if isinstance(text, str) else text) if str(v).strip()]
    except ValueError:
        raise ConfigError(f"'levels': '{text}' is not a comma-separated list of numbers in [0, 1].") from None
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    if bad:
        raise ConfigError(f"'levels': {bad[0]} is outside [0, 1] (0 = untouched, 1 = strongest).")
    return sorted({0.0, *values})


def parse_partitions(names: Sequence[str]) -> list[str]:
    """The partitions to corrupt and score (--partitions), each once, each one of train, devel, test."""
    if not names:
        raise ConfigError(f"--partitions: no partition given; choose from {', '.join(PARTITIONS)}.")
    for name in names:
        if name not in PARTITIONS:
            raise ConfigError(f"--partitions: unknown partition '{name}'.{nearest(name, list(PARTITIONS))} "
                              f"Known: {', '.join(PARTITIONS)}.")
    return list(dict.fromkeys(names))


def corrupt_subjects(
    subjects: Sequence[Subject],
    exp: CorruptionSet,
    level: float,
    seed: int,
    host: PluginHost,
    pool_from: Sequence[Subject] | None = None,
) -> tuple[list[Subject], dict[str, list[np.ndarray]]]:
    """Copies of ``subjects`` with ``exp`` applied at ``level`` to their standardised features.

    Returns the copies and, per corrupted modality, one (T,) bool mask per subject. Each subject's
    random generator is keyed by (seed, spec, subject id) only, so the draws do not change with the
    level. A subject's splice pool is the clean features of the other subjects of its partition
    among ``pool_from`` (default: ``subjects``).
    """
    pool_from = list(subjects if pool_from is None else pool_from)
    out = [replace(s, features=dict(s.features)) for s in subjects]
    masks: dict[str, list[np.ndarray]] = {}
    for spec in exp:
        corruption: Corruption = host.corruption(spec.corruption)()
        earlier = masks.get(spec.modality)  # the same modality twice in one experiment: masks are OR-ed
        masks[spec.modality] = []
        for i, (s, c) in enumerate(zip(subjects, out, strict=True)):
            pool = [p.features[spec.modality] for p in pool_from if p.partition == s.partition and p.id != s.id]
            rng = np.random.default_rng(model_seed(seed, "corrupt", str(spec), s.id))
            x, mask = corruption.apply(c.features[spec.modality], level, rng, pool)
            x, mask = np.asarray(x, np.float32), np.asarray(mask, bool)
            if x.shape != s.features[spec.modality].shape or mask.shape != (len(x),):
                raise ConfigError(f"corruption '{spec.corruption}' returned shapes {x.shape}, {mask.shape} "
                                  f"for features {s.features[spec.modality].shape}; it must keep (T, D) and give (T,)")
            c.features[spec.modality] = x
            masks[spec.modality].append(mask | earlier[i] if earlier else mask)
    return out, masks


def augmented_dataset(dataset: Dataset, experiments: list[CorruptionSet], seed: int, host: PluginHost) -> Dataset:
    """The dataset plus one corrupted copy of every train subject (a random experiment at a level ~ U(0, 1))."""
    rng = np.random.default_rng(model_seed(seed, "augment"))
    train_subjects = dataset.partition("train")
    copies = []
    for k, s in enumerate(train_subjects):
        exp = experiments[int(rng.integers(len(experiments)))]
        level = float(rng.uniform(0.0, 1.0))
        (c,), _ = corrupt_subjects([s], exp, level, model_seed(seed, "augment", str(k)), host, train_subjects)
        copies.append(replace(c, id=f"{s.id}~aug"))
    # Other content, other fingerprint: the artifact store must never take these models for clean-data ones.
    tag = hashlib.sha256(f"{dataset.fingerprint}/augment/{seed}/{[str(e) for e in experiments]}".encode())
    return replace(dataset, subjects=[*dataset.subjects, *copies], fingerprint=tag.hexdigest(),
                   part_fingerprints={})  # data_key falls back to the tagged fingerprint
