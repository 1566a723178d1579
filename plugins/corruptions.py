"""Built-in corruptions: degrade one modality's standardised features at a level in [0, 1].

Level 0 is always the identity (a copy, empty mask). How a level maps to a strength is stated in
each class's docstring and in docs/robustness.md. Every corruption uses only the ``rng`` it is given,
so the same seed gives the same corruption; frames that were missing (NaN rows) stay missing unless
a corruption replaces them.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np

from musefuse.core import Corruption, hookimpl

STRETCH_FRAMES = (10, 40)  # contiguous corrupted stretches: 5-20 s at 2 Hz (the synthetic data's 5-30 s)


def check_level(level: float) -> float:
    """``level`` as a float, or ValueError when it is outside [0, 1]."""
    level = float(level)
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"corruption level must be in [0, 1]; got {level}")
    return level


def stretches(rng: np.random.Generator, steps: int, share: float,
              lengths: tuple[int, int] = STRETCH_FRAMES) -> np.ndarray:
    """(T,) bool: exactly ``round(share·T)`` frames, in non-overlapping contiguous stretches.

    The stretch count is the covered frame count over the mean length; the covered frames are cut
    into that many random positive lengths, and the clean frames spread into the gaps at random.
    """
    n = int(round(share * steps))
    mask = np.zeros(steps, bool)
    if n == 0:
        return mask
    if n >= steps:
        return ~mask
    k = max(1, min(n, int(round(n / (sum(lengths) / 2)))))
    cuts = np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False)) if k > 1 else np.zeros(0, int)
    sizes = np.diff(np.concatenate([[0], cuts, [n]]))
    gaps = rng.multinomial(steps - n, np.full(k + 1, 1.0 / (k + 1)))
    pos = 0
    for size, gap in zip(sizes, gaps[:-1], strict=True):
        pos += gap
        mask[pos:pos + size] = True
        pos += size
    return mask


def _present(x: np.ndarray) -> np.ndarray:
    """(T,) bool: frames that are not missing (not an all-NaN row)."""
    return ~np.isnan(x).all(axis=1) if x.size else np.zeros(len(x), bool)


def _identity(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.astype(np.float32, copy=True), np.zeros(len(x), bool)


class _Graded(Corruption):
    """A corruption whose level 0 is the identity (a copy, empty mask): :meth:`corrupt` sees levels in (0, 1]."""

    def apply(self, features, level, rng, pool):
        level = check_level(level)
        if level == 0:
            return _identity(features)
        return self.corrupt(features.astype(np.float32, copy=True), features, level, rng, pool)

    @abstractmethod
    def corrupt(self, x: np.ndarray, features: np.ndarray, level: float, rng: np.random.Generator,
                pool: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(corrupted features, (T,) mask) at ``level`` > 0; ``x`` is a float32 copy of ``features`` to change."""


class Gaussian(_Graded):
    """Additive white Gaussian noise at a target SNR over every frame.

    Level ℓ > 0 → SNR = 20 − 30ℓ dB (12.5 dB at 0.25, 5 dB at 0.5, −2.5 dB at 0.75, −10 dB at 1);
    the signal power is the sequence's mean squared standardised feature value (≈ 1), so at level 1
    the noise std is about 3.2 standardised units.
    """

    name = "gaussian"
    description = "Additive Gaussian noise at SNR 20 − 30·level dB on every frame"

    @staticmethod
    def snr_db(level: float) -> float:
        return 20.0 - 30.0 * level

    def corrupt(self, x, features, level, rng, pool):
        present = _present(x)
        power = float(np.nanmean(np.square(x[present]))) if present.any() else 1.0
        std = np.sqrt(power / 10.0 ** (self.snr_db(level) / 10.0))
        x += (rng.standard_normal(x.shape) * std).astype(np.float32)
        return x, present


class Dropout(_Graded):
    """Frames set missing (NaN rows): a share ℓ of the frames, chosen at random (level 1: all).

    The run's missing-row policy (``missing``: zero, ffill or mask) then fills them, exactly as for
    frames missing in the data; scoring still covers every labelled frame.
    """

    name = "dropout"
    description = "A share `level` of random frames set missing (handled by the run's missing policy)"

    def corrupt(self, x, features, level, rng, pool):
        chosen = np.zeros(len(x), bool)
        chosen[rng.choice(len(x), size=int(round(level * len(x))), replace=False)] = True
        mask = chosen & _present(x)
        x[chosen] = np.nan
        return x, mask


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each stretch of True in a (T,) mask."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


class _Stretches(_Graded):
    """Contiguous stretches (5–20 s) covering a share ℓ of the frames, each replaced by :meth:`stretch`.

    The stretches are drawn first, then each one's replacement in order, all from ``rng``; every frame
    of a stretch is marked corrupted.
    """

    def corrupt(self, x, features, level, rng, pool):
        mask = stretches(rng, len(x), level)
        for start, stop in _runs(mask):
            x[start:stop] = self.stretch(features, start, stop, rng, pool)
        return x, mask

    @abstractmethod
    def stretch(self, features: np.ndarray, start: int, stop: int, rng: np.random.Generator,
                pool: Sequence[np.ndarray]) -> np.ndarray:
        """The (stop - start, D) values that replace ``features[start:stop]``."""


class Occlusion(_Stretches):
    """Contiguous stretches (5–20 s) covering a share ℓ of frames, replaced by off-manifold values.

    Each stretch holds one constant vector of ±3 standardised units per dimension (random signs)
    plus N(0, 0.05²) jitter: what a covered face or a clipping microphone does to a feature extractor.
    """

    name = "occlusion"
    description = "Stretches covering a share `level` of frames replaced by a constant ±3 vector (off-manifold)"

    def stretch(self, features, start, stop, rng, pool):
        value = rng.choice([-3.0, 3.0], size=features.shape[1])
        return value + rng.normal(0.0, 0.05, (stop - start, features.shape[1]))


class Masking(_Graded):
    """A share ℓ of the feature dimensions (chosen at random per sequence) zeroed in every frame.

    Zero is the train mean in standardised space, so a masked dimension carries no information.
    """

    name = "masking"
    description = "A share `level` of random feature dimensions zeroed (set to the train mean)"

    def corrupt(self, x, features, level, rng, pool):
        dims = rng.choice(x.shape[1], size=int(round(level * x.shape[1])), replace=False)
        present = _present(x)
        x[np.ix_(present, dims)] = 0.0
        return x, present if len(dims) else np.zeros(len(x), bool)


class Shift(Corruption):
    """Misalignment between the modality and the labels: features moved in time by round(20ℓ) frames.

    Level 1 is 20 frames (10 s); the direction (delay or advance) is drawn per sequence. Frames left
    without features at the edge become missing (NaN rows). Every frame is marked corrupted.
    """

    name = "shift"
    description = "Features moved by round(20·level) frames (10 s at level 1), either direction"
    max_frames = 20

    def apply(self, features, level, rng, pool):
        level = check_level(level)
        k = int(round(level * self.max_frames))
        sign = int(rng.choice([-1, 1]))
        if k == 0:
            return _identity(features)
        x = np.full_like(features, np.nan, dtype=np.float32)
        k = min(k, len(x))
        if sign > 0:  # delay: x'[t] = x[t - k]
            x[k:] = features[:len(x) - k]
        else:  # advance: x'[t] = x[t + k]
            x[:len(x) - k] = features[k:]
        return x, _present(features) | _present(x)


class Splice(_Stretches):
    """Stretches (5–20 s) covering a share ℓ of frames replaced by the same modality's real features
    from another subject (``pool``), or from another time of this sequence when the pool is empty.

    The replacement is on-manifold — plausible features that do not follow this subject's state —
    so a reconstruction error cannot see it: the honest counter-case to the paper's hypothesis.
    """

    name = "splice"
    description = "Stretches covering a share `level` of frames replaced by another subject's features (on-manifold)"

    def stretch(self, features, start, stop, rng, pool):
        sources = [p for p in pool if len(p)] or [features]
        src = sources[int(rng.integers(len(sources)))]
        return _donor(rng, src, stop - start, avoid=start if src is features else None)


def _donor(rng: np.random.Generator, src: np.ndarray, size: int, avoid: int | None) -> np.ndarray:
    """``size`` consecutive rows of ``src`` (tiled when src is shorter), away from ``avoid`` if given."""
    if len(src) < size:
        src = np.concatenate([src] * (size // len(src) + 1))
    offsets = np.arange(len(src) - size + 1)
    if avoid is not None:
        far = offsets[np.abs(offsets - avoid) >= size]
        offsets = far if len(far) else offsets
    off = int(rng.choice(offsets))
    return src[off:off + size]


BUILTINS: tuple[type[Corruption], ...] = (Gaussian, Dropout, Occlusion, Masking, Shift, Splice)


@hookimpl
def register_corruptions(register):
    for cls in BUILTINS:
        register(cls)
