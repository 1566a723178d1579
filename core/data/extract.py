"""Raw media → a MuSe-layout folder, with any modality that implements ``Modality.extract``.

`extract_folder` runs the modality's ``extract`` on every media file of a folder, in worker
processes, and writes ``feature_segments/<modality>/<Id>.csv`` (Id = the file's stem). A file that
cannot be used is reported by name and skipped. Then it completes the dataset: a partition file
(copied from ``partition``, or kept when one already lists every Id, or else every Id in
``test``) and, from ``labels``, the label files of the extracted Ids — checked, so that
``musefuse run`` / ``predict`` can read the folder as it is.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from musefuse.core import fileio
from musefuse.core.data.loader import FEATURES_DIR, LABELS_DIR
from musefuse.core.data.museio import (
    PARTITION_FILE,
    read_label_csv,
    read_partitions,
    write_feature_csv,
)
from musefuse.core.errors import ConfigError, DataError
from musefuse.core.interfaces import FeatureTable, Modality
from musefuse.core.procs import pool_worker_init

# progress(file name, error or None, rows written) once per file, in the order files finish
Progress = Callable[[str, "str | None", int], None]


@dataclass
class ExtractSummary:
    """What `extract_folder` did. ``problems`` are reasons the folder is not yet a complete dataset."""

    out: Path
    modality: str
    written: dict[str, int] = field(default_factory=dict)  # Id -> rows
    failed: dict[str, str] = field(default_factory=dict)  # file name -> reason
    ignored: list[str] = field(default_factory=list)  # files with a suffix the modality does not read
    partition: str = ""  # how the partition file came about, in words
    labels: dict[str, int] = field(default_factory=dict)  # target -> label files copied
    problems: list[str] = field(default_factory=list)


def extract_options(modality: Modality, settings: dict[str, str]) -> Modality:
    """A copy of ``modality`` with its extraction settings (its own pydantic fields) changed, validated."""
    own = [name for name in type(modality).model_fields if name not in Modality.model_fields]
    unknown = sorted(set(settings) - set(own))
    if unknown:
        raise ConfigError(
            f"Modality '{modality.name}' has no extraction setting {', '.join(map(repr, unknown))}. "
            f"Known: {', '.join(f'{k}={getattr(modality, k)}' for k in own) or '(none)'}."
        )
    try:
        return type(modality).model_validate({**modality.model_dump(), **settings})
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"Invalid extraction setting for '{modality.name}': {'; '.join(lines)}.") from None


def find_media(raw: Path, modality: Modality) -> tuple[list[Path], list[str]]:
    """(the files ``modality`` reads in ``raw``, sorted; names of the other files). Not recursive."""
    raw = Path(raw)
    if not raw.is_dir():
        raise ConfigError(f"{raw}: not a folder. Point --raw/--audio at the folder holding the recordings.")
    files = sorted(p for p in raw.iterdir() if p.is_file() and not p.name.startswith("."))
    wanted = {s.lower() for s in modality.media_suffixes}
    used = [p for p in files if not wanted or p.suffix.lower() in wanted]
    ignored = [p.name for p in files if p not in used]
    if not used:
        kinds = ", ".join(modality.media_suffixes) or "any"
        raise ConfigError(f"{raw}: no {modality.media or 'media'} files ({kinds}) for modality '{modality.name}'.")
    seen: dict[str, Path] = {}
    for p in used:
        if p.stem in seen:
            raise ConfigError(f"{raw}: '{seen[p.stem].name}' and '{p.name}' would both become subject Id "
                              f"'{p.stem}'. Rename or remove one.")
        seen[p.stem] = p
    return used, ignored


def extract_folder(
    modality: Modality,
    raw: Path,
    out: Path,
    *,
    labels: Path | None = None,
    partition: Path | None = None,
    jobs: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ExtractSummary:
    """Extract every file of ``raw`` into ``out`` (a MuSe-layout folder); see the module docstring.

    Inputs that would make the run pointless (an unreadable partition or label file, an existing
    feature folder without ``overwrite``) are refused before any file is extracted.
    """
    if not modality.can_extract:
        raise ConfigError(f"Modality '{modality.name}' cannot extract features from raw media.")
    out = Path(out)
    files, ignored = find_media(raw, modality)
    ids = [p.stem for p in files]
    names = modality.feature_names()
    if len(names) != modality.width:
        raise ConfigError(f"Modality '{modality.name}' names {len(names)} features but declares width "
                          f"{modality.width}.")
    dest = out / FEATURES_DIR / modality.name
    if not overwrite and dest.is_dir() and any(dest.glob("*.csv")):
        raise ConfigError(f"{dest} already holds feature files. Pass --overwrite to replace them.")
    parts = _plan_partition(out, ids, partition, overwrite)
    label_files = _check_labels(labels) if labels is not None else {}

    summary = ExtractSummary(out=out, modality=modality.name, ignored=ignored)
    dest.mkdir(parents=True, exist_ok=True)
    by_id = {p.stem: p for p in files}
    for sid, error, rows in _run(modality, files, dest, names, jobs):
        if error is None:
            summary.written[sid] = rows
        else:
            summary.failed[by_id[sid].name] = error
        if progress is not None:
            progress(by_id[sid].name, error, rows)

    _write_partition(out, parts, partition, summary)
    if labels is not None:
        _copy_labels(out, label_files, summary)
    _cross_check(out, modality, summary)
    return summary


# -- extraction -----------------------------------------------------------------------------------
def _run(modality: Modality, files: list[Path], dest: Path, names: list[str], jobs: int | None):
    """Yield (Id, error or None, rows) per file as they finish; ``jobs=1`` stays in this process."""
    jobs = max(1, min(jobs or _cores(), len(files)))
    if jobs == 1:
        for path in files:
            yield _extract_one(modality, path, dest, names)
        return
    # Not fork: this process may run threads (the progress bar, torch), which fork does not copy
    # safely. Workers import the modality's class by name, so it must live in an importable module.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":  # a worker forks with core/procs.py loaded: armed at once
        context.set_forkserver_preload(["musefuse.core.procs"])
    # Each worker arms its death with this process first thing (core/procs.py): a killed extract leaves none.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=pool_worker_init,
                             initargs=(os.getpid(),)) as pool:
        futures: dict[Future, Path] = {pool.submit(_extract_one, modality, p, dest, names): p for p in files}
        try:
            for future in as_completed(futures):
                path = futures[future]
                try:
                    yield future.result()
                except BrokenProcessPool:
                    yield path.stem, "a worker process died (crash or out of memory) while this file was pending", 0
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _extract_one(modality: Modality, path: Path, dest: Path, names: list[str]) -> tuple[str, str | None, int]:
    """Runs in a worker: extract one file, check the table, write it atomically."""
    sid = path.stem
    try:
        table = modality.extract(path)
        _check_table(modality, table)
        target = dest / f"{sid}.csv"
        with fileio.atomic_open(target) as fh:
            write_feature_csv(fh, table, names)
    except Exception as exc:  # any failure is this file's, reported by name; the others go on
        text = str(exc).strip().splitlines()
        return sid, f"{type(exc).__name__}: {text[0] if text else '(no message)'}", 0
    return sid, None, len(table.timestamps)


def _check_table(modality: Modality, table: FeatureTable) -> None:
    if not isinstance(table, FeatureTable):
        raise TypeError(f"{type(modality).__name__}.extract returned {type(table).__name__}, not a FeatureTable")
    ts, values = np.asarray(table.timestamps), np.asarray(table.values)
    if values.ndim != 2 or values.shape != (len(ts), modality.width) or len(table.segment_ids) != len(ts):
        raise ValueError(f"extract returned values of shape {values.shape} for {len(ts)} timestamps; "
                         f"expected ({len(ts)}, {modality.width})")
    if len(ts) == 0:
        raise ValueError("extract returned no rows (is the recording shorter than one step?)")
    if np.any(np.diff(ts) <= 0):
        raise ValueError("extract returned timestamps that are not strictly increasing")
    inf = np.isinf(values.astype(np.float32)).sum()  # float32: what the CSV reader will see
    if inf:
        raise ValueError(f"extract returned {inf} infinite value(s); use NaN for a missing value")


# -- partition and labels ---------------------------------------------------------------------------
def _plan_partition(out: Path, ids: list[str], partition: Path | None, overwrite: bool) -> dict[str, str] | None:
    """The partition to write after extraction (None: copy ``partition`` or keep the existing one)."""
    if partition is not None:
        if not Path(partition).is_file():
            raise ConfigError(f"{partition}: partition file not found.")
        with tempfile.TemporaryDirectory() as tmp:  # read_partitions reads <root>/metadata/partition.csv
            (Path(tmp) / PARTITION_FILE).parent.mkdir(parents=True)
            shutil.copyfile(partition, Path(tmp) / PARTITION_FILE)
            try:
                read_partitions(Path(tmp))
            except DataError as exc:
                raise DataError(str(exc).replace(str(Path(tmp) / PARTITION_FILE), str(partition))) from None
        return None
    existing = out / PARTITION_FILE
    if existing.is_file() and not overwrite:
        listed = read_partitions(out)
        missing = [i for i in ids if i not in listed]
        if missing:
            raise ConfigError(f"{existing} exists and does not list {_few(missing)}. Pass --partition FILE, or "
                              "--overwrite to replace it with one that puts every extracted Id in test.")
        return None
    return {}  # filled with the extracted Ids, all in test


def _write_partition(out: Path, plan: dict[str, str] | None, partition: Path | None, s: ExtractSummary) -> None:
    target = out / PARTITION_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    if partition is not None:
        fileio.copy_file(partition, target)
        s.partition = f"copied from {partition}"
    elif plan is None:
        s.partition = f"kept the existing {PARTITION_FILE}"
    else:
        text = "Id,Partition\n" + "".join(f"{sid},test\n" for sid in s.written)
        fileio.write_text(target, text)
        s.partition = f"wrote {PARTITION_FILE}: all {len(s.written)} Ids in test (ready for `musefuse predict`)"


def _check_labels(labels: Path) -> dict[str, dict[str, Path]]:
    """{target: {Id: file}} of a label folder (``label_segments/`` or a folder holding it), each file read."""
    root = Path(labels)
    if (root / LABELS_DIR).is_dir():
        root = root / LABELS_DIR
    if not root.is_dir():
        raise ConfigError(f"{labels}: not a folder. --labels takes label_segments/ (or the folder holding it).")
    found = {t.name: {p.stem: p for p in sorted(t.glob("*.csv"))} for t in sorted(root.iterdir()) if t.is_dir()}
    found = {t: files for t, files in found.items() if files}
    if not found:
        raise ConfigError(f"{root}: no label files. Expected <target>/<Id>.csv, e.g. arousal/1.csv.")
    for files in found.values():
        for path in files.values():
            read_label_csv(path)  # raises DataError naming the file, row and column
    return found


def _copy_labels(out: Path, found: dict[str, dict[str, Path]], s: ExtractSummary) -> None:
    for target, files in found.items():
        s.labels[target] = 0
        for sid, path in files.items():
            if sid not in s.written:
                continue
            ts = read_label_csv(path)[0]
            feats = _feature_stamps(out / FEATURES_DIR / s.modality / f"{sid}.csv")
            if len(ts) and not np.intersect1d(ts, feats).size:
                s.problems.append(f"{path}: no timestamp in common with the extracted features "
                                  f"({ts[0]}…{ts[-1]} ms vs {feats[0]}…{feats[-1]} ms); not copied.")
                continue
            fileio.copy_file(path, out / LABELS_DIR / target / f"{sid}.csv")
            s.labels[target] += 1


def _cross_check(out: Path, modality: Modality, s: ExtractSummary) -> None:
    """What `musefuse run` would refuse about the folder as written."""
    parts = read_partitions(out)  # validated before extraction, or written here
    have = {p.stem for p in (out / FEATURES_DIR / modality.name).glob("*.csv")}
    missing = [sid for sid in parts if sid not in have]
    if missing:
        s.problems.append(f"{PARTITION_FILE} lists {_few(missing)} without a {modality.name} feature file.")
    unlisted = [sid for sid in s.written if sid not in parts]
    if unlisted:
        s.problems.append(f"{_few(unlisted)} extracted but not in {PARTITION_FILE}: runs will ignore them.")
    labels_dir = out / LABELS_DIR
    targets = [t for t in sorted(labels_dir.iterdir()) if t.is_dir()] if labels_dir.is_dir() else []
    learn = [sid for sid, part in parts.items() if part in ("train", "devel")]
    for t in targets:
        unlabelled = [sid for sid in learn if not (t / f"{sid}.csv").is_file()]
        if unlabelled:
            s.problems.append(f"{t.name}: train/devel subjects {_few(unlabelled)} have no label file.")
    if not targets and learn:
        s.problems.append("the partition has train/devel subjects but there are no labels: pass --labels DIR.")


def _feature_stamps(path: Path) -> np.ndarray:
    return pd.read_csv(path, usecols=["timestamp"])["timestamp"].to_numpy(np.int64)


def _few(ids: list[str], n: int = 5) -> str:
    shown = ", ".join(f"'{i}'" for i in ids[:n])
    return shown + (f" and {len(ids) - n} more" if len(ids) > n else "")
