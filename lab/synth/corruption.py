"""Where each channel of a subject is corrupted or missing (per channel, so its two feature sets agree)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musefuse.core.data.dataset import STEP_SECONDS
from musefuse.lab.synth.params import CHANNELS, OFF_MANIFOLD, ON_MANIFOLD, SynthParams, _rng
from musefuse.lab.synth.variants import subject_noisiness


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
