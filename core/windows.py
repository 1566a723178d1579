"""Training windows over a sequence of frames."""

from __future__ import annotations

from musefuse.core.errors import ConfigError

# MuSe 2021 baseline practice (Stappen et al., "The MuSe 2021 Multimodal Sentiment Analysis
# Challenge", and its public baseline code): training segments of 100 s with a 50 s hop; at the
# MuSe-Stress rate of 2 Hz (one step every 500 ms) that is 200 frames, hop 100.
WINDOW = 200
HOP = 100


def windows(length: int, window: int = WINDOW, hop: int = HOP) -> list[tuple[int, int]]:
    """(start, end) frame ranges covering ``range(length)``: every ``hop`` frames, the last ending at ``length``.

    A sequence no longer than ``window`` gives one window, the whole sequence.

    >>> windows(450, 200, 100)
    [(0, 200), (100, 300), (200, 400), (250, 450)]
    >>> windows(150, 200, 100)
    [(0, 150)]
    """
    if window < 1 or hop < 1:
        raise ConfigError(f"Training windows need window >= 1 and hop >= 1 (got window={window}, hop={hop}).")
    if length <= 0:
        return []
    if length <= window:
        return [(0, length)]
    out = [(s, s + window) for s in range(0, length - window, hop)]
    if out[-1][1] != length:
        out.append((length - window, length))
    return out
