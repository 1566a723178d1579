"""A synthetic Ulm-TSST: MuSe 2021 folder layout, known ground truth, seeded and byte-reproducible.

Every subject has a latent arousal/valence trajectory (Ornstein-Uhlenbeck processes plus TSST
stress events). Labels are that latent delayed by a per-subject annotation lag, smoothed, with
rater noise. Each feature set maps the *undelayed* latent through its own nonlinear map, buried
in nuisance processes, subject identity effects and noise. The ``identity`` knob adds a per-subject
pattern in feature space (strongest in VGGFace, a face-recognition embedding), so models can
memorise train subjects as they do on real data. Some intervals of each modality are
corrupted: off the feature manifold (noise, clipping, occlusion) or on it but misleading (another
speaker, a frozen frame). What was done where is written to ``truth/``, which readers ignore.
docs/synthetic-data.md gives the formulas and the parameters.

Example::

    from musefuse.lab.synth import write_synthetic
    write_synthetic(Path("synth"), small=True, seed=0)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from musefuse.core import fileio
from musefuse.core.data.dataset import STEP_MS, STEP_SECONDS
from musefuse.core.errors import ConfigError, DataError, unknown
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


def split_sizes(subjects: int) -> tuple[int, int, int]:
    """Train/devel/test counts: Ulm-TSST's 41/14/14 scaled to ``subjects``, at least 1 each."""
    if subjects < 3:
        raise ConfigError(f"--subjects must be at least 3 (one per partition), got {subjects}.")
    held = max(1, round(subjects * PAPER_SPLIT[1] / sum(PAPER_SPLIT)))
    return subjects - 2 * held, held, held


def assign_partitions(subjects: int, seed: int) -> dict[str, str]:
    """Subject Id ('1'..'N') -> partition, shuffled with the seed (partitions interleave, as in Ulm-TSST)."""
    n_train, n_devel, _ = split_sizes(subjects)
    order = _rng(seed, "split").permutation(subjects)
    names = np.array(["train"] * n_train + ["devel"] * n_devel + ["test"] * (subjects - n_train - n_devel))
    parts = np.empty(subjects, dtype=object)
    parts[order] = names
    return {str(i + 1): str(parts[i]) for i in range(subjects)}


# --------------------------------------------------------------------------------------------
# Latent emotion and labels
# --------------------------------------------------------------------------------------------


def _ou(rng: np.random.Generator, steps: int, tau: np.ndarray | float, std: float, dims: int = 1) -> np.ndarray:
    """(steps, dims) stationary Ornstein-Uhlenbeck paths: x' = -x/tau + noise, stationary std ``std``."""
    phi = np.exp(-STEP_SECONDS / np.asarray(tau, dtype=np.float64))
    eps = rng.standard_normal((steps, dims)) * std * np.sqrt(1.0 - phi**2)
    x = np.empty((steps, dims))
    x[0] = rng.standard_normal(dims) * std
    for t in range(1, steps):
        x[t] = phi * x[t - 1] + eps[t]
    return x


def _bump(t: np.ndarray, onset: float, rise: float, decay: float) -> np.ndarray:
    """A smooth stress response starting at ``onset`` (s): rises over ``rise``, decays over ``decay``; peak 1."""
    s = np.clip(t - onset, 0.0, None)
    y = (1.0 - np.exp(-s / rise)) * np.exp(-s / decay)
    peak = y.max()
    return y / peak if peak > 0 else y


@dataclass
class Latent:
    """One trajectory of the latent state (a person speaking), at 2 Hz."""

    arousal: np.ndarray  # (T,)
    valence: np.ndarray  # (T,)


def _latent(rng: np.random.Generator, steps: int, p: SynthParams) -> Latent:
    t = np.arange(steps) * STEP_SECONDS
    out = []
    stress = np.zeros(steps)
    onset_amp = rng.uniform(*p.onset_amplitude)
    stress += onset_amp * _bump(t, rng.uniform(0.0, 5.0), p.onset_rise, rng.uniform(*p.onset_decay))
    for _ in range(rng.poisson(p.events_per_5min * steps * STEP_SECONDS / 300.0)):
        onset = rng.uniform(0.0, t[-1])
        stress += rng.uniform(*p.event_amplitude) * _bump(
            t, onset, rng.uniform(*p.event_rise), rng.uniform(*p.event_decay)
        )
    coupling = rng.uniform(*p.valence_coupling)
    for mean, sign in ((p.arousal_mean, 1.0), (p.valence_mean, -coupling)):
        offset = rng.normal(*mean)
        scale = rng.lognormal(0.0, p.latent_scale_sigma)
        slow = _ou(rng, steps, rng.uniform(*p.slow_tau), p.slow_std)[:, 0]
        fast = _ou(rng, steps, rng.uniform(*p.fast_tau), p.fast_std)[:, 0]
        out.append(offset + scale * (slow + fast) + sign * stress)
    return Latent(out[0], out[1])


def _labels(rng: np.random.Generator, latent: np.ndarray, lag: int, p: SynthParams) -> np.ndarray:
    """What the fused raters report: the latent ``lag`` steps late, smoothed, noisy, within [-1, 1]."""
    delayed = np.concatenate([np.full(lag, latent[0]), latent[: len(latent) - lag]])
    alpha = 1.0 - np.exp(-STEP_SECONDS / p.label_smooth_tau)
    smooth = np.empty_like(delayed)
    smooth[0] = delayed[0]
    for t in range(1, len(delayed)):
        smooth[t] = smooth[t - 1] + alpha * (delayed[t] - smooth[t - 1])
    noise = _ou(rng, len(latent), -STEP_SECONDS / np.log(p.rater_noise_phi), p.rater_noise_std)[:, 0]
    return np.clip(smooth + noise, -1.0, 1.0)


@dataclass
class Subject:
    """One subject's talk: its length, annotation lag, latent state, the other person's, the labels."""

    steps: int
    lag: int  # steps
    latent: Latent
    other: Latent  # someone else: the interviewer, another speaker
    labels: dict[str, np.ndarray]  # arousal, valence: (T,) each
    rater_offsets: dict[str, float]  # arousal, valence: the label offset no feature shows (0.0: knob off)


def draw_subject(seed: int, subject: int, small: bool, p: SynthParams) -> Subject:
    """Subject number ``subject`` (0-based) of the dataset of ``seed``: the same in any number of subjects."""
    rng = _rng(seed, "subject", subject)
    steps = int(rng.integers(*(p.steps_small if small else p.steps), endpoint=True))
    lag = int(rng.integers(*p.label_lag_steps, endpoint=True))
    lat = _latent(rng, steps, p)
    other = _latent(rng, steps, p)
    labels = {target: _labels(rng, x, lag, p) for target, x in (("arousal", lat.arousal), ("valence", lat.valence))}
    offsets = rater_offsets(seed, subject, p)
    labels = {t: np.clip(y + offsets[t], -1.0, 1.0) if offsets[t] else y for t, y in labels.items()}
    return Subject(steps, lag, lat, other, labels, offsets)


def rater_offsets(seed: int, subject: int, p: SynthParams) -> dict[str, float]:
    """Each target's label offset of one subject (the rater-offset knob; 0.0 each when it is off)."""
    if p.rater_offset <= 0:
        return {"arousal": 0.0, "valence": 0.0}
    rng = _rng(seed, "rater", subject)
    return {t: float(rng.normal(0.0, p.rater_offset)) for t in ("arousal", "valence")}


# --------------------------------------------------------------------------------------------
# Corruptions and gaps (per channel, so the two audio or two video feature sets agree)
# --------------------------------------------------------------------------------------------


@dataclass
class ChannelPlan:
    """Where one channel of one subject is corrupted or missing."""

    intervals: list[tuple[int, int, str]]  # (start, stop, kind), stop exclusive, disjoint, sorted
    missing: np.ndarray  # (T,) bool: an all-NaN row (no face, silence); takes precedence over kind


def _intervals(
    rng: np.random.Generator, steps: int, channel: str, p: SynthParams, noisiness: float = 1.0
) -> list[tuple[int, int, str]]:
    target = int(round(min(rng.uniform(*p.corrupt_share) * noisiness, p.corrupt_share_max) * steps))
    lo, hi = (int(round(s / STEP_SECONDS)) for s in p.corrupt_seconds)
    lengths: list[int] = []
    remaining = target
    while remaining >= lo:
        n = min(int(rng.integers(lo, hi + 1)), remaining)
        lengths.append(n)
        remaining -= n
    if not lengths and target > 0:  # short (small) subjects: one interval of the minimum length
        lengths.append(lo)
    free = steps - sum(lengths)
    if free < 2 * (len(lengths) + 1):
        return []
    # Gaps: a Dirichlet share of the free steps, each at least 2 (a clean frame before each interval).
    gaps = 2 + np.floor(rng.dirichlet(np.ones(len(lengths) + 1)) * (free - 2 * (len(lengths) + 1))).astype(int)
    out, pos = [], 0
    for gap, n in zip(gaps[:-1], lengths, strict=True):
        pos += int(gap)
        on = rng.random() < p.on_manifold_share
        kinds = OFF_MANIFOLD[channel]
        kind = ON_MANIFOLD[channel] if on else kinds[int(rng.integers(len(kinds)))]
        out.append((pos, pos + n, kind))
        pos += n
    return out


def _missing(rng: np.random.Generator, steps: int, share: tuple[float, float], burst: tuple[int, int]) -> np.ndarray:
    miss = np.zeros(steps, bool)
    target = rng.uniform(*share) * steps
    while miss.sum() < target:
        n = int(rng.integers(burst[0], burst[1] + 1))
        start = int(rng.integers(0, max(1, steps - n)))
        miss[start : start + n] = True
    return miss


def subject_noisiness(seed: int, subject: int, p: SynthParams) -> float:
    """How much noisier than typical this subject's recordings are: the factor on its corrupted share.

    LogNormal with mean 1 and log-sd ``p.corruption_spread``; exactly 1.0 when the spread is 0.
    """
    s = p.corruption_spread
    z = float(_rng(seed, "noisiness", subject).standard_normal())
    return float(np.exp(s * z - s * s / 2.0)) if s > 0 else 1.0


def _channel_plans(seed: int, subject: int, steps: int, p: SynthParams) -> dict[str, ChannelPlan]:
    plans = {}
    noisiness = subject_noisiness(seed, subject, p)
    for c, channel in enumerate(CHANNELS):
        rng = _rng(seed, "channel", subject, c)
        intervals = _intervals(rng, steps, channel, p, noisiness)
        if channel == "video":
            missing = _missing(rng, steps, p.missing_video_share, p.missing_video_burst)
        elif channel == "audio":
            missing = _missing(rng, steps, p.missing_audio_share, p.missing_audio_burst)
        else:
            missing = np.zeros(steps, bool)
        plans[channel] = ChannelPlan(intervals, missing)
    return plans


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


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


@dataclass
class _World:
    """A modality's map from latent to features: the same for every subject (what a model learns)."""

    w: np.ndarray  # (3, H) weights of arousal, valence, arousal*valence in each hidden unit
    bias: np.ndarray  # (H,)
    readout: np.ndarray  # (H, D)
    identity: np.ndarray  # (rank, D) subject identity directions in feature space
    loc: np.ndarray  # (D,) output transform
    scale: np.ndarray  # (D,)


def _world(seed: int, name: str, p: SynthParams) -> _World:
    spec = p.modalities[name]
    rng = _rng(seed, "world", MODALITIES.index(name))
    h, d = spec.hidden, WIDTHS[name]
    w = rng.standard_normal((3, h)) * np.array([[spec.gain_arousal], [spec.gain_valence], [spec.gain_product]])
    bias = rng.normal(0.0, 0.5, h)
    readout = rng.standard_normal((h, d)) / np.sqrt(h)
    identity = rng.standard_normal((p.identity_rank, d)) / np.sqrt(p.identity_rank)
    if spec.output == "affine":  # eGeMAPS-like: each functional has its own magnitude and offset
        scale = 10.0 ** rng.uniform(-2.0, 1.7, d)
        loc = scale * rng.uniform(-1.0, 3.0, d)
    elif spec.output == "relu":  # CNN activations: non-negative, often exactly 0
        scale = rng.uniform(0.5, 2.0, d)
        loc = rng.uniform(-0.4, 0.3, d)
    elif spec.output == "intensity":  # action-unit intensities, 0..5
        scale = rng.uniform(1.0, 2.5, d)
        loc = rng.uniform(-1.5, 0.0, d)
    else:  # embedding: small values around 0, a few outlier dimensions (as in BERT)
        scale = np.full(d, 0.3)
        loc = rng.normal(0.0, 0.1, d)
        loc[rng.choice(d, 3, replace=False)] = rng.choice([-1.0, 1.0], 3) * rng.uniform(2.0, 6.0, 3)
    return _World(w, bias, readout, identity, loc, scale)


def _standardise(lat: Latent, p: SynthParams) -> np.ndarray:
    am, asd, vm, vsd = p.latent_norm
    a, v = (lat.arousal - am) / asd, (lat.valence - vm) / vsd
    return np.stack([a, v, a * v], axis=1)  # (T, 3)


def _output(spec: ModalitySpec, world: _World, r: np.ndarray) -> np.ndarray:
    """Hidden-space features r (T, D) -> what is written to disk."""
    x = world.scale * (r + world.loc) if spec.output != "affine" else world.loc + world.scale * r
    if spec.output == "relu":
        return np.maximum(x, 0.0)
    if spec.output == "intensity":
        return np.clip(np.logaddexp(0.0, x), 0.0, 5.0)  # softplus
    return x


def _utterances(rng: np.random.Generator, steps: int, p: SynthParams) -> np.ndarray:
    """(T,) utterance index of each step (BERT embeds one utterance at a time)."""
    lo, hi = (int(round(s / STEP_SECONDS)) for s in p.utterance_seconds)
    bounds = np.cumsum(rng.integers(lo, hi + 1, size=steps // lo + 2))
    return np.searchsorted(bounds, np.arange(steps), side="right")


def _features(
    seed: int,
    subject: int,
    name: str,
    lat: Latent,
    other: Latent,
    plan: ChannelPlan,
    p: SynthParams,
    mislead: np.ndarray | None = None,
    levels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, D) features, (T,) bool corrupted, (T,) kind strings for one subject and modality.

    ``mislead`` is the (T,) std of the RE-mislead noise (``re_mislead_std``), None for none; ``levels`` the
    (2,) level the subject's look carries (``leaked_levels``), None for none.
    """
    spec = p.modalities[name]
    world = _world(seed, name, p)
    rng = _rng(seed, "features", subject, MODALITIES.index(name))
    steps, h, d = len(lat.arousal), spec.hidden, WIDTHS[name]
    own_w = world.w
    if p.subject_mapping > 0:  # this subject's own way of showing affect (own stream: the others keep their draws)
        gains = np.array([[spec.gain_arousal], [spec.gain_valence], [spec.gain_product]])
        own_w = world.w + p.subject_mapping * gains * _rng(seed, "mapping", subject, MODALITIES.index(name)
                                                           ).standard_normal(world.w.shape)

    def hidden_input(traj: Latent, who: np.ndarray, nuisance: np.ndarray | float, w: np.ndarray) -> np.ndarray:
        return gain * (_standardise(traj, p) @ w) + world.bias + who + nuisance  # (T, H)

    # How expressive this person is in this channel: the same for both feature sets of a channel.
    gain = _rng(seed, "channel", subject, len(CHANNELS) + CHANNELS.index(spec.channel)).lognormal(
        0.0, p.expressivity_sigma
    )
    taus = rng.uniform(*p.nuisance_tau, h)
    nuisance = _ou(rng, steps, taus, spec.nuisance, h)
    who = rng.normal(0.0, spec.identity, h)  # this subject's operating point
    who_other = rng.normal(0.0, spec.identity, h)  # the other speaker's
    face = rng.standard_normal(p.identity_rank) * p.identity_feature_std  # feature-space identity
    face_other = rng.standard_normal(p.identity_rank) * p.identity_feature_std
    if spec.channel == "text":
        # One embedding per utterance: its mean latent, plus its own topic (nuisance), held constant.
        utt = _utterances(rng, steps, p)
        n_utt = int(utt.max()) + 1
        topics = rng.standard_normal((n_utt, h)) * spec.nuisance

        def per_utterance(x: np.ndarray) -> np.ndarray:
            sums = np.zeros((n_utt, x.shape[1]))
            np.add.at(sums, utt, x)
            return (sums / np.bincount(utt, minlength=n_utt)[:, None])[utt]

        u = per_utterance(hidden_input(lat, who, 0.0, own_w)) + topics[utt]
        u_other = per_utterance(hidden_input(other, who_other, 0.0, world.w)) + topics[(utt + 1) % n_utt]
        noise = rng.standard_normal((n_utt, d)).astype(np.float32)[utt] * spec.noise
    else:
        u = hidden_input(lat, who, nuisance, own_w)
        u_other = hidden_input(other, who_other, _ou(rng, steps, taus, spec.nuisance, h), world.w)
        noise = rng.standard_normal((steps, d), dtype=np.float32) * np.float32(spec.noise)
    r = np.tanh(u) @ world.readout + face @ world.identity + noise
    strength = p.identity * spec.subject_pattern
    pattern = pattern_other = None
    if strength > 0:  # skipped at 0, so the data stay those of version 1 to the byte
        pattern = _subject_pattern(_rng(seed, "identity", subject, MODALITIES.index(name), 0), h, d, strength, p)
        pattern_other = _subject_pattern(_rng(seed, "identity", subject, MODALITIES.index(name), 1), h, d, strength, p)
        r += pattern[0] + np.tanh(u) @ pattern[1]
    if levels is not None:  # the look that goes with a level (in train subjects), as strong as their identity
        directions = _rng(seed, "leak", 0, MODALITIES.index(name)).standard_normal((2, d))
        r += p.level_leak * spec.subject_pattern * (levels @ directions)

    corrupt = np.zeros(steps, bool)
    kinds = np.full(steps, "none", dtype=object)
    for start, stop, kind in plan.intervals:
        n = stop - start
        if kind in ("noise", "garbled"):  # heavy noise: nothing of the speaker is left
            r[start:stop] = rng.standard_normal((n, d)) * 2.0
        elif kind in ("clipped", "occlusion"):  # saturated / constant values with a little jitter
            level = rng.standard_normal(d) * 0.3 + rng.choice([-2.5, 2.5], d)
            r[start:stop] = level + rng.standard_normal((n, d)) * 0.05
        elif kind in ("other_speaker", "other_content"):  # on-manifold: someone else's state
            r[start:stop] = np.tanh(u_other[start:stop]) @ world.readout + face_other @ world.identity
            r[start:stop] += noise[start:stop]
            if pattern_other is not None:  # the other person looks / sounds like themselves
                r[start:stop] += pattern_other[0] + np.tanh(u_other[start:stop]) @ pattern_other[1]
        corrupt[start:stop] = True
        kinds[start:stop] = kind
    if mislead is not None:  # a recording condition: every frame has it, corrupted ones too
        cols = re_mislead_columns(seed, name, p)
        extra = _rng(seed, "mislead", 2, subject, MODALITIES.index(name)).standard_normal((steps, cols.size))
        r[:, cols] += extra * mislead[:, None]
    x = _output(spec, world, r)
    for start, stop, kind in plan.intervals:
        if kind == "frozen":  # on-manifold: the last clean frame, repeated
            x[start:stop] = x[start - 1]
    if name != "deepspectrum":  # a spectrogram exists in silence; eGeMAPS functionals do not
        x[plan.missing] = np.nan
        corrupt[plan.missing] = False
        kinds[plan.missing] = "missing"
    return x, corrupt, kinds


def _subject_pattern(
    rng: np.random.Generator, h: int, d: int, strength: float, p: SynthParams
) -> tuple[np.ndarray, np.ndarray]:
    """A person's own look in feature space: an offset (D,) and a readout perturbation (H, D).

    Full rank and drawn per subject, so a model that saw 41 subjects has seen 41 directions, and a
    new subject's pattern is mostly a direction it has not seen.
    """
    offset = rng.standard_normal(d) * strength
    readout = rng.standard_normal((h, d)) * (strength * p.identity_readout / np.sqrt(h))
    return offset, readout


# --------------------------------------------------------------------------------------------
# Fast CSV: numpy builds the characters (about 4x faster than np.savetxt for 4096-wide rows)
# --------------------------------------------------------------------------------------------


def _char_matrix(x: np.ndarray, decimals: int, last: bytes) -> np.ndarray:
    """(N, D) numbers -> (N, D*W) uint8 characters: fixed point without trailing zeros, 'nan' for NaN.

    Zero bytes are padding, removed when rows are joined. Fields end in ',' except the last of
    each row, which ends in ``last``.
    """
    n, d = x.shape
    v = np.asarray(x, dtype=np.float64).ravel()
    nan = np.isnan(v)
    q = np.rint(np.where(nan, 0.0, v) * 10.0**decimals).astype(np.int64)
    neg = q < 0
    a = np.abs(q)
    amax = int(a.max()) if a.size else 0
    ndig = max(len(str(amax)), decimals + 1)
    point = 1 if decimals > 0 else 0
    w = max(ndig + point + 1, 3)  # sign + digits + point, or 'nan'
    m = np.zeros((v.size, w + 1), np.uint8)
    m[:, w] = ord(",")
    m.reshape(n, d * (w + 1))[:, -1] = ord(last)
    rest = a.astype(np.int32) if amax < 2**31 else a
    trailing = np.ones(v.size, bool)  # all fraction digits so far were 0: drop them ('%g'-like)
    col = w - 1
    for p in range(ndig):  # digits from the right
        nxt = rest // 10
        raw = (rest - nxt * 10).astype(np.uint8)
        digit = raw + np.uint8(ord("0"))
        if p < decimals:
            trailing &= raw == 0
            digit[trailing] = 0
        elif p > decimals:  # zeros left of the leading digit are padding
            digit[rest == 0] = 0
        m[:, col] = digit
        rest = nxt
        col -= 1
        if point and p == decimals - 1:
            m[:, col] = np.where(trailing, 0, ord("."))
            col -= 1
    signs = np.flatnonzero(neg)
    if signs.size:
        m[signs, (m[signs, :w] != 0).argmax(axis=1) - 1] = ord("-")
    nans = np.flatnonzero(nan)
    if nans.size:
        m[nans, :w] = 0
        m[nans, w - 3 : w] = np.frombuffer(b"nan", np.uint8)
    return m.reshape(n, -1)


def _csv_bytes(header: list[str], blocks: list[tuple[np.ndarray, int]]) -> bytes:
    """A CSV file: ``header``, then rows made of the column blocks (array (N, k), decimals) side by side."""
    mats = [
        _char_matrix(b.reshape(len(b), -1), dec, "\n" if i == len(blocks) - 1 else ",")
        for i, (b, dec) in enumerate(blocks)
    ]
    body = np.concatenate(mats, axis=1)
    return (",".join(header) + "\n").encode() + body[body != 0].tobytes()


# --------------------------------------------------------------------------------------------
# Writing a dataset
# --------------------------------------------------------------------------------------------


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


def _check_modalities(modalities: list[str] | None) -> list[str]:
    if modalities is None:
        return list(MODALITIES)
    if not modalities:
        raise ConfigError(f"No modality chosen. Known: {', '.join(MODALITIES)}.")
    for m in modalities:
        if m not in MODALITY_SPECS:
            raise ConfigError(unknown("modality", m, list(MODALITIES)))
    return list(dict.fromkeys(modalities))


def _is_synthetic(folder: Path) -> bool:
    try:
        return json.loads((folder / "truth" / "manifest.json").read_text())["generator"] == GENERATOR
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def write_synthetic(
    out: Path,
    *,
    subjects: int | None = None,
    small: bool = False,
    seed: int = 0,
    modalities: list[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    identity: float = 0.0,
    corruption_spread: float = 0.0,
    re_mislead: float = 0.0,
    rater_offset: float = 0.0,
    subject_mapping: float = 0.0,
    level_leak: float = 0.0,
) -> Path:
    """Write a synthetic MuSe-Stress dataset to ``out`` and return ``out``.

    ``subjects`` defaults to 69 (Ulm-TSST; 9 with ``small``), split 41/14/14 or in that proportion.
    ``small`` keeps the real widths but ~80 steps per subject: the whole pipeline runs in seconds.
    ``identity`` (>= 0) is how strongly features carry who the subject is (a per-subject pattern,
    strongest in VGGFace); ``corruption_spread`` (>= 0) how much subjects differ in their share of
    corrupted frames. Both 0: the data of generator version 1. ``re_mislead`` (in [0, 1]) adds feature
    noise an auto-encoder sees, following the stress of train subjects only (0: none, the bytes of
    version 2). ``rater_offset`` (>= 0) gives each subject's labels an offset no feature shows (0: none,
    the bytes of version 2). ``VARIANTS`` names settings of the four.
    The same arguments give byte-identical files. A non-empty ``out`` is refused unless
    ``overwrite``; even then only a previous synthetic dataset (or an empty folder) is replaced.
    The dataset is built in a temporary sibling folder and renamed into place when complete.
    ``progress(done, total)`` is called after each file of features (subjects x modalities).
    """
    out = Path(out)
    p = params_for(identity, corruption_spread, re_mislead, rater_offset, subject_mapping, level_leak)
    n = subjects if subjects is not None else (9 if small else 69)
    mods = _check_modalities(modalities)
    parts = assign_partitions(n, seed)
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise DataError(f"{out} is not empty; choose an empty folder or pass --overwrite to replace it.")
        if not _is_synthetic(out):
            raise DataError(
                f"{out} is not empty and does not hold a musefuse synthetic dataset (no truth/manifest.json); "
                "refusing to replace it even with --overwrite."
            )
    try:  # the temporary sibling is ours: an error names the folder the user gave
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise DataError(f"--out {out}: cannot write there ({exc.strerror or exc}); choose a folder you can "
                        "write to.") from None
    try:
        _generate(tmp, n, small, seed, mods, parts, p, progress)
        if out.exists():
            _swap_in(tmp, out)
        else:
            os.replace(tmp, out)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):  # disk full, a quota, the folder taken away meanwhile
            raise DataError(f"--out {out}: writing the dataset failed ({exc.strerror or exc}).") from None
        raise
    return out


def _swap_in(new: Path, out: Path) -> None:
    """Replace the folder ``out`` by ``new``: the old one is moved aside, the new one moved in, and the old one
    put back if that fails, so ``out`` always holds one complete dataset (the old one, or the new one)."""
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    try:
        os.replace(out, old / "x")
    except BaseException:
        shutil.rmtree(old, ignore_errors=True)  # nothing was moved: only the empty folder to remove
        raise
    try:
        os.replace(new, out)
    except BaseException:
        try:
            os.replace(old / "x", out)
        except OSError as exc:
            raise DataError(f"--out {out}: the new dataset could not be moved in, nor the old one back "
                            f"({exc.strerror or exc}); the old one is in {old / 'x'}.") from None
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _generate(
    root: Path,
    n: int,
    small: bool,
    seed: int,
    mods: list[str],
    parts: dict[str, str],
    p: SynthParams,
    progress: Callable[[int, int], None] | None,
) -> None:
    for sub in ("metadata", "truth", *(f"feature_segments/{m}" for m in mods)):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for target in ("arousal", "valence"):
        (root / "label_segments" / target).mkdir(parents=True, exist_ok=True)
    ids = [str(i + 1) for i in range(n)]
    _write(root / "metadata" / "partition.csv", ("Id,Partition\n" + "".join(f"{i},{parts[i]}\n" for i in ids)).encode())

    offset_cols = ",rater_offset_arousal,rater_offset_valence" if p.rater_offset > 0 else ""
    subject_rows = ["Id,Partition,steps,label_lag_steps" + offset_cols]
    done, total = 0, n * len(mods)
    for k, sid in enumerate(ids):
        subject = draw_subject(seed, k, small, p)
        steps, lag, lat, other = subject.steps, subject.lag, subject.latent, subject.other
        ts = np.arange(steps, dtype=np.int64) * STEP_MS
        seg = np.ones(steps, dtype=np.int64)
        for target, y in subject.labels.items():
            data = _csv_bytes(["timestamp", "value", "segment_id"], [(ts, 0), (y, 6), (seg, 0)])
            _write(root / "label_segments" / target / f"{sid}.csv", data)

        plans = _channel_plans(seed, k, steps, p)
        truth_cols = ["timestamp", "latent_arousal", "latent_valence", "other_arousal", "other_valence"]
        truth_num = [ts.astype(np.float64), lat.arousal, lat.valence, other.arousal, other.valence]
        kinds_cols: list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]] = []
        subject_mislead = re_mislead_std(seed, k, lat, parts[sid], p)
        levels = leaked_levels(seed, k, lat, parts[sid], p)
        for m in mods:
            spec = p.modalities[m]
            mislead = subject_mislead if m in p.re_mislead_modalities else None
            x, corrupt, kinds = _features(seed, k, m, lat, other, plans[spec.channel], p, mislead, levels)
            header = ["timestamp", "segment_id", *(f"{m}_{j}" for j in range(WIDTHS[m]))]
            _write(
                root / "feature_segments" / m / f"{sid}.csv",
                _csv_bytes(header, [(ts, 0), (seg, 0), (x, spec.decimals)]),
            )
            kinds_cols.append((m, corrupt, kinds, mislead))
            done += 1
            if progress is not None:
                progress(done, total)
        _write(root / "truth" / f"{sid}.csv", _truth_csv(truth_cols, truth_num, kinds_cols))
        offsets = "".join(f",{subject.rater_offsets[t]:.6f}" for t in ("arousal", "valence")) if offset_cols else ""
        subject_rows.append(f"{sid},{parts[sid]},{steps},{lag}{offsets}")
    _write(root / "truth" / "subjects.csv", ("\n".join(subject_rows) + "\n").encode())
    _write(root / "truth" / "README.md", (TRUTH_README + (TRUTH_README_MISLEAD if p.re_mislead > 0 else "")).encode())
    manifest = {
        "generator": GENERATOR,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "subjects": n,
        "small": small,
        "modalities": mods,
        "partitions": {part: sum(v == part for v in parts.values()) for part in ("train", "devel", "test")},
        "widths": {m: WIDTHS[m] for m in mods},
        "step_ms": STEP_MS,
        "params": _manifest_params(p),
    }
    # Written last: its presence means the dataset is complete.
    _write(root / "truth" / "manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


def _manifest_params(p: SynthParams) -> dict:
    """Every parameter, but those of the RE-mislead and rater-offset knobs only when they are on: at 0 the
    manifest keeps the bytes of generator version 2 (cache folders are keyed on the version, not the contents)."""
    params = asdict(p)
    if p.re_mislead <= 0:
        params = {k: v for k, v in params.items() if not k.startswith("re_mislead")}
    for knob in ("rater_offset", "subject_mapping", "level_leak"):
        if getattr(p, knob) <= 0:
            del params[knob]
    return params


def _truth_csv(
    cols: list[str], num: list[np.ndarray], per_mod: list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]]
) -> bytes:
    """timestamp,latent_*,other_* then <mod>_corrupt (0/1),<mod>_corrupt_kind for each modality,
    and <mod>_re_noise_std after them where the modality has RE-mislead noise."""
    lines_num = _char_matrix(np.stack(num[1:], axis=1), 6, ",")
    ts = _char_matrix(num[0][:, None], 0, ",")
    header = list(cols)
    cells: list[Callable[[int], str]] = []
    for m, corrupt, kinds, mislead in per_mod:
        header += [f"{m}_corrupt", f"{m}_corrupt_kind"]
        cells.append(lambda t, c=corrupt, k=kinds: f"{int(c[t])},{k[t]}")
        if mislead is not None:
            header.append(f"{m}_re_noise_std")
            cells.append(lambda t, s=mislead: f"{s[t]:.6f}")
    body = np.concatenate([ts, lines_num], axis=1)
    rows = [r[r != 0].tobytes().decode() for r in body]
    if cells:
        rows = [row + ",".join(cell(t) for cell in cells) for t, row in enumerate(rows)]
    else:
        rows = [row[:-1] for row in rows]
    return (",".join(header) + "\n" + "\n".join(rows) + "\n").encode()


TRUTH_README = """\
Ground truth of a musefuse synthetic dataset (not read by musefuse's data reader).

<Id>.csv, one row per 500 ms step, joined to the features on `timestamp` (ms):
  latent_arousal, latent_valence  the subject's true state at that step, undelayed
                                  (labels are it, delayed by label_lag_steps, smoothed, noisy)
  other_arousal, other_valence    the other person whose state replaces the subject's in
                                  'other_speaker' / 'other_content' intervals
  <mod>_corrupt                   1 where the modality does not carry the subject's state
  <mod>_corrupt_kind              none | missing (all-NaN row; corrupt = 0) | noise | clipped |
                                  occlusion | garbled (off-manifold) | other_speaker | frozen |
                                  other_content (on-manifold, misleading)
subjects.csv: Id, Partition, steps, label_lag_steps.
manifest.json: generator, version, seed and every parameter; written last (its presence = complete).
See docs/synthetic-data.md in musefuse for the model.
"""
# Appended only when the knob is on, so that at 0 the README keeps its bytes.
TRUTH_README_MISLEAD = """
With the re_mislead knob on, <Id>.csv also has, for egemaps, deepspectrum, vggface and fau:
  <mod>_re_noise_std              std of the extra noise on a share of the modality's columns at
                                  that step: it follows the subject's stress in train subjects and an
                                  unrelated decoy trajectory in devel and test subjects
"""


def embedded_dataset(modalities: list[str]) -> Path:
    """The data of a run without --data: the shared dataset with the built-in feature sets the run needs.

    Only those are generated (a third-party modality has no synthetic twin); none of them: all five.
    """
    return default_dataset(modalities=[m for m in modalities if m in MODALITIES] or None)


def default_dataset(
    small: bool = False,
    modalities: list[str] | None = None,
    *,
    variant: str = "default",
    identity: float | None = None,
    corruption_spread: float | None = None,
    re_mislead: float | None = None,
    rater_offset: float | None = None,
    subject_mapping: float | None = None,
    level_leak: float | None = None,
) -> Path:
    """The shared synthetic dataset (seed 0), generated on first use and reused.

    Lives under ``$MUSEFUSE_CACHE_DIR/synth/`` (else the user cache folder), keyed by generator
    version, seed, the knobs and the modalities written (all five by default; naming fewer
    skips, e.g., the 1 GB of DeepSpectrum CSV — values are the same either way, as each modality has
    its own random stream). One missing its manifest (an interrupted run) is generated again.
    ``variant`` names the knobs (``VARIANTS``: ``default``, ``identity-heavy``, ``re-misleads``);
    ``identity``, ``corruption_spread``, ``re_mislead`` and ``rater_offset``, when given, override the variant's.

    Example: ``default_dataset(variant="identity-heavy", modalities=["egemaps", "vggface", "fau"])``
    """
    seed = 0
    mods = _check_modalities(modalities)
    knobs = variant_knobs(variant, identity=identity, corruption_spread=corruption_spread, re_mislead=re_mislead,
                          rater_offset=rater_offset, subject_mapping=subject_mapping, level_leak=level_leak)
    params_for(**knobs)  # refuse bad values before naming a folder after them
    tag = "" if set(mods) == set(MODALITIES) else "-" + "+".join(sorted(mods))
    knob_tag = "" if not any(knobs.values()) else f"-id{knobs['identity']:g}-cs{knobs['corruption_spread']:g}"
    if knobs["re_mislead"]:  # after the identity knobs, so the folders of the other variants keep their names
        knob_tag += f"-rm{knobs['re_mislead']:g}"
    if knobs["rater_offset"]:
        knob_tag += f"-ro{knobs['rater_offset']:g}"
    if knobs["subject_mapping"] or knobs["level_leak"]:
        knob_tag += f"-sm{knobs['subject_mapping']:g}-ll{knobs['level_leak']:g}"
    name = f"v{GENERATOR_VERSION}-seed{seed}{'-small' if small else ''}{knob_tag}{tag}"
    path = fileio.cache_folder("synth") / name
    if (path / "truth" / "manifest.json").is_file() and _is_synthetic(path):
        return path
    if path.exists() and not _is_synthetic(path):
        shutil.rmtree(path)  # a half-written folder of ours: start again
    return write_synthetic(path, small=small, seed=seed, modalities=mods, overwrite=True, **knobs)
