"""A feature set from the latent: each modality's nonlinear map, nuisance, identity, noise and corruptions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musefuse.core.data.dataset import STEP_SECONDS
from musefuse.lab.synth.corruption import ChannelPlan
from musefuse.lab.synth.latent import Latent, _ou, _standardise
from musefuse.lab.synth.params import CHANNELS, MODALITIES, WIDTHS, ModalitySpec, SynthParams, _rng
from musefuse.lab.synth.variants import re_mislead_columns


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
