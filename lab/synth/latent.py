"""Who the subjects are and what they feel: the partition split, the latent arousal and valence, the labels.

A subject's latent is Ornstein-Uhlenbeck processes plus TSST stress events; its labels are that latent
delayed by the annotation lag, smoothed, with rater noise (docs/synthetic-data.md, 'Latent' and 'Labels').
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musefuse.core.data.dataset import STEP_SECONDS
from musefuse.core.errors import ConfigError
from musefuse.lab.synth.params import PAPER_SPLIT, SynthParams, _rng


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


def _standardise(lat: Latent, p: SynthParams) -> np.ndarray:
    am, asd, vm, vsd = p.latent_norm
    a, v = (lat.arousal - am) / asd, (lat.valence - vm) / vsd
    return np.stack([a, v, a * v], axis=1)  # (T, 3)
