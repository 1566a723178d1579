"""`musefuse extract`: eGeMAPS from generated audio, the Modality.extract extension point, and the
dataset it writes being accepted by `musefuse run` and `predict`. No recordings are stored: every
signal is made here (harmonic 'voiced' tones with moving pitch and loudness, silence, noise)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

import musefuse.core.plugin_host as plugin_host
from musefuse.cli.app import app
from musefuse.core import Modality, hookimpl
from musefuse.core.data.loader import load_dataset
from musefuse.core.data.museio import read_feature_csv
from musefuse.core.interfaces import FeatureTable
from musefuse.plugins import egemaps as egemaps_module
from musefuse.plugins.egemaps import Egemaps

SR = 16000
LOUDNESS, F0 = "loudness_sma3_amean", "F0semitoneFrom27.5Hz_sma3nz_amean"
TINY = ["--layers", "1", "--hidden", "8", "--epochs", "1", "--threads", "1", "--device", "cpu"]


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def voiced(seconds: float, f0: float = 150.0, amp: float = 0.2, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A voice-like signal: 8 harmonics of a pitch that glides ±5 %, syllable-rate loudness, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.4 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 9))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    return (amp * envelope * x / 2 + 0.002 * rng.standard_normal(t.size)).astype(np.float32)


def speech_like(seconds: float, seed: int, sr: int = SR) -> np.ndarray:
    """Voiced stretches, pauses of silence and a burst of noise, at a seed-dependent pitch and level."""
    rng = np.random.default_rng(seed)
    x = voiced(seconds, f0=rng.uniform(100, 250), amp=rng.uniform(0.05, 0.3), sr=sr, seed=seed)
    n = len(x)
    x[int(0.3 * n):int(0.4 * n)] = 0  # silence
    x[int(0.7 * n):int(0.75 * n)] = 0.05 * rng.standard_normal(int(0.75 * n) - int(0.7 * n))  # noise
    return x


def mean_of(table: FeatureTable, name: str) -> float:
    return float(np.nanmean(table.values[:, Egemaps(name="egemaps", width=88).feature_names().index(name)]))


@pytest.fixture
def egemaps() -> Egemaps:
    return plugin_host.get_host().modality("egemaps")


# -- the eGeMAPS extractor ------------------------------------------------------------------------
def test_rows_timestamps_and_names_follow_the_recording(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    durations = {"a": 4.2, "b": 7.0, "c": 9.75}
    sf.write(audio / "a.wav", speech_like(4.2, 1), SR)
    sf.write(audio / "b.flac", np.stack([speech_like(7.0, 2, sr=44100)] * 2, axis=1), 44100)  # stereo
    sf.write(audio / "c.wav", speech_like(9.75, 3, sr=22050), 22050)
    result = cli("extract", "--modality", "egemaps", "--audio", audio, "--out", tmp_path / "data", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "3 of 3" in result.output

    names = Egemaps(name="egemaps", width=88).feature_names()
    assert len(names) == 88 and LOUDNESS in names and F0 in names
    for sid, seconds in durations.items():
        path = tmp_path / "data" / "feature_segments" / "egemaps" / f"{sid}.csv"
        assert list(pd.read_csv(path, nrows=0).columns) == ["timestamp", "segment_id", *names]
        table = read_feature_csv(path, width=88)
        rows = math.ceil(seconds / 0.5)  # one row per 500 ms step that starts inside the recording
        assert np.array_equal(table.timestamps, np.arange(rows) * 500), sid
        assert np.isfinite(table.values).all(), sid
    parts = pd.read_csv(tmp_path / "data" / "metadata" / "partition.csv", dtype=str)
    assert sorted(parts["Id"]) == ["a", "b", "c"] and set(parts["Partition"]) == {"test"}


def test_a_row_is_the_window_centred_on_its_timestamp(egemaps):
    # Row t must describe [t - 3 s, t + 3 s): a loud stretch at 10-12 s shows in rows 7.5-14.5 s only.
    x = voiced(20, amp=0.02)
    x[10 * SR:12 * SR] *= 10
    table = egemaps.extract_signal(x, SR)
    loud = table.values[:, egemaps.feature_names().index(LOUDNESS)]
    stamps = table.timestamps
    inside = (stamps > 7000) & (stamps < 15000)
    baseline = loud[(stamps <= 7000) | (stamps >= 15000)]
    assert loud[inside].min() > 1.2 * baseline.max() and baseline.max() < 1.05 * baseline.min()


def test_louder_input_raises_loudness_and_higher_pitch_raises_f0(egemaps):
    quiet, loud = (egemaps.extract_signal(voiced(8, amp=a), SR) for a in (0.03, 0.3))
    assert mean_of(loud, LOUDNESS) > 2 * mean_of(quiet, LOUDNESS)
    assert mean_of(egemaps.extract_signal(np.zeros(8 * SR, np.float32), SR), LOUDNESS) < 0.5 * mean_of(quiet, LOUDNESS)

    low, high = (egemaps.extract_signal(voiced(8, f0=f), SR) for f in (110.0, 220.0))
    # an octave is 12 semitones
    assert mean_of(high, F0) - mean_of(low, F0) == pytest.approx(12, abs=1.5)
    median = "F0semitoneFrom27.5Hz_sma3nz_percentile50.0"
    assert mean_of(high, median) > mean_of(low, median)


def test_window_is_an_extraction_setting(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "s.wav", voiced(5), SR)
    out = tmp_path / "data"
    result = cli("extract", "--modality", "egemaps", "--audio", audio, "--out", out, "--jobs", "1",
                 "--set", "window_ms=2000", "--set", "hop_ms=250")
    assert result.exit_code == 0, result.output
    assert read_feature_csv(out / "feature_segments" / "egemaps" / "s.csv").timestamps[:3].tolist() == [0, 250, 500]

    bad = cli("extract", "--modality", "egemaps", "--audio", audio, "--out", out, "--set", "windw_ms=2000")
    assert bad.exit_code == 2 and "no extraction setting 'windw_ms'" in bad.output and "window_ms=6000" in bad.output
    bad = cli("extract", "--modality", "egemaps", "--audio", audio, "--out", out, "--set", "window_ms=ten")
    assert bad.exit_code == 2 and "window_ms" in bad.output


def test_unreadable_files_are_reported_by_name_and_skipped(tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "good.wav", voiced(3), SR)
    (audio / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    sf.write(audio / "empty.wav", np.zeros(0, np.float32), SR)
    (audio / "notes.txt").write_text("not audio")
    out = tmp_path / "data"
    result = cli("extract", "--modality", "egemaps", "--audio", audio, "--out", out, "--jobs", "1")
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "1 of 3 files extracted" in text and "corrupt.wav" in text and "empty.wav" in text
    assert "notes.txt" in text  # listed as ignored, not as a failure
    assert [p.name for p in (out / "feature_segments" / "egemaps").iterdir()] == ["good.csv"]
    assert pd.read_csv(out / "metadata" / "partition.csv", dtype=str)["Id"].tolist() == ["good"]

    again = cli("extract", "--modality", "egemaps", "--audio", audio, "--out", out)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_missing_extract_extra_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "opensmile", None)  # import opensmile -> ImportError
    egemaps_module._feature_names.cache_clear()
    try:
        audio = tmp_path / "audio"
        audio.mkdir()
        sf.write(audio / "s.wav", voiced(2), SR)
        result = cli("extract", "--modality", "egemaps", "--audio", audio, "--out", tmp_path / "d")
    finally:
        egemaps_module._feature_names.cache_clear()
    assert result.exit_code == 2
    assert "pip install 'musefuse[extract]'" in " ".join(result.output.split())


# -- labels, partition, and `run` / `predict` on the result -----------------------------------------
def _recordings(folder: Path, n: int, seconds: float = 10.0) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True)
    signals = {f"s{i}": speech_like(seconds, 10 + i) for i in range(n)}
    for sid, x in signals.items():
        sf.write(folder / f"{sid}.wav", x, SR)
    return signals


def _labels(folder: Path, signals: dict[str, np.ndarray]) -> None:
    for sid, x in signals.items():
        steps = math.ceil(len(x) / SR / 0.5)
        level = np.array([np.sqrt(np.mean(x[k * SR // 2:(k + 1) * SR // 2] ** 2)) for k in range(steps)])
        for target, value in (("arousal", np.tanh(20 * level) * 2 - 1), ("valence", np.linspace(-0.5, 0.5, steps))):
            (folder / target).mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"timestamp": np.arange(steps) * 500, "value": value, "segment_id": 1}).to_csv(
                folder / target / f"{sid}.csv", index=False)


def test_labels_and_partition_make_a_dataset_that_run_and_predict_accept(tmp_path):
    signals = _recordings(tmp_path / "audio", 6)
    _labels(tmp_path / "labels" / "label_segments", signals)
    partition = tmp_path / "partition.csv"
    partition.write_text("Id,Partition\ns0,train\ns1,train\ns2,train\ns3,devel\ns4,devel\ns5,test\n")
    data = tmp_path / "data"
    result = cli("extract", "--modality", "egemaps", "--audio", tmp_path / "audio", "--out", data,
                 "--labels", tmp_path / "labels", "--partition", partition, "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert (data / "metadata" / "partition.csv").read_text() == partition.read_text()
    egemaps = plugin_host.get_host().modality("egemaps")
    ds = load_dataset(data, [egemaps], ["arousal", "valence"], use_cache=False)
    assert not ds.report.warnings and not ds.report.dropped  # features cover every label step, no more

    run = tmp_path / "run"
    result = cli("run", "--modalities", "egemaps", "--data", data, "--out", run, *TINY)
    assert result.exit_code == 0, result.output

    # New recordings without labels: extract writes an all-test partition, ready for predict.
    new = _recordings(tmp_path / "new-audio", 2, seconds=6.0)
    fresh = tmp_path / "fresh"
    result = cli("extract", "--modality", "egemaps", "--audio", tmp_path / "new-audio", "--out", fresh, "--jobs", "1")
    assert result.exit_code == 0, result.output
    result = cli("predict", "--run", run, "--data", fresh, "--out", tmp_path / "preds", "--device", "cpu")
    assert result.exit_code == 0, result.output
    for sid in new:
        pred = pd.read_csv(tmp_path / "preds" / "arousal" / f"{sid}.csv")
        assert pred["timestamp"].tolist() == list(range(0, 6000, 500)) and pred["value"].notna().all()


def test_partition_and_labels_are_checked(tmp_path):
    signals = _recordings(tmp_path / "audio", 2, seconds=3.0)
    partition = tmp_path / "partition.csv"
    partition.write_text("Id,Partition\ns0,train\ns1,devel\nghost,test\n")
    result = cli("extract", "--modality", "egemaps", "--audio", tmp_path / "audio", "--out", tmp_path / "d",
                 "--partition", partition, "--jobs", "1")
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "'ghost' without a egemaps feature file" in text
    assert "no labels" in text  # train/devel subjects need labels for `run`

    _labels(tmp_path / "labels", signals)
    (tmp_path / "labels" / "arousal" / "s1.csv").write_text("timestamp,value,segment_id\n0,abc,1\n")
    result = cli("extract", "--modality", "egemaps", "--audio", tmp_path / "audio", "--out", tmp_path / "e",
                 "--labels", tmp_path / "labels")
    assert result.exit_code == 2 and "s1.csv" in result.output  # refused before extracting anything
    assert not (tmp_path / "e" / "feature_segments").exists()


# -- the extension point: a third-party modality that extracts ---------------------------------------
class Hrv(Modality):
    """Heart-rate variability from R-peak times (one per line, seconds), over 10 s centred windows."""

    media: str = "ECG R-peak times"
    media_suffixes: list[str] = [".txt"]
    window_ms: int = 10000

    def feature_names(self) -> list[str]:
        return ["hr_bpm", "sdnn_ms", "rmssd_ms", "beats"]

    def extract(self, media: Path) -> FeatureTable:
        peaks = np.loadtxt(media, ndmin=1) * 1000  # ms
        stamps = np.arange(0, peaks[-1], 500).astype(np.int64)
        rows = []
        for t in stamps:
            rr = np.diff(peaks[(peaks >= t - self.window_ms / 2) & (peaks < t + self.window_ms / 2)])
            rows.append([60000 / rr.mean(), rr.std(), np.sqrt(np.mean(np.diff(rr) ** 2)), len(rr) + 1]
                        if len(rr) > 2 else [np.nan] * 4)
        return FeatureTable(stamps, np.ones(len(stamps), np.int64), np.asarray(rows, np.float32))


class HrvPlugin:
    @hookimpl
    def register_modalities(self, register):
        register(Hrv(name="hrv", width=4, description="Heart-rate variability"))


@pytest.fixture
def hrv_installed(monkeypatch):
    """The plugin as if pip-installed: an entry point of distribution 'musefuse-hrv-extract'."""
    ep = SimpleNamespace(name="hrv", value="test", dist=SimpleNamespace(name="musefuse-hrv-extract", version="1.0"),
                         load=HrvPlugin)
    monkeypatch.setattr(plugin_host, "entry_points", lambda group: [ep])
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "musefuse-hrv-extract")
    plugin_host._HOST = None


def test_a_third_party_modality_extracts_through_the_same_command(tmp_path, hrv_installed):
    listing = cli("extract")
    assert listing.exit_code == 0 and "hrv" in listing.output and "egemaps" in listing.output

    raw = tmp_path / "ecg"
    raw.mkdir()
    rng = np.random.default_rng(0)
    np.savetxt(raw / "p1.txt", np.cumsum(0.8 + 0.05 * rng.standard_normal(40)))  # ~75 bpm, 32 s
    result = cli("extract", "--modality", "hrv", "--raw", raw, "--out", tmp_path / "data", "--jobs", "1")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "data" / "feature_segments" / "hrv" / "p1.csv")
    assert list(frame.columns) == ["timestamp", "segment_id", "hr_bpm", "sdnn_ms", "rmssd_ms", "beats"]
    assert frame["hr_bpm"].dropna().between(65, 85).all() and frame["timestamp"].iloc[1] == 500


def test_modalities_that_cannot_extract_are_refused(tmp_path):
    result = cli("extract", "--modality", "fau", "--raw", tmp_path, "--out", tmp_path / "d")
    assert result.exit_code == 2 and "cannot extract" in result.output and "egemaps" in result.output
    result = cli("extract", "--modality", "egemap", "--raw", tmp_path, "--out", tmp_path / "d")
    assert result.exit_code == 2 and "egemaps" in result.output


# -- a killed extract leaves no process behind ------------------------------------------------------


def _marked(marker: str) -> list[int]:
    """Live processes (not zombies) whose environment carries ``marker`` (every process an extract started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() not in (entry / "environ").read_bytes():
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow  # starts a pool of opensmile workers (~10 s on a busy 2-core machine)
@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("after", [0.0, 1.5], ids=["while-workers-start", "while-workers-extract"])
def test_extract_killed_by_sigkill_leaves_no_process(tmp_path, after):
    import os
    import signal
    import subprocess
    import sys
    import time

    _recordings(tmp_path / "audio", 6, seconds=60.0)
    marker = f"MUSEFUSE_EXTRACT_TEST={os.getpid()}-{after}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    cmd = [sys.executable, "-m", "musefuse", "extract", "--modality", "egemaps", "--audio", str(tmp_path / "audio"),
           "--out", str(tmp_path / "data"), "--jobs", "2"]
    extract = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(_marked(marker)) < 3:  # extract, and its fork server or first worker: the pool is starting
            assert extract.poll() is None, "extract ended before its pool started"
            assert time.monotonic() < deadline, "extract never started its pool"
            time.sleep(0.05)
        time.sleep(after)
        started = _marked(marker)
        extract.send_signal(signal.SIGKILL)
        extract.wait()
        time.sleep(5)
        left = _marked(marker)
        assert not left, f"{len(left)} of {len(started)} processes outlived extract"
    finally:
        if extract.poll() is None:
            extract.kill()
            extract.wait()
        for pid in _marked(marker):  # what a failing run left behind
            os.kill(pid, signal.SIGKILL)
