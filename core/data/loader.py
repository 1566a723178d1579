"""Read a MuSe-layout folder into a :class:`~musefuse.core.data.dataset.Dataset` (see docs/data.md).

Features come back raw (float32, missing frames as NaN rows); :func:`standardise` z-scores them with
train statistics. Each CSV goes through :mod:`musefuse.core.data.cache`, so it is parsed once.
"""

from __future__ import annotations

import filecmp
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from musefuse.core import fileio
from musefuse.core.data.cache import Cache, file_key
from musefuse.core.data.dataset import STEP_MS, Dataset, LoadReport, Standardiser, Subject
from musefuse.core.data.museio import PARTITION_FILE, READER_VERSION, not_a_file, read_partitions
from musefuse.core.errors import ConfigError, DataError
from musefuse.core.interfaces import FeatureTable, Modality

FEATURES_DIR = "feature_segments"
LABELS_DIR = "label_segments"
REQUIRED_PARTITIONS = ("train", "devel")  # must hold at least one subject


def load_dataset(
    root: Path,
    modalities: Sequence[Modality],
    targets: list[str] | None = None,
    *,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    require_labels_for: Iterable[str] = ("train", "devel"),
    for_training: bool = True,
) -> Dataset:
    """Read every subject of ``metadata/partition.csv`` with the given modalities and targets.

    ``targets``: folders under ``label_segments/`` (None: all of them). ``cache_dir``: where parsed
    arrays are kept (None: ``data/`` in ``$MUSEFUSE_CACHE_DIR`` or the user cache folder; never the data folder).
    Partitions in ``require_labels_for`` must have a label file with values for every target.
    ``for_training=False`` (new data for ``predict``): no partition needs subjects, any partition
    name is accepted, and without a partition file every subject with a feature file is read
    (partition ``test``).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found.")
    require = set(require_labels_for)
    cache = Cache(resolve_cache_dir(root, cache_dir) if use_cache else None)
    folders = {m.name: resolve_folder(root, m) for m in modalities}
    read: list[Path] = []
    if for_training or (root / PARTITION_FILE).is_file():
        partitions = read_partitions(root, strict=for_training)
        read.append(root / PARTITION_FILE)
    else:
        partitions = dict.fromkeys(_subjects_on_disk(root, folders), "test")
        if not partitions:
            raise DataError(f"{root / FEATURES_DIR}: no feature files ({', '.join(folders.values())}), "
                            f"and no {PARTITION_FILE} listing subjects.")
    for part in REQUIRED_PARTITIONS if for_training else ():
        if part not in partitions.values():
            raise DataError(f"{root / PARTITION_FILE}: the '{part}' partition is empty; it needs at least one subject.")
    targets = resolve_targets(root, targets)

    report = LoadReport()
    out_of_range: dict[Path, tuple[int, float, float]] = {}  # label file -> (cells, min, max)
    missing_steps: dict[str, int] = {}
    dropped_in: dict[str, list[Path]] = {}  # reason -> files rows were dropped from (for the warning)
    empty: dict[tuple[str, str], list[Path]] = {}  # (modality, partition) -> files without a feature value
    widths: dict[str, tuple[Path, int]] = {}  # modality -> first file read and its width
    subjects: list[Subject] = []
    for sid, part in partitions.items():
        tables: dict[str, tuple[Path, FeatureTable]] = {}
        for m in modalities:
            path = root / FEATURES_DIR / folders[m.name] / f"{sid}.csv"
            if not path.is_file():
                raise DataError(
                    f"{path}: {not_a_file(path, 'feature file')}. Subject '{sid}' ({part}) is listed in "
                    f"{PARTITION_FILE} but has no {folders[m.name]} features."
                )
            table = cache.features(path, m)
            _check_width(m, path, table.values.shape[1], widths)
            tables[m.name] = (path, table)
            read.append(path)
        labels: dict[str, tuple[Path, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        for t in targets:
            path = root / LABELS_DIR / t / f"{sid}.csv"
            if path.is_file():
                labels[t] = (path, cache.labels(path))
                read.append(path)
                if part in require and not np.isfinite(labels[t][1][1]).any():
                    raise DataError(f"{path}: holds no label values, but '{part}' subjects must be labelled.")
                _check_range(path, labels[t][1][1], out_of_range)
            elif part in require:
                raise DataError(
                    f"{path}: label file not found. Subject '{sid}' is in the '{part}' partition, "
                    f"which must be labelled for target '{t}'."
                )
        subjects.append(_align(sid, part, tables, labels, targets, report, missing_steps, dropped_in))
        for name, (path, _) in tables.items():
            if not has_values(subjects[-1].features[name]):
                empty.setdefault((name, part), []).append(path)

    for (name, part), paths in empty.items():
        everyone = [s.id for s in subjects if s.partition == part]
        if for_training and part in require and len(paths) == len(everyone):  # train, devel: fitted on or
            # early-stopped on; a test partition without a modality is only warned about, per subject
            raise DataError(f"{paths[0].parent}: modality '{name}' has no feature values for any {part} subject "
                            f"({', '.join(everyone[:8])}{', …' if len(everyone) > 8 else ''}): its models would "
                            "learn from (or be judged on) imputed constants only. Fix the files, or leave the "
                            "modality out of --modalities.")
        for path in paths:
            report.warnings.append(": ".join(empty_features(path, path.stem, part)))
    for name, (path, width) in widths.items():
        declared = next(m.width for m in modalities if m.name == name)
        if width != declared:
            report.warnings.append(": ".join(width_differs(path.parent, name, declared, folders[name], width)))
    for path, (n, lo, hi) in list(out_of_range.items())[:5]:
        report.warnings.append(": ".join(out_of_range_labels(path, n, lo, hi)))
    if len(out_of_range) > 5:
        report.warnings.append(f"{len(out_of_range) - 5} more label file(s) hold values outside [-1, 1].")
    for reason, n in report.dropped.items():
        files = dropped_in[reason]
        where = files[0] if len(files) == 1 else f"{len(files)} files, e.g. {files[0]}"
        report.warnings.append(f"Dropped {n} row(s): {reason} ({where}).")
    report.warnings += _coverage_warnings(root, subjects, targets)
    message = step_warning(root, dominant_step([np.diff(s.timestamps) for s in subjects]))
    if message:
        report.warnings.append(": ".join(message))
    for name, n in missing_steps.items():
        report.warnings.append(f"{name}: {n} timeline step(s) had no feature row and became NaN rows.")
    for m in modalities:
        report.warnings += [": ".join(w) for w in alias_folder_differs(root, m, folders[m.name])]
    return Dataset(
        root=root,
        modalities=[m.name for m in modalities],
        targets=list(targets),
        subjects=subjects,
        fingerprint=fingerprint(root, read),
        folders=folders,
        report=report,
        part_fingerprints=_part_fingerprints(root, read, folders),
    )


def _part_fingerprints(root: Path, read: list[Path], folders: dict[str, str]) -> dict[str, str]:
    """:func:`fingerprint` of the label side (partition file, labels) and of each modality's files."""
    parts: dict[str, list[Path]] = {"labels": []}
    by_folder = {f"{FEATURES_DIR}/{folder}": name for name, folder in folders.items()}
    for path in read:
        rel = Path(path).relative_to(root).as_posix()
        parts.setdefault(by_folder.get(rel.rsplit("/", 1)[0], "labels"), []).append(path)
    return {part: fingerprint(root, files) for part, files in parts.items()}


def resolve_folder(root: Path, modality: Modality) -> str:
    """The first of ``modality.folders()`` present under ``feature_segments/``."""
    base = Path(root) / FEATURES_DIR
    for name in modality.folders():
        if (base / name).is_dir():
            return name
    there = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    raise DataError(
        f"{base}: no folder for modality '{modality.name}' (looked for {', '.join(modality.folders())}). "
        f"Folders there: {', '.join(there) or '(none)'}."
    )


def alias_folder_differs(root: Path, modality: Modality, folder: str) -> list[tuple[str, str]]:
    """(folder, message) for each other folder of ``modality`` (its name or an alias) next to the one read
    (``folder``, the first present) whose files differ from it: only ``folder`` is read."""
    base = Path(root) / FEATURES_DIR
    out = []
    for name in modality.folders():
        other = base / name
        if name == folder or not other.is_dir():
            continue
        difference = _differs(base / folder, other)
        if difference:
            out.append((str(other), f"modality '{modality.name}' reads folder '{folder}' (the first present of "
                        f"{', '.join(modality.folders())}); '{name}', another name of it, is ignored, and its files "
                        f"differ ({difference}). Remove or rename the folder that is not meant."))
    return out


def _differs(read: Path, other: Path) -> str | None:
    """How two feature folders differ (None: the same CSV files, byte for byte)."""
    if read.resolve() == other.resolve():
        return None
    a, b = ({p.name: p for p in f.glob("*.csv")} for f in (read, other))
    if a.keys() != b.keys():
        return f"{len(a)} vs {len(b)} CSV files, {len(a.keys() ^ b.keys())} not in both"
    changed = [n for n in sorted(a) if not filecmp.cmp(a[n], b[n], shallow=True)]  # same stat: not read
    return f"{len(changed)} file(s) differ, e.g. {changed[0]}" if changed else None


def resolve_targets(root: Path, targets: list[str] | None) -> list[str]:
    """Targets to read: the given ones (each must have a folder), or every folder under label_segments/."""
    base = Path(root) / LABELS_DIR
    there = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    if targets is None:
        return there
    for t in targets:
        if t not in there:
            raise DataError(
                f"{base / t}: no label folder for target '{t}'. Folders there: {', '.join(there) or '(none)'}."
            )
    return list(targets)


def fingerprint(root: Path, files: Iterable[Path]) -> str:
    """sha256 over READER_VERSION and, per file in path order, (path relative to root, size, mtime_ns).

    It changes when any file read is edited, replaced or touched, or the reader changes; it does not
    read file contents, so it is free to compute (a copy with new mtimes gets a new fingerprint).
    """
    root = Path(root)
    h = hashlib.sha256(f"musefuse-reader {READER_VERSION}\n".encode())
    for path in sorted({Path(p).relative_to(root).as_posix() for p in files}):
        size, mtime_ns = file_key(root / path)
        h.update(f"{path}\0{size}\0{mtime_ns}\n".encode())
    return h.hexdigest()


def standardise(
    dataset: Dataset, modalities: Sequence[Modality], stats: dict[str, Standardiser] | None = None
) -> dict[str, Standardiser]:
    """Z-score every subject's features in place; returns the statistics used.

    Without ``stats``, they are fitted on the train partition (identity for modalities declared
    ``standardise=False``). NaN rows stay NaN.
    """
    if stats is None:
        train = dataset.partition("train")
        stats = {
            m.name: Standardiser.fit([s.features[m.name] for s in train]) if m.standardise
            else Standardiser.identity(dataset.subjects[0].features[m.name].shape[1])  # the files' width
            for m in modalities
        }
    for m in modalities:
        st = stats[m.name]
        for s in dataset.subjects:
            x = s.features[m.name]
            if not x.flags.writeable:
                x = x.copy()
            np.subtract(x, st.mean, out=x)  # in place: no second copy of a 4096-wide modality
            np.divide(x, st.std, out=x)
            s.features[m.name] = x
    return stats


# -- warnings that validate gives too (one wording, so a report lists each once) -------------------
# Each returns (where, message); the loader joins them as 'where: message', validate files them under `where`.


def empty_features(path: Path, sid: str, part: str) -> tuple[str, str]:
    return (str(path), f"no feature values (header only, or every row NaN): every step of subject '{sid}' "
            f"({part}) is a missing frame of this modality.")


def width_differs(folder: Path, name: str, declared: int, folder_name: str, width: int) -> tuple[str, str]:
    return (str(folder), f"modality '{name}' declares {declared} feature columns, but every file in folder "
            f"'{folder_name}' has {width}; using {width} (extractors differ, e.g. DeepSpectrum's CNN).")


def out_of_range_labels(path: Path, n: int, lo: float, hi: float) -> tuple[str, str]:
    return (str(path), f"{n} label value(s) outside [-1, 1] (min {lo:g}, max {hi:g}); MuSe labels are in [-1, 1].")


def has_values(x: np.ndarray) -> bool:
    """Whether a (T, D) feature array holds any finite value (the first row usually answers)."""
    return bool(len(x)) and bool(np.isfinite(x[0]).any() or np.isfinite(x).any())


def dominant_step(diffs: Iterable[np.ndarray]) -> int | None:
    """The most common difference between consecutive timestamps (None without any)."""
    steps = np.concatenate([np.asarray(d, np.int64) for d in diffs] or [np.zeros(0, np.int64)])
    if not len(steps):
        return None
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def step_warning(root: Path, step: int | None) -> tuple[str, str] | None:
    """Timestamps not 500 ms apart; a step under 10 'ms' means they are in seconds or frame numbers."""
    if step is None or step == STEP_MS:
        return None
    unit = (" They look like seconds (or frame numbers); timestamps must be milliseconds, so predictions would "
            "be stamped in the wrong unit." if step < 10 else "")
    return (str(Path(root) / FEATURES_DIR), f"timestamps are mostly {step} ms apart, not the {STEP_MS} ms "
            f"of MuSe-Stress.{unit}")


def _coverage_warnings(root: Path, subjects: list[Subject], targets: list[str]) -> list[str]:
    """Scores that silently cover fewer subjects: a partition where only some subjects have labels of a
    target (its scores, and 'combined', then mix subject sets), and subjects with one labelled step
    (no per-subject CCC: it counts as 0)."""
    out = []
    for part in dict.fromkeys(s.partition for s in subjects):
        members = [s for s in subjects if s.partition == part]
        for t in targets:
            unlabelled = [s.id for s in members if not np.isfinite(s.labels[t]).any()]
            if 0 < len(unlabelled) < len(members):
                out.append(f"{Path(root) / LABELS_DIR / t}: {len(unlabelled)} of {len(members)} {part} subject(s) "
                           f"have no label values ({', '.join(unlabelled[:8])}{', …' if len(unlabelled) > 8 else ''}"
                           f"); {part} scores of '{t}' cover the other {len(members) - len(unlabelled)} only, and "
                           "'combined' mixes the targets' subject sets.")
            single = [s.id for s in members if int(np.isfinite(s.labels[t]).sum()) == 1]
            if single:
                out.append(f"{Path(root) / LABELS_DIR / t}: {part} subject(s) {', '.join(single[:8])} have a single "
                           "labelled step: a CCC needs two, so their per-subject CCC counts as 0.")
    return out


# -- internals -------------------------------------------------------------------------------------


def resolve_cache_dir(root: Path, cache_dir: Path | None) -> Path:
    """The cache folder to use for ``root``: ``cache_dir`` or the default; never inside ``root``."""
    directory = Path(cache_dir) if cache_dir is not None else fileio.cache_folder("data")
    if directory.resolve().is_relative_to(root.resolve()):
        raise ConfigError(
            f"Cache folder {directory} is inside the data folder {root}; choose another one "
            "(cache_dir / $MUSEFUSE_CACHE_DIR) so the data folder stays read-only."
        )
    return directory


def _check_width(m: Modality, path: Path, width: int, widths: dict[str, tuple[Path, int]]) -> None:
    """Every file of a modality has the same width. A width other than the declared one, shared by
    every file, is only a warning (added at the end of loading): extractors differ."""
    first = widths.setdefault(m.name, (path, width))
    if first[1] != width:
        raise DataError(
            f"{path}: has {width} feature columns but {first[0]} has {first[1]}; "
            f"every subject of modality '{m.name}' must have the same width"
            + (f" (declared: {m.width})." if m.width in (width, first[1]) else ".")
        )


def _check_range(path: Path, values: np.ndarray, out_of_range: dict[Path, tuple[int, float, float]]) -> None:
    with np.errstate(invalid="ignore"):
        outside = np.abs(values) > 1
    if outside.any():
        out_of_range[path] = (int(outside.sum()), float(np.nanmin(values)), float(np.nanmax(values)))


def _subjects_on_disk(root: Path, folders: dict[str, str]) -> list[str]:
    """Without a partition file: every subject with a feature file of any of the modalities, sorted."""
    ids: set[str] = set()
    for folder in folders.values():
        ids |= {p.stem for p in (Path(root) / FEATURES_DIR / folder).glob("*.csv")}
    return sorted(ids, key=lambda i: (len(i), i) if i.isdigit() else (float("inf"), i))


def _align(
    sid: str,
    part: str,
    tables: dict[str, tuple[Path, FeatureTable]],
    labels: dict[str, tuple[Path, tuple[np.ndarray, np.ndarray, np.ndarray]]],
    targets: list[str],
    report: LoadReport,
    missing_steps: dict[str, int],
    dropped_in: dict[str, list[Path]],
) -> Subject:
    """Put every array of one subject on its reference timeline (see docs/data.md)."""
    with_rows = [t for t in targets if t in labels and len(labels[t][1][0])]
    if with_rows:  # the label timeline: timestamps every target shares
        timeline = labels[with_rows[0]][1][0]
        for t in with_rows[1:]:
            timeline = np.intersect1d(timeline, labels[t][1][0], assume_unique=True)
        first_ts, _, first_seg = labels[with_rows[0]][1]
        segment_ids = first_seg[np.searchsorted(first_ts, timeline)]
    elif tables:  # no labels: every step any modality has, whatever order the modalities are given in
        timeline, segment_ids = _feature_timeline([tables[name][1] for name in sorted(tables)])
    else:
        timeline, segment_ids = np.zeros(0, np.int64), np.zeros(0, np.int64)

    y: dict[str, np.ndarray] = {}
    for t in targets:
        if t not in labels or not len(labels[t][1][0]):
            y[t] = np.full(len(timeline), np.nan, np.float32)  # hidden or absent labels
            continue
        ts, values, _ = labels[t][1]
        keep = np.isin(ts, timeline, assume_unique=True)
        _count(report, dropped_in, labels[t][0], f"{t}: label rows not shared by every target", int((~keep).sum()))
        y[t] = np.ascontiguousarray(values[keep], dtype=np.float32)

    features: dict[str, np.ndarray] = {}
    for name, (path, table) in tables.items():
        ts, x = table.timestamps, table.values
        if np.array_equal(ts, timeline):  # the common case: no copy
            features[name] = x
            continue
        pos = np.searchsorted(timeline, ts)
        inside = pos < len(timeline)
        inside[inside] = timeline[pos[inside]] == ts[inside]
        if with_rows and len(timeline) and len(ts) and not inside.any():  # (no rows at all: missing frames)
            files = ", ".join(str(labels[t][0]) for t in with_rows)
            raise DataError(
                f"{path}: shares no timestamp with the label file(s) {files} "
                f"(features {_span(ts)}, labels {_span(timeline)})."
            )
        _count(report, dropped_in, path, f"{name}: feature rows outside the label timeline", int((~inside).sum()))
        out = np.full((len(timeline), x.shape[1]), np.nan, np.float32)
        out[pos[inside]] = x[inside]
        missing = len(timeline) - int(inside.sum())
        if missing:
            missing_steps[name] = missing_steps.get(name, 0) + missing
        features[name] = out
    return Subject(id=sid, partition=part, timestamps=np.asarray(timeline, np.int64),
                   segment_ids=np.asarray(segment_ids, np.int64), features=features, labels=y)


def _feature_timeline(tables: list[FeatureTable]) -> tuple[np.ndarray, np.ndarray]:
    """The union of the feature files' timestamps, with the segment id of the first file (in the
    given order) that has each step. A modality without a row at a step has a missing frame there."""
    timeline = tables[0].timestamps
    for t in tables[1:]:
        if not np.array_equal(t.timestamps, timeline):
            timeline = np.union1d(timeline, t.timestamps)
    segment_ids = np.zeros(len(timeline), np.int64)
    filled = np.zeros(len(timeline), bool)
    for t in tables:
        pos = np.searchsorted(timeline, t.timestamps)
        new = ~filled[pos]
        segment_ids[pos[new]] = t.segment_ids[new]
        filled[pos] = True
    return timeline.astype(np.int64), segment_ids


def _span(ts: np.ndarray) -> str:
    return f"{ts[0]}–{ts[-1]} ms" if len(ts) else "no rows"


def _count(report: LoadReport, dropped_in: dict[str, list[Path]], path: Path, reason: str, n: int) -> None:
    if n:
        report.dropped[reason] = report.dropped.get(reason, 0) + n
        dropped_in.setdefault(reason, []).append(path)

