"""The knobs that make the data harder, their named settings (``VARIANTS``), and what each draws per subject.

Every knob at 0 leaves the bytes of the data as they were before it existed (docs/synthetic-data.md,
'Subject identity' and 'A difficulty signal that misleads').
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from musefuse.core.errors import ConfigError, unknown
from musefuse.lab.synth.latent import Latent, _latent, _standardise
from musefuse.lab.synth.params import MODALITIES, PARAMS, WIDTHS, SynthParams, _rng

# Named settings of the knobs (docs/synthetic-data.md, 'Subject identity' and 'A difficulty signal
# that misleads').
VARIANTS: dict[str, dict[str, float]] = {
    "default": {"identity": 0.0, "corruption_spread": 0.0, "re_mislead": 0.0, "rater_offset": 0.0},
    # Features that carry subject identity as real ones do (VGGFace most), and subjects that differ
    # in how noisy their recordings are: models can memorise the train subjects.
    "identity-heavy": {"identity": 1.0, "corruption_spread": 0.5, "re_mislead": 0.0, "rater_offset": 0.0},
    # Feature noise an auto-encoder sees, whose intensity follows the subject's stress in the train
    # subjects only: the reconstruction error predicts the labels on train and not on unseen subjects.
    "re-misleads": {"identity": 0.0, "corruption_spread": 0.0, "re_mislead": 1.0, "rater_offset": 0.0},
    # Each recording's labels sit at a level of their own that nothing in the features shows (how its
    # raters anchored the scale): models can follow the course within a recording but not its level.
    "hidden-levels": {"identity": 0.0, "corruption_spread": 0.0, "re_mislead": 0.0, "rater_offset": 0.2},
    # Subjects unlike each other the way held-out MuSe-layout subjects were: each maps affect to features
    # partly in a way of their own, their features carry who they are, that identity tracks the affect level of
    # the train subjects only (a chance pattern of few subjects that a model learns and unseen ones lack), and
    # part of each label level is the raters'. Devel and test (14 subjects each) then disagree.
    "unseen-subjects": {"identity": 1.0, "corruption_spread": 0.5, "re_mislead": 0.0, "rater_offset": 0.15,
                        "subject_mapping": 0.6, "level_leak": 1.0},
}
# Knobs added after the first variants: 0 where a variant does not name them.
for _knobs in VARIANTS.values():
    _knobs.setdefault("subject_mapping", 0.0)
    _knobs.setdefault("level_leak", 0.0)


def params_for(identity: float = 0.0, corruption_spread: float = 0.0, re_mislead: float = 0.0,
               rater_offset: float = 0.0, subject_mapping: float = 0.0, level_leak: float = 0.0) -> SynthParams:
    """The generator's parameters with these knobs (refused if negative, or ``re_mislead`` above 1)."""
    for name, value in (("identity", identity), ("corruption spread", corruption_spread),
                        ("rater offset", rater_offset), ("subject mapping", subject_mapping),
                        ("level leak", level_leak)):
        if not (np.isfinite(value) and value >= 0):
            raise ConfigError(f"The {name} knob must be a number >= 0, got {value}.")
    if not (np.isfinite(re_mislead) and 0 <= re_mislead <= 1):
        raise ConfigError(f"The RE-mislead knob must be a number in [0, 1], got {re_mislead}.")
    return replace(
        PARAMS, identity=float(identity), corruption_spread=float(corruption_spread), re_mislead=float(re_mislead),
        rater_offset=float(rater_offset), subject_mapping=float(subject_mapping), level_leak=float(level_leak),
    )


def variant_knobs(variant: str, **overrides: float | None) -> dict[str, float]:
    """``identity``, ``corruption_spread``, ``re_mislead`` and ``rater_offset`` of a named variant (``VARIANTS``),
    with those of ``overrides`` that are not None in their place."""
    if variant not in VARIANTS:
        raise ConfigError(unknown("synthetic variant", variant, list(VARIANTS)))
    knobs = dict(VARIANTS[variant])
    for name, value in overrides.items():
        if name not in knobs:
            raise ConfigError(unknown("synthetic knob", name, list(knobs)))
        if value is not None:
            knobs[name] = float(value)
    return knobs


def subject_noisiness(seed: int, subject: int, p: SynthParams) -> float:
    """How much noisier than typical this subject's recordings are: the factor on its corrupted share.

    LogNormal with mean 1 and log-sd ``p.corruption_spread``; exactly 1.0 when the spread is 0.
    """
    s = p.corruption_spread
    z = float(_rng(seed, "noisiness", subject).standard_normal())
    return float(np.exp(s * z - s * s / 2.0)) if s > 0 else 1.0


def re_mislead_std(seed: int, subject: int, lat: Latent, partition: str, p: SynthParams) -> np.ndarray | None:
    """(T,) std of one subject's RE-mislead noise (shared by its modalities); None when the knob is 0.

    It follows the stress direction d = (z_a - z_v) / sqrt(2) of a latent trajectory (z standardised
    as the feature maps do): the subject's own in train, so a model reading the reconstruction error
    learns "noisy = stressed"; in devel and test a decoy drawn from the same latent model, so the
    noise has the same level and time structure as in train but no relation to the labels.
    """
    if p.re_mislead <= 0:
        return None
    source = lat
    if partition != "train":
        rng = _rng(seed, "mislead", 1, subject)
        decoy = _latent(rng, len(lat.arousal), p)
        # Rolled by a random offset: every talk starts with the TSST onset bump, so an unrolled decoy
        # would rise and fall with the subject's own arousal at the start.
        shift = int(rng.integers(len(lat.arousal)))
        source = Latent(np.roll(decoy.arousal, shift), np.roll(decoy.valence, shift))
    z = _standardise(source, p)
    d = (z[:, 0] - z[:, 1]) / np.sqrt(2.0)
    return p.re_mislead * p.re_mislead_std / (1.0 + np.exp(-d))


def leaked_levels(seed: int, subject: int, lat: Latent, partition: str, p: SynthParams) -> np.ndarray | None:
    """(2,) standardised (arousal, valence) level that a subject's look carries (the level-leak knob); None at 0.

    A train subject's own mean latent level; a devel or test subject's is a decoy's, drawn from the same latent
    model, so unseen subjects look as varied as train ones but their look says nothing of their level.
    """
    if p.level_leak <= 0:
        return None
    source = lat if partition == "train" else _latent(_rng(seed, "leak", 1, subject), len(lat.arousal), p)
    return _standardise(source, p)[:, :2].mean(axis=0)


def re_mislead_columns(seed: int, name: str, p: SynthParams) -> np.ndarray:
    """The columns of modality ``name`` that carry the RE-mislead noise: a fixed share, drawn per modality."""
    d = WIDTHS[name]
    rng = _rng(seed, "mislead", 0, MODALITIES.index(name))
    return np.sort(rng.choice(d, max(1, int(round(p.re_mislead_share * d))), replace=False))
