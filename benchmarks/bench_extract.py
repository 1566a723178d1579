"""Extraction speed of `musefuse extract --modality egemaps`: audio seconds per wall-clock second.

Writes generated voice-like recordings (harmonic tones with moving pitch and loudness, pauses, a
noise burst) to a temporary folder, then extracts them with 1 and with N worker processes through
the same code path as the CLI (`musefuse.core.data.extract.extract_folder`).

    python benchmarks/bench_extract.py                       # 8 files x 5 min at 16 kHz, jobs 1 and 2
    python benchmarks/bench_extract.py --rate 44100 --files 4 --minutes 2 --jobs 1,2,4
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from musefuse.core.data.extract import extract_folder
from musefuse.core.plugin_host import get_host


def recording(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = rng.uniform(100, 250) * (1 + 0.08 * np.sin(2 * np.pi * 0.3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 9)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2)
    x *= rng.uniform(0.05, 0.2) * (rng.random(int(seconds) + 1)[t.astype(int)] > 0.2)  # ~20 % pauses
    burst = slice(len(x) // 2, len(x) // 2 + rate)
    x[burst] += 0.05 * rng.standard_normal(len(x[burst]))
    return x.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=5.0, help="length of each recording")
    ap.add_argument("--rate", type=int, default=16000, help="sampling rate of the files (resampled to 16 kHz)")
    ap.add_argument("--jobs", default="1,2", help="comma-separated worker counts to time")
    args = ap.parse_args()

    egemaps = get_host().modality("egemaps")
    egemaps.feature_names()  # load openSMILE once outside the timings
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        audio = Path(tmp) / "audio"
        audio.mkdir()
        for i in range(args.files):
            sf.write(audio / f"s{i:03d}.wav", recording(args.minutes * 60, args.rate, i), args.rate)
        total = args.files * args.minutes * 60
        print(f"{args.files} files x {args.minutes:g} min at {args.rate} Hz = {total:.0f} s of audio; "
              f"{platform.processor() or platform.machine()}")
        print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print("| jobs | wall (s) | audio s / wall s | CPU (s) | audio s / CPU s | rows |")
        print("|---:|---:|---:|---:|---:|---:|")
        for jobs in [int(j) for j in args.jobs.split(",")]:
            out = Path(tmp) / f"out-{jobs}"
            cpu0, started = _cpu(), time.perf_counter()
            summary = extract_folder(egemaps, audio, out, jobs=jobs)
            wall, cpu = time.perf_counter() - started, _cpu() - cpu0
            assert not summary.failed, summary.failed
            # Workers are forkserver children, invisible to getrusage: CPU is measured with jobs=1 only.
            cpu_cols = f"{cpu:.1f} | {total / cpu:.0f}" if jobs == 1 else "– | –"
            print(f"| {jobs} | {wall:.1f} | {total / wall:.0f} | {cpu_cols} | {sum(summary.written.values())} |",
                  flush=True)


def _cpu() -> float:
    """User + system CPU seconds of this process and its finished children."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(w) for w in
                                                 (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


if __name__ == "__main__":
    main()
