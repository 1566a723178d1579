"""Every number of the generative model: the feature sets, the parameters, the seeding.

What a modality's features are made of is :class:`ModalitySpec`; every other number is :class:`SynthParams`
(written to truth/manifest.json with each dataset). Each random stream is keyed by what it is for
(:func:`_rng`), so a subset of the work gives the same values for each part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from musefuse.core.errors import ConfigError, unknown
from musefuse.core.registry import builtin_modalities

# Bump whenever the bytes written for the same arguments change (cache folders are keyed on it).
# 2: the manifest records the identity knobs; every CSV is byte-identical to version 1 at their defaults.
GENERATOR_VERSION = "2"
GENERATOR = "musefuse.synth"

PAPER_SPLIT = (41, 14, 14)  # Ulm-TSST train / devel / test subjects
CHANNELS = ("audio", "video", "text")


@dataclass(frozen=True)
class ModalitySpec:
    """How one feature set is made from the latent (see docs/synthetic-data.md, 'Features').

    The width is not here: it is the registry's (registry.yaml), so the two cannot disagree.
    """

    channel: str  # audio | video | text: modalities of one channel share corruptions and gaps
    output: str  # affine | relu | intensity | embedding: the last, column-wise transform
    hidden: int  # rank of the nonlinear map (hidden units between latent and features)
    gain_arousal: float  # weight of standardised arousal in every hidden unit's input
    gain_valence: float
    gain_product: float  # weight of arousal x valence (a nonlinear interaction)
    nuisance: float  # std of each hidden unit's own nuisance process (what is not emotion)
    identity: float  # std of the per-subject shift of the hidden units' operating point
    noise: float  # std of i.i.d. per-value noise, before the output transform
    decimals: int  # digits after the point in the CSV
    # How much of the `identity` knob this feature set carries (a priori, not tuned): a face-
    # recognition embedding is mostly *who* it is; a voice or a face's resting action units carry
    # some identity; what is said carries little.
    subject_pattern: float


MODALITY_SPECS: dict[str, ModalitySpec] = {
    # eGeMAPS: mostly arousal; a little valence; moderate noise.
    "egemaps": ModalitySpec("audio", "affine", 12, 1.0, 0.45, 0.3, 1.4, 0.4, 0.5, 6, 0.25),
    # DeepSpectrum: weak emotion signal spread over 4096 ReLU units, much nuisance.
    "deepspectrum": ModalitySpec("audio", "relu", 24, 0.2, 0.15, 0.1, 1.6, 0.5, 0.8, 5, 0.25),
    # VGGFace: mostly valence, some arousal; low-rank ReLU embedding.
    "vggface": ModalitySpec("video", "relu", 12, 0.35, 1.0, 0.2, 1.4, 0.5, 0.5, 5, 1.0),
    # FAU: 17 action-unit intensities in [0, 5]; mixed arousal and valence, noisy.
    "fau": ModalitySpec("video", "intensity", 8, 0.55, 0.6, 0.2, 1.0, 0.4, 0.5, 4, 0.4),
    # BERT: one embedding per utterance (piecewise constant), mostly valence, weak.
    "bert": ModalitySpec("text", "embedding", 16, 0.15, 0.35, 0.0, 1.2, 0.4, 0.3, 6, 0.1),
}
# The order is part of the seeding (a modality's random streams are keyed by its index): append only.
MODALITIES = tuple(MODALITY_SPECS)


def _registry_widths() -> dict[str, int]:
    """Each synthetic feature set's width, as registry.yaml declares the modality."""
    declared = {e.name: e.width for e in builtin_modalities()}
    missing = [m for m in MODALITIES if m not in declared]
    if missing:
        raise ConfigError(f"registry.yaml declares no modality {', '.join(missing)}, which musefuse synth writes.")
    return {m: int(declared[m]) for m in MODALITIES}  # type: ignore[arg-type]


WIDTHS: dict[str, int] = _registry_widths()


# Corruption kinds by channel: off the feature manifold, then on it (misleading but plausible).
OFF_MANIFOLD = {"audio": ("noise", "clipped"), "video": ("occlusion", "noise"), "text": ("garbled",)}
ON_MANIFOLD = {"audio": "other_speaker", "video": "frozen", "text": "other_content"}


@dataclass(frozen=True)
class SynthParams:
    """Every number of the generative model; written to truth/manifest.json with each dataset."""

    steps: tuple[int, int] = (540, 660)  # per-subject length range, steps (about 4.5-5.5 min)
    steps_small: tuple[int, int] = (72, 88)
    # Latent: mean + scale * (slow OU + fast OU) + stress events.
    arousal_mean: tuple[float, float] = (0.05, 0.12)  # (mean, std) of a subject's offset
    valence_mean: tuple[float, float] = (0.10, 0.12)
    latent_scale_sigma: float = 0.25  # subject scale ~ LogNormal(0, sigma)
    slow_tau: tuple[float, float] = (30.0, 90.0)  # seconds, uniform
    slow_std: float = 0.16  # stationary std of the slow OU process
    fast_tau: tuple[float, float] = (3.0, 8.0)
    fast_std: float = 0.05
    onset_amplitude: tuple[float, float] = (0.15, 0.35)  # TSST talk onset: arousal bump
    onset_rise: float = 8.0  # seconds
    onset_decay: tuple[float, float] = (60.0, 150.0)  # habituation, seconds
    events_per_5min: float = 3.0  # Poisson mean of panel interruptions / stressors
    event_amplitude: tuple[float, float] = (0.08, 0.25)
    event_rise: tuple[float, float] = (2.0, 5.0)
    event_decay: tuple[float, float] = (8.0, 25.0)
    valence_coupling: tuple[float, float] = (0.3, 0.8)  # valence dip = -coupling * arousal bump
    latent_norm: tuple[float, float, float, float] = (0.1, 0.25, 0.1, 0.2)  # a mean, a std, v mean, v std
    # Labels: latent delayed by `lag`, exponentially smoothed, plus AR(1) rater noise.
    label_lag_steps: tuple[int, int] = (4, 8)  # 2-4 s, inclusive
    label_smooth_tau: float = 1.0  # seconds
    rater_noise_std: float = 0.04
    rater_noise_phi: float = 0.9
    # Nuisance processes of the hidden units: OU with these time constants (seconds).
    nuisance_tau: tuple[float, float] = (1.0, 10.0)
    expressivity_sigma: float = 0.3  # per subject and channel, gain on the emotion ~ LogNormal(0, sigma)
    identity_rank: int = 4  # subject identity offset in feature space: rank
    identity_feature_std: float = 0.3
    # Corruption, per channel and subject.
    corrupt_share: tuple[float, float] = (0.10, 0.20)  # share of frames, uniform per subject/channel
    # Between-subject spread of that share: x LogNormal(-s^2/2, s) per subject (mean 1; 0 = none),
    # shared by the subject's channels, capped at corrupt_share_max.
    corruption_spread: float = 0.0
    corrupt_share_max: float = 0.5
    corrupt_seconds: tuple[float, float] = (5.0, 30.0)  # length of one corrupted interval
    on_manifold_share: float = 0.5  # probability an interval is on-manifold (misleading)
    # Missing (all-NaN) rows: share of frames, and burst length in steps.
    missing_video_share: tuple[float, float] = (0.01, 0.03)
    missing_video_burst: tuple[int, int] = (1, 8)
    missing_audio_share: tuple[float, float] = (0.002, 0.01)
    missing_audio_burst: tuple[int, int] = (1, 4)
    utterance_seconds: tuple[float, float] = (5.0, 15.0)  # BERT: one embedding per utterance
    # Subject identity knob: each subject adds identity x subject_pattern x (its own offset c_i
    # ~ N(0, 1) per column + tanh(u) @ its own readout E_i ~ N(0, identity_readout^2 / H)) to the
    # features before the output transform. 0 = no such pattern (the data of version 1).
    identity: float = 0.0
    identity_readout: float = 0.5
    # RE-mislead knob, rho in [0, 1]: extra i.i.d. noise of std rho * re_mislead_std * sigmoid(d(t))
    # on a share of the columns (hidden space), d(t) the standardised stress (arousal up, valence
    # down) of the subject in train, of an unrelated decoy trajectory in devel and test.
    # 0 = none (the data of version 2; these fields are then left out of the manifest).
    re_mislead: float = 0.0
    re_mislead_std: float = 1.5
    re_mislead_share: float = 0.5
    re_mislead_modalities: tuple[str, ...] = ("egemaps", "deepspectrum", "vggface", "fau")
    # Rater-offset knob: std of a per-subject offset added to each target's labels only (one draw per
    # subject and target; labels clipped to [-1, 1] after it). The features never see it, so a subject's
    # label level is partly unpredictable. 0 = none (the data of version 2; left out of the manifest).
    rater_offset: float = 0.0
    # Subject-mapping knob: std of each subject's own perturbation of every hidden unit's emotion weights, relative
    # to the modality's gains (one draw per subject and modality): models learn the population's mapping, which
    # fits each new subject only in part. 0 = none (left out of the manifest, the bytes of version 2).
    subject_mapping: float = 0.0
    # Level-leak knob: a feature-space direction per modality and target (weighted by the modality's
    # subject_pattern) scaled by the subject's standardised mean latent level, in train subjects; devel and test
    # subjects carry a decoy level drawn from the same distribution. Models learn "this look = this level" from
    # train subjects and are misled by it on unseen ones. 0 = none (left out of the manifest).
    level_leak: float = 0.0
    modalities: dict[str, ModalitySpec] = field(default_factory=lambda: dict(MODALITY_SPECS))


PARAMS = SynthParams()


# --------------------------------------------------------------------------------------------
# Seeding: every stream is a SeedSequence child keyed by what it is for, so generating a subset
# of the modalities (or of the work, in another order) gives the same values for each part.
# --------------------------------------------------------------------------------------------

_STREAMS = {"split": 0, "subject": 1, "channel": 2, "world": 3, "features": 4, "identity": 5, "noisiness": 6,
            "mislead": 7, "rater": 8, "mapping": 9, "leak": 10}


def _rng(seed: int, stream: str, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAMS[stream], *key)))


def _check_modalities(modalities: list[str] | None) -> list[str]:
    """The feature sets to write: all of them for None, else those named, each known and each once."""
    if modalities is None:
        return list(MODALITIES)
    if not modalities:
        raise ConfigError(f"No modality chosen. Known: {', '.join(MODALITIES)}.")
    for m in modalities:
        if m not in MODALITY_SPECS:
            raise ConfigError(unknown("modality", m, list(MODALITIES)))
    return list(dict.fromkeys(modalities))
