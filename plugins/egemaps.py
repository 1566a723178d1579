"""eGeMAPS from audio files: openSMILE's eGeMAPSv02 functionals (88) over sliding windows.

The `opensmile` wheel ships the openSMILE binary, so nothing needs installing by hand; it and
`soundfile` are the `extract` extra (``pip install 'musefuse[extract]'``) and are imported only
when a file is extracted.

Timestamp convention (docs/extract.md): row k is stamped ``t = k * hop_ms`` (k = 0, 1, … while
``t`` < the recording's duration) and holds the functionals of the window **centred** on ``t``,
``[t - window_ms/2, t + window_ms/2)``, clipped to the recording. So rows start at 0 ms, sit on
the labels' 500 ms grid, and the first and last ``window_ms/2`` of a file use shorter windows
(at least half a window) instead of being left out or padded with made-up silence.
"""

from __future__ import annotations

import functools
import importlib
import os
import tempfile
from pathlib import Path

import numpy as np
from pydantic import Field

from musefuse.core.data.dataset import STEP_MS
from musefuse.core.errors import ConfigError
from musefuse.core.interfaces import FeatureTable, Modality

AUDIO_SUFFIXES = [".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff"]  # what libsndfile reads
INSTALL_HINT = "pip install 'musefuse[extract]'  (installs opensmile and soundfile)"
# openSMILE drops a window that ends past its last complete LLD frame (60 ms frames, 10 ms hop);
# this much trailing silence lets the windows that end at the recording's end be computed. It
# lies outside every window, so it changes no value.
_TAIL_PAD_S = 0.1


class Egemaps(Modality):
    """The eGeMAPS modality; it can also compute its features from audio files."""

    media: str = "audio"
    media_suffixes: list[str] = AUDIO_SUFFIXES
    # Extraction settings (`musefuse extract --set window_ms=4000`):
    window_ms: int = Field(6000, ge=100)  # functionals window; 6 s as in MuSe-Stress
    hop_ms: int = Field(STEP_MS, ge=10)  # one row per hop: the labels' 2 Hz grid
    sampling_rate: int = Field(16000, ge=8000)  # audio is mixed to mono and resampled to this first

    def feature_names(self) -> list[str]:
        return list(_feature_names())

    def extract(self, media: Path) -> FeatureTable:
        signal, rate = read_audio(media)
        return self.extract_signal(signal, rate)

    def extract_signal(self, signal: np.ndarray, rate: int) -> FeatureTable:
        """Features of a mono float signal (samples,) at ``rate`` Hz; see the module docstring."""
        duration_ms = 1000 * len(signal) / rate
        if duration_ms <= 0:
            raise ValueError("the recording is empty")
        stamps = np.arange(0, duration_ms, self.hop_ms, dtype=np.float64).astype(np.int64)  # (T,)
        half = self.window_ms / 2
        starts = np.maximum(stamps - half, 0) / 1000  # seconds
        ends = np.minimum(stamps + half, duration_ms) / 1000
        with tempfile.TemporaryDirectory(prefix="musefuse-egemaps-") as tmp:
            # openSMILE's "list" frame mode computes every window from one pass over the LLDs.
            frames = os.path.join(tmp, "frames.conf.inc")
            with open(frames, "w") as fh:
                fh.write("frameMode = list\nframeCenterSpecial = left\nframeList = ")
                fh.write(",".join(f"{a:.3f}s-{b:.3f}s" for a, b in zip(starts, ends, strict=True)))
                fh.write("\n")
            padded = np.concatenate([signal.astype(np.float32), np.zeros(int(_TAIL_PAD_S * rate), np.float32)])
            frame = _smile(self, frames).process_signal(padded, rate)
        values = frame.to_numpy(dtype=np.float32)  # (rows, 88)
        got = frame.index.get_level_values("start").total_seconds().to_numpy()
        if len(values) != len(stamps) or not np.allclose(got, starts[: len(got)], atol=1e-3):
            raise RuntimeError(f"openSMILE returned {len(values)} windows for {len(stamps)} requested")
        return FeatureTable(timestamps=stamps, segment_ids=np.ones(len(stamps), np.int64), values=values)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """A file as a mono float32 signal (channels averaged) and its sampling rate."""
    sf = _require("soundfile")
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (samples, channels)
    if data.size == 0:
        raise ValueError("the file holds no audio samples")
    return data.mean(axis=1), int(rate)


@functools.cache
def _feature_names() -> tuple[str, ...]:
    return tuple(_smile(Egemaps(name="egemaps", width=88), None).feature_names)


def _smile(m: Egemaps, frames_conf: str | None):
    opensmile = _require("opensmile")
    options = {"frameModeFunctionalsConf": frames_conf} if frames_conf else {}
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
        options=options,
        sampling_rate=m.sampling_rate,
        resample=True,
        loglevel=0,
    )


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"Extracting eGeMAPS needs the '{module}' package: {INSTALL_HINT}") from None
