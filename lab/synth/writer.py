"""Writing a synthetic dataset: the MuSe folder layout, the ground truth in truth/, and a safe replace."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from musefuse.core import fileio
from musefuse.core.data.dataset import STEP_MS
from musefuse.core.errors import DataError
from musefuse.lab.synth.corruption import _channel_plans
from musefuse.lab.synth.csvbytes import _char_matrix, _csv_bytes
from musefuse.lab.synth.features import _features
from musefuse.lab.synth.latent import assign_partitions, draw_subject
from musefuse.lab.synth.params import GENERATOR, GENERATOR_VERSION, WIDTHS, SynthParams, _check_modalities
from musefuse.lab.synth.variants import leaked_levels, params_for, re_mislead_std


def _is_synthetic(folder: Path) -> bool:
    """Whether ``folder`` holds a complete musefuse synthetic dataset (its truth/manifest.json says so)."""
    return fileio.read_json_object(folder / "truth" / "manifest.json").get("generator") == GENERATOR


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
